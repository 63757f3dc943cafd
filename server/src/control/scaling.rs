/*!
Service auto scaling commands, Application Auto Scaling's: register and deregister a service's
scalable target, put and delete its scaling policies and scheduled actions, and read all of it
back with the metric history. Each command is one transaction. A change of bounds that leaves
the desired count outside moves it inside at once, in the same transaction, with its activity
and event.
*/

use super::services::live;
use crate::store::{self, Store, scaling as sql, services};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use wharf_app::backend::Result;
use wharf_core::scaling::{
    self as core, MetricSample, PutScalingPolicyInput, PutScheduledActionInput, RegisterScalableTargetInput, ScalableTarget, ScalableTargetConfig,
    ScalingActivity, ScalingPolicy, ScheduledAction, ServiceScaling,
};
use wharf_core::service::SchedulingStrategy;
use wharf_core::{FieldErrors, WharfError};
use wharf_scheduler::scaling::config as scaling_config;
use wharf_scheduler::scaling::schedule::local;

/// Activities a service's page shows.
const ACTIVITIES_SHOWN: i64 = 50;

fn unix_to_text(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn no_target(cluster: &str, name: &str) -> WharfError {
    WharfError::not_found(format!("the service '{name}' in cluster '{cluster}' has no scalable target; register one first"))
}

fn scalable_target(cluster: &str, name: &str, row: &sql::TargetRow) -> ScalableTarget {
    ScalableTarget {
        service_namespace: core::SERVICE_NAMESPACE.into(),
        resource_id: core::resource_id(cluster, name),
        scalable_dimension: core::SCALABLE_DIMENSION.into(),
        min_capacity: row.config.min_capacity,
        max_capacity: row.config.max_capacity,
        suspended_state: row.config.suspended_state,
        creation_time: row.created_at.clone(),
    }
}

fn scaling_policy(cluster: &str, name: &str, row: sql::PolicyRow) -> ScalingPolicy {
    ScalingPolicy {
        policy_arn: wharf_core::arn::scaling_policy(cluster, name, &row.name),
        policy_name: row.name,
        service_namespace: core::SERVICE_NAMESPACE.into(),
        resource_id: core::resource_id(cluster, name),
        scalable_dimension: core::SCALABLE_DIMENSION.into(),
        config: row.config,
        creation_time: row.created_at,
        last_scale_out_time: row.last_scale_out.map(unix_to_text),
        last_scale_in_time: row.last_scale_in.map(unix_to_text),
    }
}

fn created(row_created_at: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(row_created_at).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

fn scheduled_action(cluster: &str, name: &str, row: sql::ActionRow, now: DateTime<Utc>) -> ScheduledAction {
    let schedule = scaling_config::scheduled_action(&row.config, created(&row.created_at)).ok();
    let after = row.last_run.and_then(|t| DateTime::from_timestamp(t, 0)).map_or(now, |last| last.max(now));
    let next = schedule.as_ref().and_then(|s| Some((s.next_after(after)?, s.zone)));
    let c = row.config;
    ScheduledAction {
        scheduled_action_arn: wharf_core::arn::scheduled_action(cluster, name, &row.name),
        scheduled_action_name: row.name,
        service_namespace: core::SERVICE_NAMESPACE.into(),
        resource_id: core::resource_id(cluster, name),
        scalable_dimension: core::SCALABLE_DIMENSION.into(),
        schedule: c.schedule.unwrap_or_default(),
        timezone: c.timezone.unwrap_or_else(|| "UTC".into()),
        start_time: c.start_time,
        end_time: c.end_time,
        scalable_target_action: c.scalable_target_action.unwrap_or_default(),
        creation_time: row.created_at,
        next_run_time: next.map(|(t, _)| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        next_run_local_time: next.map(|(t, zone)| local(zone, t)),
        last_run_time: row.last_run.map(unix_to_text),
    }
}

pub(crate) fn activity(cluster: &str, name: &str, row: sql::ActivityRow) -> ScalingActivity {
    ScalingActivity {
        activity_id: row.seq.to_string(),
        service_namespace: core::SERVICE_NAMESPACE.into(),
        resource_id: core::resource_id(cluster, name),
        scalable_dimension: core::SCALABLE_DIMENSION.into(),
        description: row.description,
        cause: row.cause,
        start_time: row.created_at,
        status_code: row.status_code,
        policy_name: row.policy,
        from_count: row.from_count,
        to_count: row.to_count,
    }
}

/// Sets the service's desired count, as UpdateService would without a new deployment, and
/// records why as a scaling activity and a service event.
pub(crate) async fn scale(conn: &mut AnyConnection, service: &services::ServiceRow, to: i64, cause: &str, policy: Option<&str>, now: DateTime<Utc>) -> Result<()> {
    let from = service.config.desired_count;
    let text = store::now();
    let mut config = service.config.clone();
    config.desired_count = to;
    services::scale_primary(conn, &service.id, to, &text).await?;
    services::update(conn, &service.id, &service.status, &config, &text).await?;
    let description = format!("Setting desired count to {to}.");
    let message = format!("(service {}) auto scaling set the desired count from {from} to {to}: {cause}.", service.name);
    services::add_event(conn, &service.id, &message, &text).await?;
    let row = sql::ActivityRow {
        seq: 0,
        at: now.timestamp(),
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        description,
        cause: cause.to_string(),
        status_code: "Successful".into(),
        policy: policy.map(str::to_string),
        from_count: from,
        to_count: to,
    };
    sql::add_activity(conn, &service.id, &row).await?;
    Ok(())
}

/// A desired count moved into new bounds, if it was outside them.
pub(crate) async fn into_bounds(conn: &mut AnyConnection, service: &services::ServiceRow, bounds: &ScalableTargetConfig, why: &str, now: DateTime<Utc>) -> Result<bool> {
    let desired = service.config.desired_count;
    let inside = desired.clamp(bounds.min_capacity, bounds.max_capacity.max(bounds.min_capacity));
    if inside == desired {
        return Ok(false);
    }
    let cause = format!("{why}: desired count {desired} is outside [{}, {}]", bounds.min_capacity, bounds.max_capacity);
    scale(conn, service, inside, &cause, None, now).await?;
    Ok(true)
}

/// The desired count a manual change may set: within the scalable target's bounds, if any.
/// Returns the clamped count and, when it was clamped, why.
pub(crate) async fn clamp_manual(conn: &mut AnyConnection, service_id: &str, wanted: i64) -> Result<(i64, Option<String>)> {
    let Some(target) = sql::target(conn, service_id).await? else { return Ok((wanted, None)) };
    let (min, max) = (target.config.min_capacity, target.config.max_capacity);
    let clamped = wanted.clamp(min, max.max(min));
    Ok((clamped, (clamped != wanted).then(|| format!("the desired count {wanted} is outside the scalable target's bounds [{min}, {max}]: set to {clamped}"))))
}

pub async fn register_scalable_target(store: &Store, cluster: &str, name: &str, input: RegisterScalableTargetInput) -> Result<ScalableTarget> {
    let mut w = store.write().await?;
    let service = live(w.conn(), cluster, name).await?;
    if service.status != "ACTIVE" {
        return Err(WharfError::conflict(format!("the service '{name}' is {} and can no longer scale", service.status)));
    }
    if service.config.scheduling_strategy == SchedulingStrategy::Daemon {
        return Err(WharfError::invalid_field("resourceId", "a DAEMON service runs one task per instance; only REPLICA services scale"));
    }
    let before = sql::target(w.conn(), &service.id).await?;
    let config = input.apply(before.as_ref().map(|b| &b.config))?;
    let now = Utc::now();
    sql::put_target(w.conn(), &service.id, &config, &store::now()).await?;
    into_bounds(w.conn(), &service, &config, "the scalable target was registered", now).await?;
    let row = sql::target(w.conn(), &service.id).await?.ok_or_else(WharfError::internal)?;
    w.commit().await?;
    Ok(scalable_target(cluster, name, &row))
}

pub async fn deregister_scalable_target(store: &Store, cluster: &str, name: &str) -> Result<ScalableTarget> {
    let mut w = store.write().await?;
    let service = live(w.conn(), cluster, name).await?;
    let row = sql::target(w.conn(), &service.id).await?.ok_or_else(|| no_target(cluster, name))?;
    sql::delete_target(w.conn(), &service.id).await?;
    w.commit().await?;
    Ok(scalable_target(cluster, name, &row))
}

pub async fn put_scaling_policy(store: &Store, cluster: &str, name: &str, policy: &str, input: PutScalingPolicyInput) -> Result<ScalingPolicy> {
    let mut errors = FieldErrors::new();
    core::check_name("policyName", policy, &mut errors);
    errors.finish(())?;
    let config = input.validate()?;
    let mut w = store.write().await?;
    let service = live(w.conn(), cluster, name).await?;
    sql::target(w.conn(), &service.id).await?.ok_or_else(|| no_target(cluster, name))?;
    let uses_requests = config.target_tracking_scaling_policy_configuration.as_ref().and_then(|t| t.predefined_metric_specification.as_ref()?.predefined_metric_type.as_deref())
        == Some("ALBRequestCountPerTarget")
        || config.step_scaling_policy_configuration.as_ref().and_then(|s| s.alarm.as_ref()?.metric_name.as_deref()) == Some("ALBRequestCountPerTarget");
    if uses_requests && service.config.load_balancers.is_empty() {
        return Err(WharfError::invalid_field("predefinedMetricType", "ALBRequestCountPerTarget needs the service to be behind a load balancer"));
    }
    sql::put_policy(w.conn(), &service.id, policy, &config, &store::now()).await?;
    let row = sql::policies(w.conn(), &service.id).await?.into_iter().find(|p| p.name == policy).ok_or_else(WharfError::internal)?;
    w.commit().await?;
    Ok(scaling_policy(cluster, name, row))
}

pub async fn delete_scaling_policy(store: &Store, cluster: &str, name: &str, policy: &str) -> Result<ScalingPolicy> {
    let mut w = store.write().await?;
    let service = live(w.conn(), cluster, name).await?;
    let row = sql::policies(w.conn(), &service.id).await?.into_iter().find(|p| p.name == policy);
    let row = row.ok_or_else(|| WharfError::not_found(format!("the service '{name}' has no scaling policy named '{policy}'")))?;
    sql::delete_policy(w.conn(), &service.id, policy).await?;
    w.commit().await?;
    Ok(scaling_policy(cluster, name, row))
}

pub async fn put_scheduled_action(store: &Store, cluster: &str, name: &str, action: &str, input: PutScheduledActionInput) -> Result<ScheduledAction> {
    let mut errors = FieldErrors::new();
    core::check_name("scheduledActionName", action, &mut errors);
    errors.finish(())?;
    let now = Utc::now();
    scaling_config::scheduled_action(&input, now)?;
    let mut w = store.write().await?;
    let service = live(w.conn(), cluster, name).await?;
    sql::target(w.conn(), &service.id).await?.ok_or_else(|| no_target(cluster, name))?;
    let mut stored = input;
    stored.timezone = Some(stored.timezone.unwrap_or_else(|| "UTC".into()));
    sql::put_action(w.conn(), &service.id, action, &stored, &store::now()).await?;
    let row = sql::actions(w.conn(), &service.id).await?.into_iter().find(|a| a.name == action).ok_or_else(WharfError::internal)?;
    w.commit().await?;
    Ok(scheduled_action(cluster, name, row, now))
}

/// The next three runs of a scheduled action as typed, in its zone (and UTC).
pub fn preview_schedule(input: &PutScheduledActionInput) -> Result<Vec<String>> {
    let now = Utc::now();
    let schedule = scaling_config::scheduled_action(input, now)?;
    let mut runs = Vec::new();
    let mut after = now;
    while runs.len() < 3 {
        let Some(next) = schedule.next_after(after) else { break };
        runs.push(format!("{} ({})", local(schedule.zone, next), next.format("%Y-%m-%d %H:%M UTC")));
        after = next;
    }
    Ok(runs)
}

pub async fn delete_scheduled_action(store: &Store, cluster: &str, name: &str, action: &str) -> Result<ScheduledAction> {
    let mut w = store.write().await?;
    let service = live(w.conn(), cluster, name).await?;
    let row = sql::actions(w.conn(), &service.id).await?.into_iter().find(|a| a.name == action);
    let row = row.ok_or_else(|| WharfError::not_found(format!("the service '{name}' has no scheduled action named '{action}'")))?;
    sql::delete_action(w.conn(), &service.id, action).await?;
    w.commit().await?;
    Ok(scheduled_action(cluster, name, row, Utc::now()))
}

/// The service's scalable target, policies, scheduled actions (with their next runs) and
/// latest activities.
pub async fn describe(conn: &mut AnyConnection, cluster: &str, name: &str) -> Result<ServiceScaling> {
    let service = live(conn, cluster, name).await?;
    let now = Utc::now();
    let target = sql::target(conn, &service.id).await?;
    let policies = sql::policies(conn, &service.id).await?;
    let actions = sql::actions(conn, &service.id).await?;
    let activities = sql::activities(conn, &service.id, 0, ACTIVITIES_SHOWN).await?;
    Ok(ServiceScaling {
        scalable_target: target.as_ref().map(|t| scalable_target(cluster, name, t)),
        scaling_policies: policies.into_iter().map(|p| scaling_policy(cluster, name, p)).collect(),
        scheduled_actions: actions.into_iter().map(|a| scheduled_action(cluster, name, a, now)).collect(),
        scaling_activities: activities.into_iter().map(|a| activity(cluster, name, a)).collect(),
    })
}

/// The service's samples of the last `minutes`, and the activities among them.
pub async fn metrics(conn: &mut AnyConnection, cluster: &str, name: &str, minutes: i64) -> Result<(Vec<MetricSample>, Vec<ScalingActivity>)> {
    let service = live(conn, cluster, name).await?;
    let since = Utc::now().timestamp() - minutes.clamp(1, 24 * 60) * 60;
    let samples = sql::samples(conn, &service.id, since).await?;
    let activities = sql::activities(conn, &service.id, since, 500).await?;
    Ok((samples, activities.into_iter().map(|a| activity(cluster, name, a)).collect()))
}
