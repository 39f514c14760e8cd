//! Unix signals for the serving process, registered before any listener is bound so a signal
//! that arrives right after start-up is never lost or fatal: SIGTERM and SIGINT stop harp
//! gracefully, SIGHUP reloads ([`crate::reload`]).

use tokio::signal::unix::{Signal, SignalKind, signal};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Stop,
    Reload,
}

/// The registered signal streams.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next request; `Stop` also if the signal streams end.
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Stop,
            _ = self.int.recv() => Request::Stop,
            got = self.hup.recv() => match got {
                Some(()) => Request::Reload,
                None => Request::Stop,
            },
        }
    }

    /// Waits for SIGTERM or SIGINT, ignoring SIGHUP.
    pub async fn stopped(&mut self) {
        while self.next().await != Request::Stop {}
    }
}
