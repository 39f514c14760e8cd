//! `install_certificates` (contract §5.5.7): put the system CA bundle and harp's FRP client
//! certificates into the ExApp container, starting it for the job if needed and always
//! stopping it again afterwards when it was not running (AppAPI's next `start` expects 204).

use super::{Ctx, text};
use crate::certs::FrpCertPaths;
use crate::docker::client::{Engine, EngineError};
use crate::docker::names;
use crate::docker::payload::CertificatesPayload;
use crate::http::body::{self, Body};
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Where each distribution keeps extra CAs, and how it refreshes its bundle.
fn ca_store(os_release: &str) -> Option<(&'static str, &'static [&'static str])> {
    let os = os_release.to_ascii_lowercase();
    if ["alpine", "debian", "ubuntu"]
        .iter()
        .any(|d| os.contains(d))
    {
        Some((
            "/usr/local/share/ca-certificates",
            &["update-ca-certificates"],
        ))
    } else if ["centos", "almalinux", "rhel", "fedora"]
        .iter()
        .any(|d| os.contains(d))
    {
        Some((
            "/etc/pki/ca-trust/source/anchors",
            &["update-ca-trust", "extract"],
        ))
    } else {
        None
    }
}

/// The PEM certificate blocks of a bundle.
fn pem_blocks(bundle: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = bundle;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        blocks.push(rest[start..end].to_string());
        rest = &rest[end..];
    }
    blocks
}

/// A tar archive of regular files (mode 0644, owner root).
fn tar_of(files: &[(String, Vec<u8>)]) -> std::io::Result<Bytes> {
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, data.as_slice())?;
    }
    Ok(Bytes::from(builder.into_inner()?))
}

/// A step that failed, with the answer AppAPI gets.
type Step = Response<Body>;

pub async fn install(ctx: &Ctx<'_>, p: CertificatesPayload) -> Response<Body> {
    let container = names::container(&p.name);
    let engine = match ctx.engine(TIMEOUT).await {
        Ok(e) => e,
        Err(resp) => return resp,
    };
    let was_running = match engine
        .call(
            Method::GET,
            &format!("/containers/{container}/json"),
            None,
            TIMEOUT,
        )
        .await
    {
        Err(e) => return ctx.engine_error(e),
        Ok((200, bytes)) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["State"]["Running"].as_bool())
            .unwrap_or(false),
        Ok((404, _)) => {
            return text(
                StatusCode::NOT_FOUND,
                format!("Container '{container}' not found."),
            );
        }
        Ok((status, _)) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Failed to inspect container: Status {status}"),
            );
        }
    };
    let result = install_into(ctx, &engine, &container, &p, was_running).await;
    if !was_running {
        // Always leave it as found, success or not.
        if let Err(e) = engine
            .call(
                Method::POST,
                &format!("/containers/{container}/stop"),
                None,
                TIMEOUT,
            )
            .await
        {
            tracing::warn!(container, error = %e, "could not stop the container after installing certificates");
        }
    }
    match result {
        Ok(()) => body::no_content(),
        Err(resp) => resp,
    }
}

async fn install_into(
    ctx: &Ctx<'_>,
    engine: &Engine<'_>,
    container: &str,
    p: &CertificatesPayload,
    was_running: bool,
) -> Result<(), Step> {
    if !was_running {
        match engine
            .call(
                Method::POST,
                &format!("/containers/{container}/start"),
                None,
                TIMEOUT,
            )
            .await
        {
            Err(e) => return Err(ctx.engine_error(e)),
            Ok((204 | 304, _)) => {}
            Ok((status, _)) => {
                return Err(text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Failed to start container: Status {status}"),
                ));
            }
        }
    }
    let (code, os_release) = exec(ctx, engine, container, &["cat", "/etc/os-release"]).await?;
    if code != 0 {
        let shown: String = os_release.chars().take(200).collect();
        return Err(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to get OS info. Exit: {code}. Output: {shown}"),
        ));
    }
    if let Some(bundle) = p.system_certs_bundle.as_deref().filter(|b| !b.is_empty()) {
        match ca_store(&os_release) {
            None => tracing::warn!(
                container,
                "unknown distribution; system certificates not installed"
            ),
            Some((dir, update)) => {
                mkdir(ctx, engine, container, dir).await?;
                let blocks = pem_blocks(bundle);
                if !blocks.is_empty() {
                    let files: Vec<(String, Vec<u8>)> = blocks
                        .into_iter()
                        .enumerate()
                        .map(|(i, pem)| {
                            (
                                format!("{}/custom_ca_cert_{i}.crt", dir.trim_start_matches('/')),
                                pem.into_bytes(),
                            )
                        })
                        .collect();
                    upload(ctx, engine, container, &files).await?;
                    let (code, out) = exec(ctx, engine, container, update).await?;
                    if code != 0 {
                        tracing::warn!(container, code, output = out, "CA update command failed");
                    }
                }
            }
        }
    }
    let paths = FrpCertPaths::new(&ctx.state.config.certs_dir);
    let frp_files = [paths.ca_crt(), paths.client_crt(), paths.client_key()];
    if p.install_frp_certs && frp_files.iter().all(|f| f.exists()) {
        mkdir(ctx, engine, container, "/certs/frp").await?;
        let mut files = Vec::new();
        for (name, path) in ["ca.crt", "client.crt", "client.key"]
            .iter()
            .zip(frp_files.iter())
        {
            let data = std::fs::read(path).map_err(|e| {
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Cannot read {}: {e}", path.display()),
                )
            })?;
            files.push((format!("certs/frp/{name}"), data));
        }
        upload(ctx, engine, container, &files).await?;
    }
    Ok(())
}

async fn mkdir(ctx: &Ctx<'_>, engine: &Engine<'_>, container: &str, dir: &str) -> Result<(), Step> {
    let (code, out) = exec(ctx, engine, container, &["mkdir", "-p", dir]).await?;
    if code != 0 {
        return Err(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to create {dir}. Exit: {code}. Output: {out}"),
        ));
    }
    Ok(())
}

async fn upload(
    ctx: &Ctx<'_>,
    engine: &Engine<'_>,
    container: &str,
    files: &[(String, Vec<u8>)],
) -> Result<(), Step> {
    let archive = tar_of(files).map_err(|e| {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Cannot build the archive: {e}"),
        )
    })?;
    match engine
        .call_raw(
            Method::PUT,
            &format!("/containers/{container}/archive?path=/"),
            "application/x-tar",
            archive,
            TIMEOUT,
        )
        .await
    {
        Ok((200, _)) => Ok(()),
        Ok((status, _)) => Err(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Unexpected error uploading archive: Status {status}"),
        )),
        Err(EngineError::Timeout) => Err(ctx.engine_error(EngineError::Timeout)),
        Err(e) => Err(text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Client error uploading archive: {e}"),
        )),
    }
}

/// Runs a command in the container; returns its exit code and output.
async fn exec(
    ctx: &Ctx<'_>,
    engine: &Engine<'_>,
    container: &str,
    cmd: &[&str],
) -> Result<(i64, String), Step> {
    let client_error = |e: EngineError| -> Step {
        match e {
            EngineError::Timeout => ctx.engine_error(e),
            other => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Client error during exec: {other}"),
            ),
        }
    };
    let create = json!({"AttachStdout": true, "AttachStderr": true, "Cmd": cmd});
    let id = match engine
        .call(
            Method::POST,
            &format!("/containers/{container}/exec"),
            Some(&create),
            TIMEOUT,
        )
        .await
    {
        Ok((201, bytes)) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["Id"].as_str().map(str::to_string))
            .ok_or_else(|| {
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Unexpected error during exec: Internal Server Error",
                )
            })?,
        Ok(_) => {
            return Err(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Unexpected error during exec: Service Unavailable",
            ));
        }
        Err(e) => return Err(client_error(e)),
    };
    let start = json!({"Detach": false, "Tty": false});
    let output = match engine
        .call(
            Method::POST,
            &format!("/exec/{id}/start"),
            Some(&start),
            TIMEOUT,
        )
        .await
    {
        Ok((200, bytes)) => demultiplex(&bytes),
        Ok(_) => {
            return Err(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Unexpected error during exec: Service Unavailable",
            ));
        }
        Err(e) => return Err(client_error(e)),
    };
    let code = match engine
        .call(Method::GET, &format!("/exec/{id}/json"), None, TIMEOUT)
        .await
    {
        Ok((200, bytes)) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["ExitCode"].as_i64())
            .unwrap_or(-1),
        _ => -1,
    };
    Ok((code, output))
}

/// Docker's multiplexed stream (8-byte frame headers) as text; a stream without headers is
/// taken as it is.
fn demultiplex(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while rest.len() >= 8 && matches!(rest[0], 0..=2) && rest[1..4] == [0, 0, 0] {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + len).min(rest.len());
        out.extend_from_slice(&rest[8..end]);
        rest = &rest[end..];
    }
    out.extend_from_slice(rest);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            ca_store("ID=debian").unwrap().0,
            "/usr/local/share/ca-certificates"
        );
        assert_eq!(
            ca_store("NAME=\"Fedora Linux\"").unwrap().1,
            &["update-ca-trust", "extract"]
        );
        assert!(ca_store("ID=arch").is_none());
        let bundle = "junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\nmid\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_blocks(bundle).len(), 2);
        assert!(pem_blocks("none").is_empty());
        let framed = [
            &[1u8, 0, 0, 0, 0, 0, 0, 3][..],
            b"ID=",
            &[1, 0, 0, 0, 0, 0, 0, 6],
            b"debian",
        ]
        .concat();
        assert_eq!(demultiplex(&framed), "ID=debian");
        assert_eq!(demultiplex(b"ID=debian"), "ID=debian");
        let tar = tar_of(&[("certs/frp/ca.crt".into(), b"x".to_vec())]).unwrap();
        let mut archive = tar::Archive::new(tar.as_ref());
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("certs/frp/ca.crt"));
        assert_eq!(entry.header().mode().unwrap(), 0o644);
    }
}
