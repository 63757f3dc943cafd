//! Service auto scaling through the API, on SQLite and PostgreSQL, with a scripted agent
//! reporting its tasks' CPU over a real WebSocket and an injected clock (no sleeps) driving
//! the samples, cooldowns and schedules: target tracking out in proportion and back in after
//! its cooldowns, every decision explained, manual counts clamped, scheduled actions firing
//! at their local minute across a daylight saving change.

mod common;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use common::agent::Agent;
use common::{Harness, fixture};
use serde_json::{Value, json};
use wharf_server::autoscaling::Autoscaler;

fn fields(body: &Value) -> Vec<String> {
    body["errors"].as_array().map(|e| e.iter().map(|e| e["field"].as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default()
}

const SERVICE: &str = "/api/v1/clusters/shop/services/front";

/// Team a's service `front` of 2 tasks reserving 64 CPU units each.
async fn setup(h: &Harness) {
    assert!(h.post("/api/v1/teams", json!({ "teamName": "a" })).await.0.is_success());
    assert!(h.post("/api/v1/clusters", json!({ "clusterName": "shop" })).await.0.is_success());
    assert!(h.call(Method::PUT, "/api/v1/clusters/shop/teams/a", None).await.0.is_success());
    let td = fixture("busybox-httpd.json").replace("\"hello-httpd\"", "\"web-a\"");
    let (status, body) = h.call(Method::POST, "/api/v1/task-definitions?team=a", Some(td)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = h.post("/api/v1/clusters/shop/services", json!({ "serviceName": "front", "taskDefinition": "web-a", "desiredCount": 2 })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Plays the agent until the service runs as many tasks as it wants and its deployment is
/// steady: starts report RUNNING, stops STOPPED. `running` follows the task ids.
async fn settle(h: &Harness, agent: &mut Agent, running: &mut Vec<String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        assert!(std::time::Instant::now() < deadline, "the service did not settle within a minute");
        let (_, body) = h.get(SERVICE).await;
        let s = &body["service"];
        let steady = s["deployments"].as_array().unwrap().iter().all(|d| d["rolloutState"] == "COMPLETED");
        if s["runningCount"] == s["desiredCount"] && s["pendingCount"] == 0 && running.len() as i64 == s["desiredCount"].as_i64().unwrap() && steady {
            return;
        }
        for message in agent.within(std::time::Duration::from_millis(150)).await {
            match message["type"].as_str() {
                Some("startTask") => {
                    let id = message["task"]["taskId"].as_str().unwrap().to_string();
                    let task = json!({ "taskId": id, "lastStatus": "RUNNING", "containers": [{ "name": "httpd", "lastStatus": "RUNNING", "healthStatus": "HEALTHY" }] });
                    agent.send(json!({ "type": "taskStateChange", "task": task })).await;
                    running.push(id);
                }
                Some("stopTask") => {
                    let id = message["taskId"].as_str().unwrap().to_string();
                    let task = json!({ "taskId": id, "lastStatus": "STOPPED", "containers": [{ "name": "httpd", "lastStatus": "STOPPED", "exitCode": 0 }] });
                    agent.send(json!({ "type": "taskStateChange", "task": task })).await;
                    running.retain(|r| *r != id);
                }
                _ => {}
            }
        }
    }
}

/// The agent reports each running task using `cpu` units (of the 64 it reserves), and the
/// server has taken the report in.
async fn report_cpu(h: &Harness, agent: &mut Agent, instance: &str, running: &[String], cpu: i64) {
    let tasks: Vec<Value> = running.iter().map(|id| json!({ "taskId": id, "cpu": cpu, "memory": 8 })).collect();
    agent.send(json!({ "type": "usage", "host": { "cpu": cpu * tasks.len() as i64, "memory": 512 }, "tasks": tasks })).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        assert!(std::time::Instant::now() < deadline, "the usage report was not taken in");
        let usage = h.state.control.agents().task_usage(instance);
        if running.iter().all(|id| usage.get(id).map(|u| u.0) == Some(cpu)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The newest activity that moved the count.
async fn last_scaling(h: &Harness) -> Value {
    activities(h).await.into_iter().find(|a| a["statusCode"] == "Successful").expect("a scaling activity")
}

async fn desired(h: &Harness) -> i64 {
    h.get(SERVICE).await.1["service"]["desiredCount"].as_i64().unwrap()
}

async fn activities(h: &Harness) -> Vec<Value> {
    let (status, body) = h.get(&format!("{SERVICE}/scaling")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["scalingActivities"].as_array().unwrap().clone()
}

/// Samples every 5 s from `from` to `to` (seconds after `t0`), evaluating after each; returns
/// the desired count after each evaluation.
async fn run(scaler: &mut Autoscaler, t0: DateTime<Utc>, from: i64, to: i64) -> Vec<(i64, Vec<String>)> {
    let mut out = Vec::new();
    let mut k = from;
    while k <= to {
        let now = t0 + Duration::seconds(k);
        scaler.sample(now).await.unwrap();
        out.push((k, scaler.evaluate(now).await.unwrap()));
        k += 5;
    }
    out
}

async fn target_tracking_scales_out_in_proportion_then_in_after_its_cooldowns(h: Harness) {
    setup(&h).await;
    // Bounds first; then a policy; nonsense is refused by field.
    let (status, _) = h.call(Method::PUT, &format!("{SERVICE}/scaling-policies/cpu"), Some(json!({ "policyType": "TargetTrackingScaling" }).to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the configuration is missing");
    let policy = json!({ "policyType": "TargetTrackingScaling", "targetTrackingScalingPolicyConfiguration": { "targetValue": 50.0,
        "predefinedMetricSpecification": { "predefinedMetricType": "ECSServiceAverageCPUUtilization" }, "scaleOutCooldown": 60, "scaleInCooldown": 120 } });
    let (status, body) = h.call(Method::PUT, &format!("{SERVICE}/scaling-policies/cpu"), Some(policy.to_string())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no scalable target yet: {body}");
    let (status, body) = h.call(Method::PUT, &format!("{SERVICE}/scalable-target"), Some(json!({ "minCapacity": 5, "maxCapacity": 3 }).to_string())).await;
    assert_eq!((status, fields(&body)), (StatusCode::BAD_REQUEST, vec!["maxCapacity".to_string()]));
    let (status, body) = h.call(Method::PUT, &format!("{SERVICE}/scalable-target"), Some(json!({ "minCapacity": 2, "maxCapacity": 5 }).to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["scalableTarget"]["resourceId"], &body["scalableTarget"]["scalableDimension"]), (&json!("service/shop/front"), &json!("ecs:service:DesiredCount")));
    let (status, body) = h.call(Method::PUT, &format!("{SERVICE}/scaling-policies/bad%20name"), Some(policy.to_string())).await;
    assert_eq!((status, fields(&body)), (StatusCode::BAD_REQUEST, vec!["policyName".to_string()]));
    let (status, body) = h.call(Method::PUT, &format!("{SERVICE}/scaling-policies/cpu"), Some(policy.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (mut agent, instance) = h.scheduled_agent("shop", 8192).await;
    let mut running = Vec::new();
    settle(&h, &mut agent, &mut running).await;
    let mut scaler = Autoscaler::new((*h.state.control).clone());
    let t0 = Utc::now();

    // Idle at 20 %: nothing to do for the first minutes (not yet three minutes of samples).
    report_cpu(&h, &mut agent, &instance, &running, 13).await;
    assert!(run(&mut scaler, t0, 0, 60).await.iter().all(|(_, moved)| moved.is_empty()));
    assert_eq!(desired(&h).await, 2);

    // A burst to 90 %: the first evaluation with it in the last minute's mean above 50 %
    // scales out, in proportion: the mean of 20 % and 90 % samples decides when.
    report_cpu(&h, &mut agent, &instance, &running, 58).await;
    let mut first = None;
    for k in (65..=120).step_by(5) {
        if run(&mut scaler, t0, k, k).await.iter().any(|(_, moved)| !moved.is_empty()) {
            first = Some(k);
            break;
        }
    }
    let first = first.expect("scaled out");
    assert!(first - 65 <= 30, "answered {} s after the burst", first - 65);
    let out = desired(&h).await;
    assert!((3..=5).contains(&out), "{out}");
    let newest = &last_scaling(&h).await;
    assert_eq!((&newest["statusCode"], &newest["policyName"], &newest["fromCount"]), (&json!("Successful"), &json!("cpu"), &json!(2)), "{newest}");
    assert!(newest["cause"].as_str().unwrap().contains("ECSServiceAverageCPUUtilization") && newest["cause"].as_str().unwrap().contains("above target 50.0"), "{newest}");
    let (_, body) = h.get(SERVICE).await;
    let told = body["service"]["events"].as_array().unwrap().iter().any(|e| e["message"].as_str().unwrap().contains(&format!("auto scaling set the desired count from 2 to {out}")));
    assert!(told, "a service event says so: {body}");

    // Still hot, within the scale-out cooldown (60 s): what that scale-out added counts toward
    // the next. Asked from 2, the load in full (90.6 %) wants ceil(2 × 90.6 / 50) = 4 and no
    // more: if the first step fell short of it, one more step to 4. Each stretch of holds
    // between moves is said once.
    settle(&h, &mut agent, &mut running).await;
    report_cpu(&h, &mut agent, &instance, &running, 58).await;
    run(&mut scaler, t0, first + 5, first + 55).await;
    assert_eq!(desired(&h).await, 4, "no more than one scale-out from 2 asks for");
    let list = activities(&h).await;
    let within: Vec<&Value> = list.iter().filter(|a| a["statusCode"] == "Successful" && a["fromCount"] != 2).collect();
    assert_eq!(within.len(), usize::from(out < 4), "{list:?}");
    assert!(within.iter().all(|a| a["cause"].as_str().unwrap().contains("counted from 2")), "{within:?}");
    assert_eq!(list[0]["statusCode"], "Held", "{list:?}");
    assert!(list[0]["cause"].as_str().unwrap().contains("scale-out cooldown"), "{:?}", list[0]);
    assert!(list.windows(2).all(|w| w[0]["statusCode"] != "Held" || w[1]["statusCode"] != "Held"), "told once, not every 5 s: {list:?}");
    // After it: up again, capped by maxCapacity.
    run(&mut scaler, t0, first + 60, first + 60).await;
    assert_eq!(desired(&h).await, 5);
    assert!(last_scaling(&h).await["cause"].as_str().unwrap().contains("capped by maxCapacity 5"));
    settle(&h, &mut agent, &mut running).await;

    // A manual change is kept within the bounds.
    let (status, body) = h.patch(SERVICE, json!({ "desiredCount": 50 })).await;
    assert_eq!((status, &body["service"]["desiredCount"]), (StatusCode::OK, &json!(5)), "{body}");
    assert!(body["service"]["events"][0]["message"].as_str().unwrap().contains("outside the scalable target's bounds [2, 5]"), "{body}");

    // Quiet at 10 %: in only after three minutes clearly below and the scale-in cooldown,
    // straight to what the load needs, no lower than minCapacity.
    report_cpu(&h, &mut agent, &instance, &running, 6).await;
    let quiet_from = first + 65;
    let timeline = run(&mut scaler, t0, quiet_from, quiet_from + 240).await;
    let back = timeline.iter().find(|(_, moved)| !moved.is_empty()).map(|(k, _)| *k).expect("scaled in");
    // (The first quiet sample stands for the five seconds before it.)
    assert!((175..=200).contains(&(back - quiet_from)), "in after three minutes below: {}", back - quiet_from);
    assert_eq!(desired(&h).await, 2);
    let newest = &last_scaling(&h).await;
    assert_eq!((&newest["fromCount"], &newest["toCount"]), (&json!(5), &json!(2)), "{newest}");
    assert!(newest["cause"].as_str().unwrap().contains("below target 50.0"), "{newest}");

    // The chart's data: desired and running over time, and the decisions among them.
    let (status, metrics) = h.get(&format!("{SERVICE}/metrics?minutes=60")).await;
    assert_eq!(status, StatusCode::OK);
    let samples = metrics["samples"].as_array().unwrap();
    assert!(samples.len() > 40, "{}", samples.len());
    assert!(samples.iter().any(|s| s["desired"] == 5 && s["running"] == 5 && s["cpuAverage"].as_f64().is_some_and(|c| (c - 9.375).abs() < 0.01)), "{samples:?}");
    assert!(metrics["scalingActivities"].as_array().unwrap().len() >= 3);
    assert_eq!(h.get(&format!("{SERVICE}/metrics?minutes=0")).await.0, StatusCode::BAD_REQUEST);
    // Deleting asks for a count of 0 first, which the bounds hold off: the refusal says so.
    let (status, body) = h.delete(SERVICE).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["message"].as_str().unwrap().contains("its scalable target keeps at least 2: deregister it first"), "{body}");
    // And the host's own use, sampled with them: five tasks of 6 units.
    let (status, host) = h.get(&format!("/api/v1/clusters/shop/container-instances/{instance}/metrics")).await;
    assert_eq!(status, StatusCode::OK, "{host}");
    assert!(host["samples"].as_array().unwrap().iter().any(|s| s["cpu"] == 30 && s["memory"] == 512), "{host}");
}

async fn scheduled_actions_fire_at_their_local_minute_across_a_daylight_saving_change(h: Harness) {
    setup(&h).await;
    let (status, _) = h.call(Method::PUT, &format!("{SERVICE}/scalable-target"), Some(json!({ "minCapacity": 1, "maxCapacity": 4 }).to_string())).await;
    assert_eq!(status, StatusCode::OK);
    let bad = json!({ "schedule": "cron(0 25 * * ? *)", "timezone": "Mars/Olympus", "scalableTargetAction": { "minCapacity": 9, "maxCapacity": 3 } });
    let (status, body) = h.call(Method::PUT, &format!("{SERVICE}/scheduled-actions/morning"), Some(bad.to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["scalableTargetAction.maxCapacity", "schedule", "timezone"]);
    // 08:00 every day in Berlin raises the floor; 20:00 lowers it again.
    for (name, hour, min) in [("morning", 8, 3), ("evening", 20, 1)] {
        let action = json!({ "schedule": format!("cron(0 {hour} * * ? *)"), "timezone": "Europe/Berlin", "scalableTargetAction": { "minCapacity": min } });
        let (status, body) = h.call(Method::PUT, &format!("{SERVICE}/scheduled-actions/{name}"), Some(action.to_string())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["scheduledAction"]["nextRunLocalTime"].as_str().unwrap().contains(&format!("{hour:02}:00")), "{body}");
    }
    let (_, scaling) = h.get(&format!("{SERVICE}/scaling")).await;
    assert_eq!(scaling["scheduledActions"].as_array().unwrap().len(), 2);
    assert!(scaling["scheduledActions"][0]["nextRunTime"].is_string(), "shown with its next run: {scaling}");

    // The actions were made on New Year's Day (so the clock may be set to days that straddle
    // Berlin's change to summer time on Sunday 29 March 2026, whatever today is: 08:00 is 07:00
    // UTC before it, 06:00 UTC after).
    sqlx::query("UPDATE scheduled_actions SET created_at = '2026-01-01T00:00:00.000Z'").execute(h.store.pool()).await.unwrap();
    let mut scaler = Autoscaler::new((*h.state.control).clone());
    let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    scaler.evaluate(utc("2026-03-28T06:59:00Z")).await.unwrap();
    // Missed runs are made once, as the latest of each: the evening's floor of 1 stands.
    assert_eq!(desired(&h).await, 2);
    scaler.evaluate(utc("2026-03-28T07:00:00Z")).await.unwrap();
    assert_eq!(desired(&h).await, 3, "08:00 CET is 07:00 UTC");
    let (_, scaling) = h.get(&format!("{SERVICE}/scaling")).await;
    assert_eq!(scaling["scalableTarget"]["minCapacity"], 3);
    let runs = |s: &Value| s["scalingActivities"].as_array().unwrap().iter().filter(|a| a["cause"].as_str().unwrap().contains("scheduled action morning")).count();
    let causes = |s: &Value| s["scalingActivities"].as_array().unwrap().iter().map(|a| a["cause"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(causes(&scaling).iter().any(|c| c.contains("scheduled action morning ran at 2026-03-28 08:00 CET")), "{scaling}");
    scaler.evaluate(utc("2026-03-28T19:00:00Z")).await.unwrap();
    let (_, scaling) = h.get(&format!("{SERVICE}/scaling")).await;
    assert_eq!(scaling["scalableTarget"]["minCapacity"], 1, "20:00 CET");
    assert_eq!(desired(&h).await, 3, "a lower floor does not scale in by itself");
    // After the change: 05:59 UTC is 07:59 CEST, nothing yet; 06:00 UTC is 08:00 CEST.
    let before = runs(&scaling);
    scaler.evaluate(utc("2026-03-29T05:59:00Z")).await.unwrap();
    assert_eq!(runs(&h.get(&format!("{SERVICE}/scaling")).await.1), before);
    scaler.evaluate(utc("2026-03-29T06:00:00Z")).await.unwrap();
    let (_, scaling) = h.get(&format!("{SERVICE}/scaling")).await;
    assert_eq!(runs(&scaling), before + 1, "08:00 CEST is 06:00 UTC");
    assert!(causes(&scaling).iter().any(|c| c.contains("scheduled action morning ran at 2026-03-29 08:00 CEST")), "{scaling}");
    // Once: the same minute again does nothing.
    scaler.evaluate(utc("2026-03-29T06:00:30Z")).await.unwrap();
    assert_eq!(runs(&h.get(&format!("{SERVICE}/scaling")).await.1), before + 1);

    // Suspended scheduled scaling: the evening run is passed over, said once for the
    // suspension (not at the next evening's run, passed over too); on resume neither is made
    // after all, and the run after it is.
    let suspend = json!({ "suspendedState": { "scheduledScalingSuspended": true } });
    assert!(h.call(Method::PUT, &format!("{SERVICE}/scalable-target"), Some(suspend.to_string())).await.0.is_success());
    scaler.evaluate(utc("2026-03-29T18:00:00Z")).await.unwrap();
    let (_, scaling) = h.get(&format!("{SERVICE}/scaling")).await;
    assert_eq!(scaling["scalableTarget"]["minCapacity"], 3);
    let passed = "scheduled action evening was due at 2026-03-29 20:00 CEST (2026-03-29T18:00:00.000Z) while scheduled scaling is suspended: passed over";
    assert_eq!(causes(&scaling).iter().filter(|c| c.as_str() == passed).count(), 1, "{scaling}");
    scaler.evaluate(utc("2026-03-29T18:00:05Z")).await.unwrap();
    scaler.evaluate(utc("2026-03-30T18:00:00Z")).await.unwrap();
    let (_, scaling) = h.get(&format!("{SERVICE}/scaling")).await;
    assert_eq!(causes(&scaling).iter().filter(|c| c.starts_with("scheduled action evening was due")).count(), 1, "said once: {scaling}");
    let resume = json!({ "suspendedState": { "scheduledScalingSuspended": false } });
    assert!(h.call(Method::PUT, &format!("{SERVICE}/scalable-target"), Some(resume.to_string())).await.0.is_success());
    scaler.evaluate(utc("2026-03-30T18:05:00Z")).await.unwrap();
    assert_eq!(h.get(&format!("{SERVICE}/scaling")).await.1["scalableTarget"]["minCapacity"], 3, "the passed-over runs are not made on resume");
    scaler.evaluate(utc("2026-03-31T18:00:00Z")).await.unwrap();
    assert_eq!(h.get(&format!("{SERVICE}/scaling")).await.1["scalableTarget"]["minCapacity"], 1, "the next evening runs");
    // Deregistering takes the policies and actions with it.
    assert!(h.delete(&format!("{SERVICE}/scalable-target")).await.0.is_success());
    let (_, scaling) = h.get(&format!("{SERVICE}/scaling")).await;
    assert!(scaling["scalableTarget"].is_null() && scaling["scheduledActions"].as_array().unwrap().is_empty(), "{scaling}");
}

on_both_backends!(
    target_tracking_scales_out_in_proportion_then_in_after_its_cooldowns,
    scheduled_actions_fire_at_their_local_minute_across_a_daylight_saving_change,
);
