/*!
The live feed: every state change the control plane commits becomes a numbered event that the
portal and API clients follow over Server-Sent Events (`GET /api/v1/events`).

Events are published after their transaction commits, in commit order. The last few thousand
are kept, so a client that reconnects with `Last-Event-ID` gets exactly what it missed, none
twice. A client that fell further behind, or whose id comes from before this server started,
gets a `reset` event instead: reload everything, then follow. Ids are `<epoch>-<n>`: the epoch
is fixed per server process, so ids from an earlier process are recognised as stale.
*/

use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many past events are kept for clients that reconnect.
const KEPT: usize = 8192;

/// A commit that changes more tasks than this is announced as one `tasks` event for its
/// cluster (clients reload that cluster's tasks) rather than one event per task, so a burst
/// of thousands never pushes everything else out of what is kept.
pub const TASKS_ONE_BY_ONE: usize = 500;

/// One state change.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `<epoch>-<n>`, the SSE id.
    #[serde(skip)]
    pub id: String,
    #[serde(skip)]
    pub seq: u64,
    /// task, tasks (many at once), instance, service, cluster, taskDefinition or reset: the
    /// SSE event name.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The cluster it happened in; None for changes that belong to no cluster.
    pub cluster: Option<String>,
    #[serde(flatten)]
    pub data: Value,
}

#[derive(Clone)]
pub struct Events {
    inner: Arc<Mutex<Ring>>,
    live: broadcast::Sender<Arc<Event>>,
    epoch: Arc<str>,
}

struct Ring {
    next: u64,
    kept: VecDeque<Arc<Event>>,
}

/// Where a subscriber starts: what it missed, and the live stream after that.
pub struct Subscription {
    /// Missed events in order, or a single `reset` when they are no longer all kept.
    pub missed: Vec<Arc<Event>>,
    pub live: broadcast::Receiver<Arc<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        let epoch = chrono::Utc::now().timestamp_millis().to_string();
        Self { inner: Arc::new(Mutex::new(Ring { next: 1, kept: VecDeque::new() })), live: broadcast::channel(KEPT).0, epoch: epoch.into() }
    }
}

impl Events {
    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes a change. `data` is a JSON object of the change's fields (ids, new status…).
    pub fn publish(&self, kind: &'static str, cluster: Option<&str>, data: Value) {
        let mut ring = self.ring();
        let seq = ring.next;
        ring.next += 1;
        let event = Arc::new(Event { id: format!("{}-{seq}", self.epoch), seq, kind, cluster: cluster.map(str::to_string), data });
        if ring.kept.len() == KEPT {
            ring.kept.pop_front();
        }
        ring.kept.push_back(event.clone());
        // Sent under the lock, so a subscriber taken between two publishes sees neither twice.
        let _ = self.live.send(event);
    }

    /// Task changes of one commit, one event each, or one `tasks` event when there are many.
    /// The changes are built only when they are sent one by one.
    pub fn publish_tasks(&self, cluster: &str, changes: impl ExactSizeIterator<Item = Value>) {
        if changes.len() > TASKS_ONE_BY_ONE {
            self.publish("tasks", Some(cluster), serde_json::json!({"changed": changes.len()}));
        } else {
            for data in changes {
                self.publish("task", Some(cluster), data);
            }
        }
    }

    /// Follows the feed from after `last_event_id` (a reconnect), or from now.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        let ring = self.ring();
        let live = self.live.subscribe();
        let Some(last) = last_event_id else {
            return Subscription { missed: Vec::new(), live };
        };
        let seq = last.strip_prefix(&*self.epoch).and_then(|rest| rest.strip_prefix('-')).and_then(|n| n.parse::<u64>().ok());
        let oldest = ring.kept.front().map_or(ring.next, |e| e.seq);
        let missed = match seq {
            // Everything after `seq` is still kept (or nothing happened since).
            Some(seq) if seq + 1 >= oldest && seq < ring.next => ring.kept.iter().filter(|e| e.seq > seq).cloned().collect(),
            _ => vec![self.reset(ring.next.saturating_sub(1))],
        };
        Subscription { missed, live }
    }

    /// Tells a client it missed more than is kept: it reloads, then follows from here.
    pub fn reset(&self, seq: u64) -> Arc<Event> {
        Arc::new(Event {
            id: format!("{}-{seq}", self.epoch),
            seq,
            kind: "reset",
            cluster: None,
            data: serde_json::json!({"reason": "missed changes are no longer kept; reload"}),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seqs(events: &[Arc<Event>]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_reconnect_gets_what_it_missed_once_and_a_stale_id_gets_a_reset() {
        let events = Events::default();
        for n in 0..5 {
            events.publish("task", Some("c"), json!({"n": n}));
        }
        let second = format!("{}-2", events.epoch);
        assert_eq!(seqs(&events.subscribe(Some(&second)).missed), [3, 4, 5]);
        let last = format!("{}-5", events.epoch);
        assert!(events.subscribe(Some(&last)).missed.is_empty(), "nothing missed");
        let other_process = events.subscribe(Some("1-3")).missed;
        assert_eq!(other_process.len(), 1);
        assert_eq!(other_process[0].kind, "reset");
        assert_eq!(events.subscribe(Some("nonsense")).missed[0].kind, "reset");
    }

    #[test]
    fn a_client_further_behind_than_what_is_kept_is_told_to_reload() {
        let events = Events::default();
        for _ in 0..KEPT + 10 {
            events.publish("task", None, json!({}));
        }
        let early = format!("{}-3", events.epoch);
        let missed = events.subscribe(Some(&early)).missed;
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].kind, "reset");
        let recent = format!("{}-{}", events.epoch, KEPT + 5);
        assert_eq!(seqs(&events.subscribe(Some(&recent)).missed), (KEPT as u64 + 6..=KEPT as u64 + 10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn live_events_follow_the_missed_ones_without_a_gap() {
        let events = Events::default();
        events.publish("task", None, json!({}));
        let mut sub = events.subscribe(Some(&format!("{}-0", events.epoch)));
        events.publish("instance", None, json!({}));
        assert_eq!(seqs(&sub.missed), [1]);
        assert_eq!(sub.live.recv().await.unwrap().seq, 2);
    }
}
