//! The live feed over HTTP: `GET /api/v1/events` streams committed changes as Server-Sent
//! Events, filters by cluster, and a reconnect with `Last-Event-ID` receives what it missed,
//! none twice.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{Db, Harness};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

/// One parsed SSE event.
#[derive(Debug)]
struct Sse {
    id: Option<String>,
    event: String,
    data: Value,
}

/// An open event stream, read frame by frame.
struct Feed {
    body: Body,
    buffer: String,
}

impl Feed {
    async fn open(h: &Harness, uri: &str, last_event_id: Option<&str>) -> Self {
        let bearer = format!("Bearer {}", h.token);
        let mut headers = vec![("authorization", bearer.as_str())];
        if let Some(id) = last_event_id {
            headers.push(("last-event-id", id));
        }
        Self::open_with(h, uri, &headers).await
    }

    async fn open_with(h: &Harness, uri: &str, headers: &[(&str, &str)]) -> Self {
        let mut req = Request::builder().uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = h.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Self { body: res.into_body(), buffer: String::new() }
    }

    /// The next event, or None when none comes within a second.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    match line.split_once(':') {
                        Some(("id", v)) => id = Some(v.trim().to_string()),
                        Some(("event", v)) => event = v.trim().to_string(),
                        Some(("data", v)) => data.push_str(v.trim()),
                        _ => {}
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(Sse { id, event, data: serde_json::from_str(&data).unwrap() });
            }
            let frame = tokio::time::timeout(Duration::from_secs(1), self.body.frame()).await.ok()??.ok()?;
            if let Ok(bytes) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&bytes).unwrap());
            }
        }
    }
}

impl Feed {
    /// Whether the response ends within `wait` (events and keep-alives are read past).
    async fn ends_within(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, async {
            while let Some(frame) = self.body.frame().await {
                if frame.is_err() {
                    break;
                }
            }
        })
        .await
        .is_ok()
    }
}

/// A feed stays open only while its caller may have it: signing out, revoking the token and
/// unsharing the cluster each end one within a few seconds, while a feed whose caller is
/// unchanged stays open.
#[tokio::test]
async fn a_feed_ends_when_its_caller_may_no_longer_have_it() {
    let h = Harness::new(Db::Sqlite).await.unwrap();
    let control = h.state.control.clone();
    for user in ["dev", "ops", "ci", "ex"] {
        let creds = wharf_core::account::Credentials { username: user.into(), password: "feed password here".into() };
        control.create_account(&creds, false, false).await.unwrap();
    }
    assert_eq!(h.post("/api/v1/teams", json!({ "teamName": "web" })).await.0, 201);
    assert_eq!(h.post("/api/v1/clusters", json!({ "clusterName": "shared" })).await.0, 201);
    for user in ["dev", "ops", "ci", "ex"] {
        assert_eq!(h.call(axum::http::Method::PUT, &format!("/api/v1/teams/web/members/{user}"), Some(json!({ "role": "viewer" }).to_string())).await.0, 200);
    }
    assert_eq!(h.call(axum::http::Method::PUT, "/api/v1/clusters/shared/teams/web", None).await.0, 200);

    let body = json!({ "username": "dev", "password": "feed password here" }).to_string();
    let (status, headers, session) = h.send(axum::http::Method::POST, "/api/v1/session", &[("authorization", ""), ("content-type", "application/json")], Some(body)).await;
    assert_eq!(status, 200, "{session}");
    let cookie = headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = session["csrfToken"].as_str().unwrap().to_string();
    let (ops, ops_token) = control.issue_user_token("ops", None, None, "test").await.unwrap();
    let (_, ci_token) = control.issue_user_token("ci", None, None, "test").await.unwrap();
    let (_, ex_token) = control.issue_user_token("ex", None, None, "test").await.unwrap();
    let (ops_bearer, ci_bearer, ex_bearer) = (format!("Bearer {ops_token}"), format!("Bearer {ci_token}"), format!("Bearer {ex_token}"));

    let mut signed_in = Feed::open_with(&h, "/api/v1/events", &[("cookie", &cookie)]).await;
    let mut revoked = Feed::open_with(&h, "/api/v1/events", &[("authorization", &ops_bearer)]).await;
    let mut unchanged = Feed::open_with(&h, "/api/v1/events", &[("authorization", &ci_bearer)]).await;
    let mut disabled = Feed::open_with(&h, "/api/v1/events", &[("authorization", &ex_bearer)]).await;
    let mut admin = Feed::open(&h, "/api/v1/events", None).await;
    assert!(!signed_in.ends_within(Duration::from_millis(200)).await);

    // The session signs out (from its own page), the token is revoked: both feeds end.
    let out = [("authorization", ""), ("cookie", cookie.as_str()), ("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000"), ("x-csrf-token", csrf.as_str())];
    assert_eq!(h.send(axum::http::Method::DELETE, "/api/v1/session", &out, None).await.0, 204);
    assert_eq!(h.delete(&format!("/api/v1/tokens/{}", ops.id)).await.0, 200);
    assert_eq!(h.patch("/api/v1/users/ex", json!({ "disabled": true })).await.0, 200);
    let wait = wharf_server::api::live::RECHECK + Duration::from_secs(3);
    let (a, b, c, d) = tokio::join!(signed_in.ends_within(wait), revoked.ends_within(wait), unchanged.ends_within(wait), disabled.ends_within(wait));
    assert!(a, "the signed-out session's feed ended");
    assert!(b, "the revoked token's feed ended");
    assert!(!c, "a feed whose caller is unchanged stays open");
    assert!(d, "a disabled account's feed ended");

    // The cluster is no longer shared with the team: its members' feeds end (and a new one
    // carries none of its events); the admin's stays.
    assert_eq!(h.delete("/api/v1/clusters/shared/teams/web").await.0, 200);
    let (c, d) = tokio::join!(unchanged.ends_within(wait), admin.ends_within(wait));
    assert!(c, "the unshared cluster's viewer's feed ended");
    assert!(!d, "the admin's feed stays open");
}

#[tokio::test]
async fn changes_stream_live_filter_by_cluster_and_a_reconnect_gets_only_what_it_missed() {
    let h = Harness::new(Db::Sqlite).await.unwrap();
    let mut all = Feed::open(&h, "/api/v1/events", None).await;
    let mut only_b = Feed::open(&h, "/api/v1/events?cluster=b", None).await;

    assert_eq!(h.post("/api/v1/clusters", json!({"clusterName": "a"})).await.0, 201);
    let first = all.next().await.expect("the cluster's creation is announced");
    assert_eq!((first.event.as_str(), &first.data["cluster"], &first.data["status"]), ("cluster", &json!("a"), &json!("ACTIVE")));
    let first_id = first.id.expect("events carry ids");

    assert_eq!(h.post("/api/v1/clusters", json!({"clusterName": "b"})).await.0, 201);
    let fixture = common::fixture("busybox-httpd.json");
    assert_eq!(h.post("/api/v1/task-definitions", fixture).await.0, 201);
    let second = all.next().await.unwrap();
    assert_eq!(second.data["cluster"], "b");
    let third = all.next().await.unwrap();
    assert_eq!(third.event, "taskDefinition");
    assert!(all.next().await.is_none(), "nothing else happened");

    // The cluster filter keeps b's change and changes of no cluster.
    let seen: Vec<String> = [only_b.next().await.unwrap(), only_b.next().await.unwrap()].iter().map(|e| e.event.clone()).collect();
    assert_eq!(seen, ["cluster", "taskDefinition"]);
    assert!(only_b.next().await.is_none(), "a's change was filtered out");

    // Reconnecting after the first event: the two missed, in order, then live ones.
    drop(all);
    let mut again = Feed::open(&h, "/api/v1/events", Some(&first_id)).await;
    let missed = [again.next().await.unwrap(), again.next().await.unwrap()];
    assert_eq!(missed[0].id, second.id);
    assert_eq!(missed[1].id, third.id);
    assert!(again.next().await.is_none(), "none twice");
    assert_eq!(h.delete("/api/v1/clusters/a").await.0, 200);
    let live = again.next().await.unwrap();
    assert_eq!((live.event.as_str(), &live.data["status"]), ("cluster", &json!("INACTIVE")));

    // An id from another server process: told to reload.
    let mut stale = Feed::open(&h, "/api/v1/events", Some("1-1")).await;
    assert_eq!(stale.next().await.unwrap().event, "reset");
}
