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
    let row = sqlx::query(&format!("{SELECT} WHERE t.cluster = $1 AND t.id = $2"))
        .bind(cluster)
        .bind(id)
        .fetch_optional(conn)
        .await?;
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
