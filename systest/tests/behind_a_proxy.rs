//! A server behind a reverse proxy, as the real binary runs it: the client's address comes from
//! `X-Forwarded-For` only when the peer is a proxy the operator trusts (`--trusted-proxy`), so
//! the audit log and sign-in throttling see the people behind it, and nobody else can pass for
//! another address by sending the header.

use serde_json::{Value, json};
use wharf_systest::*;

async fn sign_in(server: &Server, username: &str, password: &str, forwarded_for: &str) -> u16 {
    let res = anonymous_client()
        .post(format!("{}/api/v1/session", server.url))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("sign-in answered");
    res.status().as_u16()
}

/// The addresses the audit log gives the sign-ins of `username`.
async fn sources(server: &Server, username: &str) -> Vec<String> {
    let audit = server.ok("GET", "/api/v1/audit?maxResults=500", None).await;
    let entries = audit["entries"].as_array().or_else(|| audit.as_array()).cloned().unwrap_or_default();
    entries.iter().filter(|e| e["action"] == "SignIn" && e["target"] == username).filter_map(|e| e["source"].as_str().map(str::to_string)).collect::<Vec<_>>()
}

const PASSWORD: &str = "a password long enough";

#[tokio::test]
async fn only_a_trusted_proxy_says_who_the_client_is() {
    let behind = Server::start_with(1, &["--trusted-proxy", "127.0.0.1"]).await;
    let exposed = Server::start(1).await;
    for server in [&behind, &exposed] {
        server.ok("POST", "/api/v1/users", Some(json!({ "username": "pat", "password": PASSWORD }))).await;
        // Five wrong guesses from one address; the sixth is held back.
        for _ in 0..5 {
            assert_eq!(sign_in(server, "pat", "wrong guess here", "198.51.100.7").await, 401);
        }
        assert_eq!(sign_in(server, "pat", "wrong guess here", "198.51.100.7").await, 429);
    }
    // Behind the trusted proxy, those guesses were one client's: pat signs in from elsewhere,
    // and the audit log names each client.
    assert_eq!(sign_in(&behind, "pat", PASSWORD, "203.0.113.20").await, 200);
    let seen = sources(&behind, "pat").await;
    assert_eq!(seen.iter().filter(|s| *s == "198.51.100.7").count(), 6, "{seen:?}");
    assert!(seen.contains(&"203.0.113.20".to_string()), "{seen:?}");
    // A server that trusts no proxy believes no header: every guess came from the peer, so
    // naming another address changes nothing, and the log says where they really came from.
    assert_eq!(sign_in(&exposed, "pat", PASSWORD, "203.0.113.20").await, 429);
    let seen: Vec<Value> = sources(&exposed, "pat").await.into_iter().map(Value::from).collect();
    assert!(!seen.is_empty() && seen.iter().all(|s| s == "127.0.0.1"), "{seen:?}");
}
