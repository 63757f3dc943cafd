/*!
SQL of service auto scaling: scalable targets, scaling policies (with when each last scaled),
scheduled actions (with the run each last made), scaling activities and the services' metric
history.
*/

use super::{Result, corrupt};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::{AnyConnection, Row, any::AnyRow};
use wharf_core::scaling::{HostSample, MetricSample, PutScheduledActionInput, ScalableTargetConfig, ScalingPolicyConfig};

fn to_json<T: Serialize>(what: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(corrupt(what))
}

fn from_json<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(corrupt(what))
}

pub struct TargetRow {
    pub config: ScalableTargetConfig,
    pub created_at: String,
}

pub async fn target(conn: &mut AnyConnection, service_id: &str) -> Result<Option<TargetRow>> {
    let row = sqlx::query("SELECT config, created_at FROM scalable_targets WHERE service_id = $1").bind(service_id).fetch_optional(conn).await?;
    row.map(|r| Ok(TargetRow { config: from_json("scalable target", &r.try_get::<String, _>("config")?)?, created_at: r.try_get("created_at")? })).transpose()
}

pub async fn put_target(conn: &mut AnyConnection, service_id: &str, config: &ScalableTargetConfig, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO scalable_targets (service_id, config, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (service_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
    )
    .bind(service_id)
    .bind(to_json("scalable target", config)?)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deregisters the target with its policies and scheduled actions (as Application Auto Scaling
/// does); false when there was none.
pub async fn delete_target(conn: &mut AnyConnection, service_id: &str) -> Result<bool> {
    sqlx::query("DELETE FROM scaling_policies WHERE service_id = $1").bind(service_id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM scheduled_actions WHERE service_id = $1").bind(service_id).execute(&mut *conn).await?;
    let n = sqlx::query("DELETE FROM scalable_targets WHERE service_id = $1").bind(service_id).execute(conn).await?.rows_affected();
    Ok(n > 0)
}

pub struct PolicyRow {
    pub name: String,
    pub config: ScalingPolicyConfig,
    /// The latest scale-out.
    pub last_scale_out: Option<i64>,
    /// The scale-out that started the scale-out cooldown, and the count it started from.
    pub cooldown_start: Option<(i64, i64)>,
    pub last_scale_in: Option<i64>,
    pub created_at: String,
}

fn policy_row(r: AnyRow) -> Result<PolicyRow> {
    Ok(PolicyRow {
        name: r.try_get("name")?,
        config: from_json("scaling policy", &r.try_get::<String, _>("config")?)?,
        last_scale_out: r.try_get("last_scale_out")?,
        cooldown_start: r.try_get::<Option<i64>, _>("scale_out_cooldown_start")?.zip(r.try_get::<Option<i64>, _>("scale_out_cooldown_from")?),
        last_scale_in: r.try_get("last_scale_in")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn policies(conn: &mut AnyConnection, service_id: &str) -> Result<Vec<PolicyRow>> {
    let rows = sqlx::query("SELECT name, config, last_scale_out, scale_out_cooldown_start, scale_out_cooldown_from, last_scale_in, created_at FROM scaling_policies WHERE service_id = $1 ORDER BY name")
        .bind(service_id)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(policy_row).collect()
}

/// Creates or replaces a policy; a replaced one keeps its cooldowns' starting points.
pub async fn put_policy(conn: &mut AnyConnection, service_id: &str, name: &str, config: &ScalingPolicyConfig, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO scaling_policies (service_id, name, config, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (service_id, name) DO UPDATE SET config = excluded.config",
    )
    .bind(service_id)
    .bind(name)
    .bind(to_json("scaling policy", config)?)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_policy(conn: &mut AnyConnection, service_id: &str, name: &str) -> Result<bool> {
    let n = sqlx::query("DELETE FROM scaling_policies WHERE service_id = $1 AND name = $2").bind(service_id).bind(name).execute(conn).await?.rows_affected();
    Ok(n > 0)
}

/// Records that the policy scaled the service out at `at`, counted from `from`; the scale-out
/// starts its cooldown, or is made within one (whose start stands).
pub async fn policy_scaled_out(conn: &mut AnyConnection, service_id: &str, name: &str, at: i64, from: i64, starts_cooldown: bool) -> Result<()> {
    let sql = if starts_cooldown {
        "UPDATE scaling_policies SET last_scale_out = $3, scale_out_cooldown_start = $3, scale_out_cooldown_from = $4 WHERE service_id = $1 AND name = $2"
    } else {
        "UPDATE scaling_policies SET last_scale_out = $3, scale_out_cooldown_from = $4 WHERE service_id = $1 AND name = $2"
    };
    sqlx::query(sql).bind(service_id).bind(name).bind(at).bind(from).execute(conn).await?;
    Ok(())
}

/// Records that the policy scaled the service in at `at`.
pub async fn policy_scaled_in(conn: &mut AnyConnection, service_id: &str, name: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE scaling_policies SET last_scale_in = $3 WHERE service_id = $1 AND name = $2").bind(service_id).bind(name).bind(at).execute(conn).await?;
    Ok(())
}

pub struct ActionRow {
    pub name: String,
    pub config: PutScheduledActionInput,
    pub last_run: Option<i64>,
    pub created_at: String,
}

pub async fn actions(conn: &mut AnyConnection, service_id: &str) -> Result<Vec<ActionRow>> {
    let rows = sqlx::query("SELECT name, config, last_run, created_at FROM scheduled_actions WHERE service_id = $1 ORDER BY name")
        .bind(service_id)
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ActionRow {
                name: r.try_get("name")?,
                config: from_json("scheduled action", &r.try_get::<String, _>("config")?)?,
                last_run: r.try_get("last_run")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Creates or replaces an action. A replaced one starts afresh: its new schedule's runs are
/// counted from now, not from its old last run.
pub async fn put_action(conn: &mut AnyConnection, service_id: &str, name: &str, config: &PutScheduledActionInput, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO scheduled_actions (service_id, name, config, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (service_id, name) DO UPDATE SET config = excluded.config, created_at = excluded.created_at, last_run = NULL",
    )
    .bind(service_id)
    .bind(name)
    .bind(to_json("scheduled action", config)?)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_action(conn: &mut AnyConnection, service_id: &str, name: &str) -> Result<bool> {
    let n = sqlx::query("DELETE FROM scheduled_actions WHERE service_id = $1 AND name = $2").bind(service_id).bind(name).execute(conn).await?.rows_affected();
    Ok(n > 0)
}

pub async fn action_ran(conn: &mut AnyConnection, service_id: &str, name: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE scheduled_actions SET last_run = $3 WHERE service_id = $1 AND name = $2").bind(service_id).bind(name).bind(at).execute(conn).await?;
    Ok(())
}

pub struct ActivityRow {
    pub seq: i64,
    pub at: i64,
    pub created_at: String,
    pub description: String,
    pub cause: String,
    pub status_code: String,
    pub policy: Option<String>,
    pub from_count: i64,
    pub to_count: i64,
}

pub async fn add_activity(conn: &mut AnyConnection, service_id: &str, a: &ActivityRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO scaling_activities (service_id, at, created_at, description, cause, status_code, policy, from_count, to_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(service_id)
    .bind(a.at)
    .bind(&a.created_at)
    .bind(&a.description)
    .bind(&a.cause)
    .bind(&a.status_code)
    .bind(&a.policy)
    .bind(a.from_count)
    .bind(a.to_count)
    .execute(conn)
    .await?;
    Ok(())
}

/// The service's newest activities (since `since`, unix seconds), newest first.
pub async fn activities(conn: &mut AnyConnection, service_id: &str, since: i64, limit: i64) -> Result<Vec<ActivityRow>> {
    let rows = sqlx::query(
        "SELECT seq, at, created_at, description, cause, status_code, policy, from_count, to_count FROM scaling_activities
         WHERE service_id = $1 AND at >= $2 ORDER BY seq DESC LIMIT $3",
    )
    .bind(service_id)
    .bind(since)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ActivityRow {
                seq: r.try_get("seq")?,
                at: r.try_get("at")?,
                created_at: r.try_get("created_at")?,
                description: r.try_get("description")?,
                cause: r.try_get("cause")?,
                status_code: r.try_get("status_code")?,
                policy: r.try_get("policy")?,
                from_count: r.try_get("from_count")?,
                to_count: r.try_get("to_count")?,
            })
        })
        .collect()
}

/// Services that have a scalable target: (service id, cluster, name).
pub async fn scaled_services(conn: &mut AnyConnection) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT s.id, s.cluster, s.name FROM scalable_targets t JOIN services s ON s.id = t.service_id WHERE s.status = 'ACTIVE' ORDER BY s.id",
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(|r| Ok((r.try_get("id")?, r.try_get("cluster")?, r.try_get("name")?))).collect()
}

/// A running task of an active service, with what it reserves.
pub struct RunningTask {
    pub service_id: String,
    pub task_id: String,
    pub instance_id: Option<String>,
    pub cpu: i64,
    pub memory: i64,
}

/// Active services with their configuration (desired count), and their running tasks.
pub async fn active_services(conn: &mut AnyConnection) -> Result<(Vec<(String, String)>, Vec<RunningTask>)> {
    let services = sqlx::query("SELECT id, config FROM services WHERE status = 'ACTIVE' ORDER BY id").fetch_all(&mut *conn).await?;
    let services = services.into_iter().map(|r| Ok((r.try_get("id")?, r.try_get("config")?))).collect::<Result<Vec<_>>>()?;
    let tasks = sqlx::query(
        "SELECT t.service_id, t.id, t.container_instance_id, t.cpu, t.memory FROM tasks t JOIN services s ON s.id = t.service_id
         WHERE s.status = 'ACTIVE' AND t.last_status = 'RUNNING' ORDER BY t.service_id, t.id",
    )
    .fetch_all(conn)
    .await?;
    let tasks = tasks
        .into_iter()
        .map(|r| {
            Ok(RunningTask {
                service_id: r.try_get("service_id")?,
                task_id: r.try_get("id")?,
                instance_id: r.try_get("container_instance_id")?,
                cpu: r.try_get("cpu")?,
                memory: r.try_get("memory")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((services, tasks))
}

pub async fn insert_samples(conn: &mut AnyConnection, samples: &[(String, MetricSample)]) -> Result<()> {
    for (service_id, s) in samples {
        sqlx::query(
            "INSERT INTO service_metrics (service_id, at, desired, running, cpu_average, cpu_maximum, memory_average, memory_maximum, requests_per_target)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (service_id, at) DO NOTHING",
        )
        .bind(service_id)
        .bind(s.at)
        .bind(s.desired)
        .bind(s.running)
        .bind(s.cpu_average)
        .bind(s.cpu_maximum)
        .bind(s.memory_average)
        .bind(s.memory_maximum)
        .bind(s.requests_per_target)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The service's samples from `since` on (unix seconds), oldest first.
pub async fn samples(conn: &mut AnyConnection, service_id: &str, since: i64) -> Result<Vec<MetricSample>> {
    let rows = sqlx::query(
        "SELECT at, desired, running, cpu_average, cpu_maximum, memory_average, memory_maximum, requests_per_target FROM service_metrics
         WHERE service_id = $1 AND at >= $2 ORDER BY at",
    )
    .bind(service_id)
    .bind(since)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(MetricSample {
                at: r.try_get("at")?,
                desired: r.try_get("desired")?,
                running: r.try_get("running")?,
                cpu_average: r.try_get("cpu_average")?,
                cpu_maximum: r.try_get("cpu_maximum")?,
                memory_average: r.try_get("memory_average")?,
                memory_maximum: r.try_get("memory_maximum")?,
                requests_per_target: r.try_get("requests_per_target")?,
            })
        })
        .collect()
}

/// Whether the service is in a deployment: an older deployment still has tasks to retire, or
/// the newest has not completed.
pub async fn deploying(conn: &mut AnyConnection, service_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM deployments WHERE service_id = $1 AND (status = 'ACTIVE' OR (status = 'PRIMARY' AND rollout_state = 'IN_PROGRESS'))",
    )
    .bind(service_id)
    .fetch_one(conn)
    .await?
    .try_get("n")?;
    Ok(n > 0)
}

pub async fn insert_host_samples(conn: &mut AnyConnection, samples: &[(String, HostSample)]) -> Result<()> {
    for (instance_id, s) in samples {
        // An instance deregistered since its usage came is skipped.
        sqlx::query(
            "INSERT INTO instance_metrics (instance_id, at, cpu, memory) SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM container_instances WHERE id = $1)
             ON CONFLICT (instance_id, at) DO NOTHING",
        )
        .bind(instance_id)
        .bind(s.at)
        .bind(s.cpu)
        .bind(s.memory)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn host_samples(conn: &mut AnyConnection, instance_id: &str, since: i64) -> Result<Vec<HostSample>> {
    let rows = sqlx::query("SELECT at, cpu, memory FROM instance_metrics WHERE instance_id = $1 AND at >= $2 ORDER BY at")
        .bind(instance_id)
        .bind(since)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(|r| Ok(HostSample { at: r.try_get("at")?, cpu: r.try_get("cpu")?, memory: r.try_get("memory")? })).collect()
}
