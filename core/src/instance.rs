/*! Container instances: hosts that run `wharf-agent` and report into one cluster. */

use crate::task_definition::Attribute;
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
    pub running_tasks_count: i64,
    pub pending_tasks_count: i64,
    pub version_info: VersionInfo,
    pub registered_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_at: Option<String>,
}
