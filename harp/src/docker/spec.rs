//! The `POST /containers/create` body for an ExApp (contract §5.5.2): image, hostname, env,
//! network mode (with the app's name as alias on user-defined networks, which direct mode
//! relies on), the data volume and bind mounts, restart policy, GPUs, and resource limits.

use super::names;
use super::payload::{ComputeDevice, CreatePayload};
use serde_json::{Value, json};

pub fn container_create(p: &CreatePayload, image: &str) -> Value {
    let volume = names::volume(&p.name);
    let mut mounts = vec![
        json!({"Type": "volume", "Source": volume, "Target": format!("/{volume}"), "ReadOnly": false}),
    ];
    for m in &p.mount_points {
        mounts.push(json!({"Source": m.source, "Target": m.target, "Type": "bind", "ReadOnly": m.mode == "ro"}));
    }
    let network = p.network_mode();
    let mut host_config = json!({
        "NetworkMode": network,
        "Mounts": mounts,
        "RestartPolicy": {"Name": p.restart_policy()},
    });
    match p.compute_device {
        ComputeDevice::Cuda => {
            host_config["DeviceRequests"] = json!([{"Driver": "nvidia", "Count": -1, "Capabilities": [["compute", "utility"]]}]);
        }
        ComputeDevice::Rocm => {
            host_config["Devices"] = json!(["/dev/kfd", "/dev/dri"]
                .iter()
                .map(|d| json!({"PathOnHost": d, "PathInContainer": d, "CgroupPermissions": "rwm"}))
                .collect::<Vec<_>>());
        }
        ComputeDevice::Cpu => {}
    }
    // Nulls are left out: Docker would ignore them, other engines may not.
    for (from, to) in [("memory", "Memory"), ("nanoCPUs", "NanoCPUs")] {
        if let Some(v) = p.resource_limits.get(from).filter(|v| !v.is_null()) {
            host_config[to] = v.clone();
        }
    }
    let mut body = json!({
        "Image": image,
        "Hostname": p.name.name,
        "Env": p.environment_variables,
        "HostConfig": host_config,
    });
    if network != "host" && network != "bridge" {
        body["NetworkingConfig"] =
            json!({"EndpointsConfig": {network: {"Aliases": [p.name.name]}}});
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::payload::parse;

    #[test]
    fn create_body() {
        let p: CreatePayload = parse(
            br#"{"name": "app-skeleton-python", "image_id": "ghcr.io/x/y:1", "network_mode": "nextcloud",
                "environment_variables": ["A=1", "B"], "compute_device": "cuda",
                "mount_points": [{"source": "/host", "target": "/in", "mode": "ro"}],
                "resource_limits": {"memory": 1024, "nanoCPUs": null}}"#,
        )
        .unwrap();
        let b = container_create(&p, "ghcr.io/x/y:1");
        assert_eq!(b["Image"], "ghcr.io/x/y:1");
        assert_eq!(b["Hostname"], "app-skeleton-python");
        assert_eq!(b["Env"], json!(["A=1", "B"]));
        let hc = &b["HostConfig"];
        assert_eq!(hc["NetworkMode"], "nextcloud");
        assert_eq!(
            hc["Mounts"][0],
            json!({"Type": "volume", "Source": "nc_app_app-skeleton-python_data", "Target": "/nc_app_app-skeleton-python_data", "ReadOnly": false})
        );
        assert_eq!(
            hc["Mounts"][1],
            json!({"Source": "/host", "Target": "/in", "Type": "bind", "ReadOnly": true})
        );
        assert_eq!(hc["RestartPolicy"], json!({"Name": "unless-stopped"}));
        assert_eq!(hc["DeviceRequests"][0]["Driver"], "nvidia");
        assert_eq!(hc["Memory"], 1024);
        assert!(hc.get("NanoCPUs").is_none(), "nulls are omitted");
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["nextcloud"]["Aliases"],
            json!(["app-skeleton-python"])
        );
        let host: CreatePayload = parse(
            br#"{"name": "a", "image_id": "i", "network_mode": "host", "compute_device": "rocm"}"#,
        )
        .unwrap();
        let b = container_create(&host, "i");
        assert!(b.get("NetworkingConfig").is_none());
        assert_eq!(b["HostConfig"]["Devices"][1]["PathOnHost"], "/dev/dri");
    }
}
