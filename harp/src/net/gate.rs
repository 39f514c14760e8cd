//! `ConnGate`: admission of accepted connections. The HTTP and HTTPS listeners share one gate
//! holding `HP_MAX_CONNECTIONS` permits (HaRP's `maxconn`); a connection accepted while all
//! are taken is reset at once, so a flood costs one file descriptor for a moment instead of
//! exhausting them. The other listeners (control port, tunnels) use an unlimited gate. Both
//! count failed accepts (EMFILE and the like) for the metrics.

use crate::metrics::Counter;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A connection's place at the gate, given back when dropped (by the connection, or by the
/// WebSocket relay that outlives it).
pub struct Admitted {
    _permit: Option<OwnedSemaphorePermit>,
}

pub struct ConnGate {
    permits: Option<Arc<Semaphore>>,
    max: usize,
    refused: Counter,
    accept_errors: Counter,
}

impl ConnGate {
    /// A gate for at most `max` connections at once.
    pub fn limited(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        ConnGate {
            permits: Some(Arc::new(Semaphore::new(max))),
            max,
            refused: Counter::default(),
            accept_errors: Counter::default(),
        }
    }

    /// A gate that admits everything (it only counts accept errors).
    pub fn unlimited() -> Self {
        ConnGate {
            permits: None,
            max: 0,
            refused: Counter::default(),
            accept_errors: Counter::default(),
        }
    }

    /// A place for one more connection, or `None` (counted as refused) when all are taken.
    pub fn admit(&self) -> Option<Admitted> {
        let Some(permits) = &self.permits else {
            return Some(Admitted { _permit: None });
        };
        match permits.clone().try_acquire_owned() {
            Ok(p) => Some(Admitted { _permit: Some(p) }),
            Err(_) => {
                self.refused.inc();
                None
            }
        }
    }

    /// Connections admitted and not yet closed (0 for an unlimited gate).
    pub fn open(&self) -> usize {
        self.permits
            .as_ref()
            .map_or(0, |p| self.max.saturating_sub(p.available_permits()))
    }

    /// The limit (0 for an unlimited gate).
    pub fn max(&self) -> usize {
        self.max
    }

    pub fn refused(&self) -> u64 {
        self.refused.get()
    }

    pub fn accept_failed(&self) {
        self.accept_errors.inc();
    }

    pub fn accept_errors(&self) -> u64 {
        self.accept_errors.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_gate_refuses_past_the_limit_and_frees_on_drop() {
        let gate = ConnGate::limited(2);
        let a = gate.admit().expect("first");
        let _b = gate.admit().expect("second");
        assert_eq!(gate.open(), 2);
        assert!(gate.admit().is_none());
        assert_eq!(gate.refused(), 1);
        drop(a);
        assert_eq!(gate.open(), 1);
        assert!(gate.admit().is_some(), "a freed place is reused");
    }

    #[test]
    fn unlimited_gate_admits_everything() {
        let gate = ConnGate::unlimited();
        let held: Vec<_> = (0..10_000).filter_map(|_| gate.admit()).collect();
        assert_eq!(held.len(), 10_000);
        assert_eq!((gate.open(), gate.refused()), (0, 0));
    }
}
