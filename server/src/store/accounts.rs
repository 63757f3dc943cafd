/*! SQL of users, teams, memberships, which teams share a cluster, and which team owns a family. */

use super::{Result, map_unique};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use wharf_core::access::{Membership, Role};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub username: String,
    pub password_hash: String,
    pub admin: bool,
    pub disabled: bool,
    pub created_at: String,
}

const USER: &str = "SELECT username, password_hash, admin, disabled, created_at FROM users";

fn user_row(row: sqlx::any::AnyRow) -> Result<UserRow> {
    Ok(UserRow {
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        admin: row.try_get::<i64, _>("admin")? != 0,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn user_count(conn: &mut AnyConnection) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) FROM users").fetch_one(conn).await?.try_get(0)?)
}

pub async fn insert_user(conn: &mut AnyConnection, username: &str, password_hash: &str, admin: bool, now: &str) -> Result<()> {
    sqlx::query("INSERT INTO users (username, password_hash, admin, created_at, password_changed_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(username)
        .bind(password_hash)
        .bind(admin as i64)
        .bind(now)
        .execute(conn)
        .await
        .map_err(map_unique)?;
    Ok(())
}

pub async fn user(conn: &mut AnyConnection, username: &str) -> Result<Option<UserRow>> {
    let row = sqlx::query(&format!("{USER} WHERE username = $1")).bind(username).fetch_optional(conn).await?;
    row.map(user_row).transpose()
}

pub async fn users(conn: &mut AnyConnection) -> Result<Vec<UserRow>> {
    sqlx::query(&format!("{USER} ORDER BY username")).fetch_all(conn).await?.into_iter().map(user_row).collect()
}

pub async fn set_password(conn: &mut AnyConnection, username: &str, password_hash: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE username = $1")
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_disabled(conn: &mut AnyConnection, username: &str, disabled: bool) -> Result<()> {
    sqlx::query("UPDATE users SET disabled = $2 WHERE username = $1").bind(username).bind(disabled as i64).execute(conn).await?;
    Ok(())
}

pub async fn insert_team(conn: &mut AnyConnection, name: &str, now: &str) -> Result<()> {
    sqlx::query("INSERT INTO teams (name, created_at) VALUES ($1, $2)").bind(name).bind(now).execute(conn).await.map_err(map_unique)?;
    Ok(())
}

pub async fn team_exists(conn: &mut AnyConnection, name: &str) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM teams WHERE name = $1").bind(name).fetch_optional(conn).await?.is_some())
}

/// Every team with its creation time.
pub async fn teams(conn: &mut AnyConnection) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT name, created_at FROM teams ORDER BY name").fetch_all(conn).await?;
    rows.into_iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

pub async fn delete_team(conn: &mut AnyConnection, name: &str) -> Result<()> {
    sqlx::query("UPDATE task_definition_families SET team = NULL WHERE team = $1").bind(name).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM teams WHERE name = $1").bind(name).execute(conn).await?;
    Ok(())
}

pub async fn set_member(conn: &mut AnyConnection, team: &str, username: &str, role: Role) -> Result<()> {
    sqlx::query(
        "INSERT INTO team_members (team, username, role) VALUES ($1, $2, $3)
         ON CONFLICT (team, username) DO UPDATE SET role = excluded.role",
    )
    .bind(team)
    .bind(username)
    .bind(role.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn remove_member(conn: &mut AnyConnection, team: &str, username: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM team_members WHERE team = $1 AND username = $2").bind(team).bind(username).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

fn membership(row: sqlx::any::AnyRow, name: &str) -> Result<Option<Membership>> {
    let role: String = row.try_get("role")?;
    Ok(Role::parse(&role).map(|role| Membership { team: row.try_get::<String, _>(name).unwrap_or_default(), role }))
}

/// The teams a user belongs to, with their role in each.
pub async fn memberships(conn: &mut AnyConnection, username: &str) -> Result<Vec<Membership>> {
    let rows = sqlx::query("SELECT team, role FROM team_members WHERE username = $1 ORDER BY team").bind(username).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| membership(r, "team")).collect::<Result<Vec<_>>>()?.into_iter().flatten().collect())
}

/// A team's members as (username, role).
pub async fn members(conn: &mut AnyConnection, team: &str) -> Result<Vec<Membership>> {
    let rows = sqlx::query("SELECT username, role FROM team_members WHERE team = $1 ORDER BY username").bind(team).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| membership(r, "username")).collect::<Result<Vec<_>>>()?.into_iter().flatten().collect())
}

pub async fn share_cluster(conn: &mut AnyConnection, cluster: &str, team: &str) -> Result<()> {
    sqlx::query("INSERT INTO cluster_teams (cluster, team) VALUES ($1, $2) ON CONFLICT (cluster, team) DO NOTHING")
        .bind(cluster)
        .bind(team)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn unshare_cluster(conn: &mut AnyConnection, cluster: &str, team: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM cluster_teams WHERE cluster = $1 AND team = $2").bind(cluster).bind(team).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

/// The teams a cluster is shared with.
pub async fn cluster_teams(conn: &mut AnyConnection, cluster: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT team FROM cluster_teams WHERE cluster = $1 ORDER BY team").bind(cluster).fetch_all(conn).await?;
    rows.into_iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Every cluster's teams (for filtering a list of clusters).
pub async fn all_cluster_teams(conn: &mut AnyConnection) -> Result<HashMap<String, Vec<String>>> {
    let rows = sqlx::query("SELECT cluster, team FROM cluster_teams").fetch_all(conn).await?;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for r in rows {
        out.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
    }
    Ok(out)
}

/// The team owning a family: None when there is no such family, Some(None) for a family of
/// no team.
pub async fn family_team(conn: &mut AnyConnection, family: &str) -> Result<Option<Option<String>>> {
    let row = sqlx::query("SELECT team FROM task_definition_families WHERE family = $1").bind(family).fetch_optional(conn).await?;
    row.map(|r| Ok(r.try_get::<Option<String>, _>(0)?)).transpose()
}

/// Every family's team (families of no team are left out).
pub async fn family_teams(conn: &mut AnyConnection) -> Result<HashMap<String, String>> {
    let rows = sqlx::query("SELECT family, team FROM task_definition_families WHERE team IS NOT NULL").fetch_all(conn).await?;
    rows.into_iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Gives a family without a team to `team`; a family that has one keeps it.
pub async fn claim_family(conn: &mut AnyConnection, family: &str, team: &str) -> Result<()> {
    sqlx::query("UPDATE task_definition_families SET team = $2 WHERE family = $1 AND team IS NULL").bind(family).bind(team).execute(conn).await?;
    Ok(())
}
