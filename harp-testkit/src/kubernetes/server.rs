//! The fake's HTTP side: routing of `/api`, `/api/v1/...` and `/apis/apps/v1/...`, the bearer
//! token and RBAC checks, forced failures, list/get/create/patch/delete, and real `Status`
//! objects for every failure.

use super::simulate::{complete, observed, pods};
use super::{Call, Inner, schema};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

type Resp = Response<Full<Bytes>>;

fn json_reply(status: u16, body: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// A `Status` object as the API server sends it for failures.
fn status(code: u16, reason: &str, message: &str, details: Value) -> Resp {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code});
    if !details.is_null() {
        body["details"] = details;
    }
    json_reply(code, &body)
}

/// `deployments.apps`, `services`, ... as the API names resources in messages.
fn resource(kind: &str) -> &str {
    if kind == "deployments" {
        "deployments.apps"
    } else {
        kind
    }
}

fn not_found(kind: &str, name: &str) -> Resp {
    status(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", resource(kind)),
        json!({"name": name, "kind": kind}),
    )
}

/// `labelSelector`: `k=v`, `k==v`, `k!=v`, `k` (exists), `!k`, comma-separated (all must hold).
pub fn selector_matches(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels[k.trim()].as_str() != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                labels[k.trim()].as_str() == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                labels.get(k).is_none()
            } else {
                labels.get(term).is_some()
            }
        })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

pub(super) async fn serve<S>(inner: Arc<Mutex<Inner>>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let inner = inner.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(inner, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(inner: Arc<Mutex<Inner>>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    // `None`: the body is not JSON.
    let parsed: Option<Value> = if bytes.is_empty() {
        Some(Value::Null)
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    let mut st = inner.lock().unwrap_or_else(|p| p.into_inner());
    st.calls.push(Call {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        headers: parts.headers.clone(),
        body: parsed.clone().unwrap_or(Value::Null),
    });
    if let Some(token) = &st.token {
        let sent = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if sent != Some(&format!("Bearer {token}")) {
            return status(401, "Unauthorized", "Unauthorized", Value::Null);
        }
    }
    if let Some(f) = st
        .failures
        .iter()
        .find(|f| f.method == parts.method.as_str() && path.contains(&f.path_contains))
    {
        let code = f.status;
        return status(
            code,
            "InternalError",
            &format!("forced failure {code}"),
            Value::Null,
        );
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (kind, ns, name) = match segments.as_slice() {
        ["api"] if parts.method == Method::GET => {
            return json_reply(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
            );
        }
        ["api", "v1", "nodes"] => ("nodes", "", None),
        ["api", "v1", "nodes", n] => ("nodes", "", Some(*n)),
        [
            "api",
            "v1",
            "namespaces",
            ns,
            k @ ("persistentvolumeclaims" | "services" | "pods"),
        ] => (*k, *ns, None),
        [
            "api",
            "v1",
            "namespaces",
            ns,
            k @ ("persistentvolumeclaims" | "services" | "pods"),
            n,
        ] => (*k, *ns, Some(*n)),
        ["apis", "apps", "v1", "namespaces", ns, "deployments"] => ("deployments", *ns, None),
        ["apis", "apps", "v1", "namespaces", ns, "deployments", n] => {
            ("deployments", *ns, Some(*n))
        }
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                Value::Null,
            );
        }
    };
    if let Some(rules) = &st.rbac {
        let group = if kind == "deployments" { "apps" } else { "" };
        let verb = match (&parts.method, name) {
            (&Method::GET, None) => "list",
            (&Method::GET, Some(_)) => "get",
            (&Method::POST, _) => "create",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, _) => "delete",
            _ => "unknown",
        };
        if !rules.iter().any(|r| r.allows(group, kind, verb)) {
            let message = format!(
                "{kind} is forbidden: User \"system:serviceaccount:nextcloud:harp\" cannot {verb} resource \"{kind}\" in API group \"{group}\" in the namespace \"{ns}\""
            );
            st.rejected.push(message.clone());
            return status(403, "Forbidden", &message, json!({"kind": kind}));
        }
    }
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    match (&parts.method, name) {
        (&Method::GET, None) => {
            let selector = query_param(&query, "labelSelector").unwrap_or_default();
            let items: Vec<Value> = if kind == "pods" {
                pods(&st, ns)
            } else {
                st.objects
                    .iter()
                    .filter(|((k, n, _), _)| k == kind && n == ns)
                    .map(|(key, v)| observed(&st, key, v))
                    .collect()
            };
            let items: Vec<Value> = items
                .into_iter()
                .filter(|o| selector_matches(&selector, &o["metadata"]["labels"]))
                .collect();
            let (_, k) = schema::type_meta(kind);
            let api_version = if kind == "deployments" {
                "apps/v1"
            } else {
                "v1"
            };
            json_reply(
                200,
                &json!({"kind": format!("{k}List"), "apiVersion": api_version,
                "metadata": {"resourceVersion": st.uid.to_string()}, "items": items}),
            )
        }
        (&Method::GET, Some(n)) => {
            let key = (kind.to_string(), ns.to_string(), n.to_string());
            if kind == "pods" {
                return match pods(&st, ns)
                    .into_iter()
                    .find(|p| p["metadata"]["name"] == n)
                {
                    Some(p) => json_reply(200, &p),
                    None => not_found(kind, n),
                };
            }
            match st.objects.get(&key) {
                Some(o) => json_reply(200, &observed(&st, &key, o)),
                None => not_found(kind, n),
            }
        }
        (&Method::POST, None)
            if matches!(kind, "deployments" | "services" | "persistentvolumeclaims") =>
        {
            create(&mut st, kind, ns, parsed, &content_type)
        }
        (&Method::PATCH, Some(n)) if kind != "pods" && kind != "nodes" => {
            patch(&mut st, kind, ns, n, parsed, &content_type)
        }
        (&Method::DELETE, Some(n)) if kind != "nodes" => {
            let key = (kind.to_string(), ns.to_string(), n.to_string());
            match st.objects.remove(&key) {
                Some(mut o) => {
                    st.scaled_up.remove(&key);
                    st.lb_created.remove(&key);
                    if kind == "deployments" {
                        json_reply(
                            200,
                            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Success", "details": {"name": n, "group": "apps", "kind": "deployments", "uid": o["metadata"]["uid"]}}),
                        )
                    } else {
                        o["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:02Z");
                        json_reply(200, &o)
                    }
                }
                None => not_found(kind, n),
            }
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Value::Null,
        ),
    }
}

fn invalid(st: &mut Inner, kind: &str, name: &str, errors: &[(String, String)]) -> Resp {
    let (_, k) = schema::type_meta(kind);
    let group = if kind == "deployments" { ".apps" } else { "" };
    let detail: Vec<String> = errors.iter().map(|(f, m)| format!("{f}: {m}")).collect();
    let message = format!("{k}{group} \"{name}\" is invalid: {}", detail.join(", "));
    st.rejected.push(message.clone());
    let causes: Vec<Value> = errors
        .iter()
        .map(|(f, m)| json!({"reason": "FieldValueInvalid", "message": m, "field": f}))
        .collect();
    status(
        422,
        "Invalid",
        &message,
        json!({"name": name, "kind": k, "causes": causes}),
    )
}

fn create(st: &mut Inner, kind: &str, ns: &str, body: Option<Value>, content_type: &str) -> Resp {
    if !content_type.starts_with("application/json") {
        return status(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got '{content_type}')"
            ),
            Value::Null,
        );
    }
    let mut obj = match body {
        Some(v) if v.is_object() => v,
        _ => {
            return status(
                400,
                "BadRequest",
                "the object provided is unrecognized or not valid JSON",
                Value::Null,
            );
        }
    };
    let (api_version, k) = schema::type_meta(kind);
    if obj["apiVersion"] != api_version || obj["kind"] != k {
        return status(
            400,
            "BadRequest",
            &format!(
                "the API version in the data ({}) does not match the expected API version ({api_version}) or kind ({}) is not {k}",
                obj["apiVersion"], obj["kind"]
            ),
            Value::Null,
        );
    }
    if let Some(n) = obj["metadata"]["namespace"].as_str()
        && n != ns
    {
        return status(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
            Value::Null,
        );
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let report = schema::validate(kind, &obj);
    if !report.errors.is_empty() {
        return invalid(st, kind, &name, &report.errors);
    }
    let key = (kind.to_string(), ns.to_string(), name.clone());
    if st.objects.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", resource(kind)),
            json!({"name": name, "kind": kind}),
        );
    }
    complete(st, &key, &mut obj);
    st.objects.insert(key, obj.clone());
    let mut resp = json_reply(201, &obj);
    for field in &report.unknown {
        let warning = format!("unknown field \"{field}\"");
        if let Ok(v) =
            http::HeaderValue::from_str(&format!("299 - \"{}\"", warning.replace('"', "\\\"")))
        {
            resp.headers_mut().append(http::header::WARNING, v);
        }
        st.warnings.push(warning);
    }
    resp
}

fn patch(
    st: &mut Inner,
    kind: &str,
    ns: &str,
    name: &str,
    body: Option<Value>,
    content_type: &str,
) -> Resp {
    if !matches!(
        content_type,
        "application/strategic-merge-patch+json" | "application/merge-patch+json"
    ) {
        return status(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            Value::Null,
        );
    }
    let patch = match body {
        Some(v) if v.is_object() => v,
        _ => {
            return status(
                400,
                "BadRequest",
                "the patch is not a JSON object",
                Value::Null,
            );
        }
    };
    let key = (kind.to_string(), ns.to_string(), name.to_string());
    let Some(current) = st.objects.get(&key).cloned() else {
        return not_found(kind, name);
    };
    let before = current["spec"]["replicas"].as_u64().unwrap_or(0);
    let mut updated = current;
    schema::merge(&mut updated, &patch);
    let report = schema::validate(kind, &updated);
    if !report.errors.is_empty() {
        return invalid(st, kind, name, &report.errors);
    }
    st.uid += 1;
    updated["metadata"]["resourceVersion"] = json!(st.uid.to_string());
    if kind == "deployments" {
        let after = updated["spec"]["replicas"].as_u64().unwrap_or(0);
        if before == 0 && after > 0 {
            st.scaled_up.insert(key.clone(), Instant::now());
        } else if after == 0 {
            st.scaled_up.remove(&key);
        }
        if patch.get("spec").is_some() {
            let g = updated["metadata"]["generation"].as_u64().unwrap_or(1);
            updated["metadata"]["generation"] = json!(g + 1);
        }
    }
    st.objects.insert(key.clone(), updated.clone());
    json_reply(200, &observed(st, &key, &updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let labels = json!({"app": "a", "app.kubernetes.io/part-of": "g"});
        assert!(selector_matches("app=a", &labels));
        assert!(selector_matches(
            "app==a,app.kubernetes.io/part-of=g",
            &labels
        ));
        assert!(!selector_matches("app=b", &labels));
        assert!(selector_matches("app!=b", &labels));
        assert!(selector_matches("app", &labels));
        assert!(!selector_matches("!app", &labels));
        assert!(selector_matches("", &labels));
    }
}
