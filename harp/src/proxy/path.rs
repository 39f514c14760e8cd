//! The raw request path, as HaRP reads it (contract §3.1 steps 3–4): `..` segments in any
//! spelling, and the app id. Pure functions over the undecoded path, with no allocation.

/// One `.` as written: a literal dot or `%2e`/`%2E`. Returns its length.
fn dot_at(path: &[u8], i: usize) -> Option<usize> {
    match path.get(i)? {
        b'.' => Some(1),
        b'%' if path.get(i + 1) == Some(&b'2') && matches!(path.get(i + 2), Some(b'e' | b'E')) => {
            Some(3)
        }
        _ => None,
    }
}

/// A separator as written: `/` or `%2f`/`%2F`. Returns its length.
fn separator_at(path: &[u8], i: usize) -> Option<usize> {
    match path.get(i)? {
        b'/' => Some(1),
        b'%' if path.get(i + 1) == Some(&b'2') && matches!(path.get(i + 2), Some(b'f' | b'F')) => {
            Some(3)
        }
        _ => None,
    }
}

/// Whether the path holds a `..` segment: two dots (literal or `%2e`, any case) between
/// separators (`/` or `%2f`), the start or the end. HaRP's regex:
/// `(?:^|/|%2[fF])(?:\.|%2[eE]){2}(?:/|%2[fF]|$)`.
pub fn has_dot_dot(path: &str) -> bool {
    let p = path.as_bytes();
    let mut i = 0;
    loop {
        // `i` is the start of a segment here.
        if let Some(a) = dot_at(p, i)
            && let Some(b) = dot_at(p, i + a)
        {
            let end = i + a + b;
            if end == p.len() || separator_at(p, end).is_some() {
                return true;
            }
        }
        // Move to the next segment start.
        loop {
            if i >= p.len() {
                return false;
            }
            if let Some(n) = separator_at(p, i) {
                i += n;
                break;
            }
            i += 1;
        }
    }
}

/// The app id and the path to forward (contract §3.1 step 4): the first `exapps/<appid>`
/// found at the start or after a `/`. The target path is what follows `/exapps/<appid>` when
/// the path starts with it; otherwise the whole path. It may be empty.
pub fn split_appid(path: &str) -> Option<(&str, &str)> {
    const MARK: &str = "exapps/";
    let mut from = 0;
    while let Some(pos) = path[from..].find(MARK) {
        let at = from + pos;
        if at == 0 || path.as_bytes()[at - 1] == b'/' {
            let rest = &path[at + MARK.len()..];
            let appid = rest.split('/').next().unwrap_or("");
            if !appid.is_empty() {
                let target = if at == 1 {
                    &path[at + MARK.len() + appid.len()..]
                } else {
                    path
                };
                return Some((appid, target));
            }
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_in_every_spelling() {
        for p in [
            "/exapps/app/../x",
            "/exapps/app/..",
            "..",
            "../x",
            "/exapps/app/%2e%2e/x",
            "/exapps/app/%2E%2e/x",
            "/exapps/app/.%2e/x",
            "/exapps/app/a%2F..%2Fb",
            "/exapps/app/a%2f..%2fb",
            "/exapps/app/a%2F%2E%2E",
        ] {
            assert!(has_dot_dot(p), "{p}");
        }
        for p in [
            "/exapps/app/x",
            "/exapps/app/...",
            "/exapps/app/..x",
            "/exapps/app/x..",
            "/exapps/app/.",
            "/exapps/app/%252e%252e/x",
            "/exapps/app/..\\x",
            "/exapps/app/%2e",
            "/exapps/app/%2",
            "/exapps/app/%",
            "",
        ] {
            assert!(!has_dot_dot(p), "{p}");
        }
    }

    #[test]
    fn appids() {
        assert_eq!(split_appid("/exapps/app/public"), Some(("app", "/public")));
        assert_eq!(split_appid("/exapps/app"), Some(("app", "")));
        assert_eq!(split_appid("/exapps/app/"), Some(("app", "/")));
        assert_eq!(split_appid("/exapps/App-X/a/b"), Some(("App-X", "/a/b")));
        assert_eq!(
            split_appid("/exapps/app_api/info"),
            Some(("app_api", "/info"))
        );
        assert_eq!(
            split_appid("/prefix/exapps/app/x"),
            Some(("app", "/prefix/exapps/app/x"))
        );
        assert_eq!(
            split_appid("/myexapps/app/x/exapps/b/y"),
            Some(("b", "/myexapps/app/x/exapps/b/y"))
        );
        assert_eq!(split_appid("/exapps/"), None);
        assert_eq!(split_appid("/exapps//x"), None);
        assert_eq!(split_appid("/"), None);
        assert_eq!(split_appid("/favicon.ico"), None);
        assert_eq!(split_appid("/myexapps/app"), None);
    }
}
