//! `Secret`: the shared key. It never prints (Debug and Display show `***`) and compares in
//! constant time, so it cannot leak through a log line or a timing side channel. Clones share
//! one value, so SIGHUP can replace the key (`HP_SHARED_KEY_FILE` re-read) everywhere at once.

use std::fmt;
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;

/// A secret string, such as `HP_SHARED_KEY`. Clones see [`Secret::replace`] of each other.
#[derive(Clone)]
pub struct Secret(Arc<RwLock<Arc<str>>>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::new(RwLock::new(Arc::from(value.into()))))
    }

    fn current(&self) -> Arc<str> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The secret itself, for the few places that must send it (Nextcloud calls).
    pub fn expose(&self) -> Arc<str> {
        self.current()
    }

    /// Constant-time comparison with bytes a peer sent.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.current().as_bytes().ct_eq(candidate).into()
    }

    /// Gives this secret (and every clone of it) the value of `other`.
    pub fn replace(&self, other: &Secret) {
        let value = other.current();
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = value;
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_and_compares_exactly() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert!(s.matches(b"hunter2"));
        assert!(!s.matches(b"hunter"));
        assert!(!s.matches(b"Hunter2"));
    }

    #[test]
    fn replace_reaches_every_clone() {
        let s = Secret::new("old");
        let clone = s.clone();
        s.replace(&Secret::new("new"));
        assert!(clone.matches(b"new"));
        assert!(!clone.matches(b"old"));
        assert_eq!(&*clone.expose(), "new");
    }
}
