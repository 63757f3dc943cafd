//! Properties of auto scaling over random metric series and policies, evaluated every 5 s for
//! an hour as the server would, with the count now and then set by hand: desired always ends
//! within the bounds, no policy scales in inside its cooldown, and within a scale-out cooldown
//! scale-outs do not compound: the count lands no further than one scale-out from the count
//! before the one that started it (or fewer, if taken away since) would now.

use proptest::prelude::*;
use std::collections::HashMap;
use wharf_scheduler::scaling::{
    Activity, AdjustmentType, Alarm, Bounds, Comparison, Direction, Input, MetricKind, Policy, PolicyKind, Sample, StepAdjustment, StepScaling,
    Suspended, TargetTracking, decide,
};

fn tracking() -> impl Strategy<Value = PolicyKind> {
    (prop::sample::select(vec![MetricKind::Cpu, MetricKind::Memory]), 5.0..95.0f64, 0..600i64, 0..600i64, any::<bool>()).prop_map(
        |(metric, target, scale_out_cooldown, scale_in_cooldown, disable_scale_in)| {
            PolicyKind::TargetTracking(TargetTracking { metric, target, scale_out_cooldown, scale_in_cooldown, disable_scale_in })
        },
    )
}

fn stepping() -> impl Strategy<Value = PolicyKind> {
    (
        prop::sample::select(vec![Comparison::GreaterThanOrEqualToThreshold, Comparison::LessThanThreshold]),
        0.0..100.0f64,
        1..4u32,
        prop::sample::select(vec![AdjustmentType::ChangeInCapacity, AdjustmentType::PercentChangeInCapacity, AdjustmentType::ExactCapacity]),
        -200..200i64,
        0..600i64,
    )
        .prop_map(|(comparison, threshold, evaluation_periods, adjustment_type, scaling_adjustment, cooldown)| {
            PolicyKind::Step(StepScaling {
                alarm: Alarm { metric: MetricKind::Cpu, comparison, threshold, evaluation_periods, period: 60 },
                adjustment_type,
                steps: vec![StepAdjustment { lower: None, upper: None, scaling_adjustment }],
                min_adjustment_magnitude: Some(2),
                cooldown,
            })
        })
}

/// A series that holds a level for a while, then jumps: bursts, lulls and noise.
fn series() -> impl Strategy<Value = Vec<(u32, f64)>> {
    prop::collection::vec((1..120u32, 0.0..150.0f64), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn desired_stays_within_bounds_and_cooldowns_hold(
        kinds in prop::collection::vec(prop_oneof![tracking(), stepping()], 1..4),
        cpu in series(),
        memory in series(),
        min in 0..6i64,
        span in 0..12i64,
        start in 0..20i64,
        deploying_every in 0..5u32,
        manual in prop::collection::vec((0..720i64, 0..20i64), 0..4),
    ) {
        let bounds = Bounds { min, max: min + span };
        let policies: Vec<Policy> = kinds.into_iter().enumerate().map(|(i, kind)| Policy { name: format!("p{i}"), kind }).collect();
        let level = |steps: &[(u32, f64)], t: i64| {
            let mut at = 0i64;
            for &(len, value) in steps {
                at += i64::from(len) * 5;
                if t < at {
                    return value;
                }
            }
            steps.last().map_or(0.0, |s| s.1)
        };
        let mut metrics: HashMap<MetricKind, Vec<Sample>> = HashMap::new();
        let mut activity: HashMap<String, Activity> = HashMap::new();
        let mut desired = start;
        let mut first = true;
        for now in (0..3600).step_by(5) {
            metrics.entry(MetricKind::Cpu).or_default().push(Sample { at: now, value: level(&cpu, now) });
            metrics.entry(MetricKind::Memory).or_default().push(Sample { at: now, value: level(&memory, now) });
            let deploying = deploying_every > 0 && (now / 300) % i64::from(deploying_every) == 0;
            // Someone sets the count by hand (kept within the bounds, as the server keeps it).
            if let Some(&(_, count)) = manual.iter().find(|(k, _)| k * 5 == now) {
                desired = count.clamp(bounds.min, bounds.max);
                first = false;
            }
            let d = decide(&Input { now, desired, bounds, suspended: Suspended::default(), deploying, policies: &policies, metrics: &metrics, activity: &activity });
            prop_assert!(d.desired >= bounds.min && d.desired <= bounds.max, "desired {} outside {:?} at {now}", d.desired, bounds);
            if d.desired != desired {
                match (&d.policy, d.direction) {
                    (Some(name), Some(direction)) => {
                        let policy = policies.iter().find(|p| &p.name == name).expect("a known policy");
                        let (out_cooldown, in_cooldown) = match &policy.kind {
                            PolicyKind::TargetTracking(t) => (t.scale_out_cooldown, t.scale_in_cooldown),
                            PolicyKind::Step(s) => (s.cooldown, s.cooldown),
                        };
                        let a = activity.entry(name.clone()).or_default();
                        match direction {
                            Direction::Out => {
                                prop_assert!(d.desired > desired);
                                let within = a.cooldown_start.is_some_and(|(t, _)| now < t + out_cooldown);
                                prop_assert_eq!(d.counted_from.is_some(), within, "counted from an earlier count only within a cooldown");
                                if within {
                                    // What one scale-out from the count before the last would set now.
                                    // (Or from what there is, if fewer: tasks taken away since no longer count.)
                                    let (started, base) = a.cooldown_start.expect("a scale-out records its count");
                                    let from = base.min(desired);
                                    prop_assert_eq!(d.counted_from, Some(from));
                                    let alone = std::slice::from_ref(policy);
                                    let none = HashMap::new();
                                    let once = decide(&Input { now, desired: from, bounds, suspended: Suspended::default(), deploying: false, policies: alone, metrics: &metrics, activity: &none });
                                    prop_assert!(d.desired <= once.desired, "{name} compounded within its cooldown at {now}: {desired} → {}, one scale-out from {from} sets {}", d.desired, once.desired);
                                    // The cooldown stands; the count it counts from is kept.
                                    a.cooldown_start = Some((started, from));
                                } else {
                                    a.cooldown_start = Some((now, desired));
                                }
                                a.last_scale_out = Some(now);
                            }
                            Direction::In => {
                                prop_assert!(d.desired < desired);
                                prop_assert!(!deploying, "scaled in during a deployment");
                                let last = a.last_scale_out.max(a.last_scale_in);
                                prop_assert!(last.is_none_or(|t| now >= t + in_cooldown), "{name} scaled in at {now} inside its cooldown: {a:?}");
                                a.last_scale_in = Some(now);
                            }
                        }
                    }
                    // Only the bounds move it without a policy: once, at the start.
                    (None, _) => prop_assert!(first && (start < bounds.min || start > bounds.max), "moved by no policy at {now}: {d:?}"),
                    (Some(_), None) => prop_assert!(false, "a move without a direction: {d:?}"),
                }
                desired = d.desired;
            }
            first = false;
            prop_assert!(d.reason.is_some() || d.desired == desired);
        }
    }
}
