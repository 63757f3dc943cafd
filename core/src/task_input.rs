/*! Requests that start and stop tasks (ECS StartTask, StopTask) and their checks. */

use crate::task::Task;
use crate::task_definition::TaskDefinitionRef;
use crate::{FieldErrors, WharfError};
use serde::{Deserialize, Serialize};

/// ECS StartTask: run a task definition on the container instances named, one task on each.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartTaskInput {
    /// `family`, `family:revision` or a task definition ARN.
    #[serde(default)]
    pub task_definition: Option<String>,
    /// Instance ids or ARNs, 1 to 10.
    #[serde(default)]
    pub container_instances: Option<Vec<String>>,
    #[serde(default)]
    pub started_by: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

pub struct StartTask {
    pub task_definition: TaskDefinitionRef,
    /// Instance ids (ARNs reduced to their id).
    pub container_instances: Vec<String>,
    pub started_by: Option<String>,
    pub group: Option<String>,
}

impl StartTaskInput {
    pub fn validate(self) -> Result<StartTask, WharfError> {
        let mut errors = FieldErrors::new();
        let reference = match self.task_definition.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push("taskDefinition", "name the task definition to run, as family or family:revision");
                None
            }
            Some(text) => {
                let text = text.rsplit_once("task-definition/").map_or(text, |(_, rest)| rest);
                TaskDefinitionRef::parse(text).map_err(|m| errors.push("taskDefinition", m)).ok()
            }
        };
        let instances: Vec<String> = self
            .container_instances
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.rsplit('/').next().unwrap_or_default().trim().to_string())
            .collect();
        if instances.is_empty() || instances.len() > 10 {
            errors.push("containerInstances", "name 1 to 10 container instances to start the task on");
        }
        for (i, id) in instances.iter().enumerate() {
            if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                errors.push(format!("containerInstances[{i}]"), "a container instance id is 1 to 64 letters, digits or hyphens");
            }
        }
        let started_by = self.started_by.filter(|s| !s.is_empty());
        if started_by.as_ref().is_some_and(|s| s.chars().count() > 128 || !s.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))) {
            errors.push("startedBy", "startedBy is up to 128 letters, digits, hyphens and underscores");
        }
        let group = self.group.filter(|g| !g.is_empty());
        if group.as_ref().is_some_and(|g| g.chars().count() > 255 || g.chars().any(char::is_control)) {
            errors.push("group", "a group is up to 255 printable characters");
        }
        let task_definition = reference.unwrap_or(TaskDefinitionRef { family: String::new(), revision: None });
        errors.finish(StartTask { task_definition, container_instances: instances, started_by, group })
    }
}

/// ECS's `failures` entry: why a task could not start where asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Failure {
    pub arn: String,
    /// ECS's codes: MISSING, INACTIVE, DRAINING, AGENT, ATTRIBUTE, RESOURCE:CPU, RESOURCE:MEMORY, RESOURCE:PORTS.
    pub reason: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TasksStarted {
    pub tasks: Vec<Task>,
    pub failures: Vec<Failure>,
}

/// ECS RunTask: the scheduler places `count` tasks by the strategies and constraints.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunTaskInput {
    #[serde(default)]
    pub task_definition: Option<String>,
    /// 1 to 10 (ECS's limit per call); default 1.
    #[serde(default)]
    pub count: Option<i64>,
    #[serde(default)]
    pub placement_strategy: Option<Vec<crate::service::PlacementStrategy>>,
    #[serde(default)]
    pub placement_constraints: Option<Vec<crate::task_definition::PlacementConstraint>>,
    #[serde(default)]
    pub started_by: Option<String>,
    /// Default `family:NAME`, as in ECS.
    #[serde(default)]
    pub group: Option<String>,
    /// ECS's idempotency token: a retried call with the same token (in the same cluster)
    /// returns the tasks the first one started instead of starting more. Up to 64 ASCII
    /// characters.
    #[serde(default)]
    pub client_token: Option<String>,
}

pub struct RunTask {
    pub start: StartTask,
    pub count: usize,
    pub placement_strategy: Vec<crate::service::PlacementStrategy>,
    pub placement_constraints: Vec<crate::task_definition::PlacementConstraint>,
    pub client_token: Option<String>,
    /// The request without its token, as JSON: a token reused for another request is refused.
    pub fingerprint: String,
}

impl RunTaskInput {
    pub fn validate(mut self) -> Result<RunTask, WharfError> {
        let client_token = self.client_token.take();
        let fingerprint = serde_json::to_string(&self).unwrap_or_default();
        let count = self.count.unwrap_or(1);
        let strategies = self.placement_strategy.unwrap_or_default();
        let constraints = self.placement_constraints.unwrap_or_default();
        // The StartTask checks cover the shared fields; the instance list is not ours to give.
        let start = StartTaskInput {
            task_definition: self.task_definition,
            container_instances: Some(vec!["-".into()]),
            started_by: self.started_by,
            group: self.group,
        }
        .validate();
        let mut errors = FieldErrors::new();
        if let Err(e) = &start {
            for fe in &e.errors {
                errors.push(fe.field.clone(), fe.message.clone());
            }
        }
        if !(1..=10).contains(&count) {
            errors.push("count", format!("{count} is out of range (1 to 10 tasks per call)"));
        }
        crate::service::check_placement(&mut errors, &strategies, &constraints);
        if let Some(token) = &client_token
            && (token.is_empty() || token.len() > 64 || !token.chars().all(|c| c.is_ascii_graphic())) {
                errors.push("clientToken", "a client token is 1 to 64 ASCII characters without spaces");
            }
        errors.finish(())?;
        // No errors were found, so the StartTask checks passed too.
        let mut start = start?;
        start.container_instances.clear();
        Ok(RunTask { start, count: count as usize, placement_strategy: strategies, placement_constraints: constraints, client_token, fingerprint })
    }
}

/// ECS StopTask.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StopTaskInput {
    #[serde(default)]
    pub reason: Option<String>,
}

/// ECS's stoppedReason when the user gave none.
pub const STOPPED_BY_USER: &str = "Task stopped by user";

impl StopTaskInput {
    pub fn validate(self) -> Result<String, WharfError> {
        match self.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()) {
            None => Ok(STOPPED_BY_USER.into()),
            Some(r) if r.chars().count() > 255 => Err(WharfError::invalid_field("reason", "a reason is up to 255 characters")),
            Some(r) => Ok(r),
        }
    }
}

/// ECS UpdateContainerInstancesState for one instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateInstanceInput {
    /// ACTIVE or DRAINING.
    #[serde(default)]
    pub status: Option<String>,
}

impl UpdateInstanceInput {
    pub fn validate(self) -> Result<String, WharfError> {
        match self.status.as_deref() {
            Some(s @ ("ACTIVE" | "DRAINING")) => Ok(s.to_string()),
            Some(other) => Err(WharfError::invalid_field("status", format!("'{other}' is not ACTIVE or DRAINING"))),
            None => Err(WharfError::invalid_field("status", "give the new status, ACTIVE or DRAINING")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_task_checks_every_field() {
        let input = StartTaskInput {
            task_definition: Some("web:x".into()),
            container_instances: Some(vec!["ok-1".into(), "bad id!".into()]),
            started_by: Some("me too".into()),
            group: None,
        };
        let fields: Vec<String> = input.validate().err().unwrap().errors.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["taskDefinition", "containerInstances[1]", "startedBy"]);
        let arn = StartTaskInput {
            task_definition: Some("arn:wharf:ecs:local:000000000000:task-definition/web:3".into()),
            container_instances: Some(vec!["arn:wharf:ecs:local:000000000000:container-instance/c/abc".into()]),
            ..Default::default()
        };
        let ok = arn.validate().unwrap();
        assert_eq!((ok.task_definition.to_string(), ok.container_instances), ("web:3".to_string(), vec!["abc".to_string()]));
    }
}
