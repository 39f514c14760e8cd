//! Who may do what: the ExApp records Nextcloud knows (`exapp-meta`), the users behind
//! browser requests (`user-info`), and the caches in front of both (contract §3.7, §3.8, §4).

pub mod exapp;
pub mod exapp_cache;
pub mod nextcloud;
pub mod sessions;
