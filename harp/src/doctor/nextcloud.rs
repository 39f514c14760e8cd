//! Nextcloud reachable at `NC_INSTANCE_URL`, and the shared key accepted: `exapp-meta` of an
//! ExApp Nextcloud knows answers 200 only with the right key (contract §4.2). Nextcloud
//! answers 401 both for a wrong key and for an app it does not know, so the check needs the
//! id of an installed ExApp (`--app`).

use super::Finding;
use crate::auth::nextcloud::NextcloudClient;
use crate::config::Config;

const CHECK: &str = "nextcloud";

pub async fn check(config: &Config, app: Option<&str>) -> Finding {
    let client = NextcloudClient::new(&config.nextcloud_url, config.shared_key.clone());
    let appid = app.unwrap_or("harp-doctor-probe").to_ascii_lowercase();
    let url = &config.nextcloud_url;
    let answer = client
        .probe(&NextcloudClient::exapp_meta_path(&appid))
        .await;
    let (status, body) = match answer {
        Ok(a) => a,
        Err(e) => {
            return Finding::fail(
                CHECK,
                format!("cannot reach Nextcloud at NC_INSTANCE_URL {url}: {e}"),
            );
        }
    };
    let Some(app) = app else {
        return Finding::warn(
            CHECK,
            format!(
                "Nextcloud at {url} answers (HTTP {status}); give --app <id of an installed ExApp> to check that it accepts the shared key"
            ),
        );
    };
    match status.as_u16() {
        200 if body
            .as_ref()
            .is_some_and(|b| b.get("exapp_token").is_some()) =>
        {
            Finding::ok(
                CHECK,
                format!(
                    "Nextcloud at {url} accepts the shared key (exapp-meta of '{app}' answered)"
                ),
            )
        }
        200 => Finding::fail(
            CHECK,
            format!(
                "{url} answered exapp-meta with 200 but no ExApp record: is NC_INSTANCE_URL really Nextcloud (with AppAPI enabled)?"
            ),
        ),
        401 => Finding::fail(
            CHECK,
            format!(
                "Nextcloud at {url} rejected the shared key for '{app}' (401): HP_SHARED_KEY differs from the key in AppAPI's HaRP deploy daemon settings, or no ExApp '{app}' is registered (Nextcloud answers 401 for both)"
            ),
        ),
        404 => Finding::fail(
            CHECK,
            format!(
                "{url} has no AppAPI HaRP endpoint (404): check NC_INSTANCE_URL and that AppAPI (Nextcloud 32+) is enabled"
            ),
        ),
        s => Finding::fail(
            CHECK,
            format!("Nextcloud at {url} answered exapp-meta of '{app}' with HTTP {s}"),
        ),
    }
}
