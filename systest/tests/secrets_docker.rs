//! A secret's way from the API to a container's environment, over TLS with a real agent and
//! Docker Engine, and everywhere it must not be: API answers, task logs of others, the
//! server's store and log, the agent's saved state and log.

use serde_json::json;
use std::time::Duration;
use wharf_systest::*;

const VALUE: &str = "s3cr3t-value-for-the-container-only";

#[tokio::test]
async fn a_container_sees_its_secret_and_nothing_else_ever_shows_it() {
    if !docker_available() {
        return;
    }
    let server = Server::start_with(1, &["--tls-self-signed"]).await;
    let pin = server.certificate_sha256().expect("the server's certificate pin");
    let cluster = unique("secrets");
    let _cleanup = DockerCleanup(cluster.clone());
    let token = server.cluster_with_token(&cluster).await;
    let agent = Agent::start(&["--server", &server.url, "--cluster", &cluster, "--token", &token, "--server-cert-sha256", &pin, "--runtime", "docker", "--zone", "a"]);
    let instance = server.connected(&cluster, 1).await[0]["id"].as_str().unwrap().to_string();

    let mut answers = Vec::new();
    answers.push(server.ok("POST", "/api/v1/teams", Some(json!({ "teamName": "alpha" }))).await);
    answers.push(server.ok("POST", "/api/v1/secrets", Some(json!({ "name": "alpha/api-key", "secretString": VALUE, "team": "alpha" }))).await);
    // The container proves it has the value by printing its digest, never the value itself.
    let (status, registered) = server
        .call("POST", "/api/v1/task-definitions?team=alpha", Some(json!({ "family": "keyed", "networkMode": "bridge", "containerDefinitions": [{
            "name": "app", "image": "local/busybox:1", "memory": 16, "stopTimeout": 2,
            "environment": [{ "name": "PLAIN", "value": "visible" }],
            "secrets": [{ "name": "API_KEY", "valueFrom": "alpha/api-key" }],
            "command": ["sh", "-c", "echo plain=$PLAIN; printf %s \"$API_KEY\" | sha256sum; sleep 600"] }] })))
        .await;
    assert_eq!(status, 201, "{registered}");
    answers.push(registered);
    let id = server.start_task(&cluster, "keyed:1", &instance).await;
    answers.push(server.task_reaches(&cluster, &id, "RUNNING", Duration::from_secs(60)).await);

    let digest = {
        let out = std::process::Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        out.stdin.as_ref().unwrap().write_all(VALUE.as_bytes()).unwrap();
        String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap().split_whitespace().next().unwrap().to_string()
    };
    let logs = eventually("the container's digest in its log", Duration::from_secs(30), || async {
        let text = server.http.get(format!("{}/api/v1/clusters/{cluster}/tasks/{id}/logs", server.url)).send().await.ok()?.text().await.ok()?;
        text.contains(&digest).then_some(text)
    })
    .await;
    assert!(logs.contains("plain=visible"), "{logs}");

    for uri in ["/api/v1/secrets", "/api/v1/secrets/alpha%2Fapi-key", "/api/v1/task-definitions/keyed:1", "/api/v1/audit?limit=500", &format!("/api/v1/clusters/{cluster}/tasks/{id}")] {
        answers.push(server.ok("GET", uri, None).await);
    }
    server.ok("POST", &format!("/api/v1/clusters/{cluster}/tasks/{id}/stop"), Some(json!({ "reason": "done" }))).await;
    server.task_reaches(&cluster, &id, "STOPPED", Duration::from_secs(30)).await;

    for answer in &answers {
        assert!(!answer.to_string().contains(VALUE), "an API answer holds the value: {answer}");
    }
    assert!(!logs.contains(VALUE));
    assert_eq!(files_holding(server.data_dir(), VALUE), Vec::<std::path::PathBuf>::new(), "the server's store, keys and log");
    assert_eq!(files_holding(agent.state.path(), VALUE), Vec::<std::path::PathBuf>::new(), "the agent's saved state and log");
    assert!(server.log().contains("secret created") && agent.log().contains("task starting"), "the logs were captured");
}
