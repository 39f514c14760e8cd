//! The README's first command, `harp demo`: the binary starts, prints its URLs and the curl
//! commands to try, and each printed command gives the printed status (run with real curl);
//! the sample ExApp is reached through harp's own tunnel.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_prints_commands_that_give_the_printed_answers() {
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(
            std::env::var("HARP_REQUIRE_PEERS").is_err(),
            "curl is missing"
        );
        eprintln!("SKIPPED: curl is not installed");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_harp"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("harp demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut commands = Vec::new();
    let mut through_tunnel = false;
    let started = Instant::now();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 output");
        through_tunnel |= line.contains("published by harp's tunnel client on 127.0.0.1:");
        if let Some((cmd, status)) = line.trim().split_once(" # ")
            && cmd.starts_with("curl ")
        {
            commands.push((cmd.trim().to_string(), status.trim().to_string()));
        }
        if line.starts_with("Stop with Ctrl-C") || started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    assert!(
        through_tunnel,
        "the sample ExApp is reached through harp's tunnel"
    );
    assert!(
        commands.len() >= 8,
        "the demo printed its commands: {commands:?}"
    );
    for (cmd, expected) in &commands {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{cmd} --max-time 20 -o /dev/null -w '%{{http_code}}'"
            ))
            .output()
            .expect("curl runs");
        let got = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(&got, expected, "{cmd}");
    }
    let _ = child.kill();
    let _ = child.wait();
}
