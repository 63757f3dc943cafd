/*!
One pass over one cluster: load it, plan every live service, commit the plan in one
transaction, and return the messages for the agents (sent after the commit).
*/

use super::{Settings, Tasks};
use super::snapshot::{self, Cluster};
use crate::control::services::new_deployment;
use crate::control::tasks::Template;
use crate::store::scheduling::{self as sql, LiveTask, ServiceState};
use crate::store::{self, Store, instances, load_balancing as lb_sql, services as service_sql, task_definitions, tasks as task_sql};
use sqlx::AnyConnection;
use crate::events::Events;
use serde_json::json;
use std::sync::Mutex;
use std::collections::{HashMap, HashSet};
use wharf_core::WharfError;
use wharf_core::protocol::ServerMessage;
use wharf_core::service::{SchedulingStrategy, ServiceConfig};
use wharf_core::task_definition::{TaskDefinition, TaskDefinitionRef};
use wharf_scheduler::service::{self as plan, Bounds, Host, ServiceTask, StopReason};
use wharf_scheduler::{Constraint, Request, Strategy};

type Messages = Vec<(String, ServerMessage)>;

/// A change the pass made to live tasks, applied to the scheduler's copy once committed.
pub enum Edit {
    Added(Box<LiveTask>),
    StopWanted(String),
    Gone(String),
}

pub async fn reconcile(
    store: &Store,
    events: &Events,
    cluster: &str,
    settings: &Settings,
    seed: u64,
    cache: &mut HashMap<String, Tasks>,
) -> Result<Messages, WharfError> {
    let mut w = store.write().await?;
    let services = sql::services(w.conn(), cluster).await?;
    if services.is_empty() {
        return Ok(Vec::new());
    }
    let instances = instances::all(w.conn(), cluster).await?;
    // Read under the writer lock: every booking committed before this pass has counted.
    let generation = store.live_tasks_generation(cluster);
    if cache.get(cluster).is_none_or(|t| t.generation != generation) {
        cache.insert(cluster.to_string(), Tasks::new(sql::live_tasks(w.conn(), cluster).await?, generation));
    }
    let copy = &cache[cluster];
    let live: Vec<&LiveTask> = copy.by_id.values().collect();
    let definitions = load_definitions(w.conn(), &services, &live).await?;
    let mut state = snapshot::build(&instances, &live, settings.lost_after);
    let now = store::now();
    let balancing = Balancing::load(w.conn(), cluster, &services).await?;
    let mut out = Vec::new();
    let mut edits = Vec::new();
    // Tasks that left their target groups and drained (or ran out of time) stop now.
    for (id, instance, reason) in sql::due_deactivations(w.conn(), cluster, &now).await? {
        sql::deregistered(w.conn(), &id).await?;
        if let Some(instance) = instance {
            out.push((instance, ServerMessage::StopTask { task_id: id, reason }));
        }
    }
    let said = Mutex::new(Vec::new());
    for (n, service) in services.iter().enumerate() {
        let step = Step {
            cluster,
            service,
            live: &live,
            definitions: &definitions,
            balancing: &balancing,
            now: &now,
            seed: seed.wrapping_add(n as u64),
            said: &said,
        };
        step.run(w.conn(), &mut state, &mut out, &mut edits).await?;
    }
    w.commit().await?;
    announce(events, cluster, &edits, said.into_inner().unwrap_or_else(|e| e.into_inner()));
    let copy = cache.get_mut(cluster).expect("loaded above");
    for edit in edits {
        match edit {
            Edit::Added(t) => {
                copy.by_id.insert(t.id.clone(), *t);
            }
            Edit::StopWanted(id) => {
                if let Some(t) = copy.by_id.get_mut(&id) {
                    t.desired_status = "STOPPED".into();
                }
            }
            Edit::Gone(id) => {
                copy.by_id.remove(&id);
            }
        }
    }
    Ok(out)
}

/// Publishes what a committed pass changed: its tasks, and each service it wrote an event for.
fn announce(events: &Events, cluster: &str, edits: &[Edit], said: Vec<(String, String)>) {
    let changes = edits.iter().map(|e| match e {
        Edit::Added(t) => json!({"taskId": t.id, "lastStatus": t.last_status, "desiredStatus": t.desired_status,
            "containerInstanceId": t.instance_id, "group": t.group}),
        Edit::StopWanted(id) => json!({"taskId": id, "desiredStatus": "STOPPED"}),
        Edit::Gone(id) => json!({"taskId": id, "lastStatus": "STOPPED", "desiredStatus": "STOPPED"}),
    });
    events.publish_tasks(cluster, changes);
    for (service, message) in said {
        events.publish("service", Some(cluster), json!({"serviceName": service, "message": message}));
    }
}

/// "(task a) (task b) … and N more", as ECS lists tasks in events.
fn listed(ids: &[&str]) -> String {
    let shown: Vec<String> = ids.iter().take(5).map(|id| format!("(task {id})")).collect();
    let more = if ids.len() > 5 { format!(" and {} more", ids.len() - 5) } else { String::new() };
    format!("{}{more}", shown.join(" "))
}

async fn load_definitions(
    conn: &mut AnyConnection,
    services: &[ServiceState],
    live: &[&LiveTask],
) -> Result<HashMap<String, TaskDefinition>, WharfError> {
    let names: HashSet<&str> = services
        .iter()
        .flat_map(|s| s.deployments.iter().map(|d| d.task_definition.as_str()))
        .chain(live.iter().filter(|t| t.service_id.is_some()).map(|t| t.task_definition.as_str()))
        .collect();
    let mut out = HashMap::new();
    for name in names {
        let Ok(TaskDefinitionRef { family, revision: Some(revision) }) = TaskDefinitionRef::parse(name) else {
            continue;
        };
        if let Some(def) = task_definitions::get(conn, &family, revision).await? {
            out.insert(name.to_string(), def);
        }
    }
    Ok(out)
}

/// What the load balancer says of a cluster's service tasks.
struct Balancing {
    /// Deregistration delay of each target group, in seconds.
    delays: HashMap<String, i64>,
    /// (target group, task) pairs the load balancer counts healthy.
    healthy: HashSet<(String, String)>,
    /// (target group, task) pairs it counts unhealthy.
    unhealthy: HashSet<(String, String)>,
}

impl Balancing {
    async fn load(conn: &mut AnyConnection, cluster: &str, services: &[ServiceState]) -> Result<Self, WharfError> {
        let mut balancing = Balancing { delays: HashMap::new(), healthy: HashSet::new(), unhealthy: HashSet::new() };
        if services.iter().all(|s| s.row.config.load_balancers.is_empty()) {
            return Ok(balancing);
        }
        for group in lb_sql::target_groups(conn, Some(cluster)).await? {
            for h in lb_sql::health(conn, Some(&group.arn)).await? {
                match h.state.as_str() {
                    "healthy" => balancing.healthy.insert((h.target_group, h.task_id)),
                    "unhealthy" => balancing.unhealthy.insert((h.target_group, h.task_id)),
                    _ => false,
                };
            }
            balancing.delays.insert(group.arn, group.config.deregistration_delay_seconds);
        }
        Ok(balancing)
    }

    fn groups(config: &ServiceConfig) -> impl Iterator<Item = &str> {
        config.load_balancers.iter().filter_map(|lb| lb.target_group_arn.as_deref())
    }

    /// ECS: with load balancers, a task counts healthy once every target group it is in does,
    /// and fails when one counts it unhealthy.
    fn health(&self, config: &ServiceConfig, task: &str, health: plan::TaskHealth) -> plan::TaskHealth {
        if self.failing_group(config, task).is_some() {
            return plan::TaskHealth::Failed;
        }
        let unready = Self::groups(config).any(|tg| !self.healthy.contains(&(tg.to_string(), task.to_string())));
        if health == plan::TaskHealth::Healthy && unready { plan::TaskHealth::Unhealthy } else { health }
    }

    /// The first of the service's target groups that counts the task unhealthy.
    fn failing_group<'c>(&self, config: &'c ServiceConfig, task: &str) -> Option<&'c str> {
        Self::groups(config).find(|tg| self.unhealthy.contains(&(tg.to_string(), task.to_string())))
    }

    /// How long a task of the service may drain: the longest delay of its target groups.
    fn delay(&self, config: &ServiceConfig) -> Option<i64> {
        Self::groups(config).filter_map(|tg| self.delays.get(tg)).copied().max()
    }
}

/// Whether the task's instance is lost (or gone from the cluster).
fn on_lost_host(state: &Cluster, task: &LiveTask) -> bool {
    task.instance_id.as_deref().and_then(|id| state.snapshot.index_of(id)).is_none_or(|p| state.lost[p])
}

struct Step<'a> {
    cluster: &'a str,
    service: &'a ServiceState,
    live: &'a [&'a LiveTask],
    definitions: &'a HashMap<String, TaskDefinition>,
    balancing: &'a Balancing,
    now: &'a str,
    seed: u64,
    /// Service events written, announced once the pass commits.
    said: &'a Mutex<Vec<(String, String)>>,
}

impl Step<'_> {
    fn name(&self) -> &str {
        &self.service.row.name
    }

    /// Marks those of `tasks` on lost hosts stopped (they will never say so); returns how many.
    async fn forget_lost(&self, conn: &mut AnyConnection, state: &Cluster, tasks: &[&LiveTask], edits: &mut Vec<Edit>) -> Result<usize, WharfError> {
        let mut gone = 0;
        for t in tasks.iter().filter(|t| on_lost_host(state, t)) {
            sql::mark_lost(conn, &t.id, StopReason::Lost.as_str(), self.now).await?;
            edits.push(Edit::Gone(t.id.clone()));
            gone += 1;
        }
        Ok(gone)
    }

    /// The task's health for the plan. ECS ignores failed checks for
    /// `healthCheckGracePeriodSeconds` after a task has started.
    fn health(&self, task: &LiveTask) -> plan::TaskHealth {
        let health = self.balancing.health(&self.service.row.config, &task.id, snapshot::health(task, self.definitions));
        let grace = self.service.row.config.health_check_grace_period_seconds.unwrap_or(0);
        let in_grace = grace > 0 && task.started_at.as_deref().is_none_or(|started| started > store::before_seconds(grace).as_str());
        if health == plan::TaskHealth::Failed && in_grace { plan::TaskHealth::Unhealthy } else { health }
    }

    /// Why a failed task is stopped, in ECS's words.
    fn failure(&self, task: &str) -> String {
        match self.balancing.failing_group(&self.service.row.config, task) {
            Some(group) => format!("Task failed ELB health checks in (target-group {group})"),
            None => "Task failed container health checks".into(),
        }
    }

    async fn event(&self, conn: &mut AnyConnection, message: String) -> Result<(), WharfError> {
        let message = format!("(service {}) {message}", self.name());
        service_sql::add_event(conn, &self.service.row.id, &message, self.now).await?;
        self.said.lock().unwrap_or_else(|e| e.into_inner()).push((self.name().to_string(), message));
        Ok(())
    }

    async fn run(&self, conn: &mut AnyConnection, state: &mut Cluster, out: &mut Messages, edits: &mut Vec<Edit>) -> Result<(), WharfError> {
        let svc = self.service;
        let mine: Vec<&LiveTask> = self.live.iter().copied().filter(|t| t.service_id.as_deref() == Some(svc.row.id.as_str())).collect();
        if svc.row.status == "DRAINING" {
            // Deleted: its tasks were asked to stop (and are asked again by the agents'
            // reconcile); those on lost hosts will never answer. It goes INACTIVE once none
            // is left.
            let gone = self.forget_lost(conn, state, &mine, edits).await?;
            if gone == mine.len() {
                service_sql::update(conn, &svc.row.id, "INACTIVE", &svc.row.config, self.now).await?;
                service_sql::retire_deployments(conn, &svc.row.id, self.now).await?;
            }
            return Ok(());
        }
        // Tasks already asked to stop (or draining out of a load balancer) on a host that is
        // lost will never say they stopped: they are gone.
        let asked_to_stop: Vec<&LiveTask> = mine.iter().copied().filter(|t| t.desired_status == "STOPPED").collect();
        self.forget_lost(conn, state, &asked_to_stop, edits).await?;
        let Some(primary) = svc.deployments.iter().find(|d| d.status == "PRIMARY") else {
            return Ok(());
        };
        let Some(definition) = self.definitions.get(&primary.task_definition) else {
            return Ok(());
        };
        let group = format!("service:{}", self.name());
        let demand = snapshot::demand_of(definition, &group);
        let config = &svc.row.config;
        let mut given = config.placement_constraints.clone();
        given.extend(definition.spec.placement_constraints.clone().unwrap_or_default());
        let constraints = match Constraint::from_ecs(&given) {
            Ok(c) => c,
            Err(e) => {
                return self.pending(conn, Some(format!("its placement constraints cannot be used: {e}"))).await;
            }
        };
        let wanted: Vec<&LiveTask> = mine.iter().copied().filter(|t| t.desired_status == "RUNNING").collect();
        let tasks: Vec<ServiceTask> = wanted
            .iter()
            .filter_map(|t| {
                let pos = state.snapshot.index_of(t.instance_id.as_deref()?)?;
                let host = if state.lost[pos] {
                    Host::Lost
                } else if state.snapshot.instances[pos].status != wharf_scheduler::InstanceStatus::Active {
                    Host::Draining
                } else {
                    Host::Ok
                };
                Some(ServiceTask {
                    id: t.id.clone(),
                    instance: pos,
                    primary: t.started_by.as_deref() == Some(primary.id.as_str()),
                    health: self.health(t),
                    host,
                })
            })
            .collect();
        let throttled = svc.throttled_until.as_deref().is_some_and(|t| t > self.now);
        let failed = primary.rollout_state == "FAILED";
        let may_start = !throttled && !failed;
        let (stops, placed, explanation, steady, desired) = match config.scheduling_strategy {
            SchedulingStrategy::Replica => {
                let bounds = Bounds {
                    desired: config.desired_count,
                    minimum_healthy_percent: config.minimum_healthy_percent(),
                    maximum_percent: config.maximum_percent(),
                };
                let strategies = Strategy::list_or_default(&config.placement_strategy);
                // Asked to stop, not stopped yet: they still count against maximumPercent.
                let stopping = mine
                    .iter()
                    .filter(|t| t.desired_status == "STOPPED")
                    .filter(|t| !on_lost_host(state, t))
                    .count();
                let p = plan::plan_replica(&state.snapshot, &tasks, stopping, bounds, &strategies, may_start);
                let placement = state.snapshot.place(&Request {
                    demand: &demand,
                    count: p.start,
                    strategies: &strategies,
                    constraints: &constraints,
                    seed: self.seed,
                });
                (p.stop, placement.placed, placement.explanation, p.steady, config.desired_count)
            }
            SchedulingStrategy::Daemon => {
                let p = plan::plan_daemon(&state.snapshot, &tasks, &demand, &constraints, may_start);
                for &pos in &p.start_on {
                    state.snapshot.instances[pos].take(&demand);
                }
                (p.stop, p.start_on, p.explanation, p.steady, p.desired)
            }
        };
        if desired != primary.desired_count {
            sql::set_desired(conn, &primary.id, desired).await?;
        }
        let stopping: Vec<&str> = stops.iter().filter(|(_, r)| *r != StopReason::Lost).map(|(i, _)| tasks[*i].id.as_str()).collect();
        if !stopping.is_empty() {
            self.event(conn, format!("has stopped {} running tasks: {}.", stopping.len(), listed(&stopping))).await?;
        }
        let mut deactivated = Vec::new();
        for (i, reason) in stops {
            let task = &tasks[i];
            let instance_id = state.snapshot.instances[task.instance].id.clone();
            let why = if reason == StopReason::Unhealthy {
                let why = self.failure(&task.id);
                self.event(conn, format!("(task {}) {}.", task.id, why.strip_prefix("Task ").unwrap_or(&why))).await?;
                // Counted as a failed task, which the circuit breaker counts.
                sql::task_outcome(conn, &task.id, true, self.now, super::START_BACKOFF_BASE_SECS).await?;
                why
            } else {
                reason.as_str().to_string()
            };
            if reason == StopReason::Lost {
                sql::mark_lost(conn, &task.id, reason.as_str(), self.now).await?;
                edits.push(Edit::Gone(task.id.clone()));
                self.event(conn, format!("stopped task {} on the lost container instance {instance_id}.", task.id)).await?;
            } else if let Some(delay) = self.balancing.delay(config).filter(|_| wanted.iter().any(|t| t.id == task.id && t.last_status == "RUNNING")) {
                // Out of the load balancer first; stopped once drained (the pass above).
                sql::deactivate(conn, sql::Deactivate::Task(&task.id), &why, &store::after_seconds(delay)).await?;
                edits.push(Edit::StopWanted(task.id.clone()));
                deactivated.push(task.id.as_str());
            } else {
                sql::request_stop(conn, &task.id, &why).await?;
                edits.push(Edit::StopWanted(task.id.clone()));
                out.push((instance_id, ServerMessage::StopTask { task_id: task.id.clone(), reason: why }));
            }
        }
        if !deactivated.is_empty() {
            self.event(conn, format!("has begun draining connections on {} tasks: {}.", deactivated.len(), listed(&deactivated))).await?;
        }
        let mut started = Vec::with_capacity(placed.len());
        let mut rows = Vec::with_capacity(placed.len());
        let template = Template::of(definition, self.cluster, Some(&group));
        for pos in placed {
            let instance_id = state.snapshot.instances[pos].id.clone();
            let (row, spec) = template.launch(&instance_id, Some(&primary.id), Some(&svc.row.id));
            rows.push(row);
            started.push(spec.task_id.clone());
            edits.push(Edit::Added(Box::new(LiveTask {
                id: spec.task_id.clone(),
                instance_id: Some(instance_id.clone()),
                service_id: Some(svc.row.id.clone()),
                started_by: Some(primary.id.clone()),
                group: Some(group.clone()),
                task_definition: primary.task_definition.clone(),
                last_status: "PENDING".into(),
                desired_status: "RUNNING".into(),
                containers: "[]".into(),
                cpu: demand.cpu,
                memory: demand.memory,
                host_ports: demand.ports.iter().map(|p| format!("{}:{}", if p.udp { "udp" } else { "tcp" }, p.port)).collect(),
                started_at: None,
            })));
            out.push((instance_id, ServerMessage::StartTask { task: spec }));
        }
        task_sql::insert(conn, &rows, self.now).await?;
        if !started.is_empty() {
            let ids: Vec<&str> = started.iter().map(String::as_str).collect();
            self.event(conn, format!("has started {} tasks: {}.", started.len(), listed(&ids))).await?;
        }
        if throttled && svc.pending_reason.is_none() {
            self.event(conn, "is unable to consistently start tasks successfully; new starts are backed off.".into()).await?;
        }
        let reason = explanation.map(|e| format!("was unable to place a task because {e}."));
        self.pending(conn, reason.or_else(|| throttled.then(|| "is backing off task starts after repeated failures.".into()))).await?;
        self.deployments(conn, primary, desired, steady).await
    }

    /// Records (and announces, when it changed) why tasks are pending.
    async fn pending(&self, conn: &mut AnyConnection, reason: Option<String>) -> Result<(), WharfError> {
        if reason == self.service.pending_reason {
            return Ok(());
        }
        sql::set_pending_reason(conn, &self.service.row.id, reason.as_deref()).await?;
        if let Some(r) = reason {
            self.event(conn, r).await?;
        }
        Ok(())
    }

    /// Completes, fails (and rolls back) or retires deployments.
    async fn deployments(&self, conn: &mut AnyConnection, primary: &sql::DeploymentRow, desired: i64, steady: bool) -> Result<(), WharfError> {
        let svc = self.service;
        for d in svc.deployments.iter().filter(|d| d.status == "ACTIVE") {
            if !self.live.iter().any(|t| t.started_by.as_deref() == Some(d.id.as_str())) {
                sql::retire(conn, &d.id, self.now).await?;
            }
        }
        if primary.rollout_state != "IN_PROGRESS" {
            return Ok(());
        }
        if steady {
            sql::set_rollout(conn, &primary.id, "COMPLETED", &format!("ECS deployment {} completed.", primary.id), self.now).await?;
            self.event(conn, format!("(deployment {}) deployment completed.", primary.id)).await?;
            self.event(conn, "has reached a steady state.".into()).await?;
            return Ok(());
        }
        let breaker = svc.row.config.deployment_configuration.deployment_circuit_breaker.clone().unwrap_or_default();
        if !breaker.enable || primary.failed_tasks < plan::circuit_breaker_threshold(desired) {
            return Ok(());
        }
        let reason = format!("ECS deployment circuit breaker: {} tasks failed to start.", primary.failed_tasks);
        sql::set_rollout(conn, &primary.id, "FAILED", &reason, self.now).await?;
        self.event(conn, format!("(deployment {}) deployment failed: tasks failed to start.", primary.id)).await?;
        if !breaker.rollback {
            return Ok(());
        }
        let Some(good) = svc.deployments.iter().find(|d| d.id != primary.id && d.rollout_state == "COMPLETED") else {
            self.event(conn, "has no completed deployment to roll back to.".into()).await?;
            return Ok(());
        };
        let mut config = svc.row.config.clone();
        config.task_definition = good.task_definition.clone();
        let mut rollback = new_deployment(&good.task_definition, config.desired_count, self.now);
        rollback.rollout_state_reason = Some(format!("ECS deployment circuit breaker: rolling back to deploymentId {}.", good.id));
        service_sql::demote_primary(conn, &svc.row.id, self.now).await?;
        service_sql::insert_deployment(conn, &svc.row.id, &rollback).await?;
        service_sql::update(conn, &svc.row.id, &svc.row.status, &config, self.now).await?;
        self.event(conn, format!("(deployment {}) rolling back to deployment {} ({}).", primary.id, good.id, good.task_definition)).await?;
        Ok(())
    }
}
