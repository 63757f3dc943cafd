//! Secrets: a value goes in once, is kept sealed, is checked where a task definition names it,
//! and reaches only the agent that starts a task of the secret's team, never an API answer,
//! the audit log or the event feed.

mod common;

use axum::http::{Method, StatusCode};
use common::agent::Agent;
use common::{Db, Harness};
use serde_json::{Value, json};

const VALUE: &str = "pa55-w0rd-that-must-not-leak";

fn with_secret(family: &str, value_from: &str) -> Value {
    json!({ "family": family, "containerDefinitions": [{ "name": "app", "image": "local/busybox:1", "memory": 32,
        "command": ["/bin/sh", "-c", "sleep 3600"], "secrets": [{ "name": "DB_PASSWORD", "valueFrom": value_from }] }] })
}

async fn scenario(db: Db) {
    let Some(h) = Harness::new(db).await else { return };
    let mut feed = h.state.control.events().subscribe(None).live;
    let mut answers = Vec::new();
    for team in ["alpha", "beta"] {
        assert!(h.post("/api/v1/teams", json!({ "teamName": team })).await.0.is_success());
    }
    let (status, created) = h.post("/api/v1/secrets", json!({ "name": "alpha/db", "secretString": VALUE, "team": "alpha", "description": "primary" })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["secret"]["ARN"], "arn:wharf:secretsmanager:local:000000000000:secret:alpha/db");
    assert_eq!(created["secret"]["version"], 1);
    answers.push(created.to_string());

    // Bad input names the field; a taken name is a conflict.
    let (status, bad) = h.post("/api/v1/secrets", json!({ "name": "has space", "secretString": "" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = bad["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "secretString"]);
    assert_eq!(h.post("/api/v1/secrets", json!({ "name": "alpha/db", "secretString": "x", "team": "alpha" })).await.0, StatusCode::CONFLICT);

    // Sealed at rest: the row holds neither the value nor anything that opens without the key.
    let sealed: String = sqlx::query_scalar("SELECT sealed_value FROM secrets WHERE name = 'alpha/db'").fetch_one(h.store.pool()).await.unwrap();
    assert!(sealed.starts_with("v1:") && !sealed.contains(VALUE));

    // A family names only its own team's secrets, with the field path.
    let (status, refused) = h.call(Method::POST, "/api/v1/task-definitions?team=beta", Some(with_secret("beta-app", "alpha/db").to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "containerDefinitions[0].secrets[0].valueFrom");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("team 'beta' has no secret named 'alpha/db'"));
    let (status, foreign) = h.call(Method::POST, "/api/v1/task-definitions?team=alpha", Some(with_secret("alpha-app", "arn:aws:secretsmanager:us-east-1:1:secret:db").to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(foreign["errors"][0]["message"].as_str().unwrap().contains("not a Wharf secret"), "{foreign}");
    let arn = "arn:wharf:secretsmanager:local:000000000000:secret:alpha/db";
    let (status, registered) = h.call(Method::POST, "/api/v1/task-definitions?team=alpha", Some(with_secret("alpha-app", arn).to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    answers.push(registered.to_string());

    // Everything readable about it, none with the value.
    for uri in ["/api/v1/secrets", "/api/v1/secrets/alpha%2Fdb", "/api/v1/task-definitions/alpha-app:1", "/api/v1/audit?limit=500"] {
        let (status, body) = h.get(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        answers.push(body.to_string());
    }
    assert_eq!(h.get("/api/v1/secrets/alpha%2Fdb").await.1["secret"]["description"], "primary");

    // The agent that starts the task receives the value, and nothing else does.
    assert!(h.post("/api/v1/clusters", json!({ "clusterName": "c" })).await.0.is_success());
    let token = h.post("/api/v1/clusters/c/join-tokens", json!({})).await.1["token"].as_str().unwrap().to_string();
    let (_, reg) = h.call(Method::POST, "/agent/v1/register", Some(json!({ "token": token, "cluster": "c", "hostname": "h", "cpu": 4096, "memory": 4096 }).to_string())).await;
    let instance = reg["containerInstance"]["id"].as_str().unwrap().to_string();
    let addr = h.serve().await;
    let (mut agent, _) = Agent::connect(addr, reg["credential"].as_str().unwrap(), json!([])).await;
    let body = json!({ "taskDefinition": "alpha-app", "containerInstances": [instance] }).to_string();
    let start = || h.call(Method::POST, "/api/v1/clusters/c/tasks/start", Some(body.clone()));
    let (status, started) = start().await;
    assert_eq!(status, StatusCode::OK, "{started}");
    answers.push(started.to_string());
    let message = agent.next().await;
    assert_eq!(message["type"], "startTask", "{message}");
    let secret = &message["task"]["containers"][0]["secrets"][0];
    assert_eq!((secret["name"].as_str(), secret["value"].as_str()), (Some("DB_PASSWORD"), Some(VALUE)));

    // A new value reaches the next task; a deleted secret fails the start with ECS's reason.
    let (status, put) = h.call(Method::PUT, "/api/v1/secrets/alpha%2Fdb/value", Some(json!({ "secretString": "second-value" }).to_string())).await;
    assert_eq!((status, &put["secret"]["version"]), (StatusCode::OK, &json!(2)));
    start().await;
    assert_eq!(agent.next().await["task"]["containers"][0]["secrets"][0]["value"], "second-value");
    assert_eq!(h.delete("/api/v1/secrets/alpha%2Fdb").await.0, StatusCode::OK);
    start().await;
    let gone = agent.next().await;
    let secret = &gone["task"]["containers"][0]["secrets"][0];
    assert!(secret.get("value").is_none() && secret["problem"].as_str().unwrap().contains("team 'alpha' has no secret named 'alpha/db'"), "{gone}");

    // Another team cannot take the name: a team's secrets are named under its own. And none
    // is delivered to alpha's task.
    let (status, squat) = h.post("/api/v1/secrets", json!({ "name": "alpha/db", "secretString": "beta-owned", "team": "beta" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{squat}");
    assert_eq!(squat["errors"][0]["field"], "name");
    assert!(squat["errors"][0]["message"].as_str().unwrap().contains("team 'beta' is named 'beta/…'"), "{squat}");
    // Nor a secret outside any team (an admin's): the team's names are the team's.
    let (status, squat) = h.post("/api/v1/secrets", json!({ "name": "alpha/db", "secretString": "admin-owned" })).await;
    assert_eq!((status, squat["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("name")), "{squat}");
    start().await;
    let squatted = agent.next().await;
    let secret = &squatted["task"]["containers"][0]["secrets"][0];
    assert!(secret.get("value").is_none() && secret["problem"].as_str().unwrap().contains("team 'alpha' has no secret named 'alpha/db'"), "{squatted}");
    answers.push(h.get("/api/v1/audit?limit=500").await.1.to_string());
    answers.push(h.get("/api/v1/secrets").await.1.to_string());
    let audit = h.get("/api/v1/audit?limit=500").await.1.to_string();
    for action in ["CreateSecret", "PutSecretValue", "DeleteSecret"] {
        assert!(audit.contains(action), "{action} is in the audit log");
    }
    for answer in &answers {
        for value in [VALUE, "second-value", "beta-owned"] {
            assert!(!answer.contains(value), "an API answer holds a value: {answer}");
        }
    }
    let mut events = 0;
    while let Ok(e) = feed.try_recv() {
        let text = serde_json::to_string(&*e).unwrap();
        assert!(!text.contains(VALUE) && !text.contains("second-value"), "{text}");
        events += 1;
    }
    assert!(events > 0, "the feed saw the scenario's changes");
}

#[tokio::test]
async fn secrets_on_sqlite() {
    scenario(Db::Sqlite).await;
}

#[tokio::test]
async fn secrets_on_postgres() {
    scenario(Db::Postgres).await;
}

/// An agent reached neither over TLS nor from the server's own host, or one that does not say
/// it sets secrets, is sent no value.
#[tokio::test]
async fn no_value_travels_in_clear_to_another_host() {
    let Some(h) = Harness::new(Db::Sqlite).await else { return };
    h.post("/api/v1/teams", json!({ "teamName": "alpha" })).await;
    h.post("/api/v1/secrets", json!({ "name": "alpha/k", "secretString": VALUE, "team": "alpha" })).await;
    let (status, _) = h.call(Method::POST, "/api/v1/task-definitions?team=alpha", Some(with_secret("fam", "alpha/k").to_string())).await;
    assert_eq!(status, StatusCode::CREATED);
    let td: wharf_core::task_definition::TaskDefinition = serde_json::from_value(h.get("/api/v1/task-definitions/fam:1").await.1["taskDefinition"].clone()).unwrap();
    let spec = wharf_core::protocol::TaskSpec::from_definition(&td, "c", "i", "t", None);
    let mut plain = spec.clone();
    let attributes = |names: &[&str]| names.iter().map(|n| wharf_core::task_definition::Attribute { name: n.to_string(), value: None }).collect::<Vec<_>>();
    let capable = attributes(&[wharf_core::secret::CAPABILITY]);
    h.state.control.deliver_secrets(&mut plain, wharf_server::control::secrets::withheld(false, &capable)).await;
    assert!(plain.containers[0].secrets[0].value.is_none());
    assert!(plain.secrets_problem().unwrap().contains("over TLS only"));
    let mut old_agent = spec.clone();
    h.state.control.deliver_secrets(&mut old_agent, wharf_server::control::secrets::withheld(true, &attributes(&["ecs.capability.container-ordering"]))).await;
    assert!(old_agent.secrets_problem().unwrap().contains("upgrade it"), "an agent that would drop the values is sent none");
    let mut secure = spec;
    h.state.control.deliver_secrets(&mut secure, wharf_server::control::secrets::withheld(true, &capable)).await;
    assert_eq!(secure.containers[0].secrets[0].value.as_ref().map(|v| v.expose()), Some(VALUE));
    assert!(!format!("{secure:?}").contains(VALUE), "a logged spec shows no value");
}
