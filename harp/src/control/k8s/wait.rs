//! `wait_for_start` (contract §5.6.4): poll the first pod of the Deployment every second until
//! it is Running and Ready (or Succeeded), fails, or cannot pull its image. While the image is
//! being pulled only a one-hour cap applies; once it is pulled, the pod has 90 s to get ready.
//! Every answer is `200`; AppAPI waits up to 3700 s for it.

use crate::docker::payload::ExAppName;
use crate::http::body::{self, Body};
use crate::k8s::client::{ApiResponse, K8sError};
use crate::k8s::{Failure, names};
use crate::state::State;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

const POLL: Duration = Duration::from_secs(1);
const AFTER_PULL: Duration = Duration::from_secs(90);
const PULL_CAP: Duration = Duration::from_secs(3600);

/// What one look at the pods says.
#[derive(Debug, PartialEq)]
enum Look {
    /// Settled: the answer for AppAPI.
    Done(Value),
    /// Keep waiting; `pulled` once the container is past image pulling.
    Waiting { pulled: bool },
}

/// The last phase, reason and message seen, for the timeout answer.
#[derive(Default)]
struct Last {
    phase: Option<String>,
    reason: Value,
    message: Value,
}

fn look(pods: &Value, last: &mut Last) -> Look {
    let Some(pod) = pods["items"].get(0) else {
        last.phase = Some("Pending".into());
        return Look::Waiting { pulled: false };
    };
    let status = &pod["status"];
    let phase = status["phase"].as_str().unwrap_or("Unknown").to_string();
    last.phase = Some(phase.clone());
    last.reason = status["reason"].clone();
    last.message = status["message"].clone();
    let ready = status["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    let first = &status["containerStatuses"][0];
    let has_statuses = status["containerStatuses"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    let waiting = &first["state"]["waiting"];
    let waiting_reason = waiting["reason"].as_str();
    let answer = |started: bool, status: &str, health: &str| {
        json!({"started": started, "status": status, "health": health,
               "reason": last.reason, "message": last.message})
    };
    if phase == "Running" && ready {
        return Look::Done(answer(true, "running", "ready"));
    }
    if phase == "Succeeded" {
        return Look::Done(answer(true, "succeeded", "ready"));
    }
    if phase == "Failed" || phase == "Unknown" {
        return Look::Done(answer(false, &phase, "not_ready"));
    }
    if let Some(r @ ("ErrImagePull" | "ImagePullBackOff" | "InvalidImageName")) = waiting_reason {
        let message = waiting["message"].as_str().unwrap_or("");
        return Look::Done(
            json!({"started": false, "status": r, "health": "image_error",
                                 "reason": r, "message": message}),
        );
    }
    let pulling = !has_statuses
        || matches!(
            waiting_reason,
            None | Some("ContainerCreating" | "PodInitializing")
        );
    Look::Waiting { pulled: !pulling }
}

pub async fn wait_for_start(state: &State, name: ExAppName) -> Result<Response<Body>, Failure> {
    let k8s = &state.k8s;
    let d = names::deployment(&name);
    let selector = format!("{}={d}", names::LABEL_APP);
    let path = k8s.path("pods", None);
    let answer = poll(&d, || k8s.list(&path, Some(&selector))).await?;
    Ok(body::json(StatusCode::OK, &answer))
}

/// The polling loop, given a way to list the Deployment's pods.
async fn poll<F, Fut>(d: &str, mut list: F) -> Result<Value, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<ApiResponse, K8sError>>,
{
    let started = Instant::now();
    let mut pulled_at: Option<Instant> = None;
    let mut last = Last::default();
    loop {
        let expired = match pulled_at {
            Some(at) => at.elapsed() > AFTER_PULL,
            None => started.elapsed() > PULL_CAP,
        };
        if expired {
            tracing::warn!(deployment = d, "the pod did not become ready in time");
            break;
        }
        let resp = list().await?;
        if !resp.ok() {
            return Err(super::unavailable(format!(
                "Error listing pods for deployment '{d}': Status {}",
                resp.status
            )));
        }
        match look(&resp.body, &mut last) {
            Look::Done(answer) => {
                tracing::info!(deployment = d, answer = %answer, "wait_for_start settled");
                return Ok(answer);
            }
            Look::Waiting { pulled } => {
                if pulled && pulled_at.is_none() {
                    tracing::info!(
                        deployment = d,
                        "image pulled; 90 s for the pod to get ready"
                    );
                    pulled_at = Some(Instant::now());
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(
        json!({"started": false, "status": last.phase.as_deref().unwrap_or("unknown"),
              "health": "timeout", "reason": last.reason, "message": last.message}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: Value) -> Value {
        json!({"items": [{"status": status}]})
    }

    #[test]
    fn decisions() {
        let mut last = Last::default();
        assert_eq!(
            look(&json!({"items": []}), &mut last),
            Look::Waiting { pulled: false }
        );
        assert_eq!(last.phase.as_deref(), Some("Pending"));
        let creating = pod(json!({"phase": "Pending", "containerStatuses": [
            {"state": {"waiting": {"reason": "ContainerCreating"}}}]}));
        assert_eq!(look(&creating, &mut last), Look::Waiting { pulled: false });
        let running_not_ready = pod(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"state": {"running": {}}}]}),
        );
        assert_eq!(
            look(&running_not_ready, &mut last),
            Look::Waiting { pulled: false }
        );
        let crash = pod(json!({"phase": "Running", "containerStatuses": [
            {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}));
        assert_eq!(look(&crash, &mut last), Look::Waiting { pulled: true });
        let ready =
            pod(json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}));
        assert_eq!(
            look(&ready, &mut last),
            Look::Done(
                json!({"started": true, "status": "running", "health": "ready", "reason": null, "message": null})
            )
        );
        let done = pod(json!({"phase": "Succeeded"}));
        assert!(
            matches!(look(&done, &mut last), Look::Done(v) if v["status"] == "succeeded" && v["started"] == true)
        );
        let failed = pod(json!({"phase": "Failed", "reason": "Evicted", "message": "low memory"}));
        assert_eq!(
            look(&failed, &mut last),
            Look::Done(
                json!({"started": false, "status": "Failed", "health": "not_ready", "reason": "Evicted", "message": "low memory"})
            )
        );
        let bad_image = pod(json!({"phase": "Pending", "containerStatuses": [
            {"state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}]}));
        assert_eq!(
            look(&bad_image, &mut last),
            Look::Done(
                json!({"started": false, "status": "ImagePullBackOff", "health": "image_error",
                              "reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""})
            )
        );
    }

    fn listing(body: Value) -> impl FnMut() -> std::future::Ready<Result<ApiResponse, K8sError>> {
        move || {
            std::future::ready(Ok(ApiResponse {
                status: 200,
                body: body.clone(),
            }))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ninety_seconds_once_the_image_is_pulled() {
        let began = Instant::now();
        let crash = pod(
            json!({"phase": "Running", "reason": "r", "containerStatuses": [
            {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
        );
        let answer = poll("d", listing(crash)).await.expect("answer");
        assert_eq!(
            answer,
            json!({"started": false, "status": "Running", "health": "timeout", "reason": "r", "message": null})
        );
        let waited = began.elapsed();
        assert!(
            waited > AFTER_PULL && waited < AFTER_PULL + Duration::from_secs(3),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_hour_while_pulling_or_without_pods() {
        let began = Instant::now();
        let answer = poll("d", listing(json!({"items": []})))
            .await
            .expect("answer");
        assert_eq!(answer["status"], "Pending");
        assert_eq!(answer["health"], "timeout");
        let waited = began.elapsed();
        assert!(
            waited > PULL_CAP && waited < PULL_CAP + Duration::from_secs(3),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_listing_is_503() {
        let mut calls = 0;
        let r = poll("d", || {
            calls += 1;
            std::future::ready(Ok(ApiResponse {
                status: if calls < 3 { 200 } else { 403 },
                body: json!({"items": []}),
            }))
        })
        .await;
        let e = r.expect_err("403");
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.text, "Error listing pods for deployment 'd': Status 403");
        let unreachable = poll("d", || {
            std::future::ready(Err(K8sError::Unreachable("x".into())))
        })
        .await;
        assert_eq!(
            unreachable.expect_err("503").text,
            "Error communicating with Kubernetes API"
        );
    }
}
