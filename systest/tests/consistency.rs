//! Nothing lost, nothing doubled: the real `wharf-server` and `wharf-agent simulate`, driven
//! the way a busy team drives them (force-deletes, concurrent clients, retries, a second
//! server on the same data), with what the store says checked against what must hold.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use wharf_systest::{Agent, Server, eventually, on_both_backends, unique};

const WAIT: Duration = Duration::from_secs(60);

async fn fleet(server: &Server, cluster: &str, count: usize, extra: &[&str]) -> Agent {
    let token = server.cluster_with_token(cluster).await;
    let count = count.to_string();
    // The connection flags after the subcommand: they are global.
    let mut args = vec!["simulate", "--count", &count, "--server", &server.url, "--cluster", cluster, "--token", &token];
    args.extend_from_slice(extra);
    let agent = Agent::start(&args);
    server.connected(cluster, count.parse().unwrap()).await;
    agent
}

/// Every task of the cluster, all pages.
async fn all_tasks(server: &Server, cluster: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = String::new();
    loop {
        let page = server.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks?maxResults=100&nextToken={next}"), None).await;
        out.extend(page["tasks"].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(t) => next = t.to_string(),
            None => return out,
        }
    }
}

fn instance_of(task: &Value) -> String {
    task["containerInstanceArn"].as_str().and_then(|a| a.rsplit('/').next()).unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_force_deleted_service_stops_its_tasks_and_goes_inactive() {
    // A 10 s heartbeat: the agents' digests (every third heartbeat) would stop the tasks too,
    // but only after 30 s; the stop must come from the delete itself.
    let server = Server::start(10).await;
    let cluster = unique("fdel");
    let _agents = fleet(&server, &cluster, 2, &[]).await;
    let td = server.register(json!({ "family": "doomed", "containerDefinitions": [{ "name": "a", "image": "x", "memory": 64 }] })).await;
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(json!({ "serviceName": "doomed", "taskDefinition": td, "desiredCount": 4 }))).await;
    eventually("4 RUNNING", WAIT, || async {
        let s = server.ok("GET", &format!("/api/v1/clusters/{cluster}/services/doomed"), None).await;
        (s["service"]["runningCount"] == 4).then_some(())
    })
    .await;
    let (status, refused) = server.call("DELETE", &format!("/api/v1/clusters/{cluster}/services/doomed"), None).await;
    assert_eq!(status, 409, "a REPLICA service with tasks needs force: {refused}");
    let deleted = server.ok("DELETE", &format!("/api/v1/clusters/{cluster}/services/doomed?force=true"), None).await;
    assert_eq!(deleted["service"]["status"], "DRAINING");
    // The agents are told at once, stop them, and the service ends INACTIVE.
    let stopped = eventually("every task STOPPED within 10 s", Duration::from_secs(10), || async {
        let tasks = all_tasks(&server, &cluster).await;
        (tasks.len() == 4 && tasks.iter().all(|t| t["lastStatus"] == "STOPPED")).then_some(tasks)
    })
    .await;
    assert!(stopped.iter().all(|t| t["stoppedReason"] == "Service deleted"), "{stopped:#?}");
    eventually("the service INACTIVE", WAIT, || async {
        let (status, s) = server.call("GET", &format!("/api/v1/clusters/{cluster}/services/doomed"), None).await;
        (status == 200 && s["service"]["status"] == "INACTIVE").then_some(())
    })
    .await;
}

/// Many clients book at once (RunTask, StartTask naming instances, a service scaling up):
/// no instance ever holds more than it offers, and a fixed host port is held once per host.
async fn concurrent_clients_never_over_commit_an_instance(db: Option<String>) {
    let server = Server::start_on(db.as_deref(), 2, &[]).await;
    let cluster = unique("race");
    // 4 instances of 1024 CPU units and 1024 MiB each.
    let _agents = fleet(&server, &cluster, 4, &["--sim-cpu", "1024", "--sim-memory", "1024"]).await;
    let ids: Vec<String> = server.instances(&cluster).await.iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
    let port = server
        .register(json!({ "family": "port", "containerDefinitions": [{ "name": "a", "image": "x", "memory": 100,
            "portMappings": [{ "containerPort": 80, "hostPort": 8080 }] }] }))
        .await;
    let fat = server.register(json!({ "family": "fat", "containerDefinitions": [{ "name": "a", "image": "x", "memory": 300, "cpu": 256 }] })).await;
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(json!({ "serviceName": "fat", "taskDefinition": fat, "desiredCount": 12 }))).await;
    let mut clients = Vec::new();
    for n in 0..24 {
        let (server, cluster, ids, port, fat) = (&server, cluster.clone(), ids.clone(), port.clone(), fat.clone());
        clients.push(async move {
            if n % 2 == 0 {
                let named: Vec<&String> = (0..5).map(|k| &ids[(n + k) % ids.len()]).collect();
                server.call("POST", &format!("/api/v1/clusters/{cluster}/tasks/start"), Some(json!({ "taskDefinition": port, "containerInstances": named }))).await
            } else {
                server.call("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({ "taskDefinition": fat, "count": 3 }))).await
            }
        });
    }
    for (status, body) in futures_util::future::join_all(clients).await {
        assert_eq!(status, 200, "{body}");
    }
    // The service's passes run on against what the clients booked: the hosts are checked
    // again and again over a few passes, not once.
    let mut placed = 0;
    for _ in 0..10 {
        let (by_service, ports) = check_bookings(&server, &cluster).await;
        placed = by_service;
        assert_eq!(ports, 4, "every host got its one port task");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The passes did run: the service placed tasks, or said why it could not (the clients'
    // RunTasks may have taken every slot first).
    if placed == 0 {
        let service = server.ok("GET", &format!("/api/v1/clusters/{cluster}/services/fat"), None).await;
        assert!(service.to_string().contains("unable to place"), "the service neither placed a task nor said why: {service:#}");
    }
}

/// Checks that no instance of `cluster` is over-committed (four hosts of 1,024 CPU units and
/// MiB; `port` tasks hold 100 MiB and host port 8080, `fat` ones 300 MiB and 256 units), by
/// the tasks and by the store's remaining resources. Returns the service's live tasks and the
/// number of hosts holding port 8080.
async fn check_bookings(server: &Server, cluster: &str) -> (usize, usize) {
    let tasks = all_tasks(server, cluster).await;
    let mut memory: HashMap<String, i64> = HashMap::new();
    let mut cpu: HashMap<String, i64> = HashMap::new();
    let mut ports: HashMap<String, usize> = HashMap::new();
    let live: Vec<&Value> = tasks.iter().filter(|t| t["lastStatus"] != "STOPPED").collect();
    for t in &live {
        let family = t["taskDefinitionArn"].as_str().unwrap().rsplit('/').next().unwrap().split(':').next().unwrap().to_string();
        let (m, c) = if family == "port" { (100, 0) } else { (300, 256) };
        *memory.entry(instance_of(t)).or_default() += m;
        *cpu.entry(instance_of(t)).or_default() += c;
        if family == "port" {
            *ports.entry(instance_of(t)).or_default() += 1;
        }
    }
    assert!(memory.values().all(|&m| m <= 1024), "memory over-committed: {memory:?}");
    assert!(cpu.values().all(|&c| c <= 1024), "CPU over-committed: {cpu:?}");
    assert!(ports.values().all(|&n| n <= 1), "host port 8080 held twice on one host: {ports:?}");
    // And the store agrees: nothing has less than nothing left.
    for i in server.instances(cluster).await {
        for r in i["remainingResources"].as_array().unwrap() {
            if let Some(v) = r["integerValue"].as_i64() {
                assert!(v >= 0, "{} has {v} {} left", i["id"], r["name"]);
            }
        }
    }
    (live.iter().filter(|t| t["group"] == "service:fat").count(), ports.len())
}

#[tokio::test]
async fn a_run_task_retried_with_its_client_token_starts_nothing_more() {
    let server = Server::start(2).await;
    let cluster = unique("token");
    let _agents = fleet(&server, &cluster, 2, &[]).await;
    let td = server.register(json!({ "family": "once", "containerDefinitions": [{ "name": "a", "image": "x", "memory": 64 }] })).await;
    let body = json!({ "taskDefinition": td, "count": 3, "clientToken": "deploy-42" });
    let path = format!("/api/v1/clusters/{cluster}/tasks");
    let ids = |v: &Value| -> Vec<String> { v["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect() };
    // Sent by several clients at once, the token's first use among them, then retried: the
    // same three tasks every time, nothing more.
    let together = futures_util::future::join_all((0..5).map(|_| server.ok("POST", &path, Some(body.clone())))).await;
    let first = &together[0];
    assert_eq!(ids(first).len(), 3);
    for r in together.iter().chain([&server.ok("POST", &path, Some(body.clone())).await]) {
        assert_eq!(ids(r), ids(first));
    }
    assert_eq!(all_tasks(&server, &cluster).await.len(), 3);
    // The same token for another request is refused, naming the field.
    let (status, err) = server
        .call("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({ "taskDefinition": td, "count": 1, "clientToken": "deploy-42" })))
        .await;
    assert_eq!((status, err["errors"][0]["field"].as_str()), (400, Some("clientToken")), "{err}");
    let (status, err) = server.call("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({ "taskDefinition": td, "clientToken": "x".repeat(65) }))).await;
    assert_eq!((status, err["errors"][0]["field"].as_str()), (400, Some("clientToken")), "{err}");
    // Another token starts more.
    let other = server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({ "taskDefinition": td, "clientToken": "deploy-43" }))).await;
    assert_eq!(ids(&other).len(), 1);
    assert_eq!(all_tasks(&server, &cluster).await.len(), 4);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_refuses_to_start_and_a_killed_one_restarts() {
    let mut server = Server::start(2).await;
    let (code, log) = server.second_on_same_data().await;
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("another wharf-server is using this database") && log.contains("one server per database"), "{log}");
    // kill -9 leaves no claim behind: a restart on the same data starts at once.
    server.kill9_and_restart().await;
    server.ok("GET", "/api/v1/clusters", None).await;
}

#[tokio::test]
async fn a_task_that_never_reaches_running_times_out_as_a_failed_start() {
    let server = Server::start_with(2, &["--task-start-timeout-seconds", "5"]).await;
    let cluster = unique("stuck");
    // Containers that take ten minutes to start.
    let _agents = fleet(&server, &cluster, 1, &["--sim-start-ms", "600000"]).await;
    let td = server.register(json!({ "family": "slow", "containerDefinitions": [{ "name": "a", "image": "x", "memory": 64 }] })).await;
    let run = server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({ "taskDefinition": td }))).await;
    let id = run["tasks"][0]["id"].as_str().unwrap().to_string();
    let t = server.task_reaches(&cluster, &id, "STOPPED", Duration::from_secs(30)).await;
    let reason = t["stoppedReason"].as_str().unwrap();
    assert!(reason.starts_with("CannotStartContainerError: the task did not reach RUNNING"), "{reason}");
}

#[tokio::test]
async fn stopped_tasks_and_old_service_events_are_forgotten() {
    let server = Server::start_with(2, &["--stopped-task-retention-seconds", "2", "--service-events-kept", "10"]).await;
    let cluster = unique("forget");
    let _agents = fleet(&server, &cluster, 1, &[]).await;
    let td = server.register(json!({ "family": "brief", "containerDefinitions": [{ "name": "a", "image": "x", "memory": 64 }] })).await;
    let run = server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({ "taskDefinition": td }))).await;
    let id = run["tasks"][0]["id"].as_str().unwrap().to_string();
    server.task_reaches(&cluster, &id, "RUNNING", WAIT).await;
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks/{id}/stop"), Some(json!({}))).await;
    server.task_reaches(&cluster, &id, "STOPPED", WAIT).await;
    eventually("the stopped task forgotten", WAIT, || async {
        let (status, _) = server.call("GET", &format!("/api/v1/clusters/{cluster}/tasks/{id}"), None).await;
        (status == 404).then_some(())
    })
    .await;

    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(json!({ "serviceName": "chatty", "taskDefinition": td, "desiredCount": 0 }))).await;
    for n in 1..=15 {
        server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/chatty"), Some(json!({ "desiredCount": n % 2 }))).await;
    }
    let events = eventually("at most 10 events kept", WAIT, || async {
        let s = server.ok("GET", &format!("/api/v1/clusters/{cluster}/services/chatty"), None).await;
        let events = s["service"]["events"].as_array().cloned().unwrap_or_default();
        (events.len() <= 10).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 10, "the newest ten stay: {events:#?}");
}

on_both_backends!(concurrent_clients_never_over_commit_an_instance);
