//! Real server, real agents, real Docker Engine: tasks run as containers of `local/busybox:1`.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wharf_systest::*;

struct Setup {
    server: Server,
    agent: Agent,
    cluster: String,
    instance: String,
    _cleanup: DockerCleanup,
}

async fn setup(prefix: &str) -> Setup {
    setup_with(prefix, &[]).await
}

async fn setup_with(prefix: &str, extra: &[&str]) -> Setup {
    let server = Server::start(1).await;
    let cluster = unique(prefix);
    let token = server.cluster_with_token(&cluster).await;
    let mut args = vec!["--server", &server.url, "--cluster", &cluster, "--token", &token, "--runtime", "docker", "--zone", "a"];
    args.extend_from_slice(extra);
    let agent = Agent::start(&args);
    let instance = server.connected(&cluster, 1).await[0]["id"].as_str().unwrap().to_string();
    Setup { _cleanup: DockerCleanup(cluster.clone()), server, agent, cluster, instance }
}

fn busybox(family: &str, containers: Value) -> Value {
    json!({ "family": family, "networkMode": "bridge", "containerDefinitions": containers })
}

#[tokio::test]
async fn a_task_serves_through_its_dynamic_port_then_stops_within_its_stop_timeout() {
    if !docker_available() {
        return;
    }
    let s = setup_with("httpd", &["--usage-seconds", "1"]).await;
    let mut def = fixture("busybox-httpd.json");
    def["containerDefinitions"][0]["stopTimeout"] = json!(4);
    let td = s.server.register(def).await;
    let id = s.server.start_task(&s.cluster, &td, &s.instance).await;
    let task = s.server.task_reaches(&s.cluster, &id, "RUNNING", Duration::from_secs(60)).await;
    let binding = &task["containers"][0]["networkBindings"][0];
    assert_eq!(binding["containerPort"], 8080);
    let port = binding["hostPort"].as_i64().expect("a dynamic host port");
    assert!(port > 0 && port != 8080, "hostPort 0 maps to a dynamic port, got {port}");

    let page = s.server.http.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap().text().await.unwrap();
    assert!(page.starts_with("hello from "), "the page through the reported port: {page:?}");

    // The health check (wget against itself) turns HEALTHY.
    eventually("the container to be HEALTHY", Duration::from_secs(30), || async {
        (s.server.task(&s.cluster, &id).await["containers"][0]["healthStatus"] == "HEALTHY").then_some(())
    })
    .await;

    // The instance accounts for the task: CPU 64 and memory 32 reserved, the port in use.
    let instance = s.server.ok("GET", &format!("/api/v1/clusters/{}/container-instances/{}", s.cluster, s.instance), None).await;
    let res = |set: &str, name: &str| {
        instance["containerInstance"][set].as_array().unwrap().iter().find(|r| r["name"] == name).cloned().unwrap()
    };
    assert_eq!(res("registeredResources", "CPU")["integerValue"].as_i64().unwrap() - res("remainingResources", "CPU")["integerValue"].as_i64().unwrap(), 64);
    assert_eq!(res("registeredResources", "MEMORY")["integerValue"].as_i64().unwrap() - res("remainingResources", "MEMORY")["integerValue"].as_i64().unwrap(), 32);
    assert_eq!(res("remainingResources", "PORTS")["stringSetValue"], json!([port.to_string()]));
    assert_eq!(instance["containerInstance"]["runningTasksCount"], 1);
    // The agent's usage samples show what the host really uses.
    let usage = eventually("a usage sample", Duration::from_secs(10), || async {
        let i = s.server.ok("GET", &format!("/api/v1/clusters/{}/container-instances/{}", s.cluster, s.instance), None).await;
        let u = i["containerInstance"]["usage"].clone();
        (u["memory"].as_i64().unwrap_or(0) > 0).then_some(u)
    })
    .await;
    assert!(usage["cpu"].as_i64().is_some(), "{usage}");

    // busybox httpd as PID 1 ignores SIGTERM: the stop comes from SIGKILL after stopTimeout (4 s).
    let asked = Instant::now();
    s.server.ok("POST", &format!("/api/v1/clusters/{}/tasks/{id}/stop", s.cluster), Some(json!({ "reason": "done here" }))).await;
    let stopped = s.server.task_reaches(&s.cluster, &id, "STOPPED", Duration::from_secs(30)).await;
    let took = asked.elapsed();
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(12), "stopped after {took:?}; stopTimeout is 4 s");
    assert_eq!(stopped["stoppedReason"], "done here");
    assert_eq!(stopped["containers"][0]["exitCode"], 137);
    assert_eq!(stopped["containers"][0]["networkBindings"], json!([]));
    let instance = s.server.ok("GET", &format!("/api/v1/clusters/{}/container-instances/{}", s.cluster, s.instance), None).await;
    assert_eq!(instance["containerInstance"]["remainingResources"][2]["stringSetValue"], json!([]), "the port is free again");
    drop(s.agent);
}

#[tokio::test]
async fn an_essential_container_exiting_stops_the_task_with_its_exit_code_after_dependencies_ran() {
    if !docker_available() {
        return;
    }
    let s = setup_with("essential", &["--task-cleanup-wait-seconds", "4"]).await;
    let td = s
        .server
        .register(busybox(
            "essential-exit",
            json!([
                { "name": "init", "image": "local/busybox:1", "memory": 16, "essential": false,
                  "command": ["sh", "-c", "echo prepared; exit 0"] },
                { "name": "app", "image": "local/busybox:1", "memory": 16, "essential": true,
                  "dependsOn": [{ "containerName": "init", "condition": "SUCCESS" }],
                  "command": ["sh", "-c", "echo working; sleep 1; exit 3"] }
            ]),
        ))
        .await;
    let id = s.server.start_task(&s.cluster, &td, &s.instance).await;
    let stopped = s.server.task_reaches(&s.cluster, &id, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(stopped["stoppedReason"], "Essential container in task exited");
    assert_eq!(stopped["desiredStatus"], "STOPPED");
    let exit = |name: &str| stopped["containers"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["exitCode"].clone();
    assert_eq!(exit("init"), 0, "init ran to success first");
    assert_eq!(exit("app"), 3);

    // Logs of a stopped container are still there, through the server.
    let logs = s
        .server
        .http
        .get(format!("{}/api/v1/clusters/{}/tasks/{id}/logs?container=app&tail=10", s.server.url, s.cluster))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(logs, "working\n");
    let (status, body) = s.server.call("GET", &format!("/api/v1/clusters/{}/tasks/{id}/logs?container=nope", s.cluster), None).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (400, Some("container")));

    // After the cleanup wait the stopped containers are removed from the host.
    assert_eq!(containers_of(&s.cluster).len(), 2);
    eventually("the stopped containers to be removed", Duration::from_secs(20), || async { containers_of(&s.cluster).is_empty().then_some(()) }).await;
}

#[tokio::test]
async fn a_failing_health_check_shows_unhealthy_and_logs_follow_live() {
    if !docker_available() {
        return;
    }
    let s = setup("health").await;
    let td = s
        .server
        .register(busybox(
            "sick",
            json!([{ "name": "app", "image": "local/busybox:1", "memory": 16, "stopTimeout": 2,
                "command": ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done"],
                "healthCheck": { "command": ["CMD-SHELL", "exit 1"], "interval": 5, "timeout": 2, "retries": 1 } }]),
        ))
        .await;
    let id = s.server.start_task(&s.cluster, &td, &s.instance).await;
    s.server.task_reaches(&s.cluster, &id, "RUNNING", Duration::from_secs(60)).await;
    eventually("the container to be UNHEALTHY", Duration::from_secs(30), || async {
        (s.server.task(&s.cluster, &id).await["containers"][0]["healthStatus"] == "UNHEALTHY").then_some(())
    })
    .await;
    assert_eq!(s.server.task(&s.cluster, &id).await["lastStatus"], "RUNNING", "an unhealthy container keeps running");

    // follow=true streams new lines as they are written.
    let mut res = s
        .server
        .http
        .get(format!("{}/api/v1/clusters/{}/tasks/{id}/logs?tail=1&follow=true", s.server.url, s.cluster))
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lines().count() < 4 && Instant::now() < deadline {
        if let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let ticks: Vec<u64> = seen.lines().filter_map(|l| l.strip_prefix("tick ")?.parse().ok()).collect();
    assert!(ticks.len() >= 4 && ticks.windows(2).all(|w| w[1] == w[0] + 1), "followed lines arrive in order: {seen:?}");
}

#[tokio::test]
async fn a_killed_agent_adopts_its_containers_and_a_server_restart_leaves_them_running() {
    if !docker_available() {
        return;
    }
    let mut s = setup("restart").await;
    let td = s
        .server
        .register(busybox("sleeper", json!([{ "name": "app", "image": "local/busybox:1", "memory": 16, "stopTimeout": 2, "command": ["sleep", "3600"] }])))
        .await;
    let id = s.server.start_task(&s.cluster, &td, &s.instance).await;
    s.server.task_reaches(&s.cluster, &id, "RUNNING", Duration::from_secs(60)).await;
    let before = containers_of(&s.cluster);
    assert_eq!(before.len(), 1);

    // A neighbour: another instance's agent on the same Docker Engine, with its own task.
    let neighbour_cluster = unique("neighbour");
    let _neighbour_cleanup = DockerCleanup(neighbour_cluster.clone());
    let token = s.server.cluster_with_token(&neighbour_cluster).await;
    let _neighbour = Agent::start(&["--server", &s.server.url, "--cluster", &neighbour_cluster, "--token", &token, "--runtime", "docker"]);
    let other = s.server.connected(&neighbour_cluster, 1).await[0]["id"].as_str().unwrap().to_string();
    let other_task = s.server.start_task(&neighbour_cluster, &td, &other).await;
    s.server.task_reaches(&neighbour_cluster, &other_task, "RUNNING", Duration::from_secs(60)).await;
    let neighbours = containers_of(&neighbour_cluster);

    // kill -9 the agent mid-task: the container keeps running and is adopted, not duplicated;
    // the neighbour's container is none of its business.
    s.agent.kill9_and_restart().await;
    eventually("the restarted agent to reconnect", Duration::from_secs(30), || async {
        s.server.log().matches("agent connected").count().ge(&2).then_some(())
    })
    .await;
    s.server.connected(&s.cluster, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(containers_of(&s.cluster), before, "same container, none added");
    let task = s.server.task(&s.cluster, &id).await;
    assert_eq!((task["lastStatus"].as_str(), task["desiredStatus"].as_str()), (Some("RUNNING"), Some("RUNNING")));
    assert!(s.agent.log().contains("took over the tasks already on this host"), "{}", s.agent.log());
    assert_eq!(containers_of(&neighbour_cluster), neighbours);
    assert!(docker_started_at(&neighbours[0]).ends_with("true"), "the neighbour's container still runs");
    assert_eq!(s.server.task(&neighbour_cluster, &other_task).await["lastStatus"], "RUNNING");

    // Restart the server: the container never stops, the instance reconnects.
    let started_at = docker_started_at(&before[0]);
    s.server.restart().await;
    s.server.connected(&s.cluster, 1).await;
    assert_eq!(containers_of(&s.cluster), before);
    assert_eq!(docker_started_at(&before[0]), started_at, "the container was not restarted");
    assert_eq!(s.server.task(&s.cluster, &id).await["lastStatus"], "RUNNING");

    // The server still drives it: a stop reaches the adopted container.
    s.server.ok("POST", &format!("/api/v1/clusters/{}/tasks/{id}/stop", s.cluster), None).await;
    let stopped = s.server.task_reaches(&s.cluster, &id, "STOPPED", Duration::from_secs(30)).await;
    assert_eq!(stopped["stoppedReason"], "Task stopped by user");
}

fn docker_started_at(id: &str) -> String {
    let out = std::process::Command::new("docker").args(["inspect", "-f", "{{.State.StartedAt}} {{.State.Running}}", id]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn a_task_over_its_memory_limit_is_killed_not_the_agent() {
    if !docker_available() {
        return;
    }
    let s = setup("oom").await;
    let pid = s.agent.pid().expect("agent pid");
    let score = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap_or_default();
    // Where the kernel lets it (CAP_SYS_RESOURCE), the agent asks to be spared; elsewhere it says it could not.
    assert!(
        score.trim() == "-999" || s.agent.log().contains("cannot lower the agent's OOM score"),
        "oom_score_adj {score:?} and no warning: {}",
        s.agent.log()
    );
    let td = s
        .server
        .register(busybox(
            "hog",
            // `tail` keeps a line in memory; /dev/zero has no newline, so it grows until killed.
            json!([{ "name": "hog", "image": "local/busybox:1", "memory": 24, "command": ["sh", "-c", "tail /dev/zero"] }]),
        ))
        .await;
    let id = s.server.start_task(&s.cluster, &td, &s.instance).await;
    let stopped = s.server.task_reaches(&s.cluster, &id, "STOPPED", Duration::from_secs(60)).await;
    assert_eq!(stopped["containers"][0]["exitCode"], 137);
    assert!(stopped["containers"][0]["reason"].as_str().unwrap_or_default().starts_with("OutOfMemoryError"), "{stopped}");
    let instance = &s.server.instances(&s.cluster).await[0];
    assert_eq!(instance["agentConnected"], true, "the agent stays connected");
}

#[tokio::test]
async fn deregistering_an_instance_stops_its_tasks_and_the_agent_leaves() {
    if !docker_available() {
        return;
    }
    let mut s = setup("dereg").await;
    let td = s
        .server
        .register(busybox("leaver", json!([{ "name": "app", "image": "local/busybox:1", "memory": 16, "stopTimeout": 2, "command": ["sleep", "3600"] }])))
        .await;
    let id = s.server.start_task(&s.cluster, &td, &s.instance).await;
    s.server.task_reaches(&s.cluster, &id, "RUNNING", Duration::from_secs(60)).await;
    let gone = s.server.ok("DELETE", &format!("/api/v1/clusters/{}/container-instances/{}", s.cluster, s.instance), None).await;
    assert_eq!(gone["containerInstance"]["status"], "INACTIVE");
    let task = s.server.task(&s.cluster, &id).await;
    assert_eq!((task["lastStatus"].as_str(), task["stoppedReason"].as_str()), (Some("STOPPED"), Some("Container instance deregistered")));
    let code = s.agent.exit_code(Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "the agent exits once its tasks stopped: {}", s.agent.log());
    let running = std::process::Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label=wharf.cluster={}", s.cluster)])
        .output()
        .unwrap();
    assert!(running.stdout.is_empty(), "no container of the instance still runs");
    // New tasks cannot go there.
    let started = s
        .server
        .ok("POST", &format!("/api/v1/clusters/{}/tasks/start", s.cluster), Some(json!({ "taskDefinition": td, "containerInstances": [s.instance] })))
        .await;
    assert_eq!(started["failures"][0]["reason"], "INACTIVE");
}

#[tokio::test]
async fn ecs_volumes_ulimits_working_directory_init_and_host_networking_reach_docker() {
    if !docker_available() {
        return;
    }
    let s = setup_with("ecsfields", &["--task-cleanup-wait-seconds", "2"]).await;
    // A host path and the host network: what only a privileged cluster's tasks may use.
    s.server.ok("PATCH", &format!("/api/v1/clusters/{}", s.cluster), Some(json!({ "taskPolicy": { "level": "privileged" } }))).await;
    let host_dir = tempfile::tempdir().unwrap();
    let td = s
        .server
        .register(json!({
            "family": "fields", "networkMode": "bridge",
            "volumes": [{ "name": "shared" }, { "name": "out", "host": { "sourcePath": host_dir.path() } }],
            "containerDefinitions": [
                { "name": "writer", "image": "local/busybox:1", "memory": 16, "essential": false,
                  "mountPoints": [{ "sourceVolume": "shared", "containerPath": "/shared" }, { "sourceVolume": "out", "containerPath": "/out" }],
                  "command": ["sh", "-c", "echo from-writer > /shared/note; echo host-ok > /out/file"] },
                { "name": "reader", "image": "local/busybox:1", "memory": 16, "stopTimeout": 20,
                  "dependsOn": [{ "containerName": "writer", "condition": "SUCCESS" }],
                  "mountPoints": [{ "sourceVolume": "shared", "containerPath": "/shared", "readOnly": true }],
                  "workingDirectory": "/tmp",
                  "ulimits": [{ "name": "nofile", "softLimit": 1024, "hardLimit": 2048 }],
                  "dockerLabels": { "team": "web" },
                  "linuxParameters": { "initProcessEnabled": true },
                  "command": ["sh", "-c", "cat /shared/note; ulimit -n; pwd; touch /shared/x 2>/dev/null || echo read-only; exec sleep 3600"] }
            ]
        }))
        .await;
    let id = s.server.start_task(&s.cluster, &td, &s.instance).await;
    s.server.task_reaches(&s.cluster, &id, "RUNNING", Duration::from_secs(60)).await;
    let logs = eventually("the reader's output", Duration::from_secs(20), || async {
        let url = format!("{}/api/v1/clusters/{}/tasks/{id}/logs?container=reader", s.server.url, s.cluster);
        let text = s.server.http.get(url).send().await.ok()?.text().await.ok()?;
        (text.lines().count() >= 4).then_some(text)
    })
    .await;
    assert_eq!(logs, "from-writer\n1024\n/tmp\nread-only\n", "task volume shared, ulimit, working directory, read-only mount");
    assert_eq!(std::fs::read_to_string(host_dir.path().join("file")).unwrap(), "host-ok\n", "the host path volume");
    let labels = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{index .Config.Labels \"team\"}} {{.HostConfig.Init}}", &format!("wharf-{id}-reader")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&labels.stdout).trim(), "web true");

    // With an init process, `sleep` gets SIGTERM and ends long before the 20 s stopTimeout.
    let asked = Instant::now();
    s.server.ok("POST", &format!("/api/v1/clusters/{}/tasks/{id}/stop", s.cluster), None).await;
    let stopped = s.server.task_reaches(&s.cluster, &id, "STOPPED", Duration::from_secs(30)).await;
    assert!(asked.elapsed() < Duration::from_secs(10), "stopped after {:?}", asked.elapsed());
    let reader = stopped["containers"].as_array().unwrap().iter().find(|c| c["name"] == "reader").unwrap().clone();
    assert_eq!(reader["exitCode"], 143);

    // The task's engine volume goes with its containers after the cleanup wait.
    let volume = format!("wharf-{id}-shared");
    eventually("the task volume to be removed", Duration::from_secs(20), || async {
        let out = std::process::Command::new("docker").args(["volume", "ls", "-q"]).output().ok()?;
        (!String::from_utf8_lossy(&out.stdout).lines().any(|l| l == volume)).then_some(())
    })
    .await;

    // Host networking: the container's port is the host's, and reported so.
    let port = task_port();
    let td = s
        .server
        .register(json!({ "family": "hostnet", "networkMode": "host", "containerDefinitions": [
            { "name": "web", "image": "local/busybox:1", "memory": 16, "stopTimeout": 2,
              "portMappings": [{ "containerPort": port }],
              "command": ["sh", "-c", format!("mkdir -p /www && echo on-host > /www/index.html && exec httpd -f -p {port} -h /www")] }
        ]}))
        .await;
    let id = s.server.start_task(&s.cluster, &td, &s.instance).await;
    let task = s.server.task_reaches(&s.cluster, &id, "RUNNING", Duration::from_secs(60)).await;
    assert_eq!(task["containers"][0]["networkBindings"][0]["hostPort"], port);
    let page = eventually("the page on the host's port", Duration::from_secs(10), || async {
        s.server.http.get(format!("http://127.0.0.1:{port}/")).send().await.ok()?.text().await.ok()
    })
    .await;
    assert_eq!(page, "on-host\n");
}
