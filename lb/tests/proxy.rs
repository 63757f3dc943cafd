//! The balancer with real sockets: small HTTP servers on loopback as targets, and clients
//! speaking HTTP/1.1, HTTP/2 and WebSocket-style upgrades through the listener.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::SeqCst};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::UnboundedReceiver;
use wharf_lb::health::State;
use wharf_lb::{Balancer, Config, Event, HealthCheck, Listener, Rule, Table, Target, TargetGroup};

/// A target: answers its name, `/health` with a status the test sets, `/slow` after a while,
/// `/headers` with what it was sent, and `/ws` by upgrading and echoing.
struct TestTarget {
    name: &'static str,
    addr: SocketAddr,
    health: Arc<AtomicU16>,
    hits: Arc<AtomicU64>,
    slow: Arc<AtomicU64>,
    server: tokio::task::JoinHandle<()>,
}

async fn target(name: &'static str) -> TestTarget {
    let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = socket.local_addr().unwrap();
    let health = Arc::new(AtomicU16::new(200));
    let hits = Arc::new(AtomicU64::new(0));
    let slow = Arc::new(AtomicU64::new(0));
    let (h, n, w) = (health.clone(), hits.clone(), slow.clone());
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = socket.accept().await.unwrap();
            let (h, n, w) = (h.clone(), n.clone(), w.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (h, n, w) = (h.clone(), n.clone(), w.clone());
                    async move { Ok::<_, std::convert::Infallible>(answer(name, req, &h, &n, &w).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades().await;
            });
        }
    });
    TestTarget { name, addr, health, hits, slow, server }
}

async fn answer(name: &str, mut req: Request<Incoming>, health: &AtomicU16, hits: &AtomicU64, slow: &AtomicU64) -> Response<Full<Bytes>> {
    let text = |s: String| Response::new(Full::new(Bytes::from(s)));
    match req.uri().path() {
        "/health" => {
            let mut r = text(String::new());
            *r.status_mut() = StatusCode::from_u16(health.load(SeqCst)).unwrap();
            r
        }
        "/slow" => {
            slow.fetch_add(1, SeqCst);
            tokio::time::sleep(Duration::from_millis(600)).await;
            text(name.to_string())
        }
        "/headers" => {
            let h = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
            text(format!("{}|{}|{}|{}|{}", h("x-forwarded-for"), h("host"), h("x-forwarded-host"), h("x-forwarded-proto"), h("cookie")))
        }
        "/ws" => {
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let mut io = TokioIo::new(upgrade.await.unwrap());
                let mut buf = [0u8; 64];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let mut r = text(String::new());
            *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            r.headers_mut().insert("connection", "upgrade".parse().unwrap());
            r.headers_mut().insert("upgrade", "echo".parse().unwrap());
            r
        }
        _ => {
            hits.fetch_add(1, SeqCst);
            text(name.to_string())
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

fn check() -> HealthCheck {
    HealthCheck {
        path: "/health".into(),
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: vec![(200, 299)],
    }
}

fn group(arn: &str, targets: &[&TestTarget], draining: &[&str]) -> TargetGroup {
    TargetGroup {
        arn: arn.into(),
        health_check: check(),
        deregistration_delay: Duration::from_secs(30),
        targets: targets.iter().map(|t| Target { task: t.name.into(), addr: t.addr, draining: draining.contains(&t.name), healthy: false }).collect(),
    }
}

fn table(port: u16, groups: Vec<TargetGroup>, rules: Vec<Rule>, default: Option<&str>) -> Table {
    Table {
        listeners: [(port, Listener { port, rules, default_target_group: default.map(Into::into) })].into(),
        target_groups: groups.into_iter().map(|g| (g.arn.clone(), g)).collect(),
    }
}

fn balancer() -> (Balancer, UnboundedReceiver<Event>) {
    Balancer::new(Config { address: Ipv4Addr::LOCALHOST.into(), strip_cookies: vec!["wharf_session".into()] })
}

/// Waits for `n` targets to report healthy (other events are kept in `seen`).
async fn healthy(events: &mut UnboundedReceiver<Event>, n: usize, seen: &mut Vec<Event>) {
    let mut up = std::collections::HashSet::new();
    while up.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("targets turn healthy").unwrap();
        if let Event::Health { task, health, .. } = &event
            && health.state == State::Healthy
        {
            up.insert(task.clone());
        }
        seen.push(event);
    }
}

type Http = Client<HttpConnector, Empty<Bytes>>;

fn client() -> Http {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get(client: &Http, port: u16, host: &str, path: &str) -> (StatusCode, String) {
    let req = Request::get(format!("http://127.0.0.1:{port}{path}")).header("host", host).body(Empty::new()).unwrap();
    let res = client.request(req).await.expect("the listener answers");
    let status = res.status();
    (status, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_follow_the_rules_and_reach_every_healthy_target() {
    let (a, b, api) = (target("a").await, target("b").await, target("api").await);
    let port = free_port();
    let (lb, mut events) = balancer();
    let rules = vec![Rule { priority: 1, hosts: vec!["api.example".into()], paths: vec![], target_group: "tg/api".into() }];
    lb.apply(&table(port, vec![group("tg/web", &[&a, &b], &[]), group("tg/api", &[&api], &[]), group("tg/empty", &[], &[])], rules.clone(), Some("tg/web"))).await;
    let mut seen = Vec::new();
    healthy(&mut events, 3, &mut seen).await;
    assert!(seen.contains(&Event::Listener { port, error: None }), "{seen:?}");
    assert!(seen.iter().any(|e| matches!(e, Event::Health { health, .. } if health.state == State::Initial)), "targets start initial: {seen:?}");

    let http = client();
    let mut by_name: HashMap<String, u32> = HashMap::new();
    for _ in 0..200 {
        let (status, body) = get(&http, port, "shop.example", "/").await;
        assert_eq!(status, 200);
        *by_name.entry(body).or_default() += 1;
    }
    assert_eq!(by_name.len(), 2, "both web targets get requests: {by_name:?}");
    assert!(by_name.values().all(|&n| n > 50), "and about half each: {by_name:?}");
    assert_eq!(get(&http, port, "API.example:80", "/x").await, (StatusCode::OK, "api".into()));

    // No default: a request no rule takes is 404; a rule to a group with no targets is 503.
    let rules2 = vec![Rule { priority: 2, hosts: vec![], paths: vec!["/empty*".into()], target_group: "tg/empty".into() }];
    lb.apply(&table(port, vec![group("tg/web", &[&a, &b], &[]), group("tg/api", &[&api], &[]), group("tg/empty", &[], &[])], [rules, rules2].concat(), None)).await;
    assert_eq!(get(&http, port, "shop.example", "/").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&http, port, "shop.example", "/empty/x").await.0, StatusCode::SERVICE_UNAVAILABLE);

    let mut metrics = String::new();
    lb.render_metrics(&mut metrics, false);
    assert!(metrics.contains("wharf_lb_listener_requests_total") && !metrics.contains("wharf_lb_target_"), "listeners only: {metrics}");
    let mut metrics = String::new();
    lb.render_metrics(&mut metrics, true);
    assert!(metrics.contains(&format!("wharf_lb_listener_requests_total{{listener=\"{port}\",class=\"2xx\"}} 201")), "{metrics}");
    assert!(metrics.contains(&format!("wharf_lb_target_healthy{{target_group=\"tg/web\",task=\"a\",target=\"{}\"}} 1", a.addr)), "{metrics}");
    let served: u64 = lb.stats().targets.iter().map(|t| t.counts.requests()).sum();
    assert_eq!(served, 201, "every forwarded request counted once on its target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_failing_its_checks_gets_no_traffic_until_it_passes_again() {
    let (a, b) = (target("a").await, target("b").await);
    let port = free_port();
    let (lb, mut events) = balancer();
    lb.apply(&table(port, vec![group("tg/web", &[&a, &b], &[])], vec![], Some("tg/web"))).await;
    healthy(&mut events, 2, &mut Vec::new()).await;
    b.health.store(503, SeqCst);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("b turns unhealthy").unwrap() {
            Event::Health { task, health, .. } if &*task == "b" && health.state == State::Unhealthy => {
                assert_eq!(health.reason, Some("Target.ResponseCodeMismatch"));
                assert_eq!(health.description.as_deref(), Some("Health checks failed with these codes: [503]"));
                break;
            }
            _ => {}
        }
    }
    let http = client();
    let before = b.hits.load(SeqCst);
    for _ in 0..50 {
        assert_eq!(get(&http, port, "h", "/").await, (StatusCode::OK, "a".into()));
    }
    assert_eq!(b.hits.load(SeqCst), before, "nothing reached the unhealthy target");
    b.health.store(200, SeqCst);
    healthy(&mut events, 1, &mut Vec::new()).await;
    let mut names = std::collections::HashSet::new();
    for _ in 0..50 {
        names.insert(get(&http, port, "h", "/").await.1);
    }
    assert_eq!(names.len(), 2, "b is back in the rotation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_target_finishes_what_it_has_and_then_says_so() {
    let (a, b) = (target("a").await, target("b").await);
    let port = free_port();
    let (lb, mut events) = balancer();
    // b is in a second group too (no rule sends to it).
    lb.apply(&table(port, vec![group("tg/web", &[&a, &b], &[]), group("tg/api", &[&b], &[])], vec![], Some("tg/web"))).await;
    healthy(&mut events, 2, &mut Vec::new()).await;
    // Slow requests in flight on both targets.
    let http = client();
    let slow: Vec<_> = (0..6).map(|_| { let http = http.clone(); tokio::spawn(async move { get(&http, port, "h", "/slow").await }) }).collect();
    while a.slow.load(SeqCst) == 0 || b.slow.load(SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let b_busy_since = std::time::Instant::now();
    lb.apply(&table(port, vec![group("tg/web", &[&a, &b], &["b"]), group("tg/api", &[&b], &[])], vec![], Some("tg/web"))).await;
    let b_before = b.hits.load(SeqCst);
    for _ in 0..30 {
        assert_eq!(get(&http, port, "h", "/").await, (StatusCode::OK, "a".into()), "new requests go to a only");
    }
    assert_eq!(b.hits.load(SeqCst), b_before);
    // b is told drained only once its slow requests have finished, each with its answer.
    let drained = loop {
        if let Event::Drained { task, .. } = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("b drains").unwrap() {
            break task;
        }
    };
    assert_eq!(&*drained, "b");
    // Its slow requests take 600 ms.
    assert!(b_busy_since.elapsed() >= Duration::from_millis(500), "drained after {:?}", b_busy_since.elapsed());
    for request in slow {
        let (status, _) = request.await.unwrap();
        assert_eq!(status, 200, "in-flight requests on the draining target finish");
    }
    assert!(lb.stats().targets.iter().any(|t| &*t.task == "b" && t.health.state == State::Draining && t.counts.active == 0));
    // Its task may stop only once it has left every group.
    assert!(!lb.task_drained("b"), "b is still a target of tg/api");
    lb.apply(&table(port, vec![group("tg/web", &[&a, &b], &["b"]), group("tg/api", &[&b], &["b"])], vec![], Some("tg/web"))).await;
    assert!(lb.task_drained("b") && !lb.task_drained("a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_went_away_is_retried_elsewhere() {
    let (a, b) = (target("a").await, target("b").await);
    let port = free_port();
    let (lb, mut events) = balancer();
    lb.apply(&table(port, vec![group("tg/web", &[&a, &b], &[])], vec![], Some("tg/web"))).await;
    healthy(&mut events, 2, &mut Vec::new()).await;
    // b dies before its checks notice: connections to it are refused.
    b.server.abort();
    let _ = b.server.await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let http = client();
    for _ in 0..40 {
        assert_eq!(get(&http, port, "h", "/").await, (StatusCode::OK, "a".into()), "a GET is tried on a when b refuses");
    }
    // A request with a body goes elsewhere too when it was refused before it was sent.
    let posting: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    for _ in 0..10 {
        let req = Request::post(format!("http://127.0.0.1:{port}/")).body(Full::new(Bytes::from_static(b"x"))).unwrap();
        assert_eq!(posting.request(req).await.unwrap().status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_sees_the_client_and_never_the_control_planes_cookie() {
    let a = target("a").await;
    let port = free_port();
    let (lb, mut events) = balancer();
    lb.apply(&table(port, vec![group("tg/web", &[&a], &[])], vec![], Some("tg/web"))).await;
    healthy(&mut events, 1, &mut Vec::new()).await;
    let http = client();
    let req = Request::get(format!("http://127.0.0.1:{port}/headers"))
        .header("host", "shop.example")
        .header("cookie", "wharf_session=secret; cart=1")
        .body(Empty::new())
        .unwrap();
    let body = http.request(req).await.unwrap().into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "127.0.0.1|shop.example|shop.example|http|cart=1");

    // HTTP/2 with prior knowledge reaches the HTTP/1.1 target with its host.
    let h2: Http = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    let req = Request::get(format!("http://127.0.0.1:{port}/headers")).header("host", format!("shop.example:{port}")).body(Empty::new()).unwrap();
    let res = h2.request(req).await.unwrap();
    assert_eq!(res.version(), hyper::Version::HTTP_2);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).starts_with("127.0.0.1|"), "{body:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_is_tunnelled_both_ways() {
    let a = target("a").await;
    let port = free_port();
    let (lb, mut events) = balancer();
    lb.apply(&table(port, vec![group("tg/web", &[&a], &[])], vec![], Some("tg/web"))).await;
    healthy(&mut events, 1, &mut Vec::new()).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echo)).await.unwrap().unwrap();
    assert_eq!(&echo, b"ping");
    // The tunnel counts as in flight on its target.
    assert_eq!(lb.stats().targets[0].counts.active, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_known_healthy_is_served_at_once_after_a_restart() {
    let (a, b) = (target("a").await, target("b").await);
    let port = free_port();
    let (lb, _events) = balancer();
    // Slow checks: b, new, stays initial for ten seconds; a was healthy before the restart.
    let mut tg = group("tg/web", &[&a, &b], &[]);
    tg.health_check.interval = Duration::from_secs(10);
    tg.targets[0].healthy = true;
    lb.apply(&table(port, vec![tg], vec![], Some("tg/web"))).await;
    let http = client();
    for _ in 0..20 {
        assert_eq!(get(&http, port, "h", "/").await, (StatusCode::OK, "a".into()), "only the known-healthy target is served");
    }
    assert_eq!(b.hits.load(SeqCst), 0);
}

/// A target that closes each connection right after its answer, without saying so: a pooled
/// connection to it may be gone when the next request comes, and that request goes on a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_target_closed_is_not_a_failed_request() {
    let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = socket.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = socket.accept().await.unwrap();
            count.fetch_add(1, SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nonce").await;
                let _ = stream.shutdown().await;
            });
        }
    });
    let port = free_port();
    let (lb, mut events) = balancer();
    let closing = TargetGroup {
        arn: "tg/once".into(),
        health_check: check(),
        deregistration_delay: Duration::from_secs(30),
        targets: vec![Target { task: "once".into(), addr, draining: false, healthy: false }],
    };
    lb.apply(&table(port, vec![closing], vec![], Some("tg/once"))).await;
    healthy(&mut events, 1, &mut Vec::new()).await;
    let http = client();
    let before = accepted.load(SeqCst);
    for _ in 0..30 {
        assert_eq!(get(&http, port, "h", "/").await, (StatusCode::OK, "once".into()));
    }
    // The scenario holds: the target really took a new connection for every request.
    assert!(accepted.load(SeqCst) - before >= 30, "each request had a connection of its own");
}

/// A target that takes requests and hangs up without answering: a GET goes to another target,
/// a POST (which may have done something) is answered 502, and no request stays counted in
/// flight on any target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_lost_on_its_way_is_counted_out_of_every_target() {
    let a = target("a").await;
    let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let rude = socket.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = socket.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                // Health checks pass; anything else is cut off.
                if buf[..n].starts_with(b"GET /health ") {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                }
            });
        }
    });
    let port = free_port();
    let (lb, mut events) = balancer();
    let mut group = group("tg/web", &[&a], &[]);
    group.targets.push(Target { task: "rude".into(), addr: rude, draining: false, healthy: false });
    lb.apply(&table(port, vec![group], vec![], Some("tg/web"))).await;
    healthy(&mut events, 2, &mut Vec::new()).await;
    let http = client();
    for _ in 0..20 {
        assert_eq!(get(&http, port, "h", "/").await, (StatusCode::OK, "a".into()), "a GET is repeated on a");
    }
    let posting: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut refused = 0;
    for _ in 0..20 {
        let req = Request::post(format!("http://127.0.0.1:{port}/")).body(Full::new(Bytes::from_static(b"order"))).unwrap();
        match posting.request(req).await.unwrap().status() {
            StatusCode::OK => {}
            StatusCode::BAD_GATEWAY => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused > 0, "some POSTs went to the target that hangs up");
    let stats = lb.stats();
    assert!(stats.targets.iter().all(|t| t.counts.active == 0), "nothing in flight is left counted: {:?}", stats.targets.iter().map(|t| (&t.task, t.counts.active)).collect::<Vec<_>>());
}
