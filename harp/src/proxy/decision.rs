//! Why the data plane answered a request as it did: one `Decision` per exit of
//! [`super::handle`] (contract §3.1 steps), for the request's log line and metrics, and the
//! coarser `RequestOutcome` that metrics label requests with.

use super::forward::ForwardError;

/// The step of contract §3.1 that settled a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Step 2: the client is banned; dropped.
    Banned,
    /// Step 3: a `..` segment; dropped.
    DotDot,
    /// Step 4: no `/exapps/<appid>`; 404.
    NoAppId,
    /// Step 5: AppAPI's control plane with the key.
    Control,
    /// Step 5: AppAPI's control plane without the key; 401.
    ControlKey,
    /// Step 6: a signed request with a wrong key; dropped.
    SignedKey,
    /// Step 6: a signed request whose headers make no usable record; 503.
    SignedHeaders,
    /// Step 7: Nextcloud does not know the app; 404.
    UnknownApp,
    /// Step 7: Nextcloud could not be asked about the app; 404.
    NextcloudError,
    /// Step 8: an unsigned call to `/heartbeat`, `/init` or `/enabled`; dropped.
    InternalEndpoint,
    /// Step 8: Nextcloud could not say who the user is; 401.
    UserUnknown,
    /// Step 8: no route matches; 404.
    NoRoute,
    /// Step 8: the route needs a higher access level; 403.
    RouteDenied,
    /// Steps 9–10: a header or URI harp cannot build; 503.
    BadHeader,
    /// Steps 10–12: the ExApp answered (its status is passed on).
    Forwarded,
    /// The ExApp's host name does not resolve; 404.
    UpstreamUnresolved,
    /// The ExApp cannot be reached; 503.
    UpstreamUnreachable,
    /// The ExApp sent no response head in time; 504.
    UpstreamTimeout,
    /// The ExApp's response was not valid HTTP; 502.
    UpstreamInvalid,
    /// The client stopped sending its request body; 408.
    ClientBodyTimeout,
}

impl Decision {
    pub const ALL: [Decision; 20] = [
        Decision::Banned,
        Decision::DotDot,
        Decision::NoAppId,
        Decision::Control,
        Decision::ControlKey,
        Decision::SignedKey,
        Decision::SignedHeaders,
        Decision::UnknownApp,
        Decision::NextcloudError,
        Decision::InternalEndpoint,
        Decision::UserUnknown,
        Decision::NoRoute,
        Decision::RouteDenied,
        Decision::BadHeader,
        Decision::Forwarded,
        Decision::UpstreamUnresolved,
        Decision::UpstreamUnreachable,
        Decision::UpstreamTimeout,
        Decision::UpstreamInvalid,
        Decision::ClientBodyTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Banned => "banned",
            Decision::DotDot => "dot_dot",
            Decision::NoAppId => "no_appid",
            Decision::Control => "control",
            Decision::ControlKey => "control_key",
            Decision::SignedKey => "signed_key",
            Decision::SignedHeaders => "signed_headers",
            Decision::UnknownApp => "unknown_app",
            Decision::NextcloudError => "nextcloud_error",
            Decision::InternalEndpoint => "internal_endpoint",
            Decision::UserUnknown => "user_unknown",
            Decision::NoRoute => "no_route",
            Decision::RouteDenied => "route_denied",
            Decision::BadHeader => "bad_header",
            Decision::Forwarded => "forwarded",
            Decision::UpstreamUnresolved => "upstream_unresolved",
            Decision::UpstreamUnreachable => "upstream_unreachable",
            Decision::UpstreamTimeout => "upstream_timeout",
            Decision::UpstreamInvalid => "upstream_invalid",
            Decision::ClientBodyTimeout => "client_body_timeout",
        }
    }

    pub fn outcome(self) -> RequestOutcome {
        use RequestOutcome as O;
        match self {
            Decision::Banned
            | Decision::DotDot
            | Decision::SignedKey
            | Decision::InternalEndpoint => O::Dropped,
            Decision::NoAppId
            | Decision::UnknownApp
            | Decision::NextcloudError
            | Decision::NoRoute => O::NotFound,
            Decision::Control => O::Control,
            Decision::ControlKey | Decision::UserUnknown => O::Denied401,
            Decision::RouteDenied => O::Denied403,
            Decision::SignedHeaders | Decision::BadHeader => O::Unavailable,
            Decision::Forwarded => O::Forwarded,
            Decision::UpstreamUnresolved
            | Decision::UpstreamUnreachable
            | Decision::UpstreamTimeout
            | Decision::UpstreamInvalid => O::UpstreamError,
            Decision::ClientBodyTimeout => O::ClientTimeout,
        }
    }
}

impl From<ForwardError> for Decision {
    fn from(e: ForwardError) -> Self {
        match e {
            ForwardError::Unresolved => Decision::UpstreamUnresolved,
            ForwardError::Unreachable => Decision::UpstreamUnreachable,
            ForwardError::Timeout => Decision::UpstreamTimeout,
            ForwardError::Invalid => Decision::UpstreamInvalid,
            ForwardError::ClientBody => Decision::ClientBodyTimeout,
            ForwardError::BadUri => Decision::BadHeader,
        }
    }
}

/// The `outcome` label of `harp_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Forwarded,
    Control,
    Denied401,
    Denied403,
    NotFound,
    Dropped,
    Unavailable,
    UpstreamError,
    ClientTimeout,
}

impl RequestOutcome {
    pub const ALL: [RequestOutcome; 9] = [
        RequestOutcome::Forwarded,
        RequestOutcome::Control,
        RequestOutcome::Denied401,
        RequestOutcome::Denied403,
        RequestOutcome::NotFound,
        RequestOutcome::Dropped,
        RequestOutcome::Unavailable,
        RequestOutcome::UpstreamError,
        RequestOutcome::ClientTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Forwarded => "forwarded",
            RequestOutcome::Control => "control",
            RequestOutcome::Denied401 => "denied_401",
            RequestOutcome::Denied403 => "denied_403",
            RequestOutcome::NotFound => "not_found",
            RequestOutcome::Dropped => "dropped",
            RequestOutcome::Unavailable => "unavailable",
            RequestOutcome::UpstreamError => "upstream_error",
            RequestOutcome::ClientTimeout => "client_timeout",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_match_discriminants() {
        for (i, d) in Decision::ALL.iter().enumerate() {
            assert_eq!(*d as usize, i, "{d:?}");
        }
        for (i, o) in RequestOutcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i, "{o:?}");
        }
        for (i, e) in ForwardError::UPSTREAM.iter().enumerate() {
            assert_eq!(*e as usize, i, "{e:?}");
        }
    }
}
