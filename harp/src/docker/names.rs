//! Container and volume names (contract §5.5): `nc_app_[<instance_id>_]<name>[_<role_suffix>]`
//! for containers, `nc_app_[<instance_id>_]<name>_data` for volumes (never with the role, so all
//! roles of an app share it).

use super::payload::ExAppName;

pub fn container(n: &ExAppName) -> String {
    let mut name = base(n);
    if !n.role_suffix.is_empty() {
        name.push('_');
        name.push_str(&n.role_suffix);
    }
    name
}

pub fn volume(n: &ExAppName) -> String {
    format!("{}_data", base(n))
}

fn base(n: &ExAppName) -> String {
    if n.instance_id.is_empty() {
        format!("nc_app_{}", n.name)
    } else {
        format!("nc_app_{}_{}", n.instance_id, n.name)
    }
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
    fn names() {
        assert_eq!(container(&n("app", "", "")), "nc_app_app");
        assert_eq!(container(&n("app", "i1", "worker")), "nc_app_i1_app_worker");
        assert_eq!(volume(&n("app", "", "worker")), "nc_app_app_data");
        assert_eq!(volume(&n("app", "i1", "")), "nc_app_i1_app_data");
    }
}
