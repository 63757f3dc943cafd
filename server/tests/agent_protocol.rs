//! The agent protocol as the server speaks it, on SQLite and PostgreSQL: a scripted client
//! plays the agent's side of the WebSocket (the real agent binary is exercised against the
//! real server in the system tests; here every message and its store effect is checked).

mod common;

use common::Harness;
use common::agent::Agent;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use serde_json::{Value, json};
use std::time::Duration;

fn report(task: &str, status: &str, exit: Option<i64>, port: Option<i64>) -> Value {
    let bindings = port.map_or(json!([]), |p| json!([{ "containerPort": 8080, "hostPort": p, "protocol": "tcp" }]));
    json!({ "type": "taskStateChange", "task": { "taskId": task, "lastStatus": status,
        "containers": [{ "name": "httpd", "lastStatus": status, "exitCode": exit, "networkBindings": bindings }] } })
}

async fn setup(h: &Harness) -> (std::net::SocketAddr, String, String) {
    h.post("/api/v1/clusters", json!({ "clusterName": "prod" })).await;
    // The host's zone is its token's: the agent's hello says zone a, which is left out.
    let (_, token) = h.post("/api/v1/clusters/prod/join-tokens", json!({ "attributes": [{ "name": "ecs.availability-zone", "value": "t" }] })).await;
    let (status, reg) = h
        .post("/agent/v1/register", json!({ "token": token["token"], "cluster": "prod", "hostname": "host-1", "cpu": 2048, "memory": 1024 }))
        .await;
    assert_eq!(status, 201, "{reg}");
    let (status, _) = h.post("/api/v1/task-definitions", common::fixture("busybox-httpd.json")).await;
    assert_eq!(status, 201);
    let addr = h.serve().await;
    (addr, reg["containerInstance"]["id"].as_str().unwrap().to_string(), reg["credential"].as_str().unwrap().to_string())
}

async fn task_lifecycle_follows_the_agents_reports(h: Harness) {
    let (addr, instance, credential) = setup(&h).await;
    // Not connected yet: StartTask says AGENT.
    let (_, refused) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "hello-httpd", "containerInstances": [instance] })).await;
    assert_eq!(refused["failures"][0]["reason"], "AGENT");

    let (mut agent, welcome) = Agent::connect(addr, &credential, json!([])).await;
    assert_eq!((welcome["type"].as_str(), welcome["containerInstanceId"].as_str()), (Some("welcome"), Some(instance.as_str())));
    let (_, described) = h.get(&format!("/api/v1/clusters/prod/container-instances/{instance}")).await;
    assert_eq!(described["containerInstance"]["agentConnected"], true);
    let attributes = &described["containerInstance"]["attributes"];
    let zone: Vec<&Value> = attributes.as_array().unwrap().iter().filter(|a| a["name"] == "ecs.availability-zone").collect();
    assert_eq!(zone, [&json!({ "name": "ecs.availability-zone", "value": "t" })], "the zone is the join token's: {attributes}");
    assert!(attributes.as_array().unwrap().iter().any(|a| a["name"] == "ecs.capability.container-health-check"), "the hello's own attributes are stored: {attributes}");

    let (status, started) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "hello-httpd:1", "containerInstances": [instance, "nope"] })).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["failures"][0]["reason"], "MISSING");
    let task = started["tasks"][0]["id"].as_str().unwrap().to_string();
    assert_eq!((started["tasks"][0]["lastStatus"].as_str(), started["tasks"][0]["desiredStatus"].as_str()), (Some("PENDING"), Some("RUNNING")));

    let start = agent.next().await;
    assert_eq!(start["type"], "startTask");
    let spec = &start["task"];
    assert_eq!((spec["taskId"].as_str(), spec["taskDefinition"].as_str()), (Some(task.as_str()), Some("hello-httpd:1")));
    assert_eq!(spec["containers"][0]["portMappings"][0], json!({ "containerPort": 8080, "hostPort": 0, "protocol": "tcp" }));
    assert_eq!(spec["containers"][0]["healthCheck"]["retries"], 3);
    assert_eq!(spec["containers"][0]["stopTimeout"], 30, "ECS's default stop timeout");

    agent.send(report(&task, "RUNNING", None, Some(32768))).await;
    agent.send(json!({ "type": "heartbeat" })).await;
    let t = eventually(&h, &task, "RUNNING").await;
    assert_eq!(t["containers"][0]["networkBindings"][0]["hostPort"], 32768);
    assert!(t["startedAt"].is_string());
    let (_, described) = h.get(&format!("/api/v1/clusters/prod/container-instances/{instance}")).await;
    let remaining = &described["containerInstance"]["remainingResources"];
    assert_eq!((remaining[0]["integerValue"].as_i64(), remaining[1]["integerValue"].as_i64()), (Some(2048 - 64), Some(1024 - 32)));
    assert_eq!(remaining[2]["stringSetValue"], json!(["32768"]));
    assert_eq!(described["containerInstance"]["runningTasksCount"], 1);

    // The diagram's reads agree at every detail; the lightest adds up in the database.
    let (_, full) = h.get("/api/v1/clusters/prod/topology").await;
    let (_, counted) = h.get("/api/v1/clusters/prod/topology?detail=instances").await;
    let (_, listed) = h.get("/api/v1/clusters/prod/topology?detail=tasks").await;
    assert_eq!(full["summary"], counted["summary"]);
    let node = |t: &Value| t["instances"][0].clone();
    assert_eq!(
        (node(&counted)["cpu"]["reserved"].as_i64(), node(&counted)["runningTasksCount"].as_i64(), node(&counted)["tasksByService"][""].as_i64()),
        (Some(64), Some(1), Some(1)),
        "{counted}"
    );
    assert_eq!((node(&counted)["tasks"].clone(), node(&listed)["tasks"][0]["containers"].clone()), (json!([]), json!([])));
    assert_eq!(node(&full)["tasks"][0]["containers"][0]["networkBindings"][0]["hostPort"], 32768);
    let (status, bad) = h.get("/api/v1/clusters/prod/topology?detail=everything").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad["message"].as_str().unwrap().contains("detail"), "{bad}");

    // A report cannot move a task backwards, and a bad one is answered with the field.
    agent.send(json!({ "type": "taskStateChange", "task": { "taskId": task, "lastStatus": "SLEEPING", "containers": [] } })).await;
    let refused = agent.next().await;
    assert_eq!(refused["type"], "rejected");
    assert!(refused["reason"].as_str().unwrap().contains("task.lastStatus"), "{refused}");

    let (status, stopping) = h.post(&format!("/api/v1/clusters/prod/tasks/{task}/stop"), json!({ "reason": "maintenance" })).await;
    assert_eq!((status, stopping["task"]["desiredStatus"].as_str()), (StatusCode::OK, Some("STOPPED")));
    let stop = agent.next().await;
    assert_eq!(stop, json!({ "type": "stopTask", "taskId": task, "reason": "maintenance" }));
    agent.send(report(&task, "STOPPED", Some(137), None)).await;
    let t = eventually(&h, &task, "STOPPED").await;
    assert_eq!((t["stoppedReason"].as_str(), t["containers"][0]["exitCode"].as_i64()), (Some("maintenance"), Some(137)));
    let (_, described) = h.get(&format!("/api/v1/clusters/prod/container-instances/{instance}")).await;
    assert_eq!(described["containerInstance"]["remainingResources"][0]["integerValue"], 2048, "a stopped task holds nothing");
    // Stopped by a user: not a failure. One whose essential container exits on its own is.
    let mut conn = h.store.pool().acquire().await.unwrap();
    assert!(wharf_server::store::tasks::recent_failures(&mut conn, "prod", 10).await.unwrap().is_empty());
    let (_, started) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "hello-httpd:1", "containerInstances": [instance] })).await;
    let crashed = started["tasks"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(agent.next().await["type"], "startTask");
    let mut exited = report(&crashed, "STOPPED", Some(1), None);
    exited["task"]["stoppedReason"] = json!("Essential container in task exited");
    agent.send(exited).await;
    eventually(&h, &crashed, "STOPPED").await;
    let failed = wharf_server::store::tasks::recent_failures(&mut conn, "prod", 10).await.unwrap();
    assert_eq!(failed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [crashed.as_str()]);
    assert!(failed[0].failed());
    let newest = wharf_server::store::tasks::recent(&mut conn, "prod", 1).await.unwrap();
    assert_eq!(newest[0].id, crashed, "newest first");
    drop(conn);

    // A task the server does not know is stopped.
    agent.send(report("0123456789abcdef", "RUNNING", None, None)).await;
    let stop = agent.next().await;
    assert_eq!((stop["type"].as_str(), stop["taskId"].as_str()), (Some("stopTask"), Some("0123456789abcdef")));
}

use axum::http::{Method, StatusCode};

async fn eventually(h: &Harness, task: &str, status: &str) -> Value {
    for _ in 0..100 {
        let (_, t) = h.get(&format!("/api/v1/clusters/prod/tasks/{task}")).await;
        if t["task"]["lastStatus"] == status {
            return t["task"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {task} never reached {status}");
}

async fn start_one(h: &Harness, instance: &str) -> String {
    let (_, s) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "hello-httpd", "containerInstances": [instance] })).await;
    s["tasks"][0]["id"].as_str().unwrap().to_string()
}

async fn a_reconnecting_agent_is_reconciled_from_its_hello(h: Harness) {
    let (addr, instance, credential) = setup(&h).await;
    let (mut agent, _) = Agent::connect(addr, &credential, json!([])).await;
    let running = start_one(&h, &instance).await;
    agent.next().await;
    agent.send(report(&running, "RUNNING", None, Some(40000))).await;
    eventually(&h, &running, "RUNNING").await;
    let lost = start_one(&h, &instance).await;
    agent.next().await;
    agent.send(report(&lost, "RUNNING", None, Some(40001))).await;
    eventually(&h, &lost, "RUNNING").await;
    drop(agent);

    // While away: one task is stopped by the user, one is started.
    let (_, stopped) = h.post(&format!("/api/v1/clusters/prod/tasks/{running}/stop"), json!({})).await;
    assert_eq!(stopped["task"]["lastStatus"], "RUNNING", "the agent has not stopped it yet");
    let (_, refused) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "hello-httpd", "containerInstances": [instance] })).await;
    assert_eq!(refused["failures"][0]["reason"], "AGENT");

    // Back: it still runs `running` (stop it) and no longer runs `lost` (mark it stopped); a
    // task the server never heard of is stopped too.
    let tasks = json!([
        { "taskId": running, "lastStatus": "RUNNING", "containers": [{ "name": "httpd", "lastStatus": "RUNNING" }] },
        { "taskId": "feedfacefeedface", "lastStatus": "RUNNING", "containers": [] }
    ]);
    let (mut agent, welcome) = Agent::connect(addr, &credential, tasks).await;
    assert_eq!(welcome["type"], "welcome");
    let mut stops = [agent.next().await, agent.next().await];
    stops.sort_by_key(|m| m["taskId"] != "feedfacefeedface");
    assert_eq!(stops[0], json!({ "type": "stopTask", "taskId": "feedfacefeedface", "reason": "Task is not known to the control plane" }));
    assert_eq!((stops[1]["taskId"].as_str(), stops[1]["reason"].as_str()), (Some(running.as_str()), Some("Task stopped by user")));
    agent.quiet().await;
    let t = eventually(&h, &lost, "STOPPED").await;
    assert_eq!(t["stoppedReason"], "Task is no longer running on its container instance");

    // Drain and deregister reach the agent.
    let (status, drained) = h.patch(&format!("/api/v1/clusters/prod/container-instances/{instance}"), json!({ "status": "DRAINING" })).await;
    assert_eq!((status, drained["containerInstance"]["status"].as_str()), (StatusCode::OK, Some("DRAINING")));
    assert_eq!(agent.next().await, json!({ "type": "drain", "draining": true }));
    let (status, bad) = h.patch(&format!("/api/v1/clusters/prod/container-instances/{instance}"), json!({ "status": "ASLEEP" })).await;
    assert_eq!((status, bad["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("status")));
    let (_, refused) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "hello-httpd", "containerInstances": [instance] })).await;
    assert_eq!(refused["failures"][0]["reason"], "DRAINING");

    let (status, gone) = h.delete(&format!("/api/v1/clusters/prod/container-instances/{instance}")).await;
    assert_eq!((status, gone["containerInstance"]["status"].as_str()), (StatusCode::OK, Some("INACTIVE")));
    // Listed no more, as in ECS, unless asked for by its status; described still.
    let ids = |list: &Value| list["containerInstances"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let (_, listed) = h.get("/api/v1/clusters/prod/container-instances").await;
    assert!(!ids(&listed).contains(&instance), "{listed}");
    let (_, inactive) = h.get("/api/v1/clusters/prod/container-instances?status=INACTIVE").await;
    assert_eq!(ids(&inactive), std::slice::from_ref(&instance));
    let (_, active) = h.get("/api/v1/clusters/prod/container-instances?status=ACTIVE").await;
    assert!(!ids(&active).contains(&instance), "{active}");
    let (status, bad) = h.get("/api/v1/clusters/prod/container-instances?status=GONE").await;
    assert_eq!((status, bad["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("status")), "{bad}");
    let stop = agent.next().await;
    assert_eq!((stop["taskId"].as_str(), stop["reason"].as_str()), (Some(running.as_str()), Some("Container instance deregistered")));
    assert_eq!(agent.next().await, json!({ "type": "deregistered" }));
    let t = eventually(&h, &running, "STOPPED").await;
    assert_eq!(t["stoppedReason"], "Task stopped by user", "the user's earlier stop keeps its reason");

    // The credential no longer opens a session.
    let mut req = format!("ws://{addr}/agent/v1/connect").into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {credential}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status().as_u16(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
}

async fn task_requests_name_every_bad_field(h: Harness) {
    let (_, instance, _) = setup(&h).await;
    let (status, body) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "", "containerInstances": [], "startedBy": "a b" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["taskDefinition", "containerInstances", "startedBy"]);
    let (status, _) = h.post("/api/v1/clusters/nowhere/tasks/start", json!({ "taskDefinition": "hello-httpd", "containerInstances": [instance] })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.delete("/api/v1/task-definitions/hello-httpd:1").await;
    let (status, body) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "hello-httpd:1", "containerInstances": [instance] })).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("taskDefinition")));
    let (status, _) = h.post("/api/v1/clusters/prod/tasks/0000/stop", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = h.post("/api/v1/clusters/prod/tasks/0000/stop", json!({ "reason": "x".repeat(300) })).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("reason")));
}

/// The agent's digest while connected: a start or stop it never received (a full queue) is
/// sent again; what it reports is recorded.
async fn a_digest_makes_good_what_the_agent_missed(h: Harness) {
    let (addr, instance, credential) = setup(&h).await;
    let (mut agent, _) = Agent::connect(addr, &credential, json!([])).await;
    let task = start_one(&h, &instance).await;
    let first = agent.next().await;
    assert_eq!((first["type"].as_str(), first["task"]["taskId"].as_str()), (Some("startTask"), Some(task.as_str())));
    // The agent "lost" it: its digest holds nothing, so the start comes again.
    agent.send(json!({ "type": "reconcile", "tasks": [] })).await;
    let again = agent.next().await;
    assert_eq!((again["type"].as_str(), again["task"]["taskId"].as_str()), (Some("startTask"), Some(task.as_str())), "{again}");
    // Now it runs it; the digest alone records that.
    let running = json!([{ "taskId": task, "lastStatus": "RUNNING", "containers": [{ "name": "httpd", "lastStatus": "RUNNING" }] }]);
    agent.send(json!({ "type": "reconcile", "tasks": running })).await;
    eventually(&h, &task, "RUNNING").await;
    agent.quiet().await;
    // A stop it "lost" comes again too.
    h.post(&format!("/api/v1/clusters/prod/tasks/{task}/stop"), json!({})).await;
    assert_eq!(agent.next().await["type"], "stopTask");
    agent.send(json!({ "type": "reconcile", "tasks": running })).await;
    let stop = agent.next().await;
    assert_eq!((stop["type"].as_str(), stop["taskId"].as_str()), (Some("stopTask"), Some(task.as_str())), "{stop}");
    // A digest that changes nothing does not wait for the writer: answered while a long write
    // holds it.
    {
        let _writer = h.store.write().await.unwrap();
        agent.send(json!({ "type": "reconcile", "tasks": running })).await;
        let stop = tokio::time::timeout(Duration::from_secs(3), agent.next()).await.expect("answered while the writer is busy");
        assert_eq!(stop["type"], "stopTask");
    }
    // A bad digest is refused with the field, and changes nothing.
    agent.send(json!({ "type": "reconcile", "tasks": [{ "taskId": task, "lastStatus": "NAPPING", "containers": [] }] })).await;
    let refused = agent.next().await;
    assert!(refused["reason"].as_str().unwrap().contains("tasks[0].lastStatus"), "{refused}");
    assert_eq!(eventually(&h, &task, "RUNNING").await["desiredStatus"], "STOPPED");
    // A NUL is refused with its field before it reaches a batch other agents share.
    agent.send(json!({ "type": "taskStateChange", "task": { "taskId": task, "lastStatus": "STOPPED", "stoppedReason": "bad\u{0}", "containers": [] } })).await;
    let refused = agent.next().await;
    assert!(refused["reason"].as_str().unwrap().starts_with("task.stoppedReason: text may not contain"), "{refused}");
    // Stopped, then running again there (its start overtook its stop): stopped again at once,
    // not left running uncounted until the next digest.
    agent.send(report(&task, "STOPPED", Some(0), None)).await;
    eventually(&h, &task, "STOPPED").await;
    agent.quiet().await;
    agent.send(report(&task, "RUNNING", None, None)).await;
    let again = agent.next().await;
    assert_eq!((again["type"].as_str(), again["taskId"].as_str()), (Some("stopTask"), Some(task.as_str())), "{again}");
    assert_eq!(eventually(&h, &task, "STOPPED").await["lastStatus"], "STOPPED");
}

/// StartTask books what it starts before it looks at the next instance it was given: one
/// instance named five times with a fixed host port starts one task, not five.
async fn start_task_books_each_task_before_the_next(h: Harness) {
    let (addr, instance, credential) = setup(&h).await;
    let (mut agent, _) = Agent::connect(addr, &credential, json!([])).await;
    let fixed = json!({ "family": "fixed", "containerDefinitions": [{ "name": "web", "image": "local/busybox:1", "memory": 64,
        "portMappings": [{ "containerPort": 80, "hostPort": 8080 }] }] });
    assert_eq!(h.post("/api/v1/task-definitions", fixed).await.0, StatusCode::CREATED);
    let (status, out) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "fixed", "containerInstances": vec![instance.clone(); 5] })).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["tasks"].as_array().unwrap().len(), 1, "{out:#}");
    let reasons: Vec<&str> = out["failures"].as_array().unwrap().iter().map(|f| f["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["RESOURCE:PORTS"; 4], "{out:#}");
    assert!(out["failures"][0]["detail"].as_str().unwrap().contains("8080/tcp"), "{out:#}");
    // Its agent reports it before the container has bound the port (one that waits on another
    // would): the port stays booked all the same.
    let held = out["tasks"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(agent.next().await["type"], "startTask");
    agent.send(report(&held, "RUNNING", None, None)).await;
    eventually(&h, &held, "RUNNING").await;
    let (_, again) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "fixed", "containerInstances": [instance] })).await;
    assert_eq!(again["failures"][0]["reason"], "RESOURCE:PORTS", "a report without bindings freed the booked port: {again:#}");

    // Memory the same way: of the instance's 1024 MiB the port task holds 64; 400 MiB fits twice.
    let big = json!({ "family": "big", "containerDefinitions": [{ "name": "a", "image": "local/busybox:1", "memory": 400 }] });
    h.post("/api/v1/task-definitions", big).await;
    let (_, out) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "big", "containerInstances": vec![instance.clone(); 4] })).await;
    assert_eq!(out["tasks"].as_array().unwrap().len(), 2, "{out:#}");
    assert_eq!(out["failures"][0]["reason"], "RESOURCE:MEMORY");
    assert_eq!(out["failures"][0]["detail"], "needs 400 MiB, 160 free");

    // CPU: the instance offers 2048 units.
    let hungry = json!({ "family": "hungry", "containerDefinitions": [{ "name": "a", "image": "local/busybox:1", "memory": 6, "cpu": 4096 }] });
    h.post("/api/v1/task-definitions", hungry).await;
    let (_, out) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "hungry", "containerInstances": [instance] })).await;
    assert_eq!((out["failures"][0]["reason"].as_str(), out["tasks"].as_array().map(Vec::len)), (Some("RESOURCE:CPU"), Some(0)), "{out:#}");

    // An attribute the task definition requires (dependsOn needs container ordering, which
    // this agent does not offer) refuses the instance; a memberOf constraint does not, as
    // StartTask places where it is told.
    let ordered = json!({ "family": "ordered", "containerDefinitions": [
        { "name": "a", "image": "local/busybox:1", "memory": 6, "dependsOn": [{ "containerName": "b", "condition": "START" }] },
        { "name": "b", "image": "local/busybox:1", "memory": 6 }] });
    h.post("/api/v1/task-definitions", ordered).await;
    let (_, out) = h.post("/api/v1/clusters/prod/tasks/start", json!({ "taskDefinition": "ordered", "containerInstances": [instance] })).await;
    assert_eq!(out["failures"][0]["reason"], "ATTRIBUTE", "{out:#}");
    assert!(out["failures"][0]["detail"].as_str().unwrap().contains("ecs.capability.container-ordering"), "{out:#}");
}

/// A join token past its lifetime registers nothing. The clock is the store's: the token's
/// expiry is moved into the past rather than waited for (the shortest lifetime is a minute).
async fn an_expired_join_token_registers_no_host(h: Harness) {
    h.post("/api/v1/clusters", json!({ "clusterName": "prod" })).await;
    let (status, token) = h.post("/api/v1/clusters/prod/join-tokens", json!({ "expiresInSeconds": 60 })).await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let register = json!({ "token": token["token"], "cluster": "prod", "hostname": "late", "cpu": 1024, "memory": 1024 });
    let id = token["joinToken"]["id"].as_str().unwrap().to_string();
    sqlx::query("UPDATE join_tokens SET expires_at = $1 WHERE id = $2")
        .bind("2020-01-01T00:00:00.000Z")
        .bind(&id)
        .execute(h.store.pool())
        .await
        .unwrap();
    let (status, refused) = h.post("/agent/v1/register", register).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("expired"), "{refused}");
    let (_, listed) = h.get("/api/v1/clusters/prod/join-tokens").await;
    assert_eq!(listed["joinTokens"][0]["status"], "EXPIRED", "{listed}");
    let (status, too_short) = h.post("/api/v1/clusters/prod/join-tokens", json!({ "expiresInSeconds": 5 })).await;
    assert_eq!((status, too_short["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("expiresInSeconds")), "{too_short}");
}

/// A token for two hosts lets exactly two of five hosts racing for it in, and revoking it
/// with its hosts deregisters just those two.
async fn a_limited_join_token_admits_its_hosts_and_takes_them_away(h: Harness) {
    h.post("/api/v1/clusters", json!({ "clusterName": "prod" })).await;
    let (status, token) = h.post("/api/v1/clusters/prod/join-tokens", json!({ "maxUses": 2 })).await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let (_, other) = h.post("/api/v1/clusters/prod/join-tokens", json!({})).await;
    let register = |t: &Value, host: String| json!({ "token": t["token"], "cluster": "prod", "hostname": host, "cpu": 1024, "memory": 1024 });
    let tries = (0..5).map(|i| h.post("/agent/v1/register", register(&token, format!("racer-{i}"))));
    let answers = futures_util::future::join_all(tries).await;
    let admitted: Vec<String> = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).map(|(_, b)| b["containerInstance"]["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(admitted.len(), 2, "{answers:?}");
    assert!(answers.iter().filter(|(s, _)| *s != StatusCode::CREATED).all(|(s, b)| *s == StatusCode::UNAUTHORIZED && b["message"].as_str().unwrap().contains("used up")), "{answers:?}");
    let (_, bystander) = h.post("/agent/v1/register", register(&other, "bystander".into())).await;
    let id = token["joinToken"]["id"].as_str().unwrap();
    let (_, listed) = h.get("/api/v1/clusters/prod/join-tokens").await;
    let mine = listed["joinTokens"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap().clone();
    assert_eq!((&mine["status"], &mine["uses"], &mine["maxUses"]), (&json!("USED_UP"), &json!(2), &json!(2)));
    let (status, revoked) = h.delete(&format!("/api/v1/clusters/prod/join-tokens/{id}?deregisterInstances=true")).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    let mut gone: Vec<String> = serde_json::from_value(revoked["deregisteredInstances"].clone()).unwrap();
    let mut expected = admitted.clone();
    gone.sort();
    expected.sort();
    assert_eq!(gone, expected, "the hosts that joined with it, and only those");
    let (_, still) = h.get(&format!("/api/v1/clusters/prod/container-instances/{}", bystander["containerInstance"]["id"].as_str().unwrap())).await;
    assert_eq!(still["containerInstance"]["status"], "ACTIVE");
    let (status, zero) = h.post("/api/v1/clusters/prod/join-tokens", json!({ "maxUses": 0 })).await;
    assert_eq!((status, zero["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("maxUses")));
}

/// One agent flooding reports does not stall another's. Every session may have at most its
/// own budget of reports waiting in the queue all agents share, so a report from a second
/// agent is stored behind at most that many of the flood's, not behind all of it. The writer
/// is held busy while the flood arrives, as a slow disk would; with one unbounded queue the
/// whole flood would sit ahead of the second agent's report.
async fn a_flooding_agent_does_not_stall_the_others(h: Harness) {
    const FLOOD: usize = 6000;
    /// The server's budget of reports in flight per session (`REPORTS_IN_FLIGHT`).
    const BUDGET: i64 = 512;
    let (addr, flooder, credential) = setup(&h).await;
    let (_, token) = h.post("/api/v1/clusters/prod/join-tokens", json!({})).await;
    let (status, second) = h
        .post("/agent/v1/register", json!({ "token": token["token"], "cluster": "prod", "hostname": "host-2", "cpu": 2048, "memory": 1024 }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let (other, other_credential) = (second["containerInstance"]["id"].as_str().unwrap(), second["credential"].as_str().unwrap());
    let (mut flooding, _) = Agent::connect(addr, &credential, json!([])).await;
    let (mut quiet, _) = Agent::connect(addr, other_credential, json!([])).await;
    // Tasks written straight into the store (no agent is told to start them): the flood's on
    // one instance, a single one on the other.
    let task = |id: String, instance: &str| wharf_server::store::tasks::NewTask {
        id,
        cluster: "prod".into(),
        task_definition: "hello-httpd:1".into(),
        container_instance_id: instance.into(),
        group: None,
        started_by: None,
        service_id: None,
        containers: r#"[{"name":"httpd","image":"local/busybox:1","lastStatus":"PENDING"}]"#.into(),
        cpu: 0,
        memory: 0,
        host_ports: "[]".into(),
    };
    let mut rows: Vec<_> = (0..FLOOD).map(|n| task(format!("flood{n:05}"), &flooder)).collect();
    rows.push(task("lone".into(), other));
    let mut w = h.store.write().await.unwrap();
    wharf_server::store::tasks::insert(w.conn(), &rows, &wharf_server::store::now()).await.unwrap();
    w.commit().await.unwrap();

    let writer = h.store.write().await.unwrap();
    let flood = tokio::spawn(async move {
        for n in 0..FLOOD {
            flooding.send(report(&format!("flood{n:05}"), "RUNNING", None, None)).await;
        }
        flooding
    });
    // Time for an unfair server to read the whole flood into its queue; a fair one stops
    // reading at the budget. (A slow machine can only make this test pass an unfair server,
    // never fail a fair one.)
    tokio::time::sleep(Duration::from_secs(1)).await;
    quiet.send(report("lone", "RUNNING", None, None)).await;
    // A session answers its messages in order: once a nonsense message after the report is
    // refused, the report is in the queue.
    quiet.send(json!({ "type": "nonsense" })).await;
    assert_eq!(quiet.next().await["type"], "rejected");
    drop(writer);

    let ahead = loop {
        let row = sqlx::query(
            "SELECT (SELECT last_status FROM tasks WHERE id = 'lone') AS lone,
                    (SELECT COUNT(*) FROM tasks WHERE container_instance_id = $1 AND last_status = 'RUNNING') AS flood",
        )
        .bind(&flooder)
        .fetch_one(h.store.pool())
        .await
        .unwrap();
        use sqlx::Row;
        if row.get::<String, _>("lone") == "RUNNING" {
            break row.get::<i64, _>("flood");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // At most the batch the writer held and the budget queued beside the lone report.
    assert!(ahead <= 2 * BUDGET, "{ahead} of the flood's {FLOOD} reports were stored before the other agent's one");
    // Nothing of the flood is lost on the way.
    let _flooding = tokio::time::timeout(Duration::from_secs(60), flood).await.expect("the flood is read").unwrap();
    let mut stored = 0;
    for _ in 0..600 {
        stored = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM tasks WHERE container_instance_id = $1 AND last_status = 'RUNNING'")
            .bind(&flooder)
            .fetch_one(h.store.pool())
            .await
            .unwrap();
        if stored == FLOOD as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, FLOOD as i64);
}

/// The agent learns its cluster's task policy in the welcome and whenever it changes, so it can
/// refuse a start the policy forbids whoever sent it.
async fn the_agent_is_told_its_clusters_task_policy(h: Harness) {
    let (addr, _, credential) = setup(&h).await;
    let (mut agent, welcome) = Agent::connect(addr, &credential, json!([])).await;
    assert_eq!(welcome["taskPolicy"], json!({ "level": "restricted" }), "{welcome}");
    let baseline = json!({ "level": "baseline", "allowedHostPaths": ["/srv/data"] });
    let (status, _) = h.patch("/api/v1/clusters/prod", json!({ "taskPolicy": baseline })).await;
    assert_eq!(status, StatusCode::OK);
    let changed = agent.next().await;
    assert_eq!((changed["type"].as_str(), &changed["taskPolicy"]), (Some("taskPolicyChanged"), &baseline), "{changed}");
}

/// An admin's attributes override the host's and its token's, outlive the host's hellos, and
/// go (leaving the token's) when taken away; what is not allowed is refused by field.
async fn an_admin_gives_an_instance_attributes_placement_trusts(h: Harness) {
    let (addr, instance, credential) = setup(&h).await;
    let attrs = |v: &Value| -> Vec<(String, Option<String>)> {
        let mut out: Vec<_> = v["containerInstance"]["attributes"].as_array().unwrap().iter()
            .filter(|a| !a["name"].as_str().unwrap().starts_with("ecs.capability"))
            .map(|a| (a["name"].as_str().unwrap().to_string(), a["value"].as_str().map(str::to_string))).collect();
        out.sort();
        out
    };
    let pair = |n: &str, v: &str| (n.to_string(), Some(v.to_string()));
    let path = format!("/api/v1/clusters/prod/container-instances/{instance}/attributes");
    let (mut agent, _) = Agent::connect(addr, &credential, json!([])).await;
    agent.quiet().await;
    let (status, given) = h.call(Method::PUT, &path, Some(json!({ "attributes": [
        { "name": "ecs.availability-zone", "value": "z9" }, { "name": "rack", "value": "r4" } ] }).to_string())).await;
    assert_eq!(status, StatusCode::OK, "{given}");
    assert_eq!(attrs(&given), [pair("ecs.availability-zone", "z9"), pair("rack", "r4")], "the admin's zone wins over the token's");
    assert_eq!(given["containerInstance"]["adminAttributes"].as_array().unwrap().len(), 2);
    // The host says hello again (it claims zone a): the admin's word stands.
    drop(agent);
    let (mut agent, _) = Agent::connect(addr, &credential, json!([])).await;
    agent.quiet().await;
    let (_, described) = h.get(&format!("/api/v1/clusters/prod/container-instances/{instance}")).await;
    assert_eq!(attrs(&described), [pair("ecs.availability-zone", "z9"), pair("rack", "r4")]);
    // Placement reads them: a constraint on the admin's attribute places there.
    let (status, started) = h.post("/api/v1/clusters/prod/tasks", json!({ "taskDefinition": "hello-httpd", "placementConstraints": [
        { "type": "memberOf", "expression": "attribute:rack == r4" } ] })).await;
    assert_eq!((status, started["tasks"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{started}");
    // Taken away: the token's zone is back, the rack gone.
    let (status, cleared) = h.call(Method::PUT, &path, Some(json!({ "attributes": [] }).to_string())).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(attrs(&cleared), [pair("ecs.availability-zone", "t")]);
    assert!(cleared["containerInstance"].get("adminAttributes").is_none());
    // Refused by field: a reserved name, a bad value, no list at all; nothing changes.
    let (status, bad) = h.call(Method::PUT, &path, Some(json!({ "attributes": [
        { "name": "ecs.os-family", "value": "x" }, { "name": "ok", "value": " padded" } ] }).to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = bad["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["attributes[1].value", "attributes[0].name"], "{bad}");
    let (status, bad) = h.call(Method::PUT, &path, Some("{}".into())).await;
    assert_eq!((status, bad["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("attributes")));
    let (_, described) = h.get(&format!("/api/v1/clusters/prod/container-instances/{instance}")).await;
    assert_eq!(attrs(&described), [pair("ecs.availability-zone", "t")]);
    let (status, _) = h.call(Method::PUT, "/api/v1/clusters/prod/container-instances/nope/attributes", Some(json!({ "attributes": [] }).to_string())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Makes the instance's credential look a day and more old, so its next session rotates it.
async fn age_credential(h: &Harness, instance: &str) {
    sqlx::query("UPDATE container_instances SET credential_issued_at = '2000-01-01T00:00:00.000Z' WHERE id = $1")
        .bind(instance)
        .execute(h.store.pool())
        .await
        .unwrap();
}

/// The credential offered and the offer's name.
fn offered(message: &Value, instance: &str) -> (String, String) {
    assert_eq!(message["type"], "rotateCredential", "{message}");
    let credential = message["credential"].as_str().unwrap().to_string();
    assert!(credential.starts_with(&format!("wic_{instance}_")), "{credential}");
    (credential, message["offer"].as_str().unwrap().to_string())
}

/// A credential past its time is replaced over the agent's session. Until the agent says it
/// saved the new one (or signs in with it) the old one works, so a crash between the two steps
/// on either side never locks the host out; afterwards only the new one works.
async fn an_instance_credential_rotates_and_the_old_one_stops_working(h: Harness) {
    let (addr, instance, first) = setup(&h).await;
    let (mut agent, _) = Agent::connect(addr, &first, json!([])).await;
    agent.quiet().await;
    age_credential(&h, &instance).await;

    // The agent goes before it saves what it was offered: the old credential still works,
    // and the next offer replaces the lost one.
    let (mut agent, _) = Agent::connect(addr, &first, json!([])).await;
    let (lost, lost_offer) = offered(&agent.next().await, &instance);
    drop(agent);
    let (mut agent, _) = Agent::connect(addr, &first, json!([])).await;
    let (second, offer) = offered(&agent.next().await, &instance);
    assert_ne!(second, lost);
    assert!(Agent::refused(addr, &lost).await.contains("not valid"));
    // A confirmation names its offer: the lost one's confirms nothing.
    agent.send(json!({ "type": "credentialSaved", "offer": lost_offer })).await;
    let rejected = agent.next().await;
    assert!(rejected["reason"].as_str().unwrap().contains("no such credential was offered"), "{rejected}");

    // Saved and confirmed: the old one is refused, the new one works and is not replaced again.
    agent.send(json!({ "type": "credentialSaved", "offer": offer })).await;
    agent.quiet().await;
    assert!(Agent::refused(addr, &first).await.contains("not valid"));
    let (mut agent, welcome) = Agent::connect(addr, &second, json!([])).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    agent.quiet().await;
    // A confirmation with nothing on offer is refused by name; the session goes on.
    agent.send(json!({ "type": "credentialSaved", "offer": offer })).await;
    let rejected = agent.next().await;
    assert_eq!(rejected["type"], "rejected");
    assert!(rejected["reason"].as_str().unwrap().contains("no such credential was offered"), "{rejected}");

    // The agent saves the next one and its confirmation is lost: signing in with it confirms it.
    age_credential(&h, &instance).await;
    let (mut agent, _) = Agent::connect(addr, &second, json!([])).await;
    let (third, _) = offered(&agent.next().await, &instance);
    drop(agent);
    let (mut agent, welcome) = Agent::connect(addr, &third, json!([])).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    agent.quiet().await;
    assert!(Agent::refused(addr, &second).await.contains("not valid"));

    // A deregistered instance's credentials all stop, the one on offer too.
    age_credential(&h, &instance).await;
    let (mut agent, _) = Agent::connect(addr, &third, json!([])).await;
    let (fourth, _) = offered(&agent.next().await, &instance);
    let (status, body) = h.delete(&format!("/api/v1/clusters/prod/container-instances/{instance}?force=true")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for credential in [&third, &fourth] {
        assert!(Agent::refused(addr, credential).await.contains("deregistered"));
    }
}

on_both_backends!(
    an_admin_gives_an_instance_attributes_placement_trusts,
    an_instance_credential_rotates_and_the_old_one_stops_working,
    the_agent_is_told_its_clusters_task_policy,
    a_flooding_agent_does_not_stall_the_others,
    an_expired_join_token_registers_no_host,
    a_limited_join_token_admits_its_hosts_and_takes_them_away,
    task_lifecycle_follows_the_agents_reports,
    a_reconnecting_agent_is_reconciled_from_its_hello,
    task_requests_name_every_bad_field,
    a_digest_makes_good_what_the_agent_missed,
    start_task_books_each_task_before_the_next,
);
