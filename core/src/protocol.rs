/*!
The agent protocol: JSON messages over one WebSocket per container instance
(`GET /agent/v1/connect`, `Authorization: Bearer wic_…`).

The agent opens with [`AgentMessage::Hello`] carrying its protocol version and its whole state;
the server answers [`ServerMessage::Welcome`] or [`ServerMessage::Refused`] (then closes).
After that the agent sends heartbeats, task state changes and usage samples; the server sends
tasks to start and to stop, drain notices and log requests. Every message that changes
something names a task id and is idempotent: a start for a task the agent already runs, or a
stop for a task already stopped, changes nothing. Each message is one text frame holding one
JSON object with a `type` field.
*/

use crate::task::NetworkBinding;
use crate::task_definition::{Attribute, TaskDefinition};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped when a message changes meaning; agents of another version are refused with a reason.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum AgentMessage {
    /// First message of every connection: who the agent is and everything it runs.
    Hello {
        protocol_version: u32,
        agent_version: String,
        #[serde(default)]
        docker_version: Option<String>,
        /// docker, process or simulated.
        runtime: String,
        hostname: String,
        /// CPU units (1024 per core) and MiB offered to tasks, after the host's reservation.
        cpu: i64,
        memory: i64,
        attributes: Vec<Attribute>,
        tasks: Vec<TaskReport>,
    },
    Heartbeat {},
    /// A task or one of its containers changed state.
    TaskStateChange { task: TaskReport },
    /// Resource use of the host and of each task, sampled by the agent.
    Usage { host: HostUsage, tasks: Vec<TaskUsage> },
    /// A chunk of a container's log, answering [`ServerMessage::FetchLogs`].
    Logs {
        request_id: String,
        lines: Vec<String>,
        /// No more chunks follow for this request.
        done: bool,
        #[serde(default)]
        error: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ServerMessage {
    Welcome {
        protocol_version: u32,
        container_instance_id: String,
        cluster: String,
        heartbeat_interval_seconds: u64,
    },
    /// The connection is refused; the agent should not retry before fixing what `reason` says.
    Refused { reason: String, retry: bool },
    StartTask { task: TaskSpec },
    StopTask { task_id: String, reason: String },
    /// The instance was set to DRAINING (or back to ACTIVE).
    Drain { draining: bool },
    /// The instance was deregistered: stop everything and forget the identity.
    Deregistered {},
    FetchLogs {
        request_id: String,
        task_id: String,
        container: String,
        tail: Option<u32>,
        follow: bool,
    },
    CancelLogs { request_id: String },
}

/// What the agent runs for one task: everything a runtime needs, with ECS's defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    pub task_id: String,
    pub task_arn: String,
    pub cluster: String,
    /// The instance the task runs on; runtimes label what they create with it, so several
    /// agents sharing one container engine never take each other's containers.
    #[serde(default)]
    pub container_instance_id: String,
    /// `family:revision`.
    pub task_definition: String,
    #[serde(default)]
    pub group: Option<String>,
    pub containers: Vec<ContainerSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    #[serde(default)]
    pub entry_point: Option<Vec<String>>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    pub cpu: i64,
    /// Hard limit in MiB.
    #[serde(default)]
    pub memory: Option<i64>,
    /// Soft limit in MiB.
    #[serde(default)]
    pub memory_reservation: Option<i64>,
    pub essential: bool,
    #[serde(default)]
    pub port_mappings: Vec<PortSpec>,
    #[serde(default)]
    pub health_check: Option<HealthCheckSpec>,
    #[serde(default)]
    pub depends_on: Vec<DependencySpec>,
    /// Seconds between SIGTERM and SIGKILL.
    pub stop_timeout: u64,
    /// Seconds a dependency may take to reach its condition.
    #[serde(default)]
    pub start_timeout: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSpec {
    pub container_port: u16,
    /// 0 = a dynamic port chosen on the host.
    pub host_port: u16,
    /// tcp or udp.
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckSpec {
    /// ECS form: `["CMD-SHELL", "…"]` or `["CMD", "bin", "arg"…]`.
    pub command: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub retries: u64,
    pub start_period: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencySpec {
    pub container_name: String,
    /// START, COMPLETE, SUCCESS or HEALTHY.
    pub condition: String,
}

/// A task as the agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskReport {
    pub task_id: String,
    /// PENDING, RUNNING or STOPPED.
    pub last_status: String,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    pub containers: Vec<ContainerReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    pub name: String,
    /// The runtime's id of the container (Docker id, process id), when it exists.
    #[serde(default)]
    pub runtime_id: Option<String>,
    /// PENDING, RUNNING or STOPPED.
    pub last_status: String,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    /// HEALTHY, UNHEALTHY or UNKNOWN; absent without a health check.
    #[serde(default)]
    pub health_status: Option<String>,
    #[serde(default)]
    pub network_bindings: Vec<NetworkBinding>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostUsage {
    /// CPU units in use (1024 = one core busy).
    pub cpu: i64,
    /// MiB in use.
    pub memory: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskUsage {
    pub task_id: String,
    pub cpu: i64,
    pub memory: i64,
}

/// ECS's default time between SIGTERM and SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: u64 = 30;

impl TaskSpec {
    /// The runtime form of a registered (hence validated) task definition.
    pub fn from_definition(definition: &TaskDefinition, cluster: &str, instance_id: &str, task_id: &str, group: Option<String>) -> Self {
        let containers = definition
            .containers()
            .iter()
            .map(|c| ContainerSpec {
                name: c.name.clone().unwrap_or_default(),
                image: c.image.clone().unwrap_or_default(),
                entry_point: c.entry_point.clone(),
                command: c.command.clone(),
                environment: c
                    .environment
                    .iter()
                    .flatten()
                    .filter_map(|kv| Some((kv.name.clone()?, kv.value.clone().unwrap_or_default())))
                    .collect(),
                cpu: c.cpu.unwrap_or(0),
                memory: c.memory,
                memory_reservation: c.memory_reservation,
                essential: c.is_essential(),
                port_mappings: c
                    .port_mappings
                    .iter()
                    .flatten()
                    .filter_map(|p| {
                        let container_port = u16::try_from(p.container_port?).ok()?;
                        let host_port = u16::try_from(p.host_port.unwrap_or(0)).ok()?;
                        let protocol = p.protocol.clone().unwrap_or_else(|| "tcp".into());
                        Some(PortSpec { container_port, host_port, protocol })
                    })
                    .collect(),
                health_check: c.health_check.as_ref().and_then(|h| {
                    Some(HealthCheckSpec {
                        command: h.command.clone()?,
                        interval: h.interval.unwrap_or(30).max(1) as u64,
                        timeout: h.timeout.unwrap_or(5).max(1) as u64,
                        retries: h.retries.unwrap_or(3).max(1) as u64,
                        start_period: h.start_period.unwrap_or(0).max(0) as u64,
                    })
                }),
                depends_on: c
                    .depends_on
                    .iter()
                    .flatten()
                    .filter_map(|d| {
                        Some(DependencySpec {
                            container_name: d.container_name.clone()?,
                            condition: d.condition.clone().unwrap_or_else(|| "START".into()),
                        })
                    })
                    .collect(),
                stop_timeout: c.stop_timeout.map(|t| t.clamp(2, 120) as u64).unwrap_or(DEFAULT_STOP_TIMEOUT),
                start_timeout: c.start_timeout.map(|t| t.max(1) as u64),
            })
            .collect();
        TaskSpec {
            task_id: task_id.into(),
            task_arn: crate::arn::task(cluster, task_id),
            cluster: cluster.into(),
            container_instance_id: instance_id.into(),
            task_definition: definition.name(),
            group,
            containers,
        }
    }

    /// Host ports this task binds statically (dynamic ports are not known before start).
    pub fn static_host_ports(&self) -> Vec<(String, u16)> {
        self.containers
            .iter()
            .flat_map(|c| c.port_mappings.iter())
            .filter(|p| p.host_port != 0)
            .map(|p| (p.protocol.clone(), p.host_port))
            .collect()
    }
}

/// CPU units and MiB a task reserves on its instance: the task-level values when set, else
/// the sum over containers (memoryReservation, else memory), as ECS accounts them.
pub fn task_reservation(definition: &TaskDefinition) -> (i64, i64) {
    let containers = definition.containers();
    let cpu = definition
        .spec
        .cpu
        .as_deref()
        .and_then(|c| crate::units::parse_cpu(c).ok())
        .unwrap_or_else(|| containers.iter().filter_map(|c| c.cpu).sum());
    let memory = definition
        .spec
        .memory
        .as_deref()
        .and_then(|m| crate::units::parse_memory(m).ok())
        .unwrap_or_else(|| containers.iter().filter_map(|c| c.memory_reservation.or(c.memory)).sum());
    (cpu, memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_type() {
        let hb = serde_json::to_string(&AgentMessage::Heartbeat {}).unwrap();
        assert_eq!(hb, r#"{"type":"heartbeat"}"#);
        let stop: ServerMessage = serde_json::from_str(r#"{"type":"stopTask","taskId":"t1","reason":"x"}"#).unwrap();
        assert_eq!(stop, ServerMessage::StopTask { task_id: "t1".into(), reason: "x".into() });
        assert!(serde_json::from_str::<AgentMessage>(r#"{"type":"nonsense"}"#).is_err());
    }
}
