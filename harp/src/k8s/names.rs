//! Kubernetes names and labels for an ExApp (contract §5.6): HaRP's `sanitize` (DNS-1123, at
//! most 63 characters), the Deployment/Service name (container name, with instance and role),
//! the PVC name (volume name: one PVC for all roles), the group name every role shares, and the
//! labels put on Deployments, pods and Services.

use crate::docker::names;
use crate::docker::payload::ExAppName;

const MAX_NAME: usize = 63;

pub const LABEL_APP: &str = "app";
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_PART_OF: &str = "app.kubernetes.io/part-of";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const LABEL_ROLE: &str = "app.kubernetes.io/role";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Lower-case; `_` and anything outside `[a-z0-9-]` become `-`; runs of `-` collapse; `-`
/// trimmed at both ends; empty → `exapp`; cut to 63 and trimmed again.
pub fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.to_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let mut name = out.trim_matches('-').to_string();
    if name.is_empty() {
        name = "exapp".to_string();
    }
    if name.len() > MAX_NAME {
        name.truncate(MAX_NAME);
        name = name.trim_end_matches('-').to_string();
    }
    name
}

/// The Deployment and Service name `D` (`nc-app-<name>[-<role>]`).
pub fn deployment(n: &ExAppName) -> String {
    sanitize(&names::container(n))
}

/// The PVC name `P` (`nc-app-<name>-data`), shared by every role.
pub fn pvc(n: &ExAppName) -> String {
    sanitize(&names::volume(n))
}

/// The group name `B` (`nc-app-[<instance>-]<name>`), the `part-of` label.
pub fn group(n: &ExAppName) -> String {
    let base = ExAppName {
        role_suffix: String::new(),
        ..n.clone()
    };
    sanitize(&names::container(&base))
}

/// The group name of an app id alone, as routing looks it up (instance ids not considered).
pub fn group_of_app(app_id: &str) -> String {
    sanitize(&format!("nc_app_{app_id}"))
}

/// Where the data volume is mounted: `/<volume name>` (the ExApp's `APP_PERSISTENT_STORAGE`).
pub fn mount_path(n: &ExAppName) -> String {
    format!("/{}", names::volume(n))
}

/// Labels of a Deployment and its pods.
pub fn workload_labels(n: &ExAppName) -> Vec<(String, String)> {
    let d = deployment(n);
    let mut labels = vec![
        (LABEL_APP.to_string(), d.clone()),
        (LABEL_NAME.to_string(), d),
        (LABEL_PART_OF.to_string(), group(n)),
        (LABEL_COMPONENT.to_string(), "exapp".to_string()),
    ];
    if !n.instance_id.is_empty() {
        labels.push((LABEL_INSTANCE.to_string(), n.instance_id.clone()));
    }
    if !n.role_suffix.is_empty() {
        labels.push((LABEL_ROLE.to_string(), sanitize(&n.role_suffix)));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str, instance: &str, role: &str) -> ExAppName {
        ExAppName {
            name: name.into(),
            instance_id: instance.into(),
            role_suffix: role.into(),
        }
    }

    #[test]
    fn sanitize_like_harp() {
        assert_eq!(
            sanitize("nc_app_app-skeleton-python"),
            "nc-app-app-skeleton-python"
        );
        assert_eq!(sanitize("NC__App..X!"), "nc-app-x");
        assert_eq!(sanitize("--"), "exapp");
        assert_eq!(sanitize(""), "exapp");
        assert_eq!(sanitize("Äpp"), "pp");
        let long = format!("nc_app_{}", "a".repeat(55) + "_b");
        let s = sanitize(&long);
        assert!(s.len() <= 63 && !s.ends_with('-'), "{s}");
        assert_eq!(s, format!("nc-app-{}", "a".repeat(55)));
    }

    #[test]
    fn names_and_labels() {
        let app = n("app_skeleton", "", "");
        assert_eq!(deployment(&app), "nc-app-app-skeleton");
        assert_eq!(pvc(&app), "nc-app-app-skeleton-data");
        assert_eq!(group(&app), "nc-app-app-skeleton");
        assert_eq!(mount_path(&app), "/nc_app_app_skeleton_data");
        let worker = n("myapp", "inst1", "Worker_1");
        assert_eq!(deployment(&worker), "nc-app-inst1-myapp-worker-1");
        assert_eq!(pvc(&worker), "nc-app-inst1-myapp-data");
        assert_eq!(group(&worker), "nc-app-inst1-myapp");
        let labels = workload_labels(&worker);
        assert_eq!(
            labels[0],
            ("app".into(), "nc-app-inst1-myapp-worker-1".into())
        );
        assert_eq!(labels[4], (LABEL_INSTANCE.into(), "inst1".into()));
        assert_eq!(labels[5], (LABEL_ROLE.into(), "worker-1".into()));
        assert_eq!(group_of_app("MyApp"), "nc-app-myapp");
    }
}
