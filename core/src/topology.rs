/*!
A cluster as the relationship diagram draws it (`GET /api/v1/clusters/{cluster}/topology`):
its container instances with their capacity (registered, reserved by tasks, actually used),
the live tasks on each with their containers, and the services that own tasks. One document,
so that the portal draws a consistent picture from one read.
*/

use crate::task::Container;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Topology {
    pub cluster_name: String,
    /// What the read carries.
    pub detail: Detail,
    pub instances: Vec<InstanceNode>,
    pub services: Vec<ServiceNode>,
    pub summary: Summary,
    /// Only the instances a first screen shows (a portal page's first read of a large
    /// cluster); the summary and services are whole.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// One resource of an instance (CPU units or MiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capacity {
    pub registered: i64,
    /// Held by the instance's live tasks.
    pub reserved: i64,
    /// From the agent's last usage sample; None before the first.
    pub used: Option<i64>,
}

impl Capacity {
    pub fn add(&mut self, other: &Capacity) {
        self.registered = self.registered.saturating_add(other.registered);
        self.reserved = self.reserved.saturating_add(other.reserved);
        if let Some(u) = other.used {
            self.used = Some(self.used.unwrap_or(0).saturating_add(u));
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceNode {
    pub id: String,
    pub name: String,
    /// ACTIVE, DRAINING (INACTIVE instances are not drawn).
    pub status: String,
    pub agent_connected: bool,
    pub attributes: BTreeMap<String, String>,
    pub cpu: Capacity,
    pub memory: Capacity,
    /// Tasks on the instance by state, as ECS counts them on a container instance; known even
    /// when `tasks` is left out ([`Detail::Instances`]).
    pub running_tasks_count: i64,
    pub pending_tasks_count: i64,
    /// Per service name, how many of the instance's tasks it owns (`""` for one-off tasks).
    #[serde(default)]
    pub tasks_by_service: BTreeMap<String, i64>,
    /// Empty at [`Detail::Instances`].
    #[serde(default)]
    pub tasks: Vec<TaskNode>,
}

/// How much of a cluster a topology read carries: a picture of 2,000 hosts starts from their
/// capacity and counts, and asks for tasks, then containers, as it zooms in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Detail {
    /// Instances with capacity and task counts, no task list.
    Instances,
    /// Tasks too, without their containers.
    Tasks,
    /// Everything, containers included.
    #[default]
    Containers,
}

impl Detail {
    pub fn parse(s: &str) -> Option<Detail> {
        match s {
            "instances" => Some(Detail::Instances),
            "tasks" => Some(Detail::Tasks),
            "containers" => Some(Detail::Containers),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskNode {
    pub id: String,
    /// `service:NAME` for a service's tasks, as in ECS.
    pub group: Option<String>,
    /// `family:revision`.
    pub task_definition: String,
    pub last_status: String,
    pub desired_status: String,
    /// CPU units and MiB the task reserves.
    pub cpu: i64,
    pub memory: i64,
    /// CPU units and MiB in use at the last sample.
    pub used_cpu: Option<i64>,
    pub used_memory: Option<i64>,
    /// Empty below [`Detail::Containers`].
    #[serde(default)]
    pub containers: Vec<Container>,
    /// Requests the load balancer has sent it (since the server started); none when it is no
    /// target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
}

/// ECS's states before RUNNING, counted as pending.
pub fn is_pending(last_status: &str) -> bool {
    matches!(last_status, "PROVISIONING" | "PENDING" | "ACTIVATING")
}

impl TaskNode {
    /// The service that owns it, if any.
    pub fn service(&self) -> Option<&str> {
        self.group.as_deref()?.strip_prefix("service:")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceNode {
    pub service_name: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: i64,
    pub running_count: i64,
    pub pending_count: i64,
}

/// Totals of a cluster, or of one group of its instances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Summary {
    pub instances: i64,
    pub connected: i64,
    pub tasks_running: i64,
    pub tasks_pending: i64,
    pub cpu: Capacity,
    pub memory: Capacity,
}

impl Summary {
    pub fn of<'a>(instances: impl IntoIterator<Item = &'a InstanceNode>) -> Self {
        let mut s = Summary::default();
        for i in instances {
            s.instances += 1;
            s.connected += i64::from(i.agent_connected);
            s.tasks_running += i.running_tasks_count;
            s.tasks_pending += i.pending_tasks_count;
            s.cpu.add(&i.cpu);
            s.memory.add(&i.memory);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(connected: bool, used: Option<i64>, statuses: &[&str]) -> InstanceNode {
        InstanceNode {
            id: "i".into(),
            name: "h".into(),
            status: "ACTIVE".into(),
            agent_connected: connected,
            attributes: BTreeMap::new(),
            cpu: Capacity { registered: 1024, reserved: 256, used },
            memory: Capacity { registered: 2048, reserved: 512, used: None },
            running_tasks_count: statuses.iter().filter(|s| **s == "RUNNING").count() as i64,
            pending_tasks_count: statuses.iter().filter(|s| is_pending(s)).count() as i64,
            tasks_by_service: BTreeMap::new(),
            tasks: statuses
                .iter()
                .map(|s| TaskNode {
                    id: "t".into(),
                    group: Some("service:web".into()),
                    task_definition: "web:1".into(),
                    last_status: s.to_string(),
                    desired_status: "RUNNING".into(),
                    cpu: 128,
                    memory: 256,
                    used_cpu: None,
                    used_memory: None,
                    containers: Vec::new(),
                    requests: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_summary_adds_up_instances_tasks_and_capacity_and_knows_when_usage_is_unknown() {
        let list = [instance(true, Some(100), &["RUNNING", "PENDING"]), instance(false, None, &["RUNNING", "STOPPING"])];
        let s = Summary::of(&list);
        assert_eq!((s.instances, s.connected, s.tasks_running, s.tasks_pending), (2, 1, 2, 1));
        assert_eq!(s.cpu, Capacity { registered: 2048, reserved: 512, used: Some(100) });
        assert_eq!(s.memory.used, None, "no instance reported memory use");
        assert_eq!(list[0].tasks[0].service(), Some("web"));
    }
}
