//! The JSON bodies AppAPI sends to `/docker/exapp/*` (contract §5.5), validated with pydantic's
//! rules as HaRP applies them plus decision D17's tolerance (`null` lists are empty, unknown keys
//! ignored).

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// `null` (or absent) becomes the default value.
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ExAppName {
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub instance_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub role_suffix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MountPoint {
    pub source: String,
    pub target: String,
    #[serde(default = "rw")]
    pub mode: String,
}

fn rw() -> String {
    "rw".to_string()
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ComputeDevice {
    #[default]
    Cpu,
    Rocm,
    Cuda,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreatePayload {
    #[serde(flatten)]
    pub name: ExAppName,
    #[serde(default)]
    pub image_id: Option<String>,
    /// Accepted as an alias of `image_id`.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub network_mode: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub environment_variables: Vec<String>,
    #[serde(default)]
    pub restart_policy: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub compute_device: ComputeDevice,
    #[serde(default, deserialize_with = "null_default")]
    pub mount_points: Vec<MountPoint>,
    #[serde(default, deserialize_with = "null_default")]
    pub resource_limits: Map<String, Value>,
}

impl CreatePayload {
    pub fn image(&self) -> Option<&str> {
        self.image_id.as_deref().or(self.image.as_deref())
    }
    pub fn network_mode(&self) -> &str {
        self.network_mode.as_deref().unwrap_or("bridge")
    }
    pub fn restart_policy(&self) -> &str {
        self.restart_policy.as_deref().unwrap_or("unless-stopped")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RemovePayload {
    #[serde(flatten)]
    pub name: ExAppName,
    #[serde(default, deserialize_with = "null_default")]
    pub remove_data: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImageRemovePayload {
    pub image_ref: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CertificatesPayload {
    #[serde(flatten)]
    pub name: ExAppName,
    #[serde(default)]
    pub system_certs_bundle: Option<String>,
    #[serde(default = "yes")]
    pub install_frp_certs: bool,
}

fn yes() -> bool {
    true
}

/// Why a body was refused, with HaRP's texts.
#[derive(Debug)]
pub enum BodyError {
    InvalidJson,
    Validation(String),
}

/// Parses and validates a body.
pub fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, BodyError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| BodyError::InvalidJson)?;
    serde_json::from_value(value).map_err(|e| BodyError::Validation(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_payload_defaults_and_tolerance() {
        let p: CreatePayload = parse(
            br#"{"name": "app", "image": "img:1", "environment_variables": null, "mount_points": [{"source": "/a", "target": "/b"}], "resource_limits": {"memory": null}, "start_container": true}"#,
        )
        .unwrap();
        assert_eq!(p.image(), Some("img:1"));
        assert_eq!(p.network_mode(), "bridge");
        assert_eq!(p.restart_policy(), "unless-stopped");
        assert_eq!(p.compute_device, ComputeDevice::Cpu);
        assert_eq!(p.mount_points[0].mode, "rw");
        assert!(p.environment_variables.is_empty());
        assert!(matches!(
            parse::<CreatePayload>(b"{}"),
            Err(BodyError::Validation(_))
        ));
        assert!(matches!(
            parse::<CreatePayload>(b"{nope"),
            Err(BodyError::InvalidJson)
        ));
        assert!(matches!(
            parse::<CreatePayload>(br#"{"name":"a","image_id":"i","compute_device":"tpu"}"#),
            Err(BodyError::Validation(_))
        ));
        let r: RemovePayload = parse(br#"{"name": "a", "remove_data": true}"#).unwrap();
        assert!(r.remove_data);
        let c: CertificatesPayload = parse(br#"{"name": "a"}"#).unwrap();
        assert!(c.install_frp_certs && c.system_certs_bundle.is_none());
    }
}
