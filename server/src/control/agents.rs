/*!
What agents tell the control plane, turned into store changes: the credential check at
connect, the hello that reconciles the instance's whole state, task state changes and
disconnects. Each is one transaction; the messages they return are sent after it commits.
*/

use crate::agents::TaskDelta;
use crate::store::{self, Store, instances, scheduling, task_definitions, tasks};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use wharf_app::backend::Result;
use wharf_core::instance::{HostFacts, VersionInfo};
use wharf_core::protocol::{ServerMessage, TaskReport, TaskSpec};
use wharf_core::task::Task;
use wharf_core::task_definition::{Attribute, TaskDefinition, TaskDefinitionRef};
use wharf_core::{FieldErrors, WharfError};

pub use super::registration::{AgentIdentity, authenticate};

/// Reason given when an agent reports a task the control plane has no record of.
pub const UNKNOWN_TASK: &str = "Task is not known to the control plane";
/// Reason given when a RUNNING task is missing from its agent's report.
pub use wharf_core::task::TASK_LOST;

/// The facts of an agent's hello, as the session hands them over.
pub struct Hello {
    pub hostname: String,
    pub cpu: i64,
    pub memory: i64,
    pub attributes: Vec<wharf_core::task_definition::Attribute>,
    pub agent_version: String,
    pub docker_version: Option<String>,
    pub runtime: String,
    pub tasks: Vec<TaskReport>,
    /// The address the agent connected from.
    pub address: Option<String>,
}

/// Records the host's facts and reconciles tasks: returns the starts and stops that make the
/// agent run exactly what the store wants on this instance.
pub async fn hello(store: &Store, who: &AgentIdentity, hello: Hello) -> Result<Vec<ServerMessage>> {
    let mut errors = FieldErrors::new();
    let host = HostFacts::check(&mut errors, Some(hello.hostname), Some(hello.cpu), Some(hello.memory), Some(hello.attributes));
    if !["docker", "process", "simulated"].contains(&hello.runtime.as_str()) {
        errors.push("runtime", format!("'{}' is not one of docker, process, simulated", hello.runtime));
    }
    if hello.agent_version.is_empty() || hello.agent_version.len() > 64 {
        errors.push("agentVersion", "an agent version is 1 to 64 characters");
    }
    check_reports(&mut errors, &hello.tasks);
    errors.finish(())?;
    let version = VersionInfo { agent_version: Some(hello.agent_version), docker_version: hello.docker_version };
    let now = store::now();
    let mut w = store.write().await?;
    let (trusted_names, from_token) = store::clusters::trust_of(w.conn(), &who.instance_id).await?;
    let attributes = weigh_claims(&host.hostname, host.attributes, &trusted_names, &from_token);
    let report = instances::HostReport {
        name: &host.hostname,
        resources: &json(&host.registered_resources),
        attributes: &json(&attributes),
        version_info: &json(&version),
        runtime: &hello.runtime,
        address: hello.address.as_deref(),
    };
    instances::connected(w.conn(), &who.instance_id, &report, &now).await?;

    let (out, _) = reconcile_tasks(w.conn(), who, &hello.tasks, &now, Mode::Write).await?.ok_or_else(WharfError::internal)?;
    // The scheduler is woken to reload on a hello anyway; its copy goes stale all the same.
    w.touch_live_tasks(&who.cluster);
    w.commit().await?;
    Ok(out)
}

/// The agent's digest, sent every few heartbeats while connected: the same reconcile as a
/// hello's, so what a lost message left undone is done now. Most digests change nothing; those
/// are answered from a plain read, without waiting for the writer.
pub async fn reconcile(store: &Store, who: &AgentIdentity, tasks: &[TaskReport]) -> Result<Vec<ServerMessage>> {
    let mut errors = FieldErrors::new();
    check_reports(&mut errors, tasks);
    errors.finish(())?;
    let now = store::now();
    {
        let mut conn = store.pool().acquire().await.map_err(store::StoreError::from)?;
        if let Some((out, _)) = reconcile_tasks(&mut conn, who, tasks, &now, Mode::ReadOnly).await? {
            return Ok(out);
        }
    }
    let mut w = store.write().await?;
    let (out, changed) = reconcile_tasks(w.conn(), who, tasks, &now, Mode::Write).await?.ok_or_else(WharfError::internal)?;
    if changed {
        w.touch_live_tasks(&who.cluster);
    }
    w.commit().await?;
    Ok(out)
}

/// The host's attributes as placement sees them: what it may not say of itself is left out
/// (and logged), its join token's attributes put in.
pub fn weigh_claims(hostname: &str, claimed: Vec<Attribute>, trusted_names: &[String], from_token: &[Attribute]) -> Vec<Attribute> {
    let (attributes, ignored) = wharf_core::instance::trusted_view(claimed, trusted_names, from_token);
    for a in ignored {
        tracing::warn!(host = %hostname, attribute = %a.name, claimed = ?a.value, "a host's claim left out: its cluster takes this attribute only from join tokens");
    }
    attributes
}

/// ECS PutAttributes for one instance: replaces the attributes an admin gave it and weighs its
/// stored ones again, in one transaction. The names given before go first, so one no longer
/// given does not stay as if the host had said it (the host's own claim of it comes back at
/// its next hello).
pub async fn put_attributes(store: &Store, cluster: &str, id: &str, given: Vec<Attribute>) -> Result<wharf_core::instance::ContainerInstance> {
    let not_found = || WharfError::not_found(format!("no container instance '{id}' in cluster '{cluster}'"));
    let mut w = store.write().await?;
    let instance = instances::get(w.conn(), cluster, id).await?.filter(|i| i.status != "INACTIVE").ok_or_else(not_found)?;
    let before: BTreeSet<&str> = instance.admin_attributes.iter().map(|a| a.name.as_str()).collect();
    let stored: Vec<Attribute> = instance.attributes.iter().filter(|a| !before.contains(a.name.as_str())).cloned().collect();
    instances::set_admin_attributes(w.conn(), id, &serde_json::to_string(&given).map_err(|_| WharfError::internal())?).await?;
    let (trusted, all_given) = store::clusters::trust_of(w.conn(), id).await?;
    let attributes = weigh_claims(&instance.name, stored, &trusted, &all_given);
    instances::set_attributes(w.conn(), id, &serde_json::to_string(&attributes).map_err(|_| WharfError::internal())?).await?;
    w.touch_live_tasks(cluster);
    let instance = instances::get(w.conn(), cluster, id).await?.ok_or_else(WharfError::internal)?;
    w.commit().await?;
    Ok(instance)
}

fn check_reports(errors: &mut FieldErrors, reports: &[TaskReport]) {
    if reports.len() > 10_000 {
        errors.push("tasks", "at most 10000 tasks");
        return;
    }
    for (i, t) in reports.iter().enumerate() {
        if let Err(e) = t.validate() {
            for fe in e.errors {
                errors.push(format!("tasks[{i}]{}", fe.field.trim_start_matches("task")), fe.message);
            }
        }
    }
}

/// Whether a reconcile may write; a read-only one gives up (None) at the first change it
/// would have to store.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    ReadOnly,
    Write,
}

/// Compares what the agent reports running with what the store wants on its instance;
/// records what the agent knows and returns the starts and stops it still needs, and whether
/// any task's stored state changed.
async fn reconcile_tasks(
    conn: &mut sqlx::AnyConnection,
    who: &AgentIdentity,
    reports: &[TaskReport],
    now: &str,
    mode: Mode,
) -> Result<Option<(Vec<ServerMessage>, bool)>> {
    let mut out = Vec::new();
    let mut changed = false;
    let reported: BTreeMap<&str, &TaskReport> = reports.iter().map(|t| (t.task_id.as_str(), t)).collect();
    let live = tasks::live_on_instance(conn, &who.instance_id).await?;
    let known: BTreeSet<String> = live.iter().map(|t| t.id.clone()).collect();
    let deactivating: Vec<&str> = live.iter().filter(|t| t.last_status == "DEACTIVATING").map(|t| t.id.as_str()).collect();
    let draining = scheduling::draining(&mut *conn, &deactivating).await?;
    let mut definitions = HashMap::new();
    for mut task in live {
        match reported.get(task.id.as_str()) {
            Some(report) => {
                let (was, wanted) = (task.last_status.clone(), task.desired_status == "RUNNING");
                if task.apply_report(report, now) {
                    if mode == Mode::ReadOnly {
                        return Ok(None);
                    }
                    changed = true;
                    let ports = held_ports(&mut *conn, &mut definitions, &task).await?;
                    tasks::save_state(&mut *conn, &task, &json(&ports)).await?;
                    // Counted as the report's own path counts it, whichever path saw it first.
                    if task.last_status == "STOPPED" && wanted {
                        scheduling::task_outcome(&mut *conn, &task.id, true, now, crate::scheduling::START_BACKOFF_BASE_SECS).await?;
                    } else if task.last_status == "RUNNING" && was != "RUNNING" {
                        scheduling::tasks_started(&mut *conn, std::slice::from_ref(&task.id)).await?;
                    }
                }
                // A task draining out of its target groups keeps running until the deregistration
                // says stop.
                if task.desired_status == "STOPPED" && task.last_status != "STOPPED" && !draining.contains(&task.id) {
                    out.push(stop(&task));
                }
            }
            None if task.desired_status == "RUNNING" && task.last_status == "PENDING" => {
                match spec_of(&mut *conn, &mut definitions, &task, who).await? {
                    Some(spec) => out.push(ServerMessage::StartTask { task: spec }),
                    None => tracing::error!(task = %task.id, "the task's definition is gone; it cannot be started"),
                }
            }
            None if mode == Mode::ReadOnly => return Ok(None),
            None => {
                // The agent has nothing for it: it finished while nobody listened, or the host lost it.
                let reason = if task.desired_status == "STOPPED" { task.stopped_reason.clone() } else { Some(TASK_LOST.into()) };
                mark_stopped(&mut task, reason, now);
                tasks::save_state(&mut *conn, &task, "[]").await?;
                changed = true;
            }
        }
    }
    for report in reports.iter().filter(|t| !known.contains(&t.task_id) && t.last_status != "STOPPED") {
        out.push(ServerMessage::StopTask { task_id: report.task_id.clone(), reason: UNKNOWN_TASK.into() });
    }
    Ok(Some((out, changed)))
}

/// What the agent runs for a task: derived again from its (immutable) task definition
/// revision rather than stored with every task.
async fn spec_of(
    conn: &mut sqlx::AnyConnection,
    definitions: &mut Definitions,
    task: &Task,
    who: &AgentIdentity,
) -> Result<Option<TaskSpec>> {
    Ok(definition_of(conn, definitions, task).await?.map(|d| TaskSpec::from_definition(d, &who.cluster, &who.instance_id, &task.id, task.group.clone())))
}

/// Task definitions read so far, by `family:revision` (None: gone).
pub(super) type Definitions = HashMap<String, Option<TaskDefinition>>;

async fn definition_of<'d>(conn: &mut sqlx::AnyConnection, definitions: &'d mut Definitions, task: &Task) -> Result<Option<&'d TaskDefinition>> {
    let name = task.task_definition_arn.rsplit_once("task-definition/").map_or(task.task_definition_arn.as_str(), |(_, n)| n);
    if !definitions.contains_key(name) {
        let found = match TaskDefinitionRef::parse(name) {
            Ok(TaskDefinitionRef { family, revision: Some(revision) }) => task_definitions::get(conn, &family, revision).await?,
            _ => None,
        };
        definitions.insert(name.to_string(), found);
    }
    Ok(definitions[name].as_ref())
}

/// The host ports a task holds while it has not stopped: those its containers bound, and the
/// fixed ones its definition names, which are held from placement on (a container that waits
/// for another has bound nothing yet, but its port is booked).
pub(super) async fn held_ports(conn: &mut sqlx::AnyConnection, definitions: &mut Definitions, task: &Task) -> Result<Vec<String>> {
    if task.last_status == "STOPPED" {
        return Ok(Vec::new());
    }
    let mut ports = task.host_ports();
    if let Some(definition) = definition_of(conn, definitions, task).await? {
        let spec = TaskSpec::from_definition(definition, "", "", "", None);
        ports.extend(spec.static_host_ports().into_iter().map(|(protocol, port)| format!("{protocol}:{port}")));
        ports.sort();
        ports.dedup();
    }
    Ok(ports)
}

fn stop(task: &Task) -> ServerMessage {
    ServerMessage::StopTask {
        task_id: task.id.clone(),
        reason: task.stopped_reason.clone().unwrap_or_else(|| wharf_core::task_input::STOPPED_BY_USER.into()),
    }
}

pub(super) fn mark_stopped(task: &mut Task, reason: Option<String>, now: &str) {
    task.last_status = "STOPPED".into();
    task.desired_status = "STOPPED".into();
    task.stopped_reason = task.stopped_reason.take().or(reason);
    task.stopped_at.get_or_insert_with(|| now.to_string());
    for c in &mut task.containers {
        c.last_status = "STOPPED".into();
        c.network_bindings.clear();
    }
}

/// Task changes reported by agents. Reports about tasks of other instances are refused;
/// reports about tasks the store does not know get a stop.
///
/// Many task changes, from any agents, in one transaction: under load, agents report
/// thousands of changes a second and one commit each would be the bottleneck. A report that
/// breaks a rule gets its own error; the others still apply.
pub async fn tasks_changed(store: &Store, batch: &[(AgentIdentity, TaskReport)]) -> Result<(Vec<Result<Option<ServerMessage>>>, Vec<TaskDelta>)> {
    let now = store::now();
    let mut w = store.write().await?;
    let ids: Vec<&str> = batch.iter().map(|(_, r)| r.task_id.as_str()).collect();
    let mut known = tasks::get_many_by_id(w.conn(), &ids).await?;
    let deactivating: Vec<&str> = known.values().filter(|(t, _)| t.last_status == "DEACTIVATING").map(|(t, _)| t.id.as_str()).collect();
    let draining = scheduling::draining(w.conn(), &deactivating).await?;
    let mut out = Vec::with_capacity(batch.len());
    let mut failed = Vec::new();
    let mut started = Vec::new();
    let mut deltas = Vec::new();
    let mut changed = Vec::new();
    for (who, report) in batch {
        if let Err(e) = report.validate() {
            out.push(Err(e));
            continue;
        }
        let Some((task, instance)) = known.get_mut(&report.task_id) else {
            out.push(Ok((report.last_status != "STOPPED")
                .then(|| ServerMessage::StopTask { task_id: report.task_id.clone(), reason: UNKNOWN_TASK.into() })));
            continue;
        };
        if instance.as_deref() != Some(who.instance_id.as_str()) {
            let message = format!("task '{}' does not run on this container instance", report.task_id);
            out.push(Err(WharfError::invalid_field("task.taskId", message)));
            continue;
        }
        let (was, wanted) = (task.last_status.clone(), task.desired_status == "RUNNING");
        if task.apply_report(report, &now) {
            // A service's task that stops on its own counts against its deployment; one that
            // reaches RUNNING ends a run of failures.
            if task.last_status == "STOPPED" && wanted {
                failed.push(task.id.clone());
            } else if task.last_status == "RUNNING" && was != "RUNNING" {
                started.push(task.id.clone());
            }
            changed.push((task.id.clone(), &who.cluster));
        }
        // Stopped here but not there (a start that arrived after its stop): stopped again, or
        // it would run uncounted until the next digest.
        let alive_there = report.last_status != "STOPPED";
        let stop_now = task.desired_status == "STOPPED" && (task.last_status != "STOPPED" || alive_there) && !draining.contains(&task.id);
        out.push(Ok(stop_now.then(|| stop(task))));
    }
    // One write per task, whatever number of its reports the batch held.
    changed.sort_unstable();
    changed.dedup_by(|a, b| a.0 == b.0);
    let mut rows = Vec::with_capacity(changed.len());
    let mut definitions = Definitions::new();
    for (id, cluster) in changed {
        let Some((task, _)) = known.get(&id) else { continue };
        let ports = held_ports(w.conn(), &mut definitions, task).await?;
        let state = tasks::SavedState { task, containers: json(&task.containers), host_ports: json(&ports) };
        deltas.push(TaskDelta {
            cluster: cluster.clone(),
            id,
            last_status: task.last_status.clone(),
            desired_status: task.desired_status.clone(),
            containers: state.containers.clone(),
            host_ports: ports,
        });
        rows.push(state);
    }
    tasks::save_states(w.conn(), &rows).await?;
    for id in &failed {
        scheduling::task_outcome(w.conn(), id, true, &now, crate::scheduling::START_BACKOFF_BASE_SECS).await?;
    }
    scheduling::tasks_started(w.conn(), &started).await?;
    w.commit().await?;
    Ok((out, deltas))
}

/// The agent's session ended (closed, lost, or silent past its heartbeat window). Its tasks
/// keep running; no new ones go there until it is back. Returns the instance's cluster.
pub async fn disconnected(store: &Store, instance_id: &str) -> Result<Option<String>> {
    let mut w = store.write().await?;
    instances::set_connected(w.conn(), instance_id, false).await?;
    let cluster = instances::credential(w.conn(), instance_id).await?.map(|c| c.cluster);
    w.commit().await?;
    Ok(cluster)
}

/// Heartbeats of all connected agents, written in one transaction.
pub async fn record_heartbeats(store: &Store, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut w = store.write().await?;
    instances::heartbeats(w.conn(), ids, &store::now()).await?;
    w.commit().await?;
    Ok(())
}

/// These types are plain data; serialising them cannot fail.
pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
