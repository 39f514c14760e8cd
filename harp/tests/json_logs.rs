//! `HP_LOG_FORMAT=json`: every line harp writes on stderr is one JSON object; each request gets
//! one line (target `harp::access`) with its outcome (forwarded, denied_401, ...) and the
//! decision that settled it (the reason: route_denied, unknown_app, ...); the shared key never
//! appears in any line, even at `debug` and when a client sends it. Nextcloud is the testkit's
//! stand-in (a fake built from the contract docs).

mod common;
#[path = "common/process.rs"]
mod process;

use common::*;
use process::{HarpProcess, field};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_with_decisions_and_no_key() {
    let nc = harp_testkit::nextcloud::FakeNextcloud::start(KEY)
        .await
        .unwrap();
    let exapp = harp_testkit::exapp::FakeExApp::start().await.unwrap();
    nc.add_app(APP, skeleton_record(exapp.port()));
    let certs = tempfile::tempdir().unwrap();
    let env = test_env(
        &nc.url(),
        certs.path(),
        &[("HP_LOG_LEVEL", "debug"), ("HP_LOG_FORMAT", "json")],
    );
    let mut harp = HarpProcess::spawn(&env).await;
    let addr = harp.http;

    let public = format!("/exapps/{APP}/public");
    let user = format!("/exapps/{APP}/user");
    let signed = signed_headers(KEY, exapp.port());
    let expected: [(&str, u16, &str, &str); 5] = [
        (public.as_str(), 200, "forwarded", "forwarded"),
        (user.as_str(), 403, "denied_403", "route_denied"),
        ("/exapps/app_api/info", 200, "control", "control"),
        ("/exapps/no-such-app/x", 404, "not_found", "unknown_app"),
        (user.as_str(), 200, "forwarded", "forwarded"),
    ];
    for (i, (path, status, _, _)) in expected.iter().enumerate() {
        let headers: Vec<(&str, &str)> = match i {
            2 => vec![("harp-shared-key", KEY)],
            4 => hdrs(&signed),
            _ => vec![],
        };
        assert_eq!(get(addr, path, &headers).await.status, *status, "{path}");
    }
    let wrong = get(
        addr,
        "/exapps/app_api/info",
        &[("harp-shared-key", "wrong")],
    )
    .await;
    assert_eq!(wrong.status, 401);

    // The access line is written after the response head: wait for the last one.
    let last = harp
        .wait_for(Duration::from_secs(20), |l| {
            l["target"] == "harp::access" && l["fields"]["status"] == "401"
        })
        .await;
    assert!(
        last.is_some(),
        "no access line for the 401:\n{}",
        harp.log_text()
    );

    let lines = harp.lines();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for v in &parsed {
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{v}");
    }
    let access: Vec<&Value> = parsed
        .iter()
        .filter(|v| v["target"] == "harp::access")
        .collect();
    assert_eq!(access.len(), expected.len() + 1, "one line per request");
    for ((path, status, outcome, decision), line) in expected.iter().zip(&access) {
        assert_eq!(field(line, "path").as_deref(), Some(*path), "{line}");
        assert_eq!(field(line, "status"), Some(status.to_string()), "{line}");
        assert_eq!(field(line, "outcome").as_deref(), Some(*outcome), "{line}");
        assert_eq!(
            field(line, "decision").as_deref(),
            Some(*decision),
            "{line}"
        );
        assert_eq!(
            field(line, "client_ip").as_deref(),
            Some("127.0.0.1"),
            "{line}"
        );
        assert!(field(line, "duration_ms").is_some(), "{line}");
    }
    let all = harp.log_text();
    assert!(!all.contains(KEY), "the shared key leaked into the log");
    assert!(
        !all.contains(SECRET),
        "the ExApp secret leaked into the log"
    );
}
