//! The ExApp record (`exapp-meta` answer or `exapp_storage` body) and its validation, with
//! pydantic's lax rules as HaRP applies them (contract §4.2) and decision D17's tolerance:
//! numbers may be numeric strings, `null` lists are empty, unknown keys are ignored.
//! Route regexes are compiled once, when the record is built.

use serde_json::Value;
use std::net::IpAddr;

/// Who may use a route: 0 = PUBLIC, 1 = USER, 2 = ADMIN.
pub type AccessLevel = u8;

/// One route the ExApp declared in its info.xml.
#[derive(Debug, Clone)]
pub struct Route {
    pub url: String,
    /// `None` when the pattern does not compile: the route is skipped, as in HaRP (D5).
    pub regex: Option<fancy_regex::Regex>,
    pub access_level: AccessLevel,
    /// Response statuses that count as a brute-force failure (contract §3.5).
    pub bruteforce_protection: Vec<u16>,
}

impl Route {
    /// Python `re.match(url, path)`: anchored at the start only.
    pub fn matches(&self, path: &str) -> bool {
        self.regex
            .as_ref()
            .is_some_and(|r| r.is_match(path).unwrap_or(false))
    }
}

/// What harp knows about one ExApp.
#[derive(Debug, Clone)]
pub struct ExApp {
    pub exapp_token: String,
    pub exapp_version: String,
    pub host: String,
    pub port: u16,
    pub routes: Vec<Route>,
    /// A pre-resolved address, if the record carried one.
    pub resolved_host: Option<IpAddr>,
}

/// Compiles a Python-style route pattern so it only matches at the start of the path.
fn compile_route(url: &str) -> Option<fancy_regex::Regex> {
    match fancy_regex::Regex::new(&format!(r"\A(?:{url})")) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!(pattern = url, error = %e, "route regex does not compile; the route is skipped");
            None
        }
    }
}

fn string_field(obj: &serde_json::Map<String, Value>, key: &str) -> Result<String, String> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("'{key}' must be a string")),
        None => Err(format!("'{key}' is required")),
    }
}

/// An integer as pydantic's lax mode takes it: a JSON integer, an integral float, or a string
/// holding one.
fn lax_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn list_field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<&'a [Value], String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("'{key}' must be a list")),
    }
}

fn parse_route(v: &Value, index: usize) -> Result<Route, String> {
    let obj = v
        .as_object()
        .ok_or(format!("routes[{index}] must be an object"))?;
    let url = string_field(obj, "url").map_err(|e| format!("routes[{index}]: {e}"))?;
    let access_level = obj
        .get("access_level")
        .and_then(lax_int)
        .filter(|l| (0..=2).contains(l))
        .ok_or(format!("routes[{index}]: 'access_level' must be 0, 1 or 2"))?
        as AccessLevel;
    let bruteforce_protection = list_field(obj, "bruteforce_protection")
        .map_err(|e| format!("routes[{index}]: {e}"))?
        .iter()
        .map(|s| lax_int(s).and_then(|n| u16::try_from(n).ok()))
        .collect::<Option<Vec<u16>>>()
        .ok_or(format!(
            "routes[{index}]: 'bruteforce_protection' must be a list of status codes"
        ))?;
    Ok(Route {
        regex: compile_route(&url),
        url,
        access_level,
        bruteforce_protection,
    })
}

impl ExApp {
    /// Validates a JSON record. The error says which field is wrong.
    pub fn from_json(v: &Value) -> Result<ExApp, String> {
        let obj = v
            .as_object()
            .ok_or("the ExApp record must be a JSON object")?;
        let exapp_token = string_field(obj, "exapp_token")?;
        let exapp_version = string_field(obj, "exapp_version")?;
        let host = string_field(obj, "host")?;
        let port = obj
            .get("port")
            .and_then(lax_int)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or("'port' must be an integer between 0 and 65535")?;
        let routes = list_field(obj, "routes")?
            .iter()
            .enumerate()
            .map(|(i, r)| parse_route(r, i))
            .collect::<Result<Vec<_>, _>>()?;
        let resolved_host = match obj.get("resolved_host") {
            Some(Value::String(s)) if !s.is_empty() => s.parse().ok(),
            _ => None,
        };
        Ok(ExApp {
            exapp_token,
            exapp_version,
            host,
            port,
            routes,
            resolved_host,
        })
    }

    /// The record built from a signed request's headers when Nextcloud does not know the app
    /// yet (contract §3.1 step 6.3): no routes, no token.
    pub fn from_signed_headers(version: &str, host: &str, port: &str) -> Option<ExApp> {
        Some(ExApp {
            exapp_token: String::new(),
            exapp_version: version.to_string(),
            host: host.to_string(),
            port: port.trim().parse().ok()?,
            routes: Vec::new(),
            resolved_host: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(extra: Value) -> Value {
        let mut base =
            json!({"exapp_token": "t", "exapp_version": "1.0", "host": "127.0.0.1", "port": 23000});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    #[test]
    fn accepts_lax_numbers_and_null_lists() {
        let app = ExApp::from_json(&record(json!({"port": "23001", "routes": [
            {"url": "^/a$", "access_level": "1", "bruteforce_protection": null},
            {"url": "^/b$", "access_level": 2.0, "bruteforce_protection": [401, "500"]},
        ]})))
        .unwrap();
        assert_eq!(app.port, 23001);
        assert_eq!(app.routes[0].access_level, 1);
        assert!(app.routes[0].bruteforce_protection.is_empty());
        assert_eq!(app.routes[1].bruteforce_protection, vec![401, 500]);
        assert!(
            ExApp::from_json(&record(json!({"routes": null})))
                .unwrap()
                .routes
                .is_empty()
        );
        assert_eq!(
            ExApp::from_json(&record(json!({"port": 23000.0})))
                .unwrap()
                .port,
            23000
        );
    }

    #[test]
    fn rejects_wrong_shapes() {
        assert!(ExApp::from_json(&json!({})).is_err());
        assert!(ExApp::from_json(&json!([])).is_err());
        assert!(ExApp::from_json(&record(json!({"exapp_version": 1}))).is_err());
        assert!(ExApp::from_json(&record(json!({"port": "x"}))).is_err());
        assert!(ExApp::from_json(&record(json!({"port": 70000}))).is_err());
        assert!(ExApp::from_json(&record(json!({"port": 1.5}))).is_err());
        assert!(
            ExApp::from_json(&record(
                json!({"routes": [{"url": "^/", "access_level": 3}]})
            ))
            .is_err()
        );
        assert!(ExApp::from_json(&record(json!({"routes": [{"access_level": 0}]}))).is_err());
        assert!(ExApp::from_json(&record(json!({"routes": {}}))).is_err());
    }

    #[test]
    fn python_match_semantics() {
        let app = ExApp::from_json(&record(json!({"routes": [
            {"url": "^/public$", "access_level": 0},
            {"url": "/api/v1/", "access_level": 1},
            {"url": "(?!/private).*\\.js", "access_level": 0},
            {"url": "([", "access_level": 0},
        ]})))
        .unwrap();
        let r = &app.routes;
        assert!(r[0].matches("/public"));
        assert!(!r[0].matches("/public/x"));
        assert!(r[1].matches("/api/v1/x"), "anchored at the start");
        assert!(!r[1].matches("/x/api/v1/"), "never searched past the start");
        assert!(r[2].matches("/static/app.js"), "look-ahead works");
        assert!(!r[2].matches("/private/app.js"));
        assert!(
            r[3].regex.is_none() && !r[3].matches("(["),
            "a bad pattern is skipped"
        );
    }
}
