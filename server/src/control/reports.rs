/*!
Task state reports from every agent session go through one queue and are written in
batches: whatever has arrived while the previous batch was committing goes into the next
transaction. Each session still waits for its own answer (a stop to send back, or the rule
its report broke), so nothing is acknowledged before it is stored.
*/

use super::agents::{AgentIdentity, tasks_changed};
use crate::agents::{Agents, TaskDelta};
use serde_json::json;
use crate::events::Events;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use wharf_app::backend::Result;
use wharf_core::WharfError;
use wharf_core::protocol::{ServerMessage, TaskReport};

/// The most reports one transaction takes. Larger batches write each touched page once for
/// more rows: 8,192 random task updates cost about half as much per row as 2,048.
const MAX_BATCH: usize = 8192;

type Answer = oneshot::Sender<Result<Option<ServerMessage>>>;
/// A queued report, with its sender's permit (released once the report is stored).
type Job = (AgentIdentity, TaskReport, (Answer, OwnedSemaphorePermit));

/// Unbounded as a channel, bounded in fact: each session holds a fixed budget of permits, so
/// what waits here is at most that budget per connected agent, and a flooding agent waits on
/// its own permits instead of filling a queue the others need.
#[derive(Clone)]
pub struct ReportQueue {
    tx: mpsc::UnboundedSender<Job>,
}

impl ReportQueue {
    /// Starts the writer; it ends when the last queue handle is dropped.
    pub fn spawn(store: Store, agents: Agents, events: Events) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
                let began = std::time::Instant::now();
                let (batch, answers): (Vec<_>, Vec<_>) = jobs.drain(..).map(|(who, report, answer)| ((who, report), answer)).unzip();
                match tasks_changed(&store, &batch).await {
                    Ok((results, deltas)) => {
                        for ((answer, _permit), result) in answers.into_iter().zip(results) {
                            let _ = answer.send(result);
                        }
                        let mut by_cluster: std::collections::BTreeMap<&str, Vec<&TaskDelta>> = Default::default();
                        for d in &deltas {
                            by_cluster.entry(&d.cluster).or_default().push(d);
                        }
                        for (cluster, changed) in by_cluster {
                            let data = |d: &&TaskDelta| json!({"taskId": d.id, "lastStatus": d.last_status, "desiredStatus": d.desired_status});
                            events.publish_tasks(cluster, changed.iter().map(data));
                        }
                        agents.tasks_reported(deltas);
                    }
                    Err(e) => {
                        for (answer, _permit) in answers {
                            let _ = answer.send(Err(e.clone()));
                        }
                        agents.wake_scheduler();
                    }
                }
                tracing::debug!(reports = batch.len(), ms = began.elapsed().as_millis() as u64, "task reports stored");
            }
        });
        Self { tx }
    }

    /// Queues a report (in the order given, which keeps one task's reports in order) and
    /// returns where its answer will come.
    pub async fn enqueue(&self, who: &AgentIdentity, report: TaskReport, budget: Arc<Semaphore>) -> Result<Answered> {
        let permit = budget.acquire_owned().await.map_err(|_| WharfError::internal())?;
        let (answer, answered) = oneshot::channel();
        self.tx.send((who.clone(), report, (answer, permit))).map_err(|_| WharfError::internal())?;
        Ok(Answered(answered))
    }
}

/// A queued report's answer, once its batch has committed.
pub struct Answered(oneshot::Receiver<Result<Option<ServerMessage>>>);

impl Answered {
    pub async fn get(self) -> Result<Option<ServerMessage>> {
        self.0.await.map_err(|_| WharfError::internal())?
    }
}
