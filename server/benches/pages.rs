//! Portal pages at scale: one cluster of INSTANCES instances running LIVE tasks of ten
//! services, with STOPPED stopped tasks in its history, rendered by the real router (server
//! side, as a first visit gets them). Prints a Markdown table: p50 and p99 render time over
//! RUNS requests per page, and the size of the HTML.
//!
//!     cargo bench -p wharf-server --bench pages
//!
//! WHARF_BENCH_INSTANCES (1000), WHARF_BENCH_LIVE (100000), WHARF_BENCH_STOPPED (1000000) and
//! WHARF_BENCH_RUNS (100) size it; WHARF_BENCH_DUMP=DIR writes each page's HTML there;
//! WHARF_BENCH_PAGES=diagram,service measures only those pages.

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tower::ServiceExt;
use wharf_server::store::{self, Store};

const SERVICES: usize = 10;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let instances = env("WHARF_BENCH_INSTANCES", 1000);
    let live = env("WHARF_BENCH_LIVE", 100_000);
    let stopped = env("WHARF_BENCH_STOPPED", 1_000_000);
    let runs = env("WHARF_BENCH_RUNS", 100);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_path_buf();
    // WHARF_BENCH_KEEP=1 leaves the database behind for a look at its query plans.
    let _removed_at_exit = if std::env::var("WHARF_BENCH_KEEP").is_ok() {
        eprintln!("database kept: {}", tmp.keep().join("wharf.db").display());
        None
    } else {
        Some(tmp)
    };
    let store = Store::open(None, &dir).await.expect("store");
    let options = wharf_server::leptos_options(&dir.join("site"), "127.0.0.1:0".parse().unwrap());
    let settings = wharf_server::api::AgentSettings { heartbeat: Duration::from_secs(10), credential_rotation: Duration::from_secs(86_400), binary: None };
    let state = wharf_server::state(store.clone(), options, "http://127.0.0.1:3000".into(), settings);
    // Pages are read as an admin, who sees everything (the most the gate lets through).
    let admin = wharf_core::account::Credentials { username: "admin".into(), password: "bench-admin-password".into() };
    state.control.create_account(&admin, true, true).await.expect("first admin");
    let (_, token) = state.control.issue_user_token("admin", None, None, "bench").await.expect("token");
    TOKEN.set(token).expect("one token");
    let router = wharf_server::app(state);
    let began = Instant::now();
    let task = seed(&router, &store, instances, live, stopped).await;
    eprintln!("seeded {instances} instances, {live} live and {stopped} stopped tasks in {:.0} s", began.elapsed().as_secs_f64());

    let pages = [
        ("dashboard", "/".to_string()),
        ("clusters", "/clusters".into()),
        ("cluster", "/clusters/big".into()),
        ("service", "/clusters/big/services/svc-3".into()),
        ("instances", "/clusters/big/instances".into()),
        ("instance", "/clusters/big/instances/i-0007".into()),
        ("task", format!("/clusters/big/tasks/{task}")),
        ("diagram", "/clusters/big/diagram".into()),
        ("task definitions", "/task-definitions".into()),
    ];
    println!("| page ({instances} instances, {live} running tasks, {stopped} stopped) | p50 | p99 | HTML | first (cold) request |");
    println!("|---|---|---|---|---|");
    let only = std::env::var("WHARF_BENCH_PAGES").ok();
    for (name, path) in pages {
        if only.as_deref().is_some_and(|only| !only.split(',').any(|p| p.trim() == name)) {
            continue;
        }
        let mut times = Vec::with_capacity(runs);
        let mut size = 0;
        // One request first, not counted: the first read of a freshly written database pulls its
        // pages into memory, which a running server has done long before.
        let cold = Instant::now();
        get(&router, &path).await;
        let cold = cold.elapsed();
        for _ in 0..runs {
            let t = Instant::now();
            let (status, body) = get(&router, &path).await;
            times.push(t.elapsed());
            assert!(status < 400, "{path}: {status}");
            size = body.len();
            if let Some(dump) = std::env::var_os("WHARF_BENCH_DUMP") {
                let _ = std::fs::write(std::path::Path::new(&dump).join(format!("{}.html", name.replace(' ', "-"))), &body);
            }
        }
        times.sort();
        let p99 = times[((times.len() as f64 * 0.99).ceil() as usize).clamp(1, times.len()) - 1];
        println!("| {name} | {:.1} ms | {:.1} ms | {:.0} KiB | {:.0} ms |", ms(times[times.len() / 2]), ms(p99), size as f64 / 1024.0, ms(cold));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn get(router: &axum::Router, path: &str) -> (u16, Vec<u8>) {
    call(router, Method::GET, path, None).await
}

static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn call(router: &axum::Router, method: Method, path: &str, body: Option<Value>) -> (u16, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {}", TOKEN.get().expect("token")));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    (status, res.into_body().collect().await.unwrap().to_bytes().to_vec())
}

async fn api(router: &axum::Router, method: Method, path: &str, body: Value) -> Value {
    let (status, bytes) = call(router, method, path, Some(body)).await;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(status < 300, "{path}: {status} {v}");
    v
}

/// The cluster through the API (cluster, task definition, services), its instances and tasks
/// written straight into the store (no agents run here). Returns a live task's id.
async fn seed(router: &axum::Router, store: &Store, instances: usize, live: usize, stopped: usize) -> String {
    api(router, Method::POST, "/api/v1/clusters", json!({ "clusterName": "big" })).await;
    let td = json!({ "family": "web", "containerDefinitions": [{ "name": "app", "image": "registry.example.com/web:1.2.3", "cpu": 64, "memory": 64,
        "portMappings": [{ "containerPort": 8080, "hostPort": 0 }] }] });
    api(router, Method::POST, "/api/v1/task-definitions", td).await;
    let mut deployments = Vec::new();
    for s in 0..SERVICES {
        let body = json!({ "serviceName": format!("svc-{s}"), "taskDefinition": "web:1", "desiredCount": live / SERVICES });
        let svc = api(router, Method::POST, "/api/v1/clusters/big/services", body).await;
        deployments.push(svc["service"]["deployments"][0]["id"].as_str().unwrap().to_string());
    }
    let ids: Vec<(String, String)> = {
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query_as("SELECT id, name FROM services WHERE cluster = 'big' ORDER BY name").fetch_all(&mut *conn).await.unwrap()
    };
    let mut w = store.write().await.unwrap();
    let resources = json!([
        { "name": "CPU", "type": "INTEGER", "integerValue": 65536 }, { "name": "MEMORY", "type": "INTEGER", "integerValue": 262144 },
        { "name": "PORTS", "type": "STRINGSET", "stringSetValue": [] }, { "name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": [] }
    ])
    .to_string();
    for i in 0..instances {
        let (id, name) = (format!("i-{i:04}"), format!("host-{i:04}"));
        let zone = ["a", "b", "c"][i % 3];
        let attributes = json!([{ "name": "ecs.availability-zone", "value": zone }, { "name": "ecs.os-type", "value": "linux" }]).to_string();
        let row = store::instances::NewInstance {
            id: &id,
            cluster: "big",
            name: &name,
            resources: &resources,
            attributes: &attributes,
            version_info: r#"{"agentVersion":"0.1.0"}"#,
            credential_hash: "-",
            join_token_id: "-",
        };
        store::instances::insert(w.conn(), &row, &store::now()).await.unwrap();
    }
    let containers = r#"[{"name":"app","image":"registry.example.com/web:1.2.3","lastStatus":"RUNNING","exitCode":null,"healthStatus":"UNKNOWN","networkBindings":[{"containerPort":8080,"hostPort":32768,"protocol":"tcp"}]}]"#;
    let source = |n: usize| match store.backend() {
        store::Backend::Sqlite => format!("(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {n}) SELECT n FROM c) AS s"),
        store::Backend::Postgres => format!("generate_series(1, {n}) AS s(n)"),
    };
    for (s, (service_id, _)) in ids.iter().enumerate() {
        // Services were created in name order, as they are listed here.
        let deployment = &deployments[s];
        let per = live / SERVICES;
        // Stopped first: the history is older than what runs now.
        for (count, status, prefix) in [(stopped / SERVICES, "STOPPED", "0old"), (per, "RUNNING", "1run")] {
            let sql = format!(
                "INSERT INTO tasks (id, cluster, task_definition, container_instance_id, service_id, task_group, started_by, last_status,
                    desired_status, stopped_reason, containers, created_at, started_at, stopped_at, cpu, memory, host_ports)
                 SELECT '{prefix}' || '{s:02}' || substr('0000000' || CAST(n AS TEXT), -8, 8), 'big', 'web:1',
                    'i-' || substr('000' || CAST((n * 7 + {s}) % {instances} AS TEXT), -4, 4), '{service_id}', 'service:svc-{s}', '{deployment}',
                    '{status}', '{desired}', {reason}, $1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', {stopped_at}, 64, 64, '[]'
                 FROM {}",
                source(count),
                desired = if status == "STOPPED" { "STOPPED" } else { "RUNNING" },
                reason = if status == "STOPPED" { "'Scaling activity initiated by deployment'" } else { "NULL" },
                stopped_at = if status == "STOPPED" { "'2026-01-01T00:00:02.000Z'" } else { "NULL" },
            );
            sqlx::query(&sql).bind(containers).execute(w.conn()).await.unwrap();
        }
    }
    w.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    // A history that grew over hours was checkpointed as it grew; one written in a single
    // transaction leaves it all in the WAL, and its checkpoint would land in the timings.
    if store.backend() == store::Backend::Sqlite {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(store.pool()).await.unwrap();
    }
    format!("1run03{:08}", 7)
}
