/*!
Task definitions in the JSON shape of ECS's `RegisterTaskDefinition`.

Fields Wharf acts on are typed; everything else is kept verbatim in `extra` maps so that a
pasted ECS document reads back exactly as registered. Every field is optional at the type
level: absence is a validation problem with a field path, never a deserialisation failure.
*/

mod intake;
pub(crate) mod validate;

pub use intake::{Registration, parse_document, parse_registration, parse_registration_value};
pub use validate::validate;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The body of `RegisterTaskDefinition`: what a user writes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskDefinitionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_compatibilities: Option<Vec<String>>,
    /// Task-level CPU units, normalised to an integer string ("1 vCPU" → "1024").
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_number")]
    pub cpu: Option<String>,
    /// Task-level memory in MiB, normalised to an integer string ("2 GB" → "2048").
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_number")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_definitions: Option<Vec<ContainerDefinition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// Fields Wharf does not act on yet (taskRoleArn, pidMode, …), kept as given.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerDefinition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Vec<KeyValuePair>>,
    /// Environment variables set from Wharf secrets: `{"name": "DB_PASSWORD", "valueFrom": "prod/db"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<SecretReference>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<ContainerDependency>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_points: Option<Vec<MountPoint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Fields Wharf does not act on yet (ulimits, logConfiguration, user, …), kept as given.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

impl ContainerDefinition {
    /// ECS: a container is essential unless it says otherwise.
    pub fn is_essential(&self) -> bool {
        self.essential.unwrap_or(true)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i64>,
    /// 0 (or absent, in bridge mode) asks for a dynamic host port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyValuePair {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// ECS's `Secret`: an environment variable whose value comes from a secret, named by its name
/// or ARN in `valueFrom`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerDependency {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// START, COMPLETE, SUCCESS or HEALTHY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MountPoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_volume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Volume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

/// A placement constraint: `memberOf` with an expression, or (services only) `distinctInstance`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacementConstraint {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tag {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// ACTIVE revisions can be used for new tasks and services; INACTIVE ones were deregistered
/// but keep running wherever they already run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TaskDefinitionStatus {
    Active,
    Inactive,
}

impl TaskDefinitionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ACTIVE" => Some(Self::Active),
            "INACTIVE" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// A registered revision, as `DescribeTaskDefinition` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskDefinition {
    pub task_definition_arn: String,
    pub revision: i64,
    pub status: TaskDefinitionStatus,
    pub registered_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistered_at: Option<String>,
    /// Attributes an instance must have to run this revision (ECS: `requiresAttributes`).
    #[serde(default)]
    pub requires_attributes: Vec<Attribute>,
    #[serde(default)]
    pub compatibilities: Vec<String>,
    #[serde(flatten)]
    pub spec: TaskDefinitionSpec,
}

impl TaskDefinition {
    pub fn family(&self) -> &str {
        self.spec.family.as_deref().unwrap_or_default()
    }

    /// `family:revision`, the name used everywhere a revision is referenced.
    pub fn name(&self) -> String {
        format!("{}:{}", self.family(), self.revision)
    }

    pub fn containers(&self) -> &[ContainerDefinition] {
        self.spec.container_definitions.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attribute {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A family and its revisions, for the family list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskDefinitionFamily {
    pub family: String,
    pub latest_revision: i64,
    /// The newest ACTIVE revision, if any is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_active_revision: Option<i64>,
    pub active_revisions: i64,
    pub total_revisions: i64,
}

/// A `family` or `family:revision` reference, as services and tasks name revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinitionRef {
    pub family: String,
    pub revision: Option<i64>,
}

impl TaskDefinitionRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        // An ARN works too: take what follows `task-definition/`.
        let text = text.rsplit_once("task-definition/").map_or(text, |(_, rest)| rest);
        let (family, revision) = match text.split_once(':') {
            Some((family, rev)) => {
                let rev: i64 = rev
                    .parse()
                    .ok()
                    .filter(|r| *r >= 1)
                    .ok_or_else(|| format!("'{rev}' is not a revision number (use family:3)"))?;
                (family, Some(rev))
            }
            None => (text, None),
        };
        crate::names::check_name(family).map_err(|m| format!("family {m}"))?;
        Ok(Self { family: family.to_string(), revision })
    }
}

impl std::fmt::Display for TaskDefinitionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.revision {
            Some(rev) => write!(f, "{}:{rev}", self.family),
            None => f.write_str(&self.family),
        }
    }
}

/// ECS wants task-level cpu and memory as strings; people write numbers too.
fn string_or_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(de)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a string such as \"1024\" or \"1 vCPU\", found {other}"
        ))),
    }
}

/// The attributes an instance must offer to run `spec`, in ECS's `requiresAttributes` style.
pub fn requires_attributes(spec: &TaskDefinitionSpec) -> Vec<Attribute> {
    let containers = spec.container_definitions.as_deref().unwrap_or_default();
    let mut names = std::collections::BTreeSet::new();
    for c in containers {
        if c.health_check.is_some() {
            names.insert("ecs.capability.container-health-check".to_string());
        }
        if c.depends_on.as_ref().is_some_and(|d| !d.is_empty()) {
            names.insert("ecs.capability.container-ordering".to_string());
        }
        if let Some(driver) = c.extra.get("logConfiguration").and_then(|l| l.get("logDriver")).and_then(Value::as_str) {
            names.insert(format!("ecs.capability.logging-driver.{driver}"));
        }
    }
    if spec.cpu.is_some() || spec.memory.is_some() {
        names.insert("ecs.capability.task-cpu-mem-limit".to_string());
    }
    names.into_iter().map(|name| Attribute { name, value: None }).collect()
}

/// The family a task definition's name or ARN names (`arn:…:task-definition/web:3` → `web`):
/// what decides which team a service or task belongs to.
pub fn family_of(name_or_arn: &str) -> &str {
    let name = name_or_arn.rsplit('/').next().unwrap_or(name_or_arn);
    name.split(':').next().unwrap_or(name)
}
