/*!
SQL of sign-in sessions, API tokens, failed sign-ins and the audit log. Session ids and
tokens are stored as SHA-256 hashes only.
*/

use super::Result;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub username: String,
    pub csrf_token: String,
    pub last_seen_at: String,
    pub expires_at: String,
}

pub async fn insert_session(conn: &mut AnyConnection, id_hash: &str, username: &str, csrf: &str, now: &str, expires_at: &str) -> Result<()> {
    sqlx::query("INSERT INTO sessions (id_hash, username, csrf_token, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)")
        .bind(id_hash)
        .bind(username)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// A session that is neither revoked nor past its absolute expiry.
pub async fn session(conn: &mut AnyConnection, id_hash: &str, now: &str) -> Result<Option<SessionRow>> {
    let row = sqlx::query(
        "SELECT username, csrf_token, last_seen_at, expires_at FROM sessions WHERE id_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok(SessionRow { username: r.try_get(0)?, csrf_token: r.try_get(1)?, last_seen_at: r.try_get(2)?, expires_at: r.try_get(3)? }))
        .transpose()
}

pub async fn touch_session(conn: &mut AnyConnection, id_hash: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1").bind(id_hash).bind(now).execute(conn).await?;
    Ok(())
}

pub async fn revoke_session(conn: &mut AnyConnection, id_hash: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL").bind(id_hash).bind(now).execute(conn).await?;
    Ok(())
}

/// Ends every session of a user (password reset, disabled account).
pub async fn revoke_sessions_of(conn: &mut AnyConnection, username: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE username = $1 AND revoked_at IS NULL").bind(username).bind(now).execute(conn).await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub username: Option<String>,
    pub team: Option<String>,
    pub role: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

const TOKEN: &str = "SELECT id, name, username, team, role, created_by, created_at, expires_at, revoked_at, last_used_at FROM api_tokens";

fn token_row(r: sqlx::any::AnyRow) -> Result<TokenRow> {
    Ok(TokenRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        username: r.try_get("username")?,
        team: r.try_get("team")?,
        role: r.try_get("role")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

pub async fn insert_token(conn: &mut AnyConnection, t: &TokenRow, secret_hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, secret_hash, name, username, team, role, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&t.id)
    .bind(secret_hash)
    .bind(&t.name)
    .bind(&t.username)
    .bind(&t.team)
    .bind(&t.role)
    .bind(&t.created_by)
    .bind(&t.created_at)
    .bind(&t.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The token with this secret, if it is live (not revoked, not expired).
pub async fn live_token(conn: &mut AnyConnection, secret_hash: &str, now: &str) -> Result<Option<TokenRow>> {
    let row = sqlx::query(&format!("{TOKEN} WHERE secret_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"))
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(conn)
        .await?;
    row.map(token_row).transpose()
}

pub async fn token(conn: &mut AnyConnection, id: &str) -> Result<Option<TokenRow>> {
    sqlx::query(&format!("{TOKEN} WHERE id = $1")).bind(id).fetch_optional(conn).await?.map(token_row).transpose()
}

/// Tokens of a user, or of a team, newest first.
pub async fn tokens(conn: &mut AnyConnection, username: Option<&str>, team: Option<&str>) -> Result<Vec<TokenRow>> {
    let rows = sqlx::query(&format!("{TOKEN} WHERE ($1 IS NULL OR username = $1) AND ($2 IS NULL OR team = $2) ORDER BY created_at DESC, id"))
        .bind(username)
        .bind(team)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(token_row).collect()
}

pub async fn revoke_token(conn: &mut AnyConnection, id: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL").bind(id).bind(now).execute(conn).await?;
    Ok(())
}

/// Records a use at most once a minute per token (`last_used_at` is shown to the owner).
pub async fn touch_token(conn: &mut AnyConnection, id: &str, now: &str, a_minute_ago: &str) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(id)
        .bind(now)
        .bind(a_minute_ago)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn record_login_failure(conn: &mut AnyConnection, subject: &str, now: &str) -> Result<()> {
    sqlx::query("INSERT INTO login_failures (subject, at) VALUES ($1, $2)").bind(subject).bind(now).execute(conn).await?;
    Ok(())
}

/// Failed sign-ins of a subject (`user:NAME` or `addr:IP`) since a time.
pub async fn login_failures_since(conn: &mut AnyConnection, subject: &str, since: &str) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM login_failures WHERE subject = $1 AND at > $2").bind(subject).bind(since).fetch_one(conn).await?.try_get(0)?)
}

/// Takes back one counted attempt (it succeeded).
pub async fn forget_attempt(conn: &mut AnyConnection, subject: &str, at: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE subject = $1 AND at = $2").bind(subject).bind(at).execute(conn).await?;
    Ok(())
}

pub async fn forget_login_failures(conn: &mut AnyConnection, subject: &str, before: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE subject = $1 OR at < $2").bind(subject).bind(before).execute(conn).await?;
    Ok(())
}

pub use wharf_core::account::AuditEntry;

pub async fn audit(conn: &mut AnyConnection, e: &AuditEntry) -> Result<()> {
    sqlx::query("INSERT INTO audit_log (at, actor, team, action, target, source, result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(&e.at)
        .bind(&e.actor)
        .bind(&e.team)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.source)
        .bind(&e.result)
        .bind(&e.detail)
        .execute(conn)
        .await?;
    Ok(())
}

/// Entries newest first, before `before` (a seq), of the teams named (all entries for None).
pub async fn audit_entries(conn: &mut AnyConnection, teams: Option<&[String]>, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
    const COLUMNS: &str = "SELECT seq, at, actor, team, action, target, source, result, detail FROM audit_log";
    let before = before.unwrap_or(i64::MAX);
    let rows = match teams {
        None => sqlx::query(&format!("{COLUMNS} WHERE seq < $1 ORDER BY seq DESC LIMIT $2")).bind(before).bind(limit).fetch_all(conn).await?,
        Some(teams) => {
            let sql = format!("{COLUMNS} WHERE team IN (SELECT e.value ->> 0 FROM {}) AND seq < $2 ORDER BY seq DESC LIMIT $3", super::json_rows(conn));
            let rows: Vec<[&str; 1]> = teams.iter().map(|t| [t.as_str()]).collect();
            sqlx::query(&sql).bind(super::json_param(&rows)).bind(before).bind(limit).fetch_all(conn).await?
        }
    };
    rows.into_iter()
        .map(|r| {
            Ok(AuditEntry {
                seq: r.try_get(0)?,
                at: r.try_get(1)?,
                actor: r.try_get(2)?,
                team: r.try_get(3)?,
                action: r.try_get(4)?,
                target: r.try_get(5)?,
                source: r.try_get(6)?,
                result: r.try_get(7)?,
                detail: r.try_get(8)?,
            })
        })
        .collect()
}
