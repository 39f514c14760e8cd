//! A fake Kubernetes API server, since no real one can run here. Built from the Kubernetes API
//! conventions and the objects HaRP creates (contract §5.6), it serves over plain HTTP (or
//! HTTPS with a fresh CA) on 127.0.0.1:
//! - `GET /api` (what `/info`'s reachability check asks);
//! - PVCs, Services and pods under `/api/v1/namespaces/<ns>/...`, Deployments under
//!   `/apis/apps/v1/namespaces/<ns>/deployments`, nodes under `/api/v1/nodes`: create (POST),
//!   read, list with `labelSelector`, strategic-merge PATCH, DELETE;
//! - every created object is checked against the schema of its kind ([`schema`]): a 422
//!   `Invalid` Status for errors, `Warning` headers for unknown fields (both recorded);
//! - real Status objects for 401, 404, 409, 415 and 422;
//! - simulated pods: a Deployment scaled to ≥ 1 gets a pod that turns Running and Ready after
//!   a configurable delay, or sits in `ImagePullBackOff` when its image is marked bad;
//! - Services get a ClusterIP (configurable, e.g. 127.0.0.1 so a local backend stands for the
//!   Service), NodePort Services a node port (the next one can be chosen), LoadBalancer
//!   Services an ingress IP after a delay; nodes with InternalIP/ExternalIP/Hostname;
//! - an optional required bearer token (so token rotation is testable), forced failures per
//!   method and path, and a record of every call.

pub mod schema;
mod tls;

use crate::history::History;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Value,
}

struct Failure {
    method: String,
    path_contains: String,
    status: u16,
}

/// One RBAC rule: API groups (`""` = core), resources and verbs (`*` matches all).
#[derive(Debug, Clone)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

impl Rule {
    fn allows(&self, group: &str, resource: &str, verb: &str) -> bool {
        let has = |list: &[String], v: &str| list.iter().any(|x| x == v || x == "*");
        has(&self.api_groups, group) && has(&self.resources, resource) && has(&self.verbs, verb)
    }
}

/// (kind, namespace, name); nodes have an empty namespace.
type Key = (String, String, String);

struct Inner {
    objects: BTreeMap<Key, Value>,
    /// When a Deployment was last scaled up from zero.
    scaled_up: HashMap<Key, Instant>,
    /// When a LoadBalancer Service was created.
    lb_created: HashMap<Key, Instant>,
    token: Option<String>,
    ready_delay: Duration,
    bad_images: HashSet<String>,
    cluster_ip: Option<String>,
    next_ip: u32,
    next_node_port: u16,
    lb_ingress: Option<(String, Duration)>,
    failures: Vec<Failure>,
    rbac: Option<Vec<Rule>>,
    calls: History<Call>,
    warnings: Vec<String>,
    rejected: Vec<String>,
    uid: u64,
}

/// A running fake API server. Dropping it stops the server.
pub struct FakeKubernetes {
    pub addr: SocketAddr,
    scheme: &'static str,
    inner: Arc<Mutex<Inner>>,
    task: JoinHandle<()>,
}

impl Drop for FakeKubernetes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

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

impl FakeKubernetes {
    /// Starts on 127.0.0.1 with a free port (plain HTTP) and one Ready node at 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        Self::launch(None).await
    }

    /// The same over HTTPS, with a certificate for 127.0.0.1 signed by a fresh CA; returns the
    /// CA certificate (PEM) for `HP_K8S_CA_FILE`.
    pub async fn start_tls() -> std::io::Result<(Self, String)> {
        let (config, ca_pem) = tls::server_config().map_err(std::io::Error::other)?;
        let fake = Self::launch(Some(tokio_rustls::TlsAcceptor::from(config))).await?;
        Ok((fake, ca_pem))
    }

    async fn launch(tls: Option<tokio_rustls::TlsAcceptor>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            objects: BTreeMap::new(),
            scaled_up: HashMap::new(),
            lb_created: HashMap::new(),
            token: None,
            ready_delay: Duration::from_millis(1500),
            bad_images: HashSet::new(),
            cluster_ip: None,
            next_ip: 10,
            next_node_port: 30000,
            lb_ingress: None,
            failures: Vec::new(),
            rbac: None,
            calls: History::new(),
            warnings: Vec::new(),
            rejected: Vec::new(),
            uid: 0,
        }));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let fake = FakeKubernetes {
            addr,
            scheme,
            inner: inner.clone(),
            task: crate::accept_forever(listener, move |stream| {
                let (inner, tls) = (inner.clone(), tls.clone());
                async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(inner, stream).await;
                            }
                        }
                        None => serve(inner, stream).await,
                    }
                }
            }),
        };
        fake.add_node(
            "fake-node-1",
            true,
            &[("InternalIP", "127.0.0.1"), ("Hostname", "fake-node-1")],
        );
        Ok(fake)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `HP_K8S_API_SERVER` for harp.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Only this bearer token is accepted (`None`: any request is).
    pub fn require_token(&self, token: Option<&str>) {
        self.lock().token = token.map(str::to_string);
    }

    /// How long a scaled-up pod stays ContainerCreating before it is Running and Ready.
    pub fn set_ready_delay(&self, delay: Duration) {
        self.lock().ready_delay = delay;
    }

    /// Pods with this image never start: `ImagePullBackOff`.
    pub fn mark_bad_image(&self, image: &str) {
        self.lock().bad_images.insert(image.to_string());
    }

    /// The ClusterIP given to the next Services (`None`: 10.43.0.x).
    pub fn set_cluster_ip(&self, ip: Option<&str>) {
        self.lock().cluster_ip = ip.map(str::to_string);
    }

    /// The node port given to the next NodePort/LoadBalancer Service without one.
    pub fn set_next_node_port(&self, port: u16) {
        self.lock().next_node_port = port;
    }

    /// LoadBalancer Services get this ingress IP `after` their creation (`None`: never).
    pub fn set_load_balancer(&self, ingress: Option<(&str, Duration)>) {
        self.lock().lb_ingress = ingress.map(|(ip, d)| (ip.to_string(), d));
    }

    /// Replaces nodes with the same name. `addresses`: (type, address).
    pub fn add_node(&self, name: &str, ready: bool, addresses: &[(&str, &str)]) {
        let addrs: Vec<Value> = addresses
            .iter()
            .map(|(t, a)| json!({"type": t, "address": a}))
            .collect();
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"addresses": addrs,
                       "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}});
        self.lock()
            .objects
            .insert(("nodes".into(), String::new(), name.into()), node);
    }

    pub fn remove_node(&self, name: &str) {
        self.lock()
            .objects
            .remove(&("nodes".into(), String::new(), name.to_string()));
    }

    /// Answers `status` (with a Status body) to `method` calls whose path contains `path`.
    pub fn fail(&self, method: &str, path_contains: &str, status: u16) {
        self.lock().failures.push(Failure {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            status,
        });
    }

    /// Enforces RBAC: a call no rule allows gets a 403 `Forbidden` Status (`None`: all allowed).
    pub fn enforce_rbac(&self, rules: Option<Vec<Rule>>) {
        self.lock().rbac = rules;
    }

    pub fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    /// A stored object (`kind` as in the URL: `deployments`, `services`, ...).
    pub fn object(&self, ns: &str, kind: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(kind.to_string(), ns.to_string(), name.to_string()))
            .cloned()
    }

    pub fn objects(&self, ns: &str, kind: &str) -> Vec<Value> {
        self.lock()
            .objects
            .iter()
            .filter(|((k, n, _), _)| k == kind && n == ns)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Stores an object as an operator would create it (not validated by harp's path).
    pub fn put(&self, ns: &str, kind: &str, mut object: Value) {
        let mut st = self.lock();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let key = (kind.to_string(), ns.to_string(), name);
        complete(&mut st, &key, &mut object);
        st.objects.insert(key, object);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.items()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Unknown fields seen in created objects (the real server's warnings).
    pub fn warnings(&self) -> Vec<String> {
        self.lock().warnings.clone()
    }

    /// The messages of every 422 answer and every call RBAC refused.
    pub fn rejected(&self) -> Vec<String> {
        self.lock().rejected.clone()
    }

    /// The pods that exist now (as a list call would return them).
    pub fn pods(&self, ns: &str) -> Vec<Value> {
        let st = self.lock();
        pods(&st, ns)
    }
}

/// Server-side defaults and allocations for a new object.
fn complete(st: &mut Inner, key: &Key, obj: &mut Value) {
    let (kind, ns, _) = key;
    st.uid += 1;
    let meta = &mut obj["metadata"];
    meta["namespace"] = json!(ns);
    meta["uid"] = json!(format!("00000000-0000-0000-0000-{:012}", st.uid));
    meta["resourceVersion"] = json!(st.uid.to_string());
    meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    match kind.as_str() {
        "deployments" => {
            meta["generation"] = json!(1);
            if obj["spec"]["replicas"].is_null() {
                obj["spec"]["replicas"] = json!(1);
            }
            if obj["spec"]["replicas"].as_u64().unwrap_or(0) > 0 {
                st.scaled_up.insert(key.clone(), Instant::now());
            }
            obj["status"] = json!({});
        }
        "persistentvolumeclaims" => {
            obj["status"] = json!({"phase": "Bound", "accessModes": obj["spec"]["accessModes"]});
        }
        "services" => {
            let spec = &mut obj["spec"];
            let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
            spec["type"] = json!(ty);
            if spec["clusterIP"].is_null() {
                let ip = st.cluster_ip.clone().unwrap_or_else(|| {
                    st.next_ip += 1;
                    format!("10.43.0.{}", st.next_ip)
                });
                spec["clusterIP"] = json!(ip);
            }
            spec["clusterIPs"] = json!([spec["clusterIP"]]);
            spec["sessionAffinity"] = json!("None");
            for p in spec["ports"].as_array_mut().into_iter().flatten() {
                if p["protocol"].is_null() {
                    p["protocol"] = json!("TCP");
                }
                if p["targetPort"].is_null() {
                    p["targetPort"] = p["port"].clone();
                }
                if matches!(ty.as_str(), "NodePort" | "LoadBalancer") && p["nodePort"].is_null() {
                    p["nodePort"] = json!(st.next_node_port);
                    st.next_node_port = st.next_node_port.saturating_add(1);
                }
            }
            if matches!(ty.as_str(), "NodePort" | "LoadBalancer")
                && spec["externalTrafficPolicy"].is_null()
            {
                spec["externalTrafficPolicy"] = json!("Cluster");
            }
            if ty == "LoadBalancer" {
                st.lb_created.insert(key.clone(), Instant::now());
            }
            obj["status"] = json!({"loadBalancer": {}});
        }
        _ => {}
    }
}

/// The simulated pods of every Deployment in `ns` with replicas ≥ 1.
fn pods(st: &Inner, ns: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for ((kind, n, name), d) in &st.objects {
        if kind != "deployments" || n != ns {
            continue;
        }
        let replicas = d["spec"]["replicas"].as_u64().unwrap_or(0);
        let since = st
            .scaled_up
            .get(&(kind.clone(), n.clone(), name.clone()))
            .map(|t| t.elapsed())
            .unwrap_or_default();
        let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or("");
        for i in 0..replicas {
            let (phase, ready, state) = if st.bad_images.contains(image) {
                let reason = if since < Duration::from_millis(500) {
                    "ErrImagePull"
                } else {
                    "ImagePullBackOff"
                };
                (
                    "Pending",
                    false,
                    json!({"waiting": {"reason": reason,
                    "message": format!("Back-off pulling image \"{image}\"")}}),
                )
            } else if since < st.ready_delay {
                (
                    "Pending",
                    false,
                    json!({"waiting": {"reason": "ContainerCreating"}}),
                )
            } else {
                (
                    "Running",
                    true,
                    json!({"running": {"startedAt": "2026-01-01T00:00:01Z"}}),
                )
            };
            let ready_s = if ready { "True" } else { "False" };
            out.push(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{name}-5d8f7c6b9-{i:05}"), "namespace": ns,
                             "labels": d["spec"]["template"]["metadata"]["labels"]},
                "spec": d["spec"]["template"]["spec"],
                "status": {"phase": phase,
                    "conditions": [{"type": "PodScheduled", "status": "True"},
                                   {"type": "Ready", "status": ready_s}],
                    "containerStatuses": [{"name": "app", "image": image, "ready": ready,
                                           "restartCount": 0, "state": state}]}
            }));
        }
    }
    out
}

/// A stored object as it reads now (LoadBalancer ingress, Deployment status).
fn observed(st: &Inner, key: &Key, obj: &Value) -> Value {
    let mut obj = obj.clone();
    if key.0 == "services"
        && let (Some(created), Some((ip, after))) = (st.lb_created.get(key), &st.lb_ingress)
        && created.elapsed() >= *after
    {
        obj["status"]["loadBalancer"] = json!({"ingress": [{"ip": ip, "ipMode": "VIP"}]});
    }
    if key.0 == "deployments" {
        let ready = pods(st, &key.1)
            .iter()
            .filter(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&format!("{}-", key.2)))
                    && p["status"]["containerStatuses"][0]["ready"] == true
            })
            .count();
        obj["status"] = json!({"replicas": obj["spec"]["replicas"], "readyReplicas": ready});
    }
    obj
}

async fn serve<S>(inner: Arc<Mutex<Inner>>, stream: S)
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
