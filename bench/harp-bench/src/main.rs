//! `harp-bench`: the Rust side of harp's benchmark suite (`bench/run.sh` drives it). Each
//! scenario starts the testkit's stand-ins and a harp process on 127.0.0.1, runs for a bounded
//! time and prints Markdown table rows.

mod client;
mod cold_auth;
mod relay;
mod serve;
mod setup;
mod startup;
mod stats;
mod ws;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "harp-bench",
    about = "Benchmark scenarios for harp (HARP_BIN = the binary to measure)"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Stand-ins + harp for wrk: prints `READY <direct> <harp> <pid>`, runs until stdin closes.
    Serve,
    /// Time from spawn to serving, and idle RSS.
    Startup {
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// First requests of many sessions, and a burst of first requests of one session.
    ColdAuth {
        #[arg(long, default_value_t = 1000)]
        sessions: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 100)]
        burst: usize,
    },
    /// WebSocket echo round trips, direct and through harp (or through the given targets).
    WsEcho {
        /// `name=ws://...`, in table order (e.g. `direct=ws://127.0.0.1:8000/ws`); the ratio
        /// columns are harp ÷ direct, then each other target ÷ direct. Without any, own stand-ins and harp are started.
        #[arg(long = "target", value_parser = parse_target)]
        targets: Vec<(String, String)>,
        #[arg(long, value_delimiter = ',', default_value = "1,64")]
        conns: Vec<usize>,
        #[arg(long, default_value_t = 5)]
        secs: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// The null relay (read/write threads, nothing else) in front of `--to`: prints
    /// `READY http://<addr>`, runs until killed.
    Relay {
        #[arg(long)]
        to: std::net::SocketAddr,
    },
    /// harp's memory per idle WebSocket.
    WsIdle {
        #[arg(long, default_value_t = 9_900)]
        count: usize,
    },
}

fn parse_target(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, u)| (n.to_string(), u.to_string()))
        .ok_or_else(|| format!("{s:?}: expected name=ws://host:port/path"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.scenario {
        Scenario::Serve => serve::run().await,
        Scenario::Startup { runs } => startup::run(runs).await,
        Scenario::ColdAuth {
            sessions,
            concurrency,
            burst,
        } => cold_auth::run(sessions, concurrency, burst).await,
        Scenario::WsEcho {
            targets,
            conns,
            secs,
            repeats,
        } => ws::run_echo(&targets, &conns, secs, repeats).await,
        Scenario::WsIdle { count } => ws::run_idle(count).await,
        Scenario::Relay { to } => relay::run(to),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harp-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
