/*!
The agent protocol: JSON messages over one WebSocket per container instance
(`GET /agent/v1/connect`, `Authorization: Bearer wic_…`).

The agent opens with [`AgentMessage::Hello`] carrying its protocol version and its whole state;
the server answers [`ServerMessage::Welcome`] or [`ServerMessage::Refused`] (then closes).
After that the agent sends heartbeats, task state changes and usage samples; the server sends
tasks to start and to stop, drain notices, log requests and, now and then, a new credential. Every message that changes
something names a task id and is idempotent: a start for a task the agent already runs, or a
stop for a task already stopped, changes nothing. Each message is one text frame holding one
JSON object with a `type` field.
*/

use crate::task::NetworkBinding;
use crate::task_definition::{Attribute, TaskDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Bumped when a message changes meaning; agents of another version are refused with a reason.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Read and write buffer of each WebSocket, both sides. Messages are small and a server holds
/// thousands of sessions: the WebSocket library's 128 KiB defaults would cost 256 KiB a session.
pub const SOCKET_BUFFER_BYTES: usize = 8 * 1024;

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
    /// Every few heartbeats: everything the agent runs, as in the hello. The server answers
    /// with the starts and stops that make it run what the store wants, so a message lost
    /// while the connection stayed up (a full queue) is made good within a few heartbeats.
    Reconcile { tasks: Vec<TaskReport> },
    /// A task or one of its containers changed state.
    TaskStateChange { task: TaskReport },
    /// Resource use of the host and of each task, sampled by the agent.
    Usage { host: HostUsage, tasks: Vec<TaskUsage> },
    /// The credential of the [`ServerMessage::RotateCredential`] with this `offer` is saved;
    /// the old one may go.
    CredentialSaved { offer: String },
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
        /// What the cluster's tasks may do; the agent refuses a start it forbids.
        #[serde(default)]
        task_policy: crate::task_policy::TaskPolicy,
    },
    /// The cluster's task policy changed; it applies to the starts that follow.
    TaskPolicyChanged { task_policy: crate::task_policy::TaskPolicy },
    /// The connection is refused (then closed); the agent should not retry before fixing what
    /// `reason` says.
    Refused { reason: String },
    /// One message was not accepted (it does not parse, or breaks a rule); the session goes on.
    Rejected { reason: String },
    StartTask { task: TaskSpec },
    StopTask { task_id: String, reason: String },
    /// The instance was set to DRAINING (or back to ACTIVE).
    Drain { draining: bool },
    /// A new credential for this instance. The agent saves it, then answers
    /// [`AgentMessage::CredentialSaved`] with the same `offer`; the old one works until then.
    RotateCredential { credential: crate::secret::SecretValue, offer: String },
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
    /// bridge, host or none (awsvpc runs as bridge: there is no per-task network interface).
    #[serde(default = "bridge")]
    pub network_mode: String,
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    pub containers: Vec<ContainerSpec>,
}

fn bridge() -> String {
    "bridge".into()
}

/// A task volume: a host path (`host.sourcePath`), or else a volume of the engine that lives as
/// long as the task and is shared by its containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    pub name: String,
    #[serde(default)]
    pub host_path: Option<String>,
}

/// One environment variable from a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretSpec {
    pub name: String,
    pub value_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<crate::secret::SecretValue>,
    /// Why the value could not be delivered; the agent stops the task with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountSpec {
    pub source_volume: String,
    pub container_path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UlimitSpec {
    pub name: String,
    pub soft_limit: i64,
    pub hard_limit: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Environment variables from secrets. The server fills in each value as it sends the
    /// task to its agent (never earlier, and never into what it stores).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretSpec>,
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
    #[serde(default)]
    pub mount_points: Vec<MountSpec>,
    #[serde(default)]
    pub ulimits: Vec<UlimitSpec>,
    #[serde(default)]
    pub working_directory: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub docker_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub readonly_root_filesystem: bool,
    #[serde(default)]
    pub privileged: bool,
    /// `linuxParameters.initProcessEnabled`: an init process reaps and forwards signals.
    #[serde(default)]
    pub init_process_enabled: bool,
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

/// An agent's message as the server reads it, or why it is refused. Text with a NUL is refused
/// before anything is stored: one agent's NUL would otherwise fail a batch of every agent's
/// reports on PostgreSQL.
pub fn parse_agent_message(text: &str) -> Result<AgentMessage, String> {
    if crate::text::may_hold_nul(text)
        && let Some(field) = serde_json::from_str(text).ok().as_ref().and_then(crate::text::find_nul)
    {
        return Err(format!("{field}: {}", crate::text::NUL_MESSAGE));
    }
    serde_json::from_str(text).map_err(|e| format!("the message does not parse: {e}"))
}

/// ECS's default time between SIGTERM and SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: u64 = 30;

impl ContainerSpec {
    /// The container's environment: its variables, then those from secrets.
    pub fn full_environment(&self) -> BTreeMap<String, String> {
        let mut env = self.environment.clone();
        env.extend(self.secrets.iter().filter_map(|s| Some((s.name.clone(), s.value.as_ref()?.expose().to_string()))));
        env
    }
}

impl TaskSpec {
    /// Why this task's secrets cannot be set, if one of them cannot (its value did not come).
    pub fn secrets_problem(&self) -> Option<String> {
        self.containers.iter().flat_map(|c| &c.secrets).find(|s| s.value.is_none()).map(|s| {
            s.problem.clone().unwrap_or_else(|| format!("the value of {} (from {}) was not delivered", s.name, s.value_from))
        })
    }

    /// The spec without secret values, for what is written to disk.
    pub fn without_secret_values(&self) -> TaskSpec {
        let mut spec = self.clone();
        for s in spec.containers.iter_mut().flat_map(|c| &mut c.secrets) {
            s.value = None;
        }
        spec
    }

    /// The resource bounds validation applies at registration, checked again where the task
    /// runs: an agent does not hand a runtime a limit that would overflow or mean "no limit".
    pub fn check_limits(&self) -> Result<(), String> {
        use crate::units::{MAX_CPU_UNITS, MAX_MEMORY_MIB};
        for c in &self.containers {
            if !(0..=MAX_CPU_UNITS).contains(&c.cpu) {
                return Err(format!("container {}: {} CPU units is out of range (0 to {MAX_CPU_UNITS})", c.name, c.cpu));
            }
            for (field, value) in [("memory", c.memory), ("memoryReservation", c.memory_reservation)] {
                if let Some(v) = value.filter(|v| !(6..=MAX_MEMORY_MIB).contains(v)) {
                    return Err(format!("container {}: {field} of {v} MiB is out of range (6 to {MAX_MEMORY_MIB})", c.name));
                }
            }
        }
        Ok(())
    }

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
                secrets: c
                    .secrets
                    .iter()
                    .flatten()
                    .filter_map(|s| Some(SecretSpec { name: s.name.clone()?, value_from: s.value_from.clone()?, value: None, problem: None }))
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
                mount_points: c
                    .mount_points
                    .iter()
                    .flatten()
                    .filter_map(|m| {
                        Some(MountSpec {
                            source_volume: m.source_volume.clone()?,
                            container_path: m.container_path.clone()?,
                            read_only: m.read_only.unwrap_or(false),
                        })
                    })
                    .collect(),
                ulimits: extra_array(&c.extra, "ulimits")
                    .filter_map(|u| {
                        Some(UlimitSpec {
                            name: u.get("name")?.as_str()?.to_string(),
                            soft_limit: u.get("softLimit")?.as_i64()?,
                            hard_limit: u.get("hardLimit")?.as_i64()?,
                        })
                    })
                    .collect(),
                working_directory: extra_str(&c.extra, "workingDirectory"),
                user: extra_str(&c.extra, "user"),
                hostname: extra_str(&c.extra, "hostname"),
                docker_labels: c
                    .extra
                    .get("dockerLabels")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
                    .unwrap_or_default(),
                readonly_root_filesystem: extra_bool(&c.extra, "readonlyRootFilesystem"),
                privileged: extra_bool(&c.extra, "privileged"),
                init_process_enabled: c
                    .extra
                    .get("linuxParameters")
                    .and_then(|l| l.get("initProcessEnabled"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
            .collect();
        let network_mode = match definition.spec.network_mode.as_deref() {
            Some("host") => "host",
            Some("none") => "none",
            _ => "bridge",
        };
        let volumes = definition
            .spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| {
                let host_path = v.extra.get("host").and_then(|h| h.get("sourcePath")).and_then(Value::as_str).map(str::to_string);
                Some(VolumeSpec { name: v.name.clone()?, host_path })
            })
            .collect();
        TaskSpec {
            task_id: task_id.into(),
            task_arn: crate::arn::task(cluster, task_id),
            cluster: cluster.into(),
            container_instance_id: instance_id.into(),
            task_definition: definition.name(),
            group,
            network_mode: network_mode.into(),
            volumes,
            containers,
        }
    }

    /// Host ports this task binds statically (dynamic ports are not known before start); in
    /// host network mode every container port is a host port.
    pub fn static_host_ports(&self) -> Vec<(String, u16)> {
        let host = self.network_mode == "host";
        self.containers
            .iter()
            .flat_map(|c| c.port_mappings.iter())
            .filter_map(|p| match (host, p.host_port) {
                (true, _) => Some((p.protocol.clone(), p.container_port)),
                (false, 0) => None,
                (false, port) => Some((p.protocol.clone(), port)),
            })
            .collect()
    }
}

fn extra_str(extra: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    extra.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

fn extra_bool(extra: &serde_json::Map<String, Value>, key: &str) -> bool {
    extra.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn extra_array<'a>(extra: &'a serde_json::Map<String, Value>, key: &str) -> impl Iterator<Item = &'a Value> {
    extra.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// Heartbeats between an agent's [`AgentMessage::Reconcile`] digests.
pub const RECONCILE_EVERY_HEARTBEATS: u32 = 3;

/// CPU units and MiB a task reserves on its instance: the task-level values when set, else
/// the sum over containers (memoryReservation, else memory), as ECS accounts them.
///
/// Stored revisions were validated, but under rules that may have been looser: every value is
/// clamped to what validation allows today, so a sum can neither wrap nor go negative.
pub fn task_reservation(definition: &TaskDefinition) -> (i64, i64) {
    use crate::units::{MAX_CPU_UNITS, MAX_MEMORY_MIB, saturating_total};
    let containers = definition.containers();
    // Stored task-level values are ECS's integer strings; the unit forms are a fallback.
    let task_value = |v: Option<&str>, parse: fn(&str) -> Result<i64, String>| {
        v.and_then(|t| t.trim().parse::<i64>().ok().or_else(|| parse(t).ok()))
    };
    let cpu = task_value(definition.spec.cpu.as_deref(), crate::units::parse_cpu)
        .unwrap_or_else(|| saturating_total(containers.iter().filter_map(|c| c.cpu)));
    let memory = task_value(definition.spec.memory.as_deref(), crate::units::parse_memory)
        .unwrap_or_else(|| saturating_total(containers.iter().filter_map(|c| c.memory_reservation.or(c.memory))));
    (cpu.clamp(0, MAX_CPU_UNITS), memory.clamp(0, MAX_MEMORY_MIB))
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

    #[test]
    fn a_spec_carries_what_docker_needs_from_ecs_fields() {
        let doc = serde_json::json!({
            "family": "f", "networkMode": "host",
            "volumes": [{ "name": "data", "host": { "sourcePath": "/srv/data" } }, { "name": "scratch" }],
            "containerDefinitions": [{ "name": "a", "image": "i", "memory": 64,
                "portMappings": [{ "containerPort": 8080 }],
                "mountPoints": [{ "sourceVolume": "data", "containerPath": "/data", "readOnly": true }],
                "ulimits": [{ "name": "nofile", "softLimit": 1024, "hardLimit": 4096 }],
                "workingDirectory": "/app", "user": "1000", "dockerLabels": { "team": "web" },
                "linuxParameters": { "initProcessEnabled": true } }]
        });
        let spec = crate::task_definition::parse_registration_value(doc).unwrap().spec;
        let definition = crate::task_definition::TaskDefinition {
            task_definition_arn: String::new(),
            revision: 1,
            status: crate::task_definition::TaskDefinitionStatus::Active,
            registered_at: String::new(),
            deregistered_at: None,
            requires_attributes: vec![],
            compatibilities: vec![],
            spec,
        };
        let t = TaskSpec::from_definition(&definition, "c", "i-1", "t-1", None);
        assert_eq!(t.network_mode, "host");
        assert_eq!(t.volumes[0], VolumeSpec { name: "data".into(), host_path: Some("/srv/data".into()) });
        assert_eq!(t.volumes[1].host_path, None);
        let c = &t.containers[0];
        assert_eq!(c.mount_points[0], MountSpec { source_volume: "data".into(), container_path: "/data".into(), read_only: true });
        assert_eq!(c.ulimits[0], UlimitSpec { name: "nofile".into(), soft_limit: 1024, hard_limit: 4096 });
        assert_eq!((c.working_directory.as_deref(), c.user.as_deref(), c.init_process_enabled), (Some("/app"), Some("1000"), true));
        assert_eq!(c.docker_labels.get("team").map(String::as_str), Some("web"));
        assert_eq!(t.static_host_ports(), [("tcp".to_string(), 8080)], "host mode: the container port is the host's");
    }
}
