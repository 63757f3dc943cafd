//! Properties of placement over random clusters, each checked against a brute-force scan of
//! every instance (the obvious, slow way the index must agree with).

use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use std::collections::HashMap;
use wharf_core::task_definition::PlacementConstraint;
use wharf_scheduler::place::random_score;
use wharf_scheduler::{Constraint, Demand, HostPort, Instance, InstanceStatus, Request, Resource, Snapshot, Strategy};

const ZONES: [&str; 3] = ["a", "b", "c"];
const KINDS: [&str; 3] = ["small", "large", "gpu"];
const GROUP: &str = "service:web";

fn instance() -> impl proptest::strategy::Strategy<Value = (i64, i64, usize, Option<usize>, u8, bool, Vec<u16>, u32)> {
    (0..8i64, 0..8i64, 0..3usize, proptest::option::of(0..3usize), 0..10u8, proptest::bool::weighted(0.9), proptest::collection::vec(prop::sample::select(vec![80u16, 443, 8080]), 0..2), 0..3u32)
}

fn cluster() -> impl proptest::strategy::Strategy<Value = Snapshot> {
    proptest::collection::vec(instance(), 0..30).prop_map(|list| {
        Snapshot::new(
            list.into_iter()
                .enumerate()
                .map(|(i, (cpu, mem, zone, kind, status, connected, ports, group))| {
                    let mut inst = Instance::new(format!("i-{i:03}"), cpu * 256, mem * 512).with_attribute("ecs.availability-zone", ZONES[zone]);
                    if let Some(k) = kind {
                        inst = inst.with_attribute("kind", KINDS[k]);
                    }
                    inst.status = match status {
                        0 => InstanceStatus::Draining,
                        1 => InstanceStatus::Inactive,
                        _ => InstanceStatus::Active,
                    };
                    inst.connected = connected;
                    inst.ports = ports.into_iter().map(|port| HostPort { udp: false, port }).collect();
                    if group > 0 {
                        inst.groups.insert(GROUP.into(), group);
                        inst.tasks = u64::from(group);
                    }
                    inst
                })
                .collect(),
        )
    })
}

fn demand() -> impl proptest::strategy::Strategy<Value = Demand> {
    let requires = proptest::option::of((prop::sample::select(vec!["kind", "ecs.availability-zone"]), proptest::option::of(prop::sample::select(vec!["gpu", "a"]))));
    (0..4i64, 0..4i64, proptest::option::of(prop::sample::select(vec![80u16, 8080])), requires).prop_map(|(cpu, mem, port, requires)| Demand {
        cpu: cpu * 128,
        memory: mem * 256,
        ports: port.into_iter().map(|port| HostPort { udp: false, port }).collect(),
        group: GROUP.into(),
        requires_attributes: requires.into_iter().map(|(name, value)| (name.to_string(), value.map(str::to_string))).collect(),
    })
}

fn strategies() -> impl proptest::strategy::Strategy<Value = Vec<Strategy>> {
    let one = prop::sample::select(vec![
        Strategy::Binpack(Resource::Cpu),
        Strategy::Binpack(Resource::Memory),
        Strategy::SpreadInstance,
        Strategy::SpreadAttribute("ecs.availability-zone".into()),
        Strategy::SpreadAttribute("kind".into()),
        Strategy::Random,
    ]);
    proptest::collection::vec(one, 0..4)
}

/// A memberOf expression over attributes and task counts, with its meaning written out
/// independently of the parser and evaluator under test.
#[derive(Debug, Clone)]
enum Cond {
    Zone(Vec<&'static str>, bool),
    Kind(&'static str, bool),
    KindExists(bool),
    TasksBelow(u64),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    fn text(&self) -> String {
        match self {
            Cond::Zone(zs, neg) => format!("attribute:ecs.availability-zone {} [{}]", if *neg { "not_in" } else { "in" }, zs.join(", ")),
            Cond::Kind(k, neg) => format!("attribute:kind {} {k}", if *neg { "!=" } else { "==" }),
            Cond::KindExists(neg) => format!("attribute:kind {}", if *neg { "!exists" } else { "exists" }),
            Cond::TasksBelow(n) => format!("runningTasksCount < {n}"),
            Cond::And(a, b) => format!("({}) and ({})", a.text(), b.text()),
            Cond::Or(a, b) => format!("({}) or ({})", a.text(), b.text()),
            Cond::Not(a) => format!("not ({})", a.text()),
        }
    }

    fn holds(&self, inst: &Instance) -> bool {
        let kind = inst.attributes.get("kind").map(String::as_str);
        match self {
            Cond::Zone(zs, neg) => zs.contains(&inst.attributes["ecs.availability-zone"].as_str()) != *neg,
            Cond::Kind(k, neg) => (kind == Some(*k)) != *neg,
            Cond::KindExists(neg) => kind.is_some() != *neg,
            Cond::TasksBelow(n) => inst.tasks < *n,
            Cond::And(a, b) => a.holds(inst) && b.holds(inst),
            Cond::Or(a, b) => a.holds(inst) || b.holds(inst),
            Cond::Not(a) => !a.holds(inst),
        }
    }
}

fn cond() -> impl proptest::strategy::Strategy<Value = Cond> {
    let leaf = prop_oneof![
        (proptest::sample::subsequence(ZONES.to_vec(), 1..3), any::<bool>()).prop_map(|(z, n)| Cond::Zone(z, n)),
        (prop::sample::select(KINDS.to_vec()), any::<bool>()).prop_map(|(k, n)| Cond::Kind(k, n)),
        any::<bool>().prop_map(Cond::KindExists),
        (1..6u64).prop_map(Cond::TasksBelow),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Cond::Not(Box::new(a))),
        ]
    })
}

fn member_of(c: &Cond) -> Constraint {
    let list = [PlacementConstraint { kind: Some("memberOf".into()), expression: Some(c.text()) }];
    Constraint::from_ecs(&list).expect("generated expressions parse").remove(0)
}

/// Whether a task fits, written from the rules rather than with the scheduler's filters, so
/// a bug in a filter shows: an ACTIVE instance with its agent connected, the required
/// attributes (with their value when one is given), the memberOf condition's meaning, one task
/// of the group per instance under distinctInstance, the CPU and memory, and free host ports.
fn fits(inst: &Instance, demand: &Demand, distinct: bool, cond: Option<&Cond>) -> bool {
    let attributes_ok = demand.requires_attributes.iter().all(|(name, value)| match (inst.attributes.get(name), value) {
        (Some(have), Some(want)) => have == want,
        (Some(_), None) => true,
        (None, _) => false,
    });
    inst.status == InstanceStatus::Active
        && inst.connected
        && attributes_ok
        && cond.is_none_or(|c| c.holds(inst))
        && !(distinct && inst.groups.get(GROUP).copied().unwrap_or(0) > 0)
        && inst.cpu >= demand.cpu
        && inst.memory >= demand.memory
        && demand.ports.iter().all(|p| !inst.ports.contains(p))
}

/// The reference's own bookkeeping of a placed task.
fn book(inst: &mut Instance, demand: &Demand) {
    inst.cpu -= demand.cpu;
    inst.memory -= demand.memory;
    inst.ports.extend(demand.ports.iter().copied());
    inst.tasks += 1;
    *inst.groups.entry(demand.group.clone()).or_default() += 1;
}

/// The brute-force pick: score every instance that fits by the strategies in order (attribute
/// spreads count the group's tasks over the whole cluster) and take the smallest, first
/// position on ties.
fn brute_force_pick(snap: &Snapshot, demand: &Demand, strategies: &[Strategy], distinct: bool, cond: Option<&Cond>, seed: u64) -> Option<usize> {
    let per_value = |attr: &str| {
        let mut m: HashMap<Option<String>, i64> = HashMap::new();
        for inst in &snap.instances {
            *m.entry(inst.attributes.get(attr).cloned()).or_default() += i64::from(inst.groups.get(&demand.group).copied().unwrap_or(0));
        }
        m
    };
    let counts: Vec<Option<HashMap<Option<String>, i64>>> =
        strategies.iter().map(|s| if let Strategy::SpreadAttribute(a) = s { Some(per_value(a)) } else { None }).collect();
    (0..snap.instances.len())
        .filter(|&i| fits(&snap.instances[i], demand, distinct, cond))
        .min_by_key(|&i| {
            let inst = &snap.instances[i];
            let rank: Vec<i64> = strategies
                .iter()
                .zip(&counts)
                .map(|(s, c)| match s {
                    Strategy::Binpack(Resource::Cpu) => inst.cpu,
                    Strategy::Binpack(Resource::Memory) => inst.memory,
                    Strategy::SpreadInstance => i64::from(inst.groups.get(&demand.group).copied().unwrap_or(0)),
                    Strategy::SpreadAttribute(a) => c.as_ref().unwrap()[&inst.attributes.get(a).cloned()],
                    Strategy::Random => random_score(seed, i, inst.tasks),
                })
                .collect();
            (rank, i)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Every pick equals the brute-force pick, nothing is over-committed, and a request stops
    /// short only when no instance can take another task.
    #[test]
    fn picks_are_exact_and_never_overcommit(
        snap in cluster(), demand in demand(), strategies in strategies(),
        distinct in any::<bool>(), expr in proptest::option::of(cond()), count in 0..40usize, seed in any::<u64>(),
    ) {
        let mut constraints = Vec::new();
        if distinct { constraints.push(Constraint::DistinctInstance); }
        if let Some(c) = &expr { constraints.push(member_of(c)); }
        let before = snap.clone();
        let mut reference = snap.clone();
        let mut actual = snap;
        let plan = actual.place(&Request { demand: &demand, count, strategies: &strategies, constraints: &constraints, seed });
        for &i in &plan.placed {
            let want = brute_force_pick(&reference, &demand, &strategies, distinct, expr.as_ref(), seed);
            prop_assert_eq!(Some(i), want, "pick differs from the brute-force pick");
            book(&mut reference.instances[i], &demand);
        }
        if plan.placed.len() < count {
            prop_assert_eq!(brute_force_pick(&reference, &demand, &strategies, distinct, expr.as_ref(), seed), None);
            prop_assert!(plan.explanation.is_some());
        } else {
            prop_assert!(plan.explanation.is_none());
        }
        let mut per_instance: HashMap<usize, i64> = HashMap::new();
        for &i in &plan.placed { *per_instance.entry(i).or_default() += 1; }
        for (&i, &n) in &per_instance {
            let (was, now) = (&before.instances[i], &actual.instances[i]);
            prop_assert!(now.cpu >= 0 && now.memory >= 0, "{} over-committed", now.id);
            prop_assert_eq!(was.cpu - now.cpu, n * demand.cpu);
            if !demand.ports.is_empty() { prop_assert_eq!(n, 1, "a static host port used twice on {}", &now.id); }
            if distinct { prop_assert!(n == 1 && was.group_count(GROUP) == 0, "distinctInstance violated on {}", &now.id); }
        }
    }

    /// memberOf as parsed and evaluated agrees with the expression's meaning on every instance.
    #[test]
    fn member_of_matches_its_meaning(snap in cluster(), c in cond()) {
        let Constraint::MemberOf { expr, .. } = member_of(&c) else { unreachable!() };
        for inst in &snap.instances {
            prop_assert_eq!(expr.matches(inst), c.holds(inst), "{} on {:?}", c.text(), inst.attributes);
        }
    }

    /// The same seed gives the same plan.
    #[test]
    fn same_seed_same_plan(snap in cluster(), demand in demand(), strategies in strategies(), seed in any::<u64>()) {
        let run = |mut s: Snapshot| s.place(&Request { demand: &demand, count: 25, strategies: &strategies, constraints: &[], seed }).placed;
        prop_assert_eq!(run(snap.clone()), run(snap));
    }

    /// The default spread keeps zones within one task of each other while every instance has
    /// room, and hosts too where the zones are the same size.
    #[test]
    fn spread_balances(n in 1..25usize, zones in 1..4usize, count in 0..120usize) {
        let mut snap = Snapshot::new((0..n).map(|i| Instance::new(format!("i-{i}"), 1 << 20, 1 << 20).with_attribute("ecs.availability-zone", ZONES[i % zones])).collect());
        let demand = Demand { cpu: 1, memory: 1, group: GROUP.into(), ..Default::default() };
        let strategies = Strategy::list_or_default(&[]);
        let plan = snap.place(&Request { demand: &demand, count, strategies: &strategies, constraints: &[], seed: 7 });
        prop_assert_eq!(plan.placed.len(), count);
        let per_instance: Vec<u32> = snap.instances.iter().map(|i| i.group_count(GROUP)).collect();
        if n % zones == 0 {
            // Zones of equal size: the instance tie-break balances hosts too.
            prop_assert!(per_instance.iter().max().unwrap() - per_instance.iter().min().unwrap() <= 1, "{:?}", per_instance);
        }
        let mut per_zone: HashMap<&str, u32> = HashMap::new();
        for i in &snap.instances { *per_zone.entry(i.attributes["ecs.availability-zone"].as_str()).or_default() += i.group_count(GROUP); }
        let (lo, hi) = (per_zone.values().min().unwrap(), per_zone.values().max().unwrap());
        prop_assert!(hi - lo <= 1, "{:?}", per_zone);
    }
}
