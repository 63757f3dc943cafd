/*! SQL of task definition revisions and their families. */

use super::{Result, corrupt, map_unique};
use sqlx::{AnyConnection, Row, any::AnyRow};
use wharf_app::backend::RevisionFilter;
use wharf_core::arn;
use wharf_core::page::Page;
use wharf_core::task_definition::{
    TaskDefinition, TaskDefinitionFamily, TaskDefinitionSpec, TaskDefinitionStatus, requires_attributes,
};

const COLUMNS: &str = "family, revision, status, document, registered_at, deregistered_at";

fn from_row(row: AnyRow) -> Result<TaskDefinition> {
    let family: String = row.try_get("family")?;
    let revision: i64 = row.try_get("revision")?;
    let status: String = row.try_get("status")?;
    let document: String = row.try_get("document")?;
    let spec: TaskDefinitionSpec = serde_json::from_str(&document).map_err(corrupt("task definition"))?;
    Ok(TaskDefinition {
        task_definition_arn: arn::task_definition(&family, revision),
        revision,
        status: TaskDefinitionStatus::parse(&status).unwrap_or(TaskDefinitionStatus::Inactive),
        registered_at: row.try_get("registered_at")?,
        deregistered_at: row.try_get("deregistered_at")?,
        requires_attributes: requires_attributes(&spec),
        compatibilities: vec!["EC2".into(), "EXTERNAL".into()],
        spec,
    })
}

/// Bumps and returns the family's revision counter (creating the family at 1). Run it first
/// in the registering transaction: it takes the family's row lock on PostgreSQL.
pub async fn next_revision(conn: &mut AnyConnection, family: &str) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO task_definition_families (family, latest_revision) VALUES ($1, 1)
         ON CONFLICT (family) DO UPDATE SET latest_revision = task_definition_families.latest_revision + 1
         RETURNING latest_revision",
    )
    .bind(family)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn insert(conn: &mut AnyConnection, family: &str, revision: i64, document: &str, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO task_definitions (family, revision, status, document, registered_at) VALUES ($1, $2, 'ACTIVE', $3, $4)",
    )
    .bind(family)
    .bind(revision)
    .bind(document)
    .bind(now)
    .execute(conn)
    .await
    .map_err(map_unique)?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, family: &str, revision: i64) -> Result<Option<TaskDefinition>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM task_definitions WHERE family = $1 AND revision = $2"))
        .bind(family)
        .bind(revision)
        .fetch_optional(conn)
        .await?;
    row.map(from_row).transpose()
}

pub async fn latest_active(conn: &mut AnyConnection, family: &str) -> Result<Option<TaskDefinition>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM task_definitions WHERE family = $1 AND status = 'ACTIVE' ORDER BY revision DESC LIMIT 1"
    ))
    .bind(family)
    .fetch_optional(conn)
    .await?;
    row.map(from_row).transpose()
}

pub async fn deregister(conn: &mut AnyConnection, family: &str, revision: i64, now: &str) -> Result<()> {
    sqlx::query(
        "UPDATE task_definitions SET status = 'INACTIVE', deregistered_at = $3 WHERE family = $1 AND revision = $2 AND status = 'ACTIVE'",
    )
    .bind(family)
    .bind(revision)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Up to `page.limit + 1` revisions by (family, revision); the page key is `family:revision`.
pub async fn list(conn: &mut AnyConnection, filter: &RevisionFilter, page: &Page) -> Result<Vec<TaskDefinition>> {
    let (after_family, after_revision) = page
        .after
        .as_deref()
        .and_then(|k| k.rsplit_once(':'))
        .map(|(f, r)| (f.to_string(), r.parse().unwrap_or(i64::MAX)))
        .unwrap_or_default();
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM task_definitions
         WHERE (family > $1 OR (family = $1 AND revision > $2))
           AND ($3 = '' OR family = $3)
           AND substr(family, 1, length($4)) = $4
           AND ($5 = '' OR status = $5)
         ORDER BY family, revision LIMIT $6"
    ))
    .bind(after_family)
    .bind(after_revision)
    .bind(filter.family.clone().unwrap_or_default())
    .bind(filter.family_prefix.clone().unwrap_or_default())
    .bind(filter.status.map(TaskDefinitionStatus::as_str).unwrap_or_default())
    .bind(page.limit + 1)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Up to `page.limit + 1` families by name. ECS's status filter: ACTIVE = has an ACTIVE
/// revision, INACTIVE = has none left.
pub async fn families(
    conn: &mut AnyConnection,
    prefix: &str,
    status: Option<TaskDefinitionStatus>,
    page: &Page,
) -> Result<Vec<TaskDefinitionFamily>> {
    let rows = sqlx::query(
        "SELECT family, latest_revision, latest_active, active FROM (
            SELECT f.family, f.latest_revision,
              (SELECT MAX(t.revision) FROM task_definitions t WHERE t.family = f.family AND t.status = 'ACTIVE') AS latest_active,
              (SELECT COUNT(*) FROM task_definitions t WHERE t.family = f.family AND t.status = 'ACTIVE') AS active
            FROM task_definition_families f
            WHERE f.family > $1 AND substr(f.family, 1, length($2)) = $2) x
         WHERE $3 = '' OR ($3 = 'ACTIVE' AND active > 0) OR ($3 = 'INACTIVE' AND active = 0)
         ORDER BY family LIMIT $4",
    )
    .bind(page.after.clone().unwrap_or_default())
    .bind(prefix)
    .bind(status.map(TaskDefinitionStatus::as_str).unwrap_or_default())
    .bind(page.limit + 1)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let latest: i64 = row.try_get("latest_revision")?;
            Ok(TaskDefinitionFamily {
                family: row.try_get("family")?,
                latest_revision: latest,
                latest_active_revision: row.try_get("latest_active")?,
                active_revisions: row.try_get("active")?,
                total_revisions: latest,
            })
        })
        .collect()
}

/// Number of revisions stored, for metrics and start-up logs.
pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM task_definitions").fetch_one(conn).await?.try_get(0)?)
}
