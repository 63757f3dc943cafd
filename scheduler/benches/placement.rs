//! Placement throughput on a 10,000-instance snapshot, single-threaded: 100,000 tasks with
//! binpack on memory, and with the default spread (zone, then instance) plus a memberOf
//! constraint. Run: `cargo bench -p wharf-scheduler --bench placement`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use wharf_core::task_definition::PlacementConstraint;
use wharf_scheduler::{Constraint, Demand, Instance, Request, Resource, Snapshot, Strategy};

const INSTANCES: usize = 10_000;
const TASKS: usize = 100_000;

fn cluster() -> Snapshot {
    let zones = ["a", "b", "c"];
    let kinds = ["m5.large", "m5.xlarge", "c5.large", "r5.large"];
    Snapshot::new(
        (0..INSTANCES)
            .map(|i| {
                // Uneven sizes, so binpack has real choices to make.
                Instance::new(format!("i-{i:05}"), 4096 + (i % 7) as i64 * 1024, 16_384 + (i % 5) as i64 * 4096)
                    .with_attribute("ecs.availability-zone", zones[i % zones.len()])
                    .with_attribute("ecs.instance-type", kinds[i % kinds.len()])
            })
            .collect(),
    )
}

fn bench(c: &mut Criterion) {
    let demand = Demand { cpu: 128, memory: 256, group: "service:web".into(), ..Default::default() };
    let mut g = c.benchmark_group("place_100k_on_10k_instances");
    g.sample_size(10);
    g.throughput(Throughput::Elements(TASKS as u64));
    let binpack = [Strategy::Binpack(Resource::Memory)];
    g.bench_function("binpack_memory", |b| {
        b.iter_batched(
            cluster,
            |mut snap| {
                let plan = snap.place(&Request { demand: &demand, count: TASKS, strategies: &binpack, constraints: &[], seed: 1 });
                assert_eq!(plan.placed.len(), TASKS);
            },
            BatchSize::LargeInput,
        )
    });
    let spread = Strategy::list_or_default(&[]);
    let constraints = Constraint::from_ecs(&[PlacementConstraint {
        kind: Some("memberOf".into()),
        expression: Some("attribute:ecs.instance-type =~ m5.* or attribute:ecs.instance-type == c5.large".into()),
    }])
    .expect("the expression parses");
    g.bench_function("spread_zone_instance_member_of", |b| {
        b.iter_batched(
            cluster,
            |mut snap| {
                let plan = snap.place(&Request { demand: &demand, count: TASKS, strategies: &spread, constraints: &constraints, seed: 1 });
                assert_eq!(plan.placed.len(), TASKS);
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
