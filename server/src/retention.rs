/*!
The history janitor: every so often, forgets what Wharf promised to keep only for a while
(see [`crate::store::retention`]), in small batches between other writers.
*/

use crate::store::{self, Store, retention as sql};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a stopped task stays visible.
    pub stopped_tasks: Duration,
    /// Service events kept per service (the newest).
    pub service_events: i64,
    /// How long services' metric samples are kept (the charts' longest range).
    pub metrics: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self { stopped_tasks: Duration::from_secs(3600), service_events: 100, metrics: Duration::from_secs(METRICS_KEPT) }
    }
}

/// How long a RunTask client token is remembered.
const CLIENT_TOKENS: Duration = Duration::from_secs(24 * 3600);
/// Metric history kept by default: six hours (4,320 samples a service).
pub const METRICS_KEPT: u64 = 6 * 3600;
/// Scaling activities kept per service (the newest).
const ACTIVITIES_KEPT: i64 = 200;
/// Rows deleted per transaction.
const BATCH: i64 = 2000;

/// One sweep; returns (stopped tasks, service events) deleted.
pub async fn sweep(store: &Store, settings: &Settings) -> Result<(u64, u64), store::StoreError> {
    let ago = |d: Duration| {
        let t = chrono::Utc::now() - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let before = ago(settings.stopped_tasks);
    let mut tasks = 0;
    loop {
        let mut w = store.write().await?;
        let n = sql::delete_stopped_tasks(w.conn(), &before, BATCH).await?;
        w.commit().await?;
        tasks += n;
        if n < BATCH as u64 {
            break;
        }
        // Let other writers in between batches.
        tokio::task::yield_now().await;
    }
    let mut events = 0;
    let mut w = store.write().await?;
    for service in sql::services_over_event_cap(w.conn(), settings.service_events).await? {
        events += sql::cap_service_events(w.conn(), &service, settings.service_events).await?;
    }
    sql::delete_run_tokens(w.conn(), &ago(CLIENT_TOKENS)).await?;
    sql::delete_zero_counts(w.conn()).await?;
    sql::cap_scaling_activities(w.conn(), ACTIVITIES_KEPT).await?;
    w.commit().await?;
    // Ten minutes of samples per transaction.
    let before = chrono::Utc::now().timestamp().saturating_sub(settings.metrics.as_secs().min(i64::MAX as u64) as i64);
    loop {
        let mut w = store.write().await?;
        let n = sql::delete_metric_samples(w.conn(), before, 600).await?;
        w.commit().await?;
        if n == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok((tasks, events))
}

/// Sweeps every minute (more often for short retentions) until the process ends.
pub fn spawn(store: Store, settings: Settings) {
    let every = (settings.stopped_tasks / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match sweep(&store, &settings).await {
                Ok((0, 0)) => {}
                Ok((tasks, events)) => tracing::info!(tasks, events, "history trimmed"),
                Err(e) => tracing::warn!(error = %e, "history sweep failed; retrying"),
            }
        }
    });
}
