/*!
Harness for system tests: starts the real `wharf-server` and `wharf-agent` binaries (built
beforehand into the target folder; `scripts/test.sh` does), talks to them over HTTP and
WebSockets, and cleans up the Docker containers a test's cluster leaves behind.
*/

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub mod load;
pub mod proxy;

/// A fresh PostgreSQL database for one test, when `WHARF_TEST_POSTGRES_URL` names a server
/// (the test script starts one). Without it the caller skips its PostgreSQL variant, saying
/// so, unless WHARF_REQUIRE_POSTGRES=1 makes that a failure.
pub async fn postgres_database() -> Option<String> {
    let Ok(admin) = std::env::var("WHARF_TEST_POSTGRES_URL") else {
        if std::env::var("WHARF_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("WHARF_REQUIRE_POSTGRES=1 but WHARF_TEST_POSTGRES_URL is not set (scripts/test.sh starts a PostgreSQL)");
        }
        skipped("the PostgreSQL variant: WHARF_TEST_POSTGRES_URL is not set (scripts/test.sh starts a PostgreSQL)");
        return None;
    };
    use sqlx::Connection;
    let name = format!("wharf_systest_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL reachable");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
    Some(format!("{}/{name}", admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin)))
}

/// The folder holding the built binaries: WHARF_BIN_DIR, else target/debug of this workspace.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WHARF_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug")
}

pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(path.is_file(), "{} is missing; build it first: cargo build -p wharf-server -p wharf-agent", path.display());
    path
}

/// A task-definition fixture from the project's own set (`fixtures/task-definitions/`).
pub fn fixture(name: &str) -> Value {
    let dir = std::env::var_os("WHARF_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/task-definitions"));
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    serde_json::from_str(&text).expect("fixture is JSON")
}


/// A port for a task to listen on (host networking, where the port must be known before the
/// task runs). Taken below the kernel's ephemeral range (32768–60999), where the system never
/// hands out ports by itself, so the servers and clients of other tests (which bind port 0)
/// cannot take it between this check and the task's bind.
pub fn task_port() -> u16 {
    loop {
        let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 10_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Docker is part of the real stack; when WHARF_REQUIRE_DOCKER=1 its absence fails the test.
pub fn docker_available() -> bool {
    let ok = std::process::Command::new("docker")
        .args(["image", "inspect", "local/busybox:1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("WHARF_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("Docker Engine with the local/busybox:1 image is required (scripts/test.sh prepares both)");
    }
    if !ok {
        skipped("no Docker Engine with local/busybox:1 here (scripts/test.sh prepares both)");
    }
    ok
}

/// Says that a test (or a variant of it) did not run, and why, where it cannot be missed:
/// straight to the terminal (past the test harness's capture of passing tests' output), and
/// as a line in `target/skipped-tests.log`, which `scripts/test.sh` counts.
pub fn skipped(reason: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let line = format!("skipped: {test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    if let Ok(mut log) = std::fs::OpenOptions::new().create(true).append(true).open(target.join("skipped-tests.log")) {
        let _ = log.write_all(line.as_bytes());
    }
}

/// Runs each listed test body, an `async fn(Option<String>)` given the database (None for
/// SQLite, a fresh PostgreSQL database's URL otherwise), on both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(None).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(url) = $crate::postgres_database().await {
                        super::$name(Some(url)).await;
                    }
                }
            )*
        }
    };
}

/// Polls `check` until it returns Some, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

pub struct Server {
    pub url: String,
    pub port: u16,
    data: tempfile::TempDir,
    child: Option<Child>,
    heartbeat: u64,
    extra: Vec<String>,
    /// Sends the first admin's API token with every request.
    pub http: reqwest::Client,
    /// That token.
    pub token: String,
}

/// The first admin's name and password on every test server.
pub const ADMIN: (&str, &str) = ("admin", "systest-admin-password");

/// A client builder that speaks TLS to any certificate (tests' servers make their own).
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_preconfigured_tls(any_certificate())
}

/// A client with no credentials of its own.
pub fn anonymous_client() -> reqwest::Client {
    client(None)
}

fn client(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("token is a header value"));
    }
    reqwest::Client::builder().timeout(Duration::from_secs(60)).default_headers(headers).use_preconfigured_tls(any_certificate()).build().expect("http client")
}

/// The harness's own client trusts whatever certificate a test server shows (it started the
/// server itself); the agents under test check theirs by its pin.
fn any_certificate() -> rustls::ClientConfig {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    #[derive(Debug)]
    struct Any(std::sync::Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for Any {
        fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(Any(provider)))
        .with_no_client_auth()
}

impl Server {
    /// A server with its own SQLite store and a short heartbeat (seconds).
    pub async fn start(heartbeat: u64) -> Server {
        Self::start_with(heartbeat, &[]).await
    }

    /// A server on SQLite (`database` None) or on the PostgreSQL database named, with more
    /// flags.
    pub async fn start_on(database: Option<&str>, heartbeat: u64, extra: &[&str]) -> Server {
        let mut flags: Vec<&str> = extra.to_vec();
        if let Some(url) = database {
            flags.extend(["--database-url", url]);
        }
        Self::start_with(heartbeat, &flags).await
    }

    /// A server with more flags (e.g. `--instance-lost-after-seconds 5`).
    pub async fn start_with(heartbeat: u64, extra: &[&str]) -> Server {
        let data = tempfile::tempdir().expect("temp dir");
        // Port 0: the server binds a free port itself and names it in its log, so no other
        // process can take the port between finding and binding it.
        let mut server = Server {
            url: String::new(),
            port: 0,
            data,
            child: None,
            heartbeat,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            http: client(None),
            token: String::new(),
        };
        server.spawn().await;
        server.admin(&["admin", "create", "--username", ADMIN.0]).await;
        let out = server.admin(&["token", "create", "--username", ADMIN.0]).await;
        server.token = out.lines().last().expect("a token").trim().to_string();
        server.http = client(Some(&server.token));
        server
    }

    /// Runs `wharf-server <args>` on this server's store (as an operator's script would);
    /// returns its standard output.
    pub async fn admin(&self, args: &[&str]) -> String {
        let database: Vec<&str> = self.extra.windows(2).filter(|w| w[0] == "--database-url").flat_map(|w| [w[0].as_str(), w[1].as_str()]).collect();
        let out = Command::new(binary("wharf-server"))
            .arg("--data-dir")
            .arg(self.data.path().join("data"))
            .args(&database)
            .args(args)
            .env("WHARF_ADMIN_PASSWORD", ADMIN.1)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("wharf-server runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "wharf-server {args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    async fn spawn(&mut self) {
        let log_path = self.data.path().join("server.log");
        let logged_before = std::fs::read_to_string(&log_path).map(|t| t.len()).unwrap_or(0);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("log");
        let child = Command::new(binary("wharf-server"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.data.path().join("data"))
            .arg("--agent-heartbeat-seconds")
            .arg(self.heartbeat.to_string())
            .args(&self.extra)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("wharf-server starts");
        self.child = Some(child);
        // A restart keeps its port, so agents find it again.
        if self.port == 0 {
            let (scheme, port) = eventually("the server to name its port", Duration::from_secs(60), || async {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                let (scheme, rest) = text.get(logged_before..)?.split("Wharf is up at ").nth(1)?.split_once("://127.0.0.1:")?;
                Some((scheme.to_string(), rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u16>().ok()?))
            })
            .await;
            self.port = port;
            self.url = format!("{scheme}://127.0.0.1:{port}");
        }
        let http = self.http.clone();
        let ready = format!("{}/readyz", self.url);
        eventually("the server to be ready", Duration::from_secs(30), || {
            let http = http.clone();
            let ready = ready.clone();
            async move { http.get(&ready).send().await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
    }

    /// Stops the server (SIGTERM, like an operator's restart) and starts it again on the same store.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// kill -9, then start again on the same store.
    pub async fn kill9_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
        self.spawn().await;
    }

    /// Runs another wharf-server on this one's data (another port) until it exits; returns
    /// its exit code and output.
    pub async fn second_on_same_data(&self) -> (Option<i32>, String) {
        let run = Command::new(binary("wharf-server"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data.path().join("data"))
            .args(&self.extra)
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(Duration::from_secs(30), run).await {
            Ok(Ok(out)) => (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))),
            Ok(Err(e)) => panic!("cannot run a second server: {e}"),
            Err(_) => (None, "the second server kept running".into()),
        }
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            let _ = child.kill().await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("server.log")).unwrap_or_default()
    }

    /// The server's data directory (its store, keys and log).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// The SHA-256 of the TLS certificate the server announced, if it serves HTTPS.
    pub fn certificate_sha256(&self) -> Option<String> {
        self.log().lines().find_map(|l| l.strip_prefix("TLS certificate SHA-256: ").map(str::to_string))
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let mut req = self.http.request(method.parse().expect("method"), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body).await;
        assert!((200..300).contains(&status), "{method} {path} → {status}: {value}");
        value
    }

    /// A fresh cluster with a join token; returns the clear token.
    pub async fn cluster_with_token(&self, cluster: &str) -> String {
        self.ok("POST", "/api/v1/clusters", Some(json!({ "clusterName": cluster }))).await;
        self.join_token(cluster, json!({})).await
    }

    /// A cluster that takes its hosts' word for their zone (`trustedAttributes: []`), as the
    /// simulator's hosts, all joining with one token, need; and that token.
    pub async fn cluster_trusting_hosts(&self, cluster: &str) -> String {
        self.ok("POST", "/api/v1/clusters", Some(json!({ "clusterName": cluster, "trustedAttributes": [] }))).await;
        self.join_token(cluster, json!({})).await
    }

    /// A new join token of `cluster` (the body of CreateJoinToken), in clear.
    pub async fn join_token(&self, cluster: &str, input: Value) -> String {
        let token = self.ok("POST", &format!("/api/v1/clusters/{cluster}/join-tokens"), Some(input)).await;
        token["token"].as_str().expect("token").to_string()
    }

    pub async fn register(&self, definition: Value) -> String {
        let td = self.ok("POST", "/api/v1/task-definitions", Some(definition)).await;
        format!("{}:{}", td["taskDefinition"]["family"].as_str().unwrap(), td["taskDefinition"]["revision"])
    }

    pub async fn instances(&self, cluster: &str) -> Vec<Value> {
        let v = self.ok("GET", &format!("/api/v1/clusters/{cluster}/container-instances"), None).await;
        v["containerInstances"].as_array().cloned().unwrap_or_default()
    }

    /// Waits for `n` connected instances and returns them.
    pub async fn connected(&self, cluster: &str, n: usize) -> Vec<Value> {
        eventually(&format!("{n} connected instance(s) in {cluster}"), Duration::from_secs(60), || async {
            let all = self.instances(cluster).await;
            let connected: Vec<Value> = all.into_iter().filter(|i| i["agentConnected"] == true).collect();
            (connected.len() == n).then_some(connected)
        })
        .await
    }

    pub async fn start_task(&self, cluster: &str, task_definition: &str, instance: &str) -> String {
        let started = self
            .ok("POST", &format!("/api/v1/clusters/{cluster}/tasks/start"), Some(json!({ "taskDefinition": task_definition, "containerInstances": [instance] })))
            .await;
        assert_eq!(started["failures"], json!([]), "StartTask failures");
        started["tasks"][0]["id"].as_str().expect("task id").to_string()
    }

    pub async fn task(&self, cluster: &str, id: &str) -> Value {
        self.ok("GET", &format!("/api/v1/clusters/{cluster}/tasks/{id}"), None).await["task"].clone()
    }

    /// Waits until the task's lastStatus is `status`.
    pub async fn task_reaches(&self, cluster: &str, id: &str, status: &str, timeout: Duration) -> Value {
        eventually(&format!("task {id} to be {status}"), timeout, || async {
            let t = self.task(cluster, id).await;
            (t["lastStatus"] == status).then_some(t)
        })
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- server log ---\n{}", self.log());
        }
    }
}

pub struct Agent {
    args: Vec<String>,
    pub state: tempfile::TempDir,
    child: Option<Child>,
    log: PathBuf,
}

impl Agent {
    /// Starts `wharf-agent` with `args` (server, cluster, token, runtime…) and its own state dir.
    pub fn start(args: &[&str]) -> Agent {
        let state = tempfile::tempdir().expect("temp dir");
        let log = state.path().join("agent.log");
        let mut agent = Agent { args: args.iter().map(|s| s.to_string()).collect(), state, child: None, log };
        agent.spawn();
        agent
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log");
        let child = Command::new(binary("wharf-agent"))
            .arg("--state-dir")
            .arg(self.state.path().join("state"))
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("wharf-agent starts");
        self.child = Some(child);
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    pub fn signal(&self, signal: i32) {
        if let Some(pid) = self.pid() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid as i32, signal) };
        }
    }

    /// kill -9, then start again with the same state directory.
    pub async fn kill9_and_restart(&mut self) {
        self.kill9().await;
        self.spawn();
    }

    /// SIGKILL: the agent is gone at once; its containers keep running.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    /// Starts the agent again on the same state dir.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Waits for the agent to exit; returns its exit code.
    pub async fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        tokio::time::timeout(timeout, child.wait()).await.ok()?.ok()?.code()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- agent log ---\n{}", self.log());
        }
    }
}

/// Docker containers of a cluster's tasks (all states), as `docker ps` ids.
pub fn containers_of(cluster: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter", &format!("label=wharf.cluster={cluster}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// A cluster's running containers.
pub fn running_containers_of(cluster: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-q", "--no-trunc", "--filter", &format!("label=wharf.cluster={cluster}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// Removes a cluster's containers; call at the end of a test (and it runs on drop).
pub struct DockerCleanup(pub String);

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let ids = containers_of(&self.0);
        if !ids.is_empty() {
            let _ = std::process::Command::new("docker").arg("rm").arg("-f").args(&ids).stdout(Stdio::null()).status();
        }
    }
}

/// The files under `dir` (recursively) whose bytes hold `needle`.
pub fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_holding(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes())) {
            out.push(path);
        }
    }
    out
}

/// A unique cluster name per test run, so leftovers of one run never meet another.
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}", n % 1_000_000_000)
}
