/*! Container instances: hosts that run `wharf-agent` and report into one cluster. */

use crate::task_definition::Attribute;
use crate::{FieldErrors, WharfError};
use std::collections::BTreeSet;
use serde::{Deserialize, Serialize};

/// One resource as ECS reports it: `CPU` (units), `MEMORY` (MiB), `PORTS` (a list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resource {
    pub name: String,
    /// INTEGER or STRINGSET.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer_value: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_set_value: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
}

/// The statuses a container instance can have.
pub const STATUSES: [&str; 3] = ["ACTIVE", "DRAINING", "INACTIVE"];

/// ListContainerInstances' `status` filter: one of [`STATUSES`]; none (or empty) lists every
/// instance but the deregistered (INACTIVE) ones, as ECS does.
pub fn status_filter(status: Option<&str>) -> Result<Option<String>, WharfError> {
    match status.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if STATUSES.contains(&s) => Ok(Some(s.to_string())),
        Some(s) => Err(WharfError::invalid_field("status", format!("'{s}' is not a container instance status; use ACTIVE, DRAINING or INACTIVE"))),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerInstance {
    pub container_instance_arn: String,
    /// The short id used in URLs.
    pub id: String,
    pub cluster_name: String,
    /// A name for people: the host name the agent reported.
    pub name: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub agent_connected: bool,
    pub registered_resources: Vec<Resource>,
    pub remaining_resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
    /// Attributes an admin gave this instance (`PUT …/attributes`, ECS PutAttributes); they
    /// override what the host and its join token say, and are part of `attributes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin_attributes: Vec<Attribute>,
    /// The address its agent connects from, where the load balancer reaches its tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<String>,
    pub running_tasks_count: i64,
    pub pending_tasks_count: i64,
    pub version_info: VersionInfo,
    pub registered_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_at: Option<String>,
    /// What the host actually uses, from the agent's latest usage sample (not in ECS); absent
    /// while the agent is not connected or has not sampled yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<InstanceUsage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceUsage {
    /// CPU units busy (1024 = one core).
    pub cpu: i64,
    /// MiB in use.
    pub memory: i64,
}

/// What an agent sends to register its host with a join token (ECS RegisterContainerInstance).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterInstanceInput {
    /// The join token, `wjt_…`.
    #[serde(default)]
    pub token: Option<String>,
    /// The cluster the host means to join; refused when the token is another cluster's.
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    /// CPU units the host offers to tasks (1024 per core).
    #[serde(default)]
    pub cpu: Option<i64>,
    /// Memory in MiB the host offers to tasks.
    #[serde(default)]
    pub memory: Option<i64>,
    #[serde(default)]
    pub attributes: Option<Vec<Attribute>>,
    #[serde(default)]
    pub version_info: Option<VersionInfo>,
}

/// A checked registration.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRegistration {
    pub token: String,
    pub cluster: Option<String>,
    pub hostname: String,
    pub registered_resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
    pub version_info: VersionInfo,
}

const MAX_ATTRIBUTES: usize = 100;

/// The `ecs.*` names an agent finds out about its host itself; the rest of `ecs.*` is Wharf's.
const HOST_ECS_NAMES: [&str; 4] = ["ecs.os-type", "ecs.cpu-architecture", "ecs.instance-type", "ecs.availability-zone"];

/// Names the `ecs.` prefix keeps for Wharf: neither a host nor an admin may set them.
pub fn reserved_attribute(name: &str) -> bool {
    name.starts_with("ecs.") && !HOST_ECS_NAMES.contains(&name) && !name.starts_with("ecs.capability.")
}

/// The names a new cluster trusts only from a join token or an admin, never from the host.
pub fn default_trusted_attributes() -> Vec<String> {
    vec!["ecs.availability-zone".into()]
}

/// What placement sees of a host: its own claims, less the names its cluster trusts only from
/// elsewhere and those its join token sets, then the join token's. Returns the claims left out.
pub fn trusted_view(claimed: Vec<Attribute>, trusted_names: &[String], from_token: &[Attribute]) -> (Vec<Attribute>, Vec<Attribute>) {
    // Reserved names are left out too: an older agent may still send one.
    let (ignored, mut kept): (Vec<Attribute>, Vec<Attribute>) = claimed
        .into_iter()
        .partition(|a| reserved_attribute(&a.name) || trusted_names.contains(&a.name) || from_token.iter().any(|t| t.name == a.name));
    kept.extend(from_token.iter().cloned());
    (kept, ignored)
}

/// ECS PutAttributes for one container instance: the attributes an admin gives it, replacing
/// those given before (`[]` takes them all away). Any name but a reserved one, trusted names
/// included: placement trusts an admin's word as it does a join token's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PutAttributesInput {
    #[serde(default)]
    pub attributes: Option<Vec<Attribute>>,
}

impl PutAttributesInput {
    pub fn validate(&self) -> Result<Vec<Attribute>, WharfError> {
        let mut errors = FieldErrors::new();
        let attributes = self.attributes.clone().unwrap_or_default();
        match &self.attributes {
            None => errors.push("attributes", "the attributes to give the instance ([] to take them all away)"),
            Some(given) => check_given_attributes(&mut errors, "attributes", given),
        }
        errors.finish(attributes)
    }
}

/// Checks attributes given under `field` (a join token's): as a host's, and no reserved name.
pub fn check_given_attributes(errors: &mut FieldErrors, field: &str, attributes: &[Attribute]) {
    let mut inner = FieldErrors::new();
    check_attributes(&mut inner, attributes);
    for e in inner.into_vec() {
        errors.push(format!("{field}{}", e.field.trim_start_matches("attributes")), e.message);
    }
    for (i, a) in attributes.iter().enumerate().filter(|(_, a)| reserved_attribute(&a.name)) {
        errors.push(format!("{field}[{i}].name"), reserved_message(&a.name));
    }
}

fn reserved_message(name: &str) -> String {
    format!("'{name}' is reserved: of ecs.* names only ecs.os-type, ecs.cpu-architecture, ecs.instance-type, ecs.availability-zone and ecs.capability.* may be given")
}

/// Checks attribute names (a cluster's trusted ones) under `field`.
pub fn check_attribute_names(errors: &mut FieldErrors, field: &str, names: &[String]) {
    let as_attributes: Vec<Attribute> = names.iter().map(|n| Attribute { name: n.clone(), value: None }).collect();
    let mut inner = FieldErrors::new();
    check_given_attributes(&mut inner, field, &as_attributes);
    for e in inner.into_vec() {
        errors.push(e.field.trim_end_matches(".name"), e.message);
    }
}

/// What a host says about itself, checked: registration and every agent hello carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFacts {
    pub hostname: String,
    pub registered_resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
}

impl HostFacts {
    /// Checks a host's name, CPU units, memory MiB and attributes, adding problems to `errors`.
    pub fn check(
        errors: &mut FieldErrors,
        hostname: Option<String>,
        cpu: Option<i64>,
        memory: Option<i64>,
        attributes: Option<Vec<Attribute>>,
    ) -> HostFacts {
        let hostname = hostname.unwrap_or_default();
        if hostname.is_empty() || hostname.len() > 255 || hostname.chars().any(char::is_control) {
            errors.push("hostname", "a host name is 1 to 255 printable characters");
        }
        let mut number = |field: &str, value: Option<i64>, min: i64, max: i64, unit: &str| match value {
            None => {
                errors.push(field, format!("the host must say how much {field} it offers ({unit})"));
                0
            }
            Some(v) if !(min..=max).contains(&v) => {
                errors.push(field, format!("{v} {unit} is out of range ({min} to {max})"));
                0
            }
            Some(v) => v,
        };
        let cpu = number("cpu", cpu, 1, 1_048_576, "CPU units");
        let memory = number("memory", memory, 6, 16 * 1024 * 1024, "MiB");
        let attributes = attributes.unwrap_or_default();
        check_attributes(errors, &attributes);
        let integer = |name: &str, v: i64| Resource { name: name.into(), kind: "INTEGER".into(), integer_value: Some(v), string_set_value: None };
        let ports = |name: &str| Resource { name: name.into(), kind: "STRINGSET".into(), integer_value: None, string_set_value: Some(Vec::new()) };
        HostFacts {
            hostname,
            registered_resources: vec![integer("CPU", cpu), integer("MEMORY", memory), ports("PORTS"), ports("PORTS_UDP")],
            attributes,
        }
    }
}

fn check_attributes(errors: &mut FieldErrors, attributes: &[Attribute]) {
    if attributes.len() > MAX_ATTRIBUTES {
        errors.push("attributes", format!("at most {MAX_ATTRIBUTES} attributes; there are {}", attributes.len()));
    }
    let mut seen = BTreeSet::new();
    for (i, a) in attributes.iter().enumerate() {
        let name_ok = !a.name.is_empty()
            && a.name.len() <= 128
            && a.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./\\".contains(c));
        if !name_ok {
            errors.push(format!("attributes[{i}].name"), "an attribute name is 1 to 128 letters, digits, - _ . / or \\");
        } else if !seen.insert(a.name.as_str()) {
            errors.push(format!("attributes[{i}].name"), format!("the attribute '{}' is given twice", a.name));
        }
        if let Some(v) = &a.value {
            let value_ok = !v.is_empty()
                && v.len() <= 128
                && v.trim() == v
                && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@/\\: ".contains(c));
            if !value_ok {
                errors.push(format!("attributes[{i}].value"), "an attribute value is 1 to 128 letters, digits, spaces or - _ . @ / \\ :, with no space at either end");
            }
        }
    }
}

impl RegisterInstanceInput {
    pub fn validate(self) -> Result<InstanceRegistration, WharfError> {
        let mut errors = FieldErrors::new();
        let token = self.token.unwrap_or_default();
        if token.trim().is_empty() {
            errors.push("token", "registering needs a join token (wjt_…); create one on the cluster's page");
        }
        let host = HostFacts::check(&mut errors, self.hostname, self.cpu, self.memory, self.attributes);
        errors.finish(InstanceRegistration {
            token,
            cluster: self.cluster.filter(|c| !c.is_empty()),
            hostname: host.hostname,
            registered_resources: host.registered_resources,
            attributes: host.attributes,
            version_info: self.version_info.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str, value: &str) -> Attribute {
        Attribute { name: name.into(), value: Some(value.into()) }
    }

    #[test]
    fn placement_takes_trusted_names_only_from_the_join_token() {
        let claimed = vec![attr("ecs.os-type", "linux"), attr("ecs.availability-zone", "b"), attr("rack", "7"), attr("team", "web")];
        let trusted = default_trusted_attributes();
        // The host says zone b; its join token says zone a and rack 3: the token wins.
        let (seen, ignored) = trusted_view(claimed.clone(), &trusted, &[attr("ecs.availability-zone", "a"), attr("rack", "3")]);
        assert_eq!(seen, [attr("ecs.os-type", "linux"), attr("team", "web"), attr("ecs.availability-zone", "a"), attr("rack", "3")]);
        assert_eq!(ignored, [attr("ecs.availability-zone", "b"), attr("rack", "7")]);
        // A token without a zone: the host's claim is still left out, so it has none.
        let (seen, _) = trusted_view(claimed.clone(), &trusted, &[]);
        assert!(!seen.iter().any(|a| a.name == "ecs.availability-zone"), "{seen:?}");
        // A cluster that trusts its hosts' word (made before trust existed) keeps the claim.
        let (seen, ignored) = trusted_view(claimed.clone(), &[], &[]);
        assert_eq!((seen, ignored), (claimed, vec![]));
    }

    #[test]
    fn ecs_names_beyond_the_agents_own_are_reserved() {
        for name in ["ecs.os-type", "ecs.cpu-architecture", "ecs.instance-type", "ecs.availability-zone", "ecs.capability.docker-remote-api.1.19", "team", "ecsy"] {
            assert!(!reserved_attribute(name), "{name}");
        }
        for name in ["ecs.trusted", "ecs.", "ecs.ami-id"] {
            assert!(reserved_attribute(name), "{name}");
        }
        // A token or a cluster naming one is refused, by field.
        let mut errors = FieldErrors::new();
        check_given_attributes(&mut errors, "attributes", &[attr("zone", "a"), attr("ecs.admin", "yes")]);
        check_attribute_names(&mut errors, "trustedAttributes", &["rack".into(), "ecs.root".into()]);
        let errors = errors.into_vec();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["attributes[1].name", "trustedAttributes[1]"], "{errors:?}");
        assert!(errors[0].message.contains("'ecs.admin' is reserved"), "{errors:?}");
        // A host claiming one (an older agent) is left out, not refused.
        let (seen, ignored) = trusted_view(vec![attr("ecs.os-type", "linux"), attr("ecs.vpc-id", "v1")], &[], &[]);
        assert_eq!((seen, ignored), (vec![attr("ecs.os-type", "linux")], vec![attr("ecs.vpc-id", "v1")]));
    }

    #[test]
    fn registration_names_each_bad_field() {
        let input = RegisterInstanceInput {
            token: None,
            cluster: None,
            hostname: Some(String::new()),
            cpu: Some(0),
            memory: None,
            attributes: Some(vec![
                Attribute { name: "zone".into(), value: Some("a".into()) },
                Attribute { name: "zone".into(), value: Some(" b".into()) },
                Attribute { name: "bad name!".into(), value: None },
            ]),
            version_info: None,
        };
        let fields: Vec<String> = input.validate().unwrap_err().errors.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["token", "hostname", "cpu", "memory", "attributes[1].name", "attributes[1].value", "attributes[2].name"]);
    }
}
