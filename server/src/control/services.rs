/*!
Service commands. Each is one transaction: the service row, its deployments and its events
change together or not at all. Placing and stopping tasks is the scheduler's work; here a
service only records what is wanted.
*/

use super::load_balancing::resolve_service_load_balancers;
use super::{check_task_policy, cluster_not_found, resolve_task_definition};
use crate::store::{self, Store, clusters, scheduling, services as sql};
use sqlx::AnyConnection;
use wharf_app::backend::Result;
use wharf_core::WharfError;
use wharf_core::protocol::ServerMessage;
use wharf_core::service::{CreateServiceInput, Deployment, SchedulingStrategy, Service, UpdateServiceInput};
use wharf_core::task_definition::{TaskDefinition, TaskDefinitionRef, TaskDefinitionStatus};

pub async fn create(store: &Store, cluster: &str, input: CreateServiceInput) -> Result<Service> {
    let (name, reference, mut config) = input.validate()?;
    let mut w = store.write().await?;
    let found = clusters::get(w.conn(), cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let td = resolve_active(w.conn(), &reference).await?;
    check_task_policy(&found, &td)?;
    config.task_definition = td.name();
    config.load_balancers = resolve_service_load_balancers(w.conn(), cluster, &td, &config.load_balancers).await?;
    if let Some(existing) = sql::get(w.conn(), cluster, &name).await?.filter(|s| s.status != "INACTIVE") {
        return Err(WharfError::conflict(format!(
            "the cluster '{cluster}' already has a service named '{}' ({}); update it, or pick another name",
            existing.name, existing.status
        )));
    }
    let now = store::now();
    let row = sql::ServiceRow {
        id: uuid::Uuid::new_v4().simple().to_string(),
        cluster: cluster.to_string(),
        name: name.clone(),
        status: "ACTIVE".into(),
        config,
        created_at: now.clone(),
        pending_reason: None,
    };
    sql::insert(w.conn(), &row, &now).await?;
    let deployment = new_deployment(&row.config.task_definition, row.config.desired_count, &now);
    sql::insert_deployment(w.conn(), &row.id, &deployment).await?;
    let count = match row.config.scheduling_strategy {
        SchedulingStrategy::Replica => format!("a desired count of {}", row.config.desired_count),
        SchedulingStrategy::Daemon => "one task per instance (DAEMON)".to_string(),
    };
    let message = format!("(service {name}) was created with task definition {} and {count}.", row.config.task_definition);
    sql::add_event(w.conn(), &row.id, &message, &now).await?;
    let service = describe(w.conn(), cluster, &name).await?;
    w.commit().await?;
    tracing::info!(cluster, service = %name, "service created");
    Ok(service)
}

pub async fn describe(conn: &mut AnyConnection, cluster: &str, name: &str) -> Result<Service> {
    clusters::get(conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let row = sql::get(conn, cluster, name).await?.ok_or_else(|| service_not_found(cluster, name))?;
    let mut described = sql::assemble(conn, vec![row], true).await?;
    described.pop().ok_or_else(WharfError::internal)
}

pub async fn update(store: &Store, cluster: &str, name: &str, input: UpdateServiceInput) -> Result<Service> {
    let mut w = store.write().await?;
    let row = live(w.conn(), cluster, name).await?;
    if row.status != "ACTIVE" {
        return Err(WharfError::conflict(format!("the service '{name}' is {} and can no longer be updated", row.status)));
    }
    let (mut next, reference, redeploy) = input.apply(&row.config)?;
    if let Some(reference) = reference {
        let td = resolve_active(w.conn(), &reference).await?;
        let found = clusters::get(w.conn(), cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
        check_task_policy(&found, &td)?;
        next.task_definition = td.name();
    }
    // The revision the deployment runs must reach what the load balancers name.
    if next.task_definition != row.config.task_definition || next.load_balancers != row.config.load_balancers {
        let td = resolve_task_definition(w.conn(), &TaskDefinitionRef::parse(&next.task_definition).map_err(|m| WharfError::invalid_field("taskDefinition", m))?).await?;
        next.load_balancers = resolve_service_load_balancers(w.conn(), cluster, &td, &next.load_balancers).await?;
    }
    let now = store::now();
    // Auto scaling's bounds hold for people too.
    let mut clamped = None;
    if next.desired_count != row.config.desired_count {
        (next.desired_count, clamped) = super::scaling::clamp_manual(w.conn(), &row.id, next.desired_count).await?;
    }
    if let Some(why) = clamped {
        sql::add_event(w.conn(), &row.id, &format!("(service {name}) {why}."), &now).await?;
    }
    if redeploy {
        let deployment = new_deployment(&next.task_definition, next.desired_count, &now);
        sql::demote_primary(w.conn(), &row.id, &now).await?;
        sql::insert_deployment(w.conn(), &row.id, &deployment).await?;
        let message = format!("(service {name}) has started a deployment ({}) to {}.", deployment.id, next.task_definition);
        sql::add_event(w.conn(), &row.id, &message, &now).await?;
    } else if next.desired_count != row.config.desired_count {
        sql::scale_primary(w.conn(), &row.id, next.desired_count, &now).await?;
        let message = format!("(service {name}) desired count changed from {} to {}.", row.config.desired_count, next.desired_count);
        sql::add_event(w.conn(), &row.id, &message, &now).await?;
    }
    sql::update(w.conn(), &row.id, &row.status, &next, &now).await?;
    let service = describe(w.conn(), cluster, name).await?;
    w.commit().await?;
    Ok(service)
}

/// ECS's DeleteService: a REPLICA service must be scaled to 0 first unless forced. The
/// service drains (its tasks are asked to stop) and becomes INACTIVE once none is left.
/// Returns the stop messages for the agents, to send once committed.
pub async fn delete(store: &Store, cluster: &str, name: &str, force: bool) -> Result<(Service, Vec<(String, ServerMessage)>)> {
    let mut w = store.write().await?;
    let row = live(w.conn(), cluster, name).await?;
    let replica = row.config.scheduling_strategy == SchedulingStrategy::Replica;
    if !force && replica && row.config.desired_count > 0 {
        // Auto scaling keeps the count at its minimum or more: say how to get past it.
        let floor = match crate::store::scaling::target(w.conn(), &row.id).await? {
            Some(t) if t.config.min_capacity > 0 => format!(" (its scalable target keeps at least {}: deregister it first)", t.config.min_capacity),
            _ => String::new(),
        };
        return Err(WharfError::conflict(format!(
            "the service '{name}' still wants {} task(s); scale it to 0 first{floor}, or delete with force=true to stop its tasks",
            row.config.desired_count
        )));
    }
    let now = store::now();
    const REASON: &str = "Service deleted";
    // Behind a load balancer, RUNNING tasks drain out of it first; the scheduling pass stops
    // them.
    if let Some(delay) = super::load_balancing::drain_delay(w.conn(), &row.config).await? {
        scheduling::deactivate(w.conn(), scheduling::Deactivate::OfService(&row.id), REASON, &store::after_seconds(delay)).await?;
    }
    let live = sql::stop_tasks(w.conn(), &row.id, REASON).await?;
    w.touch_live_tasks(cluster);
    let stops = live
        .into_iter()
        .filter_map(|(id, instance)| Some((instance?, ServerMessage::StopTask { task_id: id, reason: REASON.into() })))
        .collect();
    let status = if sql::live_task_count(w.conn(), &row.id).await? > 0 { "DRAINING" } else { "INACTIVE" };
    let mut config = row.config.clone();
    config.desired_count = 0;
    sql::update(w.conn(), &row.id, status, &config, &now).await?;
    if status == "INACTIVE" {
        sql::retire_deployments(w.conn(), &row.id, &now).await?;
    }
    sql::add_event(w.conn(), &row.id, &format!("(service {name}) was deleted."), &now).await?;
    let mut described = sql::assemble(w.conn(), vec![sql::ServiceRow { status: status.into(), config, ..row }], true).await?;
    w.commit().await?;
    Ok((described.pop().ok_or_else(WharfError::internal)?, stops))
}

pub(crate) async fn live(conn: &mut AnyConnection, cluster: &str, name: &str) -> Result<sql::ServiceRow> {
    clusters::get(conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    sql::get(conn, cluster, name).await?.filter(|s| s.status != "INACTIVE").ok_or_else(|| service_not_found(cluster, name))
}

/// New services and deployments run ACTIVE revisions only; running ones keep theirs.
async fn resolve_active(conn: &mut AnyConnection, reference: &TaskDefinitionRef) -> Result<TaskDefinition> {
    let td = resolve_task_definition(conn, reference).await.map_err(|e| match e.error {
        wharf_core::ErrorKind::NotFound => WharfError::invalid_field("taskDefinition", e.message),
        _ => e,
    })?;
    if td.status == TaskDefinitionStatus::Inactive {
        return Err(WharfError::invalid_field("taskDefinition", format!("{} is INACTIVE (deregistered); pick an ACTIVE revision", td.name())));
    }
    Ok(td)
}

fn service_not_found(cluster: &str, name: &str) -> WharfError {
    WharfError::not_found(format!("no service named '{name}' in cluster '{cluster}'"))
}

pub(crate) fn new_deployment(task_definition: &str, desired_count: i64, now: &str) -> Deployment {
    // ECS's deployment ids look like ecs-svc/1234567890123456789.
    let n = uuid::Uuid::new_v4().as_u128() % 10_u128.pow(19);
    let id = format!("ecs-svc/{n:019}");
    let (state, reason) = if desired_count == 0 {
        ("COMPLETED", format!("ECS deployment {id} completed."))
    } else {
        ("IN_PROGRESS", format!("ECS deployment {id} in progress."))
    };
    Deployment {
        id,
        status: "PRIMARY".into(),
        task_definition: task_definition.to_string(),
        desired_count,
        pending_count: 0,
        running_count: 0,
        failed_tasks: 0,
        rollout_state: state.into(),
        rollout_state_reason: Some(reason),
        created_at: now.to_string(),
        updated_at: now.to_string(),
    }
}
