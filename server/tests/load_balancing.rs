//! Target groups, listeners, rules and a service's `loadBalancers` through the API, on SQLite
//! and PostgreSQL: ELB's defaults and names, errors by field, one listener per port, teams
//! kept to their own target groups, and targets described from the tasks an agent reports.

mod common;

use axum::http::{Method, StatusCode};
use common::agent::Agent;
use common::{Harness, fixture};
use serde_json::{Value, json};

fn fields(body: &Value) -> Vec<String> {
    body["errors"].as_array().map(|e| e.iter().map(|e| e["field"].as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default()
}

async fn setup(h: &Harness) {
    for team in ["a", "b"] {
        assert!(h.post("/api/v1/teams", json!({ "teamName": team })).await.0.is_success());
    }
    assert!(h.post("/api/v1/clusters", json!({ "clusterName": "shop" })).await.0.is_success());
    for team in ["a", "b"] {
        assert!(h.call(Method::PUT, &format!("/api/v1/clusters/shop/teams/{team}"), None).await.0.is_success());
        let td = fixture("busybox-httpd.json").replace("\"hello-httpd\"", &format!("\"web-{team}\""));
        let (status, body) = h.call(Method::POST, &format!("/api/v1/task-definitions?team={team}"), Some(td)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

async fn target_groups_take_elbs_defaults_and_refuse_nonsense_by_field(h: Harness) {
    setup(&h).await;
    let (status, body) = h.post("/api/v1/clusters/shop/target-groups", json!({ "targetGroupName": "web-a", "teamName": "a" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let tg = &body["targetGroup"];
    assert!(tg["targetGroupArn"].as_str().unwrap().starts_with("arn:wharf:elasticloadbalancing:local:000000000000:targetgroup/web-a/"));
    assert_eq!(
        (&tg["healthCheckPath"], &tg["healthCheckIntervalSeconds"], &tg["healthCheckTimeoutSeconds"], &tg["healthyThresholdCount"], &tg["unhealthyThresholdCount"]),
        (&json!("/"), &json!(30), &json!(5), &json!(5), &json!(2))
    );
    assert_eq!((&tg["matcher"]["httpCode"], &tg["deregistrationDelaySeconds"], &tg["teamName"]), (&json!("200"), &json!(300), &json!("a")));

    let (status, body) = h.post("/api/v1/clusters/shop/target-groups", json!({ "targetGroupName": "web-a", "teamName": "a" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = h
        .post("/api/v1/clusters/shop/target-groups", json!({ "targetGroupName": "bad name", "healthCheckIntervalSeconds": 5, "healthCheckTimeoutSeconds": 5,
            "matcher": { "httpCode": "600" } }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["targetGroupName", "matcher.httpCode", "healthCheckTimeoutSeconds"]);

    // Shorter checks for fast deployments; the change is kept.
    let (status, body) = h
        .patch("/api/v1/clusters/shop/target-groups/web-a", json!({ "healthCheckIntervalSeconds": 2, "healthCheckTimeoutSeconds": 1, "healthyThresholdCount": 2,
            "deregistrationDelay": 10 }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = h.get("/api/v1/clusters/shop/target-groups/web-a").await;
    assert_eq!((&body["targetGroup"]["healthCheckIntervalSeconds"], &body["targetGroup"]["deregistrationDelaySeconds"]), (&json!(2), &json!(10)));
    let (status, body) = h.patch("/api/v1/clusters/shop/target-groups/web-a", json!({ "healthCheckTimeoutSeconds": 2 })).await;
    assert_eq!((status, fields(&body)), (StatusCode::BAD_REQUEST, vec!["healthCheckTimeoutSeconds".to_string()]), "the timeout must stay below the interval");
    assert_eq!(h.get("/api/v1/clusters/shop/target-groups/nope").await.0, StatusCode::NOT_FOUND);
}

async fn a_port_has_one_listener_and_rules_forward_to_the_callers_own_target_groups(h: Harness) {
    setup(&h).await;
    for team in ["a", "b"] {
        let (status, body) = h.post("/api/v1/clusters/shop/target-groups", json!({ "targetGroupName": format!("tg-{team}"), "teamName": team })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = h.post("/api/v1/clusters/shop/listeners", json!({ "port": 18080, "defaultActions": [{ "type": "forward", "targetGroupArn": "tg-a" }] })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["listener"]["listenerArn"], "arn:wharf:elasticloadbalancing:local:000000000000:listener/app/shop/18080");
    assert_eq!(body["listener"]["state"], "PROVISIONING", "no balancer runs in this test's server");
    assert_eq!(h.post("/api/v1/clusters/shop/listeners", json!({ "port": 18080 })).await.0, StatusCode::CONFLICT);
    let (status, body) = h.post("/api/v1/clusters/shop/listeners", json!({ "port": 0, "defaultActions": [{ "type": "forward", "targetGroupArn": "nope" }] })).await;
    assert_eq!((status, fields(&body)), (StatusCode::BAD_REQUEST, vec!["port".to_string()]));
    let (status, body) = h.post("/api/v1/clusters/shop/listeners", json!({ "port": 18090, "defaultActions": [{ "type": "forward", "targetGroupArn": "nope" }] })).await;
    assert_eq!((status, fields(&body)), (StatusCode::BAD_REQUEST, vec!["defaultActions[0].targetGroupArn".to_string()]));

    // Team b's maintainer: its own rule goes in; a rule to team a's group is refused.
    let control = h.state.control.clone();
    control.create_account(&wharf_core::account::Credentials { username: "bob".into(), password: "a long password".into() }, false, false).await.unwrap();
    assert!(h.call(Method::PUT, "/api/v1/teams/b/members/bob", Some(json!({ "role": "maintainer" }).to_string())).await.0.is_success());
    let bob = control.issue_user_token("bob", None, None, "test").await.unwrap().1;
    let rule_for = |priority: i64, group: &str, host: &str| {
        json!({ "priority": priority, "conditions": [{ "field": "host-header", "values": [host] }, { "field": "path-pattern", "values": ["/api/*"] }],
            "actions": [{ "type": "forward", "targetGroupArn": group }] })
        .to_string()
    };
    let rule = |priority: i64, group: &str| rule_for(priority, group, if group == "tg-b" { "b.example" } else { "a.example" });
    let (status, body) = h.call_as(&bob, Method::POST, "/api/v1/clusters/shop/listeners/18080/rules", Some(rule(10, "tg-b"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["listener"]["rules"][0]["teamName"], "b");
    assert!(body["listener"]["defaultActions"].as_array().unwrap().is_empty(), "team a's default is not b's to read: {body}");
    let (status, body) = h.call_as(&bob, Method::POST, "/api/v1/clusters/shop/listeners/18080/rules", Some(rule(11, "tg-a"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A team's rule names its hosts, and no other team's: neither bob nor the admin may point
    // another team's hosts, or every host, at a team's group.
    let everything = json!({ "priority": 1, "conditions": [{ "field": "path-pattern", "values": ["/*"] }], "actions": [{ "type": "forward", "targetGroupArn": "tg-b" }] });
    let (status, body) = h.call_as(&bob, Method::POST, "/api/v1/clusters/shop/listeners/18080/rules", Some(everything.to_string())).await;
    assert_eq!((status, fields(&body)), (StatusCode::BAD_REQUEST, vec!["conditions".to_string()]), "{body}");
    let (status, body) = h.call_as(&bob, Method::POST, "/api/v1/clusters/shop/listeners/18080/rules", Some(rule_for(2, "tg-b", "*.example"))).await;
    assert_eq!((status, fields(&body)), (StatusCode::BAD_REQUEST, vec!["conditions[0].values[0]".to_string()]), "{body}");
    let (status, body) = h.post("/api/v1/clusters/shop/listeners/18080/rules", rule_for(3, "tg-a", "B.example")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("team 'b'"), "{body}");
    let (status, body) = h.post("/api/v1/clusters/shop/listeners/18080/rules", rule(10, "tg-a")).await;
    assert_eq!((status, fields(&body)), (StatusCode::BAD_REQUEST, vec!["priority".to_string()]), "a priority is used once per listener");
    assert!(h.post("/api/v1/clusters/shop/listeners/18080/rules", rule(5, "tg-a")).await.0.is_success());
    let (_, mine) = h.call_as(&bob, Method::GET, "/api/v1/clusters/shop/listeners/18080", None).await;
    let priorities: Vec<&Value> = mine["listener"]["rules"].as_array().unwrap().iter().map(|r| &r["priority"]).collect();
    assert_eq!(priorities, [&json!(10)], "bob reads his team's rule only");
    let (_, all) = h.get("/api/v1/clusters/shop/listeners").await;
    let priorities: Vec<&Value> = all["listeners"][0]["rules"].as_array().unwrap().iter().map(|r| &r["priority"]).collect();
    assert_eq!(priorities, [&json!(5), &json!(10)], "by priority, for the admin");
    assert_eq!(h.call_as(&bob, Method::DELETE, "/api/v1/clusters/shop/listeners/18080/rules/5", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(h.call_as(&bob, Method::POST, "/api/v1/clusters/shop/listeners", Some(json!({ "port": 18081 }).to_string())).await.0, StatusCode::FORBIDDEN);

    // In use: a target group is not deleted under a listener.
    let (status, body) = h.delete("/api/v1/clusters/shop/target-groups/tg-b").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("port 18080"), "{body}");
    assert!(h.call_as(&bob, Method::DELETE, "/api/v1/clusters/shop/listeners/18080/rules/10", None).await.0.is_success());
    assert!(h.call_as(&bob, Method::DELETE, "/api/v1/clusters/shop/target-groups/tg-b", None).await.0.is_success());
    assert!(h.delete("/api/v1/clusters/shop/listeners/18080").await.0.is_success());
    assert_eq!(h.get("/api/v1/clusters/shop/listeners/18080").await.0, StatusCode::NOT_FOUND);
}

async fn a_services_load_balancers_name_its_own_teams_group_and_a_mapped_port(h: Harness) {
    setup(&h).await;
    for team in ["a", "b"] {
        h.post("/api/v1/clusters/shop/target-groups", json!({ "targetGroupName": format!("tg-{team}"), "teamName": team })).await;
    }
    let service = |lbs: Value| json!({ "serviceName": "front", "taskDefinition": "web-a", "desiredCount": 1, "loadBalancers": lbs });
    let (status, body) = h
        .post("/api/v1/clusters/shop/services", service(json!([{ "targetGroupArn": "tg-b", "containerName": "httpd", "containerPort": 8080 },
            { "targetGroupArn": "tg-a", "containerName": "nope", "containerPort": 8080 }, { "targetGroupArn": "tg-a", "containerName": "httpd", "containerPort": 80 },
            { "targetGroupArn": "gone", "containerName": "httpd", "containerPort": 8080 }])))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        fields(&body),
        ["loadBalancers[0].targetGroupArn", "loadBalancers[1].containerName", "loadBalancers[2].containerPort", "loadBalancers[3].targetGroupArn"]
    );
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("belongs to team 'b'"), "{body}");
    let (status, body) = h.post("/api/v1/clusters/shop/services", service(json!([{ "targetGroupArn": "tg-a", "containerName": "httpd", "containerPort": 8080 }]))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let arn = body["service"]["loadBalancers"][0]["targetGroupArn"].as_str().unwrap().to_string();
    let (_, tg) = h.get("/api/v1/clusters/shop/target-groups/tg-a").await;
    assert_eq!((tg["targetGroup"]["targetGroupArn"].as_str().unwrap(), &tg["targetGroup"]["serviceNames"]), (arn.as_str(), &json!(["front"])));
    assert_eq!(h.delete("/api/v1/clusters/shop/target-groups/tg-a").await.0, StatusCode::CONFLICT, "in use by the service");

    // A running task of the service is a target at its instance's address and host port.
    let (mut agent, _) = h.scheduled_agent("shop", 2048).await;
    let id = loop {
        let message = agent.next().await;
        if message["type"] == "startTask" {
            break message["task"]["taskId"].as_str().unwrap().to_string();
        }
    };
    agent
        .send(json!({ "type": "taskStateChange", "task": { "taskId": id, "lastStatus": "RUNNING",
            "containers": [{ "name": "httpd", "lastStatus": "RUNNING", "healthStatus": "HEALTHY",
                "networkBindings": [{ "containerPort": 8080, "hostPort": 32801, "protocol": "tcp" }] }] } }))
        .await;
    let health = loop {
        let (_, body) = h.get("/api/v1/clusters/shop/target-groups/tg-a/targets").await;
        if !body["targetHealthDescriptions"].as_array().unwrap().is_empty() {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let target = &health["targetHealthDescriptions"][0];
    assert_eq!((&target["target"]["id"], &target["target"]["port"]), (&json!("127.0.0.1"), &json!(32801)));
    assert_eq!((&target["taskId"], &target["serviceName"], &target["containerPort"]), (&json!(id), &json!("front"), &json!(8080)));
    assert_eq!(target["targetHealth"]["state"], "initial", "no balancer has looked at it yet");

    // The same targets for other proxies: Prometheus's http_sd and plain JSON.
    let (status, sd) = h.get("/api/v1/clusters/shop/target-groups/tg-a/http-sd").await;
    assert_eq!(status, StatusCode::OK, "{sd}");
    assert_eq!(sd[0]["targets"], json!(["127.0.0.1:32801"]));
    assert_eq!((&sd[0]["labels"]["__meta_wharf_task_id"], &sd[0]["labels"]["__meta_wharf_target_health"]), (&json!(id), &json!("initial")));
    let (_, plain) = h.get("/api/v1/clusters/shop/target-groups/tg-a/endpoints").await;
    assert_eq!((&plain["healthy"], &plain["targets"][0]["address"]), (&json!([]), &json!("127.0.0.1:32801")), "not healthy yet: {plain}");
}

/// Waits for the scheduler's next task on the agent and reports it RUNNING and healthy.
/// `seen` holds messages that came before.
async fn next_running_task(h: &Harness, agent: &mut Agent, seen: &mut Vec<Value>) -> (String, Value) {
    let id = loop {
        let message = if seen.is_empty() { agent.next().await } else { seen.remove(0) };
        if message["type"] == "startTask" {
            break message["task"]["taskId"].as_str().unwrap().to_string();
        }
    };
    let running = json!({ "taskId": id, "lastStatus": "RUNNING", "containers": [{ "name": "httpd", "lastStatus": "RUNNING", "healthStatus": "HEALTHY",
        "networkBindings": [{ "containerPort": 8080, "hostPort": 32802, "protocol": "tcp" }] }] });
    agent.send(json!({ "type": "taskStateChange", "task": running })).await;
    let uri = format!("/api/v1/clusters/shop/tasks/{id}");
    while h.get(&uri).await.1["task"]["lastStatus"] != "RUNNING" {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (id, running)
}

/// The task is draining out of its target group and stays so: neither its agent's reports nor
/// a reconcile stop it; once the load balancer says it drained, the stop goes out once. Other
/// messages (a replacement's start) are kept in `seen`.
async fn drains_then_stops(h: &Harness, agent: &mut Agent, id: &str, running: &Value, seen: &mut Vec<Value>) {
    let uri = format!("/api/v1/clusters/shop/tasks/{id}");
    loop {
        let task = h.get(&uri).await.1;
        if task["task"]["lastStatus"] == "DEACTIVATING" {
            assert_eq!(task["task"]["desiredStatus"], "STOPPED");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, health) = h.get("/api/v1/clusters/shop/target-groups/tg-a/targets").await;
    let target = health["targetHealthDescriptions"].as_array().unwrap().iter().find(|t| t["taskId"] == id).cloned();
    assert_eq!(target.map(|t| t["targetHealth"]["state"].clone()), Some(json!("draining")), "{health}");
    agent.send(json!({ "type": "taskStateChange", "task": running })).await;
    agent.send(json!({ "type": "reconcile", "tasks": [running] })).await;
    for message in agent.within(std::time::Duration::from_millis(400)).await {
        assert!(!(message["type"] == "stopTask" && message["taskId"] == id), "stopped while draining: {message}");
        seen.push(message);
    }
    {
        let mut w = h.store.write().await.unwrap();
        assert!(wharf_server::store::scheduling::drained(w.conn(), id, &wharf_server::store::now()).await.unwrap());
        w.commit().await.unwrap();
    }
    h.state.control.agents().wake_scheduler();
    loop {
        let message = agent.next().await;
        if message["type"] == "stopTask" && message["taskId"] == id {
            break;
        }
        seen.push(message);
    }
    // Told once: a later report does not repeat the stop's bookkeeping.
    let due: Option<String> = sqlx::query_scalar("SELECT deregister_by FROM tasks WHERE id = $1").bind(id).fetch_one(h.store.pool()).await.unwrap();
    assert_eq!(due, None);
    let stopped = json!({ "taskId": id, "lastStatus": "STOPPED", "containers": [{ "name": "httpd", "lastStatus": "STOPPED", "exitCode": 0 }] });
    agent.send(json!({ "type": "taskStateChange", "task": stopped })).await;
}

/// A task leaving its target groups keeps running while it drains, whichever way it leaves:
/// a scale-in, StopTask, or deleting the service. The deregistration stops it, once drained.
async fn a_task_drains_before_its_agent_is_told_to_stop_it(h: Harness) {
    setup(&h).await;
    h.post("/api/v1/clusters/shop/target-groups", json!({ "targetGroupName": "tg-a", "teamName": "a", "deregistrationDelaySeconds": 600 })).await;
    let service = json!({ "serviceName": "front", "taskDefinition": "web-a", "desiredCount": 1,
        "loadBalancers": [{ "targetGroupArn": "tg-a", "containerName": "httpd", "containerPort": 8080 }] });
    assert_eq!(h.post("/api/v1/clusters/shop/services", service).await.0, StatusCode::CREATED);
    let (mut agent, _) = h.scheduled_agent("shop", 2048).await;

    let seen = &mut Vec::new();

    // Scaled in.
    let (id, running) = next_running_task(&h, &mut agent, seen).await;
    assert!(h.patch("/api/v1/clusters/shop/services/front", json!({ "desiredCount": 0 })).await.0.is_success());
    drains_then_stops(&h, &mut agent, &id, &running, seen).await;

    // Stopped by hand (ECS's StopTask): DEACTIVATING at once, and the answer says so.
    assert!(h.patch("/api/v1/clusters/shop/services/front", json!({ "desiredCount": 1 })).await.0.is_success());
    let (id, running) = next_running_task(&h, &mut agent, seen).await;
    let (status, stopped) = h.post(&format!("/api/v1/clusters/shop/tasks/{id}/stop"), json!({ "reason": "by hand" })).await;
    assert_eq!((status, &stopped["task"]["lastStatus"]), (StatusCode::OK, &json!("DEACTIVATING")), "{stopped}");
    drains_then_stops(&h, &mut agent, &id, &running, seen).await;
    let (_, task) = h.get(&format!("/api/v1/clusters/shop/tasks/{id}")).await;
    assert_eq!(task["task"]["stoppedReason"], "by hand");

    // The service deleted with its task running (the replacement of the one stopped by hand).
    let (id, running) = next_running_task(&h, &mut agent, seen).await;
    let (status, deleted) = h.delete("/api/v1/clusters/shop/services/front?force=true").await;
    assert_eq!((status, &deleted["service"]["status"]), (StatusCode::OK, &json!("DRAINING")), "{deleted}");
    drains_then_stops(&h, &mut agent, &id, &running, seen).await;
}

on_both_backends!(
    a_task_drains_before_its_agent_is_told_to_stop_it,
    target_groups_take_elbs_defaults_and_refuse_nonsense_by_field,
    a_port_has_one_listener_and_rules_forward_to_the_callers_own_target_groups,
    a_services_load_balancers_name_its_own_teams_group_and_a_mapped_port,
);
