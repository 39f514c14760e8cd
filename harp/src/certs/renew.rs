//! `harp certs renew`: replaces the FRP certificates harp generates (`$HP_CERTS_DIR/frp`) with
//! new ones, after moving the old directory aside as a backup. The HTTPS `cert.pem` is the
//! operator's own (harp never makes it): it is left alone, with a hint how to replace it.

use super::FrpCertPaths;
use std::path::{Path, PathBuf};

/// What a renewal did, for the operator.
#[derive(Debug)]
pub struct Renewed {
    pub dir: PathBuf,
    pub backup: Option<PathBuf>,
}

/// A backup name that does not exist yet: `frp.bak-<unix seconds>[-n]`.
fn backup_path(dir: &Path) -> PathBuf {
    let stamp = super::inventory::now();
    let base = dir.with_file_name(format!("frp.bak-{stamp}"));
    let mut candidate = base.clone();
    for n in 1..1000 {
        if !candidate.exists() {
            break;
        }
        candidate = PathBuf::from(format!("{}-{n}", base.display()));
    }
    candidate
}

/// Moves `frp/` aside (if present) and generates a fresh CA, server and client certificate
/// valid for `validity_days`. On failure the old directory is put back.
pub fn renew(certs_dir: &Path, validity_days: u32) -> Result<Renewed, String> {
    let paths = FrpCertPaths::new(certs_dir);
    if !certs_dir.is_dir() {
        return Err(format!(
            "{} does not exist (set HP_CERTS_DIR to harp's certificate directory)",
            certs_dir.display()
        ));
    }
    let backup = if paths.dir.exists() {
        let backup = backup_path(&paths.dir);
        std::fs::rename(&paths.dir, &backup).map_err(|e| {
            format!(
                "cannot move {} to {}: {e}",
                paths.dir.display(),
                backup.display()
            )
        })?;
        Some(backup)
    } else {
        None
    };
    if let Err(e) = super::generate(&paths, validity_days) {
        let _ = std::fs::remove_dir_all(&paths.dir);
        if let Some(b) = &backup {
            let _ = std::fs::rename(b, &paths.dir);
        }
        return Err(e);
    }
    Ok(Renewed {
        dir: paths.dir,
        backup,
    })
}

/// The operator's next steps after a renewal.
pub fn advice(renewed: &Renewed) -> String {
    let mut text = format!("New FRP certificates are in {}.\n", renewed.dir.display());
    if let Some(b) = &renewed.backup {
        text.push_str(&format!("The old ones are kept in {}.\n", b.display()));
    }
    text.push_str(
        "Next steps:\n\
         - restart harp (the tunnel listener reads its certificates at start-up);\n\
         - every frpc client needs the new ca.crt, client.crt and client.key: redeploy the ExApps \
         (AppAPI copies the client certificates into each container) and copy them to remote \
         Docker hosts that run frpc; clients with the old files can no longer connect.\n\
         The HTTPS certificate (cert.pem) is yours: replace the file and send SIGHUP to harp.",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_with_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        super::super::ensure(dir.path(), false, 10).unwrap();
        let paths = FrpCertPaths::new(dir.path());
        let old = std::fs::read(paths.ca_crt()).unwrap();
        let renewed = renew(dir.path(), 20).unwrap();
        let backup = renewed.backup.clone().unwrap();
        assert_eq!(std::fs::read(backup.join("ca.crt")).unwrap(), old);
        assert_ne!(std::fs::read(paths.ca_crt()).unwrap(), old);
        let second = renew(dir.path(), 20).unwrap();
        assert_ne!(
            second.backup.unwrap(),
            backup,
            "a second backup never overwrites"
        );
        assert!(advice(&renewed).contains("client.crt"));
        assert!(renew(&dir.path().join("missing"), 20).is_err());
    }
}
