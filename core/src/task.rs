/*! Tasks: one instantiation of a task definition on one container instance. */

use serde::{Deserialize, Serialize};

/// ECS's task lifecycle, in order.
pub const TASK_STATUSES: [&str; 7] =
    ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "STOPPED"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkBinding {
    pub container_port: i64,
    pub host_port: i64,
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Container {
    pub name: String,
    pub image: String,
    pub last_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// HEALTHY, UNHEALTHY or UNKNOWN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<String>,
    #[serde(default)]
    pub network_bindings: Vec<NetworkBinding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    pub task_arn: String,
    pub id: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    /// `service:NAME` for a service's tasks, else what RunTask was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    pub last_status: String,
    pub desired_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    pub containers: Vec<Container>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
}

/// ECS's reason when an essential container stops and takes its task with it.
pub const ESSENTIAL_CONTAINER_EXITED: &str = "Essential container in task exited";
/// Why a task stopped when its host no longer runs it.
pub const TASK_LOST: &str = "Task is no longer running on its container instance";
/// How the reasons of tasks that ended on their own begin (ECS's stop codes
/// EssentialContainerExited and TaskFailedToStart, and a lost task), as opposed to tasks a user,
/// a deployment or scaling stopped.
pub const FAILURE_REASONS: [&str; 4] = [ESSENTIAL_CONTAINER_EXITED, "CannotStartContainerError", "DependencyError", TASK_LOST];

impl Task {
    /// Whether the task stopped on its own: it failed, rather than being stopped.
    pub fn failed(&self) -> bool {
        self.last_status == "STOPPED" && self.stopped_reason.as_deref().is_some_and(|r| FAILURE_REASONS.iter().any(|p| r.starts_with(p)))
    }
}

const MAX_REASON_CHARS: usize = 1024;

fn rank(status: &str) -> usize {
    TASK_STATUSES.iter().position(|s| *s == status).unwrap_or(0)
}

impl Task {
    /// A fresh task record: PENDING, desired RUNNING, one PENDING container per definition.
    pub fn containers_from(definition: &crate::task_definition::TaskDefinition) -> Vec<Container> {
        definition
            .containers()
            .iter()
            .map(|c| Container {
                name: c.name.clone().unwrap_or_default(),
                image: c.image.clone().unwrap_or_default(),
                last_status: "PENDING".into(),
                exit_code: None,
                reason: None,
                health_status: c.health_check.as_ref().map(|_| "UNKNOWN".into()),
                network_bindings: Vec::new(),
            })
            .collect()
    }

    /// Folds what the agent reports into the record. Status only moves forward (a STOPPED task
    /// never runs again); a stop the user asked for keeps the user's reason. Returns whether
    /// anything changed.
    pub fn apply_report(&mut self, report: &crate::protocol::TaskReport, now: &str) -> bool {
        let before = self.clone();
        if rank(&report.last_status) > rank(&self.last_status) {
            self.last_status = report.last_status.clone();
        }
        if self.last_status == "RUNNING" && self.started_at.is_none() {
            self.started_at = Some(now.to_string());
        }
        if self.last_status == "STOPPED" {
            self.desired_status = "STOPPED".into();
            if self.stopped_at.is_none() {
                self.stopped_at = Some(now.to_string());
            }
            if self.stopped_reason.is_none() {
                self.stopped_reason = report.stopped_reason.as_deref().map(|r| truncate(r, MAX_REASON_CHARS));
            }
        }
        for reported in &report.containers {
            let Some(c) = self.containers.iter_mut().find(|c| c.name == reported.name) else { continue };
            if rank(&reported.last_status) >= rank(&c.last_status) {
                c.last_status = reported.last_status.clone();
            }
            if reported.exit_code.is_some() {
                c.exit_code = reported.exit_code;
            }
            if let Some(reason) = &reported.reason {
                c.reason = Some(truncate(reason, MAX_REASON_CHARS));
            }
            if reported.health_status.is_some() {
                c.health_status = reported.health_status.clone();
            }
            if !reported.network_bindings.is_empty() || c.last_status == "STOPPED" {
                c.network_bindings = reported.network_bindings.clone();
            }
        }
        // A stopped task has no running container, whatever the report left out.
        if self.last_status == "STOPPED" {
            for c in &mut self.containers {
                c.last_status = "STOPPED".into();
                c.network_bindings.clear();
            }
        }
        *self != before
    }

    /// Host ports the task holds, as `tcp:8080`, from what its containers bound.
    pub fn host_ports(&self) -> Vec<String> {
        let mut ports: Vec<String> = self
            .containers
            .iter()
            .flat_map(|c| c.network_bindings.iter())
            .map(|b| format!("{}:{}", b.protocol, b.host_port))
            .collect();
        ports.sort();
        ports.dedup();
        ports
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl crate::protocol::TaskReport {
    /// An agent's report is untrusted: statuses from ECS's set, bounded sizes, sane ports.
    pub fn validate(&self) -> Result<(), crate::WharfError> {
        let mut errors = crate::FieldErrors::new();
        let reported = ["PENDING", "RUNNING", "STOPPED"];
        if self.task_id.is_empty() || self.task_id.len() > 64 {
            errors.push("task.taskId", "a task id is 1 to 64 characters");
        }
        if !reported.contains(&self.last_status.as_str()) {
            errors.push("task.lastStatus", format!("'{}' is not one of PENDING, RUNNING, STOPPED", self.last_status));
        }
        if self.containers.len() > 64 {
            errors.push("task.containers", "at most 64 containers");
        }
        for (i, c) in self.containers.iter().enumerate() {
            if !reported.contains(&c.last_status.as_str()) {
                errors.push(format!("task.containers[{i}].lastStatus"), format!("'{}' is not one of PENDING, RUNNING, STOPPED", c.last_status));
            }
            if let Some(h) = &c.health_status
                && !["HEALTHY", "UNHEALTHY", "UNKNOWN"].contains(&h.as_str()) {
                    errors.push(format!("task.containers[{i}].healthStatus"), format!("'{h}' is not one of HEALTHY, UNHEALTHY, UNKNOWN"));
                }
            if c.network_bindings.len() > 256 {
                errors.push(format!("task.containers[{i}].networkBindings"), "at most 256 bindings");
            }
            for (j, b) in c.network_bindings.iter().enumerate() {
                let ok_port = |p: i64| (1..=65535).contains(&p);
                if !ok_port(b.host_port) || !ok_port(b.container_port) || !["tcp", "udp"].contains(&b.protocol.as_str()) {
                    errors.push(format!("task.containers[{i}].networkBindings[{j}]"), "ports are 1 to 65535 and the protocol tcp or udp");
                }
            }
        }
        errors.finish(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ContainerReport, TaskReport};

    fn task() -> Task {
        Task {
            task_arn: "arn".into(),
            id: "t1".into(),
            cluster_arn: "c".into(),
            task_definition_arn: "td".into(),
            container_instance_arn: None,
            group: None,
            started_by: None,
            last_status: "PENDING".into(),
            desired_status: "RUNNING".into(),
            stopped_reason: None,
            containers: vec![Container {
                name: "web".into(),
                image: "i".into(),
                last_status: "PENDING".into(),
                exit_code: None,
                reason: None,
                health_status: None,
                network_bindings: vec![],
            }],
            created_at: "t0".into(),
            started_at: None,
            stopped_at: None,
        }
    }

    fn report(status: &str, container_status: &str, exit: Option<i64>) -> TaskReport {
        TaskReport {
            task_id: "t1".into(),
            last_status: status.into(),
            stopped_reason: Some(ESSENTIAL_CONTAINER_EXITED.into()),
            containers: vec![ContainerReport {
                name: "web".into(),
                runtime_id: None,
                last_status: container_status.into(),
                exit_code: exit,
                reason: None,
                health_status: None,
                network_bindings: vec![NetworkBinding { container_port: 80, host_port: 32768, protocol: "tcp".into(), bind_ip: None }],
            }],
        }
    }

    #[test]
    fn status_moves_forward_only_and_keeps_the_users_reason() {
        let mut t = task();
        assert!(t.apply_report(&report("RUNNING", "RUNNING", None), "t1"));
        assert_eq!((t.last_status.as_str(), t.started_at.as_deref()), ("RUNNING", Some("t1")));
        assert_eq!(t.host_ports(), ["tcp:32768"]);
        t.desired_status = "STOPPED".into();
        t.stopped_reason = Some("Task stopped by user".into());
        assert!(t.apply_report(&report("STOPPED", "STOPPED", Some(137)), "t2"));
        assert_eq!(t.stopped_reason.as_deref(), Some("Task stopped by user"));
        assert_eq!(t.containers[0].exit_code, Some(137));
        assert!(!t.apply_report(&report("RUNNING", "RUNNING", Some(137)), "t3"), "a stopped task never runs again");
        assert_eq!(t.last_status, "STOPPED");
    }

    #[test]
    fn an_agent_stop_takes_the_agents_reason() {
        let mut t = task();
        t.apply_report(&report("STOPPED", "STOPPED", Some(1)), "t1");
        assert_eq!((t.desired_status.as_str(), t.stopped_reason.as_deref()), ("STOPPED", Some(ESSENTIAL_CONTAINER_EXITED)));
    }

    #[test]
    fn a_stop_without_container_details_stops_every_container() {
        let mut t = task();
        t.apply_report(&report("RUNNING", "RUNNING", None), "t1");
        let bare = TaskReport { containers: vec![], ..report("STOPPED", "STOPPED", None) };
        t.apply_report(&bare, "t2");
        assert_eq!((t.containers[0].last_status.as_str(), t.containers[0].network_bindings.len()), ("STOPPED", 0));
    }

    #[test]
    fn bad_reports_name_the_field() {
        let mut r = report("RUNNING", "SLEEPING", None);
        r.containers[0].network_bindings[0].host_port = 0;
        let fields: Vec<String> = r.validate().unwrap_err().errors.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["task.containers[0].lastStatus", "task.containers[0].networkBindings[0]"]);
    }
}
