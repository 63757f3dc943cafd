/*!
One evaluation of the services with a scalable target. For each, a plan is made on a plain
read (almost always: nothing to do); when something is to be done, the plan is made again
inside a write transaction and applied there, so a change is made exactly once whatever ran
between.
*/

use super::{Autoscaler, text};
use crate::control::scaling::scale;
use crate::store::{scaling as sql, services};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use std::collections::{HashMap, HashSet};
use wharf_core::WharfError;
use wharf_core::scaling::ScalableTargetConfig;
use wharf_scheduler::scaling::{self as scaling, Activity, Bounds, Decision, Direction, MetricKind, Sample, Suspended, config, schedule::{Tz, local}};

/// A hold unseen this long is told again when it comes back.
const FORGET_HOLD: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// How far back metrics are read: the longest a step alarm may look back.
const LOOK_BACK: i64 = wharf_core::scaling::MAX_ALARM_SPAN;

/// What one service's evaluation would do.
struct Plan {
    service: services::ServiceRow,
    /// Scheduled actions due: (name, the run, the bounds it sets, the zone it is read in).
    due: Vec<(String, DateTime<Utc>, ScalableTargetConfig, Tz)>,
    /// Runs that came while scheduled scaling was suspended: passed over, not made on resume
    /// (name, the run, its zone).
    skipped: Vec<(String, DateTime<Utc>, Tz)>,
    bounds: ScalableTargetConfig,
    decision: Decision,
}

impl Plan {
    /// The bounds or the desired count move.
    fn moves(&self) -> bool {
        !self.due.is_empty() || self.decision.moved(self.service.config.desired_count)
    }

    /// Something is to be written: a move, or runs to pass over.
    fn writes(&self) -> bool {
        self.moves() || !self.skipped.is_empty()
    }
}

impl Autoscaler {
    /// Evaluates every scaled service at `now`; returns the services whose desired count moved.
    pub async fn evaluate(&mut self, now: DateTime<Utc>) -> Result<Vec<String>, WharfError> {
        let scaled = sql::scaled_services(&mut *self.control.read().await?).await?;
        self.told.retain(|id, _| scaled.iter().any(|(s, _, _)| s == id));
        let mut moved = Vec::new();
        for (id, cluster, name) in scaled {
            // One service's failure (a stored document that no longer reads) leaves the others be.
            match self.evaluate_one(&id, &cluster, &name, now).await {
                Ok(true) => moved.push(name),
                Ok(false) => {}
                Err(e) => tracing::warn!(%cluster, service = %name, error = %e, "auto scaling could not evaluate the service"),
            }
        }
        Ok(moved)
    }

    /// Evaluates one service; true when its desired count or bounds moved.
    async fn evaluate_one(&mut self, id: &str, cluster: &str, name: &str, now: DateTime<Utc>) -> Result<bool, WharfError> {
        let Some(plan) = plan(&mut *self.control.read().await?, id, cluster, name, now).await? else { return Ok(false) };
        let told = self.told.entry(id.to_string()).or_default();
        told.follow(&plan, now);
        if !plan.writes() && !told.new_hold(&plan) {
            return Ok(false);
        }
        let mut w = self.control.store().write().await?;
        // Again, inside the transaction: whatever changed since the read counts.
        let Some(plan) = self::plan(w.conn(), id, cluster, name, now).await? else { return Ok(false) };
        let told = self.told.entry(id.to_string()).or_default();
        told.follow(&plan, now);
        let tell = told.new_hold(&plan);
        if !plan.writes() && !tell {
            return Ok(false);
        }
        let said = apply(w.conn(), &plan, tell, &told.skips, now).await?;
        w.commit().await?;
        told.record(&plan, now);
        for message in said {
            self.control.events().publish("service", Some(cluster), serde_json::json!({"serviceName": name, "message": message}));
        }
        if plan.moves() {
            self.control.agents().wake_scheduler();
        }
        Ok(plan.moves())
    }
}

async fn plan(conn: &mut AnyConnection, id: &str, cluster: &str, name: &str, now: DateTime<Utc>) -> Result<Option<Plan>, WharfError> {
    // By name, then checked by id: a service deleted and made again meanwhile is another one.
    let Some(service) = services::get(conn, cluster, name).await?.filter(|s| s.status == "ACTIVE" && s.id == id) else { return Ok(None) };
    let Some(target) = sql::target(conn, &service.id).await? else { return Ok(None) };
    let mut bounds = target.config;
    let (mut due, mut skipped) = (Vec::new(), Vec::new());
    let mut runs = Vec::new();
    for a in sql::actions(conn, &service.id).await? {
        let created = DateTime::parse_from_rfc3339(&a.created_at).map(|t| t.with_timezone(&Utc)).unwrap_or(now);
        let Ok(schedule) = config::scheduled_action(&a.config, created) else { continue };
        let after = a.last_run.and_then(|t| DateTime::from_timestamp(t, 0)).unwrap_or(created);
        if let Some(run) = schedule.due(after, now) {
            runs.push((run, a.name, a.config.scalable_target_action.unwrap_or_default(), schedule.zone));
        }
    }
    if bounds.suspended_state.scheduled_scaling_suspended {
        skipped = runs.into_iter().map(|(run, action, _, zone)| (action, run, zone)).collect();
    } else {
        // In the order they were due: the last one's bounds stand.
        runs.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (run, action, set, zone) in runs {
            let mut min = set.min_capacity.unwrap_or(bounds.min_capacity);
            let mut max = set.max_capacity.unwrap_or(bounds.max_capacity);
            // An action that sets one bound past the other moves the other along.
            if min > max {
                if set.max_capacity.is_none() { max = min } else { min = max }
            }
            bounds.min_capacity = min;
            bounds.max_capacity = max;
            due.push((action, run, bounds, zone));
        }
    }
    let policies: Vec<(scaling::Policy, Activity)> = sql::policies(conn, &service.id)
        .await?
        .into_iter()
        .filter_map(|p| Some((config::policy(&p.name, &p.config)?, Activity { last_scale_out: p.last_scale_out, last_scale_in: p.last_scale_in, cooldown_start: p.cooldown_start })))
        .collect();
    let mut metrics: HashMap<MetricKind, Vec<Sample>> = HashMap::new();
    for s in sql::samples(conn, &service.id, now.timestamp() - LOOK_BACK).await?.into_iter().filter(|s| s.at <= now.timestamp()) {
        for (kind, value) in [(MetricKind::Cpu, s.cpu_average), (MetricKind::Memory, s.memory_average), (MetricKind::RequestsPerTarget, s.requests_per_target)] {
            if let Some(value) = value {
                metrics.entry(kind).or_default().push(Sample { at: s.at, value });
            }
        }
    }
    let activity: HashMap<String, Activity> = policies.iter().map(|(p, a)| (p.name.clone(), *a)).collect();
    let policies: Vec<scaling::Policy> = policies.into_iter().map(|(p, _)| p).collect();
    let input = scaling::Input {
        now: now.timestamp(),
        desired: service.config.desired_count,
        bounds: Bounds { min: bounds.min_capacity, max: bounds.max_capacity },
        suspended: Suspended { scale_in: bounds.suspended_state.dynamic_scaling_in_suspended, scale_out: bounds.suspended_state.dynamic_scaling_out_suspended },
        deploying: sql::deploying(conn, &service.id).await?,
        policies: &policies,
        metrics: &metrics,
        activity: &activity,
    };
    let decision = scaling::decide(&input);
    Ok(Some(Plan { service, due, skipped, bounds, decision }))
}

/// What was told of one service's holds and passed-over runs.
#[derive(Default)]
pub(super) struct Told {
    /// Holds told since the count last moved ("cpu: scale-out cooldown"), with when each was
    /// last seen: one that comes and goes is told once, one gone a while is told again.
    holds: HashMap<String, DateTime<Utc>>,
    /// Actions whose runs were said to be passed over in this suspension.
    skips: HashSet<String>,
}

impl Told {
    /// Forgets what no longer holds: holds unseen for `FORGET_HOLD`, skips once resumed.
    fn follow(&mut self, plan: &Plan, now: DateTime<Utc>) {
        if let Some(seen) = plan.decision.held.as_ref().and_then(|h| self.holds.get_mut(h)) {
            *seen = now;
        }
        self.holds.retain(|_, seen| now - *seen < FORGET_HOLD);
        if !plan.bounds.suspended_state.scheduled_scaling_suspended {
            self.skips.clear();
        }
    }

    /// The plan holds a change back for a reason not told yet.
    fn new_hold(&self, plan: &Plan) -> bool {
        !plan.moves() && plan.decision.held.as_ref().is_some_and(|h| !self.holds.contains_key(h))
    }

    /// After `plan` was applied (by `apply`, told what `self` says).
    fn record(&mut self, plan: &Plan, now: DateTime<Utc>) {
        if plan.moves() {
            self.holds.clear();
        } else if let Some(h) = &plan.decision.held {
            self.holds.insert(h.clone(), now);
        }
        self.skips.extend(plan.skipped.iter().map(|(action, _, _)| action.clone()));
    }
}

/// Applies a plan; its hold is told when `tell`, a passed-over run unless its action is in
/// `skips_told`. Returns the service events it wrote.
async fn apply(conn: &mut AnyConnection, plan: &Plan, tell: bool, skips_told: &HashSet<String>, now: DateTime<Utc>) -> Result<Vec<String>, WharfError> {
    let service = &plan.service;
    let mut said = Vec::new();
    for (action, run, zone) in &plan.skipped {
        sql::action_ran(conn, &service.id, action, run.timestamp()).await?;
        if !skips_told.contains(action) {
            let cause = format!("scheduled action {action} was due at {} ({}) while scheduled scaling is suspended: passed over", local(*zone, *run), text(*run));
            said.push(held_activity(conn, service, &cause, now).await?);
        }
    }
    for (action, run, bounds, zone) in &plan.due {
        sql::action_ran(conn, &service.id, action, run.timestamp()).await?;
        let cause = format!("scheduled action {action} ran at {} ({})", local(*zone, *run), text(*run));
        let description = format!("Setting min capacity to {} and max capacity to {}.", bounds.min_capacity, bounds.max_capacity);
        let row = sql::ActivityRow {
            seq: 0,
            at: now.timestamp(),
            created_at: text(now),
            description: description.clone(),
            cause: cause.clone(),
            status_code: "Successful".into(),
            policy: None,
            from_count: service.config.desired_count,
            to_count: service.config.desired_count,
        };
        sql::add_activity(conn, &service.id, &row).await?;
        let message = format!("(service {}) {cause}: {}", service.name, description.to_lowercase());
        services::add_event(conn, &service.id, &message, &text(now)).await?;
        said.push(message);
    }
    if !plan.due.is_empty() {
        sql::put_target(conn, &service.id, &plan.bounds, &text(now)).await?;
    }
    let d = &plan.decision;
    let from = service.config.desired_count;
    if d.moved(from) {
        let cause = d.reason.clone().unwrap_or_default();
        // (Without a policy, the bounds moved it: a scheduled action, or a change of the target.)
        match (&d.policy, d.direction) {
            // (Within its cooldown, the cooldown and the count it started from stand.)
            // (Within its cooldown, the cooldown stands, and so does the count it was counted
            // from, which is never more than there were.)
            (Some(policy), Some(Direction::Out)) => sql::policy_scaled_out(conn, &service.id, policy, now.timestamp(), d.counted_from.unwrap_or(from), d.counted_from.is_none()).await?,
            (Some(policy), Some(Direction::In)) => sql::policy_scaled_in(conn, &service.id, policy, now.timestamp()).await?,
            _ => {}
        }
        scale(conn, service, d.desired, &cause, d.policy.as_deref(), now).await?;
        said.push(format!("(service {}) auto scaling set the desired count from {from} to {}: {cause}.", service.name, d.desired));
    } else if let Some(reason) = d.reason.as_ref().filter(|_| tell) {
        said.push(held_activity(conn, service, reason, now).await?);
    }
    Ok(said)
}

/// Records that the desired count was kept, and why; returns the service event.
async fn held_activity(conn: &mut AnyConnection, service: &services::ServiceRow, cause: &str, now: DateTime<Utc>) -> Result<String, WharfError> {
    let from = service.config.desired_count;
    let row = sql::ActivityRow {
        seq: 0,
        at: now.timestamp(),
        created_at: text(now),
        description: format!("Keeping desired count at {from}."),
        cause: cause.to_string(),
        status_code: "Held".into(),
        policy: None,
        from_count: from,
        to_count: from,
    };
    sql::add_activity(conn, &service.id, &row).await?;
    let message = format!("(service {}) auto scaling kept the desired count at {from}: {cause}.", service.name);
    services::add_event(conn, &service.id, &message, &text(now)).await?;
    Ok(message)
}
