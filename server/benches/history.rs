//! What history costs a read of live tasks: the same cluster (INSTANCES instances, LIVE live
//! tasks) read with no stopped tasks behind it, then with STOPPED stopped tasks (1,000,000 by
//! default), on SQLite and, when WHARF_TEST_POSTGRES_URL names a server, on PostgreSQL.
//! Prints a Markdown table: median and p99 of each read, and the ratio after/before.
//!
//!     cargo bench -p wharf-server --bench history
//!
//! WHARF_BENCH_STOPPED, WHARF_BENCH_LIVE and WHARF_BENCH_RUNS size it.

use std::time::{Duration, Instant};
use wharf_server::store::{self, Store, scheduling, tasks};

const INSTANCES: usize = 100;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let stopped = env("WHARF_BENCH_STOPPED", 1_000_000);
    let live = env("WHARF_BENCH_LIVE", 10_000);
    let runs = env("WHARF_BENCH_RUNS", 20);
    println!("| backend | read | empty history (median / p99) | after {stopped} stopped (median / p99) | ratio of medians |");
    println!("|---|---|---|---|---|");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Store::open(None, dir.path()).await.expect("SQLite store");
    measure("SQLite", &sqlite, stopped, live, runs).await;
    if let Ok(url) = std::env::var("WHARF_TEST_POSTGRES_URL") {
        let db = fresh_postgres(&url).await;
        let pg = Store::open(Some(&db), dir.path()).await.expect("PostgreSQL store");
        measure("PostgreSQL", &pg, stopped, live, runs).await;
    }
}

async fn fresh_postgres(admin: &str) -> String {
    use sqlx::Connection;
    let name = format!("wharf_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("PostgreSQL reachable");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
    format!("{}/{name}", admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin))
}

async fn measure(backend: &str, store: &Store, stopped: usize, live: usize, runs: usize) {
    seed_live(store, live).await;
    let before = reads(store, runs).await;
    seed_stopped(store, stopped).await;
    let after = reads(store, runs).await;
    for ((name, b), (_, a)) in before.iter().zip(&after) {
        let (bm, bp) = stats(b);
        let (am, ap) = stats(a);
        println!(
            "| {backend} | {name} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} |",
            ms(bm),
            ms(bp),
            ms(am),
            ms(ap),
            am.as_secs_f64() / bm.as_secs_f64().max(1e-9)
        );
    }
}

/// The reads the scheduler, the instance pages and the diagram make of live tasks.
async fn reads(store: &Store, runs: usize) -> Vec<(&'static str, Vec<Duration>)> {
    let mut out: Vec<(&'static str, Vec<Duration>)> =
        vec![("live tasks of the cluster", vec![]), ("reservations of every instance", vec![]), ("live tasks of one instance", vec![]), ("tallies (diagram)", vec![])];
    let mut conn = store.pool().acquire().await.expect("connection");
    for _ in 0..runs {
        let t = Instant::now();
        let n = scheduling::live_tasks(&mut conn, "bench").await.expect("live tasks").len();
        out[0].1.push(t.elapsed());
        assert!(n > 0);
        let t = Instant::now();
        let ids: Vec<String> = (0..INSTANCES).map(|n| format!("i-{n}")).collect();
        tasks::reservations(&mut conn, "bench", &ids).await.expect("reservations");
        out[1].1.push(t.elapsed());
        let t = Instant::now();
        tasks::live_on_instance(&mut conn, "i-7").await.expect("instance tasks");
        out[2].1.push(t.elapsed());
        let t = Instant::now();
        scheduling::live_task_tallies(&mut conn, "bench").await.expect("tallies");
        out[3].1.push(t.elapsed());
    }
    out
}

async fn seed_live(store: &Store, live: usize) {
    let mut w = store.write().await.expect("write");
    store::clusters::insert(w.conn(), "bench", "[]", r#"{"level":"restricted"}"#, "[]", &store::now()).await.expect("cluster");
    let rows: Vec<tasks::NewTask> = (0..live)
        .map(|n| tasks::NewTask {
            id: uuid::Uuid::now_v7().simple().to_string(),
            cluster: "bench".into(),
            task_definition: "bench:1".into(),
            container_instance_id: format!("i-{}", n % INSTANCES),
            group: Some("service:bench".into()),
            started_by: None,
            service_id: None,
            containers: "[]".into(),
            cpu: 128,
            memory: 256,
            host_ports: "[]".into(),
        })
        .collect();
    tasks::insert(w.conn(), &rows, &store::now()).await.expect("live tasks");
    w.commit().await.expect("commit");
}

/// Stopped tasks spread over the same instances, written by the database itself.
async fn seed_stopped(store: &Store, stopped: usize) {
    let began = Instant::now();
    let mut w = store.write().await.expect("write");
    let source = match store.backend() {
        store::Backend::Sqlite => "(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < $1) SELECT n FROM c) AS s",
        store::Backend::Postgres => "generate_series(1, $1) AS s(n)",
    };
    let sql = format!(
        "INSERT INTO tasks (id, cluster, task_definition, container_instance_id, task_group, last_status, desired_status,
            stopped_reason, containers, created_at, stopped_at, cpu, memory, host_ports)
         SELECT 'old-' || CAST(n AS TEXT), 'bench', 'bench:1', 'i-' || CAST(n % {INSTANCES} AS TEXT), 'service:bench', 'STOPPED', 'STOPPED',
            'Scaling activity initiated by deployment', '[]', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', 128, 256, '[]'
         FROM {source}"
    );
    sqlx::query(&sql).bind(stopped as i64).execute(w.conn()).await.expect("stopped tasks");
    w.commit().await.expect("commit");
    if store.backend() == store::Backend::Postgres {
        sqlx::query("ANALYZE tasks").execute(store.pool()).await.expect("analyze");
    } else {
        sqlx::query("ANALYZE").execute(store.pool()).await.expect("analyze");
    }
    eprintln!("{} stopped tasks written in {:.1} s", stopped, began.elapsed().as_secs_f64());
}

fn stats(samples: &[Duration]) -> (Duration, Duration) {
    let mut s = samples.to_vec();
    s.sort();
    let p99 = s[((s.len() as f64 * 0.99).ceil() as usize).clamp(1, s.len()) - 1];
    (s[s.len() / 2], p99)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
