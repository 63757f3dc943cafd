/*! SQL of tasks (the read side; the scheduler and agents write them). */

use super::{Result, corrupt};
use sqlx::{AnyConnection, Row, any::AnyRow};
use wharf_app::backend::TaskFilter;
use wharf_core::arn;
use wharf_core::page::Page;
use wharf_core::task::Task;

const COLUMNS: &str = "t.id, t.cluster, t.task_definition, t.container_instance_id, t.task_group, t.started_by,
    t.last_status, t.desired_status, t.stopped_reason, t.containers, t.created_at, t.started_at, t.stopped_at";

const SELECT: &str = "SELECT t.id, t.cluster, t.task_definition, t.container_instance_id, t.task_group, t.started_by,
    t.last_status, t.desired_status, t.stopped_reason, t.containers, t.created_at, t.started_at, t.stopped_at
  FROM tasks t";

/// A task's columns in [`COLUMNS`] order.
type Columns = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn from_row(row: AnyRow) -> Result<Task> {
    from_columns((
        row.try_get("id")?,
        row.try_get("cluster")?,
        row.try_get("task_definition")?,
        row.try_get("container_instance_id")?,
        row.try_get("task_group")?,
        row.try_get("started_by")?,
        row.try_get("last_status")?,
        row.try_get("desired_status")?,
        row.try_get("stopped_reason")?,
        row.try_get("containers")?,
        row.try_get("created_at")?,
        row.try_get("started_at")?,
        row.try_get("stopped_at")?,
    ))
}

fn from_columns(c: Columns) -> Result<Task> {
    let (id, cluster, task_definition, instance, group, started_by, last_status, desired_status, stopped_reason, containers, created_at, started_at, stopped_at) = c;
    let (family, revision) = task_definition.rsplit_once(':').unwrap_or((&task_definition, "0"));
    Ok(Task {
        task_arn: arn::task(&cluster, &id),
        cluster_arn: arn::cluster(&cluster),
        task_definition_arn: arn::task_definition(family, revision.parse().unwrap_or(0)),
        container_instance_arn: instance.map(|i| arn::container_instance(&cluster, &i)),
        group,
        started_by,
        last_status,
        desired_status,
        stopped_reason,
        containers: serde_json::from_str(&containers).map_err(corrupt("task containers"))?,
        created_at,
        started_at,
        stopped_at,
        id,
    })
}

pub async fn get(conn: &mut AnyConnection, cluster: &str, id: &str) -> Result<Option<Task>> {
    let row = sqlx::query(&format!("{SELECT} WHERE t.cluster = $1 AND t.id = $2")).bind(cluster).bind(id).fetch_optional(conn).await?;
    row.map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection, cluster: &str, filter: &TaskFilter, page: &Page) -> Result<Vec<Task>> {
    // Only the filters given go into the statement, so the planner can pick the index that
    // serves them (an instance's tasks through its own index, not the cluster's).
    let mut clauses = vec!["t.cluster = $1".to_string(), "t.id > $2".to_string()];
    let mut binds = vec![cluster.to_string(), page.after.clone().unwrap_or_default()];
    fn add(clauses: &mut Vec<String>, binds: &mut Vec<String>, clause: &str, value: &str) {
        binds.push(value.to_string());
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    }
    let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    if let Some(service) = given(&filter.service_name) {
        add(&mut clauses, &mut binds, "t.task_group = ?", &format!("service:{service}"));
    }
    if let Some(status) = given(&filter.desired_status) {
        add(&mut clauses, &mut binds, "t.desired_status = ?", &status);
        // A task wanted RUNNING has not stopped: said in the partial indexes' own words.
        if status == "RUNNING" {
            clauses.push("t.last_status <> 'STOPPED'".into());
        }
    }
    if let Some(instance) = given(&filter.container_instance) {
        add(&mut clauses, &mut binds, "t.container_instance_id = ?", &instance);
    }
    if let Some(family) = given(&filter.family) {
        add(&mut clauses, &mut binds, "substr(t.task_definition, 1, length(?) + 1) = ? || ':'", &family);
    }
    let sql = format!("{SELECT} WHERE {} ORDER BY t.id LIMIT ${}", clauses.join(" AND "), binds.len() + 1);
    let mut query = sqlx::query(&sql);
    for b in &binds {
        query = query.bind(b);
    }
    let rows = query.bind(page.limit + 1).fetch_all(conn).await?;
    rows.into_iter().map(from_row).collect()
}

/// The cluster's newest tasks, newest first (ids are time-ordered, so the id index gives
/// them without sorting the history).
pub async fn recent(conn: &mut AnyConnection, cluster: &str, limit: i64) -> Result<Vec<Task>> {
    let rows = sqlx::query(&format!("{SELECT} WHERE t.cluster = $1 ORDER BY t.id DESC LIMIT $2"))
        .bind(cluster)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(from_row).collect()
}

/// Which stopped tasks failed ([`wharf_core::task::FAILURE_REASONS`]), word for word as the
/// partial index `tasks_failed_by_cluster` says it, so reads of failures use that index. Prefixes
/// are compared with `substr`, in their own case on both databases (SQLite's LIKE ignores case).
pub const FAILED: &str = "(substr(stopped_reason, 1, 34) = 'Essential container in task exited' \
    OR substr(stopped_reason, 1, 25) = 'CannotStartContainerError' OR substr(stopped_reason, 1, 15) = 'DependencyError' \
    OR substr(stopped_reason, 1, 51) = 'Task is no longer running on its container instance')";

/// The cluster's most recently stopped tasks that failed.
pub async fn recent_failures(conn: &mut AnyConnection, cluster: &str, limit: i64) -> Result<Vec<Task>> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE t.cluster = $1 AND t.last_status = 'STOPPED' AND {FAILED}
         ORDER BY t.stopped_at DESC LIMIT $2"
    ))
    .bind(cluster)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// The tasks of an instance that stopped most recently, newest first (through the instance's
/// index: its history is bounded by the stopped-task retention).
pub async fn recently_stopped_on(conn: &mut AnyConnection, cluster: &str, instance: &str, limit: i64) -> Result<Vec<Task>> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE t.container_instance_id = $1 AND t.cluster = $2 AND t.last_status = 'STOPPED' ORDER BY t.stopped_at DESC LIMIT $3"
    ))
    .bind(instance)
    .bind(cluster)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// A new task's row.
pub struct NewTask {
    pub id: String,
    pub cluster: String,
    pub task_definition: String,
    pub container_instance_id: String,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub service_id: Option<String>,
    pub containers: String,
    pub cpu: i64,
    pub memory: i64,
    pub host_ports: String,
}

/// Rows per statement of the batched writes: each statement carries its rows as one JSON
/// parameter (binding values one by one costs more than the write itself).
const ROWS_PER_STATEMENT: usize = 2000;

/// Tasks placed on instances: PENDING, desired RUNNING; thousands of rows per statement.
pub async fn insert(conn: &mut AnyConnection, list: &[NewTask], now: &str) -> Result<()> {
    for chunk in list.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|t| {
                let (id, cluster, definition, instance) = (&t.id, &t.cluster, &t.task_definition, &t.container_instance_id);
                (id, cluster, definition, instance, &t.group, &t.started_by, &t.containers, t.cpu, t.memory, &t.host_ports, &t.service_id)
            })
            .collect();
        let sql = format!(
            "INSERT INTO tasks (id, cluster, task_definition, container_instance_id, task_group, started_by,
                last_status, desired_status, containers, created_at, cpu, memory, host_ports, service_id)
             SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4, e.value ->> 5,
                'PENDING', 'RUNNING', e.value ->> 6, $2, CAST(e.value ->> 7 AS BIGINT), CAST(e.value ->> 8 AS BIGINT),
                e.value ->> 9, e.value ->> 10
             FROM {}",
            super::json_rows(conn)
        );
        sqlx::query(&sql).bind(super::json_param(&rows)).bind(now).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Tasks on one instance that are not finished (last status not STOPPED).
pub async fn live_on_instance(conn: &mut AnyConnection, instance_id: &str) -> Result<Vec<Task>> {
    let sql = format!("{SELECT} WHERE t.container_instance_id = $1 AND t.last_status <> 'STOPPED' ORDER BY t.id");
    let rows = sqlx::query(&sql).bind(instance_id).fetch_all(conn).await?;
    rows.into_iter().map(from_row).collect()
}

/// One task by id alone (agents name tasks by id), with the instance it is on.
pub async fn get_by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<(Task, Option<String>)>> {
    let row = sqlx::query(&format!("{SELECT} WHERE t.id = $1")).bind(id).fetch_optional(conn).await?;
    row.map(|row| {
        let instance: Option<String> = row.try_get("container_instance_id")?;
        Ok((from_row(row)?, instance))
    })
    .transpose()
}

/// Tasks by id, many at once (agents' reports come in batches), with their instance.
pub async fn get_many_by_id(conn: &mut AnyConnection, ids: &[&str]) -> Result<std::collections::HashMap<String, (Task, Option<String>)>> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<[&str; 1]> = chunk.iter().map(|id| [*id]).collect();
        let sql = format!(
            "SELECT {} FROM tasks t WHERE t.id IN (SELECT e.value ->> 0 FROM {})",
            super::json_agg(conn, COLUMNS),
            super::json_rows(conn)
        );
        let found: Option<String> = sqlx::query_scalar(&sql).bind(super::json_param(&rows)).fetch_one(&mut *conn).await?;
        let found: Vec<Columns> = serde_json::from_str(found.as_deref().unwrap_or("[]")).map_err(corrupt("task rows"))?;
        for columns in found {
            let instance = columns.3.clone();
            let task = from_columns(columns)?;
            out.insert(task.id.clone(), (task, instance));
        }
    }
    Ok(out)
}

/// A task's observed state as written: the record with its containers and host ports as JSON.
pub struct SavedState<'a> {
    pub task: &'a Task,
    pub containers: String,
    pub host_ports: String,
}

/// Writes many tasks' observed state (status, containers, times, reason, ports).
pub async fn save_states(conn: &mut AnyConnection, list: &[SavedState<'_>]) -> Result<()> {
    for chunk in list.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|s| {
                let t = s.task;
                (&t.id, &t.last_status, &t.desired_status, &t.stopped_reason, &s.containers, &t.started_at, &t.stopped_at, &s.host_ports)
            })
            .collect();
        let sql = format!(
            "UPDATE tasks SET last_status = e.value ->> 1, desired_status = e.value ->> 2, stopped_reason = e.value ->> 3,
                containers = e.value ->> 4, started_at = e.value ->> 5, stopped_at = e.value ->> 6, host_ports = e.value ->> 7
             FROM {} WHERE tasks.id = e.value ->> 0",
            super::json_rows(conn)
        );
        sqlx::query(&sql).bind(super::json_param(&rows)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes a task's observed state (status, containers, times, reason, ports).
pub async fn save_state(conn: &mut AnyConnection, task: &Task, host_ports: &str) -> Result<()> {
    let containers = serde_json::to_string(&task.containers).unwrap_or_else(|_| "[]".into());
    sqlx::query(
        "UPDATE tasks SET last_status = $2, desired_status = $3, stopped_reason = $4, containers = $5,
            started_at = $6, stopped_at = $7, host_ports = $8 WHERE id = $1",
    )
    .bind(&task.id)
    .bind(&task.last_status)
    .bind(&task.desired_status)
    .bind(&task.stopped_reason)
    .bind(containers)
    .bind(&task.started_at)
    .bind(&task.stopped_at)
    .bind(host_ports)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the live tasks on each instance of a cluster hold: CPU, memory and host ports.
pub struct Reservation {
    pub instance_id: String,
    pub cpu: i64,
    pub memory: i64,
    pub host_ports: String,
}

/// What the live tasks of these instances hold: CPU and memory from the kept counts, host
/// ports from the tasks that hold any (through their own partial index).
pub async fn reservations(conn: &mut AnyConnection, cluster: &str, instance_ids: &[String]) -> Result<Vec<Reservation>> {
    let mut out = Vec::new();
    for chunk in instance_ids.chunks(500) {
        let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let list = placeholders.join(", ");
        let sums = format!(
            "SELECT container_instance_id, CAST(SUM(cpu) AS BIGINT) AS cpu, CAST(SUM(memory) AS BIGINT) AS memory
             FROM task_counts_by_instance WHERE cluster = $1 AND container_instance_id IN ({list}) GROUP BY container_instance_id"
        );
        let ports = format!(
            "SELECT container_instance_id, CAST(0 AS BIGINT) AS cpu, CAST(0 AS BIGINT) AS memory, host_ports FROM tasks
             WHERE container_instance_id IN ({list}) AND last_status <> 'STOPPED' AND host_ports <> '[]' AND cluster = $1"
        );
        for (sql, with_ports) in [(sums, false), (ports, true)] {
            let mut query = sqlx::query(&sql).bind(cluster);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                out.push(Reservation {
                    instance_id: row.try_get("container_instance_id")?,
                    cpu: row.try_get("cpu")?,
                    memory: row.try_get("memory")?,
                    host_ports: if with_ports { row.try_get("host_ports")? } else { "[]".into() },
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// The failure condition, the reasons it names and the partial index must say the same.
    #[test]
    fn the_failure_condition_matches_the_reasons_and_the_index() {
        let condition: String = super::FAILED.split_whitespace().collect::<Vec<_>>().join(" ");
        for reason in wharf_core::task::FAILURE_REASONS {
            assert!(condition.contains(&format!("substr(stopped_reason, 1, {}) = '{reason}'", reason.len())), "{reason} missing from {condition}");
        }
        assert_eq!(condition.matches(" = '").count(), wharf_core::task::FAILURE_REASONS.len());
        for migration in [include_str!("../../../migrations/sqlite/0009_failures_by_case.sql"), include_str!("../../../migrations/postgres/0009_failures_by_case.sql")] {
            let flat: String = migration.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(flat.contains(&format!("WHERE last_status = 'STOPPED' AND {condition};")), "the index's condition differs");
        }
    }
}
