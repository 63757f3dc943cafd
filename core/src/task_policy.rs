/*!
What a task may do on a cluster, in the spirit of Kubernetes' Pod Security Standards. A task
definition is checked against its cluster's policy where it is about to run there (with the
field path of what breaks it), and the agent checks the spec it is handed again.

- `restricted` (the default): no privileged containers, no host network, no host paths, no
  added Linux capabilities, no devices.
- `baseline`: the same, except host paths under the prefixes an admin allows.
- `privileged`: anything the definition says.
*/

use crate::FieldError;
use crate::protocol::TaskSpec;
use crate::task_definition::TaskDefinitionSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PolicyLevel {
    #[default]
    Restricted,
    Baseline,
    Privileged,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskPolicy {
    pub level: PolicyLevel,
    /// Host path prefixes a `baseline` cluster's tasks may mount (absolute, no `..`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_host_paths: Vec<String>,
}

impl TaskPolicy {
    /// What any cluster's tasks may do: for clusters made before policies existed.
    pub fn privileged() -> Self {
        Self { level: PolicyLevel::Privileged, allowed_host_paths: Vec::new() }
    }

    /// Checks the policy itself: allowed host paths are absolute, without `..`.
    pub fn validate(&self, field: &str, errors: &mut crate::FieldErrors) {
        if self.allowed_host_paths.len() > 64 {
            errors.push(format!("{field}.allowedHostPaths"), "at most 64 host paths");
            return;
        }
        for (i, path) in self.allowed_host_paths.iter().enumerate() {
            if !path.starts_with('/') || path.len() > 4096 || path.split('/').any(|p| p == "..") {
                errors.push(format!("{field}.allowedHostPaths[{i}]"), "a host path is absolute, at most 4096 characters, without '..'");
            }
        }
    }

    fn name(&self) -> &'static str {
        match self.level {
            PolicyLevel::Restricted => "restricted",
            PolicyLevel::Baseline => "baseline",
            PolicyLevel::Privileged => "privileged",
        }
    }

    fn refusal(&self, what: &str) -> String {
        format!("{what} is not allowed by the cluster's {} task policy", self.name())
    }

    /// Whether a task may mount `path` from its host.
    fn allows_host_path(&self, path: &str) -> bool {
        match self.level {
            PolicyLevel::Privileged => true,
            PolicyLevel::Restricted => false,
            PolicyLevel::Baseline => {
                path.starts_with('/')
                    && !path.split('/').any(|part| part == "..")
                    && self.allowed_host_paths.iter().any(|allowed| {
                        let allowed = allowed.trim_end_matches('/');
                        path == allowed || path.starts_with(&format!("{allowed}/")) || allowed.is_empty()
                    })
            }
        }
    }

    /// Everything in `spec` the policy forbids, each at its field path.
    pub fn check_definition(&self, spec: &TaskDefinitionSpec) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.level == PolicyLevel::Privileged {
            return errors;
        }
        let mut refuse = |field: String, what: &str| errors.push(FieldError { field, message: self.refusal(what) });
        if spec.network_mode.as_deref() == Some("host") {
            refuse("networkMode".into(), "the host network");
        }
        for (i, volume) in spec.volumes.iter().flatten().enumerate() {
            if let Some(path) = volume.extra.get("host").and_then(|h| h.get("sourcePath")).and_then(Value::as_str)
                && !self.allows_host_path(path)
            {
                refuse(format!("volumes[{i}].host.sourcePath"), &format!("the host path '{path}'"));
            }
        }
        for (i, container) in spec.container_definitions.iter().flatten().enumerate() {
            if container.extra.get("privileged").and_then(Value::as_bool) == Some(true) {
                refuse(format!("containerDefinitions[{i}].privileged"), "a privileged container");
            }
            let linux = container.extra.get("linuxParameters");
            let listed = |v: Option<&Value>| v.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
            if listed(linux.and_then(|l| l.get("capabilities")).and_then(|c| c.get("add"))) {
                refuse(format!("containerDefinitions[{i}].linuxParameters.capabilities.add"), "adding Linux capabilities");
            }
            if listed(linux.and_then(|l| l.get("devices"))) {
                refuse(format!("containerDefinitions[{i}].linuxParameters.devices"), "a host device");
            }
        }
        errors
    }

    /// What the agent checks in a spec it is handed: the first thing the policy forbids.
    pub fn check_spec(&self, spec: &TaskSpec) -> Result<(), String> {
        if self.level == PolicyLevel::Privileged {
            return Ok(());
        }
        if spec.network_mode == "host" {
            return Err(self.refusal("the host network"));
        }
        if let Some(path) = spec.volumes.iter().filter_map(|v| v.host_path.as_deref()).find(|p| !self.allows_host_path(p)) {
            return Err(self.refusal(&format!("the host path '{path}'")));
        }
        if let Some(c) = spec.containers.iter().find(|c| c.privileged) {
            return Err(self.refusal(&format!("privileged container '{}'", c.name)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(v: Value) -> TaskDefinitionSpec {
        serde_json::from_value(v).unwrap()
    }

    fn fields(policy: &TaskPolicy, v: Value) -> Vec<String> {
        policy.check_definition(&definition(v)).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn restricted_refuses_each_way_onto_the_host_at_its_field() {
        let risky = json!({ "family": "f", "networkMode": "host",
            "volumes": [{ "name": "scratch" }, { "name": "root", "host": { "sourcePath": "/" } }],
            "containerDefinitions": [
                { "name": "a", "image": "x", "memory": 64 },
                { "name": "b", "image": "x", "memory": 64, "privileged": true,
                  "linuxParameters": { "capabilities": { "add": ["SYS_ADMIN"] }, "devices": [{ "hostPath": "/dev/kvm" }] } }] });
        let restricted = TaskPolicy::default();
        assert_eq!(
            fields(&restricted, risky.clone()),
            ["networkMode", "volumes[1].host.sourcePath", "containerDefinitions[1].privileged",
             "containerDefinitions[1].linuxParameters.capabilities.add", "containerDefinitions[1].linuxParameters.devices"]
        );
        let message = &restricted.check_definition(&definition(risky.clone()))[1].message;
        assert_eq!(message, "the host path '/' is not allowed by the cluster's restricted task policy");
        assert!(fields(&TaskPolicy { level: PolicyLevel::Privileged, allowed_host_paths: vec![] }, risky).is_empty());
        // Engine volumes, empty lists and `privileged: false` are fine.
        let plain = json!({ "family": "f", "volumes": [{ "name": "scratch" }], "containerDefinitions": [{ "name": "a", "image": "x",
            "memory": 64, "privileged": false, "linuxParameters": { "capabilities": { "add": [], "drop": ["ALL"] } } }] });
        assert!(fields(&restricted, plain).is_empty());
    }

    #[test]
    fn baseline_allows_host_paths_under_its_prefixes_only() {
        let baseline = TaskPolicy { level: PolicyLevel::Baseline, allowed_host_paths: vec!["/srv/data/".into(), "/var/log/apps".into()] };
        let with = |path: &str| json!({ "family": "f", "volumes": [{ "name": "v", "host": { "sourcePath": path } }],
            "containerDefinitions": [{ "name": "a", "image": "x", "memory": 64 }] });
        for ok in ["/srv/data", "/srv/data/team-a", "/var/log/apps/web"] {
            assert!(fields(&baseline, with(ok)).is_empty(), "{ok}");
        }
        for refused in ["/", "/srv", "/srv/database", "/srv/data/../../etc", "srv/data", "/var/run/docker.sock"] {
            assert_eq!(fields(&baseline, with(refused)), ["volumes[0].host.sourcePath"], "{refused}");
        }
        let privileged = json!({ "family": "f", "containerDefinitions": [{ "name": "a", "image": "x", "memory": 64, "privileged": true }] });
        assert_eq!(fields(&baseline, privileged), ["containerDefinitions[0].privileged"]);
    }

    #[test]
    fn the_agent_checks_the_spec_it_is_handed() {
        let spec = |network: &str, host_path: Option<&str>, privileged: bool| TaskSpec {
            task_id: "t".into(),
            task_arn: "a".into(),
            cluster: "c".into(),
            container_instance_id: "i".into(),
            task_definition: "f:1".into(),
            group: None,
            network_mode: network.into(),
            volumes: vec![crate::protocol::VolumeSpec { name: "v".into(), host_path: host_path.map(String::from) }],
            containers: vec![crate::protocol::ContainerSpec { name: "a".into(), privileged, ..Default::default() }],
        };
        let restricted = TaskPolicy::default();
        assert_eq!(restricted.check_spec(&spec("bridge", None, false)), Ok(()));
        assert!(restricted.check_spec(&spec("host", None, false)).unwrap_err().contains("host network"));
        assert!(restricted.check_spec(&spec("bridge", Some("/var/run/docker.sock"), false)).unwrap_err().contains("docker.sock"));
        assert!(restricted.check_spec(&spec("bridge", None, true)).unwrap_err().contains("privileged container 'a'"));
        let privileged = TaskPolicy { level: PolicyLevel::Privileged, allowed_host_paths: vec![] };
        assert_eq!(privileged.check_spec(&spec("host", Some("/"), true)), Ok(()));
    }
}
