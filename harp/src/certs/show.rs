//! `harp certs show`: each certificate harp uses, its file, subject, names, validity and the
//! days left, in plain text.

use super::inventory::{self, CertFile, WARN_DAYS};
use std::fmt::Write;
use std::path::Path;

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_else(|_| unix.to_string())
}

/// The report, and whether any certificate is expired, expiring within 30 days or unreadable.
pub fn show(certs_dir: &Path) -> (String, bool) {
    let files = inventory::inventory(certs_dir);
    let mut out = String::new();
    if files.is_empty() {
        let _ = writeln!(
            out,
            "no certificates in {} (no cert.pem: HTTPS is off; no frp/: generated on first start)",
            certs_dir.display()
        );
        return (out, false);
    }
    let now = inventory::now();
    let mut problem = false;
    for CertFile { role, path, info } in &files {
        let _ = writeln!(out, "{role}: {}", path.display());
        match info {
            Ok(c) => {
                let days = c.days_left(now);
                let state = if c.not_after <= now {
                    problem = true;
                    format!("EXPIRED {} days ago", -days)
                } else if days < WARN_DAYS {
                    problem = true;
                    format!("{days} days left (expires soon)")
                } else {
                    format!("{days} days left")
                };
                let sans = if c.sans.is_empty() {
                    "-".to_string()
                } else {
                    c.sans.join(", ")
                };
                let _ = writeln!(out, "  subject:  {}", c.subject);
                let _ = writeln!(out, "  issuer:   {}", c.issuer);
                let _ = writeln!(out, "  names:    {sans}");
                let _ = writeln!(
                    out,
                    "  valid:    {} to {}",
                    date(c.not_before),
                    date(c.not_after)
                );
                let _ = writeln!(out, "  status:   {state}");
            }
            Err(e) => {
                problem = true;
                let _ = writeln!(out, "  UNREADABLE: {e}");
            }
        }
    }
    (out, problem)
}
