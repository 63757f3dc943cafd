/*! SQL of container instances (the read side; agents write them). */

use super::{Result, corrupt};
use sqlx::{AnyConnection, Row, any::AnyRow};
use wharf_core::arn;
use wharf_core::instance::ContainerInstance;
use wharf_core::page::Page;

const SELECT: &str = "SELECT i.id, i.cluster, i.name, i.status, i.agent_connected, i.registered_resources,
    i.remaining_resources, i.attributes, i.version_info, i.registered_at, i.last_heartbeat_at,
    (SELECT COUNT(*) FROM tasks t WHERE t.container_instance_id = i.id AND t.last_status = 'RUNNING') AS running,
    (SELECT COUNT(*) FROM tasks t WHERE t.container_instance_id = i.id AND t.last_status IN ('PROVISIONING', 'PENDING', 'ACTIVATING')) AS pending
  FROM container_instances i";

fn from_row(row: AnyRow) -> Result<ContainerInstance> {
    let json = |col: &str| -> Result<String> { Ok(row.try_get::<String, _>(col)?) };
    let id: String = row.try_get("id")?;
    let cluster: String = row.try_get("cluster")?;
    let connected: i64 = row.try_get("agent_connected")?;
    Ok(ContainerInstance {
        container_instance_arn: arn::container_instance(&cluster, &id),
        name: row.try_get("name")?,
        status: row.try_get("status")?,
        agent_connected: connected != 0,
        registered_resources: serde_json::from_str(&json("registered_resources")?).map_err(corrupt("resources"))?,
        remaining_resources: serde_json::from_str(&json("remaining_resources")?).map_err(corrupt("resources"))?,
        attributes: serde_json::from_str(&json("attributes")?).map_err(corrupt("attributes"))?,
        version_info: serde_json::from_str(&json("version_info")?).map_err(corrupt("version info"))?,
        running_tasks_count: row.try_get("running")?,
        pending_tasks_count: row.try_get("pending")?,
        registered_at: row.try_get("registered_at")?,
        last_heartbeat_at: row.try_get("last_heartbeat_at")?,
        cluster_name: cluster,
        id,
    })
}

pub async fn get(conn: &mut AnyConnection, cluster: &str, id: &str) -> Result<Option<ContainerInstance>> {
    let row = sqlx::query(&format!("{SELECT} WHERE i.cluster = $1 AND i.id = $2"))
        .bind(cluster)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(from_row).transpose()
}

pub async fn list(conn: &mut AnyConnection, cluster: &str, page: &Page) -> Result<Vec<ContainerInstance>> {
    let rows = sqlx::query(&format!("{SELECT} WHERE i.cluster = $1 AND i.id > $2 ORDER BY i.id LIMIT $3"))
        .bind(cluster)
        .bind(page.after.clone().unwrap_or_default())
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(from_row).collect()
}

pub struct NewInstance<'a> {
    pub id: &'a str,
    pub cluster: &'a str,
    pub name: &'a str,
    pub resources: &'a str,
    pub attributes: &'a str,
    pub version_info: &'a str,
    pub credential_hash: &'a str,
    pub join_token_id: &'a str,
}

/// Registers a host: ACTIVE, not yet connected, remaining resources = registered.
pub async fn insert(conn: &mut AnyConnection, i: &NewInstance<'_>, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO container_instances (id, cluster, name, status, agent_connected, registered_resources,
            remaining_resources, attributes, version_info, registered_at, credential_hash, join_token_id)
         VALUES ($1, $2, $3, 'ACTIVE', 0, $4, $4, $5, $6, $7, $8, $9)",
    )
    .bind(i.id)
    .bind(i.cluster)
    .bind(i.name)
    .bind(i.resources)
    .bind(i.attributes)
    .bind(i.version_info)
    .bind(now)
    .bind(i.credential_hash)
    .bind(i.join_token_id)
    .execute(conn)
    .await?;
    Ok(())
}
