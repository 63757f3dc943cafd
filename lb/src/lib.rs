/*!
Wharf's load balancer. The control plane describes what to serve as a [`Table`] (listeners,
their rules, target groups and their targets) and hands each new one to [`Balancer::apply`];
the balancer binds the listeners, checks the targets' health and forwards requests to healthy
ones, and tells the control plane what it saw through [`Event`]s: a target's health changed, a
draining target has nothing left in flight, a listener could not bind.

The data path (accept, route, choose, forward) reads the current table through one shared
pointer and counters without locks; it never waits on the control plane.
*/

pub mod balance;
pub mod health;
pub mod metrics;
mod proxy;
pub mod table;
mod upstream;
mod workers;

use health::{Health, ProbeClient, State, Tracker};
use metrics::{Counts, Meter};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};
pub use table::{HealthCheck, Listener, Rule, Table, Target, TargetGroup};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the balancer tells the control plane.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A target's health changed (it starts `initial`).
    Health { target_group: Arc<str>, task: Arc<str>, addr: SocketAddr, health: Health },
    /// A draining target has no request in flight: it may stop now.
    Drained { target_group: Arc<str>, task: Arc<str>, addr: SocketAddr },
    /// A listener bound its port (`error` none) or could not.
    Listener { port: u16, error: Option<String> },
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The address listeners bind on.
    pub address: IpAddr,
    /// Cookies never forwarded to targets: the control plane's own (a browser sends a host's
    /// cookies to every port of it, and a target is some team's code).
    pub strip_cookies: Vec<String>,
}

/// One target as the balancer keeps it between tables: its health, its counters and whether
/// it is draining.
#[derive(Debug)]
pub struct TargetState {
    pub target_group: Arc<str>,
    pub task: Arc<str>,
    pub addr: SocketAddr,
    draining: AtomicBool,
    healthy: AtomicBool,
    drained_told: AtomicBool,
    tracker: Mutex<Tracker>,
    pub meter: Meter,
}

type Key = (Arc<str>, Arc<str>, SocketAddr);

impl TargetState {
    fn new(target_group: Arc<str>, target: &Target) -> Self {
        Self {
            target_group,
            task: target.task.clone(),
            addr: target.addr,
            draining: AtomicBool::new(false),
            healthy: AtomicBool::new(target.healthy),
            drained_told: AtomicBool::new(false),
            tracker: Mutex::new(if target.healthy { Tracker::healthy() } else { Tracker::default() }),
            meter: Meter::default(),
        }
    }

    pub fn health(&self) -> Health {
        if self.draining.load(SeqCst) {
            return Health::draining();
        }
        self.tracker.lock().unwrap_or_else(|e| e.into_inner()).health().clone()
    }
}

/// What the data path reads: the table with each target's live state.
#[derive(Default)]
struct Live {
    listeners: BTreeMap<u16, Listener>,
    groups: HashMap<Arc<str>, Vec<Arc<TargetState>>>,
}

struct Running {
    listeners: BTreeMap<u16, (JoinHandle<()>, Arc<Meter>)>,
    targets: HashMap<Key, Arc<TargetState>>,
    checkers: HashMap<Key, (HealthCheck, JoinHandle<()>)>,
}

struct Inner {
    config: Config,
    live: RwLock<Arc<Live>>,
    running: Mutex<Running>,
    listener_meters: RwLock<BTreeMap<u16, Arc<Meter>>>,
    events: mpsc::UnboundedSender<Event>,
    workers: workers::Workers,
    probe: ProbeClient,
}

/// The running load balancer. Dropping it stops its listeners and checks.
pub struct Balancer {
    inner: Arc<Inner>,
}

/// A copy of every counter at one moment.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub listeners: BTreeMap<u16, Counts>,
    pub targets: Vec<TargetStats>,
}

#[derive(Debug, Clone)]
pub struct TargetStats {
    pub target_group: Arc<str>,
    pub task: Arc<str>,
    pub addr: SocketAddr,
    pub health: Health,
    pub counts: Counts,
}

impl Balancer {
    /// A balancer serving nothing yet, and the events it will send.
    pub fn new(config: Config) -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (events, receiver) = mpsc::unbounded_channel();
        let inner = Inner {
            config,
            live: RwLock::new(Arc::new(Live::default())),
            running: Mutex::new(Running { listeners: BTreeMap::new(), targets: HashMap::new(), checkers: HashMap::new() }),
            listener_meters: RwLock::new(BTreeMap::new()),
            events,
            workers: workers::Workers::start(),
            probe: health::probe_client(),
        };
        (Self { inner: Arc::new(inner) }, receiver)
    }

    /// Serves `table` from now on: binds new listeners, closes removed ones, starts checking
    /// new targets and drains the ones marked so. Targets keep their health and counters
    /// from one table to the next.
    pub async fn apply(&self, table: &Table) {
        let inner = &self.inner;
        let mut live = Live { listeners: table.listeners.clone(), groups: HashMap::new() };
        let mut newly_draining = Vec::new();
        {
            let mut running = inner.running.lock().unwrap_or_else(|e| e.into_inner());
            let mut kept = HashMap::new();
            for group in table.target_groups.values() {
                let mut states = Vec::with_capacity(group.targets.len());
                for target in &group.targets {
                    let key: Key = (group.arn.clone(), target.task.clone(), target.addr);
                    let state = match running.targets.get(&key) {
                        Some(state) => state.clone(),
                        None => {
                            let state = Arc::new(TargetState::new(group.arn.clone(), target));
                            if !target.healthy {
                                let _ = inner.events.send(Event::Health {
                                    target_group: group.arn.clone(),
                                    task: target.task.clone(),
                                    addr: target.addr,
                                    health: Health::initial(),
                                });
                            }
                            state
                        }
                    };
                    // Once draining, always draining: a target does not come back from it.
                    if target.draining && !state.draining.swap(true, SeqCst) {
                        newly_draining.push(state.clone());
                    }
                    if !state.draining.load(SeqCst) {
                        let stale = running.checkers.get(&key).is_none_or(|(check, task)| *check != group.health_check || task.is_finished());
                        if stale {
                            let checker = tokio::spawn(check_forever(Arc::downgrade(inner), state.clone(), group.health_check.clone()));
                            if let Some((_, old)) = running.checkers.insert(key.clone(), (group.health_check.clone(), checker)) {
                                old.abort();
                            }
                        }
                    }
                    kept.insert(key, state.clone());
                    states.push(state);
                }
                live.groups.insert(group.arn.clone(), states);
            }
            running.targets = kept;
            let Running { checkers, targets, .. } = &mut *running;
            checkers.retain(|key, (_, task)| {
                let keep = targets.get(key).is_some_and(|t| !t.draining.load(SeqCst));
                if !keep {
                    task.abort();
                }
                keep
            });
            running.listeners.retain(|port, (task, _)| {
                let keep = table.listeners.contains_key(port) && !task.is_finished();
                if !keep {
                    task.abort();
                }
                keep
            });
        }
        let missing: Vec<u16> = {
            let running = inner.running.lock().unwrap_or_else(|e| e.into_inner());
            table.listeners.keys().filter(|p| !running.listeners.contains_key(p)).copied().collect()
        };
        for port in missing {
            let meter = inner.listener_meters.read().unwrap_or_else(|e| e.into_inner()).get(&port).cloned().unwrap_or_default();
            match tokio::net::TcpListener::bind((inner.config.address, port)).await {
                Ok(socket) => {
                    let task = tokio::spawn(proxy::accept(Arc::downgrade(inner), port, socket, meter.clone()));
                    inner.running.lock().unwrap_or_else(|e| e.into_inner()).listeners.insert(port, (task, meter.clone()));
                    inner.listener_meters.write().unwrap_or_else(|e| e.into_inner()).insert(port, meter);
                    let _ = inner.events.send(Event::Listener { port, error: None });
                }
                Err(e) => {
                    tracing::warn!(port, error = %e, "a listener could not bind its port");
                    let _ = inner.events.send(Event::Listener { port, error: Some(e.to_string()) });
                }
            }
        }
        *inner.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(live);
        for state in newly_draining {
            inner.tell_if_drained(&state);
        }
    }

    /// Every counter now, with each target's health.
    pub fn stats(&self) -> Stats {
        let live = self.inner.live.read().unwrap_or_else(|e| e.into_inner()).clone();
        let listeners = self.inner.listener_meters.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(p, m)| (*p, m.counts())).collect();
        let mut targets: Vec<TargetStats> = live
            .groups
            .values()
            .flatten()
            .map(|t| TargetStats { target_group: t.target_group.clone(), task: t.task.clone(), addr: t.addr, health: t.health(), counts: t.meter.counts() })
            .collect();
        targets.sort_by(|a, b| (&a.target_group, &a.task, a.addr).cmp(&(&b.target_group, &b.task, b.addr)));
        Stats { listeners, targets }
    }

    /// Whether every target of `task` drains with nothing in flight: a task in several target
    /// groups (or on several ports) may stop only once all of them have drained.
    pub fn task_drained(&self, task: &str) -> bool {
        let live = self.inner.live.read().unwrap_or_else(|e| e.into_inner()).clone();
        live.groups.values().flatten().filter(|t| &*t.task == task).all(|t| t.draining.load(SeqCst) && t.meter.active.load(SeqCst) <= 0)
    }

    /// The counters in Prometheus's text format: the listeners', and with `per_target` each
    /// target's (those name target groups and tasks).
    pub fn render_metrics(&self, out: &mut String, per_target: bool) {
        use std::fmt::Write;
        let stats = self.stats();
        out.push_str("# HELP wharf_lb_listener_requests_total Requests a listener answered, by status class.\n# TYPE wharf_lb_listener_requests_total counter\n");
        out.push_str("# HELP wharf_lb_listener_request_duration_seconds Time to a response's head.\n# TYPE wharf_lb_listener_request_duration_seconds histogram\n");
        for (port, counts) in &stats.listeners {
            counts.render(out, "wharf_lb_listener", &format!("listener=\"{port}\""));
        }
        out.push_str("# HELP wharf_lb_listener_active_connections Open client connections.\n# TYPE wharf_lb_listener_active_connections gauge\n");
        for (port, counts) in &stats.listeners {
            let _ = writeln!(out, "wharf_lb_listener_active_connections{{listener=\"{port}\"}} {}", counts.connections);
        }
        if !per_target {
            return;
        }
        out.push_str("# HELP wharf_lb_target_requests_total Requests forwarded to a target, by status class.\n# TYPE wharf_lb_target_requests_total counter\n");
        out.push_str("# HELP wharf_lb_target_request_duration_seconds Time to a target's response head.\n# TYPE wharf_lb_target_request_duration_seconds histogram\n");
        let labels = |t: &TargetStats| format!("target_group=\"{}\",task=\"{}\",target=\"{}\"", metrics::escape(&t.target_group), metrics::escape(&t.task), t.addr);
        for t in &stats.targets {
            t.counts.render(out, "wharf_lb_target", &labels(t));
        }
        out.push_str("# HELP wharf_lb_target_active_requests Requests in flight to a target.\n# TYPE wharf_lb_target_active_requests gauge\n");
        for t in &stats.targets {
            let _ = writeln!(out, "wharf_lb_target_active_requests{{{}}} {}", labels(t), t.counts.active);
        }
        out.push_str("# HELP wharf_lb_target_healthy 1 when a target passes its health checks.\n# TYPE wharf_lb_target_healthy gauge\n");
        for t in &stats.targets {
            let _ = writeln!(out, "wharf_lb_target_healthy{{{}}} {}", labels(t), u8::from(t.health.state == State::Healthy));
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let mut running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
        for (task, _) in running.listeners.values() {
            task.abort();
        }
        for (_, task) in running.checkers.values() {
            task.abort();
        }
        running.listeners.clear();
        running.checkers.clear();
    }
}

impl Inner {
    /// Tells the control plane once that a draining target has nothing in flight. The data path
    /// counts a request in before it looks at `draining` again, and this reads the count after
    /// setting it, so a request and a drain never both miss each other.
    fn tell_if_drained(&self, target: &TargetState) {
        if target.draining.load(SeqCst) && target.meter.active.load(SeqCst) <= 0 && !target.drained_told.swap(true, SeqCst) {
            let _ = self.events.send(Event::Drained { target_group: target.target_group.clone(), task: target.task.clone(), addr: target.addr });
        }
    }
}

/// Checks one target every interval (the first at once) until it drains or goes away.
async fn check_forever(inner: std::sync::Weak<Inner>, target: Arc<TargetState>, check: HealthCheck) {
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let outcome = health::probe(&strong.probe, target.addr, &check).await;
        if target.draining.load(SeqCst) {
            return;
        }
        let changed = target.tracker.lock().unwrap_or_else(|e| e.into_inner()).observe(&outcome, &check);
        if let Some(health) = changed {
            target.healthy.store(health.state == State::Healthy, SeqCst);
            let _ = strong.events.send(Event::Health { target_group: target.target_group.clone(), task: target.task.clone(), addr: target.addr, health });
        }
        drop(strong);
        tokio::time::sleep(check.interval).await;
    }
}
