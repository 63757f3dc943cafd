/*!
One agent's WebSocket: the hello handshake, then a loop that applies what the agent reports
and forwards what the control plane queues for it. The loop ends when either side closes,
when the agent is silent past its heartbeat window, or when a newer connection of the same
instance replaces this one.
*/

use crate::control::Control;
use crate::control::agents::{self, AgentIdentity, Hello};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use wharf_core::protocol::{AgentMessage, PROTOCOL_VERSION, ServerMessage};

use super::LogChunk;

/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// `secure`: the connection is TLS, or comes from the server's own host; only then are
/// secrets sent over it.
pub async fn run(control: Control, who: AgentIdentity, heartbeat: Duration, rotation: Duration, secure: bool, address: Option<std::net::IpAddr>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let send = |m: &ServerMessage| Message::Text(Utf8Bytes::from(serde_json::to_string(m).unwrap_or_default()));

    let hello = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => wharf_core::protocol::parse_agent_message(&text),
        _ => {
            tracing::info!(instance = %who.instance_id, "agent connected but sent no hello");
            return;
        }
    };
    let refuse = |reason: String| ServerMessage::Refused { reason };
    let withheld;
    let hello = match hello {
        Ok(AgentMessage::Hello { protocol_version, .. }) if protocol_version != PROTOCOL_VERSION => {
            let reason = format!(
                "this agent speaks protocol version {protocol_version}; the server speaks {PROTOCOL_VERSION}. Install the agent this server serves: {}/agent/wharf-agent",
                control.public_url()
            );
            let _ = sink.send(send(&refuse(reason))).await;
            return;
        }
        Ok(AgentMessage::Hello { agent_version, docker_version, runtime, hostname, cpu, memory, attributes, tasks, .. }) => {
            withheld = crate::control::secrets::withheld(secure, &attributes);
            Hello { hostname, cpu, memory, attributes, agent_version, docker_version, runtime, tasks, address: address.map(|a| a.to_string()) }
        }
        Ok(_) => {
            let _ = sink.send(send(&refuse("the first message must be a hello".into()))).await;
            return;
        }
        Err(e) => {
            let _ = sink.send(send(&refuse(format!("the hello: {e}")))).await;
            return;
        }
    };

    let id = who.instance_id.clone();
    let (conn_id, mut queue) = control.agents().attach(&id);
    let first = match agents::hello(control.store(), &who, hello).await {
        Ok(messages) => {
            control.agents().wake_scheduler();
            control.publish_connection(&who.cluster, &id, true);
            messages
        }
        Err(e) => {
            let _ = sink.send(send(&refuse(describe(&e)))).await;
            finish(&control, &id, conn_id).await;
            return;
        }
    };
    // Read after the session is attached: a change made from here on reaches it as a message.
    let task_policy = match wharf_app::backend::Backend::describe_cluster(&control, &who.cluster).await {
        Ok(cluster) => cluster.task_policy,
        Err(_) => Default::default(),
    };
    let welcome = ServerMessage::Welcome {
        protocol_version: PROTOCOL_VERSION,
        container_instance_id: id.clone(),
        cluster: who.cluster.clone(),
        heartbeat_interval_seconds: heartbeat.as_secs().max(1),
        task_policy,
    };
    tracing::info!(instance = %id, cluster = %who.cluster, "agent connected");
    let mut ok = sink.send(send(&welcome)).await.is_ok();
    for m in first {
        ok = ok && sink.send(send(&outgoing(&control, m, withheld).await)).await.is_ok();
    }

    let window = heartbeat * 3;
    let budget = Arc::new(Semaphore::new(REPORTS_IN_FLIGHT));
    let mut credential = Rotation::new(&who.credential_issued_at, rotation);
    while ok {
        tokio::select! {
            () = tokio::time::sleep_until(credential.due) => {
                // Only the instance's current session offers: a stale one must not replace
                // what the live one handed out.
                if !control.agents().is_current(&id, conn_id) {
                    break;
                }
                if let Some(offer) = credential.offer(&control, &id).await {
                    ok = sink.send(send(&offer)).await.is_ok();
                }
            }
            incoming = tokio::time::timeout(window, stream.next()) => {
                let text = match incoming {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {
                        control.agents().touch(&id, conn_id);
                        continue;
                    }
                    Ok(Some(Ok(Message::Binary(_)))) => {
                        ok = sink.send(send(&ServerMessage::Rejected { reason: "messages are JSON text frames".into() })).await.is_ok();
                        continue;
                    }
                    Err(_) => {
                        tracing::warn!(instance = %id, "agent silent past its heartbeat window; dropping the session");
                        break;
                    }
                    _ => break,
                };
                control.agents().touch(&id, conn_id);
                if let Some(reply) = handle(&control, &who, &budget, &mut credential, &text).await {
                    ok = sink.send(send(&reply)).await.is_ok();
                }
            }
            queued = queue.recv() => match queued {
                Some(m) => ok = sink.send(send(&outgoing(&control, m, withheld).await)).await.is_ok(),
                // Replaced by a newer connection, or expired by the monitor.
                None => break,
            },
        }
    }
    let _ = sink.close().await;
    finish(&control, &id, conn_id).await;
}

/// A message as it leaves for the agent: a task's secrets are opened here, at the last moment,
/// so their values are never queued, stored or logged.
async fn outgoing(control: &Control, message: ServerMessage, withheld: Option<&str>) -> ServerMessage {
    match message {
        ServerMessage::StartTask { mut task } => {
            control.deliver_secrets(&mut task, withheld).await;
            ServerMessage::StartTask { task }
        }
        other => other,
    }
}

/// When this session hands its agent a new credential, and the one on offer. A session offers
/// one at a time and never replaces its own offer: the agent may have saved it already. An
/// offer never confirmed is replaced by the next session's.
struct Rotation {
    due: tokio::time::Instant,
    every: Duration,
    offered: Option<String>,
}

/// Far enough ahead to mean "not while this offer stands".
const NOT_AGAIN: Duration = Duration::from_secs(100 * 365 * 86_400);

impl Rotation {
    /// Due `every` after the credential in use was issued (at once if that is past).
    fn new(issued_at: &str, every: Duration) -> Self {
        let age = chrono::DateTime::parse_from_rfc3339(issued_at)
            .ok()
            .and_then(|at| (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).to_std().ok())
            .unwrap_or_default();
        Self { due: tokio::time::Instant::now() + every.saturating_sub(age), every, offered: None }
    }

    /// The message offering a new credential, named by the first characters of its hash.
    async fn offer(&mut self, control: &Control, id: &str) -> Option<ServerMessage> {
        self.due = tokio::time::Instant::now() + NOT_AGAIN;
        match crate::control::registration::offer_credential(control.store(), id).await {
            Ok(Some(offer)) => {
                let name = offer_name(&offer.hash);
                self.offered = Some(offer.hash);
                Some(ServerMessage::RotateCredential { credential: wharf_core::secret::SecretValue::new(offer.credential), offer: name })
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(instance = %id, error = %e.message, "could not offer a new instance credential");
                self.due = tokio::time::Instant::now() + self.every;
                None
            }
        }
    }

    async fn saved(&mut self, control: &Control, id: &str, offer: &str) -> Result<(), String> {
        let hash = self.offered.as_deref().filter(|h| offer_name(h) == offer).ok_or("no such credential was offered on this connection")?;
        match crate::control::registration::confirm_credential(control.store(), id, hash).await {
            Ok(Some(_)) => {
                tracing::info!(instance = %id, "the instance credential was rotated");
                self.offered = None;
                self.due = tokio::time::Instant::now() + self.every;
                Ok(())
            }
            // A newer session of the same instance offered another; that one stands.
            Ok(None) => Err("the credential offered on this connection was replaced".into()),
            Err(e) => Err(describe(&e)),
        }
    }
}

fn offer_name(hash: &str) -> String {
    hash.chars().take(16).collect()
}

/// Reports one agent may have queued and not yet stored: an agent flooding reports waits on
/// its own budget while the others' reports go through.
const REPORTS_IN_FLIGHT: usize = 512;

/// Applies one agent message; returns what to answer, if anything.
async fn handle(control: &Control, who: &AgentIdentity, budget: &Arc<Semaphore>, credential: &mut Rotation, text: &str) -> Option<ServerMessage> {
    let message = match wharf_core::protocol::parse_agent_message(text) {
        Ok(m) => m,
        Err(e) => return Some(error_reply(e)),
    };
    match message {
        AgentMessage::Heartbeat {} => None,
        AgentMessage::CredentialSaved { offer } => credential.saved(control, &who.instance_id, &offer).await.err().map(error_reply),
        // The digest is compared once this session's earlier reports are stored (all of its
        // budget back), so it never runs ahead of them.
        AgentMessage::Reconcile { tasks } => match async {
            let _settled = budget.acquire_many(REPORTS_IN_FLIGHT as u32).await.map_err(|_| wharf_core::WharfError::internal())?;
            agents::reconcile(control.store(), who, &tasks).await
        }
        .await
        {
            Ok(messages) => {
                if !messages.is_empty() {
                    tracing::info!(instance = %who.instance_id, messages = messages.len(), "reconcile found starts or stops the agent missed");
                    control.agents().wake_scheduler();
                }
                for m in messages {
                    control.agents().send(&who.instance_id, m);
                }
                None
            }
            Err(e) => Some(error_reply(describe(&e))),
        },
        AgentMessage::Hello { .. } => Some(error_reply("hello is only the first message of a connection".into())),
        // The session reads on while the report waits for its batch; the answer (a stop, or the
        // rule the report broke) goes out through the session's queue.
        // Checked here, before the queue every agent shares: a bad report costs its sender
        // only. The session's own budget of reports in flight bounds what it queues.
        AgentMessage::TaskStateChange { task } => match task.validate() {
            Err(e) => Some(error_reply(describe(&e))),
            Ok(()) => match control.report_task(who, task, budget.clone()).await {
            Ok(answered) => {
                let (agents, instance) = (control.agents().clone(), who.instance_id.clone());
                tokio::spawn(async move {
                    let reply = match answered.get().await {
                        Ok(reply) => reply,
                        Err(e) => Some(error_reply(describe(&e))),
                    };
                    if let Some(reply) = reply {
                        agents.send(&instance, reply);
                    }
                });
                None
            }
            Err(e) => Some(error_reply(describe(&e))),
            },
        },
        AgentMessage::Usage { host, tasks } => {
            // Bounded like registered resources (a host offers at most 2^20 CPU units and 16 TiB),
            // so sums over a cluster cannot overflow.
            let ok = |cpu: i64, memory: i64| (0..=1 << 20).contains(&cpu) && (0..=16 << 20).contains(&memory);
            let sane = ok(host.cpu, host.memory) && tasks.len() <= 10_000 && tasks.iter().all(|t| ok(t.cpu, t.memory));
            if !sane {
                return Some(error_reply("usage: CPU is 0 to 1048576 units, memory 0 to 16777216 MiB, and there are at most 10000 tasks".into()));
            }
            control.agents().set_usage(&who.instance_id, host, tasks);
            None
        }
        AgentMessage::Logs { request_id, lines, done, error } => {
            let chunk = match error {
                Some(e) => LogChunk::Error(e),
                None => LogChunk::Lines(lines),
            };
            if !control.agents().deliver_logs(&who.instance_id, &request_id, chunk, done) && !done {
                return Some(ServerMessage::CancelLogs { request_id });
            }
            None
        }
    }
}

/// The agent keeps its connection after a bad message; it is told what was wrong.
fn error_reply(reason: String) -> ServerMessage {
    ServerMessage::Rejected { reason }
}

fn describe(e: &wharf_core::WharfError) -> String {
    if e.errors.is_empty() {
        e.message.clone()
    } else {
        e.errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
    }
}

async fn finish(control: &Control, id: &str, conn_id: u64) {
    if control.agents().detach(id, conn_id) || !control.agents().is_connected(id) {
        tracing::info!(instance = %id, "agent disconnected");
        control.agents().wake_scheduler();
        record_disconnect(control, id).await;
    }
}

async fn record_disconnect(control: &Control, id: &str) {
    match agents::disconnected(control.store(), id).await {
        Ok(Some(cluster)) => control.publish_connection(&cluster, id, false),
        Ok(None) => {}
        Err(e) => tracing::error!(instance = %id, error = %e.message, "could not record the disconnect"),
    }
}

/// Every heartbeat interval: write the connected agents' heartbeats in one transaction and
/// drop sessions that went silent (their loops end and record the disconnect).
pub async fn monitor(control: Control, heartbeat: Duration) {
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for id in control.agents().expire(heartbeat * 3) {
            tracing::warn!(instance = %id, "heartbeats missed; the agent counts as disconnected");
            control.agents().wake_scheduler();
            record_disconnect(&control, &id).await;
        }
        if let Err(e) = agents::record_heartbeats(control.store(), &control.agents().connected_ids()).await {
            tracing::error!(error = %e.message, "could not record heartbeats");
        }
    }
}
