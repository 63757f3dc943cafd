//! The HTTP API over a real store, each test on SQLite and on PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::{Harness, as_registered, fixture, fixtures_dir};
use serde_json::{Value, json};

on_both_backends!(
    fixtures_register_and_read_back_equal,
    invalid_fixtures_are_rejected_and_store_nothing,
    revisions_count_up_and_deregister_to_inactive,
    concurrent_registrations_get_distinct_revisions,
    clusters_lifecycle_and_pagination,
    services_create_update_delete,
    service_input_errors_name_every_field,
    errors_have_one_shape,
    text_with_a_nul_is_refused_with_its_field,
    another_sites_pages_change_nothing,
    a_clusters_task_policy_keeps_its_tasks_off_the_host,
);

async fn fixtures_register_and_read_back_equal(h: Harness) {
    for name in ["web-nginx.json", "busybox-httpd.json", "app-with-sidecar.json", "log-collector-daemon.json"] {
        let text = fixture(name);
        let (status, body) = h.post("/api/v1/task-definitions", &text).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        let td = &body["taskDefinition"];
        assert_eq!(td["revision"], 1, "{name}");
        assert_eq!(td["status"], "ACTIVE");
        let family = td["family"].as_str().unwrap();
        let (status, read) = h.get(&format!("/api/v1/task-definitions/{family}:1")).await;
        assert_eq!(status, StatusCode::OK);
        let original: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(as_registered(read["taskDefinition"].clone()), original, "{name} reads back different");
    }
}

async fn invalid_fixtures_are_rejected_and_store_nothing(h: Harness) {
    let dir = fixtures_dir().join("invalid");
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected-errors.json")).unwrap()).unwrap();
    for (file, field) in &expected {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let (status, body) = h.post("/api/v1/task-definitions", &text).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{file}: {body}");
        assert_eq!(body["error"], "InvalidParameter");
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        match field {
            Value::Null => assert!(body["message"].as_str().unwrap().contains("line 1, column"), "{file}: {body}"),
            Value::String(f) => assert!(fields.contains(&f.as_str()), "{file}: wanted {f}, got {fields:?}"),
            _ => unreachable!(),
        }
    }
    let (_, list) = h.get("/api/v1/task-definitions").await;
    assert_eq!(list["taskDefinitions"].as_array().unwrap().len(), 0, "an invalid document stored something");
    let (_, families) = h.get("/api/v1/task-definition-families").await;
    assert_eq!(families["families"], json!([]));
}

async fn revisions_count_up_and_deregister_to_inactive(h: Harness) {
    let text = fixture("busybox-httpd.json");
    for expected in 1..=3 {
        let (_, body) = h.post("/api/v1/task-definitions", &text).await;
        assert_eq!(body["taskDefinition"]["revision"], expected);
    }
    let (status, body) = h.delete("/api/v1/task-definitions/hello-httpd:3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["taskDefinition"]["status"], "INACTIVE");
    assert!(body["taskDefinition"]["deregisteredAt"].is_string());
    // `family` alone is the latest ACTIVE revision.
    let (_, latest) = h.get("/api/v1/task-definitions/hello-httpd").await;
    assert_eq!(latest["taskDefinition"]["revision"], 2);
    // An INACTIVE revision is still described.
    let (status, _) = h.get("/api/v1/task-definitions/hello-httpd:3").await;
    assert_eq!(status, StatusCode::OK);
    let (_, active) = h.get("/api/v1/task-definitions?family=hello-httpd&status=ACTIVE").await;
    assert_eq!(active["taskDefinitions"].as_array().unwrap().len(), 2);
    // A new registration goes on counting: revisions are never reused.
    let (_, body) = h.post("/api/v1/task-definitions", &text).await;
    assert_eq!(body["taskDefinition"]["revision"], 4);
    let (_, fams) = h.get("/api/v1/task-definition-families?familyPrefix=hello").await;
    assert_eq!(fams["families"][0]["latestRevision"], 4);
    assert_eq!(fams["families"][0]["activeRevisions"], 3);
    for rev in [1, 2, 4] {
        h.delete(&format!("/api/v1/task-definitions/hello-httpd:{rev}")).await;
    }
    let (_, inactive) = h.get("/api/v1/task-definition-families?status=INACTIVE").await;
    assert_eq!(inactive["families"][0]["family"], "hello-httpd");
    let (_, active) = h.get("/api/v1/task-definition-families?status=ACTIVE").await;
    assert_eq!(active["families"], json!([]));
    let (status, body) = h.get("/api/v1/task-definitions/hello-httpd").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = h.get("/api/v1/task-definitions/hello-httpd:99").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = h.get("/api/v1/task-definitions/bad%20name:1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn concurrent_registrations_get_distinct_revisions(h: Harness) {
    let text = fixture("web-nginx.json");
    let calls = (0..16).map(|_| h.post("/api/v1/task-definitions", &text));
    let results = futures_join_all(calls).await;
    let mut revisions: Vec<i64> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::CREATED, "{b}");
            b["taskDefinition"]["revision"].as_i64().unwrap()
        })
        .collect();
    revisions.sort();
    assert_eq!(revisions, (1..=16).collect::<Vec<_>>());
}

async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::new();
    // Drive them together so the store sees concurrent transactions.
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let results = std::sync::Mutex::new(Vec::new());
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results.lock().unwrap().push((i, v));
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    out.extend(results.into_iter().map(|(_, v)| v));
    out
}

async fn clusters_lifecycle_and_pagination(h: Harness) {
    for name in ["alpha", "bravo", "charlie", "delta", "echo"] {
        let (status, body) = h.post("/api/v1/clusters", json!({ "clusterName": name })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["cluster"]["clusterArn"], format!("arn:wharf:ecs:local:000000000000:cluster/{name}"));
    }
    // ECS: creating an existing cluster returns it.
    let (status, body) = h.post("/api/v1/clusters", json!({ "clusterName": "alpha" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["cluster"]["clusterName"], "alpha");

    let mut seen = Vec::new();
    let mut uri = "/api/v1/clusters?maxResults=2".to_string();
    loop {
        let (status, page) = h.get(&uri).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let clusters = page["clusters"].as_array().unwrap();
        assert!(clusters.len() <= 2);
        seen.extend(clusters.iter().map(|c| c["clusterName"].as_str().unwrap().to_string()));
        match page["nextToken"].as_str() {
            Some(token) => uri = format!("/api/v1/clusters?maxResults=2&nextToken={token}"),
            None => break,
        }
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
    let (status, _) = h.get("/api/v1/clusters?nextToken=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A cluster with an active service cannot be deleted.
    h.post("/api/v1/task-definitions", fixture("busybox-httpd.json")).await;
    let (status, _) = h
        .post("/api/v1/clusters/alpha/services", json!({"serviceName": "web", "taskDefinition": "hello-httpd", "desiredCount": 0}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, described) = h.get("/api/v1/clusters/alpha").await;
    assert_eq!(described["cluster"]["activeServicesCount"], 1);
    let (status, body) = h.delete("/api/v1/clusters/alpha").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("service"));

    let (status, _) = h.delete("/api/v1/clusters/bravo").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h.get("/api/v1/clusters/bravo").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "NotFound");
    let (status, body) = h.post("/api/v1/clusters", json!({ "clusterName": "no spaces" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "clusterName");
}

async fn services_create_update_delete(h: Harness) {
    h.post("/api/v1/clusters", json!({ "clusterName": "prod" })).await;
    h.post("/api/v1/task-definitions", fixture("web-nginx.json")).await;
    h.post("/api/v1/clusters/prod/target-groups", json!({"targetGroupName": "web"})).await;
    let (status, body) = h
        .post("/api/v1/clusters/prod/services", json!({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 3,
            "loadBalancers": [{"targetGroupArn": "web", "containerName": "nginx", "containerPort": 80}]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let svc = &body["service"];
    assert_eq!(svc["deploymentConfiguration"]["minimumHealthyPercent"], 100);
    assert_eq!(svc["deploymentConfiguration"]["maximumPercent"], 200);
    assert_eq!(svc["schedulingStrategy"], "REPLICA");
    assert_eq!(svc["loadBalancers"][0]["containerPort"], 80);
    assert!(svc["loadBalancers"][0]["targetGroupArn"].as_str().unwrap().starts_with("arn:wharf:elasticloadbalancing:local:000000000000:targetgroup/web/"));
    assert_eq!(svc["deployments"][0]["status"], "PRIMARY");
    assert_eq!(svc["deployments"][0]["rolloutState"], "IN_PROGRESS");
    assert_eq!(svc["events"].as_array().unwrap().len(), 1);

    let (status, body) = h.post("/api/v1/clusters/prod/services", json!({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = h.post("/api/v1/clusters/nope/services", json!({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Scale: same deployment, an event.
    let (status, body) = h.patch("/api/v1/clusters/prod/services/web", json!({"desiredCount": 5})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["service"]["desiredCount"], 5);
    assert_eq!(body["service"]["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(body["service"]["deployments"][0]["desiredCount"], 5);

    // New revision: a new PRIMARY deployment, the old one ACTIVE.
    h.post("/api/v1/task-definitions", fixture("web-nginx.json")).await;
    let (_, body) = h.patch("/api/v1/clusters/prod/services/web", json!({"taskDefinition": "web"})).await;
    let deployments = body["service"]["deployments"].as_array().unwrap();
    assert_eq!(body["service"]["taskDefinition"], "web:2");
    assert_eq!(deployments.len(), 2);
    assert_eq!(deployments.iter().filter(|d| d["status"] == "PRIMARY").count(), 1);
    assert!(deployments.iter().any(|d| d["status"] == "ACTIVE" && d["taskDefinition"] == "web:1"));
    // forceNewDeployment with the same revision is a rolling restart.
    let (_, body) = h.patch("/api/v1/clusters/prod/services/web", json!({"forceNewDeployment": true})).await;
    assert_eq!(body["service"]["deployments"].as_array().unwrap().len(), 3);

    // A deregistered revision cannot start new work; the running service keeps it.
    h.delete("/api/v1/task-definitions/web:1").await;
    let (status, body) = h.patch("/api/v1/clusters/prod/services/web", json!({"taskDefinition": "web:1"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "taskDefinition");

    let (status, body) = h.delete("/api/v1/clusters/prod/services/web").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = h.delete("/api/v1/clusters/prod/services/web?force=true").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["service"]["status"], "INACTIVE");
    let (_, list) = h.get("/api/v1/clusters/prod/services").await;
    assert_eq!(list["services"], json!([]));
    let (status, body) = h.get("/api/v1/clusters/prod/services/web").await;
    assert_eq!(status, StatusCode::OK, "a deleted service stays describable");
    assert_eq!(body["service"]["status"], "INACTIVE");
    // The name is free again.
    let (status, _) = h.post("/api/v1/clusters/prod/services", json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1})).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn service_input_errors_name_every_field(h: Harness) {
    h.post("/api/v1/clusters", json!({ "clusterName": "prod" })).await;
    let (status, body) = h
        .post("/api/v1/clusters/prod/services", json!({"serviceName": "web", "taskDefinition": "ghost:1", "desiredCount": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["field"], "taskDefinition");
    let (_, services) = h.get("/api/v1/clusters/prod/services").await;
    assert_eq!(services["services"], json!([]), "a refused create stores nothing");

    let (status, body) = h
        .post("/api/v1/clusters/prod/services", json!({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": "two"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "desiredCount");
}

async fn errors_have_one_shape(h: Harness) {
    let (status, body) = h.get("/api/v1/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "NotFound");
    let big = format!("{{\"family\": \"x\", \"pad\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let (status, body) = h.post("/api/v1/task-definitions", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "PayloadTooLarge");
    let (status, body) = h.get("/api/v1/clusters?maxResults=5000").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "maxResults");
    let (status, _) = h.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, metrics) = h.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.as_str().unwrap().contains("wharf_http_responses_total{class=\"4xx\"}"));
    let (_, doc) = h.get("/api/v1/openapi.json").await;
    for path in ["/api/v1/task-definitions", "/api/v1/clusters/{cluster}/services/{service}", "/api/v1/clusters/{cluster}"] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["TaskDefinitionSpec"].is_object());
}

/// A NUL in any text a user sends is refused with the field that held it, on both databases
/// alike (PostgreSQL keeps no NUL in text; SQLite would have stored it).
async fn text_with_a_nul_is_refused_with_its_field(h: Harness) {
    let mut td: Value = serde_json::from_str(&fixture("web-nginx.json")).unwrap();
    td["containerDefinitions"][0]["environment"] = json!([{ "name": "GREETING", "value": "hi\u{0}there" }]);
    let (status, body) = h.post("/api/v1/task-definitions", td).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["field"], "containerDefinitions[0].environment[0].value", "{body}");
    let (status, body) = h.post("/api/v1/clusters", json!({ "clusterName": "a\u{0}" })).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("clusterName")), "{body}");
    let (status, body) = h.post("/api/v1/clusters", json!({ "clusterName": "ok", "tags": [{ "key": "team", "value": "x\u{0}" }] })).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("tags[0].value")), "{body}");
    for (uri, field) in [("/api/v1/clusters/a%00b", "path"), ("/api/v1/clusters?nextToken=%00", "query")] {
        let (status, body) = h.get(uri).await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{uri}: {body}");
    }
    // Nothing was stored on the way.
    let (_, families) = h.get("/api/v1/task-definition-families").await;
    assert_eq!(families["families"].as_array().map(Vec::len), Some(0), "{families}");
    let (_, clusters) = h.get("/api/v1/clusters").await;
    assert_eq!(clusters["clusters"].as_array().map(Vec::len), Some(0), "{clusters}");
}

/// A page of another site open in an operator's browser changes nothing: its forms (sent
/// without the browser asking first) and its fetches are refused, and so is a name that
/// rebinds to this server; the portal's own requests go through.
async fn another_sites_pages_change_nothing(h: Harness) {
    use axum::http::Method;
    let body = || Some(r#"{"clusterName": "evil"}"#.to_string());
    let here = ("host", "127.0.0.1:3000");
    let attempts: [(&[(&str, &str)], StatusCode); 5] = [
        // A form of evil.example posting JSON-looking text.
        (&[here, ("origin", "http://evil.example"), ("content-type", "text/plain")], StatusCode::FORBIDDEN),
        // Its fetch with JSON (a browser would ask first; a preflight gets no permission).
        (&[here, ("origin", "http://evil.example"), ("content-type", "application/json")], StatusCode::FORBIDDEN),
        // A browser that sends no Origin but says where the request comes from.
        (&[here, ("sec-fetch-site", "cross-site"), ("content-type", "application/json")], StatusCode::FORBIDDEN),
        // A form, whatever its origin: the API takes JSON as JSON.
        (&[here, ("content-type", "application/x-www-form-urlencoded")], StatusCode::UNSUPPORTED_MEDIA_TYPE),
        // evil.example's name rebound to this server's address.
        (&[("host", "evil.example:3000"), ("origin", "http://evil.example:3000"), ("content-type", "application/json")], StatusCode::FORBIDDEN),
    ];
    for (headers, expected) in attempts {
        let (status, _, answer) = h.send(Method::POST, "/api/v1/clusters", headers, body()).await;
        assert_eq!(status, expected, "{headers:?}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
    let (status, _, _) = h.send(Method::GET, "/api/v1/clusters", &[("host", "evil.example:3000")], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a rebound name reads nothing either");
    let (_, listed) = h.get("/api/v1/clusters").await;
    assert_eq!(listed["clusters"].as_array().map(Vec::len), Some(0), "{listed}");
    // The portal's own request, and a script's (no Origin at all), go through.
    let own = [here, ("origin", "http://127.0.0.1:3000"), ("content-type", "application/json; charset=utf-8")];
    let (status, headers, answer) = h.send(Method::POST, "/api/v1/clusters", &own, body()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    let (status, _) = h.post("/api/v1/clusters", json!({ "clusterName": "scripted" })).await;
    assert_eq!(status, StatusCode::CREATED);
}

/// New clusters are restricted: a task definition that reaches onto the host (its network, a
/// host path) is refused where it would run there, at each field; an admin can loosen the
/// policy (baseline with allowed host paths, or privileged).
async fn a_clusters_task_policy_keeps_its_tasks_off_the_host(h: Harness) {
    let (status, created) = h.post("/api/v1/clusters", json!({ "clusterName": "shared" })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["cluster"]["taskPolicy"], json!({ "level": "restricted" }));
    let (status, _) = h.post("/api/v1/task-definitions", fixture("log-collector-daemon.json")).await;
    assert_eq!(status, StatusCode::CREATED);
    let fields = |body: &Value| -> Vec<String> { body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_string()).collect() };
    let attempts = [
        ("/api/v1/clusters/shared/services", json!({ "serviceName": "logs", "taskDefinition": "log-collector", "schedulingStrategy": "DAEMON" })),
        ("/api/v1/clusters/shared/tasks", json!({ "taskDefinition": "log-collector", "count": 1 })),
        ("/api/v1/clusters/shared/tasks/start", json!({ "taskDefinition": "log-collector", "containerInstances": ["i-1"] })),
    ];
    for (uri, body) in &attempts {
        let (status, refused) = h.post(uri, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {refused}");
        assert_eq!(fields(&refused), ["taskDefinition.networkMode", "taskDefinition.volumes[0].host.sourcePath"], "{uri}: {refused}");
        assert!(refused["errors"][1]["message"].as_str().unwrap().contains("the host path '/var/log' is not allowed by the cluster's restricted task policy"), "{refused}");
    }
    // Baseline with /var/log allowed: the host path passes, the host network does not.
    let baseline = json!({ "taskPolicy": { "level": "baseline", "allowedHostPaths": ["/var/log"] } });
    let (status, updated) = h.patch("/api/v1/clusters/shared", baseline).await;
    assert_eq!((status, &updated["cluster"]["taskPolicy"]["level"]), (StatusCode::OK, &json!("baseline")), "{updated}");
    let (_, refused) = h.post(attempts[0].0, &attempts[0].1).await;
    assert_eq!(fields(&refused), ["taskDefinition.networkMode"], "{refused}");
    // A policy's own paths are checked.
    let (status, bad) = h.patch("/api/v1/clusters/shared", json!({ "taskPolicy": { "level": "baseline", "allowedHostPaths": ["/srv/../etc"] } })).await;
    assert_eq!((status, fields(&bad)), (StatusCode::BAD_REQUEST, vec!["taskPolicy.allowedHostPaths[0]".to_string()]), "{bad}");
    let (status, _) = h.patch("/api/v1/clusters/nowhere", json!({ "taskPolicy": { "level": "privileged" } })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Privileged: it runs.
    h.patch("/api/v1/clusters/shared", json!({ "taskPolicy": { "level": "privileged" } })).await;
    let (status, service) = h.post(attempts[0].0, &attempts[0].1).await;
    assert_eq!(status, StatusCode::CREATED, "{service}");
}

mod join_tokens {
    use super::*;
    use wharf_server::control::Control;

    on_both_backends!(tokens_are_shown_once_stored_hashed_and_revocable);

    async fn tokens_are_shown_once_stored_hashed_and_revocable(h: Harness) {
        h.post("/api/v1/clusters", json!({ "clusterName": "edge" })).await;
        let (status, body) = h.post("/api/v1/clusters/edge/join-tokens", json!({ "description": "rack 3", "expiresInSeconds": 3600 })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = body["token"].as_str().unwrap().to_string();
        let id = body["joinToken"]["id"].as_str().unwrap().to_string();
        assert!(token.starts_with(&format!("wjt_{id}_")));
        assert_eq!(body["joinToken"]["status"], "ACTIVE");
        assert!(body["joinToken"]["expiresAt"].is_string());
        // Without a lifetime a token still expires, a day later.
        let (_, unbounded) = h.post("/api/v1/clusters/edge/join-tokens", json!({})).await;
        let (created, expires) = (unbounded["joinToken"]["createdAt"].as_str().unwrap(), unbounded["joinToken"]["expiresAt"].as_str().unwrap());
        let day = chrono::DateTime::parse_from_rfc3339(expires).unwrap() - chrono::DateTime::parse_from_rfc3339(created).unwrap();
        assert!((day.num_seconds() - 86_400).abs() <= 1, "{unbounded}");

        let (_, list) = h.get("/api/v1/clusters/edge/join-tokens").await;
        let listed = list["joinTokens"].as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).expect("the token is listed");
        assert_eq!(listed["description"], "rack 3");
        assert!(!list.to_string().contains(&token[21..]), "a listing never shows the secret");
        // The store holds a hash, not the secret.
        let secret = &token[21..];
        let stored: String = sqlx::query_scalar("SELECT secret_hash FROM join_tokens").fetch_one(h.store.pool()).await.unwrap();
        assert_ne!(stored, secret);
        assert_eq!(stored.len(), 64);

        let control = Control::new(h.store.clone(), Default::default(), "http://127.0.0.1:3000".into());
        assert_eq!(control.verify_join_token(&token).await.unwrap().cluster_name, "edge");
        let wrong = format!("{}{}", &token[..token.len() - 1], if token.ends_with('0') { '1' } else { '0' });
        let err = control.verify_join_token(&wrong).await.unwrap_err();
        assert!(err.message.contains("not valid"), "{err:?}");
        assert!(control.verify_join_token("hello").await.unwrap_err().message.contains("malformed"));

        let (status, body) = h.delete(&format!("/api/v1/clusters/edge/join-tokens/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["joinToken"]["status"], "REVOKED");
        let err = control.verify_join_token(&token).await.unwrap_err();
        assert!(err.message.contains("revoked"), "{err:?}");

        let (status, body) = h.post("/api/v1/clusters/edge/join-tokens", json!({ "expiresInSeconds": 1 })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["errors"][0]["field"], "expiresInSeconds");
        let (status, _) = h.post("/api/v1/clusters/nowhere/join-tokens", json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = h.delete("/api/v1/clusters/edge/join-tokens/ffffffffffffffff").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Deleting the cluster takes its tokens along.
        h.delete("/api/v1/clusters/edge").await;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM join_tokens").fetch_one(h.store.pool()).await.unwrap();
        assert_eq!(left, 0);
    }
}

mod registration {
    use super::*;

    on_both_backends!(a_host_registers_once_with_a_join_token);

    async fn a_host_registers_once_with_a_join_token(h: Harness) {
        h.post("/api/v1/clusters", json!({ "clusterName": "edge" })).await;
        // The token says the zone of its hosts: placement trusts that, not what a host claims.
        let (_, body) = h.post("/api/v1/clusters/edge/join-tokens", json!({ "attributes": [{"name": "ecs.availability-zone", "value": "b"}] })).await;
        assert_eq!(body["joinToken"]["attributes"], json!([{"name": "ecs.availability-zone", "value": "b"}]), "{body}");
        let token = body["token"].as_str().unwrap().to_string();
        let host = json!({
            "token": token, "hostname": "rack3-node7", "cpu": 4096, "memory": 15800,
            "attributes": [{"name": "ecs.availability-zone", "value": "a"}, {"name": "ecs.os-type", "value": "linux"}],
            "versionInfo": {"agentVersion": "0.1.0", "dockerVersion": "28.2.2"}
        });
        let (status, body) = h.post("/agent/v1/register", &host).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let instance = &body["containerInstance"];
        assert!(body["credential"].as_str().unwrap().starts_with("wic_"));
        assert_eq!(instance["status"], "ACTIVE");
        assert_eq!(instance["agentConnected"], false);
        assert_eq!(instance["registeredResources"][0], json!({"name": "CPU", "type": "INTEGER", "integerValue": 4096}));
        assert_eq!(instance["remainingResources"][1]["integerValue"], 15800);
        let id = instance["id"].as_str().unwrap();
        let (status, described) = h.get(&format!("/api/v1/clusters/edge/container-instances/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(described["containerInstance"]["attributes"], json!([{"name": "ecs.os-type", "value": "linux"}, {"name": "ecs.availability-zone", "value": "b"}]));
        let (_, cluster) = h.get("/api/v1/clusters/edge").await;
        assert_eq!(cluster["cluster"]["trustedAttributes"], json!(["ecs.availability-zone"]), "what a new cluster trusts only from tokens");
        let (_, cluster) = h.get("/api/v1/clusters/edge").await;
        assert_eq!(cluster["cluster"]["registeredContainerInstancesCount"], 1);
        // The token shows its use; a cluster with a host cannot be deleted.
        let (_, tokens) = h.get("/api/v1/clusters/edge/join-tokens").await;
        assert!(tokens["joinTokens"][0]["lastUsedAt"].is_string());
        let (status, _) = h.delete("/api/v1/clusters/edge").await;
        assert_eq!(status, StatusCode::CONFLICT);

        // A wrong token is refused as bad credentials, and nothing is registered.
        let mut forged = host.clone();
        // Its last character changed (to one it is not).
        let last = if token.ends_with('0') { '1' } else { '0' };
        forged["token"] = json!(format!("{}{last}", &token[..token.len() - 1]));
        let (status, body) = h.post("/agent/v1/register", &forged).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["errors"][0]["field"], "token");
        // ecs.* names beyond the agent's own are Wharf's: a host's claim of one is left out, and
        // a token giving one is refused by name.
        let mut claims = host.clone();
        claims["attributes"] = json!([{"name": "ecs.os-type", "value": "linux"}, {"name": "ecs.trusted-host", "value": "yes"}]);
        let (status, body) = h.post("/agent/v1/register", &claims).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["containerInstance"]["attributes"], json!([{"name": "ecs.os-type", "value": "linux"}, {"name": "ecs.availability-zone", "value": "b"}]));
        let (status, body) = h.post("/api/v1/clusters/edge/join-tokens", json!({ "attributes": [{"name": "ecs.trusted-host", "value": "yes"}] })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["errors"][0]["field"], "attributes[0].name");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("reserved"), "{body}");
        // Trusting one more name weighs the hosts' stored attributes again, at once.
        let (status, body) = h.patch("/api/v1/clusters/edge", json!({ "trustedAttributes": ["ecs.availability-zone", "ecs.os-type"] })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, described) = h.get(&format!("/api/v1/clusters/edge/container-instances/{id}")).await;
        assert_eq!(described["containerInstance"]["attributes"], json!([{"name": "ecs.availability-zone", "value": "b"}]));
        let (status, body) = h.patch("/api/v1/clusters/edge", json!({ "trustedAttributes": ["ecs.cluster-root"] })).await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("trustedAttributes[0]")), "{body}");
        // Bad input names every field; a revoked token is refused.
        let (status, body) = h.post("/agent/v1/register", json!({"token": token, "cpu": -1})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["hostname", "cpu", "memory"]);
        let token_id = &token[4..20];
        h.delete(&format!("/api/v1/clusters/edge/join-tokens/{token_id}")).await;
        let (status, body) = h.post("/agent/v1/register", &host).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body["message"].as_str().unwrap().contains("revoked"));
        let (_, list) = h.get("/api/v1/clusters/edge/container-instances").await;
        assert_eq!(list["containerInstances"].as_array().unwrap().len(), 2, "the two that registered before the token was revoked");
    }
}
