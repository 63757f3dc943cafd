//! Joining, the WebSocket protocol, heartbeats, the install script and the simulator, with
//! the real binaries (simulated and process runtimes: no Docker needed).

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wharf_systest::*;

#[tokio::test]
async fn an_agent_joins_with_a_token_and_a_revoked_or_wrong_token_is_refused() {
    let server = Server::start(1).await;
    let cluster = unique("join");
    let token = server.cluster_with_token(&cluster).await;
    let revoked = server.ok("POST", &format!("/api/v1/clusters/{cluster}/join-tokens"), Some(json!({}))).await;
    server.ok("DELETE", &format!("/api/v1/clusters/{cluster}/join-tokens/{}", revoked["joinToken"]["id"].as_str().unwrap()), None).await;

    let mut refused = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", revoked["token"].as_str().unwrap(), "--runtime", "simulated"]);
    assert_eq!(refused.exit_code(Duration::from_secs(20)).await, Some(1));
    assert!(refused.log().contains("revoked"), "the refusal says why: {}", refused.log());

    let mut wrong_cluster = Agent::start(&["--server", &server.url, "--cluster", "elsewhere", "--token", &token, "--runtime", "simulated"]);
    assert_eq!(wrong_cluster.exit_code(Duration::from_secs(20)).await, Some(1));
    assert!(wrong_cluster.log().contains(&format!("belongs to cluster '{cluster}', not 'elsewhere'")), "{}", wrong_cluster.log());
    assert!(server.instances(&cluster).await.is_empty(), "refused joins leave no instance behind");

    // The host says it is in eu-1z; its join token says eu-1a, and placement trusts the token.
    let zoned = server.join_token(&cluster, json!({ "attributes": [{ "name": "ecs.availability-zone", "value": "eu-1a" }] })).await;
    let agent = Agent::start(&[
        "--server", &server.url, "--cluster", &cluster, "--token", &zoned, "--runtime", "simulated",
        "--zone", "eu-1z", "--instance-type", "m.large", "--attribute", "team=web", "--attribute", "gpu",
        "--cpu", "4096", "--memory", "8192", "--reserved-memory", "512",
    ]);
    let instance = server.connected(&cluster, 1).await.remove(0);
    let attr = |name: &str| instance["attributes"].as_array().unwrap().iter().find(|a| a["name"] == name).map(|a| a["value"].clone());
    assert_eq!(attr("ecs.availability-zone"), Some(json!("eu-1a")));
    assert_eq!(attr("ecs.instance-type"), Some(json!("m.large")));
    assert_eq!(attr("ecs.os-type"), Some(json!("linux")));
    assert_eq!(attr("team"), Some(json!("web")));
    assert!(attr("gpu").is_some());
    assert!(attr("ecs.capability.container-health-check").is_some());
    assert_eq!(instance["registeredResources"][0]["integerValue"], 4096);
    assert_eq!(instance["registeredResources"][1]["integerValue"], 8192 - 512, "the host's reservation is not offered");
    assert_eq!(instance["versionInfo"]["agentVersion"], env_version());

    // The credential, not the token, is what the agent keeps.
    let identity = std::fs::read_to_string(agent.state.path().join("state/identity.json")).unwrap();
    assert!(identity.contains("\"credential\": \"wic_") && !identity.contains(&token));
    let mode = std::fs::metadata(agent.state.path().join("state/identity.json")).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777).unwrap();
    assert_eq!(mode, 0o600);
}

/// The credential the agent has saved.
fn saved_credential(agent: &Agent) -> String {
    let identity = std::fs::read_to_string(agent.state.path().join("state/identity.json")).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&identity).ok().and_then(|v| v["credential"].as_str().map(str::to_string)).unwrap_or_default()
}

async fn credential_refused(server: &Server, credential: &str) -> bool {
    let mut req = format!("ws://127.0.0.1:{}/agent/v1/connect", server.port).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {credential}").parse().unwrap());
    matches!(tokio_tungstenite::connect_async(req).await, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401)
}

/// The real agent takes the new credentials its server hands it, keeps its session and its
/// instance, and comes back with the newest after being killed; the old ones stop working and
/// no log line carries one.
#[tokio::test]
async fn instance_credentials_rotate_under_a_connected_agent() {
    let server = Server::start_with(1, &["--instance-credential-rotation-seconds", "2"]).await;
    let cluster = unique("rotate");
    let token = server.cluster_with_token(&cluster).await;
    let mut agent = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "--runtime", "simulated"]);
    let instance = server.connected(&cluster, 1).await[0]["id"].as_str().unwrap().to_string();
    let mut seen = vec![saved_credential(&agent)];
    for _ in 0..2 {
        let next = eventually("a new credential saved", Duration::from_secs(20), || async {
            let now = saved_credential(&agent);
            (!now.is_empty() && !seen.contains(&now)).then_some(now)
        })
        .await;
        seen.push(next);
    }
    // The previous ones stop once the agent confirms the newest (the newest may already be
    // on its way out: each lives two seconds).
    for old in &seen[..seen.len() - 1] {
        eventually("the old credential refused", Duration::from_secs(10), || async { credential_refused(&server, old).await.then_some(()) }).await;
    }
    agent.kill9().await;
    agent.start_again();
    eventually("the agent back with its saved credential", Duration::from_secs(20), || async {
        let instances = server.instances(&cluster).await;
        (instances.len() == 1 && instances[0]["id"] == instance.as_str() && instances[0]["agentConnected"] == true).then_some(())
    })
    .await;
    assert!(!agent.log().contains("registering again"), "{}", agent.log());
    let logs = format!("{}{}", server.log(), agent.log());
    for credential in &seen {
        let secret = credential.rsplit('_').next().unwrap();
        assert!(!logs.contains(secret), "a credential was logged");
    }
    assert!(agent.log().contains("the instance credential was rotated"), "{}", agent.log());

    // The server refuses the newest credential the agent holds (an offer it replaced after the
    // agent saved it): the agent falls back to the one before, once, and keeps its instance.
    agent.kill9().await;
    let path = agent.state.path().join("state/identity.json");
    let mut identity: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let good = identity["credential"].as_str().unwrap().to_string();
    identity["previousCredential"] = json!(good);
    identity["credential"] = json!(format!("wic_{instance}_{}", "0".repeat(64)));
    std::fs::write(&path, identity.to_string()).unwrap();
    let before = agent.log().len();
    agent.start_again();
    eventually("the agent back on the credential before", Duration::from_secs(20), || async {
        let log = agent.log();
        log[before..].contains("trying the one before it").then_some(())
    })
    .await;
    eventually("the same instance welcomed again", Duration::from_secs(20), || async {
        let log = agent.log();
        let after = &log[before..];
        let fell_back = after.find("trying the one before it")?;
        let instances = server.instances(&cluster).await;
        (after[fell_back..].contains(" connected") && instances.len() == 1 && instances[0]["id"] == instance.as_str()).then_some(())
    })
    .await;
    assert!(!agent.log()[before..].contains("registering again"), "{}", agent.log());
}

fn env_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[tokio::test]
async fn the_websocket_refuses_bad_credentials_and_other_protocol_versions() {
    let server = Server::start(1).await;
    let cluster = unique("proto");
    let token = server.cluster_with_token(&cluster).await;
    let reg = server
        .ok("POST", "/agent/v1/register", Some(json!({ "token": token, "hostname": "h1", "cpu": 1024, "memory": 512 })))
        .await;
    let credential = reg["credential"].as_str().unwrap().to_string();
    let ws_url = format!("ws://127.0.0.1:{}/agent/v1/connect", server.port);

    let mut bad = ws_url.clone().into_client_request().unwrap();
    bad.headers_mut().insert("authorization", "Bearer wic_nope_nope".parse().unwrap());
    match tokio_tungstenite::connect_async(bad).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status().as_u16(), 401),
        other => panic!("a bad credential must get 401, got {:?}", other.map(|_| ())),
    }

    let mut req = ws_url.clone().into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {credential}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("upgrade");
    let hello = json!({ "type": "hello", "protocolVersion": 99, "agentVersion": "9.9", "runtime": "simulated",
        "hostname": "h1", "cpu": 1024, "memory": 512, "attributes": [], "tasks": [] });
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let answer = next_json(&mut ws).await;
    assert_eq!(answer["type"], "refused");
    assert!(answer["reason"].as_str().unwrap().contains("protocol version 99"), "{answer}");

    // A well-formed session: a garbage message is answered with what was wrong, the session lives on.
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {credential}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("upgrade");
    let hello = json!({ "type": "hello", "protocolVersion": 1, "agentVersion": "test", "runtime": "simulated",
        "hostname": "h1", "cpu": 1024, "memory": 512, "attributes": [{"name": "bad name!"}], "tasks": [] });
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let answer = next_json(&mut ws).await;
    assert_eq!(answer["type"], "refused");
    assert!(answer["reason"].as_str().unwrap().contains("attributes[0].name"), "bad host facts name the field: {answer}");
}

async fn next_json<S>(ws: &mut S) -> serde_json::Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an answer") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_silent_agent_is_marked_disconnected_its_tasks_keep_running_and_it_comes_back() {
    let server = Server::start(1).await;
    let cluster = unique("silent");
    let token = server.cluster_with_token(&cluster).await;
    let agent = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "--runtime", "simulated"]);
    let instance = server.connected(&cluster, 1).await[0]["id"].as_str().unwrap().to_string();
    let td = server.register(json!({ "family": "idle", "containerDefinitions": [{ "name": "a", "image": "x", "memory": 64 }] })).await;
    let id = server.start_task(&cluster, &td, &instance).await;
    server.task_reaches(&cluster, &id, "RUNNING", Duration::from_secs(20)).await;

    agent.signal(libc::SIGSTOP);
    eventually("the instance to count as disconnected", Duration::from_secs(15), || async {
        (server.instances(&cluster).await[0]["agentConnected"] == false).then_some(())
    })
    .await;
    assert_eq!(server.task(&cluster, &id).await["lastStatus"], "RUNNING", "tasks of a disconnected instance keep running");
    let (_, refused) = server
        .call("POST", &format!("/api/v1/clusters/{cluster}/tasks/start"), Some(json!({ "taskDefinition": td, "containerInstances": [instance] })))
        .await;
    assert_eq!(refused["failures"][0]["reason"], "AGENT", "no new tasks go to a disconnected instance");

    agent.signal(libc::SIGCONT);
    server.connected(&cluster, 1).await;
    assert_eq!(server.task(&cluster, &id).await["lastStatus"], "RUNNING");
    let heartbeat = server.instances(&cluster).await[0]["lastHeartbeatAt"].as_str().unwrap().to_string();
    eventually("a newer heartbeat recorded", Duration::from_secs(10), || async {
        let now = server.instances(&cluster).await[0]["lastHeartbeatAt"].as_str().unwrap_or_default().to_string();
        (now > heartbeat).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_process_runtime_runs_the_same_lifecycle_without_docker() {
    let server = Server::start(1).await;
    let cluster = unique("proc");
    let token = server.cluster_with_token(&cluster).await;
    let mut agent = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "--runtime", "process"]);
    let instance = server.connected(&cluster, 1).await[0]["id"].as_str().unwrap().to_string();
    let port = task_port();
    let td = server
        .register(json!({ "family": "proc-web", "containerDefinitions": [
            { "name": "prep", "image": "unused", "memory": 16, "essential": false, "command": ["sh", "-c", "echo prepared"] },
            { "name": "web", "image": "unused", "memory": 32, "stopTimeout": 3,
              "dependsOn": [{ "containerName": "prep", "condition": "SUCCESS" }],
              "entryPoint": ["sh", "-c"],
              "command": [format!("echo serving on {port}; trap 'echo bye; exit 0' TERM; while true; do sleep 0.2; done")],
              "portMappings": [{ "containerPort": port, "hostPort": 0 }],
              "healthCheck": { "command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 1 } }
        ]}))
        .await;
    let id = server.start_task(&cluster, &td, &instance).await;
    let task = server.task_reaches(&cluster, &id, "RUNNING", Duration::from_secs(30)).await;
    let web = task["containers"].as_array().unwrap().iter().find(|c| c["name"] == "web").unwrap().clone();
    assert_eq!(web["networkBindings"][0]["hostPort"], port, "host networking: the host port is the container port");
    eventually("web to be HEALTHY", Duration::from_secs(15), || async {
        let t = server.task(&cluster, &id).await;
        t["containers"].as_array().unwrap().iter().any(|c| c["name"] == "web" && c["healthStatus"] == "HEALTHY").then_some(())
    })
    .await;
    let logs = server.http.get(format!("{}/api/v1/clusters/{cluster}/tasks/{id}/logs?container=web", server.url)).send().await.unwrap().text().await.unwrap();
    assert_eq!(logs, format!("serving on {port}\n"));

    // kill -9 the agent: the process survives and is adopted.
    agent.kill9_and_restart().await;
    eventually("the agent to reconnect", Duration::from_secs(30), || async { server.log().matches("agent connected").count().ge(&2).then_some(()) }).await;
    server.connected(&cluster, 1).await;
    assert_eq!(server.task(&cluster, &id).await["lastStatus"], "RUNNING");
    // Health checks resume for the adopted process (the hello reported it UNKNOWN).
    eventually("web to be HEALTHY again", Duration::from_secs(15), || async {
        let t = server.task(&cluster, &id).await;
        t["containers"].as_array().unwrap().iter().any(|c| c["name"] == "web" && c["healthStatus"] == "HEALTHY").then_some(())
    })
    .await;

    server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks/{id}/stop"), Some(json!({}))).await;
    let stopped = server.task_reaches(&cluster, &id, "STOPPED", Duration::from_secs(20)).await;
    let logs = server.http.get(format!("{}/api/v1/clusters/{cluster}/tasks/{id}/logs?container=web&tail=1", server.url)).send().await.unwrap().text().await.unwrap();
    assert_eq!(logs, "bye\n", "the process got SIGTERM and ran its handler");
    assert_eq!(stopped["stoppedReason"], "Task stopped by user");

    // An essential process that exits stops its task, with the exit code.
    let td = server
        .register(json!({ "family": "proc-exit", "containerDefinitions": [{ "name": "x", "image": "unused", "memory": 16, "command": ["sh", "-c", "exit 7"] }] }))
        .await;
    let id = server.start_task(&cluster, &td, &instance).await;
    let stopped = server.task_reaches(&cluster, &id, "STOPPED", Duration::from_secs(20)).await;
    assert_eq!((stopped["containers"][0]["exitCode"].as_i64(), stopped["stoppedReason"].as_str()), (Some(7), Some("Essential container in task exited")));
}

/// The process runtime shares the host: under the default (restricted) task policy a task runs
/// as a user of its own, never as root, and inside a control group that holds it to its limits.
/// Switching users and making control groups need a root agent, as this test runs it.
#[tokio::test]
async fn the_process_runtime_runs_tasks_unprivileged_and_within_their_limits() {
    let uid = std::process::Command::new("id").arg("-u").output().unwrap().stdout;
    if String::from_utf8_lossy(&uid).trim() != "0" {
        eprintln!("skipped: confinement needs a root agent");
        return;
    }
    let server = Server::start(1).await;
    let cluster = unique("confined");
    let token = server.cluster_with_token(&cluster).await;
    let _agent = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "--runtime", "process"]);
    let instance = server.connected(&cluster, 1).await[0]["id"].as_str().unwrap().to_string();
    let run = |family: &str, container: serde_json::Value| {
        let (server, cluster, instance, family) = (&server, &cluster, &instance, family.to_string());
        async move {
            let td = server.register(json!({ "family": family, "containerDefinitions": [container] })).await;
            let id = server.start_task(cluster, &td, instance).await;
            let stopped = server.task_reaches(cluster, &id, "STOPPED", Duration::from_secs(30)).await;
            let logs = server.http.get(format!("{}/api/v1/clusters/{cluster}/tasks/{id}/logs?container=x", server.url)).send().await.unwrap().text().await.unwrap();
            (stopped, logs)
        }
    };
    // No user named: a user of the task's own, no other task's, in a control group of its own.
    let who = json!({ "name": "x", "image": "unused", "memory": 24, "command": ["sh", "-c", "id -u; id -g; cat /proc/self/cgroup"] });
    let (stopped, logs) = run("conf-who", who.clone()).await;
    assert_eq!(stopped["containers"][0]["exitCode"], 0, "{stopped}");
    let ids: Vec<u32> = logs.lines().take(2).map(|l| l.parse().unwrap()).collect();
    assert!(ids[0] >= 200_000 && ids[0] == ids[1], "{logs}");
    assert!(logs.contains("/wharf/"), "the process is in Wharf's control group: {logs}");
    let (_, other) = run("conf-who-2", who).await;
    assert_ne!(other.lines().next().unwrap(), ids[0].to_string(), "another task, another user");
    // What the container says its limits are, its group holds it to.
    let td = server.register(json!({ "family": "conf-limits", "containerDefinitions": [{ "name": "x", "image": "unused", "memory": 48, "cpu": 512, "command": ["sleep", "60"] }] })).await;
    let limited = server.start_task(&cluster, &td, &instance).await;
    server.task_reaches(&cluster, &limited, "RUNNING", Duration::from_secs(30)).await;
    let read = |path: String| std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")).trim().to_string();
    let group = format!("{limited}-x");
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        assert_eq!(read(format!("/sys/fs/cgroup/wharf/{group}/memory.max")), (48 << 20).to_string());
        assert_eq!(read(format!("/sys/fs/cgroup/wharf/{group}/cpu.weight")), "20", "runc's weight for 512 shares");
    } else {
        assert_eq!(read(format!("/sys/fs/cgroup/memory/wharf/{group}/memory.limit_in_bytes")), (48 << 20).to_string());
        assert_eq!(read(format!("/sys/fs/cgroup/cpu/wharf/{group}/cpu.shares")), "512");
    }
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks/{limited}/stop"), Some(json!({}))).await;
    // A named unprivileged user is who it runs as.
    let (_, logs) = run("conf-user", json!({ "name": "x", "image": "unused", "memory": 16, "user": "4242:4343", "command": ["sh", "-c", "id -u; id -g"] })).await;
    assert_eq!(logs, "4242\n4343\n");
    // Root is refused before anything runs, with the field and the rule.
    let (stopped, logs) = run("conf-root", json!({ "name": "x", "image": "unused", "memory": 16, "user": "root", "command": ["sh", "-c", "echo ran as root"] })).await;
    assert!(!logs.contains("ran as root"), "{logs}");
    let reason = stopped["containers"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("containerDefinitions.user: root is root") && reason.contains("privileged task policy"), "{stopped}");
    // Nor does a setuid program of the host make a task root again: it runs with no_new_privs.
    let (_, logs) = run("conf-suid", json!({ "name": "x", "image": "unused", "memory": 16, "command": ["sh", "-c", "grep NoNewPrivs /proc/self/status"] })).await;
    assert_eq!(logs.split_whitespace().collect::<Vec<_>>(), ["NoNewPrivs:", "1"], "{logs}");
    // Over its memory limit, the process is killed, not the host, and the task says why.
    let (stopped, _) = run("conf-hog", json!({ "name": "x", "image": "unused", "memory": 24, "command": ["sh", "-c", "tail /dev/zero"] })).await;
    assert_eq!(stopped["containers"][0]["exitCode"], 137, "{stopped}");
    assert!(stopped["containers"][0]["reason"].as_str().unwrap_or_default().starts_with("OutOfMemoryError"), "{stopped}");

    // Under a privileged policy (an admin's choice), root is allowed again.
    server.ok("PATCH", &format!("/api/v1/clusters/{cluster}"), Some(json!({ "taskPolicy": { "level": "privileged" } }))).await;
    eventually("the policy to reach the agent", Duration::from_secs(10), || async {
        let (_, logs) = run("conf-root-ok", json!({ "name": "x", "image": "unused", "memory": 16, "user": "0", "command": ["id", "-u"] })).await;
        (logs == "0\n").then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_install_script_fetches_the_servers_own_agent_into_a_scratch_root() {
    let server = Server::start(1).await;
    let cluster = unique("install");
    let token = server.cluster_with_token(&cluster).await;
    let script = server.http.get(format!("{}/agent/install.sh", server.url)).send().await.unwrap().text().await.unwrap();
    assert!(script.starts_with("#!/bin/sh"));
    let root = tempfile::tempdir().unwrap();
    let script_file = root.path().join("install.sh");
    std::fs::write(&script_file, &script).unwrap();
    let out = tokio::process::Command::new("sh")
        .arg(&script_file)
        .args(["--cluster", &cluster, "--token", &token, "--attribute", "team=web", "--root"])
        .arg(root.path())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "install.sh failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let installed = std::fs::read(root.path().join("usr/local/bin/wharf-agent")).unwrap();
    let built = std::fs::read(binary("wharf-agent")).unwrap();
    assert!(installed == built, "the fetched binary is the one beside the server ({} vs {} bytes)", installed.len(), built.len());
    let env = std::fs::read_to_string(root.path().join("etc/wharf/agent.env")).unwrap();
    assert!(env.contains(&format!("WHARF_SERVER={}", server.url)) && env.contains(&format!("WHARF_JOIN_TOKEN={token}")) && env.contains("WHARF_ATTRIBUTES=team=web"), "{env}");
    let unit = std::fs::read_to_string(root.path().join("etc/systemd/system/wharf-agent.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/wharf-agent --config /etc/wharf/agent.env") && unit.contains("OOMScoreAdjust=-999"), "{unit}");

    // The written configuration is enough to start the agent (through --config).
    let env_file = root.path().join("etc/wharf/agent.env");
    let _agent = Agent::start(&["--config", env_file.to_str().unwrap(), "--runtime", "simulated"]);
    let instance = server.connected(&cluster, 1).await.remove(0);
    assert!(instance["attributes"].as_array().unwrap().iter().any(|a| a["name"] == "team" && a["value"] == "web"));
    // Registered, the host keeps its own credential; the join token is gone from the disk.
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(!env.contains(&token) && env.contains(&format!("WHARF_SERVER={}", server.url)), "{env}");
}

#[tokio::test]
async fn simulate_runs_many_instances_each_with_its_own_identity_and_zone() {
    let server = Server::start(2).await;
    let cluster = unique("sim");
    let token = server.cluster_trusting_hosts(&cluster).await;
    let _sim = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "simulate", "--count", "30", "--zones", "a,b,c", "--sim-cpu", "2048", "--sim-memory", "4096"]);
    let instances = server.connected(&cluster, 30).await;
    let mut zones = std::collections::BTreeMap::new();
    for i in &instances {
        let zone = i["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "ecs.availability-zone").unwrap()["value"].as_str().unwrap().to_string();
        *zones.entry(zone).or_insert(0) += 1;
        assert_eq!(i["registeredResources"][0]["integerValue"], 2048);
    }
    assert_eq!(zones, [("a".to_string(), 10), ("b".to_string(), 10), ("c".to_string(), 10)].into());
    let names: std::collections::BTreeSet<&str> = instances.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 30);

    // The instance's host ports are accounted for: a second task wanting static port 8080 is refused.
    let td = server.register(json!({ "family": "sim-task", "containerDefinitions": [{ "name": "a", "image": "x", "memory": 64, "portMappings": [{ "containerPort": 80, "hostPort": 8080 }] }] })).await;
    let target = instances[0]["id"].as_str().unwrap();
    let id = server.start_task(&cluster, &td, target).await;
    server.task_reaches(&cluster, &id, "RUNNING", Duration::from_secs(20)).await;
    let (_, second) = server
        .call("POST", &format!("/api/v1/clusters/{cluster}/tasks/start"), Some(json!({ "taskDefinition": td, "containerInstances": [target] })))
        .await;
    assert_eq!(second["failures"][0]["reason"], "RESOURCE:PORTS", "static host port 8080 is taken: {second}");
}

/// Over HTTPS with a self-signed certificate, a new host trusts the server only by the pins
/// its install command carries: with a wrong one nothing is sent, not even the join token.
#[tokio::test]
async fn over_tls_a_new_host_checks_the_server_before_it_sends_its_token() {
    let server = Server::start_with(1, &["--tls-self-signed"]).await;
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let pin = server.certificate_sha256().expect("the server announces its certificate's SHA-256");
    let cluster = unique("tls");
    server.ok("POST", "/api/v1/clusters", Some(json!({ "clusterName": cluster }))).await;
    let made = server.ok("POST", &format!("/api/v1/clusters/{cluster}/join-tokens"), Some(json!({}))).await;
    let (token, command) = (made["token"].as_str().unwrap().to_string(), made["installCommand"].as_str().unwrap().to_string());
    assert!(command.contains(&format!("--server-cert-sha256 {pin}")) && command.contains("--pinnedpubkey 'sha256//"), "{command}");
    let key_pin = command.split("--server-key-sha256 '").nth(1).and_then(|r| r.split('\'').next()).unwrap().to_string();

    // A host given another pin refuses the server; the token stays unused.
    let wrong = format!("{}{}", if pin.starts_with('0') { "1" } else { "0" }, &pin[1..]);
    let refused = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "--server-cert-sha256", &wrong, "--runtime", "simulated"]);
    eventually("the agent to refuse the server", Duration::from_secs(20), || async { refused.log().contains("not the pinned one").then_some(()) }).await;
    let tokens = server.ok("GET", &format!("/api/v1/clusters/{cluster}/join-tokens"), None).await;
    assert!(tokens["joinTokens"][0]["lastUsedAt"].is_null(), "the token was never presented: {tokens}");
    drop(refused);

    // The install script fetches the agent only from the server with the pinned key.
    let script = server.http.get(format!("{}/agent/install.sh", server.url)).send().await.unwrap().text().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("install.sh"), &script).unwrap();
    let install = |key: String| {
        let (root, cluster, token, pin) = (root.path().to_path_buf(), cluster.clone(), token.clone(), pin.clone());
        async move {
            tokio::process::Command::new("sh")
                .arg(root.join("install.sh"))
                .args(["--cluster", &cluster, "--token", &token, "--server-cert-sha256", &pin, "--server-key-sha256", &key, "--root"])
                .arg(&root)
                .output()
                .await
                .unwrap()
        }
    };
    let out = install("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()).await;
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("pinned key"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = install(key_pin).await;
    assert!(out.status.success(), "install.sh: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let env_file = root.path().join("etc/wharf/agent.env");
    assert!(std::fs::read_to_string(&env_file).unwrap().contains(&format!("WHARF_SERVER_CERT_SHA256={pin}")));

    // With the configuration it wrote, the host joins over wss:// and its agent connects.
    let _agent = Agent::start(&["--config", env_file.to_str().unwrap(), "--runtime", "simulated"]);
    let instance = server.connected(&cluster, 1).await.remove(0);
    assert_eq!(instance["agentConnected"], true);
}
