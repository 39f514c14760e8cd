//! Counters of a published proxy, for logs and the control port.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default, Debug)]
pub struct ProxyStats {
    pub connections_total: AtomicU64,
    pub connections_open: AtomicU64,
    /// Bytes from users to the client's service.
    pub bytes_in: AtomicU64,
    /// Bytes from the client's service to users.
    pub bytes_out: AtomicU64,
}

impl ProxyStats {
    pub fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn add_bytes(&self, inbound: u64, outbound: u64) {
        self.bytes_in.fetch_add(inbound, Ordering::Relaxed);
        self.bytes_out.fetch_add(outbound, Ordering::Relaxed);
    }
}
