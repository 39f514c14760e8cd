//! `GET /metrics` on the loopback control port (decision D8): scraped before and after a mix
//! of requests (forwarded, denied, unknown app, a ban and its drop, an unreachable ExApp),
//! parsed as Prometheus text exposition 0.0.4 by a strict little parser, and checked to have
//! moved by exactly what those requests should add.

mod common;
use common::*;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

type Labels = BTreeMap<String, String>;

#[derive(Debug)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

/// A parsed exposition: metric types by family name, and every sample.
#[derive(Debug)]
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

fn is_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|e| format!("bad value {s:?}: {e}")),
    }
}

/// `{a="x",b="y"}` (the braces included); returns the labels and the rest of the line.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Labels::new();
    let mut rest = s.strip_prefix('{').ok_or("no '{'")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without '='")?;
        let name = &rest[..eq];
        if !is_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label {name} value is not quoted"));
        }
        let mut value = String::new();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name}: unterminated value")),
                Some((i, '"')) => break eq + 1 + i + 1,
                Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("label {name}: bad escape {other:?}")),
                },
                Some((_, '\n')) => return Err("raw newline in a label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_name(name, true) {
        return Err(format!("bad metric name {name:?}"));
    }
    let (labels, rest) = if line[name_end..].starts_with('{') {
        parse_labels(&line[name_end..])?
    } else {
        (Labels::new(), &line[name_end..])
    };
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value = parse_value(fields.next().ok_or("no value")?)?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|e| format!("bad timestamp {ts:?}: {e}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses the whole text; every line must be a comment, blank, or a valid sample, and every
/// sample must belong to a family whose `# TYPE` came before it.
fn parse(text: &str) -> Exposition {
    let mut types = HashMap::new();
    let mut helps = HashMap::new();
    let mut samples: Vec<Sample> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            match parts.next() {
                Some("TYPE") => {
                    let name = parts.next().unwrap_or_else(|| panic!("{}", at()));
                    let kind = parts.next().unwrap_or_else(|| panic!("{}", at()));
                    assert!(is_name(name, true), "{}", at());
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{}: unknown type",
                        at()
                    );
                    assert!(
                        !samples.iter().any(|s| family(&s.name, &types) == name),
                        "{}: TYPE after its samples",
                        at()
                    );
                    assert!(
                        types.insert(name.to_string(), kind.to_string()).is_none(),
                        "{}: second TYPE",
                        at()
                    );
                }
                Some("HELP") => {
                    let name = parts.next().unwrap_or_else(|| panic!("{}", at()));
                    assert!(
                        helps.insert(name.to_string(), ()).is_none(),
                        "{}: second HELP",
                        at()
                    );
                }
                _ => {}
            }
            continue;
        }
        let sample = parse_sample(line).unwrap_or_else(|e| panic!("{}: {e}", at()));
        let fam = family(&sample.name, &types);
        assert!(types.contains_key(fam), "{}: no TYPE for {fam}", at());
        assert!(
            !samples
                .iter()
                .any(|s| s.name == sample.name && s.labels == sample.labels),
            "{}: duplicate series",
            at()
        );
        samples.push(sample);
    }
    Exposition { types, samples }
}

/// The family a sample belongs to: its own name, or a histogram's name without the suffix.
fn family<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).map(String::as_str) == Some("histogram")
        {
            return base;
        }
    }
    name
}

impl Exposition {
    /// The value of the series with exactly these labels; 0 if absent (zero series may be
    /// left out).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map_or(0.0, |s| s.value)
    }

    /// Checks every histogram: buckets cumulative in increasing `le`, ending with `+Inf`
    /// equal to `_count`, and a `_sum` beside them.
    fn check_histograms(&self) {
        for (fam, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            for s in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{fam}_bucket"))
            {
                let mut labels = s.labels.clone();
                let le = labels.remove("le").expect("bucket without le");
                series
                    .entry(labels)
                    .or_default()
                    .push((parse_value(&le).expect("le is a number"), s.value));
            }
            for (labels, buckets) in series {
                let les: Vec<f64> = buckets.iter().map(|b| b.0).collect();
                assert!(
                    les.windows(2).all(|w| w[0] < w[1]),
                    "{fam}{labels:?}: le not increasing: {les:?}"
                );
                assert!(
                    buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                    "{fam}{labels:?}: buckets not cumulative: {buckets:?}"
                );
                let last = buckets.last().expect("a bucket");
                assert_eq!(
                    last.0,
                    f64::INFINITY,
                    "{fam}{labels:?}: last bucket is not +Inf"
                );
                let count = self
                    .samples
                    .iter()
                    .find(|s| s.name == format!("{fam}_count") && s.labels == labels)
                    .unwrap_or_else(|| panic!("{fam}{labels:?}: no _count"));
                assert_eq!(last.1, count.value, "{fam}{labels:?}: +Inf != _count");
                assert!(
                    self.samples
                        .iter()
                        .any(|s| s.name == format!("{fam}_sum") && s.labels == labels),
                    "{fam}{labels:?}: no _sum"
                );
            }
        }
    }
}

async fn scrape(control: SocketAddr) -> Exposition {
    let r = get(control, "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text();
    let parsed = parse(&text);
    parsed.check_histograms();
    parsed
}

/// A request as if forwarded by the trusted proxy on 127.0.0.1 for `client`.
async fn from(h: &TestHarp, client: &str, path: &str, extra: &[(&str, &str)]) -> Option<u16> {
    let mut headers = vec![("x-forwarded-for", client)];
    headers.extend_from_slice(extra);
    send(h.addr, "GET", path, &headers, "")
        .await
        .ok()
        .map(|r| r.status.as_u16())
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_move_with_requests() {
    let h = start(&[
        ("HP_BLACKLIST_COUNT", "3"),
        ("HP_TRUSTED_PROXY_IPS", "127.0.0.1"),
    ])
    .await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut record = skeleton_record(closed);
    record["routes"] = json!([{"url": "^/", "access_level": 0, "bruteforce_protection": []}]);
    h.nc.add_app("closed-app", record);
    let control = h.running.as_ref().unwrap().control_addr;
    let before = scrape(control).await;

    let public = format!("/exapps/{APP}/public");
    let user = format!("/exapps/{APP}/user");
    let cookie = [("cookie", "oc_sessionPassphrase=sess-usr")];
    assert_eq!(from(&h, "10.0.0.1", &public, &[]).await, Some(200));
    assert_eq!(from(&h, "10.0.0.1", &public, &[]).await, Some(200));
    assert_eq!(from(&h, "10.0.0.1", &user, &cookie).await, Some(200));
    assert_eq!(from(&h, "10.0.0.1", &user, &cookie).await, Some(200));
    assert_eq!(from(&h, "10.0.0.2", &user, &[]).await, Some(403));
    assert_eq!(from(&h, "10.0.0.3", "/exapps/nope/x", &[]).await, Some(404));
    assert_eq!(from(&h, "10.0.0.3", "/exapps/NOPE/y", &[]).await, Some(404));
    for _ in 0..3 {
        let imaginary = format!("/exapps/{APP}/imaginary");
        assert_eq!(from(&h, "10.0.0.9", &imaginary, &[]).await, Some(404));
    }
    assert_eq!(from(&h, "10.0.0.9", &public, &[]).await, None, "banned");
    assert_eq!(
        from(&h, "10.0.0.1", "/exapps/closed-app/x", &[]).await,
        Some(503)
    );

    let after = scrape(control).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let requests = |app: &str, outcome: &str, class: &str| {
        delta(
            "harp_requests_total",
            &[("app", app), ("outcome", outcome), ("status_class", class)],
        )
    };
    assert_eq!(requests(APP, "forwarded", "2xx"), 4.0);
    assert_eq!(requests(APP, "denied_403", "4xx"), 1.0);
    assert_eq!(requests(APP, "not_found", "4xx"), 3.0);
    assert_eq!(requests("none", "not_found", "4xx"), 2.0, "unknown apps");
    assert_eq!(requests("none", "dropped", "none"), 1.0, "the ban");
    assert_eq!(requests("closed-app", "upstream_error", "5xx"), 1.0);
    let total: f64 = after
        .samples
        .iter()
        .filter(|s| s.name == "harp_requests_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(total, 12.0, "nothing else was counted");
    assert!(
        !after
            .samples
            .iter()
            .any(|s| s.labels.get("app").is_some_and(|a| a.contains("nope"))),
        "unknown app ids never become labels"
    );

    for (decision, n) in [
        ("forwarded", 4.0),
        ("route_denied", 1.0),
        ("unknown_app", 2.0),
        ("no_route", 3.0),
        ("banned", 1.0),
        ("upstream_unreachable", 1.0),
        ("dot_dot", 0.0),
    ] {
        assert_eq!(
            delta("harp_request_decisions_total", &[("decision", decision)]),
            n,
            "{decision}"
        );
    }
    let forwarded = [("app", APP), ("outcome", "forwarded")];
    assert_eq!(
        delta("harp_request_duration_seconds_count", &forwarded),
        4.0
    );
    assert!(after.value("harp_request_duration_seconds_sum", &forwarded) > 0.0);
    let unreachable = [("app", "closed-app"), ("outcome", "upstream_error")];
    assert!(
        after.value("harp_request_duration_seconds_sum", &unreachable) >= 2.0,
        "the connect retries show in the latency"
    );

    assert_eq!(
        delta("harp_upstream_errors_total", &[("kind", "connect")]),
        1.0
    );
    assert_eq!(
        delta("harp_upstream_errors_total", &[("kind", "timeout")]),
        0.0
    );
    for (reason, n) in [
        ("no_route", 3.0),
        ("route_denied", 1.0),
        ("unknown_app", 2.0),
    ] {
        assert_eq!(
            delta("harp_ban_failures_total", &[("reason", reason)]),
            n,
            "{reason}"
        );
    }
    assert_eq!(delta("harp_bans_total", &[]), 1.0);
    assert_eq!(after.value("harp_ban_tracked_ips", &[]), 3.0);

    let cache = |result: &str| delta("harp_exapp_cache_lookups_total", &[("result", result)]);
    assert_eq!(cache("hit"), 7.0);
    assert_eq!(cache("miss"), 3.0, "the skeleton, nope, closed-app");
    assert_eq!(cache("negative_hit"), 1.0);
    assert_eq!(after.value("harp_exapps_known", &[]), 2.0);
    let sessions = |result: &str| delta("harp_session_cache_lookups_total", &[("result", result)]);
    assert_eq!((sessions("miss"), sessions("hit")), (1.0, 1.0));

    for gauge in ["harp_tunnel_clients", "harp_tunnel_proxies"] {
        assert_eq!(after.value(gauge, &[]), 0.0, "{gauge}");
        assert_eq!(after.types[gauge], "gauge");
    }
    assert_eq!(after.types["harp_tunnel_bytes_total"], "counter");
    assert_eq!(after.types["harp_request_duration_seconds"], "histogram");
}

#[tokio::test]
async fn control_plane_calls_are_labelled_app_api() {
    let h = start(&[]).await;
    let control = h.running.as_ref().unwrap().control_addr;
    let before = scrape(control).await;
    let r = get(h.addr, "/exapps/app_api/info", &[("harp-shared-key", KEY)]).await;
    assert_eq!(r.status, 200);
    let r = get(h.addr, "/exapps/app_api/info", &[]).await;
    assert_eq!(r.status, 401);
    let after = scrape(control).await;
    let delta = |labels: &[(&str, &str)]| {
        after.value("harp_requests_total", labels) - before.value("harp_requests_total", labels)
    };
    assert_eq!(
        delta(&[
            ("app", "app_api"),
            ("outcome", "control"),
            ("status_class", "2xx")
        ]),
        1.0
    );
    assert_eq!(
        delta(&[
            ("app", "app_api"),
            ("outcome", "denied_401"),
            ("status_class", "4xx")
        ]),
        1.0
    );
}

/// The tunnel gauges follow a client that logs in and leaves; bytes through it are counted
/// and stay counted after its proxy is gone.
#[tokio::test]
async fn tunnel_clients_and_bytes() {
    use harp::tunnel_client::{self, ProxyStatus, TunnelClient};
    use harp_testkit::exapp::FakeExApp;
    use harp_testkit::nextcloud::FakeNextcloud;
    use std::time::Duration;

    let remote = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nc = FakeNextcloud::start(KEY).await.unwrap();
    nc.add_app(APP, skeleton_record(remote));
    let exapp = FakeExApp::start().await.unwrap();
    let local = exapp.port();
    let ports = remote.to_string();
    let h = start_with(
        nc,
        exapp,
        &[
            ("HP_FRP_ALLOW_PORTS", ports.as_str()),
            ("HP_FRP_DISABLE_TLS", "true"),
        ],
    )
    .await;
    let running = h.running.as_ref().unwrap();
    let (control, frp) = (running.control_addr, running.frp_addr.port());
    let before = scrape(control).await;
    assert_eq!(before.value("harp_tunnel_clients", &[]), 0.0);

    let toml = format!(
        "serverAddr = \"127.0.0.1\"\nserverPort = {frp}\ntransport.tls.enable = false\n\
         metadatas.token = \"{KEY}\"\n\n[[proxies]]\nname = \"{APP}\"\ntype = \"tcp\"\n\
         localIP = \"127.0.0.1\"\nlocalPort = {local}\nremotePort = {remote}\n"
    );
    let config = tunnel_client::parse(&toml).expect("valid frpc.toml").config;
    let stop = tokio_util::sync::CancellationToken::new();
    let client = TunnelClient::start(config, stop.clone()).expect("client starts");
    let published = client
        .wait_until(Duration::from_secs(20), |s| {
            matches!(s.proxies.get(APP), Some(ProxyStatus::Published { .. }))
        })
        .await;
    assert!(published, "{:?}", client.status().borrow());

    let during = scrape(control).await;
    assert_eq!(during.value("harp_tunnel_clients", &[]), 1.0);
    assert_eq!(during.value("harp_tunnel_proxies", &[]), 1.0);
    let r = get(h.addr, &format!("/exapps/{APP}/download?bytes=100000"), &[]).await;
    assert_eq!(r.body.len(), 100_000);
    let bytes =
        |e: &Exposition, dir: &str| e.value("harp_tunnel_bytes_total", &[("direction", dir)]);
    let after = scrape(control).await;
    assert!(bytes(&after, "in") > 0.0, "the request went in");
    assert!(bytes(&after, "out") >= 100_000.0, "the download came out");
    assert!(after.value("harp_tunnel_connections_total", &[]) >= 1.0);

    stop.cancel();
    let mut gone = None;
    for _ in 0..100 {
        let e = scrape(control).await;
        if e.value("harp_tunnel_proxies", &[]) == 0.0 && e.value("harp_tunnel_clients", &[]) == 0.0
        {
            gone = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone = gone.expect("the client's proxy is released within 10 s");
    assert!(
        bytes(&gone, "out") >= bytes(&after, "out"),
        "a released proxy's bytes stay counted"
    );
    assert!(
        gone.value("harp_tunnel_connections_total", &[])
            >= after.value("harp_tunnel_connections_total", &[])
    );
}

#[test]
fn the_parser_rejects_what_prometheus_would() {
    for bad in [
        "metric_without_type 1\n",
        "# TYPE m counter\nm{a=\"x} 1\n",
        "# TYPE m counter\nm{a=x} 1\n",
        "# TYPE m counter\nm 1 2 3\n",
        "# TYPE m counter\nm one\n",
        "# TYPE m counter\nm 1\nm 2\n",
        "# TYPE m counter\n# TYPE m gauge\n",
        "# TYPE 1m counter\n",
    ] {
        let caught = std::panic::catch_unwind(|| parse(bad)).is_err();
        assert!(caught, "accepted: {bad:?}");
    }
    let h = parse(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
    );
    assert!(std::panic::catch_unwind(|| h.check_histograms()).is_err());
    let ok = parse("# HELP m a \"quoted\" help\n# TYPE m counter\nm{a=\"x\\\"y\\\\\"} 1.5e3\n");
    assert_eq!(ok.value("m", &[("a", "x\"y\\")]), 1500.0);
}

#[tokio::test]
async fn certificate_expiry_gauge_follows_the_files() {
    // The FRP certificates are generated at start with a 10-day validity.
    let h = start(&[("HP_FRP_CERT_VALIDITY_DAYS", "10")]).await;
    let control = h.running.as_ref().unwrap().control_addr;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let expiry = |e: &Exposition, role: &str| -> Option<f64> {
        e.samples
            .iter()
            .find(|s| {
                s.name == "harp_certificate_expiry_timestamp_seconds"
                    && s.labels.get("role").map(String::as_str) == Some(role)
            })
            .map(|s| s.value)
    };
    let before = scrape(control).await;
    assert_eq!(
        before
            .types
            .get("harp_certificate_expiry_timestamp_seconds")
            .map(String::as_str),
        Some("gauge")
    );
    for role in ["frp-ca", "frp-server", "frp-client"] {
        let left = expiry(&before, role).unwrap_or_else(|| panic!("no {role} sample")) - now;
        let days = left / 86_400.0;
        assert!((9.9..=10.1).contains(&days), "{role}: {days} days left");
    }
    assert_eq!(expiry(&before, "https"), None, "no cert.pem, no sample");

    // A cert.pem that expires in 3 days shows at the next scrape.
    let mut params = rcgen::CertificateParams::new(vec!["harp.test".to_string()]).unwrap();
    let soon = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    params.not_after = soon;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(h.certs.path().join("cert.pem"), cert.pem()).unwrap();
    let after = scrape(control).await;
    let https = expiry(&after, "https").expect("https sample");
    assert_eq!(https as i64, soon.unix_timestamp());
}
