/*! SQL of tasks (the read side; the scheduler and agents write them). */

use super::{Result, corrupt};
use sqlx::{AnyConnection, Row, any::AnyRow};
use wharf_app::backend::TaskFilter;
use wharf_core::arn;
use wharf_core::page::Page;
use wharf_core::task::Task;

const SELECT: &str = "SELECT t.id, t.cluster, t.task_definition, t.container_instance_id, t.task_group, t.started_by,
    t.last_status, t.desired_status, t.stopped_reason, t.containers, t.created_at, t.started_at, t.stopped_at
  FROM tasks t";

fn from_row(row: AnyRow) -> Result<Task> {
    let id: String = row.try_get("id")?;
    let cluster: String = row.try_get("cluster")?;
    let task_definition: String = row.try_get("task_definition")?;
    let instance: Option<String> = row.try_get("container_instance_id")?;
    let containers: String = row.try_get("containers")?;
    let (family, revision) = task_definition.rsplit_once(':').unwrap_or((&task_definition, "0"));
    Ok(Task {
        task_arn: arn::task(&cluster, &id),
        cluster_arn: arn::cluster(&cluster),
        task_definition_arn: arn::task_definition(family, revision.parse().unwrap_or(0)),
        container_instance_arn: instance.map(|i| arn::container_instance(&cluster, &i)),
        group: row.try_get("task_group")?,
        started_by: row.try_get("started_by")?,
        last_status: row.try_get("last_status")?,
        desired_status: row.try_get("desired_status")?,
        stopped_reason: row.try_get("stopped_reason")?,
        containers: serde_json::from_str(&containers).map_err(corrupt("task containers"))?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        stopped_at: row.try_get("stopped_at")?,
        id,
    })
}

pub async fn get(conn: &mut AnyConnection, cluster: &str, id: &str) -> Result<Option<Task>> {
    let row = sqlx::query(&format!("{SELECT} WHERE t.cluster = $1 AND t.id = $2")).bind(cluster).bind(id).fetch_optional(conn).await?;
    row.map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection, cluster: &str, filter: &TaskFilter, page: &Page) -> Result<Vec<Task>> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE t.cluster = $1 AND t.id > $2
           AND ($3 = '' OR t.task_group = 'service:' || $3)
           AND ($4 = '' OR t.desired_status = $4)
           AND ($5 = '' OR t.container_instance_id = $5)
           AND ($6 = '' OR substr(t.task_definition, 1, length($6) + 1) = $6 || ':')
         ORDER BY t.id LIMIT $7"
    ))
    .bind(cluster)
    .bind(page.after.clone().unwrap_or_default())
    .bind(filter.service_name.clone().unwrap_or_default())
    .bind(filter.desired_status.clone().unwrap_or_default())
    .bind(filter.container_instance.clone().unwrap_or_default())
    .bind(filter.family.clone().unwrap_or_default())
    .bind(page.limit + 1)
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
    pub spec: String,
}

/// Tasks placed on instances: PENDING, desired RUNNING; many rows per statement.
pub async fn insert(conn: &mut AnyConnection, list: &[NewTask], now: &str) -> Result<()> {
    const COLUMNS: usize = 13;
    for chunk in list.chunks(PARAMS_PER_STATEMENT / COLUMNS) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let m = |c: usize| format!("${}", r * COLUMNS + c);
                format!(
                    "({}, {}, {}, {}, {}, {}, 'PENDING', 'RUNNING', {}, {}, {}, {}, {}, {}, {})",
                    m(1), m(2), m(3), m(4), m(5), m(6), m(7), m(8), m(9), m(10), m(11), m(12), m(13)
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO tasks (id, cluster, task_definition, container_instance_id, task_group, started_by,
                last_status, desired_status, containers, created_at, cpu, memory, host_ports, spec, service_id)
             VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for t in chunk {
            query = query
                .bind(&t.id)
                .bind(&t.cluster)
                .bind(&t.task_definition)
                .bind(&t.container_instance_id)
                .bind(&t.group)
                .bind(&t.started_by)
                .bind(&t.containers)
                .bind(now)
                .bind(t.cpu)
                .bind(t.memory)
                .bind(&t.host_ports)
                .bind(&t.spec)
                .bind(&t.service_id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A task as its instance's agent session needs it: the public record plus the runtime spec.
pub struct AgentTask {
    pub task: Task,
    pub spec: Option<String>,
}

/// Tasks on one instance that are not finished (last status not STOPPED).
pub async fn live_on_instance(conn: &mut AnyConnection, instance_id: &str) -> Result<Vec<AgentTask>> {
    let rows = sqlx::query(
        "SELECT t.id, t.cluster, t.task_definition, t.container_instance_id, t.task_group, t.started_by,
            t.last_status, t.desired_status, t.stopped_reason, t.containers, t.created_at, t.started_at, t.stopped_at, t.spec
         FROM tasks t WHERE t.container_instance_id = $1 AND t.last_status <> 'STOPPED' ORDER BY t.id",
    )
    .bind(instance_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let spec: Option<String> = row.try_get("spec")?;
            Ok(AgentTask { task: from_row(row)?, spec })
        })
        .collect()
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

/// Statements over many rows bind at most this many values: binding looks each parameter up
/// by name in a list, so the cost of a statement grows with the square of its parameters.
const PARAMS_PER_STATEMENT: usize = 200;

/// Tasks by id, many at once (agents' reports come in batches), with their instance.
pub async fn get_many_by_id(conn: &mut AnyConnection, ids: &[&str]) -> Result<std::collections::HashMap<String, (Task, Option<String>)>> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(PARAMS_PER_STATEMENT) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("{SELECT} WHERE t.id IN ({})", marks.join(", "));
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let instance: Option<String> = row.try_get("container_instance_id")?;
            let task = from_row(row)?;
            out.insert(task.id.clone(), (task, instance));
        }
    }
    Ok(out)
}

/// Writes many tasks' observed state, 25 rows per statement.
pub async fn save_states(conn: &mut AnyConnection, list: &[(&Task, String)]) -> Result<()> {
    const COLUMNS: usize = 8;
    for chunk in list.chunks(PARAMS_PER_STATEMENT / COLUMNS) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let marks: Vec<String> = (1..=COLUMNS).map(|c| format!("${}", r * COLUMNS + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        // VALUES columns are column1… in SQLite and PostgreSQL alike.
        let sql = format!(
            "UPDATE tasks SET last_status = v.column2, desired_status = v.column3, stopped_reason = v.column4,
                containers = v.column5, started_at = v.column6, stopped_at = v.column7, host_ports = v.column8
             FROM (VALUES {}) AS v WHERE tasks.id = v.column1",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (task, ports) in chunk {
            query = query
                .bind(&task.id)
                .bind(&task.last_status)
                .bind(&task.desired_status)
                .bind(&task.stopped_reason)
                .bind(serde_json::to_string(&task.containers).unwrap_or_else(|_| "[]".into()))
                .bind(&task.started_at)
                .bind(&task.stopped_at)
                .bind(ports);
        }
        query.execute(&mut *conn).await?;
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

pub async fn reservations(conn: &mut AnyConnection, cluster: &str, instance_id: Option<&str>) -> Result<Vec<Reservation>> {
    let rows = sqlx::query(
        "SELECT container_instance_id, cpu, memory, host_ports FROM tasks
         WHERE cluster = $1 AND last_status <> 'STOPPED' AND container_instance_id IS NOT NULL
           AND ($2 = '' OR container_instance_id = $2)",
    )
    .bind(cluster)
    .bind(instance_id.unwrap_or_default())
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Reservation {
                instance_id: row.try_get("container_instance_id")?,
                cpu: row.try_get("cpu")?,
                memory: row.try_get("memory")?,
                host_ports: row.try_get("host_ports")?,
            })
        })
        .collect()
}
