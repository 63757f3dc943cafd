/*! SQL of clusters, with the counts `DescribeClusters` reports. */

use super::{Result, corrupt, map_unique};
use sqlx::{AnyConnection, Row, any::AnyRow};
use wharf_core::arn;
use wharf_core::cluster::Cluster;
use wharf_core::page::Page;

const SELECT: &str = "SELECT c.name, c.tags, c.created_at, c.task_policy, c.trusted_attributes,
    (SELECT COUNT(*) FROM container_instances i WHERE i.cluster = c.name AND i.status <> 'INACTIVE') AS instances,
    (SELECT CAST(COALESCE(SUM(k.n), 0) AS BIGINT) FROM task_counts_by_cluster k WHERE k.cluster = c.name AND k.last_status = 'RUNNING') AS running,
    (SELECT CAST(COALESCE(SUM(k.n), 0) AS BIGINT) FROM task_counts_by_cluster k WHERE k.cluster = c.name
        AND k.last_status IN ('PROVISIONING', 'PENDING', 'ACTIVATING')) AS pending,
    (SELECT COUNT(*) FROM services s WHERE s.cluster = c.name AND s.status = 'ACTIVE') AS services
  FROM clusters c";

fn from_row(row: AnyRow) -> Result<Cluster> {
    let name: String = row.try_get("name")?;
    let tags: String = row.try_get("tags")?;
    Ok(Cluster {
        cluster_arn: arn::cluster(&name),
        status: "ACTIVE".into(),
        registered_container_instances_count: row.try_get("instances")?,
        running_tasks_count: row.try_get("running")?,
        pending_tasks_count: row.try_get("pending")?,
        active_services_count: row.try_get("services")?,
        created_at: row.try_get("created_at")?,
        tags: serde_json::from_str(&tags).map_err(corrupt("cluster tags"))?,
        task_policy: serde_json::from_str(&row.try_get::<String, _>("task_policy")?).map_err(corrupt("cluster task policy"))?,
        trusted_attributes: serde_json::from_str(&row.try_get::<String, _>("trusted_attributes")?).map_err(corrupt("cluster trusted attributes"))?,
        cluster_name: name,
    })
}

pub async fn insert(conn: &mut AnyConnection, name: &str, tags: &str, task_policy: &str, trusted: &str, now: &str) -> Result<()> {
    sqlx::query("INSERT INTO clusters (name, tags, task_policy, trusted_attributes, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(name)
        .bind(tags)
        .bind(task_policy)
        .bind(trusted)
        .bind(now)
        .execute(conn)
        .await
        .map_err(map_unique)?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, name: &str) -> Result<Option<Cluster>> {
    let row = sqlx::query(&format!("{SELECT} WHERE c.name = $1")).bind(name).fetch_optional(conn).await?;
    row.map(from_row).transpose()
}

/// Up to `page.limit + 1` clusters after the page's key, by name.
pub async fn list(conn: &mut AnyConnection, page: &Page) -> Result<Vec<Cluster>> {
    let rows = sqlx::query(&format!("{SELECT} WHERE c.name > $1 ORDER BY c.name LIMIT $2"))
        .bind(page.after.clone().unwrap_or_default())
        .bind(page.limit + 1)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(from_row).collect()
}

pub async fn set_task_policy(conn: &mut AnyConnection, name: &str, task_policy: &str) -> Result<()> {
    sqlx::query("UPDATE clusters SET task_policy = $2 WHERE name = $1").bind(name).bind(task_policy).execute(conn).await?;
    Ok(())
}

pub async fn set_trusted_attributes(conn: &mut AnyConnection, name: &str, trusted: &str) -> Result<()> {
    sqlx::query("UPDATE clusters SET trusted_attributes = $2 WHERE name = $1").bind(name).bind(trusted).execute(conn).await?;
    Ok(())
}

/// The names a cluster trusts only from join tokens, and the attributes given to an instance:
/// its join token's, overridden by an admin's. What a hello's claims are weighed against.
pub async fn trust_of(conn: &mut AnyConnection, instance_id: &str) -> Result<(Vec<String>, Vec<wharf_core::task_definition::Attribute>)> {
    let row = sqlx::query(
        "SELECT c.trusted_attributes, COALESCE(t.attributes, '[]') AS token_attributes, i.admin_attributes FROM container_instances i
           JOIN clusters c ON c.name = i.cluster LEFT JOIN join_tokens t ON t.id = i.join_token_id WHERE i.id = $1",
    )
    .bind(instance_id)
    .fetch_optional(conn)
    .await?;
    // Fail closed: an instance not found trusts nothing it says (its hello is refused).
    let Some(row) = row else { return Err(super::StoreError::Corrupt { what: "container instance", detail: format!("{instance_id} has no row") }) };
    let names = serde_json::from_str(&row.try_get::<String, _>("trusted_attributes")?).map_err(corrupt("cluster trusted attributes"))?;
    let mut given: Vec<wharf_core::task_definition::Attribute> =
        serde_json::from_str(&row.try_get::<String, _>("token_attributes")?).map_err(corrupt("join token attributes"))?;
    let admin: Vec<wharf_core::task_definition::Attribute> =
        serde_json::from_str(&row.try_get::<String, _>("admin_attributes")?).map_err(corrupt("admin attributes"))?;
    given.retain(|t| !admin.iter().any(|a| a.name == t.name));
    given.extend(admin);
    Ok((names, given))
}

/// Deletes the cluster with its inactive services and stopped tasks (cascade).
pub async fn delete(conn: &mut AnyConnection, name: &str) -> Result<()> {
    sqlx::query("DELETE FROM clusters WHERE name = $1").bind(name).execute(conn).await?;
    Ok(())
}
