//! The `harp` command: serve (configured by `HP_*` variables, as HaRP), check the
//! configuration, run the demo, show or renew certificates, diagnose a setup (`doctor`), or
//! run the frpc-compatible tunnel client.

use clap::{Parser, Subcommand};
use harp::config::{Config, ProcessEnv};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Exit code for bad configuration (sysexits EX_USAGE), decision D12.
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "harp",
    version,
    about = "A drop-in replacement for Nextcloud's HaRP proxy"
)]
struct Cli {
    /// Check the configuration (HP_* variables), print it with secrets masked, and exit.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default): configured by HP_* environment variables, as HaRP.
    Serve,
    /// Run harp on loopback with a built-in stand-in Nextcloud and a sample ExApp.
    Demo {
        /// Where harp listens.
        #[arg(long, default_value = "127.0.0.1:8780")]
        listen: String,
    },
    /// Exit 0 if the harp running here answers on its control port (for container health checks).
    Healthcheck,
    /// Show the certificates harp uses, or renew the FRP certificates it generated.
    Certs {
        #[command(subcommand)]
        action: CertsAction,
    },
    /// Check every hop (Nextcloud, shared key, reverse proxy, Docker engines, tunnels,
    /// certificates, trusted proxies) and say what is wrong. Exit 0 when all checks pass.
    Doctor {
        /// Nextcloud's public URL (e.g. https://cloud.example/): checks that the reverse proxy
        /// forwards /exapps/ to harp unchanged.
        #[arg(long)]
        public_url: Option<String>,
        /// An ExApp id Nextcloud knows: checks that Nextcloud accepts the shared key.
        #[arg(long)]
        app: Option<String>,
    },
    /// Run an frpc-compatible tunnel client from an frpc.toml (HaRP's ExApp shape).
    Tunnel {
        /// The frpc.toml to read.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum CertsAction {
    /// Each certificate's file, subject, names, validity and days left (exit 1 if one is
    /// expired, expires within 30 days or is unreadable).
    Show,
    /// Regenerate the FRP certificates in $HP_CERTS_DIR/frp (the old ones are kept as a backup).
    Renew {
        /// Validity in days (default: HP_FRP_CERT_VALIDITY_DAYS or 5000).
        #[arg(long)]
        days: Option<u32>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("harp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Some(Command::Demo { listen }) => runtime.block_on(demo(listen)),
        Some(Command::Healthcheck) => healthcheck(),
        Some(Command::Certs { action }) => certs(action),
        Some(Command::Doctor { public_url, app }) => {
            runtime.block_on(doctor(harp::doctor::Options { public_url, app }))
        }
        Some(Command::Tunnel { config }) => runtime.block_on(tunnel(config)),
        Some(Command::Serve) | None => runtime.block_on(serve(cli.check_config)),
    }
}

/// `GET /heartbeat` on `HP_CONTROL_ADDRESS` (HaRP's healthcheck.sh asked the agent the same).
fn healthcheck() -> ExitCode {
    use std::io::{Read, Write};
    let addr = std::env::var("HP_CONTROL_ADDRESS").unwrap_or_else(|_| "127.0.0.1:8200".to_string());
    let addr = harp::config::strip_quotes(addr.trim()).replace("0.0.0.0", "127.0.0.1");
    let timeout = std::time::Duration::from_secs(5);
    let result = (|| -> std::io::Result<String> {
        let sock: std::net::SocketAddr = addr.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("HP_CONTROL_ADDRESS '{addr}' is not ip:port"),
            )
        })?;
        let mut stream = std::net::TcpStream::connect_timeout(&sock, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(b"GET /heartbeat HTTP/1.1\r\nHost: harp\r\nConnection: close\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    })();
    match result {
        Ok(answer) if answer.starts_with("HTTP/1.1 200") => {
            println!("OK: harp answers on {addr}");
            ExitCode::SUCCESS
        }
        Ok(answer) => {
            eprintln!(
                "harp healthcheck: unexpected answer from {addr}: {}",
                answer.lines().next().unwrap_or("")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("harp healthcheck: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A variable with HaRP's quote stripping, or `default`.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .map(|v| harp::config::strip_quotes(v.trim()).to_string())
        .unwrap_or_else(|_| default.to_string())
}

fn certs(action: CertsAction) -> ExitCode {
    let dir = PathBuf::from(env_or("HP_CERTS_DIR", "/certs"));
    match action {
        CertsAction::Show => {
            let (text, problem) = harp::certs::show::show(&dir);
            print!("{text}");
            if problem {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        CertsAction::Renew { days } => {
            let days = match days {
                Some(d) => d,
                None => match env_or("HP_FRP_CERT_VALIDITY_DAYS", "5000").parse() {
                    Ok(d) => d,
                    Err(_) => {
                        eprintln!("harp certs renew: HP_FRP_CERT_VALIDITY_DAYS is not a number");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                },
            };
            if !(1..=36_500).contains(&days) {
                eprintln!("harp certs renew: the validity must be 1 to 36500 days, not {days}");
                return ExitCode::from(EXIT_CONFIG);
            }
            match harp::certs::renew::renew(&dir, days) {
                Ok(renewed) => {
                    println!("{}", harp::certs::renew::advice(&renewed));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("harp certs renew: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn doctor(options: harp::doctor::Options) -> ExitCode {
    let findings = harp::doctor::run(&harp::config::ProcessEnv, &options).await;
    for f in &findings {
        println!("{f}");
    }
    if findings.iter().any(|f| f.is_failure()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn demo(listen: String) -> ExitCode {
    harp::telemetry::init(harp::config::LogLevel::Info, false);
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    match harp::demo::run(&listen, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harp demo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn tunnel(path: PathBuf) -> ExitCode {
    use harp::tunnel_client::{self, ClientError};
    let loaded = match tunnel_client::load(&path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("harp tunnel: {}: {e}", path.display());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let level = loaded
        .config
        .log_level
        .unwrap_or(harp::config::LogLevel::Info);
    harp::telemetry::init(level, false);
    for w in &loaded.warnings {
        tracing::warn!("{}: {w}", path.display());
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    match tunnel_client::run(loaded.config, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("harp tunnel: {e}");
            match e {
                ClientError::Config(_) => ExitCode::from(EXIT_CONFIG),
                ClientError::LoginFailed(_) => ExitCode::FAILURE,
            }
        }
    }
}

async fn serve(check_only: bool) -> ExitCode {
    let parsed = Config::from_env(&ProcessEnv);
    let config = match parsed.result {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("harp: the configuration is not valid:");
            for e in &errors {
                eprintln!("  - {e}");
            }
            for w in &parsed.warnings {
                eprintln!("  (warning) {w}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    harp::telemetry::init(config.log_level, config.log_json);
    for w in &parsed.warnings {
        tracing::warn!("{w}");
    }
    if check_only {
        println!("{config:#?}");
        println!("configuration OK");
        return ExitCode::SUCCESS;
    }
    // Registered before anything listens: an early SIGHUP or SIGTERM is handled, not fatal.
    let mut signals = match harp::signals::Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harp: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let running = match harp::app::start(config, shutdown.clone()).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("harp: {e}");
            return ExitCode::FAILURE;
        }
    };
    while signals.next().await == harp::signals::Request::Reload {
        running.reload(&ProcessEnv);
    }
    tracing::info!(
        grace_s = harp::app::GRACE.as_secs(),
        "shutting down: no new connections, in-flight requests may finish"
    );
    shutdown.cancel();
    running.stopped().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM or SIGINT (and cancels `shutdown`).
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    shutdown.cancel();
}
