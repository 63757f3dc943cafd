//! Services on real agents running real containers (Docker Engine, `local/busybox:1`): a
//! rolling update sampled for its bounds, the circuit breaker rolling back, draining, a lost
//! host, and a DAEMON reaching an instance that joins later.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use wharf_systest::*;

const WAIT: Duration = Duration::from_secs(120);

fn agent(server: &Server, cluster: &str, token: &str) -> Agent {
    Agent::start(&["--server", &server.url, "--cluster", cluster, "--token", token, "--runtime", "docker"])
}

async fn service(server: &Server, cluster: &str, name: &str) -> Value {
    server.ok("GET", &format!("/api/v1/clusters/{cluster}/services/{name}"), None).await["service"].clone()
}

/// A container whose health check passes, or that has none.
fn passing(c: &Value) -> bool {
    c["healthStatus"] == "HEALTHY" || c["healthStatus"].is_null()
}

/// The service's tasks that are wanted: (instance id, RUNNING and every container HEALTHY, revision).
async fn tasks_of(server: &Server, cluster: &str, name: &str) -> Vec<(String, bool, String)> {
    let v = server.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks?serviceName={name}&desiredStatus=RUNNING&maxResults=100"), None).await;
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let healthy = t["lastStatus"] == "RUNNING" && t["containers"].as_array().unwrap().iter().all(passing);
            let instance = t["containerInstanceArn"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
            (instance, healthy, t["taskDefinitionArn"].as_str().unwrap().rsplit('/').next().unwrap().to_string())
        })
        .collect()
}

/// Healthy RUNNING tasks of the whole cluster (wanted or being replaced), any revision.
async fn healthy_in_cluster(server: &Server, cluster: &str) -> (usize, usize) {
    let v = server.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks?maxResults=100"), None).await;
    let live: Vec<&Value> = v["tasks"].as_array().unwrap().iter().filter(|t| t["lastStatus"] != "STOPPED").collect();
    let healthy = live
        .iter()
        .filter(|t| t["lastStatus"] == "RUNNING" && t["containers"].as_array().unwrap().iter().all(passing))
        .count();
    (healthy, live.len())
}

async fn steady(server: &Server, cluster: &str, name: &str, revision: &str, n: usize) -> Vec<(String, bool, String)> {
    eventually(&format!("{n} healthy tasks of {revision}"), WAIT, || async {
        let s = service(server, cluster, name).await;
        let primary = &s["deployments"][0];
        let done = s["deployments"].as_array().unwrap().len() == 1 && primary["taskDefinition"] == revision && primary["rolloutState"] == "COMPLETED";
        let tasks = tasks_of(server, cluster, name).await;
        (done && tasks.len() == n && tasks.iter().all(|(_, healthy, rev)| *healthy && rev == revision)).then_some(tasks)
    })
    .await
}

fn per_instance(tasks: &[(String, bool, String)]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (i, _, _) in tasks {
        *m.entry(i.clone()).or_default() += 1;
    }
    m
}

fn revision(def: &Value, marker: &str, exits: bool) -> Value {
    let mut d = def.clone();
    d["containerDefinitions"][0]["environment"] = json!([{ "name": "REVISION", "value": marker }]);
    if exits {
        d["containerDefinitions"][0]["command"] = json!(["/bin/sh", "-c", "exit 3"]);
    }
    d
}

#[tokio::test]
async fn services_roll_break_and_recover_drain_and_survive_a_lost_host_on_docker() {
    if !docker_available() {
        return;
    }
    let server = Server::start_with(1, &["--instance-lost-after-seconds", "6", "--scheduler-interval-seconds", "1"]).await;
    let cluster = unique("svcdocker");
    let _cleanup = DockerCleanup(cluster.clone());
    server.cluster_with_token(&cluster).await;
    // Each host's zone comes from its join token, as placement trusts only that.
    let zoned = |zone: &'static str| server.join_token(&cluster, json!({ "attributes": [{ "name": "ecs.availability-zone", "value": zone }] }));
    let (token_a, token_b) = (zoned("a").await, zoned("b").await);
    let _a = agent(&server, &cluster, &token_a);
    let mut b = agent(&server, &cluster, &token_b);
    let instances = server.connected(&cluster, 2).await;
    // ids[0] is agent a's instance, ids[1] agent b's (told apart by their zones).
    let zone_of = |i: &Value| i["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "ecs.availability-zone").unwrap()["value"].clone();
    let id_in = |zone: &str| instances.iter().find(|i| zone_of(i) == zone).unwrap()["id"].as_str().unwrap().to_string();
    let ids = [id_in("a"), id_in("b")];

    // Four tasks, spread over the two zones.
    let httpd = fixture("busybox-httpd.json");
    let v1 = server.register(revision(&httpd, "1", false)).await;
    let body = json!({ "serviceName": "web", "taskDefinition": v1, "desiredCount": 4 });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(body)).await;
    let tasks = steady(&server, &cluster, "web", &v1, 4).await;
    assert!(per_instance(&tasks).values().all(|&n| n == 2), "{tasks:?}");

    // A rolling update (100% / 200%): sampled, never fewer than 4 healthy, never more than 8 in all.
    let v2 = server.register(revision(&httpd, "2", false)).await;
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/web"), Some(json!({ "taskDefinition": v2 }))).await;
    let mut samples = Vec::new();
    let rolled = tokio::time::Instant::now() + WAIT;
    loop {
        let (healthy, live) = healthy_in_cluster(&server, &cluster).await;
        samples.push((healthy, live));
        assert!(healthy >= 4, "below the minimum healthy: {samples:?}");
        assert!(live <= 8, "above the maximum: {samples:?}");
        let s = service(&server, &cluster, "web").await;
        if s["deployments"].as_array().unwrap().len() == 1 && s["deployments"][0]["taskDefinition"] == v2.as_str() && s["deployments"][0]["rolloutState"] == "COMPLETED" {
            break;
        }
        assert!(tokio::time::Instant::now() < rolled, "the rollout did not complete: {s:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(samples.iter().any(|&(_, live)| live > 4), "the rollout was never sampled mid-way: {samples:?}");
    steady(&server, &cluster, "web", &v2, 4).await;

    // A revision whose container exits at once trips the circuit breaker (threshold 3 at
    // desired 4) and rolls back to the last completed deployment; the old tasks kept serving.
    let broken = server.register(revision(&httpd, "3", true)).await;
    let update = json!({ "taskDefinition": broken,
        "deploymentConfiguration": { "deploymentCircuitBreaker": { "enable": true, "rollback": true } } });
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/web"), Some(update)).await;
    let events = eventually("the circuit breaker to roll back", WAIT, || async {
        let s = service(&server, &cluster, "web").await;
        let events: Vec<String> = s["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_string()).collect();
        events.iter().any(|e| e.contains("rolling back")).then_some(events)
    })
    .await;
    assert!(events.iter().any(|e| e.contains("deployment failed")), "{events:?}");
    let s = service(&server, &cluster, "web").await;
    assert_eq!(s["taskDefinition"], v2.as_str(), "the service runs the last good revision again");
    steady(&server, &cluster, "web", &v2, 4).await;

    // Draining B: its tasks are replaced on A, then stopped.
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/container-instances/{}", ids[1]), Some(json!({ "status": "DRAINING" }))).await;
    eventually("every task on A", WAIT, || async {
        let t = tasks_of(&server, &cluster, "web").await;
        (t.len() == 4 && t.iter().all(|(i, healthy, _)| *i == ids[0] && *healthy)).then_some(())
    })
    .await;
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/container-instances/{}", ids[1]), Some(json!({ "status": "ACTIVE" }))).await;

    // Draining A moves them all to B; then B's agent is killed: after the grace period its
    // tasks start on A again, and when B comes back its old containers are stopped.
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/container-instances/{}", ids[0]), Some(json!({ "status": "DRAINING" }))).await;
    eventually("every task on B", WAIT, || async {
        let t = tasks_of(&server, &cluster, "web").await;
        (t.len() == 4 && t.iter().all(|(i, healthy, _)| *i == ids[1] && *healthy)).then_some(())
    })
    .await;
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/container-instances/{}", ids[0]), Some(json!({ "status": "ACTIVE" }))).await;
    b.kill9().await;
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let t = tasks_of(&server, &cluster, "web").await;
        if t.len() == 4 && t.iter().all(|(i, healthy, _)| *i == ids[0] && *healthy) {
            break;
        }
        if tokio::time::Instant::now() > until {
            let s = service(&server, &cluster, "web").await;
            let instances = server.instances(&cluster).await;
            panic!("the lost host's tasks were not replaced on A: {t:?}\nevents: {:#}\ninstances: {instances:#?}", s["events"]);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    b.start_again();
    eventually("B's old containers stopped once it is back", WAIT, || async {
        let running = running_containers_of(&cluster).len();
        (running == 4).then_some(())
    })
    .await;

    // A DAEMON reaches an instance that joins later.
    let daemon = server.register(json!({ "family": "logs", "containerDefinitions": [{ "name": "logs", "image": "local/busybox:1",
        "command": ["/bin/sh", "-c", "exec sleep 3600"], "memory": 16, "cpu": 16 }] })).await;
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(json!({ "serviceName": "logs", "taskDefinition": daemon, "schedulingStrategy": "DAEMON" }))).await;
    eventually("a daemon task on each of the two", WAIT, || async {
        let t = tasks_of(&server, &cluster, "logs").await;
        (t.len() == 2 && per_instance(&t).len() == 2 && t.iter().all(|(_, h, _)| *h)).then_some(())
    })
    .await;
    let _c = agent(&server, &cluster, &zoned("c").await);
    eventually("the daemon on the third instance", WAIT, || async {
        let t = tasks_of(&server, &cluster, "logs").await;
        (t.len() == 3 && per_instance(&t).len() == 3 && t.iter().all(|(_, h, _)| *h)).then_some(())
    })
    .await;
}
