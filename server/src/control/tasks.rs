/*!
Tasks the user starts and stops by hand (ECS StartTask, StopTask), container instance state
(DRAINING, deregistration) and log requests. Store changes commit first; the messages to
agents go out after, and an agent that misses one gets the same state at its next hello.
*/

use super::agents::{json, mark_stopped};
use super::{check_task_policy, cluster_not_found, resolve_task_definition};
use crate::agents::{Agents, LogChunk};
use crate::store::{self, Store, clusters, instances, run_tokens, scheduling, services, tasks};
use tokio::sync::mpsc;
use wharf_app::backend::Result;
use wharf_core::WharfError;
use wharf_core::instance::ContainerInstance;
use wharf_core::protocol::{ServerMessage, TaskSpec, task_reservation};
use wharf_core::task::Task;
use wharf_core::task_definition::{TaskDefinition, TaskDefinitionStatus};
use wharf_core::task_input::{Failure, RunTask, RunTaskInput, StartTaskInput, StopTaskInput, TasksStarted, UpdateInstanceInput};
use std::collections::HashMap;
use wharf_scheduler::{Constraint, Demand, Explanation, Instance, Rejection, Request, Strategy};

/// Reason given to tasks of an instance that is deregistered.
pub const INSTANCE_DEREGISTERED: &str = "Container instance deregistered";

pub async fn start(store: &Store, agents: &Agents, cluster: &str, input: StartTaskInput) -> Result<TasksStarted> {
    let request = input.validate()?;
    let now = store::now();
    let mut w = store.write().await?;
    let found = clusters::get(w.conn(), cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let definition = resolve_task_definition(w.conn(), &request.task_definition).await?;
    check_task_policy(&found, &definition)?;
    if definition.status == TaskDefinitionStatus::Inactive {
        return Err(WharfError::invalid_field("taskDefinition", format!("{} is INACTIVE; run an ACTIVE revision", definition.name())));
    }
    let mut started = Vec::new();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let template = Template::of(&definition, cluster, request.group.as_deref());
    let group = request.group.clone().unwrap_or_else(|| format!("family:{}", definition.family()));
    let demand = crate::scheduling::snapshot::demand_of(&definition, &group);
    // Each named instance as it stands in this transaction (the writer lock keeps it so),
    // charged with every task this request books on it: naming an instance twice books twice.
    let mut named: HashMap<&str, Option<Instance>> = HashMap::new();
    for id in &request.container_instances {
        if !named.contains_key(id.as_str()) {
            let found = instances::get(w.conn(), cluster, id).await?;
            named.insert(id, found.map(|ci| crate::scheduling::snapshot::bookable(&ci, agents.is_connected(id))));
        }
        let arn = wharf_core::arn::container_instance(cluster, id);
        let Some(Some(instance)) = named.get_mut(id.as_str()) else {
            failures.push(Failure { arn, reason: "MISSING".into(), detail: format!("no container instance '{id}' in cluster '{cluster}'") });
            continue;
        };
        // StartTask places where it is told: ECS checks resources, ports and attributes, not
        // placement constraints.
        if let Err(rejection) = wharf_scheduler::rules::check(instance, &demand, &[]) {
            failures.push(Failure { arn, reason: failure_code(&rejection), detail: refusal_detail(&rejection, instance, &demand) });
            continue;
        }
        instance.take(&demand);
        let (row, spec) = template.launch(id, request.started_by.as_deref(), None);
        rows.push(row);
        started.push((id.clone(), spec));
    }
    let tasks = commit_started(w, agents, cluster, rows, started, &now).await?;
    Ok(TasksStarted { tasks, failures })
}

/// ECS RunTask: the scheduler places `count` tasks; what it could not place comes back as
/// failures that say why, counted per reason.
pub async fn run(store: &Store, agents: &Agents, cluster: &str, input: RunTaskInput) -> Result<TasksStarted> {
    let request = input.validate()?;
    let now = store::now();
    let mut w = store.write().await?;
    let found = clusters::get(w.conn(), cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    if let Some(token) = &request.client_token
        && let Some(first) = run_tokens::get(w.conn(), cluster, token).await?
    {
        return replay(w.conn(), cluster, &request, first).await;
    }
    let definition = resolve_task_definition(w.conn(), &request.start.task_definition).await?;
    check_task_policy(&found, &definition)?;
    if definition.status == TaskDefinitionStatus::Inactive {
        return Err(WharfError::invalid_field("taskDefinition", format!("{} is INACTIVE; run an ACTIVE revision", definition.name())));
    }
    let group = request.start.group.clone().unwrap_or_else(|| format!("family:{}", definition.family()));
    let mut given = request.placement_constraints.clone();
    given.extend(definition.spec.placement_constraints.clone().unwrap_or_default());
    let constraints = Constraint::from_ecs(&given).map_err(|e| WharfError::invalid_field("placementConstraints", e))?;
    let strategies = Strategy::list_or_default(&request.placement_strategy);
    let instances = instances::all(w.conn(), cluster).await?;
    let live = store::scheduling::live_tasks(w.conn(), cluster).await?;
    let live: Vec<&store::scheduling::LiveTask> = live.iter().collect();
    let mut state = crate::scheduling::snapshot::build(&instances, &live, std::time::Duration::MAX);
    let demand = crate::scheduling::snapshot::demand_of(&definition, &group);
    let seed = uuid::Uuid::new_v4().as_u64_pair().0;
    let plan = state.snapshot.place(&Request { demand: &demand, count: request.count, strategies: &strategies, constraints: &constraints, seed });
    let mut started = Vec::new();
    let mut rows = Vec::new();
    let template = Template::of(&definition, cluster, Some(&group));
    for pos in plan.placed {
        let instance_id = state.snapshot.instances[pos].id.clone();
        let (row, spec) = template.launch(&instance_id, request.start.started_by.as_deref(), None);
        rows.push(row);
        started.push((instance_id, spec));
    }
    let failures = plan.explanation.map(|e| placement_failures(cluster, &e)).unwrap_or_default();
    if let Some(token) = &request.client_token {
        let task_ids = started.iter().map(|(_, spec)| spec.task_id.clone()).collect();
        let remembered = run_tokens::Remembered { request: request.fingerprint.clone(), task_ids, failures: failures.clone() };
        run_tokens::insert(w.conn(), cluster, token, &remembered, &now).await?;
    }
    let out = commit_started(w, agents, cluster, rows, started, &now).await?;
    Ok(TasksStarted { tasks: out, failures })
}

/// A RunTask retried with its client token: the first call's tasks (as they are now) and
/// failures, or a refusal when the token came with another request.
async fn replay(conn: &mut sqlx::AnyConnection, cluster: &str, request: &RunTask, first: run_tokens::Remembered) -> Result<TasksStarted> {
    if first.request != request.fingerprint {
        return Err(WharfError::invalid_field(
            "clientToken",
            "this client token was used for a different RunTask request in this cluster; use a new token for a new request",
        ));
    }
    let mut out = Vec::with_capacity(first.task_ids.len());
    for id in &first.task_ids {
        // A task past its retention is gone; the rest come back as they are now.
        if let Some(task) = tasks::get(conn, cluster, id).await? {
            out.push(task);
        }
    }
    Ok(TasksStarted { tasks: out, failures: first.failures })
}

/// Inserts the new tasks, commits, then tells their agents; returns the tasks as stored.
async fn commit_started(
    mut w: store::WriteTx,
    agents: &Agents,
    cluster: &str,
    rows: Vec<tasks::NewTask>,
    started: Vec<(String, TaskSpec)>,
    now: &str,
) -> Result<Vec<Task>> {
    tasks::insert(w.conn(), &rows, now).await?;
    w.touch_live_tasks(cluster);
    let mut out = Vec::with_capacity(started.len());
    for (_, spec) in &started {
        out.push(tasks::get(w.conn(), cluster, &spec.task_id).await?.ok_or_else(WharfError::internal)?);
    }
    w.commit().await?;
    for (instance, spec) in started {
        tracing::info!(task = %spec.task_id, %instance, task_definition = %spec.task_definition, "task started");
        agents.send(&instance, ServerMessage::StartTask { task: spec });
    }
    Ok(out)
}

/// An explanation as ECS-style failures: one per reason, with ECS's codes.
fn placement_failures(cluster: &str, e: &Explanation) -> Vec<Failure> {
    let arn = wharf_core::arn::cluster(cluster);
    if e.rejected.is_empty() {
        return vec![Failure { arn, reason: "MISSING".into(), detail: e.to_string() }];
    }
    e.rejected.iter().map(|r| Failure { arn: arn.clone(), reason: failure_code(&r.rejection), detail: r.to_string() }).collect()
}

/// ECS's failure code for a filter's rejection.
fn failure_code(rejection: &Rejection) -> String {
    match rejection {
        Rejection::Status(s) => s.to_string(),
        Rejection::Disconnected => "AGENT".into(),
        Rejection::MissingAttribute(_) => "ATTRIBUTE".into(),
        Rejection::Constraint(_) | Rejection::DistinctInstance => "CONSTRAINT".into(),
        Rejection::Cpu => "RESOURCE:CPU".into(),
        Rejection::Memory => "RESOURCE:MEMORY".into(),
        Rejection::Port(_) => "RESOURCE:PORTS".into(),
    }
}

/// Why StartTask's instance refused, with the figures that decided it.
fn refusal_detail(rejection: &Rejection, instance: &Instance, demand: &Demand) -> String {
    match rejection {
        Rejection::Status(s) => format!("the container instance is {s}; only ACTIVE instances take new tasks"),
        Rejection::Disconnected => "the instance's agent is not connected".into(),
        Rejection::MissingAttribute(a) => format!("the instance lacks the attribute {a}"),
        Rejection::Constraint(e) => format!("the constraint `{e}` is not met"),
        Rejection::DistinctInstance => "the instance already runs a task of this group".into(),
        Rejection::Cpu => format!("needs {} CPU units, {} free", demand.cpu, instance.cpu.max(0)),
        Rejection::Memory => format!("needs {} MiB, {} free", demand.memory, instance.memory.max(0)),
        Rejection::Port(p) => format!("host port {} is in use", if p.udp { format!("{}/udp", p.port) } else { format!("{}/tcp", p.port) }),
    }
}

/// What every task of one revision and group shares, worked out once for many launches.
pub(crate) struct Template {
    spec: TaskSpec,
    task_definition: String,
    containers: String,
    cpu: i64,
    memory: i64,
    host_ports: String,
}

impl Template {
    pub fn of(definition: &TaskDefinition, cluster: &str, group: Option<&str>) -> Self {
        let spec = TaskSpec::from_definition(definition, cluster, "", "", group.map(str::to_string));
        let (cpu, memory) = task_reservation(definition);
        let ports: Vec<String> = spec.static_host_ports().iter().map(|(p, n)| format!("{p}:{n}")).collect();
        Self {
            task_definition: definition.name(),
            containers: json(&Task::containers_from(definition)),
            cpu,
            memory,
            host_ports: json(&ports),
            spec,
        }
    }

    /// A new PENDING task's row with what it reserves, and the spec its agent runs.
    pub fn launch(&self, instance_id: &str, started_by: Option<&str>, service_id: Option<&str>) -> (tasks::NewTask, TaskSpec) {
        // Time-ordered (UUIDv7, 32 hex digits like ECS's): ids sort by creation, and new rows
        // append to the id indexes instead of landing on random pages.
        let task_id = uuid::Uuid::now_v7().simple().to_string();
        let mut spec = self.spec.clone();
        spec.task_arn = wharf_core::arn::task(&spec.cluster, &task_id);
        spec.container_instance_id = instance_id.to_string();
        spec.task_id = task_id.clone();
        let row = tasks::NewTask {
            id: task_id,
            cluster: spec.cluster.clone(),
            task_definition: self.task_definition.clone(),
            container_instance_id: instance_id.to_string(),
            group: spec.group.clone(),
            started_by: started_by.map(str::to_string),
            service_id: service_id.map(str::to_string),
            containers: self.containers.clone(),
            cpu: self.cpu,
            memory: self.memory,
            host_ports: self.host_ports.clone(),
        };
        (row, spec)
    }
}

pub async fn stop(store: &Store, agents: &Agents, cluster: &str, id: &str, input: StopTaskInput) -> Result<Task> {
    let reason = input.validate()?;
    let now = store::now();
    let mut w = store.write().await?;
    let Some((mut task, instance)) = tasks::get_by_id(w.conn(), id).await?.filter(|(t, _)| t.cluster_arn == wharf_core::arn::cluster(cluster)) else {
        return Err(WharfError::not_found(format!("no task '{id}' in cluster '{cluster}'")));
    };
    // Stopped, or draining out of its target groups (the deregistration stops it): asking
    // again changes nothing.
    if task.last_status == "STOPPED" || task.last_status == "DEACTIVATING" {
        return Ok(task);
    }
    task.desired_status = "STOPPED".into();
    task.stopped_reason.get_or_insert(reason.clone());
    let reachable = match &instance {
        Some(i) => instances::get(w.conn(), cluster, i).await?.is_some_and(|i| i.status != "INACTIVE"),
        None => false,
    };
    if !reachable {
        mark_stopped(&mut task, None, &now);
    } else if task.last_status == "RUNNING"
        && let Some(config) = services::config_of_task(w.conn(), &task.id).await?
        && let Some(delay) = super::load_balancing::drain_delay(w.conn(), &config).await?
        // A service's task behind a load balancer drains out of it first (ECS's
        // DEACTIVATING); the scheduling pass sends the stop. One already asked to stop is not
        // taken out again, and stops as below.
        && scheduling::deactivate(w.conn(), scheduling::Deactivate::Task(&task.id), &reason, &store::after_seconds(delay)).await? > 0
    {
        task.last_status = "DEACTIVATING".into();
        w.touch_live_tasks(cluster);
        w.commit().await?;
        return Ok(task);
    }
    let ports = json(&super::agents::held_ports(w.conn(), &mut Default::default(), &task).await?);
    tasks::save_state(w.conn(), &task, &ports).await?;
    w.touch_live_tasks(cluster);
    w.commit().await?;
    if let (Some(instance), true) = (instance, reachable) {
        agents.send(&instance, ServerMessage::StopTask { task_id: task.id.clone(), reason: task.stopped_reason.clone().unwrap_or(reason) });
    }
    Ok(task)
}

pub async fn update_state(store: &Store, agents: &Agents, cluster: &str, id: &str, input: UpdateInstanceInput) -> Result<ContainerInstance> {
    let status = input.validate()?;
    let mut w = store.write().await?;
    let instance = instances::get(w.conn(), cluster, id).await?.ok_or_else(|| instance_not_found(cluster, id))?;
    if instance.status == "INACTIVE" {
        return Err(WharfError::conflict(format!("container instance '{id}' is deregistered")));
    }
    instances::set_status(w.conn(), id, &status, &store::now()).await?;
    let updated = instances::get(w.conn(), cluster, id).await?.ok_or_else(WharfError::internal)?;
    w.commit().await?;
    agents.send(id, ServerMessage::Drain { draining: status == "DRAINING" });
    Ok(updated)
}

pub async fn deregister(store: &Store, agents: &Agents, cluster: &str, id: &str) -> Result<ContainerInstance> {
    let now = store::now();
    let mut w = store.write().await?;
    let instance = instances::get(w.conn(), cluster, id).await?.ok_or_else(|| instance_not_found(cluster, id))?;
    if instance.status == "INACTIVE" {
        return Ok(instance);
    }
    let live = tasks::live_on_instance(w.conn(), id).await?;
    for task in &live {
        let mut task = task.clone();
        mark_stopped(&mut task, Some(INSTANCE_DEREGISTERED.into()), &now);
        tasks::save_state(w.conn(), &task, "[]").await?;
    }
    instances::set_status(w.conn(), id, "INACTIVE", &now).await?;
    let updated = instances::get(w.conn(), cluster, id).await?.ok_or_else(WharfError::internal)?;
    w.touch_live_tasks(cluster);
    w.commit().await?;
    tracing::info!(instance = %id, tasks = live.len(), "container instance deregistered");
    for task in live {
        agents.send(id, ServerMessage::StopTask { task_id: task.id, reason: INSTANCE_DEREGISTERED.into() });
    }
    agents.send(id, ServerMessage::Deregistered {});
    Ok(updated)
}

fn instance_not_found(cluster: &str, id: &str) -> WharfError {
    WharfError::not_found(format!("no container instance '{id}' in cluster '{cluster}'"))
}

/// A log request in flight; dropping it tells the agent to stop sending.
pub struct LogStream {
    pub rx: mpsc::Receiver<LogChunk>,
    request_id: String,
    instance_id: String,
    agents: Agents,
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.agents.close_logs(&self.request_id);
        self.agents.send(&self.instance_id, ServerMessage::CancelLogs { request_id: self.request_id.clone() });
    }
}

pub struct LogQuery {
    pub container: Option<String>,
    pub tail: Option<u32>,
    pub follow: bool,
}

/// Asks the task's agent for a container's log (the last `tail` lines, then more if `follow`).
pub async fn logs(store: &Store, agents: &Agents, cluster: &str, id: &str, query: LogQuery) -> Result<LogStream> {
    let mut conn = store.pool().acquire().await.map_err(store::StoreError::from)?;
    let task = tasks::get(&mut conn, cluster, id).await?.ok_or_else(|| WharfError::not_found(format!("no task '{id}' in cluster '{cluster}'")))?;
    let container = match query.container {
        Some(name) if task.containers.iter().any(|c| c.name == name) => name,
        Some(name) => {
            let known: Vec<&str> = task.containers.iter().map(|c| c.name.as_str()).collect();
            return Err(WharfError::invalid_field("container", format!("the task has no container '{name}' (it has {})", known.join(", "))));
        }
        None => task.containers.first().map(|c| c.name.clone()).ok_or_else(WharfError::internal)?,
    };
    if query.tail.is_some_and(|t| t > 10_000) {
        return Err(WharfError::invalid_field("tail", "tail is at most 10000 lines"));
    }
    let instance_id = task
        .container_instance_arn
        .as_deref()
        .and_then(|a| a.rsplit('/').next())
        .map(str::to_string)
        .ok_or_else(|| WharfError::conflict("the task was never placed on an instance; it has no logs"))?;
    let (request_id, rx) = agents.open_logs(&instance_id);
    let message = ServerMessage::FetchLogs { request_id: request_id.clone(), task_id: id.into(), container, tail: query.tail, follow: query.follow };
    let stream = LogStream { rx, request_id, instance_id: instance_id.clone(), agents: agents.clone() };
    if !agents.send(&instance_id, message) {
        return Err(WharfError::conflict("the task's container instance is not connected; its logs are on the host"));
    }
    Ok(stream)
}
