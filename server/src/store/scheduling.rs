/*!
SQL of the scheduling loop: the state it loads once per pass (live tasks, services with their
deployments) and the batched writes of a plan. Reads here never run per placement.
*/

use super::services::{ServiceRow, service_row};
use super::{Result, corrupt};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use wharf_core::task::Container;

/// A task that has not stopped, as the scheduler needs it.
#[derive(Debug, Clone)]
pub struct LiveTask {
    pub id: String,
    pub instance_id: Option<String>,
    pub service_id: Option<String>,
    /// For a service's tasks: the deployment that started it.
    pub started_by: Option<String>,
    pub group: Option<String>,
    pub task_definition: String,
    pub last_status: String,
    pub desired_status: String,
    /// As stored (JSON); parsed only where health matters.
    pub containers: String,
    pub cpu: i64,
    pub memory: i64,
    pub host_ports: Vec<String>,
    /// When it reached RUNNING.
    pub started_at: Option<String>,
}

pub async fn live_tasks(conn: &mut AnyConnection, cluster: &str) -> Result<Vec<LiveTask>> {
    let rows = sqlx::query(
        "SELECT id, container_instance_id, service_id, started_by, task_group, task_definition, last_status, desired_status,
                containers, cpu, memory, host_ports, started_at
         FROM tasks WHERE cluster = $1 AND last_status <> 'STOPPED' ORDER BY id",
    )
    .bind(cluster)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let ports: String = row.try_get("host_ports")?;
            Ok(LiveTask {
                id: row.try_get("id")?,
                instance_id: row.try_get("container_instance_id")?,
                service_id: row.try_get("service_id")?,
                started_by: row.try_get("started_by")?,
                group: row.try_get("task_group")?,
                task_definition: row.try_get("task_definition")?,
                last_status: row.try_get("last_status")?,
                desired_status: row.try_get("desired_status")?,
                containers: row.try_get("containers")?,
                cpu: row.try_get("cpu")?,
                memory: row.try_get("memory")?,
                host_ports: serde_json::from_str(&ports).map_err(corrupt("task host ports"))?,
                started_at: row.try_get("started_at")?,
            })
        })
        .collect()
}

/// Live tasks counted by instance, service and state, with what they reserve: what a picture
/// of a cluster's instances needs, without reading every task.
#[derive(Debug, Clone, Default)]
pub struct TaskTally {
    pub instance_id: Option<String>,
    pub service_id: Option<String>,
    pub group: Option<String>,
    pub last_status: String,
    pub count: i64,
    pub cpu: i64,
    pub memory: i64,
}

/// A cluster's live tasks by status, as the store keeps them (`task_counts_by_cluster`).
pub async fn cluster_counts(conn: &mut AnyConnection, cluster: &str) -> Result<Vec<TaskTally>> {
    let rows = sqlx::query("SELECT last_status, n, cpu, memory FROM task_counts_by_cluster WHERE cluster = $1 AND n > 0")
        .bind(cluster)
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(TaskTally {
                last_status: row.try_get("last_status")?,
                count: row.try_get("n")?,
                cpu: row.try_get("cpu")?,
                memory: row.try_get("memory")?,
                ..Default::default()
            })
        })
        .collect()
}

/// [`live_task_tallies`] of these instances only.
pub async fn live_task_tallies_of(conn: &mut AnyConnection, cluster: &str, instance_ids: &[String]) -> Result<Vec<TaskTally>> {
    let mut out = Vec::new();
    for chunk in instance_ids.chunks(500) {
        let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT container_instance_id, service_id, task_group, last_status, n, cpu, memory
             FROM task_counts_by_instance WHERE cluster = $1 AND container_instance_id IN ({}) AND n > 0",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(cluster);
        for id in chunk {
            query = query.bind(id);
        }
        out.extend(tallies_from(query.fetch_all(&mut *conn).await?)?);
    }
    Ok(out)
}

/// The counts the store keeps (`task_counts_by_instance`, '' for an absent key).
pub async fn live_task_tallies(conn: &mut AnyConnection, cluster: &str) -> Result<Vec<TaskTally>> {
    let rows = sqlx::query(
        "SELECT container_instance_id, service_id, task_group, last_status, n, cpu, memory
         FROM task_counts_by_instance WHERE cluster = $1 AND n > 0",
    )
    .bind(cluster)
    .fetch_all(conn)
    .await?;
    tallies_from(rows)
}

fn tallies_from(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<TaskTally>> {
    let key = |row: &sqlx::any::AnyRow, col: &str| -> Result<Option<String>> { Ok(Some(row.try_get::<String, _>(col)?).filter(|v| !v.is_empty())) };
    rows.into_iter()
        .map(|row| {
            Ok(TaskTally {
                instance_id: key(&row, "container_instance_id")?,
                service_id: key(&row, "service_id")?,
                group: key(&row, "task_group")?,
                last_status: row.try_get("last_status")?,
                count: row.try_get("n")?,
                cpu: row.try_get("cpu")?,
                memory: row.try_get("memory")?,
            })
        })
        .collect()
}

impl LiveTask {
    pub fn tally(&self) -> TaskTally {
        TaskTally {
            instance_id: self.instance_id.clone(),
            service_id: self.service_id.clone(),
            group: self.group.clone(),
            last_status: self.last_status.clone(),
            count: 1,
            cpu: self.cpu,
            memory: self.memory,
        }
    }

    pub fn containers(&self) -> Result<Vec<Container>> {
        serde_json::from_str(&self.containers).map_err(corrupt("task containers"))
    }
}

#[derive(Debug, Clone)]
pub struct DeploymentRow {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: i64,
    pub failed_tasks: i64,
    pub rollout_state: String,
    pub created_at: String,
}

/// A live service with what the loop tracks about it.
#[derive(Debug, Clone)]
pub struct ServiceState {
    pub row: ServiceRow,
    pub start_failures: i64,
    pub throttled_until: Option<String>,
    pub pending_reason: Option<String>,
    /// Newest first.
    pub deployments: Vec<DeploymentRow>,
}

/// Clusters with a service that is not INACTIVE: the ones a pass has work in.
pub async fn busy_clusters(conn: &mut AnyConnection) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT cluster FROM services WHERE status <> 'INACTIVE' ORDER BY cluster").fetch_all(conn).await?;
    rows.into_iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub async fn services(conn: &mut AnyConnection, cluster: &str) -> Result<Vec<ServiceState>> {
    let rows = sqlx::query(
        "SELECT id, cluster, name, status, config, created_at, start_failures, throttled_until, pending_reason
         FROM services WHERE cluster = $1 AND status <> 'INACTIVE' ORDER BY name",
    )
    .bind(cluster)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let start_failures = row.try_get("start_failures")?;
        let throttled_until = row.try_get("throttled_until")?;
        let pending_reason = row.try_get("pending_reason")?;
        out.push(ServiceState { row: service_row(row)?, start_failures, throttled_until, pending_reason, deployments: Vec::new() });
    }
    let deployments = sqlx::query(
        "SELECT d.id, d.service_id, d.status, d.task_definition, d.desired_count, d.failed_tasks, d.rollout_state, d.created_at
         FROM deployments d JOIN services s ON s.id = d.service_id
         WHERE s.cluster = $1 AND s.status <> 'INACTIVE' ORDER BY d.created_at DESC, d.id",
    )
    .bind(cluster)
    .fetch_all(conn)
    .await?;
    let mut by_service: HashMap<String, Vec<DeploymentRow>> = HashMap::new();
    for d in deployments {
        let service_id: String = d.try_get("service_id")?;
        by_service.entry(service_id).or_default().push(DeploymentRow {
            id: d.try_get("id")?,
            status: d.try_get("status")?,
            task_definition: d.try_get("task_definition")?,
            desired_count: d.try_get("desired_count")?,
            failed_tasks: d.try_get("failed_tasks")?,
            rollout_state: d.try_get("rollout_state")?,
            created_at: d.try_get("created_at")?,
        });
    }
    for s in &mut out {
        s.deployments = by_service.remove(&s.row.id).unwrap_or_default();
    }
    Ok(out)
}

/// Takes or renews the scheduling lease; false when another server holds it.
pub async fn hold_lease(conn: &mut AnyConnection, holder: &str, now: &str, until: &str) -> Result<bool> {
    let renewed =
        sqlx::query("UPDATE scheduler_leases SET holder = $1, expires_at = $2 WHERE name = 'scheduler' AND (holder = $1 OR expires_at < $3)")
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if renewed > 0 {
        return Ok(true);
    }
    let taken = sqlx::query("SELECT holder FROM scheduler_leases WHERE name = 'scheduler'").fetch_optional(&mut *conn).await?;
    if taken.is_some() {
        return Ok(false);
    }
    sqlx::query("INSERT INTO scheduler_leases (name, holder, expires_at) VALUES ('scheduler', $1, $2)")
        .bind(holder)
        .bind(until)
        .execute(conn)
        .await?;
    Ok(true)
}

/// How long a service waits before starting tasks again after `failures` failed starts in a
/// row: nothing for the first two, then `base` seconds doubling per failure, at most 15
/// minutes (ECS's task start throttling).
pub fn start_backoff_secs(failures: i64, base: u64) -> Option<u64> {
    (failures >= 3).then(|| base.saturating_mul(1 << (failures - 3).min(16)).min(900))
}

/// Tasks still wanted that have not reached RUNNING and were created before `before`: (id,
/// cluster, instance).
pub async fn stuck_before_running(conn: &mut AnyConnection, before: &str) -> Result<Vec<(String, String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT id, cluster, container_instance_id FROM tasks
         WHERE last_status IN ('PROVISIONING', 'PENDING', 'ACTIVATING')
           AND desired_status = 'RUNNING' AND created_at < $1
         ORDER BY created_at LIMIT 1000",
    )
    .bind(before)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(|r| Ok((r.try_get("id")?, r.try_get("cluster")?, r.try_get("container_instance_id")?))).collect()
}

/// Asks a task to stop (its agent carries it out); the first reason given stays.
pub async fn request_stop(conn: &mut AnyConnection, id: &str, reason: &str) -> Result<()> {
    sqlx::query(
        "UPDATE tasks SET desired_status = 'STOPPED', stopped_reason = COALESCE(stopped_reason, $2)
         WHERE id = $1 AND desired_status <> 'STOPPED'",
    )
    .bind(id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// What [`deactivate`] takes out.
pub enum Deactivate<'a> {
    Task(&'a str),
    /// Every RUNNING task of a service.
    OfService(&'a str),
}

/// Takes a RUNNING task out of its target groups before it stops (ECS's DEACTIVATING): no
/// new requests reach it, those in flight finish, and its agent is told to stop it once the
/// load balancer says it drained, or at `until` at the latest.
/// Returns how many tasks it took out.
pub async fn deactivate(conn: &mut AnyConnection, which: Deactivate<'_>, reason: &str, until: &str) -> Result<u64> {
    let (column, id) = match which {
        Deactivate::Task(id) => ("id", id),
        Deactivate::OfService(id) => ("service_id", id),
    };
    Ok(sqlx::query(&format!(
        "UPDATE tasks SET desired_status = 'STOPPED', stopped_reason = COALESCE(stopped_reason, $2), last_status = 'DEACTIVATING',
            deregister_by = $3
         WHERE {column} = $1 AND desired_status <> 'STOPPED' AND last_status = 'RUNNING'"
    ))
    .bind(id)
    .bind(reason)
    .bind(until)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A deactivating task has nothing in flight: its stop is due now.
pub async fn drained(conn: &mut AnyConnection, id: &str, now: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE tasks SET deregister_by = $2 WHERE id = $1 AND last_status = 'DEACTIVATING' AND deregister_by > $2")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deactivating tasks whose stop is due: (id, instance, reason).
pub async fn due_deactivations(conn: &mut AnyConnection, cluster: &str, now: &str) -> Result<Vec<(String, Option<String>, String)>> {
    let rows = sqlx::query(
        "SELECT id, container_instance_id, stopped_reason FROM tasks
         WHERE cluster = $1 AND deregister_by IS NOT NULL AND deregister_by <= $2 AND last_status = 'DEACTIVATING'",
    )
    .bind(cluster)
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("container_instance_id")?, r.try_get::<Option<String>, _>("stopped_reason")?.unwrap_or_default())))
        .collect()
}

/// Of `ids`, the tasks still draining out of their target groups: their stop is the
/// deregistration's to send, not a report's or a reconnect's.
pub async fn draining(conn: &mut AnyConnection, ids: &[&str]) -> Result<std::collections::HashSet<String>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<[&str; 1]> = ids.iter().map(|id| [*id]).collect();
    let sql = format!("SELECT t.id FROM tasks t WHERE t.id IN (SELECT e.value ->> 0 FROM {}) AND t.deregister_by IS NOT NULL", super::json_rows(conn));
    let found = sqlx::query(&sql).bind(super::json_param(&rows)).fetch_all(&mut *conn).await?;
    found.into_iter().map(|r| Ok(r.try_get("id")?)).collect()
}

/// Its agent was told to stop it.
pub async fn deregistered(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE tasks SET deregister_by = NULL WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// A task whose host is gone for good: STOPPED now, nothing left to ask of its agent (if the
/// agent comes back, its hello finds the task unwanted and stops it).
pub async fn mark_lost(conn: &mut AnyConnection, id: &str, reason: &str, now: &str) -> Result<()> {
    sqlx::query(
        "UPDATE tasks SET last_status = 'STOPPED', desired_status = 'STOPPED', stopped_reason = COALESCE(stopped_reason, $2),
            stopped_at = $3, host_ports = '[]' WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_rollout(conn: &mut AnyConnection, id: &str, state: &str, reason: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE deployments SET rollout_state = $2, rollout_state_reason = $3, updated_at = $4 WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(reason)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_desired(conn: &mut AnyConnection, deployment_id: &str, desired: i64) -> Result<()> {
    sqlx::query("UPDATE deployments SET desired_count = $2 WHERE id = $1 AND desired_count <> $2")
        .bind(deployment_id)
        .bind(desired)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deployments other than the PRIMARY one whose tasks are all gone.
pub async fn retire(conn: &mut AnyConnection, id: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE deployments SET status = 'INACTIVE', updated_at = $2 WHERE id = $1").bind(id).bind(now).execute(conn).await?;
    Ok(())
}

pub async fn set_pending_reason(conn: &mut AnyConnection, service_id: &str, reason: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE services SET pending_reason = $2 WHERE id = $1").bind(service_id).bind(reason).execute(conn).await?;
    Ok(())
}

/// Tasks that reached RUNNING end their services' runs of failed starts.
pub async fn tasks_started(conn: &mut AnyConnection, task_ids: &[String]) -> Result<()> {
    // Nearly always no service is counting failures: one cheap look saves the join below.
    let counting: Option<i64> = sqlx::query_scalar("SELECT 1 FROM services WHERE start_failures > 0 LIMIT 1").fetch_optional(&mut *conn).await?;
    if task_ids.is_empty() || counting.is_none() {
        return Ok(());
    }
    let rows: Vec<[&str; 1]> = task_ids.iter().map(|id| [id.as_str()]).collect();
    let sql = format!(
        "UPDATE services SET start_failures = 0, throttled_until = NULL
         WHERE start_failures > 0 AND id IN (SELECT t.service_id FROM tasks t WHERE t.id IN (SELECT e.value ->> 0 FROM {}))",
        super::json_rows(conn)
    );
    sqlx::query(&sql).bind(super::json_param(&rows)).execute(&mut *conn).await?;
    Ok(())
}

/// A service task stopped while it was wanted (`failed`) or reached RUNNING: counts the
/// failure on its deployment and backs starts off after three in a row (ECS's task start
/// throttling), or clears the count.
pub async fn task_outcome(conn: &mut AnyConnection, task_id: &str, failed: bool, now: &str, backoff_base_secs: u64) -> Result<()> {
    let Some(row) = sqlx::query("SELECT service_id, started_by FROM tasks WHERE id = $1 AND service_id IS NOT NULL")
        .bind(task_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(());
    };
    let service_id: String = row.try_get("service_id")?;
    let deployment: Option<String> = row.try_get("started_by")?;
    if !failed {
        sqlx::query("UPDATE services SET start_failures = 0, throttled_until = NULL WHERE id = $1 AND start_failures > 0")
            .bind(&service_id)
            .execute(conn)
            .await?;
        return Ok(());
    }
    sqlx::query("UPDATE deployments SET failed_tasks = failed_tasks + 1, updated_at = $2 WHERE id = $1")
        .bind(deployment.unwrap_or_default())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let failures: i64 = sqlx::query("UPDATE services SET start_failures = start_failures + 1 WHERE id = $1 RETURNING start_failures")
        .bind(&service_id)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if let Some(secs) = start_backoff_secs(failures, backoff_base_secs) {
        let until = chrono::Utc::now() + chrono::Duration::seconds(secs as i64);
        sqlx::query("UPDATE services SET throttled_until = $2 WHERE id = $1")
            .bind(&service_id)
            .bind(until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn starts_back_off_from_five_seconds_doubling_to_fifteen_minutes() {
        let secs: Vec<Option<u64>> = (1..=12).map(|n| super::start_backoff_secs(n, 5)).collect();
        assert_eq!(secs[..2], [None, None], "two failures are not yet a pattern");
        assert_eq!(secs[2..], [5, 10, 20, 40, 80, 160, 320, 640, 900, 900].map(Some));
        assert_eq!(super::start_backoff_secs(i64::MAX, 5), Some(900), "no overflow however long it fails");
    }
}
