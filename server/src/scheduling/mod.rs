/*!
The scheduling loop: the one writer that turns services into tasks. It wakes when something
it plans from changes (a service, a task's state, an instance joining, leaving or draining)
and at least every few seconds, holds the scheduling lease (so that with several servers
one schedules), and runs a pass per cluster with services: load the cluster once, plan with
`wharf-scheduler`, commit the plan in one transaction, then tell the agents. It never waits on
an agent.
*/

mod pass;
pub(crate) mod snapshot;

use crate::agents::{Agents, SchedulerSignals};
use crate::events::Events;
use crate::store::scheduling::LiveTask;
use crate::store::{self, Store, scheduling as sql};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The scheduler's copy of a cluster's live tasks. Reports from agents (the bulk of changes)
/// are applied to it as they are stored; a task booked or stopped by another path (RunTask,
/// StartTask, StopTask, …: the store's live-task generation moved), and age, make it reload.
pub(crate) struct Tasks {
    /// Ordered by id, which a pass needs for a deterministic plan.
    pub by_id: BTreeMap<String, LiveTask>,
    loaded: Instant,
    /// The store's live-task generation of the cluster when loaded.
    pub generation: u64,
}

/// Reload a copy at least this often, whatever happened.
const RELOAD_EVERY: Duration = Duration::from_secs(30);

impl Tasks {
    pub fn new(list: Vec<LiveTask>, generation: u64) -> Self {
        Self { by_id: list.into_iter().map(|t| (t.id.clone(), t)).collect(), loaded: Instant::now(), generation }
    }
}

/// Applies what changed to the copies, or drops them when they cannot be patched.
fn apply(cache: &mut HashMap<String, Tasks>, signals: SchedulerSignals) {
    cache.retain(|_, t| t.loaded.elapsed() < RELOAD_EVERY);
    if signals.reload {
        cache.clear();
        return;
    }
    for d in signals.deltas {
        let Some(tasks) = cache.get_mut(&d.cluster) else { continue };
        if d.last_status == "STOPPED" {
            tasks.by_id.remove(&d.id);
        } else if let Some(t) = tasks.by_id.get_mut(&d.id) {
            t.last_status = d.last_status;
            t.desired_status = d.desired_status;
            t.containers = d.containers;
            t.host_ports = d.host_ports;
        }
    }
}

/// Stops tasks that have waited too long to reach RUNNING, as failed starts; returns the
/// stops for their agents. The agent may never have heard of the task (a lost message, a
/// start that hangs): either way it answers STOPPED.
async fn time_out_starts(store: &Store, timeout: Duration) -> Result<Vec<(String, wharf_core::protocol::ServerMessage)>, wharf_core::WharfError> {
    let before = chrono::Utc::now() - chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
    let before = before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // Almost every pass finds nothing: a plain read says so without waiting for the writer.
    {
        let mut conn = store.pool().acquire().await.map_err(store::StoreError::from)?;
        if sql::stuck_before_running(&mut conn, &before).await?.is_empty() {
            return Ok(Vec::new());
        }
    }
    let mut w = store.write().await?;
    let stuck = sql::stuck_before_running(w.conn(), &before).await?;
    if stuck.is_empty() {
        return Ok(Vec::new());
    }
    let reason = format!("{START_TIMEOUT_REASON} ({} s)", timeout.as_secs());
    let now = store::now();
    let mut out = Vec::with_capacity(stuck.len());
    for (id, cluster, instance) in stuck {
        sql::request_stop(w.conn(), &id, &reason).await?;
        sql::task_outcome(w.conn(), &id, true, &now, START_BACKOFF_BASE_SECS).await?;
        w.touch_live_tasks(&cluster);
        tracing::warn!(task = %id, %cluster, "task did not reach RUNNING in time; stopping it");
        if let Some(instance) = instance {
            out.push((instance, wharf_core::protocol::ServerMessage::StopTask { task_id: id, reason: reason.clone() }));
        }
    }
    w.commit().await?;
    Ok(out)
}

/// The stopped reason of a task that did not reach RUNNING in time: a failure to start, as
/// ECS's TaskFailedToStart.
pub const START_TIMEOUT_REASON: &str = "CannotStartContainerError: the task did not reach RUNNING within its start timeout";

/// First back-off after three failed starts in a row; doubles per further failure, up to 15 min.
pub const START_BACKOFF_BASE_SECS: u64 = 5;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The longest the loop sleeps without being woken.
    pub interval: Duration,
    /// How long an instance's agent may stay away before its service tasks are replaced.
    pub lost_after: Duration,
    /// How long a task may stay before RUNNING (PROVISIONING, PENDING, ACTIVATING) before it
    /// is stopped as failed to start.
    pub start_timeout: Duration,
}

/// Runs the loop until the process ends.
pub fn spawn(store: Store, agents: Agents, events: Events, settings: Settings) {
    let holder = uuid::Uuid::new_v4().simple().to_string();
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        let mut seed: u64 = 0;
        let mut last = Duration::ZERO;
        let mut cache = HashMap::new();
        loop {
            // Under a storm of changes, passes take at most about a fifth of the time: the
            // writes they wait behind (agents' reports) get the rest.
            tokio::time::sleep(last * 4).await;
            tokio::select! {
                _ = agents.scheduler_woken() => {}
                _ = tokio::time::sleep(settings.interval) => {}
            }
            // Let a burst of changes settle into one pass.
            tokio::time::sleep(Duration::from_millis(50)).await;
            seed = seed.wrapping_add(1);
            // Agents reconnect after a server restart; until the grace period has passed
            // since start, no instance is declared lost.
            let settings = Settings {
                lost_after: if started.elapsed() < settings.lost_after { Duration::MAX } else { settings.lost_after },
                ..settings.clone()
            };
            let began = std::time::Instant::now();
            apply(&mut cache, agents.take_scheduler_signals());
            if let Err(e) = run_pass(&store, &agents, &events, &settings, &holder, seed, &mut cache).await {
                cache.clear();
                tracing::warn!(error = %e, "scheduling pass failed; retrying at the next wake");
            }
            last = began.elapsed();
            tracing::debug!(ms = last.as_millis() as u64, "scheduling pass");
        }
    });
}

async fn run_pass(
    store: &Store,
    agents: &Agents,
    events: &Events,
    settings: &Settings,
    holder: &str,
    seed: u64,
    cache: &mut HashMap<String, Tasks>,
) -> Result<(), wharf_core::WharfError> {
    let lease = (settings.interval * 3).max(Duration::from_secs(10));
    let until = chrono::Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
    let clusters = {
        let mut w = store.write().await?;
        if !sql::hold_lease(w.conn(), holder, &store::now(), &until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).await? {
            // Another server schedules; whatever this one knew goes stale.
            cache.clear();
            return Ok(());
        }
        let clusters = sql::busy_clusters(w.conn()).await?;
        w.commit().await?;
        clusters
    };
    cache.retain(|c, _| clusters.contains(c));
    for (instance, message) in time_out_starts(store, settings.start_timeout).await? {
        agents.send(&instance, message);
    }
    for cluster in clusters {
        let messages = pass::reconcile(store, events, &cluster, settings, seed, cache).await?;
        for (instance, message) in messages {
            agents.send(&instance, message);
        }
    }
    Ok(())
}
