/*!
SQL of services, their deployments and their event log. Reads assemble the full
`DescribeServices` shape in a fixed number of queries, however many services a page holds.
*/

use super::{Result, corrupt, map_unique};
use sqlx::{AnyConnection, Row, any::AnyRow};
use std::collections::HashMap;
use wharf_core::arn;
use wharf_core::page::Page;
use wharf_core::service::{Deployment, Service, ServiceConfig, ServiceEvent};

/// How many events a described service carries (ECS shows the latest 100).
const EVENTS_SHOWN: i64 = 100;

#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub id: String,
    pub cluster: String,
    pub name: String,
    pub status: String,
    pub config: ServiceConfig,
    pub created_at: String,
    pub pending_reason: Option<String>,
}

pub(crate) fn service_row(row: AnyRow) -> Result<ServiceRow> {
    let config: String = row.try_get("config")?;
    Ok(ServiceRow {
        id: row.try_get("id")?,
        cluster: row.try_get("cluster")?,
        name: row.try_get("name")?,
        status: row.try_get("status")?,
        config: serde_json::from_str(&config).map_err(corrupt("service configuration"))?,
        created_at: row.try_get("created_at")?,
        pending_reason: row.try_get("pending_reason")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, row: &ServiceRow, now: &str) -> Result<()> {
    let config = serde_json::to_string(&row.config).map_err(corrupt("service configuration"))?;
    sqlx::query("INSERT INTO services (id, cluster, name, status, config, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)")
        .bind(&row.id)
        .bind(&row.cluster)
        .bind(&row.name)
        .bind(&row.status)
        .bind(config)
        .bind(now)
        .execute(conn)
        .await
        .map_err(map_unique)?;
    Ok(())
}

/// The live service of that name, or else the most recently deleted one.
pub async fn get(conn: &mut AnyConnection, cluster: &str, name: &str) -> Result<Option<ServiceRow>> {
    let row = sqlx::query(
        "SELECT id, cluster, name, status, config, created_at, pending_reason FROM services WHERE cluster = $1 AND name = $2
         ORDER BY CASE WHEN status = 'INACTIVE' THEN 1 ELSE 0 END, updated_at DESC LIMIT 1",
    )
    .bind(cluster)
    .bind(name)
    .fetch_optional(conn)
    .await?;
    row.map(service_row).transpose()
}

/// The configuration of the service a task belongs to (none for a task of no service).
pub async fn config_of_task(conn: &mut AnyConnection, task_id: &str) -> Result<Option<ServiceConfig>> {
    let row = sqlx::query("SELECT s.config FROM tasks t JOIN services s ON s.id = t.service_id WHERE t.id = $1")
        .bind(task_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| serde_json::from_str(&r.try_get::<String, _>("config")?).map_err(corrupt("service configuration"))).transpose()
}

/// Up to `page.limit + 1` live services of the cluster by name.
pub async fn list(conn: &mut AnyConnection, cluster: &str, page: &Page) -> Result<Vec<ServiceRow>> {
    let rows = sqlx::query(
        "SELECT id, cluster, name, status, config, created_at, pending_reason FROM services
         WHERE cluster = $1 AND status <> 'INACTIVE' AND name > $2 ORDER BY name LIMIT $3",
    )
    .bind(cluster)
    .bind(page.after.clone().unwrap_or_default())
    .bind(page.limit + 1)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(service_row).collect()
}

pub async fn update(conn: &mut AnyConnection, id: &str, status: &str, config: &ServiceConfig, now: &str) -> Result<()> {
    let config = serde_json::to_string(config).map_err(corrupt("service configuration"))?;
    sqlx::query("UPDATE services SET status = $2, config = $3, updated_at = $4 WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(config)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_deployment(conn: &mut AnyConnection, service_id: &str, d: &Deployment) -> Result<()> {
    sqlx::query(
        "INSERT INTO deployments (id, service_id, status, task_definition, desired_count, failed_tasks, rollout_state,
            rollout_state_reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&d.id)
    .bind(service_id)
    .bind(&d.status)
    .bind(&d.task_definition)
    .bind(d.desired_count)
    .bind(d.failed_tasks)
    .bind(&d.rollout_state)
    .bind(&d.rollout_state_reason)
    .bind(&d.created_at)
    .bind(&d.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Demotes the service's PRIMARY deployment to ACTIVE (a newer one takes over).
pub async fn demote_primary(conn: &mut AnyConnection, service_id: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE deployments SET status = 'ACTIVE', updated_at = $2 WHERE service_id = $1 AND status = 'PRIMARY'")
        .bind(service_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the desired count of the PRIMARY deployment (a scale without a new deployment).
pub async fn scale_primary(conn: &mut AnyConnection, service_id: &str, desired: i64, now: &str) -> Result<()> {
    sqlx::query("UPDATE deployments SET desired_count = $2, updated_at = $3 WHERE service_id = $1 AND status = 'PRIMARY'")
        .bind(service_id)
        .bind(desired)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks every deployment of the service INACTIVE (the service was deleted).
pub async fn retire_deployments(conn: &mut AnyConnection, service_id: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE deployments SET status = 'INACTIVE', updated_at = $2 WHERE service_id = $1").bind(service_id).bind(now).execute(conn).await?;
    Ok(())
}

/// The newest events of a cluster's services: (service name, event), newest first.
pub async fn recent_events(conn: &mut AnyConnection, cluster: &str, limit: i64) -> Result<Vec<(String, ServiceEvent)>> {
    let rows = sqlx::query(
        "SELECT s.name, e.seq, e.created_at, e.message FROM service_events e JOIN services s ON s.id = e.service_id
         WHERE s.cluster = $1 ORDER BY e.seq DESC LIMIT $2",
    )
    .bind(cluster)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            let seq: i64 = r.try_get("seq")?;
            Ok((r.try_get("name")?, ServiceEvent { id: seq.to_string(), created_at: r.try_get("created_at")?, message: r.try_get("message")? }))
        })
        .collect()
}

pub async fn add_event(conn: &mut AnyConnection, service_id: &str, message: &str, now: &str) -> Result<()> {
    sqlx::query("INSERT INTO service_events (service_id, created_at, message) VALUES ($1, $2, $3)")
        .bind(service_id)
        .bind(now)
        .bind(message)
        .execute(conn)
        .await?;
    Ok(())
}

/// Turns rows into described services: deployments, task counts and (when asked) events,
/// each fetched once for the whole set.
pub async fn assemble(conn: &mut AnyConnection, rows: Vec<ServiceRow>, with_events: bool) -> Result<Vec<Service>> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let cluster = first.cluster.clone();
    let single = (rows.len() == 1).then(|| first.id.clone());

    // Deployments of these services that are still in play (PRIMARY or ACTIVE); a deleted
    // service shows its last ones.
    let deployment_rows = sqlx::query(
        "SELECT d.id, d.service_id, d.status, d.task_definition, d.desired_count, d.failed_tasks, d.rollout_state,
                d.rollout_state_reason, d.created_at, d.updated_at
         FROM deployments d JOIN services s ON s.id = d.service_id
         WHERE s.cluster = $1 AND ($2 = '' OR s.id = $2) AND (d.status <> 'INACTIVE' OR s.status = 'INACTIVE')
         ORDER BY d.created_at DESC",
    )
    .bind(&cluster)
    .bind(single.clone().unwrap_or_default())
    .fetch_all(&mut *conn)
    .await?;
    // Task counts per deployment (tasks record their deployment in startedBy, as in ECS), as
    // the store keeps them.
    let count_rows = sqlx::query(
        "SELECT k.started_by, k.last_status, k.n FROM task_counts_by_deployment k JOIN services s ON s.id = k.service_id
         WHERE s.cluster = $1 AND ($2 = '' OR s.id = $2) AND k.n > 0",
    )
    .bind(&cluster)
    .bind(single.clone().unwrap_or_default())
    .fetch_all(&mut *conn)
    .await?;
    let mut counts: HashMap<String, (i64, i64)> = HashMap::new();
    for row in count_rows {
        let by: Option<String> = row.try_get::<String, _>("started_by").ok().filter(|b| !b.is_empty());
        let status: String = row.try_get("last_status")?;
        let n: i64 = row.try_get("n")?;
        let entry = counts.entry(by.unwrap_or_default()).or_default();
        match status.as_str() {
            "RUNNING" => entry.0 += n,
            "PROVISIONING" | "PENDING" | "ACTIVATING" => entry.1 += n,
            _ => {}
        }
    }
    let mut deployments: HashMap<String, Vec<Deployment>> = HashMap::new();
    for row in deployment_rows {
        let id: String = row.try_get("id")?;
        let (running, pending) = counts.get(&id).copied().unwrap_or_default();
        let service_id: String = row.try_get("service_id")?;
        deployments.entry(service_id).or_default().push(Deployment {
            status: row.try_get("status")?,
            task_definition: row.try_get("task_definition")?,
            desired_count: row.try_get("desired_count")?,
            pending_count: pending,
            running_count: running,
            failed_tasks: row.try_get("failed_tasks")?,
            rollout_state: row.try_get("rollout_state")?,
            rollout_state_reason: row.try_get("rollout_state_reason")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            id,
        });
    }
    let mut events: HashMap<String, Vec<ServiceEvent>> = HashMap::new();
    if with_events {
        for row in &rows {
            let event_rows = sqlx::query("SELECT seq, created_at, message FROM service_events WHERE service_id = $1 ORDER BY seq DESC LIMIT $2")
                .bind(&row.id)
                .bind(EVENTS_SHOWN)
                .fetch_all(&mut *conn)
                .await?;
            let list = event_rows
                .into_iter()
                .map(|e| {
                    let seq: i64 = e.try_get("seq")?;
                    Ok(ServiceEvent { id: seq.to_string(), created_at: e.try_get("created_at")?, message: e.try_get("message")? })
                })
                .collect::<Result<Vec<_>>>()?;
            events.insert(row.id.clone(), list);
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let deployments = deployments.remove(&row.id).unwrap_or_default();
            let (running_count, pending_count) = deployments.iter().fold((0, 0), |(r, p), d| (r + d.running_count, p + d.pending_count));
            Service {
                service_arn: arn::service(&row.cluster, &row.name),
                cluster_arn: arn::cluster(&row.cluster),
                status: row.status,
                running_count,
                pending_count,
                created_at: row.created_at,
                pending_reason: row.pending_reason,
                config: row.config,
                deployments,
                events: events.remove(&row.id).unwrap_or_default(),
                service_name: row.name,
            }
        })
        .collect())
}

/// Tasks of the service that have not stopped.
pub async fn live_task_count(conn: &mut AnyConnection, service_id: &str) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM tasks WHERE service_id = $1 AND last_status <> 'STOPPED'")
        .bind(service_id)
        .fetch_one(conn)
        .await?
        .try_get(0)?)
}

/// Asks every live task of the service to stop (the agent carries it out); returns each
/// live task's id and instance, for the stop messages to send once this commits.
/// Asks every live task of the service to stop; returns those not draining out of a target
/// group (their stop is the deregistration's), with their instances, for stop messages.
pub async fn stop_tasks(conn: &mut AnyConnection, service_id: &str, reason: &str) -> Result<Vec<(String, Option<String>)>> {
    let live = sqlx::query(
        "SELECT id, container_instance_id FROM tasks WHERE service_id = $1 AND last_status NOT IN ('STOPPED', 'DEACTIVATING') ORDER BY id",
    )
        .bind(service_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("container_instance_id")?)))
        .collect::<Result<Vec<_>>>()?;
    sqlx::query(
        "UPDATE tasks SET desired_status = 'STOPPED', stopped_reason = COALESCE(stopped_reason, $2)
         WHERE service_id = $1 AND desired_status <> 'STOPPED'",
    )
    .bind(service_id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(live)
}
