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

use crate::agents::Agents;
use crate::store::{self, Store, scheduling as sql};
use std::time::Duration;

/// First back-off after three failed starts in a row; doubles per further failure, up to 15 min.
pub const START_BACKOFF_BASE_SECS: u64 = 5;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The longest the loop sleeps without being woken.
    pub interval: Duration,
    /// How long an instance's agent may stay away before its service tasks are replaced.
    pub lost_after: Duration,
}

/// Runs the loop until the process ends.
pub fn spawn(store: Store, agents: Agents, settings: Settings) {
    let holder = uuid::Uuid::new_v4().simple().to_string();
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        let mut seed: u64 = 0;
        loop {
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
            if let Err(e) = run_pass(&store, &agents, &settings, &holder, seed).await {
                tracing::warn!(error = %e, "scheduling pass failed; retrying at the next wake");
            }
        }
    });
}

async fn run_pass(store: &Store, agents: &Agents, settings: &Settings, holder: &str, seed: u64) -> Result<(), wharf_core::WharfError> {
    let lease = (settings.interval * 3).max(Duration::from_secs(10));
    let until = chrono::Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
    let clusters = {
        let mut w = store.write().await?;
        if !sql::hold_lease(w.conn(), holder, &store::now(), &until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).await? {
            return Ok(());
        }
        let clusters = sql::busy_clusters(w.conn()).await?;
        w.commit().await?;
        clusters
    };
    for cluster in clusters {
        let messages = pass::reconcile(store, &cluster, settings, seed).await?;
        for (instance, message) in messages {
            agents.send(&instance, message);
        }
    }
    Ok(())
}
