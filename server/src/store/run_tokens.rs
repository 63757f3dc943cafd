/*! SQL of RunTask's client tokens: what a first call with a token started, for its retries. */

use super::{Result, corrupt};
use sqlx::{AnyConnection, Row};
use wharf_core::task_input::Failure;

/// What the first call with a token asked for and got.
pub struct Remembered {
    pub request: String,
    pub task_ids: Vec<String>,
    pub failures: Vec<Failure>,
}

pub async fn get(conn: &mut AnyConnection, cluster: &str, token: &str) -> Result<Option<Remembered>> {
    let row = sqlx::query("SELECT request, task_ids, failures FROM run_task_tokens WHERE cluster = $1 AND token = $2")
        .bind(cluster)
        .bind(token)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let ids: String = row.try_get("task_ids")?;
    let failures: String = row.try_get("failures")?;
    Ok(Some(Remembered {
        request: row.try_get("request")?,
        task_ids: serde_json::from_str(&ids).map_err(corrupt("client token tasks"))?,
        failures: serde_json::from_str(&failures).map_err(corrupt("client token failures"))?,
    }))
}

pub async fn insert(conn: &mut AnyConnection, cluster: &str, token: &str, remembered: &Remembered, now: &str) -> Result<()> {
    sqlx::query("INSERT INTO run_task_tokens (cluster, token, request, task_ids, failures, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(cluster)
        .bind(token)
        .bind(&remembered.request)
        .bind(super::json_param(&remembered.task_ids))
        .bind(super::json_param(&remembered.failures))
        .bind(now)
        .execute(conn)
        .await
        .map_err(super::map_unique)?;
    Ok(())
}
