//! A real server router over a real database: a fresh SQLite file, or a fresh PostgreSQL
//! database when `WHARF_TEST_POSTGRES_URL` names a server (the test script starts one).

#![allow(dead_code)]

pub mod agent;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use wharf_server::store::Store;

pub struct Harness {
    pub router: axum::Router,
    pub store: Store,
    /// An admin's API token, sent with every request unless the test gives its own
    /// `authorization` header.
    pub token: String,
    pub state: wharf_server::api::AppState,
    _dir: tempfile::TempDir,
}

/// The first admin's password in every harness.
pub const ADMIN_PASSWORD: &str = "harness-admin-password";

pub enum Db {
    Sqlite,
    Postgres,
}

impl Harness {
    /// None when PostgreSQL is not configured and not required (a developer's quick run).
    pub async fn new(db: Db) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let url = match db {
            Db::Sqlite => None,
            Db::Postgres => Some(fresh_postgres_database().await?),
        };
        let store = Store::open(url.as_deref(), dir.path()).await.expect("store opens");
        let options = wharf_server::leptos_options(&dir.path().join("site"), "127.0.0.1:0".parse().unwrap());
        let state = wharf_server::state(store.clone(), options, "http://127.0.0.1:3000".into(), wharf_server::api::AgentSettings { heartbeat: std::time::Duration::from_secs(10), credential_rotation: std::time::Duration::from_secs(86_400), binary: None });
        // A key of the test's own, made in its directory as the server makes one at first start.
        state.control.set_sealer(wharf_server::auth::sealing::Sealer::from_file_or_new(&dir.path().join("secrets.key")).expect("a secrets key"));
        let admin = wharf_core::account::Credentials { username: "admin".into(), password: ADMIN_PASSWORD.into() };
        state.control.create_account(&admin, true, true).await.expect("first admin");
        let (_, token) = state.control.issue_user_token("admin", None, None, "harness").await.expect("admin token");
        let router = wharf_server::app(state.clone());
        Some(Self { router, store, token, state, _dir: dir })
    }

    pub async fn call(&self, method: Method, uri: &str, body: Option<String>) -> (StatusCode, Value) {
        let json: &[(&str, &str)] = if body.is_some() { &[("content-type", "application/json")] } else { &[] };
        let (status, _, value) = self.send(method, uri, json, body).await;
        (status, value)
    }

    /// A request with exactly the headers given; returns the response's headers too.
    pub async fn send(&self, method: Method, uri: &str, headers: &[(&str, &str)], body: Option<String>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization")) {
            req = req.header("authorization", format!("Bearer {}", self.token));
        }
        for (name, value) in headers.iter().filter(|(name, value)| !(name.eq_ignore_ascii_case("authorization") && value.is_empty())) {
            req = req.header(*name, *value);
        }
        let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, headers, value)
    }

    /// Serves the same router on a loopback port (for WebSocket clients); returns its address.
    pub async fn serve(&self) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        // With the peer's address, as the server binary serves (agents on loopback count as local).
        tokio::spawn(async move { axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await });
        addr
    }

    /// A scripted agent joined to `cluster` offering `units` CPU units and MiB, and its
    /// instance id, with the scheduler running every 200 ms.
    pub async fn scheduled_agent(&self, cluster: &str, units: i64) -> (agent::Agent, String) {
        let (_, token) = self.post(&format!("/api/v1/clusters/{cluster}/join-tokens"), serde_json::json!({})).await;
        let body = serde_json::json!({ "token": token["token"], "cluster": cluster, "hostname": "h1", "cpu": units, "memory": units });
        let (_, reg) = self.post("/agent/v1/register", body).await;
        let instance = reg["containerInstance"]["id"].as_str().expect("an instance id").to_string();
        let addr = self.serve().await;
        let (agent, _) = agent::Agent::connect(addr, reg["credential"].as_str().unwrap(), serde_json::json!([])).await;
        let settings = wharf_server::scheduling::Settings {
            interval: std::time::Duration::from_millis(200),
            lost_after: std::time::Duration::from_secs(60),
            start_timeout: std::time::Duration::from_secs(60),
        };
        wharf_server::scheduling::spawn(self.store.clone(), self.state.control.agents().clone(), self.state.control.events().clone(), settings);
        (agent, instance)
    }

    /// A request with another bearer token (`""` for none at all).
    pub async fn call_as(&self, token: &str, method: Method, uri: &str, body: Option<String>) -> (StatusCode, Value) {
        let bearer = format!("Bearer {token}");
        let mut headers = vec![("authorization", if token.is_empty() { "" } else { bearer.as_str() })];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let (status, _, value) = self.send(method, uri, &headers, body).await;
        (status, value)
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, None).await
    }

    pub async fn post(&self, uri: &str, body: impl ToString) -> (StatusCode, Value) {
        self.call(Method::POST, uri, Some(body.to_string())).await
    }

    pub async fn patch(&self, uri: &str, body: impl ToString) -> (StatusCode, Value) {
        self.call(Method::PATCH, uri, Some(body.to_string())).await
    }

    pub async fn delete(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, uri, None).await
    }
}

async fn fresh_postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("WHARF_TEST_POSTGRES_URL") else {
        if std::env::var("WHARF_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("WHARF_REQUIRE_POSTGRES=1 but WHARF_TEST_POSTGRES_URL is not set");
        }
        wharf_systest::skipped("the PostgreSQL variant: WHARF_TEST_POSTGRES_URL is not set (scripts/test.sh starts a PostgreSQL)");
        return None;
    };
    use sqlx::Connection;
    let name = format!("wharf_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("PostgreSQL reachable");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
    Some(format!("{base}/{name}"))
}

/// Runs each listed test body against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let h = $crate::common::Harness::new($crate::common::Db::Sqlite).await.unwrap();
                    super::$name(h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(h) = $crate::common::Harness::new($crate::common::Db::Postgres).await {
                        super::$name(h).await;
                    }
                }
            )*
        }
    };
}

pub fn fixtures_dir() -> std::path::PathBuf {
    std::env::var("WHARF_FIXTURES")
        .map(Into::into)
        .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/task-definitions"))
}

pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Strips what the server adds to a registered revision, leaving what the user wrote.
pub fn as_registered(mut td: Value) -> Value {
    let obj = td.as_object_mut().unwrap();
    for f in ["taskDefinitionArn", "revision", "status", "registeredAt", "deregisteredAt", "requiresAttributes", "compatibilities"] {
        obj.remove(f);
    }
    td
}
