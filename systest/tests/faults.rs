//! The fault suite: a real server (SQLite, then PostgreSQL), simulated agents and one Docker
//! agent, all reaching the server through a proxy that can cut connections mid-message. In a
//! bounded, seeded loop it scales and deploys services and runs and stops tasks from
//! concurrent clients while it injects one fault per round:
//!
//! - `kill -9` of the server, restarted on the same data;
//! - `kill -9` of an agent (simulated or Docker), restarted on the same state;
//! - SIGSTOP of an agent for longer than the heartbeat window, then SIGCONT;
//! - every agent connection cut half-way through a message.
//!
//! After each fault it checks the invariants: no instance over-committed; each service at
//! exactly its desired count RUNNING within two heartbeat windows; Docker's running
//! containers are the store's RUNNING tasks of the Docker instance, and the reverse; no
//! acknowledged API write lost. It prints the seed and the counts; a failure replays with
//! `WHARF_FAULT_SEED=<seed>`. `WHARF_FAULT_ROUNDS` sets the rounds per backend.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use wharf_systest::proxy::Proxy;
use wharf_systest::{Agent, DockerCleanup, Server, docker_available, postgres_database, running_containers_of, unique};

const HEARTBEAT: u64 = 3;
/// The heartbeat window: three heartbeats, as the server counts an agent gone.
const WINDOW: Duration = Duration::from_secs(3 * HEARTBEAT);
const SIM_PROCESSES: usize = 2;
const SIMS_PER_PROCESS: usize = 3;
/// What each simulated instance offers.
const SIM_CPU: i64 = 2048;
const SIM_MEMORY: i64 = 2048;

/// xorshift64*: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillServer,
    KillSimAgent,
    KillDockerAgent,
    PauseAgent,
    CutConnections,
}

#[derive(Default)]
struct Tally {
    faults: BTreeMap<String, u32>,
    checks: u32,
    violations: Vec<String>,
}

impl Tally {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            let v = what();
            eprintln!("VIOLATION: {v}");
            self.violations.push(v);
        }
    }
}

/// Resources a task of each family reserves (what the test registers).
fn reservation(family: &str) -> (i64, i64, Option<u16>) {
    match family {
        "web" => (256, 256, None),
        "api" => (128, 128, Some(9000)),
        "job" => (512, 384, None),
        _ => (0, 0, None),
    }
}

struct World {
    server: Server,
    proxy: Proxy,
    cluster: String,
    sims: Vec<Agent>,
    docker: Option<Agent>,
    _cleanup: Option<DockerCleanup>,
    /// Acknowledged desired counts.
    desired: BTreeMap<&'static str, i64>,
    /// Acknowledged RunTask tasks, and those acknowledged as asked to stop.
    ran: BTreeSet<String>,
    stop_asked: BTreeSet<String>,
    web_revision: u32,
}

impl World {
    async fn new(database: Option<String>) -> World {
        let mut extra = vec![
            "--scheduler-interval-seconds".to_string(),
            "1".into(),
            "--instance-lost-after-seconds".into(),
            "30".into(),
        ];
        if let Some(url) = &database {
            extra.extend(["--database-url".to_string(), url.clone()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let server = Server::start_with(HEARTBEAT, &extra).await;
        let proxy = Proxy::start(format!("127.0.0.1:{}", server.port)).await;
        let cluster = unique("faults");
        let token = server.cluster_with_token(&cluster).await;
        let (cpu, memory) = (SIM_CPU.to_string(), SIM_MEMORY.to_string());
        let sims = (0..SIM_PROCESSES)
            .map(|n| {
                let prefix = format!("sim{n}");
                Agent::start(&[
                    "--server", &proxy.url, "--cluster", &cluster, "--token", &token, "--attribute", "pool=sim", "simulate",
                    "--count", &SIMS_PER_PROCESS.to_string(), "--sim-cpu", &cpu, "--sim-memory", &memory, "--name-prefix", &prefix,
                ])
            })
            .collect();
        let docker = docker_available().then(|| {
            Agent::start(&[
                "--server", &proxy.url, "--cluster", &cluster, "--token", &token, "--runtime", "docker", "--attribute", "pool=docker",
                "--hostname", "docker-host", "--task-cleanup-wait-seconds", "1",
            ])
        });
        let cleanup = docker.as_ref().map(|_| DockerCleanup(cluster.clone()));
        let hosts = SIM_PROCESSES * SIMS_PER_PROCESS + usize::from(docker.is_some());
        server.connected(&cluster, hosts).await;
        let mut world = World {
            server,
            proxy,
            cluster,
            sims,
            docker,
            _cleanup: cleanup,
            desired: BTreeMap::new(),
            ran: BTreeSet::new(),
            stop_asked: BTreeSet::new(),
            web_revision: 0,
        };
        world.register_web().await;
        let sim_only = json!([{ "type": "memberOf", "expression": "attribute:pool == sim" }]);
        let api = json!({ "family": "api", "placementConstraints": sim_only, "containerDefinitions": [{ "name": "a", "image": "local/api:1",
            "cpu": 128, "memory": 128, "portMappings": [{ "containerPort": 80, "hostPort": 9000 }] }] });
        world.server.register(api).await;
        let job = json!({ "family": "job", "placementConstraints": sim_only, "containerDefinitions": [{ "name": "a", "image": "local/job:1", "cpu": 512, "memory": 384 }] });
        world.server.register(job).await;
        let services = [("web", "web", 6), ("api", "api", 3)];
        for (name, td, count) in services {
            world.create_service(name, td, count).await;
        }
        if world.docker.is_some() {
            let boxed = json!({ "family": "box", "placementConstraints": [{ "type": "memberOf", "expression": "attribute:pool == docker" }],
                "containerDefinitions": [{ "name": "box", "image": "local/busybox:1", "command": ["/bin/sh", "-c", "exec sleep 3600"],
                    "memory": 16, "stopTimeout": 2 }] });
            world.server.register(boxed).await;
            world.create_service("box", "box", 2).await;
        }
        world
    }

    async fn create_service(&mut self, name: &'static str, td: &str, count: i64) {
        let body = json!({ "serviceName": name, "taskDefinition": td, "desiredCount": count,
            "deploymentConfiguration": { "minimumHealthyPercent": 50, "maximumPercent": 200 } });
        self.server.ok("POST", &format!("/api/v1/clusters/{}/services", self.cluster), Some(body)).await;
        self.desired.insert(name, count);
    }

    async fn register_web(&mut self) -> String {
        self.web_revision += 1;
        let web = json!({ "family": "web", "placementConstraints": [{ "type": "memberOf", "expression": "attribute:pool == sim" }],
            "containerDefinitions": [{ "name": "a", "image": format!("local/web:{}", self.web_revision), "cpu": 256, "memory": 256 }] });
        self.server.register(web).await
    }

    /// Concurrent clients: a scale, a deployment, a RunTask retried with its token, and a
    /// StopTask; only what the server acknowledged is remembered.
    async fn write(&mut self, rng: &mut Rng) {
        let cluster = self.cluster.clone();
        let scale = 2 + rng.below(9) as i64;
        let deploy = rng.below(2) == 0;
        let revision = if deploy { Some(self.register_web().await) } else { None };
        let token = format!("round-{}", rng.next());
        let stop = self.ran.iter().find(|t| !self.stop_asked.contains(*t)).cloned();
        let api_scale = 1 + rng.below(SIM_PROCESSES as u64 * SIMS_PER_PROCESS as u64) as i64;
        let s = &self.server;
        let services = format!("/api/v1/clusters/{cluster}/services");
        let (web, api) = (format!("{services}/web"), format!("{services}/api"));
        let tasks = format!("/api/v1/clusters/{cluster}/tasks");
        let run = json!({ "taskDefinition": "job", "count": 1 + rng.below(2), "clientToken": token,
            "placementConstraints": [{ "type": "memberOf", "expression": "attribute:pool == sim" }] });
        let (scaled, deployed, api_scaled, first, retry, stopped) = tokio::join!(
            s.call("PATCH", &web, Some(json!({ "desiredCount": scale }))),
            async {
                match &revision {
                    Some(r) => Some(s.call("PATCH", &web, Some(json!({ "taskDefinition": r }))).await),
                    None => None,
                }
            },
            s.call("PATCH", &api, Some(json!({ "desiredCount": api_scale }))),
            s.call("POST", &tasks, Some(run.clone())),
            s.call("POST", &tasks, Some(run.clone())),
            async {
                match &stop {
                    Some(id) => Some((id.clone(), s.call("POST", &format!("{tasks}/{id}/stop"), Some(json!({}))).await)),
                    None => None,
                }
            },
        );
        // A deployment keeps the count; only the scale changes it.
        if scaled.0 == 200 {
            self.desired.insert("web", scale);
        }
        if let Some((status, body)) = deployed {
            assert_eq!(status, 200, "the deployment was refused: {body}");
        }
        if api_scaled.0 == 200 {
            self.desired.insert("api", api_scale);
        }
        // Two RunTasks with one clientToken, side by side: one set of tasks, whichever answered.
        if first.0 == 200 && retry.0 == 200 {
            let ids = |body: &serde_json::Value| -> Vec<String> {
                let mut ids: Vec<String> = body["tasks"].as_array().into_iter().flatten().map(|t| t["id"].as_str().unwrap_or_default().to_string()).collect();
                ids.sort();
                ids
            };
            assert_eq!(ids(&first.1), ids(&retry.1), "one clientToken, two sets of tasks");
        }
        for (status, body) in [first, retry] {
            if status == 200 {
                for t in body["tasks"].as_array().into_iter().flatten() {
                    self.ran.insert(t["id"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        if let Some((id, (200, _))) = stopped {
            self.stop_asked.insert(id);
        }
    }

    async fn inject(&mut self, fault: Fault, rng: &mut Rng) {
        match fault {
            Fault::KillServer => self.server.kill9_and_restart().await,
            Fault::KillSimAgent => {
                let n = rng.below(self.sims.len() as u64) as usize;
                self.sims[n].kill9_and_restart().await;
            }
            Fault::KillDockerAgent => {
                if let Some(d) = self.docker.as_mut() {
                    d.kill9_and_restart().await;
                }
            }
            Fault::PauseAgent => {
                let n = rng.below(self.sims.len() as u64) as usize;
                self.sims[n].signal(libc::SIGSTOP);
                tokio::time::sleep(WINDOW + Duration::from_secs(2)).await;
                self.sims[n].signal(libc::SIGCONT);
            }
            Fault::CutConnections => {
                self.proxy.cut_all();
                // Heartbeats are what the cut connections send next.
                tokio::time::sleep(Duration::from_secs(HEARTBEAT + 1)).await;
            }
        }
    }

    async fn all_tasks(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = String::new();
        loop {
            let page = self.server.ok("GET", &format!("/api/v1/clusters/{}/tasks?maxResults=100&nextToken={next}", self.cluster), None).await;
            out.extend(page["tasks"].as_array().cloned().unwrap_or_default());
            match page["nextToken"].as_str() {
                Some(t) => next = t.to_string(),
                None => return out,
            }
        }
    }

    /// Every invariant, after a fault has ended.
    async fn check(&self, tally: &mut Tally, round: u32, fault: Fault) {
        let at = |what: &str| format!("round {round} ({fault:?}): {what}");
        // Each service at exactly its desired count RUNNING, within two heartbeat windows.
        let settled = within_two_windows(|| async {
            let tasks = self.all_tasks().await;
            let mut running: BTreeMap<String, i64> = BTreeMap::new();
            for t in &tasks {
                if let Some(service) = t["group"].as_str().and_then(|g| g.strip_prefix("service:"))
                    && t["lastStatus"] == "RUNNING"
                    && t["desiredStatus"] == "RUNNING"
                {
                    *running.entry(service.to_string()).or_default() += 1;
                }
            }
            let wanted: BTreeMap<String, i64> = self.desired.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            if running == wanted { Ok(()) } else { Err(format!("RUNNING {running:?}, desired {wanted:?}")) }
        })
        .await;
        tally.check(settled.is_ok(), || at(&format!("services not at their desired count two heartbeat windows after the fault: {}", settled.clone().unwrap_err())));

        // The counts the store keeps agree with the tasks themselves (read a moment apart, so
        // they may differ while something still changes).
        let agreed = within_two_windows(|| async {
            let tasks = self.all_tasks().await;
            let cluster = self.server.ok("GET", &format!("/api/v1/clusters/{}", self.cluster), None).await;
            let running = tasks.iter().filter(|t| t["lastStatus"] == "RUNNING").count() as i64;
            let kept = cluster["cluster"]["runningTasksCount"].as_i64().unwrap_or(-1);
            if running == kept { Ok(()) } else { Err(format!("{running} tasks RUNNING, the cluster counts {kept}")) }
        })
        .await;
        tally.check(agreed.is_ok(), || at(&format!("kept counts disagree with the tasks: {}", agreed.clone().unwrap_err())));

        let tasks = self.all_tasks().await;
        let instances = self.server.instances(&self.cluster).await;
        // No instance over-committed: what its live tasks hold fits what it registered.
        let mut held: HashMap<String, (i64, i64, Vec<u16>)> = HashMap::new();
        for t in tasks.iter().filter(|t| t["lastStatus"] != "STOPPED") {
            let family = t["taskDefinitionArn"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().split(':').next().unwrap_or_default();
            let instance = t["containerInstanceArn"].as_str().and_then(|a| a.rsplit('/').next()).unwrap_or_default().to_string();
            let (cpu, memory, port) = reservation(family);
            let e = held.entry(instance).or_default();
            e.0 += cpu;
            e.1 += memory;
            e.2.extend(port);
        }
        for i in &instances {
            let id = i["id"].as_str().unwrap_or_default();
            let registered = |name: &str| {
                i["registeredResources"].as_array().into_iter().flatten().find(|r| r["name"] == name).and_then(|r| r["integerValue"].as_i64()).unwrap_or(0)
            };
            let (cpu, memory, ports) = held.get(id).cloned().unwrap_or_default();
            let unique: BTreeSet<u16> = ports.iter().copied().collect();
            tally.check(cpu <= registered("CPU") && memory <= registered("MEMORY") && unique.len() == ports.len(), || {
                at(&format!("instance {id} over-committed: {cpu} CPU, {memory} MiB, ports {ports:?} of {} CPU, {} MiB", registered("CPU"), registered("MEMORY")))
            });
        }
        // No acknowledged write lost.
        for (name, want) in &self.desired {
            let s = self.server.ok("GET", &format!("/api/v1/clusters/{}/services/{name}", self.cluster), None).await;
            let have = s["service"]["desiredCount"].as_i64();
            tally.check(have == Some(*want), || at(&format!("service {name}: acknowledged desiredCount {want}, stored {have:?}")));
        }
        let by_id: HashMap<&str, &Value> = tasks.iter().map(|t| (t["id"].as_str().unwrap_or_default(), t)).collect();
        for id in &self.ran {
            let t = by_id.get(id.as_str());
            tally.check(t.is_some(), || at(&format!("acknowledged RunTask task {id} is missing")));
            if self.stop_asked.contains(id) {
                tally.check(t.is_some_and(|t| t["desiredStatus"] == "STOPPED"), || at(&format!("acknowledged StopTask of {id} lost")));
            }
        }
        // Docker runs exactly what the store says runs there (compared once both settle).
        if self.docker.is_some() {
            let docker_host = instances.iter().find(|i| i["name"] == "docker-host").and_then(|i| i["id"].as_str()).expect("the Docker instance").to_string();
            let agreed = within_two_windows(|| async {
                let store: BTreeSet<String> = self
                    .all_tasks()
                    .await
                    .iter()
                    .filter(|t| t["lastStatus"] == "RUNNING" && t["containerInstanceArn"].as_str().is_some_and(|a| a.ends_with(&docker_host)))
                    .filter_map(|t| t["id"].as_str().map(str::to_string))
                    .collect();
                let engine = docker_tasks(&self.cluster);
                if store == engine && !store.is_empty() { Ok(()) } else { Err(format!("store RUNNING {store:?}, docker running {engine:?}")) }
            })
            .await;
            tally.check(agreed.is_ok(), || at(&format!("Docker and the store disagree: {}", agreed.clone().unwrap_err())));
        }
    }
}

/// Polls `check` (Ok when the invariant holds, Err with what it saw when not) for up to two
/// heartbeat windows; what it saw last when it never held.
async fn within_two_windows<F, Fut>(mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + 2 * WINDOW;
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(seen) if tokio::time::Instant::now() > deadline => return Err(seen),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Task ids of the cluster's running Docker containers.
fn docker_tasks(cluster: &str) -> BTreeSet<String> {
    let ids = running_containers_of(cluster);
    if ids.is_empty() {
        return BTreeSet::new();
    }
    let out = std::process::Command::new("docker")
        .args(["inspect", "--format", "{{index .Config.Labels \"wharf.task-id\"}}"])
        .args(&ids)
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// One suite at a time: each runs a server, seven hosts and a proxy, and the invariants are
/// timed in heartbeat windows; two at once on a small machine would measure the machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn suite(backend: &str, database: Option<String>) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let seed = std::env::var("WHARF_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1
    });
    let rounds: u32 = std::env::var("WHARF_FAULT_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    eprintln!("fault suite on {backend}: seed {seed} (replay with WHARF_FAULT_SEED={seed}), {rounds} rounds");
    let mut rng = Rng(seed);
    let mut world = World::new(database).await;
    let mut tally = Tally::default();
    world.check(&mut tally, 0, Fault::CutConnections).await;
    let mut faults = vec![Fault::KillServer, Fault::KillSimAgent, Fault::PauseAgent, Fault::CutConnections];
    if world.docker.is_some() {
        faults.push(Fault::KillDockerAgent);
    }
    for round in 1..=rounds {
        // Every kind once before any repeats, then at random.
        let fault = if (round as usize) <= faults.len() { faults[round as usize - 1] } else { faults[rng.below(faults.len() as u64) as usize] };
        // Writers first, the fault while their changes are rolling out.
        world.write(&mut rng).await;
        tokio::time::sleep(Duration::from_millis(rng.below(800))).await;
        world.inject(fault, &mut rng).await;
        *tally.faults.entry(format!("{fault:?}")).or_default() += 1;
        world.check(&mut tally, round, fault).await;
        // Stop what RunTask started, so capacity stays for the services.
        let running_jobs: Vec<String> = world.ran.iter().filter(|t| !world.stop_asked.contains(*t)).cloned().collect();
        for id in running_jobs {
            let (status, _) = world.server.call("POST", &format!("/api/v1/clusters/{}/tasks/{id}/stop", world.cluster), Some(json!({}))).await;
            if status == 200 {
                world.stop_asked.insert(id);
            }
        }
    }
    let injected: u32 = tally.faults.values().sum();
    let summary = format!(
        "fault suite on {backend}: seed {seed}; faults injected {injected} {:?}; connections cut mid-message {}; invariant checks {}; violations {}\n",
        tally.faults,
        world.proxy.cut_mid_message(),
        tally.checks,
        tally.violations.len()
    );
    // Past the test harness's capture: the counts belong in every run's output, passed or not.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), summary.as_bytes());
    assert!(world.proxy.cut_mid_message() > 0, "no connection was cut mid-message");
    assert!(tally.violations.is_empty(), "{} violation(s) with seed {seed}:\n{}", tally.violations.len(), tally.violations.join("\n"));
}

#[tokio::test]
async fn faults_during_deployments_and_scaling_break_no_invariant_on_sqlite() {
    suite("SQLite", None).await;
}

#[tokio::test]
async fn faults_during_deployments_and_scaling_break_no_invariant_on_postgres() {
    let Some(url) = postgres_database().await else { return };
    suite("PostgreSQL", Some(url)).await;
}
