/*!
Service auto scaling, ECS's model (Application Auto Scaling): a scalable target's bounds and
suspend flags, target tracking and step scaling policies, and what one evaluation decides. Pure:
the metric samples, the clock and each policy's last activity come in; the new desired count
and why come out, with the numbers.

The rules:
- desired always ends within `[minCapacity, maxCapacity]`; a desired count outside them (the
  bounds just changed) is moved inside first, cooldowns or not;
- **target tracking** scales out in proportion to the metric (`ceil(desired × value /
  target)`) as soon as the last minute's average is above the target, and scales in only when
  the metric stayed below 90 % of the target for the last three minutes (and `disableScaleIn`
  is off); several policies scale out if any asks (the largest wins); target tracking
  policies scale in only if all of them agree;
- **step scaling** acts when its alarm breached for `evaluationPeriods` whole periods in a row,
  by the step the latest period's value falls in, each policy on its own alarm (a low-CPU
  policy scales in whatever a high-CPU one thinks);
- **cooldowns** are per policy and per direction: after a policy scaled out it does not scale
  in for `scaleInCooldown` (nor after a scale-in), and within `scaleOutCooldown` it scales out
  again only as Application Auto Scaling does: what the scale-out that started the cooldown
  added counts as part of the next, so it asks again from the count before that scale-out and
  acts only if that asks for more than there is (a load still rising, not the same load seen
  twice), and from the present count if tasks were taken away since; such a scale-out leaves
  the cooldown as it was and is counted from next, so steps never compound; step scaling has
  one `cooldown` for both;
- scale-in waits while a deployment is in progress (ECS does the same), and while suspended.
*/

pub mod config;
pub mod schedule;

use std::collections::HashMap;

/// Seconds since the Unix epoch: the clock the caller hands in.
pub type Seconds = i64;

/// How far back target tracking averages its metric.
pub const TRACKING_WINDOW: Seconds = 60;
/// How long target tracking wants the metric clearly below its target before scaling in.
pub const SCALE_IN_WINDOW: Seconds = 180;
/// "Clearly below": under this share of the target.
pub const SCALE_IN_MARGIN: f64 = 0.9;

/// The metrics policies follow, by ECS's predefined names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    /// Average CPU of the service's tasks, in percent of what they reserve.
    Cpu,
    /// Average memory, in percent of what they reserve.
    Memory,
    /// Requests per target of its load balancer over the last minute (ALB counts per minute).
    RequestsPerTarget,
}

impl MetricKind {
    pub fn ecs_name(self) -> &'static str {
        match self {
            Self::Cpu => "ECSServiceAverageCPUUtilization",
            Self::Memory => "ECSServiceAverageMemoryUtilization",
            Self::RequestsPerTarget => "ALBRequestCountPerTarget",
        }
    }
}

/// One aggregate of the service's metric at a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: Seconds,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: i64,
    pub max: i64,
}

/// ECS's `SuspendedState` (scheduled scaling is the caller's to honour).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Suspended {
    pub scale_in: bool,
    pub scale_out: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetTracking {
    pub metric: MetricKind,
    pub target: f64,
    pub scale_out_cooldown: Seconds,
    pub scale_in_cooldown: Seconds,
    pub disable_scale_in: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentType {
    ChangeInCapacity,
    PercentChangeInCapacity,
    ExactCapacity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThanOrEqualToThreshold => value >= threshold,
            Self::GreaterThanThreshold => value > threshold,
            Self::LessThanThreshold => value < threshold,
            Self::LessThanOrEqualToThreshold => value <= threshold,
        }
    }
}

/// A metric alarm: the period averages of the metric against a threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub metric: MetricKind,
    pub comparison: Comparison,
    pub threshold: f64,
    pub evaluation_periods: u32,
    pub period: Seconds,
}

/// A step: applies when `value - threshold` is within `[lower, upper)` (none: unbounded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepAdjustment {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub scaling_adjustment: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepScaling {
    pub alarm: Alarm,
    pub adjustment_type: AdjustmentType,
    pub steps: Vec<StepAdjustment>,
    pub min_adjustment_magnitude: Option<i64>,
    pub cooldown: Seconds,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyKind {
    TargetTracking(TargetTracking),
    Step(StepScaling),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub kind: PolicyKind,
}

/// When a policy last scaled the service, each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Its latest scale-out: scale-in waits its cooldown from it.
    pub last_scale_out: Option<Seconds>,
    pub last_scale_in: Option<Seconds>,
    /// The scale-out that started its scale-out cooldown, and the desired count to count from
    /// within it (the one before that scale-out, or less: see `Decision::counted_from`).
    pub cooldown_start: Option<(Seconds, i64)>,
}

pub struct Input<'a> {
    pub now: Seconds,
    pub desired: i64,
    pub bounds: Bounds,
    pub suspended: Suspended,
    /// A deployment is in progress: no scale-in.
    pub deploying: bool,
    pub policies: &'a [Policy],
    /// Each metric's samples, oldest first.
    pub metrics: &'a HashMap<MetricKind, Vec<Sample>>,
    /// By policy name.
    pub activity: &'a HashMap<String, Activity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Out,
    In,
}

/// What one evaluation decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub desired: i64,
    /// The policy that moved it (none when the bounds did, or nothing moved).
    pub policy: Option<String>,
    pub direction: Option<Direction>,
    /// Why it moved, with the numbers; or, when it did not move, what held it back (none when
    /// nothing asked for a change).
    pub reason: Option<String>,
    /// When it did not move although asked: what held it, without the numbers that change from
    /// one evaluation to the next ("cpu: scale-out cooldown"), to tell a hold once.
    pub held: Option<String>,
    /// A scale-out within the policy's scale-out cooldown, counted from this count (the one
    /// before the scale-out that started the cooldown, or fewer if tasks were taken away since):
    /// the cooldown stands, and this count is the one to count from next.
    pub counted_from: Option<i64>,
}

impl Decision {
    pub fn moved(&self, from: i64) -> bool {
        self.desired != from
    }
}

/// One policy's wish.
struct Wish {
    policy: String,
    direction: Direction,
    want: i64,
    why: String,
    /// Set when a cooldown, a flag or a deployment holds it back: (what, and with the numbers).
    held: Option<(&'static str, String)>,
    counted_from: Option<i64>,
}

pub fn decide(input: &Input) -> Decision {
    let Bounds { min, max } = input.bounds;
    let (min, max) = (min.max(0), max.max(min.max(0)));
    if input.desired < min || input.desired > max {
        let desired = input.desired.clamp(min, max);
        let reason = format!("desired count {} is outside the bounds [{min}, {max}]: set to {desired}", input.desired);
        let direction = Some(if desired > input.desired { Direction::Out } else { Direction::In });
        return Decision { desired, policy: None, direction, reason: Some(reason), held: None, counted_from: None };
    }
    let wishes: Vec<Option<Wish>> = input.policies.iter().map(|p| wish(input, p)).collect();
    let bounded = |want: i64| want.clamp(min, max);
    // Out if any policy asks (the largest wins).
    let outs = wishes.iter().flatten().filter(|w| w.direction == Direction::Out);
    if let Some(best) = outs.clone().filter(|w| w.held.is_none()).max_by_key(|w| w.want) {
        let desired = bounded(best.want);
        if desired > input.desired {
            let capped = if desired < best.want { format!(" (capped by maxCapacity {max})") } else { String::new() };
            let reason = format!("{}: desired {} → {desired}{capped}", best.why, input.desired);
            return Decision { desired, policy: Some(best.policy.clone()), direction: Some(Direction::Out), reason: Some(reason), held: None, counted_from: best.counted_from };
        }
        return held(input.desired, best, "at maxCapacity", format!("{}, but desired is already at maxCapacity {max}", best.why));
    }
    if let Some(w) = outs.clone().next() {
        return held_back(input.desired, w);
    }
    // In: target tracking policies only when all of them agree (one that is content keeps the
    // tasks); a step policy on its own alarm, as Application Auto Scaling runs each.
    let tracking: Vec<&Option<Wish>> = input.policies.iter().zip(&wishes).filter(|(p, _)| matches!(p.kind, PolicyKind::TargetTracking(_))).map(|(_, w)| w).collect();
    let tracking_in = !tracking.is_empty() && tracking.iter().all(|w| w.as_ref().is_some_and(|w| w.direction == Direction::In));
    let ins: Vec<&Wish> = input
        .policies
        .iter()
        .zip(&wishes)
        .filter(|(p, _)| tracking_in || matches!(p.kind, PolicyKind::Step(_)))
        .filter_map(|(_, w)| w.as_ref().filter(|w| w.direction == Direction::In))
        .collect();
    // The most careful wish free to act: the one that keeps the most tasks.
    let Some(best) = ins.iter().filter(|w| w.held.is_none()).max_by_key(|w| w.want) else {
        return match ins.first() {
            Some(w) => held_back(input.desired, w),
            None => Decision { desired: input.desired, policy: None, direction: None, reason: None, held: None, counted_from: None },
        };
    };
    let desired = bounded(best.want);
    if desired < input.desired {
        let floored = if desired > best.want { format!(" (held at minCapacity {min})") } else { String::new() };
        let reason = format!("{}: desired {} → {desired}{floored}", best.why, input.desired);
        return Decision { desired, policy: Some(best.policy.clone()), direction: Some(Direction::In), reason: Some(reason), held: None, counted_from: None };
    }
    held(input.desired, best, "at minCapacity", format!("{}, but desired is already at minCapacity {min}", best.why))
}

fn held(desired: i64, wish: &Wish, what: &str, reason: String) -> Decision {
    Decision { desired, policy: None, direction: None, reason: Some(reason), held: Some(format!("{}: {what}", wish.policy)), counted_from: None }
}

fn held_back(desired: i64, wish: &Wish) -> Decision {
    let (what, text) = wish.held.clone().unwrap_or_default();
    held(desired, wish, what, format!("{}, held back: {text}", wish.why))
}

fn wish(input: &Input, policy: &Policy) -> Option<Wish> {
    let activity = input.activity.get(&policy.name).copied().unwrap_or_default();
    let samples = input.metrics.get(&metric_of(policy)).map(Vec::as_slice).unwrap_or_default();
    // What the policy asks for from a desired count.
    let ask = |desired: i64| match &policy.kind {
        PolicyKind::TargetTracking(t) => tracking(t, input.now, desired, samples),
        PolicyKind::Step(s) => stepping(s, input.now, desired, samples),
    };
    let (out_cooldown, in_cooldown) = match &policy.kind {
        PolicyKind::TargetTracking(t) => (t.scale_out_cooldown, t.scale_in_cooldown),
        PolicyKind::Step(s) => (s.cooldown, s.cooldown),
    };
    let (direction, mut want, mut why) = ask(input.desired)?;
    let mut counted_from = None;
    let until = |last: Option<Seconds>, cooldown: Seconds| last.map(|t| t.saturating_add(cooldown)).filter(|&end| input.now < end);
    let held = match direction {
        Direction::Out if input.suspended.scale_out => Some(("scale-out suspended", "dynamic scale-out is suspended".to_string())),
        Direction::Out => until(activity.cooldown_start.map(|c| c.0).or(activity.last_scale_out), out_cooldown).and_then(|end| {
            // Within the cooldown, the tasks the scale-out that started it added count toward this
            // one: asked from the count before it, the policy must still want more than there is.
            // (Tasks since taken away by hand or by a scale-in no longer count.)
            let from = activity.cooldown_start.map(|c| c.1.min(input.desired));
            let again = from.and_then(|from| Some((from, ask(from)?))).filter(|(_, (d, w, _))| *d == Direction::Out && *w > input.desired);
            match again {
                Some((from, (_, w, reason))) => {
                    (want, why, counted_from) = (w, format!("{reason}; within its scale-out cooldown, counted from {from}, the count before the scale-out that started it"), Some(from));
                    None
                }
                None => Some(("scale-out cooldown", format!("scale-out cooldown for {} s more", end - input.now))),
            }
        }),
        Direction::In if input.suspended.scale_in => Some(("scale-in suspended", "dynamic scale-in is suspended".to_string())),
        Direction::In if input.deploying => Some(("deployment", "a deployment is in progress".to_string())),
        Direction::In => until(activity.last_scale_out.max(activity.last_scale_in), in_cooldown)
            .map(|end| ("scale-in cooldown", format!("scale-in cooldown for {} s more", end - input.now))),
    };
    let why = format!("policy {} ({why})", policy.name);
    Some(Wish { policy: policy.name.clone(), direction, want, why, held, counted_from })
}

fn metric_of(policy: &Policy) -> MetricKind {
    match &policy.kind {
        PolicyKind::TargetTracking(t) => t.metric,
        PolicyKind::Step(s) => s.alarm.metric,
    }
}

fn mean(samples: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = samples.filter(|v| v.is_finite()).fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

/// Target tracking's wish, if any.
fn tracking(t: &TargetTracking, now: Seconds, desired: i64, samples: &[Sample]) -> Option<(Direction, i64, String)> {
    if !(t.target.is_finite() && t.target > 0.0) {
        return None;
    }
    let recent = mean(samples.iter().filter(|s| s.at > now - TRACKING_WINDOW && s.at <= now).map(|s| s.value))?;
    let name = t.metric.ecs_name();
    // ceil(desired × value / target), in integers where it matters: at least one task.
    let proportional = |value: f64| ((desired.max(1) as f64) * value / t.target).ceil().clamp(0.0, i64::MAX as f64 / 2.0) as i64;
    if recent > t.target {
        let want = proportional(recent).max(desired + 1);
        return Some((Direction::Out, want, format!("{name} {recent:.1} above target {:.1}", t.target)));
    }
    if t.disable_scale_in || desired == 0 {
        return None;
    }
    // Clearly below: every sample of the last three minutes under 90 % of the target, and the
    // samples reach back that far.
    let window: Vec<&Sample> = samples.iter().filter(|s| s.at > now - SCALE_IN_WINDOW && s.at <= now).collect();
    let covers = window.first().is_some_and(|s| s.at <= now - SCALE_IN_WINDOW + TRACKING_WINDOW / 2);
    let peak = window.iter().map(|s| s.value).fold(f64::NEG_INFINITY, f64::max);
    // (A NaN peak never counts as below.)
    let clearly_below = peak.partial_cmp(&(t.target * SCALE_IN_MARGIN)) == Some(std::cmp::Ordering::Less);
    if !covers || !clearly_below {
        return None;
    }
    let want = proportional(recent).min(desired - 1);
    Some((Direction::In, want, format!("{name} {recent:.1} (at most {peak:.1} for {SCALE_IN_WINDOW} s) below target {:.1}", t.target)))
}

/// Step scaling's wish, if its alarm is in ALARM.
fn stepping(s: &StepScaling, now: Seconds, desired: i64, samples: &[Sample]) -> Option<(Direction, i64, String)> {
    let a = &s.alarm;
    if a.period <= 0 || a.evaluation_periods == 0 {
        return None;
    }
    // Whole periods, newest first: (now - period, now], (now - 2 period, now - period], …
    let mut latest = None;
    for k in 0..i64::from(a.evaluation_periods) {
        let end = now - k * a.period;
        let value = mean(samples.iter().filter(|x| x.at > end - a.period && x.at <= end).map(|x| x.value))?;
        if !a.comparison.breaches(value, a.threshold) {
            return None;
        }
        latest.get_or_insert(value);
    }
    let value = latest?;
    let difference = value - a.threshold;
    let step = s.steps.iter().find(|st| st.lower.is_none_or(|l| difference >= l) && st.upper.is_none_or(|u| difference < u))?;
    let want = match s.adjustment_type {
        AdjustmentType::ChangeInCapacity => desired.saturating_add(step.scaling_adjustment),
        AdjustmentType::ExactCapacity => step.scaling_adjustment,
        AdjustmentType::PercentChangeInCapacity => {
            let exact = desired as f64 * step.scaling_adjustment as f64 / 100.0;
            // ECS rounds toward zero, but a change between 0 and 1 task is one task.
            let mut change = if exact.abs() < 1.0 && exact != 0.0 { exact.signum() as i64 } else { exact.trunc() as i64 };
            if let Some(m) = s.min_adjustment_magnitude.filter(|&m| m > 0 && change != 0 && change.abs() < m) {
                change = m * change.signum();
            }
            desired.saturating_add(change)
        }
    };
    let direction = match want.cmp(&desired) {
        std::cmp::Ordering::Greater => Direction::Out,
        std::cmp::Ordering::Less => Direction::In,
        std::cmp::Ordering::Equal => return None,
    };
    let why = format!("alarm {} {value:.1} vs threshold {:.1} for {} × {} s, step {:+}", a.metric.ecs_name(), a.threshold, a.evaluation_periods, a.period, step.scaling_adjustment);
    Some((direction, want.max(0), why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(target: f64) -> Policy {
        Policy {
            name: "cpu".into(),
            kind: PolicyKind::TargetTracking(TargetTracking { metric: MetricKind::Cpu, target, scale_out_cooldown: 300, scale_in_cooldown: 300, disable_scale_in: false }),
        }
    }

    fn series(from: Seconds, to: Seconds, value: f64) -> Vec<Sample> {
        (from..=to).step_by(5).map(|at| Sample { at, value }).collect()
    }

    fn decide_with(desired: i64, policies: &[Policy], samples: Vec<Sample>, activity: &HashMap<String, Activity>) -> Decision {
        let metrics = HashMap::from([(MetricKind::Cpu, samples)]);
        decide(&Input { now: 1000, desired, bounds: Bounds { min: 2, max: 10 }, suspended: Suspended::default(), deploying: false, policies, metrics: &metrics, activity })
    }

    #[test]
    fn target_tracking_scales_out_in_proportion_and_within_max() {
        let d = decide_with(2, &[cpu(50.0)], series(900, 1000, 90.0), &HashMap::new());
        assert_eq!((d.desired, d.direction), (4, Some(Direction::Out)), "ceil(2 × 90 / 50) = 4");
        assert_eq!(d.reason.as_deref(), Some("policy cpu (ECSServiceAverageCPUUtilization 90.0 above target 50.0): desired 2 → 4"));
        let d = decide_with(6, &[cpu(50.0)], series(900, 1000, 100.0), &HashMap::new());
        assert_eq!(d.desired, 10, "12 capped by maxCapacity");
        assert!(d.reason.unwrap().ends_with("(capped by maxCapacity 10)"));
    }

    #[test]
    fn scale_in_needs_three_minutes_clearly_below_and_no_cooldown() {
        // Two minutes of low CPU are not enough.
        assert_eq!(decide_with(6, &[cpu(50.0)], series(880, 1000, 10.0), &HashMap::new()).desired, 6);
        // One sample at 46 (not clearly below 50) in the window holds it.
        let mut s = series(800, 1000, 10.0);
        s[10].value = 46.0;
        assert_eq!(decide_with(6, &[cpu(50.0)], s, &HashMap::new()).desired, 6);
        let d = decide_with(6, &[cpu(50.0)], series(800, 1000, 10.0), &HashMap::new());
        assert_eq!((d.desired, d.direction), (2, Some(Direction::In)), "ceil(6 × 10 / 50) = 2, the minimum");
        // A scale-out 200 s ago holds scale-in (300 s cooldown), and says so.
        let recent = HashMap::from([("cpu".to_string(), Activity { last_scale_out: Some(800), ..Default::default() })]);
        let d = decide_with(6, &[cpu(50.0)], series(800, 1000, 10.0), &recent);
        assert_eq!(d.desired, 6);
        assert!(d.reason.unwrap().ends_with("held back: scale-in cooldown for 100 s more"));
    }

    #[test]
    fn within_a_scale_out_cooldown_what_was_added_counts_toward_the_next() {
        // The policy took 2 to 4 sixty seconds ago (300 s cooldown); the new tasks are not yet
        // carrying load, so CPU still reads 90: asked from 2 that is 4 again, and nothing moves.
        let after = |from: Option<i64>| HashMap::from([("cpu".to_string(), Activity { last_scale_out: Some(940), last_scale_in: None, cooldown_start: from.map(|f| (940, f)) })]);
        let d = decide_with(4, &[cpu(50.0)], series(900, 1000, 90.0), &after(Some(2)));
        assert_eq!(d.desired, 4);
        assert!(d.reason.as_deref().unwrap().ends_with("held back: scale-out cooldown for 240 s more"), "{d:?}");
        assert_eq!(d.held.as_deref(), Some("cpu: scale-out cooldown"));
        // The load rose further: from 2, ceil(2 × 150 / 50) = 6, two more than there are.
        let d = decide_with(4, &[cpu(50.0)], series(900, 1000, 150.0), &after(Some(2)));
        assert_eq!((d.desired, d.direction, &d.held), (6, Some(Direction::Out), &None));
        assert_eq!(d.counted_from, Some(2), "the cooldown and its starting count stand");
        assert!(d.reason.unwrap().contains("within its scale-out cooldown, counted from 2, the count before the scale-out that started it"));
        // Without the count it started from, the cooldown simply holds.
        assert_eq!(decide_with(4, &[cpu(50.0)], series(900, 1000, 150.0), &after(None)).desired, 4);
        // Lowered by hand below where the cooldown started (8): asked from the 4 there are,
        // ceil(4 × 80 / 50) = 7, not from 8.
        let lowered = HashMap::from([("cpu".to_string(), Activity { last_scale_out: Some(940), last_scale_in: None, cooldown_start: Some((940, 8)) })]);
        let d = decide_with(4, &[cpu(50.0)], series(900, 1000, 80.0), &lowered);
        assert_eq!((d.desired, d.counted_from), (7, Some(4)));
        // Counted from 4 next (as the server keeps it): the same load asks for nothing more.
        let kept = HashMap::from([("cpu".to_string(), Activity { last_scale_out: Some(995), last_scale_in: None, cooldown_start: Some((940, 4)) })]);
        assert_eq!(decide_with(7, &[cpu(50.0)], series(900, 1000, 80.0), &kept).desired, 7);
        // Scale-in waits its cooldown from the latest scale-out, one made within a cooldown too.
        let latest = HashMap::from([("cpu".to_string(), Activity { last_scale_out: Some(990), last_scale_in: None, cooldown_start: Some((700, 2)) })]);
        let d = decide_with(6, &[cpu(50.0)], series(700, 1000, 10.0), &latest);
        assert_eq!(d.desired, 6);
        assert!(d.reason.unwrap().ends_with("held back: scale-in cooldown for 290 s more"));
        // AWS's own example: +2, then within the cooldown a step of +3 adds only 1.
        let steps = Policy {
            name: "cpu".into(),
            kind: PolicyKind::Step(StepScaling {
                alarm: Alarm { metric: MetricKind::Cpu, comparison: Comparison::GreaterThanOrEqualToThreshold, threshold: 70.0, evaluation_periods: 1, period: 60 },
                adjustment_type: AdjustmentType::ChangeInCapacity,
                steps: vec![
                    StepAdjustment { lower: Some(0.0), upper: Some(20.0), scaling_adjustment: 2 },
                    StepAdjustment { lower: Some(20.0), upper: None, scaling_adjustment: 3 },
                ],
                min_adjustment_magnitude: None,
                cooldown: 300,
            }),
        };
        assert_eq!(decide_with(4, std::slice::from_ref(&steps), series(900, 1000, 80.0), &after(Some(2))).desired, 4, "the same step again: held");
        assert_eq!(decide_with(4, &[steps], series(900, 1000, 95.0), &after(Some(2))).desired, 5, "2 + 3");
    }

    #[test]
    fn bounds_move_desired_first_and_scale_in_waits_for_deployments() {
        let (metrics, activity) = (HashMap::new(), HashMap::new());
        let input = |desired, deploying| Input {
            now: 1000,
            desired,
            bounds: Bounds { min: 2, max: 10 },
            suspended: Suspended::default(),
            deploying,
            policies: &[],
            metrics: &metrics,
            activity: &activity,
        };
        assert_eq!(decide(&input(12, false)).desired, 10);
        assert_eq!(decide(&input(0, false)).desired, 2);
        assert_eq!(decide(&input(5, false)).reason, None);
        let low = HashMap::from([(MetricKind::Cpu, series(800, 1000, 10.0))]);
        let policies = [cpu(50.0)];
        let d = decide(&Input { policies: &policies, metrics: &low, ..input(6, true) });
        assert_eq!(d.desired, 6);
        assert!(d.reason.unwrap().ends_with("held back: a deployment is in progress"));
    }

    #[test]
    fn out_wins_over_in_and_in_needs_every_policy() {
        let memory = Policy {
            name: "memory".into(),
            kind: PolicyKind::TargetTracking(TargetTracking { metric: MetricKind::Memory, target: 50.0, scale_out_cooldown: 60, scale_in_cooldown: 60, disable_scale_in: false }),
        };
        let policies = [cpu(50.0), memory];
        let metrics = |cpu: f64, mem: f64| HashMap::from([(MetricKind::Cpu, series(800, 1000, cpu)), (MetricKind::Memory, series(800, 1000, mem))]);
        let run = |m: HashMap<MetricKind, Vec<Sample>>| {
            decide(&Input { now: 1000, desired: 4, bounds: Bounds { min: 1, max: 10 }, suspended: Suspended::default(), deploying: false, policies: &policies, metrics: &m, activity: &HashMap::new() })
        };
        assert_eq!(run(metrics(10.0, 80.0)).desired, 7, "memory asks out: ceil(4 × 80 / 50)");
        assert_eq!(run(metrics(10.0, 48.0)).desired, 4, "memory is near its target: no scale-in");
        assert_eq!(run(metrics(10.0, 20.0)).desired, 2, "both low: the larger of 1 and 2");
    }

    #[test]
    fn step_scaling_follows_its_alarm_and_steps() {
        let step = |kind| Policy {
            name: "steps".into(),
            kind: PolicyKind::Step(StepScaling {
                alarm: Alarm { metric: MetricKind::Cpu, comparison: Comparison::GreaterThanOrEqualToThreshold, threshold: 70.0, evaluation_periods: 2, period: 60 },
                adjustment_type: kind,
                steps: vec![
                    StepAdjustment { lower: Some(0.0), upper: Some(20.0), scaling_adjustment: 1 },
                    StepAdjustment { lower: Some(20.0), upper: None, scaling_adjustment: 50 },
                ],
                min_adjustment_magnitude: Some(2),
                cooldown: 120,
            }),
        };
        let change = step(AdjustmentType::ChangeInCapacity);
        assert_eq!(decide_with(4, std::slice::from_ref(&change), series(880, 1000, 75.0), &HashMap::new()).desired, 5);
        // Only one period in breach: no alarm.
        let mut s = series(880, 1000, 75.0);
        for x in s.iter_mut().filter(|x| x.at <= 940) {
            x.value = 60.0;
        }
        assert_eq!(decide_with(4, std::slice::from_ref(&change), s, &HashMap::new()).desired, 4);
        // 95 is 25 above: +50 % of 4 = 2.
        assert_eq!(decide_with(4, &[step(AdjustmentType::PercentChangeInCapacity)], series(880, 1000, 95.0), &HashMap::new()).desired, 6);
        // 1 % of 4 rounds to one task, raised to the minimum magnitude of 2.
        let mut small = step(AdjustmentType::PercentChangeInCapacity);
        if let PolicyKind::Step(s) = &mut small.kind {
            s.steps[0].scaling_adjustment = 1;
        }
        assert_eq!(decide_with(4, &[small], series(880, 1000, 75.0), &HashMap::new()).desired, 6);
        assert_eq!(decide_with(4, &[step(AdjustmentType::ExactCapacity)], series(880, 1000, 75.0), &HashMap::new()).desired, 2, "exactly 1, raised to min 2");
        // ECS's usual pair: a high-CPU policy out, a low-CPU one in, each on its own alarm.
        let low = Policy {
            name: "low".into(),
            kind: PolicyKind::Step(StepScaling {
                alarm: Alarm { metric: MetricKind::Cpu, comparison: Comparison::LessThanThreshold, threshold: 20.0, evaluation_periods: 2, period: 60 },
                adjustment_type: AdjustmentType::ChangeInCapacity,
                steps: vec![StepAdjustment { lower: None, upper: Some(0.0), scaling_adjustment: -1 }],
                min_adjustment_magnitude: None,
                cooldown: 120,
            }),
        };
        let pair = [change.clone(), low];
        assert_eq!(decide_with(4, &pair, series(880, 1000, 10.0), &HashMap::new()).desired, 3, "the low alarm scales in alone");
        assert_eq!(decide_with(4, &pair, series(880, 1000, 75.0), &HashMap::new()).desired, 5, "the high alarm scales out");
        assert_eq!(decide_with(4, &pair, series(880, 1000, 50.0), &HashMap::new()).desired, 4, "neither alarm: nothing");
    }
}
