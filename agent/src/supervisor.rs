/*!
The supervisor runs each task's lifecycle over a runtime driver: containers start in
`dependsOn` order once their dependencies reach their condition (START, COMPLETE, SUCCESS,
HEALTHY); while the task runs its containers are watched; an essential container that stops
stops the task; a stop (asked or forced) stops containers in reverse order, each with SIGTERM
then SIGKILL after its `stopTimeout`. Every change is published as a full [`TaskReport`].

Starts and stops are idempotent by task id: a second start of a known task changes nothing.
*/

use crate::runtime::{Found, Runtime, RuntimeError, cannot_start};
use crate::state::StateDir;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use wharf_core::protocol::{ContainerReport, ContainerSpec, TaskReport, TaskSpec, TaskUsage};
use wharf_core::task::ESSENTIAL_CONTAINER_EXITED;
use wharf_core::task_policy::TaskPolicy;

/// How often running containers are looked at.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// How long a dependency may take to reach its condition when the container sets no startTimeout.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Arc<dyn Runtime>,
    /// How long a stopped task's containers (and their logs) stay on the host, and the task
    /// in reports; ECS's agent waits 3 hours by default.
    cleanup_after: Duration,
    state: Option<StateDir>,
    reports: mpsc::UnboundedSender<TaskReport>,
    tasks: Mutex<HashMap<String, Entry>>,
    /// What the cluster's tasks may do, as the server last said; starts it forbids are refused.
    policy: Mutex<TaskPolicy>,
    /// The previous CPU counter of each running task, for usage deltas.
    cpu_samples: Mutex<HashMap<String, (Instant, u64)>>,
}

struct Entry {
    report: TaskReport,
    runtime_ids: BTreeMap<String, String>,
    stop: watch::Sender<Option<String>>,
    stopped_at: Option<Instant>,
}

impl Supervisor {
    /// Returns the supervisor and the stream of its reports.
    pub fn new(runtime: Arc<dyn Runtime>, state: Option<StateDir>, cleanup_after: Duration) -> (Self, mpsc::UnboundedReceiver<TaskReport>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Inner { runtime, cleanup_after, state, reports: tx, tasks: Mutex::default(), policy: Mutex::default(), cpu_samples: Mutex::default() };
        (Self { inner: Arc::new(inner) }, rx)
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.runtime
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every task the agent knows, as reported in a hello.
    pub fn snapshot(&self) -> Vec<TaskReport> {
        let tasks = self.tasks();
        let mut out: Vec<TaskReport> = tasks.values().map(|e| e.report.clone()).collect();
        out.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        out
    }

    /// Each running task's use: CPU units (1024 = one core busy) since the previous call, and MiB.
    pub async fn usage(&self) -> Vec<TaskUsage> {
        let running: Vec<(String, Vec<String>)> = self
            .tasks()
            .iter()
            .filter(|(_, e)| e.report.last_status == "RUNNING")
            .map(|(id, e)| (id.clone(), e.runtime_ids.values().cloned().collect()))
            .collect();
        let now = Instant::now();
        let mut out = Vec::new();
        for (task_id, ids) in running {
            let (mut cpu_ns, mut bytes, mut known) = (0u64, 0u64, false);
            for id in &ids {
                if let Some((cpu, mem)) = self.inner.runtime.usage(id).await {
                    cpu_ns += cpu;
                    bytes += mem;
                    known = true;
                }
            }
            if !known {
                continue;
            }
            let mut previous = self.inner.cpu_samples.lock().unwrap_or_else(|e| e.into_inner());
            let cpu = match previous.insert(task_id.clone(), (now, cpu_ns)) {
                Some((then, before)) if cpu_ns >= before => {
                    let elapsed = now.duration_since(then).as_nanos().max(1) as f64;
                    ((cpu_ns - before) as f64 / elapsed * 1024.0) as i64
                }
                _ => 0,
            };
            out.push(TaskUsage { task_id, cpu, memory: (bytes / (1024 * 1024)) as i64 });
        }
        let live: std::collections::HashSet<&str> = out.iter().map(|u| u.task_id.as_str()).collect();
        self.inner.cpu_samples.lock().unwrap_or_else(|e| e.into_inner()).retain(|id, _| live.contains(id.as_str()));
        out
    }

    pub fn running_count(&self) -> usize {
        self.tasks().values().filter(|e| e.report.last_status != "STOPPED").count()
    }

    /// The runtime id of a task's container, for logs.
    pub fn runtime_id(&self, task_id: &str, container: &str) -> Option<String> {
        self.tasks().get(task_id).and_then(|e| e.runtime_ids.get(container).cloned())
    }

    pub fn set_task_policy(&self, policy: TaskPolicy) {
        self.inner.runtime.set_task_policy(&policy);
        *self.inner.policy.lock().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    /// Starts a task unless it is known already (then its current state is published again).
    /// A task the cluster's policy forbids is not started: it is reported STOPPED as a failed
    /// start, whoever asked for it.
    pub fn start(&self, spec: TaskSpec) {
        let refused = self.inner.policy.lock().unwrap_or_else(|e| e.into_inner()).check_spec(&spec);
        if let Err(reason) = refused {
            tracing::warn!(task = %spec.task_id, %reason, "start refused by the cluster's task policy");
            if !self.tasks().contains_key(&spec.task_id) {
                self.stop(&spec.task_id, &format!("CannotStartContainerError: {reason}"));
            }
            return;
        }
        // ECS's reason when a task's secrets cannot be fetched.
        if let Some(problem) = spec.secrets_problem() {
            tracing::warn!(task = %spec.task_id, %problem, "start refused: a secret was not delivered");
            if !self.tasks().contains_key(&spec.task_id) {
                self.stop(&spec.task_id, &format!("ResourceInitializationError: unable to pull secrets or registry auth: {problem}"));
            }
            return;
        }
        self.launch(spec, Vec::new());
    }

    fn launch(&self, spec: TaskSpec, found: Vec<Found>) {
        let (stop_tx, stop_rx) = watch::channel(None);
        {
            let mut tasks = self.tasks();
            if let Some(existing) = tasks.get(&spec.task_id) {
                let _ = self.inner.reports.send(existing.report.clone());
                return;
            }
            let report = initial_report(&spec);
            let runtime_ids = found.iter().map(|f| (f.container.clone(), f.runtime_id.clone())).collect();
            tasks.insert(spec.task_id.clone(), Entry { report, runtime_ids, stop: stop_tx, stopped_at: None });
        }
        if let Some(state) = &self.inner.state
            && let Err(e) = state.save_task(&spec) {
                tracing::warn!(task = %spec.task_id, error = %e, "cannot save the task spec; a restart will not know it");
            }
        tracing::info!(task = %spec.task_id, task_definition = %spec.task_definition, adopted = !found.is_empty(), "task starting");
        let me = self.clone();
        tokio::spawn(async move { me.run(spec, stop_rx).await });
    }

    /// Stops a task. A task the agent does not know is reported STOPPED at once, so the
    /// control plane can close its record, and remembered as stopped (until the cleanup wait),
    /// so its start, should it arrive after the stop, starts nothing.
    pub fn stop(&self, task_id: &str, reason: &str) {
        let mut tasks = self.tasks();
        match tasks.get(task_id) {
            Some(entry) => {
                entry.stop.send_if_modified(|r| {
                    let first = r.is_none();
                    if first {
                        *r = Some(reason.to_string());
                    }
                    first
                });
            }
            None => {
                let report = TaskReport {
                    task_id: task_id.to_string(),
                    last_status: "STOPPED".into(),
                    stopped_reason: Some(reason.to_string()),
                    containers: Vec::new(),
                };
                let _ = self.inner.reports.send(report.clone());
                let stopped = Entry { report, runtime_ids: BTreeMap::new(), stop: watch::channel(None).0, stopped_at: Some(Instant::now()) };
                tasks.insert(task_id.to_string(), stopped);
                let (me, id) = (self.clone(), task_id.to_string());
                tokio::spawn(async move {
                    tokio::time::sleep(me.inner.cleanup_after).await;
                    me.tasks().remove(&id);
                });
            }
        }
    }

    /// Stops everything (deregistration).
    pub fn stop_all(&self, reason: &str) {
        let ids: Vec<String> = self.tasks().keys().cloned().collect();
        for id in ids {
            self.stop(&id, reason);
        }
    }

    /// After a restart: takes over the containers of this instance the runtime finds for
    /// saved tasks, and removes the instance's containers nobody can account for.
    pub async fn adopt(&self, instance_id: &str) -> Result<usize, RuntimeError> {
        let found = self.inner.runtime.find(instance_id).await?;
        let specs: HashMap<String, TaskSpec> = match &self.inner.state {
            Some(state) => state.tasks().into_iter().map(|s| (s.task_id.clone(), s)).collect(),
            None => HashMap::new(),
        };
        let mut by_task: HashMap<String, Vec<Found>> = HashMap::new();
        for f in found {
            if specs.contains_key(&f.task_id) {
                by_task.entry(f.task_id.clone()).or_default().push(f);
            } else {
                tracing::warn!(task = %f.task_id, container = %f.container, "container of an unknown task; stopping and removing it");
                let _ = self.inner.runtime.stop(&f.runtime_id, Duration::from_secs(10)).await;
                self.inner.runtime.remove(&f.runtime_id).await;
            }
        }
        let adopted = specs.len();
        for (id, spec) in specs {
            self.launch(spec, by_task.remove(&id).unwrap_or_default());
        }
        Ok(adopted)
    }

    fn publish(&self, report: &TaskReport, runtime_ids: &BTreeMap<String, String>) {
        let mut tasks = self.tasks();
        if let Some(entry) = tasks.get_mut(&report.task_id) {
            if entry.report == *report && entry.runtime_ids == *runtime_ids {
                return;
            }
            entry.report = report.clone();
            entry.runtime_ids = runtime_ids.clone();
            if report.last_status == "STOPPED" {
                entry.stopped_at = Some(Instant::now());
            }
        }
        let _ = self.inner.reports.send(report.clone());
    }

    async fn run(self, spec: TaskSpec, mut stop: watch::Receiver<Option<String>>) {
        let runtime = self.inner.runtime.clone();
        let mut run = TaskRun::new(&spec, self.tasks().get(&spec.task_id).map(|e| e.runtime_ids.clone()).unwrap_or_default());
        // Adopted containers: read their state before deciding anything.
        for (name, id) in run.ids.clone() {
            if let Some(c) = spec.containers.iter().find(|c| c.name == name) {
                runtime.adopted(&spec, c, &id).await;
            }
            run.observe(&*runtime, &name, &id).await;
        }
        let mut changes = runtime.changes();
        let mut reason = match spec.check_limits() {
            Err(m) => Some(format!("CannotStartContainerError: {m}")),
            Ok(()) => run.start_all(&*runtime, &spec, &mut stop, |r, ids| self.publish(r, ids)).await,
        };
        self.publish(&run.report, &run.ids);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + runtime.watch_every(), runtime.watch_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while reason.is_none() {
            let look = tokio::select! {
                _ = stop.changed() => {
                    reason = stop.borrow().clone();
                    false
                }
                _ = tick.tick() => true,
                changed = next_change(&mut changes) => changed.is_none_or(|id| run.ids.values().any(|mine| *mine == id)),
            };
            if look && reason.is_none() {
                reason = run.watch(&*runtime, &spec).await;
                self.publish(&run.report, &run.ids);
            }
        }
        let reason = reason.unwrap_or_default();
        run.stop_all(&*runtime, &spec, &reason).await;
        self.publish(&run.report, &run.ids);
        tracing::info!(task = %spec.task_id, %reason, "task stopped");
        if let Some(state) = &self.inner.state {
            state.forget_task(&spec.task_id);
        }
        // Keep the stopped containers a while for their logs and exit codes, then clean up. The
        // wait holds only what the cleanup needs, not this task's whole run.
        let ids: Vec<String> = run.ids.into_values().collect();
        let leftovers = TaskSpec { containers: Vec::new(), ..spec };
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(me.inner.cleanup_after).await;
            for id in &ids {
                me.inner.runtime.remove(id).await;
            }
            me.inner.runtime.cleanup_task(&leftovers).await;
            me.tasks().remove(&leftovers.task_id);
            tracing::debug!(task = %leftovers.task_id, "stopped task cleaned up");
        });
    }
}

/// The next container the runtime says changed; None when some were missed (look anyway).
/// Never returns for a runtime that announces nothing.
async fn next_change(changes: &mut Option<tokio::sync::broadcast::Receiver<String>>) -> Option<String> {
    let Some(rx) = changes else { return std::future::pending().await };
    match rx.recv().await {
        Ok(id) => Some(id),
        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
            *changes = None;
            std::future::pending().await
        }
    }
}

fn initial_report(spec: &TaskSpec) -> TaskReport {
    TaskReport {
        task_id: spec.task_id.clone(),
        last_status: "PENDING".into(),
        stopped_reason: None,
        containers: spec
            .containers
            .iter()
            .map(|c| ContainerReport {
                name: c.name.clone(),
                runtime_id: None,
                last_status: "PENDING".into(),
                exit_code: None,
                reason: None,
                health_status: c.health_check.as_ref().map(|_| "UNKNOWN".into()),
                network_bindings: Vec::new(),
            })
            .collect(),
    }
}

/// Containers in an order where each comes after what it depends on (definition order
/// otherwise; a cycle, which validation rejects, falls back to definition order).
fn start_order(spec: &TaskSpec) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::new();
    let mut progress = true;
    while order.len() < spec.containers.len() && progress {
        progress = false;
        for (i, c) in spec.containers.iter().enumerate() {
            if order.contains(&i) {
                continue;
            }
            let ready = c.depends_on.iter().all(|d| {
                spec.containers.iter().position(|o| o.name == d.container_name).is_none_or(|j| order.contains(&j))
            });
            if ready {
                order.push(i);
                progress = true;
            }
        }
    }
    for i in 0..spec.containers.len() {
        if !order.contains(&i) {
            order.push(i);
        }
    }
    order
}

/// One task's containers as the supervisor tracks them.
struct TaskRun {
    report: TaskReport,
    ids: BTreeMap<String, String>,
}

enum Condition {
    Met,
    Waiting,
    Failed(String),
}

impl TaskRun {
    fn new(spec: &TaskSpec, ids: BTreeMap<String, String>) -> Self {
        let mut report = initial_report(spec);
        for c in &mut report.containers {
            c.runtime_id = ids.get(&c.name).cloned();
        }
        Self { report, ids }
    }

    fn container(&mut self, name: &str) -> &mut ContainerReport {
        let i = self.report.containers.iter().position(|c| c.name == name).unwrap_or(0);
        &mut self.report.containers[i]
    }

    fn status(&self, name: &str) -> Option<&ContainerReport> {
        self.report.containers.iter().find(|c| c.name == name)
    }

    /// Reads one container's state into the report.
    async fn observe(&mut self, runtime: &dyn Runtime, name: &str, id: &str) {
        let observed = runtime.observe(id).await;
        let c = self.container(name);
        match observed {
            Ok(o) if o.pending => c.last_status = "PENDING".into(),
            Ok(o) if o.running => {
                c.last_status = "RUNNING".into();
                c.health_status = o.health.or(c.health_status.take());
                if !o.bindings.is_empty() {
                    c.network_bindings = o.bindings;
                }
            }
            Ok(o) => {
                c.last_status = "STOPPED".into();
                c.exit_code = o.exit_code.or(c.exit_code);
                c.reason = o.reason.or(c.reason.take());
                c.health_status = o.health.or(c.health_status.take());
                c.network_bindings.clear();
            }
            Err(RuntimeError::Gone) => {
                if c.last_status != "STOPPED" {
                    c.last_status = "STOPPED".into();
                    c.reason.get_or_insert_with(|| "the container disappeared from the host".into());
                }
                c.network_bindings.clear();
            }
            Err(e) => tracing::warn!(container = %name, error = %e, "cannot look at the container"),
        }
    }

    fn condition(&self, spec: &ContainerSpec, dep: &str, condition: &str) -> Condition {
        let Some(d) = self.status(dep) else { return Condition::Met };
        let stopped = d.last_status == "STOPPED";
        match condition {
            "COMPLETE" if stopped => Condition::Met,
            "SUCCESS" if stopped && d.exit_code == Some(0) => Condition::Met,
            "SUCCESS" if stopped => Condition::Failed(format!(
                "container {dep} exited with code {}, and {} needs it to succeed",
                d.exit_code.map_or("unknown".into(), |c| c.to_string()),
                spec.name
            )),
            "HEALTHY" if d.health_status.as_deref() == Some("HEALTHY") => Condition::Met,
            "HEALTHY" if stopped || d.health_status.as_deref() == Some("UNHEALTHY") => {
                Condition::Failed(format!("container {dep} did not become healthy, and {} needs it to", spec.name))
            }
            "START" if d.last_status == "RUNNING" || stopped => Condition::Met,
            _ => Condition::Waiting,
        }
    }

    /// Starts the containers in order; returns a stop reason if the task cannot run (or a stop
    /// was asked meanwhile).
    async fn start_all(
        &mut self,
        runtime: &dyn Runtime,
        spec: &TaskSpec,
        stop: &mut watch::Receiver<Option<String>>,
        publish: impl Fn(&TaskReport, &BTreeMap<String, String>),
    ) -> Option<String> {
        let order = start_order(spec);
        let last = order.last().copied();
        for i in order {
            let c = &spec.containers[i];
            if self.ids.contains_key(&c.name) && self.status(&c.name).is_some_and(|s| s.last_status != "PENDING") {
                continue;
            }
            let deadline = Instant::now() + c.start_timeout.map_or(DEFAULT_START_TIMEOUT, Duration::from_secs);
            for dep in &c.depends_on {
                loop {
                    if let Some(r) = stop.borrow().clone() {
                        return Some(r);
                    }
                    if let Some(id) = self.ids.get(&dep.container_name).cloned() {
                        self.observe(runtime, &dep.container_name, &id).await;
                    }
                    match self.condition(c, &dep.container_name, &dep.condition) {
                        Condition::Met => break,
                        Condition::Failed(why) => return Some(format!("DependencyError: {why}")),
                        Condition::Waiting if Instant::now() > deadline => {
                            return Some(format!(
                                "DependencyError: container {} did not reach {} within the start timeout of {}",
                                dep.container_name, dep.condition, c.name
                            ));
                        }
                        Condition::Waiting => {
                            publish(&self.report, &self.ids);
                            tokio::select! {
                                _ = stop.changed() => {}
                                _ = tokio::time::sleep(WATCH_EVERY) => {}
                            }
                        }
                    }
                }
            }
            // Secret values are not kept on disk: after a restart, a container not yet created
            // cannot be, and the task fails as ECS's does when its secrets cannot be fetched.
            if let Some(s) = c.secrets.iter().find(|s| s.value.is_none()) {
                let reason = format!("ResourceInitializationError: unable to pull secrets or registry auth: the value of {} is not on this host (the agent restarted)", s.name);
                let r = self.container(&c.name);
                r.last_status = "STOPPED".into();
                r.reason = Some(reason.clone());
                return Some(reason);
            }
            // A stop asked for while a start hangs (an image pull, a slow engine) is not kept
            // waiting: the start is given up and what it left removed.
            let started = tokio::select! {
                started = runtime.start(spec, c) => started,
                reason = stopped(stop) => {
                    runtime.abandon_start(spec, c).await;
                    return Some(reason);
                }
            };
            match started {
                Ok(started) => {
                    self.ids.insert(c.name.clone(), started.runtime_id.clone());
                    let r = self.container(&c.name);
                    r.runtime_id = Some(started.runtime_id);
                    r.last_status = "RUNNING".into();
                    r.network_bindings = started.bindings;
                }
                Err(e) => {
                    let r = self.container(&c.name);
                    r.last_status = "STOPPED".into();
                    r.reason = Some(cannot_start(&e));
                    if c.essential {
                        return Some(cannot_start(&e));
                    }
                }
            }
            // After the last container the caller reports the task RUNNING: one report, not two.
            if Some(i) != last {
                publish(&self.report, &self.ids);
            }
        }
        self.report.last_status = "RUNNING".into();
        None
    }

    /// One look at every container; a stop reason when an essential one stopped.
    async fn watch(&mut self, runtime: &dyn Runtime, spec: &TaskSpec) -> Option<String> {
        for (name, id) in self.ids.clone() {
            if self.status(&name).is_some_and(|s| s.last_status != "STOPPED") {
                self.observe(runtime, &name, &id).await;
            }
        }
        let essential_stopped = spec
            .containers
            .iter()
            .any(|c| c.essential && self.status(&c.name).is_some_and(|s| s.last_status == "STOPPED"));
        essential_stopped.then(|| ESSENTIAL_CONTAINER_EXITED.to_string())
    }

    /// Stops the running containers in reverse start order, then marks the task STOPPED.
    async fn stop_all(&mut self, runtime: &dyn Runtime, spec: &TaskSpec, reason: &str) {
        for i in start_order(spec).into_iter().rev() {
            let c = &spec.containers[i];
            let Some(id) = self.ids.get(&c.name).cloned() else {
                let r = self.container(&c.name);
                r.last_status = "STOPPED".into();
                continue;
            };
            if self.status(&c.name).is_some_and(|s| s.last_status != "STOPPED")
                && let Err(e) = runtime.stop(&id, Duration::from_secs(c.stop_timeout)).await {
                    tracing::warn!(container = %c.name, error = %e, "stop failed");
                }
            self.observe(runtime, &c.name, &id).await;
            let r = self.container(&c.name);
            r.last_status = "STOPPED".into();
            r.network_bindings.clear();
        }
        self.report.last_status = "STOPPED".into();
        self.report.stopped_reason.get_or_insert_with(|| reason.to_string());
    }
}

/// Waits until a stop is asked for; returns its reason.
async fn stopped(stop: &mut watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(r) = stop.borrow_and_update().clone() {
            return r;
        }
        if stop.changed().await.is_err() {
            // The sender is gone with the task's entry: nothing will ever ask again.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_core::protocol::DependencySpec;

    fn container(name: &str, deps: &[&str]) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: "i".into(),
            memory: Some(16),
            essential: true,
            depends_on: deps.iter().map(|d| DependencySpec { container_name: d.to_string(), condition: "START".into() }).collect(),
            stop_timeout: 2,
            ..Default::default()
        }
    }

    /// A start that arrives after its task's stop (each sent after its own commit, so they
    /// can cross) starts nothing: the stop of an unknown task is remembered.
    #[tokio::test]
    async fn a_start_after_its_stop_starts_nothing() {
        let (supervisor, mut reports) = Supervisor::new(Arc::new(crate::runtime::simulated::Simulated::default()), None, Duration::from_secs(3600));
        supervisor.stop("t", "Task stopped by user");
        assert_eq!(reports.recv().await.unwrap().last_status, "STOPPED");
        let spec = task("t", vec![container("app", &[])]);
        supervisor.start(spec.clone());
        let again = reports.recv().await.unwrap();
        assert_eq!((again.task_id.as_str(), again.last_status.as_str()), ("t", "STOPPED"));
        assert_eq!(supervisor.running_count(), 0);
        // A task it never heard of starts as before.
        supervisor.start(TaskSpec { task_id: "u".into(), ..spec });
        assert_eq!(supervisor.running_count(), 1);
    }

    fn task(id: &str, containers: Vec<ContainerSpec>) -> TaskSpec {
        TaskSpec {
            task_id: id.into(),
            task_arn: "a".into(),
            cluster: "c".into(),
            container_instance_id: "i".into(),
            task_definition: "f:1".into(),
            group: None,
            network_mode: "bridge".into(),
            volumes: vec![],
            containers,
        }
    }

    /// A start the cluster's policy forbids is refused on the host, whoever sent it: reported
    /// STOPPED as a failed start, nothing run.
    #[tokio::test]
    async fn a_start_the_task_policy_forbids_runs_nothing() {
        let (supervisor, mut reports) = Supervisor::new(Arc::new(crate::runtime::simulated::Simulated::default()), None, Duration::from_secs(3600));
        supervisor.set_task_policy(TaskPolicy::default());
        let mut forged = task("t", vec![ContainerSpec { privileged: true, ..container("app", &[]) }]);
        forged.volumes = vec![wharf_core::protocol::VolumeSpec { name: "root".into(), host_path: Some("/".into()) }];
        supervisor.start(forged.clone());
        let report = reports.recv().await.unwrap();
        assert_eq!(report.last_status, "STOPPED");
        assert!(report.stopped_reason.as_deref().unwrap().starts_with("CannotStartContainerError: the host path '/'"), "{report:?}");
        assert_eq!(supervisor.running_count(), 0);
        // Once the policy allows it, a task of another id starts.
        supervisor.set_task_policy(TaskPolicy::privileged());
        supervisor.start(TaskSpec { task_id: "u".into(), ..forged });
        assert_eq!(supervisor.running_count(), 1);
    }

    #[test]
    fn dependencies_start_first() {
        let spec = task("t", vec![container("app", &["db", "init"]), container("db", &["init"]), container("init", &[])]);
        assert_eq!(start_order(&spec), [2, 1, 0]);
    }
}
