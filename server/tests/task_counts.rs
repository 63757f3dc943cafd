//! The live-task counts the store keeps (by triggers) always equal the counts of the tasks
//! themselves, whatever inserts, status changes and deletes happened, on both databases.

mod common;

use common::Harness;
use serde_json::json;
use sqlx::Row;
use std::collections::BTreeMap;
use wharf_server::store::{self, tasks};

type Counts = BTreeMap<String, i64>;

/// What the kept counts say, and what adding up the tasks says, by the same keys.
async fn both(h: &Harness) -> (Counts, Counts) {
    let mut conn = h.store.pool().acquire().await.unwrap();
    let mut kept = Counts::new();
    let mut truth = Counts::new();
    for (table, key, from) in [
        ("task_counts_by_cluster", "cluster || '/' || last_status", "cluster || '/' || last_status"),
        (
            "task_counts_by_instance",
            "cluster || '/' || container_instance_id || '/' || service_id || '/' || task_group || '/' || last_status",
            "cluster || '/' || COALESCE(container_instance_id, '') || '/' || COALESCE(service_id, '') || '/' || COALESCE(task_group, '') || '/' || last_status",
        ),
        ("task_counts_by_deployment", "service_id || '/' || started_by || '/' || last_status", "service_id || '/' || COALESCE(started_by, '') || '/' || last_status"),
    ] {
        for row in sqlx::query(&format!("SELECT {key} AS k, n FROM {table} WHERE n <> 0")).fetch_all(&mut *conn).await.unwrap() {
            kept.insert(format!("{table}:{}", row.get::<String, _>("k")), row.get("n"));
        }
        let only_services = if table == "task_counts_by_deployment" { "AND service_id IS NOT NULL" } else { "" };
        let sql = format!("SELECT {from} AS k, COUNT(*) AS n FROM tasks WHERE last_status <> 'STOPPED' {only_services} GROUP BY 1");
        for row in sqlx::query(&sql).fetch_all(&mut *conn).await.unwrap() {
            truth.insert(format!("{table}:{}", row.get::<String, _>("k")), row.get("n"));
        }
    }
    (kept, truth)
}

async fn kept_counts_follow_every_change(h: Harness) {
    h.post("/api/v1/clusters", json!({ "clusterName": "c1" })).await;
    let (status, body) = h.post("/api/v1/clusters", json!({ "clusterName": "c2" })).await;
    assert!(status.is_success(), "{body}");
    let mut w = h.store.write().await.unwrap();
    for n in 0..4 {
        let (id, name) = (format!("i-{n}"), format!("host-{n}"));
        let row = store::instances::NewInstance {
            id: &id,
            cluster: if n == 0 { "c2" } else { "c1" },
            name: &name,
            resources: r#"[{"name":"CPU","type":"INTEGER","integerValue":4096},{"name":"MEMORY","type":"INTEGER","integerValue":8192}]"#,
            attributes: "[]",
            version_info: "{}",
            credential_hash: "-",
            join_token_id: "-",
        };
        store::instances::insert(w.conn(), &row, &store::now()).await.unwrap();
    }
    let rows: Vec<tasks::NewTask> = (0..60)
        .map(|n| tasks::NewTask {
            id: format!("t{n:03}"),
            cluster: if n % 3 == 0 { "c2".into() } else { "c1".into() },
            task_definition: "web:1".into(),
            // Tasks of c2 on its instance i-0, of c1 on i-1 to i-3.
            container_instance_id: if n % 3 == 0 { "i-0".into() } else { format!("i-{}", 1 + n % 3) },
            group: (n % 5 != 0).then(|| "service:web".into()),
            started_by: (n % 2 == 0).then(|| format!("d-{}", n % 3)),
            service_id: (n % 5 != 0).then(|| "s1".into()),
            containers: "[]".into(),
            cpu: 64,
            memory: 128,
            host_ports: "[]".into(),
        })
        .collect();
    tasks::insert(w.conn(), &rows, &store::now()).await.unwrap();
    w.commit().await.unwrap();
    let (kept, truth) = both(&h).await;
    assert_eq!(kept, truth, "after inserts");
    assert!(!kept.is_empty());

    // Status changes (to RUNNING, back to the same, to STOPPED), in many rows at once and one
    // by one, then deletes of live and stopped tasks.
    let steps = [
        "UPDATE tasks SET last_status = 'RUNNING' WHERE id < 't030'",
        "UPDATE tasks SET last_status = 'RUNNING' WHERE id < 't010'",
        "UPDATE tasks SET last_status = 'STOPPED', desired_status = 'STOPPED' WHERE id >= 't020' AND id < 't040'",
        "UPDATE tasks SET last_status = 'PENDING' WHERE id = 't001'",
        "DELETE FROM tasks WHERE id IN ('t002', 't025', 't050')",
        "UPDATE tasks SET last_status = 'RUNNING' WHERE id = 't021'",
        "DELETE FROM tasks WHERE cluster = 'c2'",
    ];
    for step in steps {
        sqlx::query(step).execute(h.store.pool()).await.unwrap();
        let (kept, truth) = both(&h).await;
        assert_eq!(kept, truth, "after {step}");
    }
    // Failures are told by their reasons' exact words on both databases: a reason a user typed
    // in other case is not one (SQLite's LIKE ignores case unless told otherwise).
    for (id, reason) in [("t020", "Essential container in task exited"), ("t022", "essential container in task exited, by hand")] {
        sqlx::query("UPDATE tasks SET stopped_reason = $1 WHERE id = $2").bind(reason).bind(id).execute(h.store.pool()).await.unwrap();
    }
    let mut conn = h.store.pool().acquire().await.unwrap();
    let failed: Vec<String> = tasks::recent_failures(&mut conn, "c1", 10).await.unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(failed, ["t020"]);
    let running: i64 = sqlx::query("SELECT COUNT(*) FROM tasks WHERE cluster = 'c1' AND last_status = 'RUNNING'")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    drop(conn);
    let (_, cluster) = h.get("/api/v1/clusters/c1").await;
    assert_eq!(cluster["cluster"]["runningTasksCount"], running, "{cluster}");

    // The dashboard's totals (from the kept counts) are the diagram's (from the instances).
    use wharf_app::backend::Backend;
    let control = wharf_server::control::Control::new(h.store.clone(), Default::default(), "http://x".into());
    let summary = control.cluster_summary("c1").await.unwrap();
    let pictured = control.topology("c1", wharf_core::topology::Detail::Tasks).await.unwrap().summary;
    assert_eq!(summary, pictured, "instances, capacity and task counts alike");
    assert_eq!((summary.instances, summary.cpu.registered), (3, 3 * 4096));
    assert_eq!(summary.tasks_running, running);

    // A first screen's read: the instances picked, with their own counts, and the whole
    // cluster's totals.
    let full = control.topology("c1", wharf_core::topology::Detail::Instances).await.unwrap();
    let some = control.topology_of_some("c1", wharf_core::topology::Detail::Instances, &|t| vec![t.instances.len() - 1]).await.unwrap();
    assert!(some.partial && !full.partial);
    assert_eq!(some.instances, full.instances[full.instances.len() - 1..]);
    assert_eq!(some.summary, full.summary);
    assert_eq!(some.services, full.services);
}

on_both_backends!(kept_counts_follow_every_change);
