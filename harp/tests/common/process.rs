//! harp as a separate process, for what only a process shows: signals (SIGHUP, SIGTERM), exit
//! codes and the log on stderr. Logs are JSON (`HP_LOG_FORMAT=json`, `HP_LOG_LEVEL=info`); the
//! readiness signal is the `harp is listening` line, which names every bound address, so all
//! listeners can bind port 0. Every stderr line is kept for the test to inspect and wait on.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// A running harp process; killed (and reaped) when dropped.
pub struct HarpProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    count: watch::Receiver<usize>,
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    pub control: SocketAddr,
    pub frp: SocketAddr,
}

/// A field of a JSON log line (`fields.<name>`), as text.
pub fn field(line: &Value, name: &str) -> Option<String> {
    match &line["fields"][name] {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl HarpProcess {
    /// Starts harp with exactly `env` (plus JSON logs at `info` unless `env` says otherwise)
    /// and waits (at most 30 s) for its readiness line.
    pub async fn spawn(env: &HashMap<String, String>) -> HarpProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_harp"));
        cmd.env_clear()
            .env("HP_LOG_FORMAT", "json")
            .env("HP_LOG_LEVEL", "info")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn harp");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, count) = watch::channel(0usize);
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let mut all = lines.lock().unwrap();
                    all.push(line);
                    let _ = tx.send(all.len());
                }
            });
        }
        let mut harp = HarpProcess {
            child,
            lines,
            count,
            http: SocketAddr::from(([0, 0, 0, 0], 0)),
            https: None,
            control: SocketAddr::from(([0, 0, 0, 0], 0)),
            frp: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let ready = harp
            .wait_for(Duration::from_secs(30), |l| {
                l["fields"]["message"] == "harp is listening"
            })
            .await
            .unwrap_or_else(|| {
                panic!(
                    "harp printed no readiness line within 30 s:\n{}",
                    harp.log_text()
                )
            });
        let addr = |name: &str| -> SocketAddr {
            field(&ready, name)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("readiness line without {name}: {ready}"))
        };
        harp.http = addr("http");
        harp.control = addr("control");
        harp.frp = addr("frp");
        harp.https = field(&ready, "https").and_then(|a| a.parse().ok());
        harp
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`HUP`, `TERM`, `INT`) with the shell's `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -s {name} {}", self.pid()))
            .status()
            .expect("sh runs");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn log_text(&self) -> String {
        self.lines().join("\n")
    }

    /// Waits until a JSON log line (from the start) satisfies `pred`; `None` after `timeout`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = 0;
        loop {
            let lines = self.lines();
            for line in &lines[seen..] {
                if let Ok(v) = serde_json::from_str::<Value>(line)
                    && pred(&v)
                {
                    return Some(v);
                }
            }
            seen = lines.len();
            match tokio::time::timeout_at(deadline, self.count.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or stderr closed (the process ended): one last look.
                _ => {
                    let lines = self.lines();
                    return lines[seen..]
                        .iter()
                        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                        .find(|v| pred(v));
                }
            }
        }
    }

    /// Waits for a log line whose message contains `needle`.
    pub async fn wait_for_message(&mut self, needle: &str, timeout: Duration) -> Option<Value> {
        self.wait_for(timeout, |l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle))
        })
        .await
    }

    /// Waits (bounded) for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            // No exit notification for a child in std; a short poll, bounded by `timeout`.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for HarpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
