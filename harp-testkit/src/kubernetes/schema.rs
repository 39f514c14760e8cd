//! What the fake API server accepts, per kind (PersistentVolumeClaim, Deployment, Service): the
//! shape (required fields and types, in `shapes`), then names, labels, quantities, ports and the
//! cross-field rules the real API server enforces (selector matches the template, mounts name a
//! volume, node ports only on NodePort/LoadBalancer).
//! Errors become a 422 `Invalid` Status; fields the schema does not know become warnings,
//! as the real server's default field validation does.

pub use super::shapes::Report;
use super::shapes::{self, check_shape};
use serde_json::{Map, Value};
use std::net::IpAddr;
/// RFC 1123 label: at most 63, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
pub fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1035 label (Service names): a DNS label that starts with a letter.
pub fn dns1035_label(s: &str) -> bool {
    dns_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// RFC 1123 subdomain: dot-separated labels, at most 253.
pub fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_label)
}

/// A label value (also the name part of a key): at most 63, alphanumerics with `-_.` inside.
fn label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    !name.is_empty() && label_value(name) && prefix.is_none_or(dns_subdomain)
}

pub fn check_labels(m: &Value, path: &str, r: &mut Report) {
    for (k, v) in m.as_object().into_iter().flatten() {
        if !label_key(k) {
            r.err(
                &format!("{path}[{k}]"),
                "Invalid value: not a valid label key",
            );
        }
        if let Some(v) = v.as_str()
            && !label_value(v)
        {
            r.err(
                &format!("{path}[{k}]"),
                format!("Invalid value: \"{v}\": a valid label must be 63 characters or less, alphanumeric, '-', '_' or '.'"),
            );
        }
    }
}

/// A resource quantity (`10Gi`, `500m`, `1.5`, `1e3`).
pub fn quantity(s: &str) -> bool {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(end);
    let num_ok = !num.is_empty() && num.matches('.').count() <= 1 && num != ".";
    let suffix_ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .is_some_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()));
    num_ok && suffix_ok
}

fn check_quantities(m: &Value, path: &str, r: &mut Report) {
    for (k, v) in m.as_object().into_iter().flatten() {
        if v.as_str().is_some_and(|q| !quantity(q)) {
            r.err(&format!("{path}[{k}]"), "Invalid value: must be a quantity");
        }
    }
}

fn port_ok(v: &Value) -> bool {
    v.as_u64().is_some_and(|p| (1..=65535).contains(&p))
}

fn check_name(obj: &Value, kind: &str, r: &mut Report) {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let ok = if kind == "services" {
        dns1035_label(name)
    } else {
        dns_subdomain(name)
    };
    if !ok && !name.is_empty() {
        r.err(
            "metadata.name",
            format!("Invalid value: \"{name}\": not a valid name"),
        );
    }
    check_labels(&obj["metadata"]["labels"], "metadata.labels", r);
}

/// The semantic rules of a Deployment beyond its shape.
fn check_deployment(d: &Value, r: &mut Report) {
    let spec = &d["spec"];
    if spec["replicas"].as_i64().is_some_and(|n| n < 0) {
        r.err(
            "spec.replicas",
            "Invalid value: must be greater than or equal to 0",
        );
    }
    let selector = &spec["selector"]["matchLabels"];
    if selector.as_object().is_none_or(|m| m.is_empty()) {
        r.err("spec.selector", "Required value");
    }
    let template_labels = &spec["template"]["metadata"]["labels"];
    check_labels(template_labels, "spec.template.metadata.labels", r);
    for (k, v) in selector.as_object().into_iter().flatten() {
        if template_labels.get(k) != Some(v) {
            r.err(
                "spec.template.metadata.labels",
                "Invalid value: `selector` does not match template `labels`",
            );
            break;
        }
    }
    let pod = &spec["template"]["spec"];
    let volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    let containers = pod["containers"].as_array();
    if containers.is_some_and(|c| c.is_empty()) {
        r.err("spec.template.spec.containers", "Required value");
    }
    for (i, c) in containers.into_iter().flatten().enumerate() {
        let at = format!("spec.template.spec.containers[{i}]");
        if c["name"].as_str().is_some_and(|n| !dns_label(n)) {
            r.err(&format!("{at}.name"), "Invalid value: must be a DNS label");
        }
        if c["image"].as_str() == Some("") {
            r.err(&format!("{at}.image"), "Required value");
        }
        if let Some(p) = c["imagePullPolicy"].as_str()
            && !matches!(p, "Always" | "IfNotPresent" | "Never")
        {
            r.err(&format!("{at}.imagePullPolicy"), "Unsupported value");
        }
        for (j, e) in c["env"].as_array().into_iter().flatten().enumerate() {
            let name = e["name"].as_str().unwrap_or("");
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !valid {
                r.err(
                    &format!("{at}.env[{j}].name"),
                    "Invalid value: a valid environment variable name",
                );
            }
        }
        check_quantities(
            &c["resources"]["limits"],
            &format!("{at}.resources.limits"),
            r,
        );
        check_quantities(
            &c["resources"]["requests"],
            &format!("{at}.resources.requests"),
            r,
        );
        for (j, m) in c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(n) = m["name"].as_str()
                && !volumes.contains(&n)
            {
                r.err(
                    &format!("{at}.volumeMounts[{j}].name"),
                    format!("Not found: \"{n}\""),
                );
            }
            if m["mountPath"].as_str().is_some_and(|p| !p.starts_with('/')) {
                r.err(
                    &format!("{at}.volumeMounts[{j}].mountPath"),
                    "Invalid value: must be absolute",
                );
            }
        }
    }
    for (i, a) in pod["hostAliases"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if a["ip"]
            .as_str()
            .is_some_and(|ip| ip.parse::<IpAddr>().is_err())
        {
            r.err(
                &format!("spec.template.spec.hostAliases[{i}].ip"),
                "Invalid value: must be a valid IP address",
            );
        }
    }
}

fn check_pvc(p: &Value, r: &mut Report) {
    for (i, m) in p["spec"]["accessModes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if !matches!(
            m.as_str(),
            Some("ReadWriteOnce" | "ReadOnlyMany" | "ReadWriteMany" | "ReadWriteOncePod")
        ) {
            r.err(&format!("spec.accessModes[{i}]"), "Unsupported value");
        }
    }
    if p["spec"]["accessModes"]
        .as_array()
        .is_some_and(|a| a.is_empty())
    {
        r.err(
            "spec.accessModes",
            "Required value: at least 1 access mode is required",
        );
    }
    match p["spec"]["resources"]["requests"]["storage"].as_str() {
        None => r.err("spec.resources[storage]", "Required value"),
        Some(q) if !quantity(q) => r.err(
            "spec.resources.requests[storage]",
            "Invalid value: must be a quantity",
        ),
        Some(_) => {}
    }
}

fn check_service(s: &Value, r: &mut Report) {
    let spec = &s["spec"];
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    if !matches!(
        ty,
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        r.err("spec.type", format!("Unsupported value: \"{ty}\""));
    }
    let balancing = matches!(ty, "NodePort" | "LoadBalancer");
    let ports = spec["ports"].as_array();
    if ty != "ExternalName" && ports.is_none_or(|p| p.is_empty()) {
        r.err("spec.ports", "Required value");
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        if !port_ok(&p["port"]) {
            r.err(
                &format!("spec.ports[{i}].port"),
                "Invalid value: must be between 1 and 65535",
            );
        }
        if p["targetPort"].is_number() && !port_ok(&p["targetPort"]) {
            r.err(
                &format!("spec.ports[{i}].targetPort"),
                "Invalid value: must be between 1 and 65535",
            );
        }
        if let Some(np) = p["nodePort"].as_u64() {
            if !balancing {
                r.err(
                    &format!("spec.ports[{i}].nodePort"),
                    "Forbidden: may not be used when `type` is 'ClusterIP'",
                );
            } else if !(30000..=32767).contains(&np) {
                r.err(&format!("spec.ports[{i}].nodePort"), "Invalid value: provided port is not in the valid range. The range of valid ports is 30000-32767");
            }
        }
    }
    if let Some(p) = spec["externalTrafficPolicy"].as_str() {
        if !balancing {
            r.err(
                "spec.externalTrafficPolicy",
                "Forbidden: may only be set for externally-accessible services",
            );
        } else if !matches!(p, "Cluster" | "Local") {
            r.err("spec.externalTrafficPolicy", "Unsupported value");
        }
    }
    if spec["loadBalancerIP"].is_string() && ty != "LoadBalancer" {
        r.err(
            "spec.loadBalancerIP",
            "Forbidden: may only be used when `type` is 'LoadBalancer'",
        );
    }
    check_labels(&spec["selector"], "spec.selector", r);
}

/// Validates an object of `kind` (the URL's resource name) as the API server would.
pub fn validate(kind: &str, obj: &Value) -> Report {
    let mut r = Report::default();
    let shape = match kind {
        "deployments" => &shapes::DEPLOYMENT,
        "persistentvolumeclaims" => &shapes::PVC,
        _ => &shapes::SERVICE,
    };
    check_shape(obj, shape, "", &mut r);
    if !r.errors.is_empty() {
        return r;
    }
    check_name(obj, kind, &mut r);
    match kind {
        "deployments" => check_deployment(obj, &mut r),
        "persistentvolumeclaims" => check_pvc(obj, &mut r),
        _ => check_service(obj, &mut r),
    }
    r
}

/// The `apiVersion` and `kind` an object of this resource must carry.
pub fn type_meta(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "deployments" => ("apps/v1", "Deployment"),
        "persistentvolumeclaims" => ("v1", "PersistentVolumeClaim"),
        "services" => ("v1", "Service"),
        "pods" => ("v1", "Pod"),
        _ => ("v1", "Node"),
    }
}

/// Recursive JSON merge (strategic-merge for maps and scalars: `null` deletes a key, lists
/// are replaced).
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Object(Map::new())), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_labels_quantities() {
        assert!(dns1035_label("nc-app-x"));
        assert!(!dns1035_label("1abc"));
        assert!(dns_subdomain("nc-app-x-data"));
        assert!(!dns_subdomain("Nc_app"));
        assert!(label_key("app.kubernetes.io/name"));
        assert!(!label_key("bad key"));
        assert!(label_value(""));
        assert!(!label_value("-x"));
        assert!(quantity("10Gi") && quantity("250m") && quantity("1.5") && !quantity("10GB"));
    }

    #[test]
    fn service_rules() {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30001}], "externalTrafficPolicy": "Local", "bogus": 1}});
        let r = validate("services", &svc);
        assert_eq!(r.errors.len(), 2, "{r:?}");
        assert_eq!(r.unknown, vec!["spec.bogus".to_string()]);
        let missing = json!({"apiVersion": "v1", "kind": "Service", "metadata": {}, "spec": {"ports": [{"port": "80"}]}});
        let r = validate("services", &missing);
        assert_eq!(r.errors.len(), 2, "{r:?}");
    }

    #[test]
    fn deployment_rules() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app": "d"}},
            "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "d"}},
                "template": {"metadata": {"labels": {"app": "other"}}, "spec": {
                    "containers": [{"name": "App", "image": "", "env": [{"name": "1X", "value": "v"}],
                        "resources": {"limits": {"memory": "1 GB"}},
                        "volumeMounts": [{"name": "data", "mountPath": "rel"}]}],
                    "hostAliases": [{"ip": "not-an-ip", "hostnames": ["h"]}]}}}});
        let r = validate("deployments", &d);
        let fields: Vec<&str> = r.errors.iter().map(|(f, _)| f.as_str()).collect();
        for f in [
            "spec.replicas",
            "spec.template.metadata.labels",
            "spec.template.spec.containers[0].name",
            "spec.template.spec.containers[0].image",
            "spec.template.spec.containers[0].env[0].name",
            "spec.template.spec.containers[0].resources.limits[memory]",
            "spec.template.spec.containers[0].volumeMounts[0].name",
            "spec.template.spec.containers[0].volumeMounts[0].mountPath",
            "spec.template.spec.hostAliases[0].ip",
        ] {
            assert!(fields.contains(&f), "{f} not reported: {fields:?}");
        }
        let shape = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": "1", "template": {"spec": {"containers": {}}}}});
        let r = validate("deployments", &shape);
        let fields: Vec<&str> = r.errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.replicas",
                "spec.selector",
                "spec.template.spec.containers"
            ]
        );
    }

    #[test]
    fn pvc_rules() {
        let p = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p"},
            "spec": {"accessModes": ["ReadWriteSometimes"], "resources": {"requests": {"storage": "lots"}}}});
        assert_eq!(validate("persistentvolumeclaims", &p).errors.len(), 2);
    }

    #[test]
    fn merge_patch() {
        let mut d = json!({"metadata": {"annotations": {"a": "1"}}, "spec": {"replicas": 0}});
        merge(
            &mut d,
            &json!({"spec": {"replicas": 1}, "metadata": {"annotations": {"b": "2", "a": null}}}),
        );
        assert_eq!(
            d,
            json!({"metadata": {"annotations": {"b": "2"}}, "spec": {"replicas": 1}})
        );
    }
}
