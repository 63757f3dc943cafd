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
        let mut req = Request::builder().uri(uri).header("authorization", format!("Bearer {}", h.token));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
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
