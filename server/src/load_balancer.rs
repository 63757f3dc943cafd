/*!
The load balancer inside the server. It serves Wharf's listeners from this process (so a
newcomer's first `wharf-server` answers on a listener's port with nothing else to start), and
keeps the data path apart from the store: a builder turns the store into a [`Table`] whenever
something it depends on changes (and every few seconds regardless, for changes another server
made), and a reporter writes what the balancer saw back: target health, drained targets, the
state of each listener's port.
*/

use crate::control::Control;
use crate::control::load_balancing::ListenerStates;
use crate::store::{self, Store, instances, load_balancing as sql, scheduling};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use wharf_core::load_balancing::TargetGroupConfig;
use wharf_lb::{Balancer, Event, HealthCheck, Listener, Rule, Table, Target, TargetGroup};

/// Rebuild at least this often, whatever happened.
const REBUILD_EVERY: Duration = Duration::from_secs(5);
/// Changes that come in a burst are served by one rebuild.
const SETTLE: Duration = Duration::from_millis(50);

pub struct LoadBalancer {
    balancer: Balancer,
    ports: Mutex<BTreeMap<i64, (String, Option<String>)>>,
    rebuild: Notify,
    /// Copies of the counters every [`SAMPLE_EVERY`], the last minute's worth: rates over it.
    samples: Mutex<std::collections::VecDeque<(std::time::Instant, wharf_lb::Stats)>>,
}

const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const SAMPLES_KEPT: usize = 13;

/// A target's traffic over the sampled window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub p99_seconds: Option<f64>,
    pub total: u64,
}

impl ListenerStates for LoadBalancer {
    fn state(&self, port: i64) -> (String, Option<String>) {
        self.ports.lock().unwrap_or_else(|e| e.into_inner()).get(&port).cloned().unwrap_or_else(|| ("PROVISIONING".into(), None))
    }
}

impl LoadBalancer {
    /// Starts serving the store's listeners on `address`.
    pub fn start(control: Control, address: IpAddr) -> Arc<Self> {
        let config = wharf_lb::Config { address, strip_cookies: vec![crate::auth::SESSION_COOKIE.to_string()] };
        let (balancer, events) = Balancer::new(config);
        let lb = Arc::new(Self { balancer, ports: Mutex::new(BTreeMap::new()), rebuild: Notify::new(), samples: Mutex::default() });
        tokio::spawn(build_forever(Arc::downgrade(&lb), control.clone()));
        tokio::spawn(sample_forever(Arc::downgrade(&lb)));
        tokio::spawn(report_forever(Arc::downgrade(&lb), control, events));
        lb
    }

    /// Asks for a rebuild (a listener, rule or target group changed).
    pub fn changed(&self) {
        self.rebuild.notify_one();
    }

    /// Requests, latency and health per listener (and with `per_target` per target), for
    /// `/metrics`.
    pub fn render_metrics(&self, out: &mut String, per_target: bool) {
        self.balancer.render_metrics(out, per_target);
    }

    pub fn stats(&self) -> wharf_lb::Stats {
        self.balancer.stats()
    }

    /// Each target's requests per second and p99 over the last minute (or since it was first
    /// sampled), by (target group, task, address).
    pub fn rates(&self) -> HashMap<(String, String, SocketAddr), Rate> {
        let now = self.balancer.stats();
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = samples.front();
        let mut out = HashMap::new();
        for t in &now.targets {
            let key = (t.target_group.to_string(), t.task.to_string(), t.addr);
            let before = oldest.and_then(|(at, s)| {
                s.targets.iter().find(|o| o.target_group == t.target_group && o.task == t.task && o.addr == t.addr).map(|o| (*at, o.counts))
            });
            let (window, seconds) = match before {
                Some((at, counts)) => (t.counts.since(&counts), at.elapsed().as_secs_f64()),
                None => (t.counts, 0.0),
            };
            let per_second = if seconds >= 1.0 { window.requests() as f64 / seconds } else { 0.0 };
            out.insert(key, Rate { per_second, p99_seconds: window.quantile(0.99), total: t.counts.requests() });
        }
        out
    }
}

async fn sample_forever(lb: std::sync::Weak<LoadBalancer>) {
    loop {
        let Some(strong) = lb.upgrade() else { return };
        let stats = strong.balancer.stats();
        {
            let mut samples = strong.samples.lock().unwrap_or_else(|e| e.into_inner());
            samples.push_back((std::time::Instant::now(), stats));
            while samples.len() > SAMPLES_KEPT {
                samples.pop_front();
            }
        }
        drop(strong);
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

async fn build_forever(lb: std::sync::Weak<LoadBalancer>, control: Control) {
    let mut feed = control.events().subscribe(None).live;
    let mut rounds: u32 = 0;
    loop {
        let Some(strong) = lb.upgrade() else { return };
        // About once a minute: the health of targets whose tasks are gone is forgotten.
        rounds = rounds.wrapping_add(1);
        if rounds.is_multiple_of(12) {
            let forgotten = async {
                let mut w = control.store().write().await?;
                sql::forget_health_of_stopped(w.conn()).await?;
                w.commit().await
            };
            if let Err(e) = forgotten.await {
                tracing::warn!(error = %e, "old target health could not be forgotten");
            }
        }
        match table(control.store()).await {
            Ok(table) => strong.balancer.apply(&table).await,
            Err(e) => tracing::warn!(error = %e, "the load balancer could not read its table"),
        }
        // Anything that moves tasks, hosts or services may move targets.
        tokio::select! {
            _ = strong.rebuild.notified() => {}
            _ = wait_for_change(&mut feed) => {}
            _ = tokio::time::sleep(REBUILD_EVERY) => {}
        }
        drop(strong);
        tokio::time::sleep(SETTLE).await;
    }
}

async fn wait_for_change(feed: &mut tokio::sync::broadcast::Receiver<Arc<crate::events::Event>>) {
    loop {
        match feed.recv().await {
            Ok(event) if matches!(event.kind, "task" | "tasks" | "instance" | "service" | "cluster" | "reset") => return,
            Ok(_) => {}
            // Behind: something changed for sure.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// What the balancer should serve, read from the store.
pub async fn table(store: &Store) -> store::Result<Table> {
    let mut conn = store.pool().acquire().await?;
    let conn = &mut *conn;
    let mut out = Table::default();
    for l in sql::listeners(conn, None).await? {
        let Ok(port) = u16::try_from(l.port) else { continue };
        let rules = l
            .rules
            .iter()
            .map(|r| {
                let values = |field: &str| r.conditions.iter().filter(|c| c.field.as_deref() == Some(field)).flat_map(|c| c.values.clone().unwrap_or_default()).collect();
                Rule { priority: u32::try_from(r.priority).unwrap_or(u32::MAX), hosts: values("host-header"), paths: values("path-pattern"), target_group: r.target_group.as_str().into() }
            })
            .collect();
        out.listeners.insert(port, Listener { port, rules, default_target_group: l.default_target_group.as_deref().map(Into::into) });
    }
    let groups = sql::target_groups(conn, None).await?;
    for g in &groups {
        out.target_groups.insert(
            g.arn.as_str().into(),
            TargetGroup {
                arn: g.arn.as_str().into(),
                health_check: health_check(&g.config),
                deregistration_delay: Duration::from_secs(u64::try_from(g.config.deregistration_delay_seconds).unwrap_or(0)),
                targets: Vec::new(),
            },
        );
    }
    let mut clusters: Vec<&str> = groups.iter().map(|g| g.cluster.as_str()).collect();
    clusters.dedup();
    // What was last seen healthy (by this balancer, or by the one before a restart).
    let healthy: std::collections::HashSet<(String, String, String)> = sql::health(conn, None)
        .await?
        .into_iter()
        .filter(|h| h.state == "healthy")
        .map(|h| (h.target_group, h.task_id, h.address))
        .collect();
    for cluster in clusters {
        for r in targets(conn, cluster).await? {
            let known = healthy.contains(&(r.target_group.clone(), r.task_id.clone(), r.addr.to_string()));
            if let Some(group) = out.target_groups.get_mut(r.target_group.as_str()) {
                group.targets.push(Target { task: r.task_id.as_str().into(), addr: r.addr, draining: r.draining, healthy: known });
            }
        }
    }
    Ok(out)
}

fn health_check(config: &TargetGroupConfig) -> HealthCheck {
    let seconds = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or(1).max(1));
    HealthCheck {
        path: config.health_check_path.clone(),
        interval: seconds(config.health_check_interval_seconds),
        timeout: seconds(config.health_check_timeout_seconds),
        healthy_threshold: u32::try_from(config.healthy_threshold_count).unwrap_or(1),
        unhealthy_threshold: u32::try_from(config.unhealthy_threshold_count).unwrap_or(1),
        matcher: config.matcher_ranges(),
    }
}

/// A task's container port in a target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub target_group: String,
    pub task_id: String,
    pub service_name: String,
    pub container_name: String,
    pub container_port: i64,
    pub addr: SocketAddr,
    /// On its way out: no new requests.
    pub draining: bool,
}

/// The targets a cluster's services put in their target groups: each RUNNING task's host port
/// for the container port named, at its instance's address; a task on its way out drains.
pub async fn targets(conn: &mut sqlx::AnyConnection, cluster: &str) -> store::Result<Vec<Registered>> {
    let services = scheduling::services(conn, cluster).await?;
    if services.iter().all(|s| s.row.config.load_balancers.is_empty()) {
        return Ok(Vec::new());
    }
    let addresses: HashMap<String, IpAddr> = instances::all(conn, cluster)
        .await?
        .into_iter()
        .filter_map(|i| Some((i.id, i.private_ip_address.as_deref()?.parse().ok()?)))
        .collect();
    let tasks = scheduling::live_tasks(conn, cluster).await?;
    let mut out = Vec::new();
    for service in services.iter().filter(|s| !s.row.config.load_balancers.is_empty()) {
        for task in tasks.iter().filter(|t| t.service_id.as_deref() == Some(service.row.id.as_str())) {
            if !matches!(task.last_status.as_str(), "RUNNING" | "DEACTIVATING") {
                continue;
            }
            let Some(ip) = task.instance_id.as_ref().and_then(|i| addresses.get(i)) else { continue };
            let Ok(containers) = task.containers() else { continue };
            for lb in &service.row.config.load_balancers {
                let (Some(arn), Some(name), Some(port)) = (&lb.target_group_arn, &lb.container_name, lb.container_port) else { continue };
                let host_port = containers
                    .iter()
                    .filter(|c| &c.name == name)
                    .flat_map(|c| &c.network_bindings)
                    .find(|b| b.container_port == port && b.protocol.eq_ignore_ascii_case("tcp"))
                    .and_then(|b| u16::try_from(b.host_port).ok());
                let Some(host_port) = host_port else { continue };
                out.push(Registered {
                    target_group: arn.clone(),
                    task_id: task.id.clone(),
                    service_name: service.row.name.clone(),
                    container_name: name.clone(),
                    container_port: port,
                    addr: SocketAddr::new(*ip, host_port),
                    draining: task.desired_status != "RUNNING",
                });
            }
        }
    }
    Ok(out)
}

async fn report_forever(lb: std::sync::Weak<LoadBalancer>, control: Control, mut events: mpsc::UnboundedReceiver<Event>) {
    // Kept until stored: a write that failed (the store unreachable for a moment) is tried
    // again with whatever came meanwhile, so no health change or drain is lost.
    let mut pending: Vec<Event> = Vec::new();
    // Drains of tasks with another target still draining: looked at again every second.
    let mut waiting: Vec<Event> = Vec::new();
    let mut failures = 0u32;
    loop {
        if pending.is_empty() {
            if waiting.is_empty() {
                match events.recv().await {
                    Some(first) => pending.push(first),
                    None => return,
                }
            } else {
                match tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
                    Ok(Some(first)) => pending.push(first),
                    Ok(None) => return,
                    Err(_) => {}
                }
                pending.append(&mut waiting);
            }
        }
        // Everything waiting goes in one transaction.
        while let Ok(more) = events.try_recv() {
            pending.push(more);
        }
        compact(&mut pending);
        let Some(strong) = lb.upgrade() else { return };
        match report(&strong, &control, &pending).await {
            Ok(not_yet) => {
                pending.clear();
                waiting = not_yet;
                failures = 0;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, waiting = pending.len(), failures, "the load balancer's news could not be stored; trying again");
                // A store that refuses for a minute: drop the news rather than hold every later
                // change behind it (the next health change says the state again; a drain ends at
                // its deadline).
                if failures >= 60 {
                    tracing::error!(dropped = pending.len(), "the load balancer's news was dropped after a minute of failures");
                    pending.clear();
                    failures = 0;
                }
                drop(strong);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Keeps the latest health of each target and the latest state of each listener; drains stay.
fn compact(pending: &mut Vec<Event>) {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<Event> = Vec::with_capacity(pending.len());
    for event in pending.drain(..).rev() {
        let key = match &event {
            Event::Health { target_group, task, addr, .. } => Some(format!("h {target_group} {task} {addr}")),
            Event::Listener { port, .. } => Some(format!("l {port}")),
            Event::Drained { .. } => None,
        };
        if key.is_none_or(|k| seen.insert(k)) {
            kept.push(event);
        }
    }
    kept.reverse();
    *pending = kept;
}

/// Stores a batch of news; returns the drains that wait for another target of their task.
async fn report(lb: &LoadBalancer, control: &Control, batch: &[Event]) -> store::Result<Vec<Event>> {
    let now = store::now();
    let mut w = control.store().write().await?;
    let mut wake = false;
    let mut published = Vec::new();
    let mut bound = Vec::new();
    let mut not_yet = Vec::new();
    for event in batch {
        match event {
            Event::Health { target_group, task, addr, health } => {
                let row = sql::HealthRow {
                    target_group: target_group.to_string(),
                    task_id: task.to_string(),
                    address: addr.to_string(),
                    state: health.state.as_str().into(),
                    reason: health.reason.map(str::to_string),
                    description: health.description.clone(),
                    updated_at: now.clone(),
                };
                // A target whose group was deleted meanwhile has nothing to record.
                if let Some(group) = sql::find_target_group_by_arn(w.conn(), &row.target_group).await? {
                    sql::put_health(w.conn(), &row).await?;
                    wake |= health.state == wharf_lb::health::State::Healthy || health.state == wharf_lb::health::State::Unhealthy;
                    published.push((group.cluster, row));
                }
            }
            Event::Drained { task, .. } => {
                if lb.balancer.task_drained(task) {
                    wake |= scheduling::drained(w.conn(), task, &now).await?;
                } else {
                    not_yet.push(event.clone());
                }
            }
            Event::Listener { port, error } => {
                let state = match &error {
                    None => ("ACTIVE".to_string(), None),
                    Some(e) => ("FAILED".to_string(), Some(format!("port {port} could not be bound: {e}"))),
                };
                lb.ports.lock().unwrap_or_else(|e| e.into_inner()).insert(i64::from(*port), state);
                // Pages showing the listener learn its state.
                if let Some(listener) = sql::listener(w.conn(), i64::from(*port)).await? {
                    bound.push(listener.cluster);
                }
            }
        }
    }
    w.commit().await?;
    for (cluster, row) in published {
        let data = serde_json::json!({"targetGroupArn": row.target_group, "taskId": row.task_id, "address": row.address, "state": row.state,
            "reason": row.reason});
        control.events().publish("targetHealth", Some(&cluster), data);
    }
    for cluster in bound {
        control.events().publish("loadBalancing", Some(&cluster), serde_json::json!({"change": "listenerState"}));
    }
    if wake {
        control.agents().wake_scheduler();
    }
    Ok(not_yet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_waiting_to_be_stored_keeps_the_latest_of_each_target_and_every_drain() {
        let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let health = |task: &str, state: wharf_lb::health::Health| Event::Health { target_group: "tg".into(), task: task.into(), addr, health: state };
        let drained = |task: &str| Event::Drained { target_group: "tg".into(), task: task.into(), addr };
        let mut pending = vec![
            health("a", wharf_lb::health::Health::initial()),
            drained("b"),
            Event::Listener { port: 80, error: Some("taken".into()) },
            health("a", wharf_lb::health::Health::draining()),
            drained("c"),
            Event::Listener { port: 80, error: None },
        ];
        compact(&mut pending);
        assert_eq!(
            pending,
            vec![drained("b"), health("a", wharf_lb::health::Health::draining()), drained("c"), Event::Listener { port: 80, error: None }]
        );
    }
}
