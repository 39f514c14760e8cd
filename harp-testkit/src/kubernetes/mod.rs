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
mod server;
mod shapes;
mod simulate;
mod tls;

pub use server::selector_matches;

use crate::history::History;
use http::HeaderMap;
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

struct ForcedFailure {
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
    pub(crate) fn allows(&self, group: &str, resource: &str, verb: &str) -> bool {
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
    failures: Vec<ForcedFailure>,
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
                                server::serve(inner, stream).await;
                            }
                        }
                        None => server::serve(inner, stream).await,
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
        self.lock().failures.push(ForcedFailure {
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
        simulate::complete(&mut st, &key, &mut object);
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
        simulate::pods(&st, ns)
    }
}
