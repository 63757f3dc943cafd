//! Services and RunTask through the real `wharf-server` and `wharf-agent simulate` (simulated
//! runtimes: placement, deployments and draining without Docker).

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use wharf_systest::{Agent, Server, eventually, on_both_backends, unique};

const WAIT: Duration = Duration::from_secs(60);

fn definition(family: &str, image: &str) -> Value {
    json!({ "family": family, "containerDefinitions": [{ "name": "app", "image": image, "cpu": 128, "memory": 256, "essential": true }] })
}

/// `count` simulated instances whose containers take 300 ms to start, so a rollout has
/// moments worth sampling.
async fn fleet(server: &Server, cluster: &str, count: usize) -> Agent {
    let token = server.cluster_trusting_hosts(cluster).await;
    let agent = Agent::start(&[
        "--server", &server.url, "--cluster", cluster, "--token", &token, "simulate", "--count", &count.to_string(), "--sim-start-ms", "300",
    ]);
    server.connected(cluster, count).await;
    agent
}

async fn service(server: &Server, cluster: &str, name: &str) -> Value {
    server.ok("GET", &format!("/api/v1/clusters/{cluster}/services/{name}"), None).await["service"].clone()
}

/// Tasks wanted RUNNING, by instance id.
async fn running_by_instance(server: &Server, cluster: &str) -> HashMap<String, usize> {
    let v = server.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks?desiredStatus=RUNNING&maxResults=100"), None).await;
    let mut out = HashMap::new();
    for t in v["tasks"].as_array().unwrap() {
        if t["lastStatus"] == "RUNNING" {
            let arn = t["containerInstanceArn"].as_str().unwrap();
            *out.entry(arn.rsplit('/').next().unwrap().to_string()).or_default() += 1;
        }
    }
    out
}

fn totals(s: &Value) -> (i64, i64) {
    let ds = s["deployments"].as_array().unwrap();
    (ds.iter().map(|d| d["runningCount"].as_i64().unwrap()).sum(), ds.iter().map(|d| d["pendingCount"].as_i64().unwrap()).sum())
}

async fn a_service_spreads_rolls_within_its_bounds_scales_and_leaves_a_draining_host(db: Option<String>) {
    let server = Server::start_on(db.as_deref(), 2, &[]).await;
    let cluster = unique("svc");
    let _agents = fleet(&server, &cluster, 6).await;
    let v1 = server.register(definition("web", "local/web:1")).await;
    let body = json!({ "serviceName": "web", "taskDefinition": v1, "desiredCount": 12,
                       "deploymentConfiguration": { "minimumHealthyPercent": 50, "maximumPercent": 150 } });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(body)).await;
    eventually("12 tasks RUNNING", WAIT, || async { (service(&server, &cluster, "web").await["runningCount"] == 12).then_some(()) }).await;
    // The default strategy spreads over zones, then instances: 6 instances → 2 each.
    let per_instance = running_by_instance(&server, &cluster).await;
    assert_eq!(per_instance.len(), 6, "{per_instance:?}");
    assert!(per_instance.values().all(|&n| n == 2), "{per_instance:?}");

    // Roll to a new revision: sample while it rolls; never under 50% (6) RUNNING, never over 150% (18) in total.
    let v2 = server.register(definition("web", "local/web:2")).await;
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/web"), Some(json!({ "taskDefinition": v2 }))).await;
    let mut samples = 0;
    let done = tokio::time::Instant::now() + WAIT;
    loop {
        let s = service(&server, &cluster, "web").await;
        let (running, pending) = totals(&s);
        samples += 1;
        assert!(running >= 6, "below the minimum during the rollout: {running} RUNNING\n{s:#}");
        assert!(running + pending <= 18, "over the maximum during the rollout: {running} + {pending}\n{s:#}");
        let deployments = s["deployments"].as_array().unwrap();
        if deployments.len() == 1 && deployments[0]["taskDefinition"] == v2.as_str() && deployments[0]["rolloutState"] == "COMPLETED" {
            assert_eq!(deployments[0]["runningCount"], 12);
            break;
        }
        assert!(tokio::time::Instant::now() < done, "the rollout did not complete: {s:#}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(samples > 1);
    let events: Vec<String> = service(&server, &cluster, "web").await["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_string()).collect();
    assert!(events.iter().any(|e| e.contains("has reached a steady state")), "{events:?}");
    assert!(events.iter().any(|e| e.contains("has stopped")), "{events:?}");

    // Scale in to 3, spread over zones (one per zone).
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/web"), Some(json!({ "desiredCount": 3 }))).await;
    let per_instance = eventually("3 tasks left", WAIT, || async {
        let m = running_by_instance(&server, &cluster).await;
        (m.values().sum::<usize>() == 3).then_some(m)
    })
    .await;
    let instances = server.instances(&cluster).await;
    let zone_of = |id: &str| -> String {
        let i = instances.iter().find(|i| i["id"] == id).unwrap();
        let attrs = i["attributes"].as_array().unwrap();
        attrs.iter().find(|a| a["name"] == "ecs.availability-zone").unwrap()["value"].as_str().unwrap().to_string()
    };
    let mut zones: Vec<String> = per_instance.keys().map(|id| zone_of(id)).collect();
    zones.sort();
    assert_eq!(zones, vec!["a", "b", "c"], "{per_instance:?}");

    // Drain a host with a task: its task is replaced elsewhere, then stopped.
    let drained = per_instance.keys().next().unwrap().clone();
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/container-instances/{drained}"), Some(json!({ "status": "DRAINING" }))).await;
    let after = eventually("the drained host to be empty", WAIT, || async {
        let m = running_by_instance(&server, &cluster).await;
        (!m.contains_key(&drained) && m.values().sum::<usize>() == 3).then_some(m)
    })
    .await;
    assert!(!after.contains_key(&drained));
}

async fn run_task_places_by_strategy_and_explains_what_it_cannot_place(db: Option<String>) {
    let server = Server::start_on(db.as_deref(), 2, &[]).await;
    let cluster = unique("run");
    let _agents = fleet(&server, &cluster, 3).await;
    let small = server.register(definition("job", "local/job:1")).await;
    let body = json!({ "taskDefinition": small, "count": 4, "placementStrategy": [{ "type": "binpack", "field": "memory" }] });
    let run = server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(body)).await;
    assert_eq!(run["failures"], json!([]));
    let hosts: std::collections::HashSet<&str> = run["tasks"].as_array().unwrap().iter().map(|t| t["containerInstanceArn"].as_str().unwrap()).collect();
    assert_eq!(hosts.len(), 1, "binpack puts all four on one host: {hosts:?}");

    let huge = server.register(json!({ "family": "huge", "containerDefinitions": [{ "name": "app", "image": "x", "memory": 100000 }] })).await;
    let run = server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({ "taskDefinition": huge }))).await;
    assert_eq!(run["tasks"], json!([]));
    assert_eq!(run["failures"][0]["reason"], "RESOURCE:MEMORY", "{run:#}");
    let detail = run["failures"][0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("3 instances: insufficient memory (needs 100000 MiB, most free"), "{detail}");

    let (status, err) = server.call("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({ "taskDefinition": small, "count": 11,
        "placementConstraints": [{ "type": "memberOf", "expression": "attribute:zone ==" }] }))).await;
    assert_eq!(status, 400, "{err}");
    let fields: Vec<&str> = err["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"count") && fields.contains(&"placementConstraints[0].expression"), "{err}");

    // A constraint no instance meets, and an attribute the task needs that none offers.
    let nowhere = json!({ "taskDefinition": small, "placementConstraints": [{ "type": "memberOf", "expression": "attribute:ecs.availability-zone == z" }] });
    let run = server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(nowhere)).await;
    assert_eq!((run["failures"][0]["reason"].as_str(), run["tasks"].as_array().map(Vec::len)), (Some("CONSTRAINT"), Some(0)), "{run:#}");
    assert!(run["failures"][0]["detail"].as_str().unwrap().contains("attribute:ecs.availability-zone == z"), "{run:#}");
    let logged = server
        .register(json!({ "family": "logged", "containerDefinitions": [{ "name": "app", "image": "x", "memory": 64,
            "logConfiguration": { "logDriver": "awslogs", "options": {} } }] }))
        .await;
    let run = server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks"), Some(json!({ "taskDefinition": logged }))).await;
    assert_eq!(run["failures"][0]["reason"], "ATTRIBUTE", "{run:#}");
    assert!(run["failures"][0]["detail"].as_str().unwrap().contains("ecs.capability.logging-driver.awslogs"), "{run:#}");
}

async fn events(server: &Server, cluster: &str) -> Vec<String> {
    let s = service(server, cluster, "web").await;
    s["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_string()).collect()
}

/// The circuit breaker when there is nothing to roll back to, and with rollback off: the
/// deployment fails and says so, and the service stays on the revision it was given.
async fn a_failed_deployment_without_a_rollback_says_why_and_stays(db: Option<String>) {
    let server = Server::start_on(db.as_deref(), 2, &["--scheduler-interval-seconds", "1"]).await;
    let cluster = unique("breaker");
    let _agents = fleet(&server, &cluster, 2).await;
    // The first revision never starts: no completed deployment exists to roll back to.
    let broken = server.register(definition("web", "local/web:fail")).await;
    let breaker = json!({ "deploymentCircuitBreaker": { "enable": true, "rollback": true } });
    let body = json!({ "serviceName": "web", "taskDefinition": broken, "desiredCount": 4, "deploymentConfiguration": breaker });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(body)).await;
    let said = eventually("the breaker to give up without a rollback", WAIT, || async {
        let e = events(&server, &cluster).await;
        e.iter().any(|m| m.contains("has no completed deployment to roll back to")).then_some(e)
    })
    .await;
    assert!(said.iter().any(|m| m.contains("deployment failed")), "{said:?}");
    let s = service(&server, &cluster, "web").await;
    assert_eq!((s["taskDefinition"].as_str(), s["deployments"][0]["rolloutState"].as_str()), (Some(broken.as_str()), Some("FAILED")), "{s:#}");

    // A good revision completes; a broken one after it, with rollback off, fails and stays.
    let good = server.register(definition("web", "local/web:2")).await;
    let off = json!({ "deploymentCircuitBreaker": { "enable": true, "rollback": false } });
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/web"), Some(json!({ "taskDefinition": good, "deploymentConfiguration": off }))).await;
    eventually("the good revision to complete", WAIT, || async {
        let s = service(&server, &cluster, "web").await;
        (s["deployments"][0]["rolloutState"] == "COMPLETED" && s["runningCount"] == 4).then_some(())
    })
    .await;
    let broken_again = server.register(definition("web", "local/web:fail")).await;
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/web"), Some(json!({ "taskDefinition": broken_again }))).await;
    let s = eventually("the deployment to fail", WAIT, || async {
        let s = service(&server, &cluster, "web").await;
        (s["deployments"][0]["rolloutState"] == "FAILED").then_some(s)
    })
    .await;
    let said = events(&server, &cluster).await;
    assert!(!said.iter().any(|m| m.contains("rolling back")), "rollback is off: {said:?}");
    assert_eq!(s["taskDefinition"], broken_again.as_str());
    assert_eq!(s["runningCount"], 4, "the old tasks keep running: {s:#}");
}

async fn a_daemon_runs_on_every_instance_including_ones_that_join_later(db: Option<String>) {
    let server = Server::start_on(db.as_deref(), 2, &[]).await;
    let cluster = unique("daemon");
    let token = server.cluster_trusting_hosts(&cluster).await;
    let _first = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "simulate", "--count", "3", "--name-prefix", "first"]);
    server.connected(&cluster, 3).await;
    let td = server.register(definition("logs", "local/logs:1")).await;
    let body = json!({ "serviceName": "logs", "taskDefinition": td, "schedulingStrategy": "DAEMON" });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(body)).await;
    eventually("one task per instance", WAIT, || async {
        let m = running_by_instance(&server, &cluster).await;
        (m.len() == 3 && m.values().all(|&n| n == 1)).then_some(())
    })
    .await;
    let _late = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "simulate", "--count", "1", "--name-prefix", "late"]);
    server.connected(&cluster, 4).await;
    eventually("the late instance runs the daemon too", WAIT, || async {
        let m = running_by_instance(&server, &cluster).await;
        (m.len() == 4 && m.values().all(|&n| n == 1)).then_some(())
    })
    .await;
    let s = service(&server, &cluster, "logs").await;
    assert_eq!(s["deployments"][0]["desiredCount"], 4, "{s:#}");
}

/// RUNNING tasks of the cluster (any service), from the cluster's own counts.
async fn cluster_running(server: &Server, cluster: &str) -> i64 {
    server.ok("GET", &format!("/api/v1/clusters/{cluster}"), None).await["cluster"]["runningTasksCount"].as_i64().unwrap()
}

async fn five_thousand_tasks_on_two_hundred_instances_stay_exact_through_scaling(db: Option<String>) {
    let server = Server::start_on(db.as_deref(), 5, &[]).await;
    let cluster = unique("scale");
    let token = server.cluster_trusting_hosts(&cluster).await;
    let _agents = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "simulate", "--count", "200"]);
    eventually("200 connected instances", WAIT, || async {
        let mut connected = 0;
        let mut next = String::new();
        loop {
            let page = server.ok("GET", &format!("/api/v1/clusters/{cluster}/container-instances?maxResults=100&nextToken={next}"), None).await;
            connected += page["containerInstances"].as_array().unwrap().iter().filter(|i| i["agentConnected"] == true).count();
            match page["nextToken"].as_str() {
                Some(t) => next = t.to_string(),
                None => break,
            }
        }
        (connected == 200).then_some(())
    })
    .await;
    let td = server.register(definition("bulk", "local/bulk:1")).await;
    let body = json!({ "serviceName": "bulk", "taskDefinition": td, "desiredCount": 5000 });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(body)).await;
    let long = Duration::from_secs(240);
    for desired in [5000, 1000, 3000] {
        if desired != 5000 {
            server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/bulk"), Some(json!({ "desiredCount": desired }))).await;
        }
        eventually(&format!("exactly {desired} RUNNING"), long, || async {
            let s = service(&server, &cluster, "bulk").await;
            let exact = s["runningCount"] == desired && s["pendingCount"] == 0 && cluster_running(&server, &cluster).await == desired;
            exact.then_some(())
        })
        .await;
        // And it stays there: a few more passes change nothing.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s = service(&server, &cluster, "bulk").await;
        assert_eq!((s["runningCount"].as_i64(), s["pendingCount"].as_i64()), (Some(desired), Some(0)), "{}", s["events"][0]);
        assert_eq!(cluster_running(&server, &cluster).await, desired);
    }
}

on_both_backends!(
    a_service_spreads_rolls_within_its_bounds_scales_and_leaves_a_draining_host,
    run_task_places_by_strategy_and_explains_what_it_cannot_place,
    a_daemon_runs_on_every_instance_including_ones_that_join_later,
    five_thousand_tasks_on_two_hundred_instances_stay_exact_through_scaling,
    a_failed_deployment_without_a_rollback_says_why_and_stays,
);
