/*!
Runtime drivers: the few primitives a task's lifecycle needs from whatever runs containers.
The lifecycle itself (dependency order, essential containers, stop timeouts) lives in the
supervisor and is the same for every driver.

- `docker`: the Docker Engine API.
- `process`: a container's command as a child process of the host, for hosts without Docker.
- `simulated`: runs nothing and reports plausible transitions, for scale tests.
*/

mod confine;
pub mod docker;
mod logfile;
pub mod process;
pub mod simulated;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use std::time::Duration;
use wharf_core::protocol::{ContainerSpec, TaskSpec};
use wharf_core::task::NetworkBinding;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The container no longer exists.
    #[error("no such container")]
    Gone,
    /// The task's container could not be created or started; the message says why.
    #[error("{0}")]
    Start(String),
    #[error("{0}")]
    Other(String),
}

/// A container the runtime started (or found already started).
#[derive(Debug, Clone)]
pub struct Started {
    pub runtime_id: String,
    pub bindings: Vec<NetworkBinding>,
}

/// A container's state as the runtime sees it now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Created but never started (an agent stopped between the two).
    pub pending: bool,
    pub running: bool,
    /// Set once the container exited.
    pub exit_code: Option<i64>,
    /// HEALTHY, UNHEALTHY or UNKNOWN, for containers with a health check.
    pub health: Option<String>,
    pub bindings: Vec<NetworkBinding>,
    /// Why it stopped, when the runtime knows (e.g. OutOfMemoryError).
    pub reason: Option<String>,
}

/// A container found on the host that belongs to a Wharf task.
#[derive(Debug, Clone)]
pub struct Found {
    pub task_id: String,
    pub container: String,
    pub runtime_id: String,
}

pub type LogLines = BoxStream<'static, Result<String, RuntimeError>>;

#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// docker, process or simulated.
    fn name(&self) -> &'static str;

    /// The engine's version, for versionInfo.
    fn engine_version(&self) -> Option<String> {
        None
    }

    /// ECS-style capability attributes (`ecs.capability.…`).
    fn capabilities(&self) -> Vec<String>;

    /// The cluster's task policy, for runtimes whose tasks share the host (what they may run
    /// as); given before the first start and whenever it changes.
    fn set_task_policy(&self, _policy: &wharf_core::task_policy::TaskPolicy) {}

    /// How often a running task's containers are looked at (besides when [`Runtime::changes`]
    /// names one of them).
    fn watch_every(&self) -> std::time::Duration {
        std::time::Duration::from_millis(500)
    }

    /// Runtime ids of containers whose state just changed (exited, health changed, …), for
    /// runtimes whose engine announces that: a task looks at its containers when named here
    /// instead of polling the engine often.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }

    /// Creates and starts a task's container. Idempotent: if the task's container of that name
    /// exists already it is started if needed and returned, never created twice.
    async fn start(&self, task: &TaskSpec, container: &ContainerSpec) -> Result<Started, RuntimeError>;

    /// A start given up half-way (the task was asked to stop meanwhile): removes whatever of
    /// the container it may have left, so nothing starts behind the agent's back.
    async fn abandon_start(&self, _task: &TaskSpec, _container: &ContainerSpec) {}

    /// Told after a restart that this container of `task` was found and is managed again.
    async fn adopted(&self, _task: &TaskSpec, _container: &ContainerSpec, _runtime_id: &str) {}

    async fn observe(&self, runtime_id: &str) -> Result<Observed, RuntimeError>;

    /// SIGTERM, then SIGKILL after `timeout`; returns once the container stopped.
    async fn stop(&self, runtime_id: &str, timeout: Duration) -> Result<(), RuntimeError>;

    /// Every container on the host that belongs to a task of this container instance,
    /// running or not.
    async fn find(&self, instance_id: &str) -> Result<Vec<Found>, RuntimeError>;

    /// What a running container uses now: CPU time consumed so far (nanoseconds, a counter)
    /// and memory in bytes. None when the runtime cannot tell.
    async fn usage(&self, _runtime_id: &str) -> Option<(u64, u64)> {
        None
    }

    /// Deletes a stopped container (and its log).
    async fn remove(&self, runtime_id: &str);

    /// Deletes what a task had beyond its containers (its engine volumes), once they are gone.
    async fn cleanup_task(&self, _task: &TaskSpec) {}

    /// The last `tail` lines of the container's output (all when None), then new lines while
    /// `follow`.
    async fn logs(&self, runtime_id: &str, tail: Option<u32>, follow: bool) -> Result<LogLines, RuntimeError>;
}

/// ECS's stoppedReason prefix when a container cannot start.
pub fn cannot_start(e: &RuntimeError) -> String {
    format!("CannotStartContainerError: {e}")
}

/// Picks Docker when its socket answers, else the process runtime.
pub async fn detect(docker_host: &str, state_dir: &std::path::Path) -> Box<dyn Runtime> {
    match docker::Docker::connect(docker_host).await {
        Ok(d) => Box::new(d),
        Err(e) => {
            tracing::info!(reason = %e, "Docker is not reachable; running tasks as processes");
            Box::new(process::Process::new(Some(state_dir)))
        }
    }
}
