/*!
From the stored shapes (`wharf-core`'s checked inputs) to what [`super::decide`] and
[`Schedule`] work on, and the checks of a scheduled action that need a calendar.
*/

use super::schedule::{self, Schedule};
use super::{AdjustmentType, Alarm, Comparison, MetricKind, Policy, PolicyKind, StepAdjustment, StepScaling, TargetTracking};
use chrono::{DateTime, Utc};
use wharf_core::scaling::{PutScheduledActionInput, ScalingPolicyConfig};
use wharf_core::{FieldErrors, WharfError};

pub fn metric(name: &str) -> Option<MetricKind> {
    [MetricKind::Cpu, MetricKind::Memory, MetricKind::RequestsPerTarget].into_iter().find(|m| m.ecs_name() == name)
}

/// A stored policy as the decision reads it; none when it no longer makes sense (a stored
/// document from a later version).
pub fn policy(name: &str, c: &ScalingPolicyConfig) -> Option<Policy> {
    let kind = match c.policy_type.as_str() {
        "TargetTrackingScaling" => {
            let t = c.target_tracking_scaling_policy_configuration.as_ref()?;
            PolicyKind::TargetTracking(TargetTracking {
                metric: metric(t.predefined_metric_specification.as_ref()?.predefined_metric_type.as_deref()?)?,
                target: t.target_value?,
                scale_out_cooldown: t.scale_out_cooldown.unwrap_or(wharf_core::scaling::DEFAULT_COOLDOWN),
                scale_in_cooldown: t.scale_in_cooldown.unwrap_or(wharf_core::scaling::DEFAULT_COOLDOWN),
                disable_scale_in: t.disable_scale_in.unwrap_or(false),
            })
        }
        "StepScaling" => {
            let s = c.step_scaling_policy_configuration.as_ref()?;
            let a = s.alarm.as_ref()?;
            let comparison = match a.comparison_operator.as_deref()? {
                "GreaterThanOrEqualToThreshold" => Comparison::GreaterThanOrEqualToThreshold,
                "GreaterThanThreshold" => Comparison::GreaterThanThreshold,
                "LessThanThreshold" => Comparison::LessThanThreshold,
                "LessThanOrEqualToThreshold" => Comparison::LessThanOrEqualToThreshold,
                _ => return None,
            };
            let adjustment_type = match s.adjustment_type.as_deref()? {
                "ChangeInCapacity" => AdjustmentType::ChangeInCapacity,
                "PercentChangeInCapacity" => AdjustmentType::PercentChangeInCapacity,
                "ExactCapacity" => AdjustmentType::ExactCapacity,
                _ => return None,
            };
            let steps = s.step_adjustments.as_ref()?;
            PolicyKind::Step(StepScaling {
                alarm: Alarm {
                    metric: metric(a.metric_name.as_deref()?)?,
                    comparison,
                    threshold: a.threshold?,
                    evaluation_periods: u32::try_from(a.evaluation_periods?).ok()?,
                    period: a.period?,
                },
                adjustment_type,
                steps: steps
                    .iter()
                    .map(|s| {
                        Some(StepAdjustment { lower: s.metric_interval_lower_bound, upper: s.metric_interval_upper_bound, scaling_adjustment: s.scaling_adjustment? })
                    })
                    .collect::<Option<Vec<_>>>()?,
                min_adjustment_magnitude: s.min_adjustment_magnitude,
                cooldown: s.cooldown.unwrap_or(wharf_core::scaling::DEFAULT_COOLDOWN),
            })
        }
        _ => return None,
    };
    Some(Policy { name: name.to_string(), kind })
}

fn instant(field: &str, text: Option<&str>, errors: &mut FieldErrors) -> Option<DateTime<Utc>> {
    let text = text?;
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(field, format!("'{text}' is not an RFC 3339 time like 2026-12-24T18:00:00Z"));
            None
        }
    }
}

/// Checks a scheduled action whole (expression, time zone, start and end, bounds) and gives
/// its schedule, counting `rate(...)` from `created`.
pub fn scheduled_action(input: &PutScheduledActionInput, created: DateTime<Utc>) -> Result<Schedule, WharfError> {
    let mut errors = FieldErrors::new();
    input.check_action(&mut errors);
    let expression = input.schedule.as_deref().filter(|s| !s.trim().is_empty()).and_then(|s| match schedule::parse(s) {
        Ok(e) => Some(e),
        Err(rule) => {
            errors.push("schedule", rule);
            None
        }
    });
    let zone = match input.timezone.as_deref() {
        None => Some(chrono_tz::UTC),
        Some(z) => match z.parse::<chrono_tz::Tz>() {
            Ok(zone) => Some(zone),
            Err(_) => {
                errors.push("timezone", format!("'{z}' is not an IANA time zone like Europe/Berlin or UTC"));
                None
            }
        },
    };
    let start = instant("startTime", input.start_time.as_deref(), &mut errors);
    let end = instant("endTime", input.end_time.as_deref(), &mut errors);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        errors.push("endTime", "must be after startTime");
    }
    // Runs fall on whole seconds, as their last run is kept: a millisecond of `created` would
    // otherwise put each run a fraction after the one recorded, and make it again.
    let whole = |t: DateTime<Utc>| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t);
    let out = match (expression, zone) {
        (Some(expression), Some(zone)) => Some(Schedule { expression, zone, start: start.map(whole), end: end.map(whole), created: whole(created) }),
        _ => None,
    };
    errors.finish(())?;
    out.ok_or_else(WharfError::internal)
}

impl Schedule {
    /// The latest run in `(after, now]`: the one to make now. Runs missed while the server was
    /// away are made once, as that latest one.
    pub fn due(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.latest_in(after, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_scheduled_action_is_checked_by_field() {
        let bad = PutScheduledActionInput {
            schedule: Some("cron(0 25 * * ? *)".into()),
            timezone: Some("Mars/Olympus".into()),
            start_time: Some("2027-01-01T00:00:00Z".into()),
            end_time: Some("2026-01-01T00:00:00Z".into()),
            scalable_target_action: Some(wharf_core::scaling::ScalableTargetAction { min_capacity: Some(5), max_capacity: Some(2) }),
        };
        let fields: Vec<String> = scheduled_action(&bad, Utc::now()).unwrap_err().errors.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["scalableTargetAction.maxCapacity", "schedule", "timezone", "endTime"]);
    }

    #[test]
    fn missed_runs_are_made_once_as_the_latest() {
        let input = PutScheduledActionInput {
            schedule: Some("cron(0 * * * ? *)".into()),
            scalable_target_action: Some(wharf_core::scaling::ScalableTargetAction { min_capacity: Some(1), max_capacity: None }),
            ..Default::default()
        };
        let s = scheduled_action(&input, utc("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(s.due(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T00:59:59Z")), None);
        assert_eq!(s.due(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T03:10:00Z")), Some(utc("2026-01-01T03:00:00Z")));
        assert_eq!(s.due(utc("2026-01-01T03:00:00Z"), utc("2026-01-01T03:10:00Z")), None, "made already");
        // A year away from a minute-by-minute schedule is found at once.
        let every = PutScheduledActionInput { schedule: Some("cron(* * * * ? *)".into()), ..input.clone() };
        let s = scheduled_action(&every, utc("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(s.due(utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:30Z")), Some(utc("2027-01-01T00:00:00Z")));
    }

    #[test]
    fn a_rate_counted_from_a_time_with_milliseconds_runs_once_per_step() {
        let input = PutScheduledActionInput {
            schedule: Some("rate(5 minutes)".into()),
            scalable_target_action: Some(wharf_core::scaling::ScalableTargetAction { min_capacity: Some(1), max_capacity: None }),
            ..Default::default()
        };
        let s = scheduled_action(&input, utc("2026-01-01T00:00:00.750Z")).unwrap();
        let first = s.due(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T00:07:00Z")).expect("a run");
        assert_eq!(first, utc("2026-01-01T00:05:00Z"));
        // Kept as whole seconds, read back: not due again until the next step.
        let kept = DateTime::from_timestamp(first.timestamp(), 0).unwrap();
        assert_eq!(s.due(kept, utc("2026-01-01T00:09:59Z")), None);
        assert_eq!(s.due(kept, utc("2026-01-01T00:10:00Z")), Some(utc("2026-01-01T00:10:00Z")));
        assert_eq!(s.next_after(kept), Some(utc("2026-01-01T00:10:00Z")), "the next run agrees");
    }
}
