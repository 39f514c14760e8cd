//! The `HP_K8S_*` variables (contract §1.2): whether the Kubernetes backend is on, where the API
//! server is (explicit, or in-cluster from `KUBERNETES_SERVICE_HOST`/`_PORT`), where the bearer
//! token and CA come from, and what created objects look like (namespace, storage, host aliases).
//! HaRP's parsing and defaults; what HaRP only noticed at the first API call (a malformed URL,
//! namespace, storage size or alias IP) is reported at start-up when the backend is on (D12).

use super::env::Env;
use super::secret::Secret;
use std::net::IpAddr;
use std::path::PathBuf;

pub const HP_K8S_ENABLED: &str = "HP_K8S_ENABLED";
pub const HP_K8S_NAMESPACE: &str = "HP_K8S_NAMESPACE";
pub const HP_K8S_API_SERVER: &str = "HP_K8S_API_SERVER";
pub const HP_K8S_BEARER_TOKEN: &str = "HP_K8S_BEARER_TOKEN";
pub const HP_K8S_BEARER_TOKEN_FILE: &str = "HP_K8S_BEARER_TOKEN_FILE";
pub const HP_K8S_CA_FILE: &str = "HP_K8S_CA_FILE";
pub const HP_K8S_VERIFY_SSL: &str = "HP_K8S_VERIFY_SSL";
pub const HP_K8S_STORAGE_CLASS: &str = "HP_K8S_STORAGE_CLASS";
pub const HP_K8S_DEFAULT_STORAGE_SIZE: &str = "HP_K8S_DEFAULT_STORAGE_SIZE";
pub const HP_K8S_HOST_ALIASES: &str = "HP_K8S_HOST_ALIASES";
pub const KUBERNETES_SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST";
pub const KUBERNETES_SERVICE_PORT: &str = "KUBERNETES_SERVICE_PORT";

pub const DEFAULT_NAMESPACE: &str = "nextcloud-exapps";
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
pub const DEFAULT_CA_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
pub const DEFAULT_STORAGE_SIZE: &str = "10Gi";

/// One pod `hostAliases` entry: an IP and the names that point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAlias {
    pub ip: String,
    pub hostnames: Vec<String>,
}

/// The Kubernetes backend's settings.
#[derive(Debug, Clone)]
pub struct K8sConfig {
    pub enabled: bool,
    pub namespace: String,
    /// Base URL without a trailing `/`; `None` when neither `HP_K8S_API_SERVER` nor
    /// `KUBERNETES_SERVICE_HOST` is set.
    pub api_server: Option<String>,
    /// `HP_K8S_BEARER_TOKEN`: a static token that wins over the file.
    pub bearer_token: Option<Secret>,
    /// Re-read on every API call (projected service-account tokens rotate).
    pub bearer_token_file: PathBuf,
    /// Used when it exists; otherwise the system roots.
    pub ca_file: PathBuf,
    pub verify_tls: bool,
    pub storage_class: String,
    pub storage_size: String,
    pub host_aliases: Vec<HostAlias>,
}

impl Default for K8sConfig {
    fn default() -> Self {
        K8sConfig {
            enabled: false,
            namespace: DEFAULT_NAMESPACE.to_string(),
            api_server: None,
            bearer_token: None,
            bearer_token_file: PathBuf::from(DEFAULT_TOKEN_FILE),
            ca_file: PathBuf::from(DEFAULT_CA_FILE),
            verify_tls: true,
            storage_class: String::new(),
            storage_size: DEFAULT_STORAGE_SIZE.to_string(),
            host_aliases: Vec::new(),
        }
    }
}

impl K8sConfig {
    /// Reads every `HP_K8S_*` variable; problems go to `errors` (only when the backend is on)
    /// or `warnings`.
    pub fn from_env(env: &impl Env, errors: &mut Vec<String>, warnings: &mut Vec<String>) -> Self {
        let get = |name: &str| env.get(name);
        let enabled = get(HP_K8S_ENABLED).is_some_and(|v| {
            matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
        });
        let mut problems = Vec::new();
        let namespace = get(HP_K8S_NAMESPACE).unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        if !is_dns_label(&namespace) {
            problems.push(format!(
                "{HP_K8S_NAMESPACE}: '{namespace}' is not a valid namespace (lower-case letters, digits and '-', at most 63)"
            ));
        }
        let api_server = match get(HP_K8S_API_SERVER).filter(|v| !v.trim().is_empty()) {
            Some(url) => Some(url.trim().trim_end_matches('/').to_string()),
            None => get(KUBERNETES_SERVICE_HOST)
                .filter(|h| !h.trim().is_empty())
                .map(|host| {
                    let host = host.trim();
                    let port = get(KUBERNETES_SERVICE_PORT)
                        .filter(|p| !p.trim().is_empty())
                        .unwrap_or_else(|| "443".to_string());
                    // An IPv6 service address needs brackets in a URL (HaRP left them out).
                    let host = if host.contains(':') && !host.starts_with('[') {
                        format!("[{host}]")
                    } else {
                        host.to_string()
                    };
                    format!("https://{host}:{}", port.trim())
                }),
        };
        if let Some(url) = &api_server {
            let valid = url.parse::<http::Uri>().is_ok_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some()
            });
            if !valid {
                problems.push(format!(
                    "{HP_K8S_API_SERVER}: '{url}' is not an http:// or https:// URL"
                ));
            }
        }
        let bearer_token = get(HP_K8S_BEARER_TOKEN)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(Secret::new);
        let bearer_token_file = PathBuf::from(
            get(HP_K8S_BEARER_TOKEN_FILE).unwrap_or_else(|| DEFAULT_TOKEN_FILE.to_string()),
        );
        let ca_file =
            PathBuf::from(get(HP_K8S_CA_FILE).unwrap_or_else(|| DEFAULT_CA_FILE.to_string()));
        let verify_tls =
            get(HP_K8S_VERIFY_SSL).is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
        let storage_class = get(HP_K8S_STORAGE_CLASS).unwrap_or_default();
        let storage_size =
            get(HP_K8S_DEFAULT_STORAGE_SIZE).unwrap_or_else(|| DEFAULT_STORAGE_SIZE.to_string());
        if !is_quantity(&storage_size) {
            problems.push(format!(
                "{HP_K8S_DEFAULT_STORAGE_SIZE}: '{storage_size}' is not a Kubernetes quantity (e.g. 10Gi, 500M)"
            ));
        }
        let (host_aliases, alias_warnings, alias_errors) =
            host_aliases(&get(HP_K8S_HOST_ALIASES).unwrap_or_default());
        warnings.extend(alias_warnings);
        problems.extend(alias_errors);
        if enabled {
            errors.extend(problems);
            if api_server.is_none() {
                warnings.push(format!(
                    "{HP_K8S_ENABLED} is on but neither {HP_K8S_API_SERVER} nor {KUBERNETES_SERVICE_HOST} is set: /k8s/exapp/* will answer 503"
                ));
            }
            if !verify_tls {
                warnings.push(format!(
                    "{HP_K8S_VERIFY_SSL}=false: the Kubernetes API server's certificate is not checked"
                ));
            }
        } else if !problems.is_empty() && env.get(HP_K8S_API_SERVER).is_some() {
            warnings.extend(
                problems
                    .into_iter()
                    .map(|p| format!("{p} (ignored: {HP_K8S_ENABLED} is off)")),
            );
        }
        K8sConfig {
            enabled,
            namespace,
            api_server,
            bearer_token,
            bearer_token_file,
            ca_file,
            verify_tls,
            storage_class,
            storage_size,
            host_aliases,
        }
    }
}

/// A DNS-1123 label: what a namespace name must be.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes resource quantity: a decimal number with an optional suffix
/// (`Ki`…`Ei`, `n`, `u`, `m`, `k`, `M`…`E`, or an exponent `e3`).
pub fn is_quantity(s: &str) -> bool {
    let s = s.trim();
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let number = number.strip_prefix(['+', '-']).unwrap_or(number);
    let digits_ok = !number.is_empty()
        && number.bytes().filter(|b| *b == b'.').count() <= 1
        && number.bytes().any(|b| b.is_ascii_digit())
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let suffix_ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    digits_ok && suffix_ok
}

/// `host:ip,host2:ip2` as HaRP reads it: each entry split at its last `:`, empty or colon-less
/// entries skipped, hosts grouped by IP in first-seen order. Returns the aliases, warnings and
/// errors (an IP that is not one).
fn host_aliases(raw: &str) -> (Vec<HostAlias>, Vec<String>, Vec<String>) {
    let (mut aliases, mut warnings, mut errors) = (Vec::<HostAlias>::new(), vec![], vec![]);
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((host, ip)) = entry.rsplit_once(':') else {
            warnings.push(format!(
                "{HP_K8S_HOST_ALIASES}: '{entry}' has no ':' (expected host:ip); skipped"
            ));
            continue;
        };
        let (host, ip) = (host.trim(), ip.trim());
        if host.is_empty() || ip.is_empty() {
            warnings.push(format!(
                "{HP_K8S_HOST_ALIASES}: '{entry}' lacks a host or an IP; skipped"
            ));
            continue;
        }
        if ip.parse::<IpAddr>().is_err() {
            errors.push(format!(
                "{HP_K8S_HOST_ALIASES}: '{ip}' in '{entry}' is not an IP address"
            ));
            continue;
        }
        match aliases.iter_mut().find(|a| a.ip == ip) {
            Some(a) => a.hostnames.push(host.to_string()),
            None => aliases.push(HostAlias {
                ip: ip.to_string(),
                hostnames: vec![host.to_string()],
            }),
        }
    }
    (aliases, warnings, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> (K8sConfig, Vec<String>, Vec<String>) {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (mut errors, mut warnings) = (vec![], vec![]);
        let c = K8sConfig::from_env(&env, &mut errors, &mut warnings);
        (c, errors, warnings)
    }

    #[test]
    fn defaults_match_harp() {
        let (c, errors, _) = parse(&[]);
        assert!(errors.is_empty());
        assert!(!c.enabled);
        assert_eq!(c.namespace, "nextcloud-exapps");
        assert_eq!(c.api_server, None);
        assert!(c.bearer_token.is_none());
        assert_eq!(c.bearer_token_file, PathBuf::from(DEFAULT_TOKEN_FILE));
        assert_eq!(c.ca_file, PathBuf::from(DEFAULT_CA_FILE));
        assert!(c.verify_tls);
        assert_eq!(c.storage_class, "");
        assert_eq!(c.storage_size, "10Gi");
        assert!(c.host_aliases.is_empty());
    }

    #[test]
    fn enabled_and_verify_switches() {
        for (v, on) in [
            ("1", true),
            ("true", true),
            ("TRUE", true),
            ("yes", true),
            ("on", false),
            ("0", false),
        ] {
            assert_eq!(parse(&[(HP_K8S_ENABLED, v)]).0.enabled, on, "{v}");
        }
        for (v, verify) in [
            ("false", false),
            ("FALSE", false),
            ("0", true),
            ("no", true),
        ] {
            assert_eq!(parse(&[(HP_K8S_VERIFY_SSL, v)]).0.verify_tls, verify, "{v}");
        }
    }

    #[test]
    fn api_server_explicit_or_in_cluster() {
        let (c, _, _) = parse(&[(HP_K8S_API_SERVER, "https://10.0.0.1:6443/")]);
        assert_eq!(c.api_server.as_deref(), Some("https://10.0.0.1:6443"));
        let (c, _, _) = parse(&[(KUBERNETES_SERVICE_HOST, "10.96.0.1")]);
        assert_eq!(c.api_server.as_deref(), Some("https://10.96.0.1:443"));
        let (c, _, _) = parse(&[
            (KUBERNETES_SERVICE_HOST, "fd00::1"),
            (KUBERNETES_SERVICE_PORT, "6443"),
        ]);
        assert_eq!(c.api_server.as_deref(), Some("https://[fd00::1]:6443"));
        let (c, _, _) = parse(&[
            (HP_K8S_API_SERVER, "http://127.0.0.1:8001"),
            (KUBERNETES_SERVICE_HOST, "10.96.0.1"),
        ]);
        assert_eq!(c.api_server.as_deref(), Some("http://127.0.0.1:8001"));
    }

    #[test]
    fn bad_values_are_errors_only_when_enabled() {
        let bad = [
            (HP_K8S_API_SERVER, "ftp://x"),
            (HP_K8S_NAMESPACE, "Not_Valid"),
            (HP_K8S_DEFAULT_STORAGE_SIZE, "ten gigs"),
            (HP_K8S_HOST_ALIASES, "nc.local:not-an-ip"),
        ];
        let (_, errors, _) = parse(&bad);
        assert!(errors.is_empty(), "off: {errors:?}");
        let mut on = bad.to_vec();
        on.push((HP_K8S_ENABLED, "true"));
        let (_, errors, _) = parse(&on);
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn token_is_stripped_and_masked() {
        let (c, _, _) = parse(&[(HP_K8S_BEARER_TOKEN, "  abc \n")]);
        assert_eq!(
            c.bearer_token
                .as_ref()
                .map(|t| t.expose().to_string())
                .as_deref(),
            Some("abc")
        );
        assert!(!format!("{c:?}").contains("abc"));
        assert!(
            parse(&[(HP_K8S_BEARER_TOKEN, "  ")])
                .0
                .bearer_token
                .is_none()
        );
    }

    #[test]
    fn host_aliases_like_harp() {
        let (c, errors, warnings) = parse(&[(
            HP_K8S_HOST_ALIASES,
            "nc.local:10.0.0.5, ,broken,collabora.local:10.0.0.5,other:10.0.0.6,:1.2.3.4",
        )]);
        assert!(errors.is_empty());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(
            c.host_aliases,
            vec![
                HostAlias {
                    ip: "10.0.0.5".into(),
                    hostnames: vec!["nc.local".into(), "collabora.local".into()]
                },
                HostAlias {
                    ip: "10.0.0.6".into(),
                    hostnames: vec!["other".into()]
                },
            ]
        );
    }

    #[test]
    fn quantities() {
        for q in ["10Gi", "500M", "1", "1.5Gi", "100m", "1e3", "0.5"] {
            assert!(is_quantity(q), "{q}");
        }
        for q in ["", "Gi", "10 Gi", "10GB", "1..5", "x"] {
            assert!(!is_quantity(q), "{q}");
        }
    }
}
