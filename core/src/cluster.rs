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
    /// Attribute names taken only from join tokens; `ecs.availability-zone` when not given.
    #[serde(default)]
    pub trusted_attributes: Option<Vec<String>>,
}

/// The body of `UpdateCluster`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateClusterInput {
    #[serde(default)]
    pub task_policy: Option<TaskPolicy>,
    /// Attribute names placement takes only from a host's join token, never from the host.
    #[serde(default)]
    pub trusted_attributes: Option<Vec<String>>,
}

impl UpdateClusterInput {
    pub fn validate(&self) -> Result<(), WharfError> {
        let mut errors = FieldErrors::new();
        if let Some(policy) = &self.task_policy {
            policy.validate("taskPolicy", &mut errors);
        }
        if let Some(names) = &self.trusted_attributes {
            check_trusted_names(&mut errors, names);
        }
        if self.task_policy.is_none() && self.trusted_attributes.is_none() {
            errors.push("body", "nothing to update: give a taskPolicy or trustedAttributes");
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
        if let Some(names) = &self.trusted_attributes {
            check_trusted_names(&mut errors, names);
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
    /// Attribute names placement takes only from a host's join token, never from what the host
    /// says; `ecs.availability-zone` for a new cluster.
    #[serde(default)]
    pub trusted_attributes: Vec<String>,
}

/// The most names a cluster trusts only from join tokens.
const MAX_TRUSTED: usize = 20;

fn check_trusted_names(errors: &mut FieldErrors, names: &[String]) {
    if names.len() > MAX_TRUSTED {
        errors.push("trustedAttributes", format!("at most {MAX_TRUSTED} names; there are {}", names.len()));
    }
    crate::instance::check_attribute_names(errors, "trustedAttributes", names);
}
