//! The shapes of the objects the fake accepts (required fields and JSON types per kind, for
//! the parts harp's objects touch) and the walk that checks a value against one: wrong types
//! and missing required fields are errors, fields it does not know are reported as unknown.

use serde_json::Value;

/// The shape of a JSON value.
pub enum Shape {
    Str,
    Int,
    Bool,
    IntOrStr,
    /// A string-to-string map (labels, annotations, selectors, resource lists).
    StrMap,
    List(&'static Shape),
    /// Fields: name, shape, required.
    Obj(&'static [(&'static str, &'static Shape, bool)]),
    /// Anything (fields harp never sets).
    Any,
}

use Shape::*;

const META: Shape = Obj(&[
    ("name", &Str, true),
    ("namespace", &Str, false),
    ("labels", &StrMap, false),
    ("annotations", &StrMap, false),
    ("uid", &Str, false),
    ("resourceVersion", &Str, false),
    ("generation", &Int, false),
    ("creationTimestamp", &Str, false),
    ("finalizers", &List(&Str), false),
]);
const RESOURCES: Shape = Obj(&[("limits", &StrMap, false), ("requests", &StrMap, false)]);
const ENV: Shape = Obj(&[
    ("name", &Str, true),
    ("value", &Str, false),
    ("valueFrom", &Any, false),
]);
const MOUNT: Shape = Obj(&[
    ("name", &Str, true),
    ("mountPath", &Str, true),
    ("readOnly", &Bool, false),
    ("subPath", &Str, false),
]);
const CONTAINER_PORT: Shape = Obj(&[
    ("name", &Str, false),
    ("containerPort", &Int, true),
    ("protocol", &Str, false),
]);
const CONTAINER: Shape = Obj(&[
    ("name", &Str, true),
    ("image", &Str, true),
    ("imagePullPolicy", &Str, false),
    ("command", &List(&Str), false),
    ("args", &List(&Str), false),
    ("env", &List(&ENV), false),
    ("ports", &List(&CONTAINER_PORT), false),
    ("resources", &RESOURCES, false),
    ("volumeMounts", &List(&MOUNT), false),
    ("securityContext", &Any, false),
    ("readinessProbe", &Any, false),
    ("livenessProbe", &Any, false),
]);
const VOLUME: Shape = Obj(&[
    ("name", &Str, true),
    (
        "persistentVolumeClaim",
        &Obj(&[("claimName", &Str, true), ("readOnly", &Bool, false)]),
        false,
    ),
    ("emptyDir", &Any, false),
    ("secret", &Any, false),
    ("configMap", &Any, false),
]);
const HOST_ALIAS: Shape = Obj(&[("ip", &Str, true), ("hostnames", &List(&Str), false)]);
const POD_SPEC: Shape = Obj(&[
    ("containers", &List(&CONTAINER), true),
    ("volumes", &List(&VOLUME), false),
    ("hostAliases", &List(&HOST_ALIAS), false),
    ("serviceAccountName", &Str, false),
    ("nodeSelector", &StrMap, false),
    ("restartPolicy", &Str, false),
    ("securityContext", &Any, false),
]);
const SELECTOR: Shape = Obj(&[
    ("matchLabels", &StrMap, false),
    ("matchExpressions", &Any, false),
]);
pub const DEPLOYMENT: Shape = Obj(&[
    ("apiVersion", &Str, true),
    ("kind", &Str, true),
    ("metadata", &META, true),
    (
        "spec",
        &Obj(&[
            ("replicas", &Int, false),
            ("selector", &SELECTOR, true),
            (
                "template",
                &Obj(&[("metadata", &Any, false), ("spec", &POD_SPEC, true)]),
                true,
            ),
            ("strategy", &Any, false),
            ("revisionHistoryLimit", &Int, false),
            ("progressDeadlineSeconds", &Int, false),
            ("minReadySeconds", &Int, false),
            ("paused", &Bool, false),
        ]),
        true,
    ),
    ("status", &Any, false),
]);
pub const PVC: Shape = Obj(&[
    ("apiVersion", &Str, true),
    ("kind", &Str, true),
    ("metadata", &META, true),
    (
        "spec",
        &Obj(&[
            ("accessModes", &List(&Str), true),
            (
                "resources",
                &Obj(&[("requests", &StrMap, true), ("limits", &StrMap, false)]),
                true,
            ),
            ("storageClassName", &Str, false),
            ("volumeMode", &Str, false),
            ("volumeName", &Str, false),
            ("selector", &Any, false),
        ]),
        true,
    ),
    ("status", &Any, false),
]);
const SERVICE_PORT: Shape = Obj(&[
    ("name", &Str, false),
    ("protocol", &Str, false),
    ("port", &Int, true),
    ("targetPort", &IntOrStr, false),
    ("nodePort", &Int, false),
    ("appProtocol", &Str, false),
]);
pub const SERVICE: Shape = Obj(&[
    ("apiVersion", &Str, true),
    ("kind", &Str, true),
    ("metadata", &META, true),
    (
        "spec",
        &Obj(&[
            ("type", &Str, false),
            ("selector", &StrMap, false),
            ("ports", &List(&SERVICE_PORT), false),
            ("clusterIP", &Str, false),
            ("clusterIPs", &List(&Str), false),
            ("externalTrafficPolicy", &Str, false),
            ("loadBalancerIP", &Str, false),
            ("sessionAffinity", &Str, false),
            ("ipFamilies", &Any, false),
            ("ipFamilyPolicy", &Str, false),
            ("internalTrafficPolicy", &Str, false),
        ]),
        true,
    ),
    ("status", &Any, false),
]);

/// Problems found: errors (`field: message`) and unknown fields.
#[derive(Default, Debug)]
pub struct Report {
    pub errors: Vec<(String, String)>,
    pub unknown: Vec<String>,
}

impl Report {
    pub(super) fn err(&mut self, field: &str, msg: impl Into<String>) {
        self.errors.push((field.to_string(), msg.into()));
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks `v` against `shape`.
pub fn check_shape(v: &Value, shape: &Shape, path: &str, r: &mut Report) {
    match (shape, v) {
        (Any, _) => {}
        (Str, Value::String(_)) | (Bool, Value::Bool(_)) => {}
        (Int, Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (IntOrStr, Value::String(_)) => {}
        (IntOrStr, Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (StrMap, Value::Object(m)) => {
            for (k, val) in m {
                if !val.is_string() {
                    r.err(&join(path, k), "Invalid value: must be a string");
                }
            }
        }
        (List(item), Value::Array(items)) => {
            for (i, it) in items.iter().enumerate() {
                check_shape(it, item, &format!("{path}[{i}]"), r);
            }
        }
        (Obj(fields), Value::Object(m)) => {
            for (name, sub, required) in fields.iter() {
                match m.get(*name) {
                    None | Some(Value::Null) if *required => {
                        r.err(&join(path, name), "Required value")
                    }
                    None | Some(Value::Null) => {}
                    Some(val) => check_shape(val, sub, &join(path, name), r),
                }
            }
            for k in m.keys() {
                if !fields.iter().any(|(n, _, _)| n == k) {
                    r.unknown.push(join(path, k));
                }
            }
        }
        (_, Value::Null) => {}
        (expected, _) => {
            let want = match expected {
                Str => "string",
                Int => "integer",
                Bool => "boolean",
                IntOrStr => "integer or string",
                StrMap | Obj(_) => "object",
                List(_) => "array",
                Any => "any",
            };
            r.err(path, format!("Invalid value: expected {want}"));
        }
    }
}
