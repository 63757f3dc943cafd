/*! SQL of join tokens. Only the SHA-256 of a token's secret is stored. */

use super::Result;
use sqlx::{AnyConnection, Row, any::AnyRow};
use wharf_core::join_token::JoinToken;

const COLUMNS: &str = "id, cluster, description, created_at, expires_at, revoked_at, last_used_at, max_uses, uses, attributes";

/// The row as an API object; the status is derived from the timestamps at `now`.
fn from_row(row: AnyRow, now: &str) -> Result<JoinToken> {
    let expires_at: Option<String> = row.try_get("expires_at")?;
    let revoked_at: Option<String> = row.try_get("revoked_at")?;
    let max_uses: Option<i64> = row.try_get("max_uses")?;
    let uses: i64 = row.try_get("uses")?;
    let status = match (&revoked_at, &expires_at) {
        (Some(_), _) => "REVOKED",
        (None, Some(e)) if e.as_str() <= now => "EXPIRED",
        _ if max_uses.is_some_and(|m| uses >= m) => "USED_UP",
        _ => "ACTIVE",
    };
    Ok(JoinToken {
        id: row.try_get("id")?,
        cluster_name: row.try_get("cluster")?,
        description: row.try_get("description")?,
        status: status.into(),
        created_at: row.try_get("created_at")?,
        expires_at,
        revoked_at,
        last_used_at: row.try_get("last_used_at")?,
        max_uses,
        uses,
        attributes: serde_json::from_str(&row.try_get::<String, _>("attributes")?).map_err(super::corrupt("join token attributes"))?,
    })
}

pub struct NewToken<'a> {
    pub id: &'a str,
    pub cluster: &'a str,
    pub description: &'a str,
    pub secret_hash: &'a str,
    pub expires_at: Option<&'a str>,
    pub max_uses: Option<i64>,
    /// JSON: what the token's hosts get whatever they say.
    pub attributes: &'a str,
}

pub async fn insert(conn: &mut AnyConnection, t: &NewToken<'_>, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO join_tokens (id, cluster, description, secret_hash, created_at, expires_at, max_uses, attributes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(t.id)
    .bind(t.cluster)
    .bind(t.description)
    .bind(t.secret_hash)
    .bind(now)
    .bind(t.expires_at)
    .bind(t.max_uses)
    .bind(t.attributes)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, cluster: &str, id: &str, now: &str) -> Result<Option<JoinToken>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM join_tokens WHERE cluster = $1 AND id = $2"))
        .bind(cluster)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| from_row(r, now)).transpose()
}

/// The cluster's tokens, newest first.
pub async fn list(conn: &mut AnyConnection, cluster: &str, now: &str) -> Result<Vec<JoinToken>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM join_tokens WHERE cluster = $1 ORDER BY created_at DESC, id"))
        .bind(cluster)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(|r| from_row(r, now)).collect()
}

pub async fn revoke(conn: &mut AnyConnection, cluster: &str, id: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE join_tokens SET revoked_at = $3 WHERE cluster = $1 AND id = $2 AND revoked_at IS NULL")
        .bind(cluster)
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The token with this id and its secret hash, for verification.
pub async fn find(conn: &mut AnyConnection, id: &str, now: &str) -> Result<Option<(JoinToken, String)>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS}, secret_hash FROM join_tokens WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let hash: String = row.try_get("secret_hash")?;
            Ok(Some((from_row(row, now)?, hash)))
        }
    }
}

/// Counts a use, unless the token's uses are spent; false then.
pub async fn mark_used(conn: &mut AnyConnection, id: &str, now: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE join_tokens SET last_used_at = $2, uses = uses + 1 WHERE id = $1 AND (max_uses IS NULL OR uses < max_uses)")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
