//! The load balancer with real agents running real containers (Docker Engine): a listener
//! reaches every healthy task of a service, a task failing its health check gets no traffic
//! until it passes again (and past the service's grace period is replaced), and under steady load a rolling deployment, a scale-in and draining
//! an instance drop no request.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use wharf_systest::load::{Load, Wrk};
use wharf_systest::*;

const WAIT: Duration = Duration::from_secs(120);

fn agent(server: &Server, cluster: &str, token: &str) -> Agent {
    Agent::start(&["--server", &server.url, "--cluster", cluster, "--token", token, "--runtime", "docker"])
}

/// busybox httpd answering `/` with its host name and revision, `/health.html` while that
/// file is there (the load balancer's check, apart from the container's own), and a POST to
/// `/cgi-bin/slow` after a second. It exits at once when told to stop, as many programs do, so a
/// request still in flight then is cut off.
fn httpd(revision: &str) -> Value {
    let mut d = fixture("busybox-httpd.json");
    d["family"] = json!("lb-httpd");
    let script = "mkdir -p /www/cgi-bin && echo \"hello from $HOSTNAME rev $REVISION\" > /www/index.html && echo ok > /www/health.html \
                  && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\nusleep 1000000\\ncat /www/index.html\\n' > /www/cgi-bin/slow \
                  && chmod +x /www/cgi-bin/slow; /bin/httpd -f -p 8080 -h /www & pid=$!; trap 'kill $pid; exit 0' TERM; wait";
    d["containerDefinitions"][0]["command"] = json!(["/bin/sh", "-c", script]);
    d["containerDefinitions"][0]["environment"] = json!([{ "name": "REVISION", "value": revision }]);
    d
}

async fn targets(server: &Server, cluster: &str) -> Vec<Value> {
    let v = server.ok("GET", &format!("/api/v1/clusters/{cluster}/target-groups/web/targets"), None).await;
    v["targetHealthDescriptions"].as_array().cloned().unwrap_or_default()
}

/// Waits for the service to settle on `n` tasks of `revision`, each a healthy target, with
/// nothing left draining.
async fn settled(server: &Server, cluster: &str, revision: &str, n: usize) {
    eventually(&format!("{n} healthy targets of {revision}"), WAIT, || async {
        let s = server.ok("GET", &format!("/api/v1/clusters/{cluster}/services/web"), None).await["service"].clone();
        let deployments = s["deployments"].as_array().unwrap();
        let done = deployments.len() == 1 && deployments[0]["taskDefinition"] == revision && deployments[0]["rolloutState"] == "COMPLETED";
        let t = targets(server, cluster).await;
        (done && t.len() == n && t.iter().all(|t| t["targetHealth"]["state"] == "healthy")).then_some(())
    })
    .await
}

/// Which hosts answer `count` requests through the listener.
async fn answering(url: &str, count: usize) -> BTreeSet<String> {
    let client = anonymous_client();
    let mut seen = BTreeSet::new();
    for _ in 0..count {
        let r = client.get(url).send().await.expect("the listener answers");
        assert_eq!(r.status(), 200);
        seen.insert(r.text().await.unwrap().trim().to_string());
    }
    seen
}

#[tokio::test]
async fn a_listener_reaches_every_healthy_task_and_changes_under_load_drop_nothing() {
    if !docker_available() {
        return;
    }
    let server = Server::start_with(1, &["--scheduler-interval-seconds", "1"]).await;
    let cluster = unique("lbdocker");
    let _cleanup = DockerCleanup(cluster.clone());
    let token = server.cluster_with_token(&cluster).await;
    let (_a, _b) = (agent(&server, &cluster, &token), agent(&server, &cluster, &token));
    let instances = server.connected(&cluster, 2).await;
    let v1 = server.register(httpd("1")).await;

    // Checks every second, healthy after two passes, ten seconds to drain.
    let group = json!({ "targetGroupName": "web", "healthCheckPath": "/health.html", "healthCheckIntervalSeconds": 1, "healthCheckTimeoutSeconds": 1,
        "healthyThresholdCount": 2, "unhealthyThresholdCount": 2, "deregistrationDelaySeconds": 10 });
    let (status, body) = server.call("POST", &format!("/api/v1/clusters/{cluster}/target-groups"), Some(group.clone())).await;
    assert_eq!(status, 400, "the timeout must be shorter than the interval: {body}");
    let mut group = group;
    group["healthCheckIntervalSeconds"] = json!(2);
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/target-groups"), Some(group)).await;
    let port = task_port();
    let listener = json!({ "port": port, "defaultActions": [{ "type": "forward", "targetGroupArn": "web" }] });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/listeners"), Some(listener)).await;
    eventually("the listener to bind its port", WAIT, || async {
        let l = server.ok("GET", &format!("/api/v1/clusters/{cluster}/listeners/{port}"), None).await;
        (l["listener"]["state"] == "ACTIVE").then_some(())
    })
    .await;
    let url = format!("http://127.0.0.1:{port}/");
    // A long grace period first: a failing task is only taken out of the load balancer.
    let service = json!({ "serviceName": "web", "taskDefinition": v1, "desiredCount": 3, "healthCheckGracePeriodSeconds": 3600,
        "loadBalancers": [{ "targetGroupArn": "web", "containerName": "httpd", "containerPort": 8080 }] });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(service)).await;
    settled(&server, &cluster, &v1, 3).await;

    // Every task answers through the one address; other proxies find the same three.
    let hosts = answering(&url, 60).await;
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    let endpoints = server.ok("GET", &format!("/api/v1/clusters/{cluster}/target-groups/web/endpoints"), None).await;
    assert_eq!(endpoints["healthy"].as_array().unwrap().len(), 3, "{endpoints}");
    let sd = server.ok("GET", &format!("/api/v1/clusters/{cluster}/target-groups/web/http-sd"), None).await;
    assert_eq!(sd.as_array().unwrap().len(), 3, "{sd}");

    // One task's check fails: it gets nothing until it passes again.
    let sick = hosts.iter().next().unwrap().clone();
    let container = sick.split_whitespace().nth(2).unwrap().to_string();
    let exec = |script: &str| {
        let out = std::process::Command::new("docker").args(["exec", &container, "/bin/sh", "-c", script]).output().expect("docker exec");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    exec("rm /www/health.html");
    let down = eventually("the failing target to turn unhealthy", WAIT, || async {
        targets(&server, &cluster).await.into_iter().find(|t| t["targetHealth"]["state"] == "unhealthy")
    })
    .await;
    assert_eq!(down["targetHealth"]["reason"], "Target.ResponseCodeMismatch", "{down}");
    assert_eq!(down["targetHealth"]["description"], "Health checks failed with these codes: [404]");
    let served = answering(&url, 60).await;
    assert!(!served.contains(&sick) && served.len() == 2, "the unhealthy task got traffic: {served:?}");
    exec("echo ok > /www/health.html");
    settled(&server, &cluster, &v1, 3).await;
    assert!(answering(&url, 60).await.contains(&sick), "the task is back once it passes");

    // Past the grace period a failing task is replaced, as ECS does: stopped with its target
    // group named, counted as a failed task, and a new one takes its place.
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/web"), Some(json!({ "healthCheckGracePeriodSeconds": 5 }))).await;
    exec("rm /www/health.html");
    let stopped = eventually("the failing task to be stopped", WAIT, || async {
        let t = server.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks?serviceName=web&desiredStatus=STOPPED"), None).await;
        t["tasks"].as_array().unwrap().iter().find(|t| t["lastStatus"] == "STOPPED").cloned()
    })
    .await;
    let failed_task = stopped["taskArn"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert!(stopped["stoppedReason"].as_str().unwrap().starts_with("Task failed ELB health checks in (target-group "), "{stopped}");
    settled(&server, &cluster, &v1, 3).await;
    let service = server.ok("GET", &format!("/api/v1/clusters/{cluster}/services/web"), None).await["service"].clone();
    let said = service["events"].to_string();
    assert!(said.contains(&format!("(task {failed_task}) failed ELB health checks")), "{said}");
    assert!(service["deployments"][0]["failedTasks"].as_i64().unwrap() >= 1, "{service}");
    assert!(!answering(&url, 30).await.contains(&sick), "the replaced task still answers");

    let slow = format!("http://127.0.0.1:{port}/cgi-bin/slow");
    let client = anonymous_client();
    let answer = client.post(&slow).body("order=1").send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().starts_with("hello from"));

    // Steady load while the service changes three ways, POSTs that take a second among it (a
    // POST is never sent twice, so one cut off by a stopping task would fail): not one
    // request may fail.
    let load = Load::start(&url, 4, 120);
    let posts = Load::sending(&slow, Some("order=1"), 24, 12);
    // And wrk beside them: 4 connections, a request every 40 ms each (about 100/s).
    let wrk = Wrk::start(&url, 4, 40);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v2 = server.register(httpd("2")).await;
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/web"), Some(json!({ "taskDefinition": v2 }))).await;
    settled(&server, &cluster, &v2, 3).await;
    let deployed = load.tally().await;
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/services/web"), Some(json!({ "desiredCount": 2 }))).await;
    settled(&server, &cluster, &v2, 2).await;
    let scaled = load.tally().await;
    // Drain the instance that holds a task (both may): its tasks move to the other one.
    let tasks = server.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks?serviceName=web&desiredStatus=RUNNING"), None).await;
    let held = tasks["tasks"][0]["containerInstanceArn"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert!(instances.iter().any(|i| i["id"] == held.as_str()));
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}/container-instances/{held}"), Some(json!({ "status": "DRAINING" }))).await;
    eventually("the drained instance's tasks to move", WAIT, || async {
        let t = server.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks?serviceName=web&desiredStatus=RUNNING"), None).await;
        let list = t["tasks"].as_array().unwrap().clone();
        (list.len() == 2 && list.iter().all(|t| !t["containerInstanceArn"].as_str().unwrap().ends_with(&held))).then_some(())
    })
    .await;
    settled(&server, &cluster, &v2, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tally = load.finish().await;
    let posted = posts.finish().await;
    let by_wrk = wrk.finish();
    println!("zero-downtime: wrk sent {} requests, {} answered other than 2xx/3xx, {} socket errors", by_wrk.requests, by_wrk.non_2xx_3xx, by_wrk.socket_errors);
    assert_eq!((by_wrk.non_2xx_3xx, by_wrk.socket_errors), (0, 0), "{}", by_wrk.text);
    assert!(by_wrk.requests >= 1000, "wrk sent too little to mean anything:\n{}", by_wrk.text);
    println!("zero-downtime: {} slow POSTs, {} failed", posted.sent, posted.failed());
    assert_eq!(posted.failed(), 0, "POSTs failed: {:?}", posted.failures);
    assert!(posted.sent >= 150, "too few POSTs to mean anything: {}", posted.sent);
    println!(
        "zero-downtime: {} requests ({} during the deployment, {} by the scale-in, {} in all with the drain), {} failed; answered by {:?}",
        tally.sent,
        deployed.sent,
        scaled.sent - deployed.sent,
        tally.sent,
        tally.failed(),
        tally.answered_by
    );
    assert_eq!(tally.failed(), 0, "requests failed: {:?}", tally.failures);
    assert!(tally.sent >= 1000, "too little load to mean anything: {}", tally.sent);
    assert!(tally.answered_by.keys().any(|b| b.ends_with("rev 1")) && tally.answered_by.keys().any(|b| b.ends_with("rev 2")), "{:?}", tally.answered_by);

    // Per-listener counters for anyone; per-target ones (they name tasks) for an admin only.
    let public = anonymous_client().get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
    assert!(public.contains(&format!("wharf_lb_listener_requests_total{{listener=\"{port}\",class=\"2xx\"}}")), "{public}");
    assert!(!public.contains("wharf_lb_target_"), "{public}");
    let metrics = server.http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("wharf_lb_target_request_duration_seconds_bucket{"), "{metrics}");
}
