/*! SQL of target groups, listeners, their rules, and the targets' last known health. */

use super::{Result, corrupt};
use sqlx::{AnyConnection, Row, any::AnyRow};
use wharf_core::load_balancing::{ListenerAction, ListenerRule, RuleCondition, TargetGroupConfig, rule_arn};

/// A target group as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupRow {
    pub arn: String,
    pub cluster: String,
    pub name: String,
    /// None: an admin's.
    pub team: Option<String>,
    pub config: TargetGroupConfig,
    pub created_at: String,
}

const GROUP_COLUMNS: &str = "arn, cluster, name, team, config, created_at";

fn group_from_row(row: AnyRow) -> Result<TargetGroupRow> {
    let config: String = row.try_get("config")?;
    Ok(TargetGroupRow {
        arn: row.try_get("arn")?,
        cluster: row.try_get("cluster")?,
        name: row.try_get("name")?,
        team: row.try_get("team")?,
        config: serde_json::from_str(&config).map_err(corrupt("target group"))?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a target group; false when its cluster already has one of that name.
pub async fn insert_target_group(conn: &mut AnyConnection, g: &TargetGroupRow) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO target_groups (arn, cluster, name, team, config, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (cluster, name) DO NOTHING",
    )
    .bind(&g.arn)
    .bind(&g.cluster)
    .bind(&g.name)
    .bind(&g.team)
    .bind(serde_json::to_string(&g.config).map_err(corrupt("target group"))?)
    .bind(&g.created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A target group of `cluster` by ARN or by name.
pub async fn find_target_group(conn: &mut AnyConnection, cluster: &str, arn_or_name: &str) -> Result<Option<TargetGroupRow>> {
    let row = sqlx::query(&format!("SELECT {GROUP_COLUMNS} FROM target_groups WHERE cluster = $1 AND (arn = $2 OR name = $2)"))
        .bind(cluster)
        .bind(arn_or_name)
        .fetch_optional(conn)
        .await?;
    row.map(group_from_row).transpose()
}

/// The target groups of a cluster (every cluster's when none), by name.
pub async fn target_groups(conn: &mut AnyConnection, cluster: Option<&str>) -> Result<Vec<TargetGroupRow>> {
    let rows = sqlx::query(&format!("SELECT {GROUP_COLUMNS} FROM target_groups WHERE $1 IS NULL OR cluster = $1 ORDER BY cluster, name"))
        .bind(cluster)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(group_from_row).collect()
}

/// Replaces the settings, if the group still has the team the caller was checked against.
pub async fn update_target_group(conn: &mut AnyConnection, arn: &str, team: Option<&str>, config: &TargetGroupConfig) -> Result<bool> {
    let done = sqlx::query("UPDATE target_groups SET config = $3 WHERE arn = $1 AND team IS NOT DISTINCT FROM $2")
        .bind(arn)
        .bind(team)
        .bind(serde_json::to_string(config).map_err(corrupt("target group"))?)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_target_group(conn: &mut AnyConnection, arn: &str, team: Option<&str>) -> Result<bool> {
    Ok(sqlx::query("DELETE FROM target_groups WHERE arn = $1 AND team IS NOT DISTINCT FROM $2").bind(arn).bind(team).execute(conn).await?.rows_affected() == 1)
}

/// A listener as stored, with its rules by priority.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerRow {
    pub port: i64,
    pub cluster: String,
    pub default_target_group: Option<String>,
    pub created_at: String,
    pub rules: Vec<RuleRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleRow {
    pub priority: i64,
    pub target_group: String,
    pub conditions: Vec<RuleCondition>,
    pub created_at: String,
}

impl RuleRow {
    /// As described, with the team that owns its target group.
    pub fn describe(&self, cluster: &str, port: i64, team: Option<&str>) -> ListenerRule {
        ListenerRule {
            rule_arn: rule_arn(cluster, port, self.priority),
            priority: self.priority,
            conditions: self.conditions.clone(),
            actions: vec![ListenerAction { kind: Some("forward".into()), target_group_arn: Some(self.target_group.clone()) }],
            team_name: team.map(str::to_string),
        }
    }
}

/// Inserts a listener; false when the port has one.
pub async fn insert_listener(conn: &mut AnyConnection, l: &ListenerRow) -> Result<bool> {
    let done = sqlx::query("INSERT INTO listeners (port, cluster, default_target_group, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (port) DO NOTHING")
        .bind(l.port)
        .bind(&l.cluster)
        .bind(&l.default_target_group)
        .bind(&l.created_at)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Listeners of a cluster (every cluster's when none), by port, with their rules.
pub async fn listeners(conn: &mut AnyConnection, cluster: Option<&str>) -> Result<Vec<ListenerRow>> {
    let rows = sqlx::query("SELECT port, cluster, default_target_group, created_at FROM listeners WHERE $1 IS NULL OR cluster = $1 ORDER BY port")
        .bind(cluster)
        .fetch_all(&mut *conn)
        .await?;
    let mut listeners = rows
        .into_iter()
        .map(|row| {
            Ok(ListenerRow {
                port: row.try_get("port")?,
                cluster: row.try_get("cluster")?,
                default_target_group: row.try_get("default_target_group")?,
                created_at: row.try_get("created_at")?,
                rules: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let rules = sqlx::query(
        "SELECT r.port, r.priority, r.target_group, r.conditions, r.created_at FROM listener_rules r JOIN listeners l ON l.port = r.port
         WHERE $1 IS NULL OR l.cluster = $1 ORDER BY r.port, r.priority",
    )
    .bind(cluster)
    .fetch_all(conn)
    .await?;
    for row in rules {
        let port: i64 = row.try_get("port")?;
        let conditions: String = row.try_get("conditions")?;
        let rule = RuleRow {
            priority: row.try_get("priority")?,
            target_group: row.try_get("target_group")?,
            conditions: serde_json::from_str(&conditions).map_err(corrupt("listener rule"))?,
            created_at: row.try_get("created_at")?,
        };
        if let Some(listener) = listeners.iter_mut().find(|l| l.port == port) {
            listener.rules.push(rule);
        }
    }
    Ok(listeners)
}

pub async fn listener(conn: &mut AnyConnection, port: i64) -> Result<Option<ListenerRow>> {
    let cluster: Option<String> = sqlx::query_scalar("SELECT cluster FROM listeners WHERE port = $1").bind(port).fetch_optional(&mut *conn).await?;
    let Some(cluster) = cluster else { return Ok(None) };
    Ok(listeners(conn, Some(&cluster)).await?.into_iter().find(|l| l.port == port))
}

pub async fn set_default_target_group(conn: &mut AnyConnection, port: i64, target_group: Option<&str>) -> Result<bool> {
    let done = sqlx::query("UPDATE listeners SET default_target_group = $2 WHERE port = $1").bind(port).bind(target_group).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_listener(conn: &mut AnyConnection, port: i64) -> Result<bool> {
    sqlx::query("DELETE FROM listener_rules WHERE port = $1").bind(port).execute(&mut *conn).await?;
    Ok(sqlx::query("DELETE FROM listeners WHERE port = $1").bind(port).execute(conn).await?.rows_affected() == 1)
}

/// Inserts a rule; false when the listener has one at that priority.
pub async fn insert_rule(conn: &mut AnyConnection, port: i64, rule: &RuleRow) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO listener_rules (port, priority, target_group, conditions, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (port, priority) DO NOTHING",
    )
    .bind(port)
    .bind(rule.priority)
    .bind(&rule.target_group)
    .bind(serde_json::to_string(&rule.conditions).map_err(corrupt("listener rule"))?)
    .bind(&rule.created_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a rule, if it still forwards to the target group the caller was checked against.
pub async fn delete_rule(conn: &mut AnyConnection, port: i64, priority: i64, target_group: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM listener_rules WHERE port = $1 AND priority = $2 AND target_group = $3")
        .bind(port)
        .bind(priority)
        .bind(target_group)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Ports of the listeners that send requests to a target group (by a rule or by default).
pub async fn listener_ports_of(conn: &mut AnyConnection, target_group: &str) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT port FROM listener_rules WHERE target_group = $1 UNION SELECT port FROM listeners WHERE default_target_group = $1 ORDER BY port",
    )
    .bind(target_group)
    .fetch_all(conn)
    .await?)
}

/// What the load balancer last said of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRow {
    pub target_group: String,
    pub task_id: String,
    pub address: String,
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
    pub updated_at: String,
}

/// Records a target's health (one row per target, replaced).
pub async fn put_health(conn: &mut AnyConnection, h: &HealthRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO target_health (target_group, task_id, address, state, reason, description, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (target_group, task_id, address) DO UPDATE SET state = excluded.state, reason = excluded.reason,
             description = excluded.description, updated_at = excluded.updated_at",
    )
    .bind(&h.target_group)
    .bind(&h.task_id)
    .bind(&h.address)
    .bind(&h.state)
    .bind(&h.reason)
    .bind(&h.description)
    .bind(&h.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Health rows of some target groups (every one when none).
pub async fn health(conn: &mut AnyConnection, target_group: Option<&str>) -> Result<Vec<HealthRow>> {
    let rows = sqlx::query(
        "SELECT target_group, task_id, address, state, reason, description, updated_at FROM target_health
         WHERE $1 IS NULL OR target_group = $1 ORDER BY target_group, task_id, address",
    )
    .bind(target_group)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(HealthRow {
                target_group: row.try_get("target_group")?,
                task_id: row.try_get("task_id")?,
                address: row.try_get("address")?,
                state: row.try_get("state")?,
                reason: row.try_get("reason")?,
                description: row.try_get("description")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect()
}

/// Forgets the health of targets whose tasks are no longer live.
pub async fn forget_health_of_stopped(conn: &mut AnyConnection) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM target_health WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = target_health.task_id AND t.last_status <> 'STOPPED')")
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn find_target_group_by_arn(conn: &mut AnyConnection, arn: &str) -> Result<Option<TargetGroupRow>> {
    let row = sqlx::query(&format!("SELECT {GROUP_COLUMNS} FROM target_groups WHERE arn = $1")).bind(arn).fetch_optional(conn).await?;
    row.map(group_from_row).transpose()
}
