/*! Clusters: named, logical groups of container instances. */

use crate::task_definition::Tag;
use crate::task_policy::TaskPolicy;
use crate::{FieldErrors, WharfError, names};
use serde::{Deserialize, Serialize};

/// The body of `CreateCluster`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateClusterInput {
    #[serde(default)]
    pub cluster_name: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
    /// What its tasks may do; `restricted` when not given.
    #[serde(default)]
    pub task_policy: Option<TaskPolicy>,
}

/// The body of `UpdateCluster`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateClusterInput {
    #[serde(default)]
    pub task_policy: Option<TaskPolicy>,
}

impl UpdateClusterInput {
    pub fn validate(&self) -> Result<(), WharfError> {
        let mut errors = FieldErrors::new();
        match &self.task_policy {
            Some(policy) => policy.validate("taskPolicy", &mut errors),
            None => errors.push("taskPolicy", "nothing to update: give a taskPolicy"),
        }
        errors.finish(())
    }
}

impl CreateClusterInput {
    /// The checked cluster name.
    pub fn validate(&self) -> Result<String, WharfError> {
        let mut errors = FieldErrors::new();
        match self.cluster_name.as_deref() {
            None => errors.push("clusterName", "a cluster needs a name"),
            Some(name) => {
                if let Err(m) = names::check_name(name) {
                    errors.push("clusterName", format!("the cluster name {m}"));
                }
            }
        }
        if let Some(policy) = &self.task_policy {
            policy.validate("taskPolicy", &mut errors);
        }
        errors.finish(self.cluster_name.clone().unwrap_or_default())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cluster {
    pub cluster_arn: String,
    pub cluster_name: String,
    /// ACTIVE while it exists; deleted clusters are gone.
    pub status: String,
    pub registered_container_instances_count: i64,
    pub running_tasks_count: i64,
    pub pending_tasks_count: i64,
    pub active_services_count: i64,
    pub created_at: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// What the cluster's tasks may do.
    #[serde(default)]
    pub task_policy: TaskPolicy,
}
