/*!
The Docker runtime, over the Docker Engine API. Each task container is named
`wharf-<task>-<container>` (so a retried start finds it instead of creating a second one) and
labelled with its task, which is how a restarted agent finds what it runs.
*/

use super::{Found, LogLines, Observed, Runtime, RuntimeError, Started};
use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, HealthConfig, HealthStatusEnum, HostConfig, PortBinding, ResourcesUlimits,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, InspectContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StartContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use wharf_core::protocol::{ContainerSpec, TaskSpec};
use wharf_core::task::NetworkBinding;

pub const LABEL_TASK: &str = "wharf.task-id";
pub const LABEL_CONTAINER: &str = "wharf.container-name";
pub const LABEL_INSTANCE: &str = "wharf.container-instance";

pub struct Docker {
    client: bollard::Docker,
    version: String,
    api_version: String,
    changes: tokio::sync::broadcast::Sender<String>,
    _events: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Container state changes as the engine announces them (`docker events`), kept up across
/// engine restarts; each names the container's id.
async fn follow_events(client: bollard::Docker, changes: tokio::sync::broadcast::Sender<String>) {
    use futures_util::StreamExt;
    let filters = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("event".to_string(), ["die", "oom", "health_status", "stop", "kill", "destroy"].map(String::from).to_vec()),
        ("label".to_string(), vec![LABEL_TASK.to_string()]),
    ]);
    loop {
        let options = bollard::query_parameters::EventsOptions { filters: Some(filters.clone()), ..Default::default() };
        let mut events = client.events(Some(options));
        while let Some(event) = events.next().await {
            match event {
                Ok(e) => {
                    if let Some(id) = e.actor.and_then(|a| a.id) {
                        let _ = changes.send(id);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Docker events stream ended; containers are polled until it is back");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl Docker {
    /// Connects and checks the engine answers; fails fast when there is no Docker.
    pub async fn connect(host: &str) -> Result<Self, String> {
        let path = host.strip_prefix("unix://").ok_or_else(|| format!("only unix:// Docker hosts are supported, not {host}"))?;
        if !std::path::Path::new(path).exists() {
            return Err(format!("{path} does not exist"));
        }
        let client = bollard::Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION).map_err(|e| e.to_string())?;
        let client = client.negotiate_version().await.map_err(|e| e.to_string())?;
        let v = client.version().await.map_err(|e| e.to_string())?;
        let version = v.version.unwrap_or_else(|| "unknown".into());
        let api_version = v.api_version.unwrap_or_else(|| "1.41".into());
        tracing::info!(%version, %api_version, "Docker Engine found");
        let (changes, _) = tokio::sync::broadcast::channel(1024);
        let events = AbortOnDrop(tokio::spawn(follow_events(client.clone(), changes.clone())));
        Ok(Self { client, version, api_version, changes, _events: events })
    }

    fn name(task: &TaskSpec, c: &ContainerSpec) -> String {
        format!("wharf-{}-{}", task.task_id, c.name)
    }

    fn body(task: &TaskSpec, c: &ContainerSpec) -> ContainerCreateBody {
        let mut labels = HashMap::from([
            (LABEL_TASK.to_string(), task.task_id.clone()),
            (LABEL_CONTAINER.to_string(), c.name.clone()),
            ("wharf.cluster".to_string(), task.cluster.clone()),
            (LABEL_INSTANCE.to_string(), task.container_instance_id.clone()),
            ("wharf.task-definition".to_string(), task.task_definition.clone()),
            ("wharf.task-arn".to_string(), task.task_arn.clone()),
        ]);
        if let Some(group) = &task.group {
            labels.insert("wharf.group".into(), group.clone());
        }
        for (k, v) in &c.docker_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let host_network = task.network_mode == "host";
        let exposed: Vec<String> = c.port_mappings.iter().map(|p| format!("{}/{}", p.container_port, p.protocol)).collect();
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in c.port_mappings.iter().filter(|_| !host_network) {
            let host_port = if p.host_port != 0 { p.host_port.to_string() } else { Default::default() };
            bindings
                .entry(format!("{}/{}", p.container_port, p.protocol))
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding { host_ip: None, host_port: Some(host_port) });
        }
        let seconds = |s: u64| (s as i64) * 1_000_000_000;
        let healthcheck = c.health_check.as_ref().map(|h| HealthConfig {
            test: Some(h.command.clone()),
            interval: Some(seconds(h.interval)),
            timeout: Some(seconds(h.timeout)),
            retries: Some(h.retries as i64),
            start_period: Some(seconds(h.start_period)),
            start_interval: None,
        });
        const MIB: i64 = 1024 * 1024;
        // A host-path volume binds that path; any other is an engine volume of this task.
        let binds: Vec<String> = c
            .mount_points
            .iter()
            .map(|m| {
                let source = task
                    .volumes
                    .iter()
                    .find(|v| v.name == m.source_volume)
                    .and_then(|v| v.host_path.clone())
                    .unwrap_or_else(|| format!("wharf-{}-{}", task.task_id, m.source_volume));
                format!("{source}:{}{}", m.container_path, if m.read_only { ":ro" } else { "" })
            })
            .collect();
        let ulimits: Vec<ResourcesUlimits> = c
            .ulimits
            .iter()
            .map(|u| ResourcesUlimits { name: Some(u.name.clone()), soft: Some(u.soft_limit), hard: Some(u.hard_limit) })
            .collect();
        ContainerCreateBody {
            image: Some(c.image.clone()),
            entrypoint: c.entry_point.clone(),
            cmd: c.command.clone(),
            env: Some(c.full_environment().iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            healthcheck,
            stop_timeout: Some(c.stop_timeout as i64),
            working_dir: c.working_directory.clone(),
            user: c.user.clone(),
            hostname: c.hostname.clone().filter(|_| !host_network),
            host_config: Some(HostConfig {
                port_bindings: (!bindings.is_empty()).then_some(bindings),
                // Bounded by TaskSpec::check_limits before any start; saturating all the same.
                memory: c.memory.map(|m| m.saturating_mul(MIB)),
                memory_reservation: c.memory_reservation.map(|m| m.saturating_mul(MIB)),
                // Docker's minimum share is 2, which is also what ECS gives a container with cpu 0.
                cpu_shares: Some(c.cpu.max(2)),
                network_mode: Some(task.network_mode.clone()),
                binds: (!binds.is_empty()).then_some(binds),
                ulimits: (!ulimits.is_empty()).then_some(ulimits),
                readonly_rootfs: c.readonly_root_filesystem.then_some(true),
                privileged: c.privileged.then_some(true),
                init: c.init_process_enabled.then_some(true),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn pull(&self, image: &str) -> Result<(), RuntimeError> {
        let (from_image, tag) = match image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((i, t)) => (i.to_string(), t.to_string()),
            None => (image.to_string(), "latest".to_string()),
        };
        let options = CreateImageOptions { from_image: Some(from_image), tag: Some(tag), ..Default::default() };
        let mut progress = self.client.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| RuntimeError::Start(format!("CannotPullContainerError: {}", message(&e))))?;
        }
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<bollard::models::ContainerInspectResponse, RuntimeError> {
        self.client.inspect_container(id, None::<InspectContainerOptions>).await.map_err(map_error)
    }

    /// Whether a container that exited on SIGKILL under a memory limit was killed for its
    /// memory, though Docker did not say so yet: it learns of an OOM kill from an event of its
    /// own that can land after the exit, so it is asked once more a moment later.
    async fn killed_for_memory_late(&self, id: &str, found: &bollard::models::ContainerInspectResponse) -> bool {
        let state = found.state.as_ref();
        let sigkill = state.and_then(|s| s.exit_code) == Some(137);
        let limited = found.host_config.as_ref().and_then(|h| h.memory).is_some_and(|m| m > 0);
        if !sigkill || !limited {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.inspect(id).await.ok().and_then(|again| again.state).and_then(|s| s.oom_killed) == Some(true)
    }
}

fn message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn status_of(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn map_error(e: DockerError) -> RuntimeError {
    match status_of(&e) {
        Some(404) => RuntimeError::Gone,
        _ => RuntimeError::Other(message(&e)),
    }
}

/// Host ports Docker bound, one binding per container port and protocol. On the host's
/// network every exposed port is the host's own.
fn bindings(inspect: &bollard::models::ContainerInspectResponse) -> Vec<NetworkBinding> {
    let mut out = Vec::new();
    let host_network = inspect.host_config.as_ref().and_then(|h| h.network_mode.as_deref()) == Some("host");
    if host_network {
        for key in inspect.config.as_ref().and_then(|c| c.exposed_ports.as_ref()).into_iter().flatten() {
            let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
            if let Ok(p) = port.parse::<i64>() {
                out.push(NetworkBinding { container_port: p, host_port: p, protocol: protocol.into(), bind_ip: Some("0.0.0.0".into()) });
            }
        }
        out.sort_by_key(|b| (b.container_port, b.protocol.clone()));
        return out;
    }
    let ports = inspect.network_settings.as_ref().and_then(|n| n.ports.as_ref());
    for (key, bound) in ports.into_iter().flatten() {
        let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
        let Ok(container_port) = port.parse::<i64>() else { continue };
        let first = bound.iter().flatten().find_map(|b| b.host_port.as_deref().and_then(|p| p.parse::<i64>().ok()));
        if let Some(host_port) = first {
            out.push(NetworkBinding { container_port, host_port, protocol: protocol.into(), bind_ip: Some("0.0.0.0".into()) });
        }
    }
    out.sort_by_key(|b| (b.container_port, b.protocol.clone()));
    out
}

#[async_trait]
impl Runtime for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn engine_version(&self) -> Option<String> {
        Some(self.version.clone())
    }

    /// The engine announces exits and health changes; polling is only the safety net.
    fn watch_every(&self) -> Duration {
        Duration::from_secs(5)
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.changes.subscribe())
    }

    fn capabilities(&self) -> Vec<String> {
        vec![
            format!("ecs.capability.docker-remote-api.{}", self.api_version),
            "ecs.capability.container-health-check".into(),
            "ecs.capability.container-ordering".into(),
            "ecs.capability.task-cpu-mem-limit".into(),
            "ecs.capability.logging-driver.json-file".into(),
        ]
    }

    async fn start(&self, task: &TaskSpec, c: &ContainerSpec) -> Result<Started, RuntimeError> {
        // Create first and look only when the name is taken (a start retried after a restart):
        // the usual start is two requests to the engine, as with `docker run -d`.
        let name = Self::name(task, c);
        let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        let created = match self.client.create_container(Some(options.clone()), Self::body(task, c)).await {
            Err(e) if status_of(&e) == Some(404) => {
                self.pull(&c.image).await?;
                self.client.create_container(Some(options), Self::body(task, c)).await
            }
            other => other,
        };
        let id = match created {
            Ok(created) => created.id,
            Err(e) if status_of(&e) == Some(409) => {
                let found = self.inspect(&name).await.map_err(|e| RuntimeError::Start(e.to_string()))?;
                let id = found.id.clone().unwrap_or(name.clone());
                if found.state.as_ref().and_then(|s| s.status) != Some(ContainerStateStatusEnum::CREATED) {
                    // Running, or ran and exited: a retried start changes nothing.
                    return Ok(Started { runtime_id: id, bindings: bindings(&found) });
                }
                id
            }
            Err(e) => return Err(RuntimeError::Start(message(&e))),
        };
        self.client
            .start_container(&id, None::<StartContainerOptions>)
            .await
            .map_err(|e| RuntimeError::Start(message(&e)))?;
        // Host ports are known only once it runs; without port mappings there are none to read.
        let publishes = !c.port_mappings.is_empty() || task.network_mode == "host";
        let bindings = if publishes { bindings(&self.inspect(&id).await?) } else { Vec::new() };
        Ok(Started { runtime_id: id, bindings })
    }

    async fn observe(&self, runtime_id: &str) -> Result<Observed, RuntimeError> {
        let found = self.inspect(runtime_id).await?;
        let state = found.state.clone().unwrap_or_default();
        let health = state.health.as_ref().and_then(|h| h.status).and_then(|s| match s {
            HealthStatusEnum::HEALTHY => Some("HEALTHY".to_string()),
            HealthStatusEnum::UNHEALTHY => Some("UNHEALTHY".to_string()),
            HealthStatusEnum::STARTING => Some("UNKNOWN".to_string()),
            _ => None,
        });
        let status = state.status;
        let running = matches!(status, Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::RESTARTING | ContainerStateStatusEnum::PAUSED));
        let pending = status == Some(ContainerStateStatusEnum::CREATED);
        let exited = !running && !pending;
        let reason = if state.oom_killed == Some(true) || (exited && self.killed_for_memory_late(runtime_id, &found).await) {
            Some("OutOfMemoryError: Container killed due to memory usage".to_string())
        } else {
            state.error.filter(|e| !e.is_empty())
        };
        Ok(Observed {
            pending,
            running,
            exit_code: if exited { state.exit_code } else { None },
            health,
            bindings: if running { bindings(&found) } else { Vec::new() },
            reason: if exited { reason } else { None },
        })
    }

    async fn stop(&self, runtime_id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        let options = StopContainerOptions { t: Some(timeout.as_secs() as i32), signal: None };
        match self.client.stop_container(runtime_id, Some(options)).await {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(e) if status_of(&e) == Some(304) => Ok(()),
            Err(e) => Err(map_error(e)),
        }
    }

    async fn find(&self, instance_id: &str) -> Result<Vec<Found>, RuntimeError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![LABEL_TASK.to_string(), format!("{LABEL_INSTANCE}={instance_id}")],
            )])),
            ..Default::default()
        };
        let listed = self.client.list_containers(Some(options)).await.map_err(map_error)?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels?;
                Some(Found { task_id: labels.get(LABEL_TASK)?.clone(), container: labels.get(LABEL_CONTAINER)?.clone(), runtime_id: c.id? })
            })
            .collect())
    }

    async fn abandon_start(&self, task: &TaskSpec, c: &ContainerSpec) {
        // Names are the task's and container's: found whether or not the create answered.
        self.remove(&Self::name(task, c)).await;
    }

    async fn remove(&self, runtime_id: &str) {
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        if let Err(e) = self.client.remove_container(runtime_id, Some(options)).await {
            tracing::debug!(container = %runtime_id, error = %message(&e), "remove failed");
        }
    }

    async fn usage(&self, runtime_id: &str) -> Option<(u64, u64)> {
        // one_shot: a single sample, without the engine's own one-second wait for a second.
        let options = bollard::query_parameters::StatsOptions { stream: false, one_shot: true };
        let stats = self.client.stats(runtime_id, Some(options)).next().await?.ok()?;
        let cpu = stats.cpu_stats.as_ref()?.cpu_usage.as_ref()?.total_usage?;
        let memory = stats.memory_stats.as_ref().and_then(|m| m.usage).unwrap_or(0);
        Some((cpu, memory))
    }

    async fn cleanup_task(&self, task: &TaskSpec) {
        for v in task.volumes.iter().filter(|v| v.host_path.is_none()) {
            let name = format!("wharf-{}-{}", task.task_id, v.name);
            if let Err(e) = self.client.remove_volume(&name, None::<bollard::query_parameters::RemoveVolumeOptions>).await
                && status_of(&e) != Some(404)
            {
                tracing::debug!(volume = %name, error = %message(&e), "volume not removed");
            }
        }
    }

    async fn logs(&self, runtime_id: &str, tail: Option<u32>, follow: bool) -> Result<LogLines, RuntimeError> {
        self.inspect(runtime_id).await?;
        let options = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            tail: tail.map_or("all".into(), |t| t.to_string()),
            ..Default::default()
        };
        let stream = self.client.logs(runtime_id, Some(options)).flat_map(|chunk| {
            let lines: Vec<Result<String, RuntimeError>> = match chunk {
                Ok(output) => {
                    let text = String::from_utf8_lossy(output.as_ref()).into_owned();
                    text.split_terminator('\n').map(|l| Ok(l.trim_end_matches('\r').to_string())).collect()
                }
                Err(e) => vec![Err(RuntimeError::Other(message(&e)))],
            };
            futures_util::stream::iter(lines)
        });
        Ok(Box::pin(stream))
    }
}
