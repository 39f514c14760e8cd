//! harp as a child process (the built binary), for tests that need its own file-descriptor
//! limit or its own memory and task figures: started through `sh -c 'ulimit -n N; exec harp'`
//! on loopback ports, ready once `/heartbeat` answers on its control port, its stderr lines
//! collected, killed on drop. The ports are picked free and released before harp binds them, so
//! another test may take one in between: harp then exits with "Address already in use" and is
//! started again on new ports (at most 5 times).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct LimitedHarp {
    child: Child,
    pub exapps: SocketAddr,
    pub control: SocketAddr,
    pub frp: SocketAddr,
    pub certs: tempfile::TempDir,
    log: Arc<Mutex<Vec<String>>>,
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr")
}

impl LimitedHarp {
    /// Starts harp against `nextcloud_url` with at most `nofile` file descriptors and `extra`
    /// variables, and waits until it answers.
    pub async fn spawn(nextcloud_url: &str, nofile: u64, extra: &[(&str, &str)]) -> LimitedHarp {
        for _ in 0..4 {
            let mut harp = Self::start(nextcloud_url, nofile, extra);
            if harp.wait_ready().await {
                return harp;
            }
        }
        let mut harp = Self::start(nextcloud_url, nofile, extra);
        assert!(harp.wait_ready().await, "harp lost its ports five times");
        harp
    }

    fn start(nextcloud_url: &str, nofile: u64, extra: &[(&str, &str)]) -> LimitedHarp {
        let certs = tempfile::tempdir().expect("tempdir");
        let (exapps, control, frp, https) = (free_addr(), free_addr(), free_addr(), free_addr());
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\""))
            .arg(env!("CARGO_BIN_EXE_harp"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HP_SHARED_KEY", crate::common::KEY)
            .env("NC_INSTANCE_URL", nextcloud_url)
            .env("HP_EXAPPS_ADDRESS", exapps.to_string())
            .env("HP_EXAPPS_HTTPS_ADDRESS", https.to_string())
            .env("HP_CONTROL_ADDRESS", control.to_string())
            .env("HP_FRP_ADDRESS", frp.to_string())
            .env("HP_CERTS_DIR", certs.path())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn harp");
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        LimitedHarp {
            child,
            exapps,
            control,
            frp,
            certs,
            log,
        }
    }

    /// Waits until harp answers; `false` if it exited because a port was taken meanwhile.
    async fn wait_ready(&mut self) -> bool {
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Its last lines may still be on their way through the pipe.
                for _ in 0..40 {
                    if self.log_text().contains("Address already in use") {
                        return false;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            self.assert_alive();
            let ready = crate::common::send(self.control, "GET", "/heartbeat", &[], "")
                .await
                .is_ok_and(|r| r.status == 200);
            if ready {
                return true;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "harp did not answer /heartbeat within 30 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("harp exited: {status}\n{}", self.log_text());
        }
    }

    pub fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// Waits (bounded) until a stderr line contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if self
                .log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|l| l.contains(needle))
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Resident memory in KiB (`VmRSS`), or `None` when /proc cannot tell.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Open file descriptors, or `None` when /proc cannot tell.
    pub fn open_fds(&self) -> Option<usize> {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .ok()
            .map(|d| d.count())
    }
}

impl Drop for LimitedHarp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
