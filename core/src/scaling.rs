/*!
Service auto scaling in Application Auto Scaling's shapes: a service's scalable target
(`RegisterScalableTarget`), its scaling policies (`PutScalingPolicy`: target tracking or step
scaling) and scheduled actions (`PutScheduledAction`). Inputs arrive with every field optional
and are checked into configurations with every rule named by field.

Wharf's one addition: a step scaling policy carries its own `alarm` (in AWS it is a CloudWatch
alarm made apart, whose action names the policy).
*/

use crate::{FieldErrors, WharfError};
use serde::{Deserialize, Serialize};

/// The most tasks a scalable target may allow (ECS's own limit per service is far lower).
pub const MAX_CAPACITY: i64 = 10_000;
/// ECS's default cooldowns, in seconds.
pub const DEFAULT_COOLDOWN: i64 = 300;
/// How far back an alarm may look (its periods times their length): the metric history
/// decisions read.
pub const MAX_ALARM_SPAN: i64 = 3600;
/// The longest cooldown taken: a day.
pub const MAX_COOLDOWN: i64 = 86_400;
pub const PREDEFINED_METRICS: [&str; 3] = ["ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization", "ALBRequestCountPerTarget"];
pub const ADJUSTMENT_TYPES: [&str; 3] = ["ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"];
pub const COMPARISONS: [&str; 4] = ["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"];

/// ECS's `SuspendedState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuspendedState {
    #[serde(default)]
    pub dynamic_scaling_in_suspended: bool,
    #[serde(default)]
    pub dynamic_scaling_out_suspended: bool,
    #[serde(default)]
    pub scheduled_scaling_suspended: bool,
}

/// The body of RegisterScalableTarget. Registering again changes what is given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterScalableTargetInput {
    #[serde(default)]
    pub min_capacity: Option<i64>,
    #[serde(default)]
    pub max_capacity: Option<i64>,
    #[serde(default)]
    pub suspended_state: Option<SuspendedState>,
}

/// A service's bounds, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScalableTargetConfig {
    pub min_capacity: i64,
    pub max_capacity: i64,
    pub suspended_state: SuspendedState,
}

impl RegisterScalableTargetInput {
    /// The target after this registration, over the one registered before (if any).
    pub fn apply(&self, before: Option<&ScalableTargetConfig>) -> Result<ScalableTargetConfig, WharfError> {
        let mut errors = FieldErrors::new();
        let min = self.min_capacity.or(before.map(|b| b.min_capacity));
        let max = self.max_capacity.or(before.map(|b| b.max_capacity));
        for (field, value) in [("minCapacity", min), ("maxCapacity", max)] {
            match value {
                None => errors.push(field, "is required when registering a scalable target"),
                Some(v) if !(0..=MAX_CAPACITY).contains(&v) => errors.push(field, format!("{v} is out of range (0 to {MAX_CAPACITY})")),
                Some(_) => {}
            }
        }
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            errors.push("maxCapacity", format!("{max} is below minCapacity {min}"));
        }
        let suspended_state = self.suspended_state.or(before.map(|b| b.suspended_state)).unwrap_or_default();
        errors.finish(ScalableTargetConfig { min_capacity: min.unwrap_or(0), max_capacity: max.unwrap_or(0), suspended_state })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PredefinedMetricSpecification {
    #[serde(default)]
    pub predefined_metric_type: Option<String>,
    /// ALB's label of the target group; Wharf takes the service's first target group when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetTrackingScalingPolicyConfiguration {
    #[serde(default)]
    pub target_value: Option<f64>,
    #[serde(default)]
    pub predefined_metric_specification: Option<PredefinedMetricSpecification>,
    #[serde(default)]
    pub scale_out_cooldown: Option<i64>,
    #[serde(default)]
    pub scale_in_cooldown: Option<i64>,
    #[serde(default)]
    pub disable_scale_in: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepAdjustment {
    /// Relative to the alarm's threshold; none: minus infinity.
    #[serde(default)]
    pub metric_interval_lower_bound: Option<f64>,
    /// None: plus infinity.
    #[serde(default)]
    pub metric_interval_upper_bound: Option<f64>,
    #[serde(default)]
    pub scaling_adjustment: Option<i64>,
}

/// The metric alarm that sets a step scaling policy off.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alarm {
    #[serde(default)]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub comparison_operator: Option<String>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub evaluation_periods: Option<i64>,
    /// Seconds per period (10 to 3600).
    #[serde(default)]
    pub period: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepScalingPolicyConfiguration {
    #[serde(default)]
    pub adjustment_type: Option<String>,
    #[serde(default)]
    pub step_adjustments: Option<Vec<StepAdjustment>>,
    #[serde(default)]
    pub min_adjustment_magnitude: Option<i64>,
    #[serde(default)]
    pub cooldown: Option<i64>,
    #[serde(default)]
    pub alarm: Option<Alarm>,
}

/// The body of PutScalingPolicy (its name is in the path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PutScalingPolicyInput {
    /// `TargetTrackingScaling` or `StepScaling`.
    #[serde(default)]
    pub policy_type: Option<String>,
    #[serde(default)]
    pub target_tracking_scaling_policy_configuration: Option<TargetTrackingScalingPolicyConfiguration>,
    #[serde(default)]
    pub step_scaling_policy_configuration: Option<StepScalingPolicyConfiguration>,
}

/// A checked policy, as stored: the input with its defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScalingPolicyConfig {
    pub policy_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_tracking_scaling_policy_configuration: Option<TargetTrackingScalingPolicyConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_scaling_policy_configuration: Option<StepScalingPolicyConfiguration>,
}

/// Application Auto Scaling's rule for policy and action names.
pub fn check_name(field: &str, name: &str, errors: &mut FieldErrors) {
    let fine = !name.is_empty() && name.len() <= 256 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !fine {
        errors.push(field, "must be 1 to 256 letters, digits, '-', '_' and '.'");
    }
}

fn cooldown(field: &str, value: Option<i64>, errors: &mut FieldErrors) -> i64 {
    match value {
        Some(v) if !(0..=MAX_COOLDOWN).contains(&v) => {
            errors.push(field, format!("{v} is out of range (0 to {MAX_COOLDOWN} seconds)"));
            DEFAULT_COOLDOWN
        }
        Some(v) => v,
        None => DEFAULT_COOLDOWN,
    }
}

fn one_of(field: &str, value: Option<&str>, allowed: &[&str], errors: &mut FieldErrors) {
    match value {
        None => errors.push(field, format!("is required: one of {}", allowed.join(", "))),
        Some(v) if !allowed.contains(&v) => errors.push(field, format!("'{v}' is not one of {}", allowed.join(", "))),
        Some(_) => {}
    }
}

impl PutScalingPolicyInput {
    pub fn validate(&self) -> Result<ScalingPolicyConfig, WharfError> {
        let mut errors = FieldErrors::new();
        let kind = self.policy_type.as_deref();
        one_of("policyType", kind, &["TargetTrackingScaling", "StepScaling"], &mut errors);
        let mut out = ScalingPolicyConfig { policy_type: kind.unwrap_or_default().to_string(), target_tracking_scaling_policy_configuration: None, step_scaling_policy_configuration: None };
        match kind {
            Some("TargetTrackingScaling") => {
                const F: &str = "targetTrackingScalingPolicyConfiguration";
                let Some(c) = &self.target_tracking_scaling_policy_configuration else {
                    errors.push(F, "is required for a TargetTrackingScaling policy");
                    return errors.finish(out);
                };
                match c.target_value {
                    None => errors.push(format!("{F}.targetValue"), "is required"),
                    Some(v) if !(v.is_finite() && v > 0.0 && v <= 1e9) => errors.push(format!("{F}.targetValue"), format!("{v} must be above 0 (and at most 1e9)")),
                    Some(_) => {}
                }
                let metric = c.predefined_metric_specification.as_ref().and_then(|m| m.predefined_metric_type.as_deref());
                one_of(&format!("{F}.predefinedMetricSpecification.predefinedMetricType"), metric, &PREDEFINED_METRICS, &mut errors);
                let mut checked = c.clone();
                checked.scale_out_cooldown = Some(cooldown(&format!("{F}.scaleOutCooldown"), c.scale_out_cooldown, &mut errors));
                checked.scale_in_cooldown = Some(cooldown(&format!("{F}.scaleInCooldown"), c.scale_in_cooldown, &mut errors));
                checked.disable_scale_in = Some(c.disable_scale_in.unwrap_or(false));
                out.target_tracking_scaling_policy_configuration = Some(checked);
            }
            Some("StepScaling") => {
                const F: &str = "stepScalingPolicyConfiguration";
                let Some(c) = &self.step_scaling_policy_configuration else {
                    errors.push(F, "is required for a StepScaling policy");
                    return errors.finish(out);
                };
                one_of(&format!("{F}.adjustmentType"), c.adjustment_type.as_deref(), &ADJUSTMENT_TYPES, &mut errors);
                check_steps(F, c.step_adjustments.as_deref().unwrap_or_default(), &mut errors);
                if let Some(m) = c.min_adjustment_magnitude
                    && (m < 1 || c.adjustment_type.as_deref() != Some("PercentChangeInCapacity"))
                {
                    errors.push(format!("{F}.minAdjustmentMagnitude"), "is 1 or more, and only for PercentChangeInCapacity");
                }
                match &c.alarm {
                    None => errors.push(format!("{F}.alarm"), "is required: the alarm that sets the policy off"),
                    Some(a) => check_alarm(&format!("{F}.alarm"), a, &mut errors),
                }
                let mut checked = c.clone();
                checked.cooldown = Some(cooldown(&format!("{F}.cooldown"), c.cooldown, &mut errors));
                out.step_scaling_policy_configuration = Some(checked);
            }
            _ => {}
        }
        errors.finish(out)
    }
}

/// AWS's rules for steps: at least one; each with an adjustment; lower below upper; no two
/// overlapping; at most one open at each end.
fn check_steps(prefix: &str, steps: &[StepAdjustment], errors: &mut FieldErrors) {
    let field = format!("{prefix}.stepAdjustments");
    if steps.is_empty() {
        errors.push(&field, "needs at least one step");
        return;
    }
    for (i, s) in steps.iter().enumerate() {
        if s.scaling_adjustment.is_none_or(|a| a.unsigned_abs() > MAX_CAPACITY as u64) {
            errors.push(format!("{field}[{i}].scalingAdjustment"), format!("is required, from -{MAX_CAPACITY} to {MAX_CAPACITY}"));
        }
        for (name, bound) in [("metricIntervalLowerBound", s.metric_interval_lower_bound), ("metricIntervalUpperBound", s.metric_interval_upper_bound)] {
            if bound.is_some_and(|b| !b.is_finite()) {
                errors.push(format!("{field}[{i}].{name}"), "must be a finite number");
            }
        }
        if let (Some(lo), Some(hi)) = (s.metric_interval_lower_bound, s.metric_interval_upper_bound)
            && lo >= hi
        {
            errors.push(format!("{field}[{i}].metricIntervalUpperBound"), format!("{hi} must be above the lower bound {lo}"));
        }
    }
    let lower = |s: &StepAdjustment| s.metric_interval_lower_bound.unwrap_or(f64::NEG_INFINITY);
    let upper = |s: &StepAdjustment| s.metric_interval_upper_bound.unwrap_or(f64::INFINITY);
    let mut sorted: Vec<(usize, &StepAdjustment)> = steps.iter().enumerate().collect();
    sorted.sort_by(|a, b| lower(a.1).total_cmp(&lower(b.1)));
    for pair in sorted.windows(2) {
        if upper(pair[0].1) > lower(pair[1].1) {
            errors.push(format!("{field}[{}]", pair[1].0), format!("overlaps step {}", pair[0].0));
        }
    }
}

fn check_alarm(prefix: &str, a: &Alarm, errors: &mut FieldErrors) {
    one_of(&format!("{prefix}.metricName"), a.metric_name.as_deref(), &PREDEFINED_METRICS, errors);
    one_of(&format!("{prefix}.comparisonOperator"), a.comparison_operator.as_deref(), &COMPARISONS, errors);
    if a.threshold.is_none_or(|t| !t.is_finite()) {
        errors.push(format!("{prefix}.threshold"), "is required, a finite number");
    }
    if a.evaluation_periods.is_none_or(|n| !(1..=100).contains(&n)) {
        errors.push(format!("{prefix}.evaluationPeriods"), "is required, from 1 to 100");
    }
    if a.period.is_none_or(|p| !(10..=3600).contains(&p)) {
        errors.push(format!("{prefix}.period"), "is required, from 10 to 3600 seconds");
    } else if let (Some(n), Some(p)) = (a.evaluation_periods, a.period)
        && (1..=100).contains(&n)
        && n * p > MAX_ALARM_SPAN
    {
        errors.push(format!("{prefix}.evaluationPeriods"), format!("{n} periods of {p} s look back further than the {MAX_ALARM_SPAN} s of metrics an alarm reads"));
    }
}

/// `ScalableTargetAction`: the bounds a scheduled action sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScalableTargetAction {
    #[serde(default)]
    pub min_capacity: Option<i64>,
    #[serde(default)]
    pub max_capacity: Option<i64>,
}

/// The body of PutScheduledAction (its name is in the path). The schedule's expression is
/// checked where time zones are known (the scheduler); the rest here.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PutScheduledActionInput {
    /// `at(...)`, `rate(...)` or `cron(...)`.
    #[serde(default)]
    pub schedule: Option<String>,
    /// An IANA time zone; UTC when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub scalable_target_action: Option<ScalableTargetAction>,
}

impl PutScheduledActionInput {
    /// Checks what needs no calendar: the action's bounds.
    pub fn check_action(&self, errors: &mut FieldErrors) {
        let Some(action) = self.scalable_target_action else {
            errors.push("scalableTargetAction", "is required: the minCapacity and/or maxCapacity to set");
            return;
        };
        if action.min_capacity.is_none() && action.max_capacity.is_none() {
            errors.push("scalableTargetAction", "sets minCapacity, maxCapacity or both");
        }
        for (field, value) in [("scalableTargetAction.minCapacity", action.min_capacity), ("scalableTargetAction.maxCapacity", action.max_capacity)] {
            if let Some(v) = value.filter(|v| !(0..=MAX_CAPACITY).contains(v)) {
                errors.push(field, format!("{v} is out of range (0 to {MAX_CAPACITY})"));
            }
        }
        if let (Some(min), Some(max)) = (action.min_capacity, action.max_capacity)
            && min > max
        {
            errors.push("scalableTargetAction.maxCapacity", format!("{max} is below minCapacity {min}"));
        }
        if self.schedule.as_deref().is_none_or(|s| s.trim().is_empty()) {
            errors.push("schedule", "is required: at(...), rate(...) or cron(...)");
        }
    }
}

/// Application Auto Scaling's namespace and dimension of a service's desired count.
pub const SERVICE_NAMESPACE: &str = "ecs";
pub const SCALABLE_DIMENSION: &str = "ecs:service:DesiredCount";

/// The resource ID Application Auto Scaling gives a service: `service/{cluster}/{service}`.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

/// `DescribeScalableTargets`' element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScalableTarget {
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub min_capacity: i64,
    pub max_capacity: i64,
    pub suspended_state: SuspendedState,
    pub creation_time: String,
}

/// `DescribeScalingPolicies`' element, with when the policy last scaled each way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScalingPolicy {
    pub policy_name: String,
    #[serde(rename = "policyARN")]
    pub policy_arn: String,
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    #[serde(flatten)]
    pub config: ScalingPolicyConfig,
    pub creation_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_out_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_in_time: Option<String>,
}

/// `DescribeScheduledActions`' element, with the next run the console never showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduledAction {
    pub scheduled_action_name: String,
    #[serde(rename = "scheduledActionARN")]
    pub scheduled_action_arn: String,
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub schedule: String,
    pub timezone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub scalable_target_action: ScalableTargetAction,
    pub creation_time: String,
    /// When it fires next (UTC), none when it never will again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_time: Option<String>,
    /// The same moment in the action's own time zone, as people read a schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_local_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_time: Option<String>,
}

/// `DescribeScalingActivities`' element: one decision, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScalingActivity {
    pub activity_id: String,
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub description: String,
    pub cause: String,
    pub start_time: String,
    /// `Successful`: the count moved; `Held`: a cooldown, a bound, a flag or a deployment held
    /// it back (not an AWS status: Application Auto Scaling says nothing then).
    pub status_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    pub from_count: i64,
    pub to_count: i64,
}

/// One sample of a service's load, as the charts draw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricSample {
    /// Unix seconds.
    pub at: i64,
    pub desired: i64,
    pub running: i64,
    /// Percent of what the tasks reserve: the tasks' average and the busiest task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_average: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_maximum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_average: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_maximum: Option<f64>,
    /// Requests per target over the last minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_target: Option<f64>,
}

/// What a container instance's host used at a moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostSample {
    /// Unix seconds.
    pub at: i64,
    /// CPU units busy (1024 = one core).
    pub cpu: i64,
    /// MiB in use.
    pub memory: i64,
}

/// An instance's usage history, oldest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceMetrics {
    pub samples: Vec<HostSample>,
}

/// A service's metric history and the scaling activities among it, for charts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceMetrics {
    /// Oldest first.
    pub samples: Vec<MetricSample>,
    /// Newest first.
    pub scaling_activities: Vec<ScalingActivity>,
}

/// Everything about a service's scaling, as its page shows it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceScaling {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalable_target: Option<ScalableTarget>,
    #[serde(default)]
    pub scaling_policies: Vec<ScalingPolicy>,
    #[serde(default)]
    pub scheduled_actions: Vec<ScheduledAction>,
    /// The newest first.
    #[serde(default)]
    pub scaling_activities: Vec<ScalingActivity>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: WharfError) -> Vec<String> {
        e.errors.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn a_scalable_target_needs_sane_bounds_and_keeps_what_is_not_given() {
        let input = RegisterScalableTargetInput { min_capacity: Some(2), max_capacity: Some(10), suspended_state: None };
        let target = input.apply(None).unwrap();
        assert_eq!((target.min_capacity, target.max_capacity), (2, 10));
        let raise = RegisterScalableTargetInput { min_capacity: Some(4), ..Default::default() };
        assert_eq!(raise.apply(Some(&target)).unwrap().max_capacity, 10);
        let bad = RegisterScalableTargetInput { min_capacity: Some(5), max_capacity: Some(3), suspended_state: None };
        assert_eq!(fields(bad.apply(None).unwrap_err()), ["maxCapacity"]);
        assert_eq!(fields(RegisterScalableTargetInput::default().apply(None).unwrap_err()), ["minCapacity", "maxCapacity"]);
        let huge = RegisterScalableTargetInput { min_capacity: Some(-1), max_capacity: Some(i64::MAX), suspended_state: None };
        assert_eq!(fields(huge.apply(None).unwrap_err()), ["minCapacity", "maxCapacity"]);
    }

    #[test]
    fn policies_are_checked_by_field_with_ecs_defaults() {
        let tracking: PutScalingPolicyInput = serde_json::from_value(serde_json::json!({
            "policyType": "TargetTrackingScaling",
            "targetTrackingScalingPolicyConfiguration": { "targetValue": 50.0,
                "predefinedMetricSpecification": { "predefinedMetricType": "ECSServiceAverageCPUUtilization" }, "scaleInCooldown": 60 }
        }))
        .unwrap();
        let c = tracking.validate().unwrap().target_tracking_scaling_policy_configuration.unwrap();
        assert_eq!((c.scale_out_cooldown, c.scale_in_cooldown, c.disable_scale_in), (Some(300), Some(60), Some(false)));
        let bad: PutScalingPolicyInput = serde_json::from_value(serde_json::json!({
            "policyType": "TargetTrackingScaling",
            "targetTrackingScalingPolicyConfiguration": { "targetValue": -1, "predefinedMetricSpecification": { "predefinedMetricType": "CPU" },
                "scaleOutCooldown": 100000 }
        }))
        .unwrap();
        assert_eq!(
            fields(bad.validate().unwrap_err()),
            [
                "targetTrackingScalingPolicyConfiguration.targetValue",
                "targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.predefinedMetricType",
                "targetTrackingScalingPolicyConfiguration.scaleOutCooldown"
            ]
        );
        let steps: PutScalingPolicyInput = serde_json::from_value(serde_json::json!({
            "policyType": "StepScaling",
            "stepScalingPolicyConfiguration": { "adjustmentType": "ChangeInCapacity",
                "stepAdjustments": [{ "metricIntervalLowerBound": 0, "metricIntervalUpperBound": 20, "scalingAdjustment": 1 },
                                    { "metricIntervalLowerBound": 10, "scalingAdjustment": 3 }],
                "alarm": { "metricName": "ECSServiceAverageCPUUtilization", "comparisonOperator": "GreaterThanThreshold", "threshold": 70,
                           "evaluationPeriods": 3, "period": 5 } }
        }))
        .unwrap();
        assert_eq!(fields(steps.validate().unwrap_err()), ["stepScalingPolicyConfiguration.stepAdjustments[1]", "stepScalingPolicyConfiguration.alarm.period"]);
        assert_eq!(fields(PutScalingPolicyInput::default().validate().unwrap_err()), ["policyType"]);
        // An alarm reads an hour of metrics at most: 100 periods of a minute look further.
        let mut long = steps.clone();
        if let Some(c) = long.step_scaling_policy_configuration.as_mut() {
            c.step_adjustments = Some(vec![StepAdjustment { metric_interval_lower_bound: Some(0.0), metric_interval_upper_bound: None, scaling_adjustment: Some(1) }]);
            c.alarm = Some(Alarm { period: Some(60), evaluation_periods: Some(100), ..c.alarm.clone().unwrap() });
        }
        assert_eq!(fields(long.validate().unwrap_err()), ["stepScalingPolicyConfiguration.alarm.evaluationPeriods"]);
    }
}
