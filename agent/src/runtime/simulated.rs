/*!
The simulated runtime runs nothing: containers "run" until stopped, health checks pass, and
dynamic host ports are handed out from a counter. It lets one machine stand in for thousands
of hosts in scale tests. An image tagged `fail` (`local/job:fail`) cannot start, so failures
can be simulated too.
*/

use super::{Found, LogLines, Observed, Runtime, RuntimeError, Started};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use wharf_core::protocol::{ContainerSpec, TaskSpec};
use wharf_core::task::NetworkBinding;

#[derive(Default)]
pub struct Simulated {
    containers: Mutex<HashMap<String, Observed>>,
    next_port: AtomicU16,
    /// How long a container takes to start, standing in for image pulls and process start.
    start_delay: Duration,
}

impl Simulated {
    pub fn with_start_delay(start_delay: Duration) -> Self {
        Self { start_delay, ..Self::default() }
    }

    fn containers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Observed>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Runtime for Simulated {
    fn name(&self) -> &'static str {
        "simulated"
    }

    /// Simulated containers never change on their own: looking at them often only costs CPU
    /// (a hundred thousand tasks in one process).
    fn watch_every(&self) -> Duration {
        Duration::from_secs(30)
    }

    fn capabilities(&self) -> Vec<String> {
        vec!["ecs.capability.container-health-check".into(), "ecs.capability.container-ordering".into()]
    }

    async fn start(&self, task: &TaskSpec, c: &ContainerSpec) -> Result<Started, RuntimeError> {
        let id = format!("sim-{}-{}", task.task_id, c.name);
        if let Some(existing) = self.containers().get(&id) {
            return Ok(Started { runtime_id: id, bindings: existing.bindings.clone() });
        }
        if !self.start_delay.is_zero() {
            tokio::time::sleep(self.start_delay).await;
        }
        if c.image.ends_with(":fail") {
            return Err(RuntimeError::Start(format!("simulated: image {} cannot start", c.image)));
        }
        let mut containers = self.containers();
        let bindings: Vec<NetworkBinding> = c
            .port_mappings
            .iter()
            .map(|p| {
                let host_port = if p.host_port == 0 { 32768 + self.next_port.fetch_add(1, Ordering::Relaxed) % 28000 } else { p.host_port };
                NetworkBinding { container_port: p.container_port.into(), host_port: host_port.into(), protocol: p.protocol.clone(), bind_ip: Some("0.0.0.0".into()) }
            })
            .collect();
        let health = c.health_check.as_ref().map(|_| "HEALTHY".to_string());
        containers.insert(id.clone(), Observed { running: true, health, bindings: bindings.clone(), ..Default::default() });
        Ok(Started { runtime_id: id, bindings })
    }

    async fn observe(&self, runtime_id: &str) -> Result<Observed, RuntimeError> {
        self.containers().get(runtime_id).cloned().ok_or(RuntimeError::Gone)
    }

    async fn stop(&self, runtime_id: &str, _timeout: Duration) -> Result<(), RuntimeError> {
        let mut containers = self.containers();
        let c = containers.get_mut(runtime_id).ok_or(RuntimeError::Gone)?;
        if c.running {
            c.running = false;
            // What a process that honours SIGTERM exits with.
            c.exit_code = Some(143);
            c.bindings.clear();
        }
        Ok(())
    }

    async fn find(&self, _instance_id: &str) -> Result<Vec<Found>, RuntimeError> {
        Ok(Vec::new())
    }

    async fn remove(&self, runtime_id: &str) {
        self.containers().remove(runtime_id);
    }

    async fn logs(&self, runtime_id: &str, _tail: Option<u32>, _follow: bool) -> Result<LogLines, RuntimeError> {
        if !self.containers().contains_key(runtime_id) {
            return Err(RuntimeError::Gone);
        }
        let line = format!("simulated container {runtime_id}: nothing runs here");
        Ok(Box::pin(futures_util::stream::iter([Ok(line)])))
    }
}
