//! Service auto scaling with real agents running real containers (Docker Engine) and the real
//! server binary on its own clock: a service of min 2 / max 10 tasks with a CPU target scales
//! out to its max while a client keeps its tasks burning CPU through the load balancer, and
//! back to its min once the load stops and the scale-in rules allow. Prints the time from the
//! load starting to the first new task RUNNING.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wharf_systest::*;

/// busybox httpd whose `/cgi-bin/burn` keeps a core busy for one to two seconds per request.
fn burner() -> Value {
    let mut d = fixture("busybox-httpd.json");
    d["family"] = json!("burner");
    let script = "mkdir -p /www/cgi-bin && echo ok > /www/index.html \
                  && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\nend=$(( $(date +%%s) + 2 ))\\nwhile [ $(date +%%s) -lt $end ]; do :; done\\necho burned\\n' > /www/cgi-bin/burn \
                  && chmod +x /www/cgi-bin/burn; /bin/httpd -f -p 8080 -h /www & pid=$!; trap 'kill $pid; exit 0' TERM; wait";
    d["containerDefinitions"][0]["command"] = json!(["/bin/sh", "-c", script]);
    // An eighth of a core each: one busy core is 800 % of a task's reservation.
    d["containerDefinitions"][0]["cpu"] = json!(128);
    d["containerDefinitions"][0]["stopTimeout"] = json!(2);
    d
}

async fn service(server: &Server, cluster: &str) -> Value {
    server.ok("GET", &format!("/api/v1/clusters/{cluster}/services/burner"), None).await["service"].clone()
}

async fn running_tasks(server: &Server, cluster: &str) -> usize {
    let v = server.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks?desiredStatus=RUNNING"), None).await;
    v["tasks"].as_array().map_or(0, |t| t.iter().filter(|t| t["lastStatus"] == "RUNNING").count())
}

async fn activities(server: &Server, cluster: &str) -> Vec<Value> {
    let v = server.ok("GET", &format!("/api/v1/clusters/{cluster}/services/burner/scaling"), None).await;
    v["scalingActivities"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_cpu_target_scales_out_to_max_under_load_and_back_to_min() {
    if !docker_available() {
        return;
    }
    let server = Server::start_with(1, &["--scheduler-interval-seconds", "1"]).await;
    let cluster = unique("scaledocker");
    let _cleanup = DockerCleanup(cluster.clone());
    let token = server.cluster_with_token(&cluster).await;
    let args = |t: &str| ["--server".to_string(), server.url.clone(), "--cluster".into(), cluster.clone(), "--token".into(), t.to_string(), "--runtime".into(), "docker".into()];
    let (a, b) = (args(&token), args(&token));
    let _agents = [Agent::start(&a.iter().map(String::as_str).collect::<Vec<_>>()), Agent::start(&b.iter().map(String::as_str).collect::<Vec<_>>())];
    server.connected(&cluster, 2).await;
    let revision = server.register(burner()).await;

    let group = json!({ "targetGroupName": "burn", "healthCheckIntervalSeconds": 2, "healthCheckTimeoutSeconds": 1, "healthyThresholdCount": 2,
        "deregistrationDelaySeconds": 2 });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/target-groups"), Some(group)).await;
    let port = task_port();
    let listener = json!({ "port": port, "defaultActions": [{ "type": "forward", "targetGroupArn": "burn" }] });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/listeners"), Some(listener)).await;
    let body = json!({ "serviceName": "burner", "taskDefinition": revision, "desiredCount": 2,
        "loadBalancers": [{ "targetGroupArn": "burn", "containerName": "httpd", "containerPort": 8080 }] });
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/services"), Some(body)).await;
    let base = format!("/api/v1/clusters/{cluster}/services/burner");
    server.ok("PUT", &format!("{base}/scalable-target"), Some(json!({ "minCapacity": 2, "maxCapacity": 10 }))).await;
    let policy = json!({ "policyType": "TargetTrackingScaling", "targetTrackingScalingPolicyConfiguration": { "targetValue": 50.0,
        "predefinedMetricSpecification": { "predefinedMetricType": "ECSServiceAverageCPUUtilization" }, "scaleOutCooldown": 30, "scaleInCooldown": 30 } });
    server.ok("PUT", &format!("{base}/scaling-policies/cpu"), Some(policy)).await;
    eventually("two healthy targets", Duration::from_secs(120), || async {
        let t = server.ok("GET", &format!("/api/v1/clusters/{cluster}/target-groups/burn/targets"), None).await;
        let healthy = t["targetHealthDescriptions"].as_array().unwrap().iter().filter(|t| t["targetHealth"]["state"] == "healthy").count();
        (healthy == 2).then_some(())
    })
    .await;
    // One client at a time keeps a core burning through the listener.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let url = format!("http://127.0.0.1:{port}/cgi-bin/burn");
    let load = {
        let (stop, served) = (stop.clone(), served.clone());
        tokio::spawn(async move {
            let client = anonymous_client();
            while !stop.load(Ordering::Relaxed) {
                // The whole answer: its headers come before the burn.
                let Ok(response) = client.get(&url).send().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                if response.status().is_success() && response.text().await.is_ok_and(|t| t.contains("burned")) {
                    served.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let started = Instant::now();
    eventually("a third task RUNNING", Duration::from_secs(120), || async { (running_tasks(&server, &cluster).await > 2).then_some(()) }).await;
    let first_new = started.elapsed();
    eprintln!("auto scaling: load started → first new task RUNNING in {:.1} s", first_new.as_secs_f64());
    eventually("ten tasks RUNNING", Duration::from_secs(180), || async { (running_tasks(&server, &cluster).await == 10).then_some(()) }).await;
    let at_max = started.elapsed();
    eprintln!("auto scaling: load started → 10 tasks RUNNING in {:.1} s ({} burns served)", at_max.as_secs_f64(), served.load(Ordering::Relaxed));
    assert_eq!(service(&server, &cluster).await["desiredCount"], 10, "never above maxCapacity");
    let out = activities(&server, &cluster).await.into_iter().find(|a| a["statusCode"] == "Successful" && a["toCount"].as_i64() > a["fromCount"].as_i64());
    let out = out.expect("a scale-out activity");
    assert_eq!(out["policyName"], "cpu", "{out}");
    assert!(out["cause"].as_str().unwrap().contains("ECSServiceAverageCPUUtilization") && out["cause"].as_str().unwrap().contains("above target 50.0"), "{out}");
    let events = service(&server, &cluster).await["events"].clone();
    assert!(events.as_array().unwrap().iter().any(|e| e["message"].as_str().unwrap().contains("auto scaling set the desired count from 2 to")), "{events}");

    // The load stops: back to the min once every sample of three minutes was clearly below
    // the target (under 90 % of it) and the cooldown passed, never below the min.
    stop.store(true, Ordering::Relaxed);
    let _ = load.await;
    let quiet = Instant::now();
    eventually("the service back at its min", Duration::from_secs(300), || async { (service(&server, &cluster).await["desiredCount"] == 2).then_some(()) }).await;
    eprintln!("auto scaling: load stopped → back to 2 tasks wanted in {:.1} s", quiet.elapsed().as_secs_f64());
    let back = activities(&server, &cluster).await.into_iter().find(|a| a["statusCode"] == "Successful" && a["toCount"] == 2).expect("a scale-in activity");
    assert_eq!((&back["fromCount"], &back["policyName"]), (&json!(10), &json!("cpu")), "{back}");
    assert!(back["cause"].as_str().unwrap().contains("below target 50.0"), "{back}");
    // Not before three minutes after the last sample at or above 45 %: the samples say when
    // (the first to show the new count comes with the next sampling).
    let (samples, high, scaled_in) = eventually("a sample with the new count", Duration::from_secs(30), || async {
        let metrics = server.ok("GET", &format!("{base}/metrics?minutes=30"), None).await;
        let samples = metrics["samples"].as_array().cloned().unwrap_or_default();
        let high = samples.iter().filter(|s| s["cpuAverage"].as_f64().is_some_and(|c| c >= 45.0)).filter_map(|s| s["at"].as_i64()).max()?;
        let scaled_in = samples.iter().filter(|s| s["at"].as_i64() > Some(high) && s["desired"] == 2).filter_map(|s| s["at"].as_i64()).min()?;
        Some((samples, high, scaled_in))
    })
    .await;
    assert!(scaled_in - high >= 180, "scaled in {} s after the last busy sample", scaled_in - high);

    // What the charts draw: CPU above the target under load, requests per target from the
    // load balancer.
    assert!(samples.iter().any(|s| s["cpuAverage"].as_f64().is_some_and(|c| c > 50.0)), "{samples:?}");
    assert!(samples.iter().any(|s| s["requestsPerTarget"].as_f64().is_some_and(|r| r > 0.0)), "{samples:?}");
    assert!(samples.iter().any(|s| s["desired"] == 10 && s["running"] == 10), "{samples:?}");
}
