/*!
Agent sessions: one WebSocket per connected container instance. This module keeps the live
sessions (a sender per instance), the log requests in flight and the last usage samples,
all in memory; what must survive a restart goes through the control layer into the store.
*/

pub mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wharf_core::protocol::{HostUsage, ServerMessage, TaskUsage};

/// Messages queued for one agent before the session is considered stuck and dropped.
const QUEUE: usize = 1024;

#[derive(Clone, Default)]
pub struct Agents {
    inner: Arc<Mutex<Inner>>,
    /// Rung when the cluster changed in a way the scheduler should look at.
    changed: Arc<tokio::sync::Notify>,
    signals: Arc<Mutex<SchedulerSignals>>,
}

/// A task's new state as its agent reported it, for the scheduler's copy of the cluster.
#[derive(Debug, Clone)]
pub struct TaskDelta {
    pub cluster: String,
    pub id: String,
    pub last_status: String,
    pub desired_status: String,
    /// The containers as stored (JSON).
    pub containers: String,
    pub host_ports: Vec<String>,
}

/// What changed since the scheduler last looked: task reports (applied to its copy) or
/// anything else (it reloads).
#[derive(Debug, Default)]
pub struct SchedulerSignals {
    pub reload: bool,
    pub deltas: Vec<TaskDelta>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    /// Log requests in flight, by request id.
    logs: HashMap<String, LogRequest>,
    next_id: u64,
}

struct Session {
    conn_id: u64,
    tx: mpsc::Sender<ServerMessage>,
    last_seen: Instant,
    usage: Option<(HostUsage, Vec<TaskUsage>)>,
}

struct LogRequest {
    /// The instance asked; chunks from any other are refused.
    instance: String,
    tx: mpsc::Sender<LogChunk>,
    /// Lines dropped since the reader last kept up, told as a gap before the next chunk.
    dropped: u64,
}

/// A piece of a container's log on its way to an HTTP client.
#[derive(Debug)]
pub enum LogChunk {
    Lines(Vec<String>),
    Error(String),
    /// This many lines were dropped here: the reader did not keep up with the container.
    Gap(u64),
}

impl Agents {
    /// Tells the scheduling loop that something it plans from has changed (it reloads).
    pub fn wake_scheduler(&self) {
        self.signals.lock().unwrap_or_else(|e| e.into_inner()).reload = true;
        self.changed.notify_one();
    }

    /// Tells the scheduling loop about task reports just stored.
    pub fn tasks_reported(&self, deltas: Vec<TaskDelta>) {
        self.signals.lock().unwrap_or_else(|e| e.into_inner()).deltas.extend(deltas);
        self.changed.notify_one();
    }

    /// Takes what changed since the last call.
    pub fn take_scheduler_signals(&self) -> SchedulerSignals {
        std::mem::take(&mut *self.signals.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits for [`Agents::wake_scheduler`].
    pub async fn scheduler_woken(&self) {
        self.changed.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain maps behind; they stay usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection; an older one of the same instance is cut off (its sender
    /// dropped, so its loop ends). Returns the connection's id and its queue.
    pub fn attach(&self, instance_id: &str) -> (u64, mpsc::Receiver<ServerMessage>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut inner = self.lock();
        inner.next_id += 1;
        let conn_id = inner.next_id;
        inner.sessions.insert(instance_id.to_string(), Session { conn_id, tx, last_seen: Instant::now(), usage: None });
        (conn_id, rx)
    }

    /// Forgets a connection if it is still the instance's current one.
    pub fn detach(&self, instance_id: &str, conn_id: u64) -> bool {
        let mut inner = self.lock();
        if inner.sessions.get(instance_id).is_some_and(|s| s.conn_id == conn_id) {
            inner.sessions.remove(instance_id);
            true
        } else {
            false
        }
    }

    pub fn is_current(&self, instance_id: &str, conn_id: u64) -> bool {
        self.lock().sessions.get(instance_id).is_some_and(|s| s.conn_id == conn_id)
    }

    pub fn is_connected(&self, instance_id: &str) -> bool {
        self.lock().sessions.contains_key(instance_id)
    }

    /// Queues a message; false when the agent is not connected or its queue is full (then the
    /// message is not lost for good: the agent's next digest, a few heartbeats away, or its
    /// next hello reconciles the same state).
    pub fn send(&self, instance_id: &str, message: ServerMessage) -> bool {
        let inner = self.lock();
        let Some(session) = inner.sessions.get(instance_id) else { return false };
        match session.tx.try_send(message) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(m)) => {
                tracing::warn!(instance = %instance_id, message = ?std::mem::discriminant(&m), "the agent's queue is full; its next reconcile makes up for the message");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn touch(&self, instance_id: &str, conn_id: u64) {
        if let Some(s) = self.lock().sessions.get_mut(instance_id).filter(|s| s.conn_id == conn_id) {
            s.last_seen = Instant::now();
        }
    }

    pub fn set_usage(&self, instance_id: &str, host: HostUsage, tasks: Vec<TaskUsage>) {
        if let Some(s) = self.lock().sessions.get_mut(instance_id) {
            s.usage = Some((host, tasks));
        }
    }

    pub fn usage(&self, instance_id: &str) -> Option<(HostUsage, Vec<TaskUsage>)> {
        self.lock().sessions.get(instance_id).and_then(|s| s.usage.clone())
    }

    /// The host part of the latest sample, as container instances show it.
    pub fn host_usage(&self, instance_id: &str) -> Option<wharf_core::instance::InstanceUsage> {
        let inner = self.lock();
        let (host, _) = inner.sessions.get(instance_id)?.usage.as_ref()?;
        Some(wharf_core::instance::InstanceUsage { cpu: host.cpu, memory: host.memory })
    }

    /// CPU units and MiB each task of the instance used at the agent's latest sample.
    pub fn task_usage(&self, instance_id: &str) -> HashMap<String, (i64, i64)> {
        let inner = self.lock();
        let Some((_, tasks)) = inner.sessions.get(instance_id).and_then(|s| s.usage.as_ref()) else {
            return HashMap::new();
        };
        tasks.iter().map(|t| (t.task_id.clone(), (t.cpu, t.memory))).collect()
    }

    pub fn connected_ids(&self) -> Vec<String> {
        self.lock().sessions.keys().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Removes sessions silent for longer than `window`; returns the instances cut off.
    pub fn expire(&self, window: Duration) -> Vec<String> {
        let mut inner = self.lock();
        let stale: Vec<String> = inner.sessions.iter().filter(|(_, s)| s.last_seen.elapsed() > window).map(|(id, _)| id.clone()).collect();
        for id in &stale {
            inner.sessions.remove(id);
        }
        stale
    }

    /// Opens a log request to one instance; chunks arrive on the receiver until it says done.
    pub fn open_logs(&self, instance_id: &str) -> (String, mpsc::Receiver<LogChunk>) {
        let (tx, rx) = mpsc::channel(256);
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.lock().logs.insert(id.clone(), LogRequest { instance: instance_id.to_string(), tx, dropped: 0 });
        (id, rx)
    }

    /// Hands a chunk from `instance_id` to the waiting client; false when nobody waits for it
    /// (or the request went to another instance). A client that falls behind loses lines,
    /// never the agent's pace: they are counted and told as a gap where they were.
    pub fn deliver_logs(&self, instance_id: &str, request_id: &str, chunk: LogChunk, done: bool) -> bool {
        let mut inner = self.lock();
        let Some(request) = inner.logs.get_mut(request_id).filter(|r| r.instance == instance_id) else {
            return false;
        };
        if request.tx.is_closed() {
            inner.logs.remove(request_id);
            return false;
        }
        if request.dropped > 0 && request.tx.try_send(LogChunk::Gap(request.dropped)).is_ok() {
            request.dropped = 0;
        }
        let unsent = if request.dropped > 0 {
            Some(chunk)
        } else {
            match request.tx.try_send(chunk) {
                Ok(()) => None,
                Err(e) => Some(e.into_inner()),
            }
        };
        let mut error = None;
        match unsent {
            Some(LogChunk::Lines(lines)) => request.dropped += lines.len() as u64,
            Some(other) => error = Some(other),
            None => {}
        }
        if done {
            // The last words (a gap still untold, an error) wait for room; the request ends.
            let request = inner.logs.remove(request_id).expect("looked up above");
            if request.dropped > 0 || error.is_some() {
                tokio::spawn(async move {
                    if request.dropped > 0 {
                        let _ = request.tx.send(LogChunk::Gap(request.dropped)).await;
                    }
                    if let Some(e) = error {
                        let _ = request.tx.send(e).await;
                    }
                });
            }
        }
        true
    }

    pub fn close_logs(&self, request_id: &str) {
        self.lock().logs.remove(request_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reader_that_falls_behind_is_told_how_many_lines_it_missed() {
        let agents = Agents::default();
        let (id, mut rx) = agents.open_logs("i-1");
        let line = |n: usize| LogChunk::Lines(vec![format!("line {n}")]);
        for n in 0..300 {
            assert!(agents.deliver_logs("i-1", &id, line(n), false));
        }
        assert!(!agents.deliver_logs("i-2", &id, line(0), false), "another instance cannot answer this request");
        let mut got = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            got.push(chunk);
        }
        assert_eq!(got.len(), 256, "the queue's worth");
        agents.deliver_logs("i-1", &id, line(300), true);
        let gap = rx.recv().await.unwrap();
        assert!(matches!(gap, LogChunk::Gap(44)), "{gap:?}");
        assert!(matches!(rx.recv().await, Some(LogChunk::Lines(l)) if l == ["line 300"]));
        assert!(rx.recv().await.is_none(), "the request ended");
    }
}
