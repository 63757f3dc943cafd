//! The load balancer's data path against a direct connection and against nginx, same machine,
//! same run: a small keep-alive HTTP server stands for one task; wrk drives each of direct,
//! through `wharf-lb` (the code the server runs) and through nginx configured as the same
//! reverse proxy (an upstream with keep-alive). Prints a Markdown table.
//!
//! `cargo bench -p wharf-lb --bench proxy` (wrk and nginx from Debian: `apt-get install wrk
//! nginx-light`; without nginx its row is left out). `WHARF_BENCH_SECONDS` (default 10) and
//! `WHARF_BENCH_CONNECTIONS` (default 16) set each run, `WHARF_BENCH_ROUNDS` (default 3) how
//! many times the three runs take turns.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;
use wharf_lb::{Balancer, Config, HealthCheck, Listener, Table, Target, TargetGroup};

const BODY: &[u8] = b"hello from the task\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// The task: answers every request with a short body, on keep-alive connections, on a
/// runtime of its own (one thread), as a process of its own would.
fn start_task() -> SocketAddr {
    let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std_listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
    });
    addr
}

#[derive(Clone, Copy)]
struct Run {
    rps: f64,
    /// Latency percentiles, in microseconds.
    p50: f64,
    p99: f64,
    /// The proxy's CPU time per request, in microseconds (none for the direct run).
    cpu_us: Option<f64>,
}

/// User and system time, in clock ticks, from a `/proc/…/stat` line.
fn ticks_of_stat(stat: &str) -> u64 {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// Ticks of this process's threads whose name starts with `prefix`.
fn ticks_of_threads(prefix: &str) -> u64 {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.flatten()
                .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix)))
                .map(|t| std::fs::read_to_string(t.path().join("stat")).map_or(0, |s| ticks_of_stat(&s)))
                .sum()
        })
        .unwrap_or(0)
}

/// Ticks of process `root` and its children (nginx's master and workers).
fn ticks_of_tree(root: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.flatten()
        .filter_map(|p| std::fs::read_to_string(p.path().join("stat")).ok())
        .filter(|stat| {
            let pid = stat.split_whitespace().next().and_then(|p| p.parse::<u32>().ok());
            let ppid = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
            pid == Some(root) || ppid == Some(root)
        })
        .map(|stat| ticks_of_stat(&stat))
        .sum()
}

/// Runs wrk and charges the CPU `ticks` counts to its requests.
fn measured(url: &str, seconds: u64, connections: u32, ticks: impl Fn() -> u64) -> Run {
    let before = ticks();
    let mut run = wrk(url, seconds, connections);
    let spent = ticks().saturating_sub(before) as f64 / clock_ticks_per_second();
    let requests = run.rps * seconds as f64;
    run.cpu_us = (requests > 0.0).then(|| spent * 1e6 / requests);
    run
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf").arg("CLK_TCK").output().ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
}

fn wrk(url: &str, seconds: u64, connections: u32) -> Run {
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", url])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!text.contains("Non-2xx"), "errors in the run:\n{text}");
    let field = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.split_whitespace().next().unwrap_or("").to_string()));
    Run {
        rps: field("Requests/sec:").and_then(|s| s.parse().ok()).unwrap_or(0.0),
        p50: field("50%").map_or(f64::NAN, |s| micros(&s)),
        p99: field("99%").map_or(f64::NAN, |s| micros(&s)),
        cpu_us: None,
    }
}

/// wrk's "349.00us", "1.86ms", "2.01s" in microseconds.
fn micros(text: &str) -> f64 {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        _ => f64::NAN,
    };
    number.parse::<f64>().map_or(f64::NAN, |n| n * scale)
}

/// The median of each figure over the rounds.
fn median(runs: &[Run]) -> Run {
    let mid = |f: fn(&Run) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Run { rps: mid(|r| r.rps), p50: mid(|r| r.p50), p99: mid(|r| r.p99), cpu_us: runs[0].cpu_us.map(|_| mid(|r| r.cpu_us.unwrap_or(f64::NAN))) }
}

fn shown(us: f64) -> String {
    if us >= 1000.0 { format!("{:.2} ms", us / 1000.0) } else { format!("{us:.0} µs") }
}

/// nginx as the same reverse proxy: one upstream with keep-alive connections, a worker per core.
fn start_nginx(task: SocketAddr) -> Option<(std::process::Child, u16, tempfile_dir::Dir)> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| std::path::Path::new(p).exists())?;
    let dir = tempfile_dir::Dir::new();
    let port = free_port();
    let conf = format!(
        "worker_processes auto;\nerror_log stderr;\npid {d}/nginx.pid;\nevents {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n\
           upstream task {{ server {task}; keepalive 64; }}\n\
           server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://task; proxy_http_version 1.1; proxy_set_header Connection \"\";\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }} }}\n}}\n",
        d = dir.path.display()
    );
    let conf_path = dir.path.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(nginx)
        .args(["-p", &dir.path.display().to_string(), "-c", &conf_path.display().to_string(), "-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((child, port, dir));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A throwaway folder, removed on drop.
mod tempfile_dir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!("wharf-lb-bench-{}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it briefly as a smoke test.
    let quick = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let seconds: u64 = std::env::var("WHARF_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(if quick { 1 } else { 10 });
    let connections: u32 = std::env::var("WHARF_BENCH_CONNECTIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(16);
    let rounds: usize = std::env::var("WHARF_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(if quick { 1 } else { 3 });
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (apt-get install wrk); nothing measured");
        return;
    }
    let task = start_task();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let port = free_port();
    let (balancer, _events) = rt.block_on(async {
        let (balancer, events) = Balancer::new(Config { address: Ipv4Addr::LOCALHOST.into(), strip_cookies: vec![] });
        let check = HealthCheck { path: "/".into(), interval: Duration::from_secs(1), timeout: Duration::from_secs(1), healthy_threshold: 1, unhealthy_threshold: 2, matcher: vec![(200, 200)] };
        let table = Table {
            listeners: [(port, Listener { port, rules: vec![], default_target_group: Some("tg".into()) })].into(),
            target_groups: [("tg".into(), TargetGroup { arn: "tg".into(), health_check: check, deregistration_delay: Duration::ZERO, targets: vec![Target { task: "t".into(), addr: task, draining: false, healthy: false }] })].into(),
        };
        balancer.apply(&table).await;
        (balancer, events)
    });
    std::thread::sleep(Duration::from_millis(1500));
    let nginx = start_nginx(task);
    // Rounds interleave the three paths, so a slow moment of the machine falls on all of them;
    // the table gives each figure's median.
    let (mut direct, mut proxied, mut through_nginx) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        direct.push(wrk(&format!("http://{task}/"), seconds, connections));
        proxied.push(measured(&format!("http://127.0.0.1:{port}/"), seconds, connections, || ticks_of_threads("wharf-lb")));
        if let Some((child, nginx_port, _)) = &nginx {
            let root = child.id();
            through_nginx.push(measured(&format!("http://127.0.0.1:{nginx_port}/"), seconds, connections, || ticks_of_tree(root)));
        }
    }
    if let Some((mut child, _, dir)) = nginx {
        // SIGTERM: the master stops its workers too (SIGKILL would leave them running).
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
        drop(dir);
    }
    drop(balancer);
    let direct = median(&direct);
    println!("| path ({connections} connections, {seconds} s × {rounds} rounds, medians, wrk, loopback) | requests/s | of direct | p50 | p99 | proxy CPU per request |");
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, r: &Run| {
        let cpu = r.cpu_us.map_or_else(|| "-".to_string(), |us| format!("{us:.1} µs"));
        println!("| {name} | {:.0} | {:.0} % | {} | {} | {cpu} |", r.rps, 100.0 * r.rps / direct.rps.max(1.0), shown(r.p50), shown(r.p99))
    };
    row("direct to the task", &direct);
    row("through wharf-lb", &median(&proxied));
    if through_nginx.is_empty() {
        println!("| through nginx | not installed | | | | |");
    } else {
        row("through nginx (upstream keep-alive)", &median(&through_nginx));
    }
}
