/*! SQL of secrets. Values are stored sealed; this layer never sees them in clear. */

use super::Result;
use sqlx::{AnyConnection, Row, any::AnyRow};
use wharf_core::secret::{Secret, arn};

const COLUMNS: &str = "name, team, description, version, created_by, created_at, last_changed_at";

fn from_row(row: AnyRow) -> Result<Secret> {
    let name: String = row.try_get("name")?;
    Ok(Secret {
        arn: arn(&name),
        name,
        team: row.try_get("team")?,
        description: row.try_get("description")?,
        created_date: row.try_get("created_at")?,
        last_changed_date: row.try_get("last_changed_at")?,
        created_by: row.try_get("created_by")?,
        version: row.try_get("version")?,
    })
}

pub struct NewSecret<'a> {
    pub name: &'a str,
    pub team: Option<&'a str>,
    pub description: &'a str,
    pub sealed_value: &'a str,
    pub created_by: &'a str,
}

/// Inserts a secret; false when the name is taken.
pub async fn insert(conn: &mut AnyConnection, s: &NewSecret<'_>, now: &str) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO secrets (name, team, description, sealed_value, created_by, created_at, last_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(s.name)
    .bind(s.team)
    .bind(s.description)
    .bind(s.sealed_value)
    .bind(s.created_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut AnyConnection, name: &str) -> Result<Option<Secret>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM secrets WHERE name = $1")).bind(name).fetch_optional(conn).await?;
    row.map(from_row).transpose()
}

/// Every secret, or those of some teams, by name.
pub async fn list(conn: &mut AnyConnection, teams: Option<&[String]>) -> Result<Vec<Secret>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM secrets ORDER BY name")).fetch_all(conn).await?;
    let all = rows.into_iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(match teams {
        None => all,
        Some(teams) => all.into_iter().filter(|s| s.team.as_ref().is_some_and(|t| teams.contains(t))).collect(),
    })
}

/// Sets a new value, if the secret still has the owner the caller was checked against.
pub async fn put_value(conn: &mut AnyConnection, name: &str, team: Option<&str>, sealed_value: &str, now: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE secrets SET sealed_value = $2, version = version + 1, last_changed_at = $3 WHERE name = $1 AND team IS NOT DISTINCT FROM $4")
        .bind(name)
        .bind(sealed_value)
        .bind(now)
        .bind(team)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the secret, if it still has the owner the caller was checked against.
pub async fn delete(conn: &mut AnyConnection, name: &str, team: Option<&str>) -> Result<bool> {
    Ok(sqlx::query("DELETE FROM secrets WHERE name = $1 AND team IS NOT DISTINCT FROM $2").bind(name).bind(team).execute(conn).await?.rows_affected() == 1)
}

/// A secret's owner and sealed value, for delivery to an agent.
pub async fn sealed(conn: &mut AnyConnection, name: &str) -> Result<Option<(Option<String>, String)>> {
    let row = sqlx::query("SELECT team, sealed_value FROM secrets WHERE name = $1").bind(name).fetch_optional(conn).await?;
    row.map(|r| Ok((r.try_get("team")?, r.try_get("sealed_value")?))).transpose()
}

/// Any one sealed value, to check the server's key against at start.
pub async fn any_sealed(conn: &mut AnyConnection) -> Result<Option<(String, String)>> {
    let row = sqlx::query("SELECT name, sealed_value FROM secrets ORDER BY name LIMIT 1").fetch_optional(conn).await?;
    row.map(|r| Ok((r.try_get("name")?, r.try_get("sealed_value")?))).transpose()
}
