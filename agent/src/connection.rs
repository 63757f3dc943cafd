/*!
The agent's one WebSocket to the server. Each connection opens with a hello holding the
agent's whole state; after that the agent sends heartbeats, task reports and usage samples
and carries out starts, stops, drains and log requests. A lost connection is retried with
exponential back-off and full jitter; tasks keep running meanwhile.
*/

use crate::supervisor::Supervisor;
use crate::state::{Identity, StateDir};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wharf_core::protocol::{
    AgentMessage, HostUsage, MAX_FRAME_BYTES, PROTOCOL_VERSION, RECONCILE_EVERY_HEARTBEATS, SOCKET_BUFFER_BYTES, ServerMessage, TaskReport,
};
use wharf_core::task_definition::Attribute;

/// The facts every hello repeats.
#[derive(Clone)]
pub struct HelloFacts {
    pub hostname: String,
    pub cpu: i64,
    pub memory: i64,
    pub attributes: Vec<Attribute>,
    pub docker_version: Option<String>,
}

/// How a session ended for good.
#[derive(Debug)]
pub enum Ended {
    /// The server no longer accepts this instance's credential.
    CredentialRefused(String),
    /// The server refused the agent for a reason retrying will not fix.
    Refused(String),
    /// The instance was deregistered; its tasks were stopped.
    Deregistered,
}

pub struct Connection {
    /// Replaced when the server rotates the credential.
    pub identity: std::sync::Mutex<Identity>,
    /// Where the identity is saved, so a rotated credential outlives a restart.
    pub state: StateDir,
    /// Whom to trust on a `wss://` server (its pinned certificate, or the web PKI).
    pub tls: std::sync::Arc<rustls::ClientConfig>,
    pub facts: HelloFacts,
    pub supervisor: Supervisor,
    pub usage_every: Duration,
    /// Sampled host usage (real hosts) or derived from reservations (simulated).
    pub usage: fn(&Supervisor) -> HostUsage,
}

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A random duration in [0, cap): full jitter spreads reconnects of many agents.
fn jitter(cap: Duration) -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_millis(r % (cap.as_millis() as u64).max(1))
}

impl Connection {
    /// Runs until the server turns the agent away for good.
    pub async fn run(&self, reports: &mut mpsc::UnboundedReceiver<TaskReport>) -> Ended {
        let mut backoff = BACKOFF_START;
        loop {
            let mut welcomed = false;
            match self.session(reports, &mut welcomed).await {
                Ok(ended) => return ended,
                Err(e) => tracing::warn!(error = %e, "connection to the server lost"),
            }
            // A session the server welcomed ends the run of failures: the next loss (a server
            // restart, a cut connection) is retried at once, not after the back-off that
            // earlier failures had grown to. Jitter still spreads many agents' returns.
            if welcomed {
                backoff = BACKOFF_START;
            }
            let wait = BACKOFF_START.min(backoff) + jitter(backoff);
            tracing::info!(retry_in_ms = wait.as_millis() as u64, "reconnecting");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn identity(&self) -> Identity {
        self.identity.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes the credential before the last rotation the current one again, once; false when
    /// there is none.
    fn fall_back_to_previous_credential(&self) -> bool {
        let mut identity = self.identity();
        let Some(previous) = identity.previous_credential.take() else { return false };
        identity.credential = previous;
        if let Err(e) = self.state.save_identity(&identity) {
            tracing::warn!(error = %e, "cannot save the identity");
        }
        *self.identity.lock().unwrap_or_else(|e| e.into_inner()) = identity;
        true
    }

    fn url(&self) -> String {
        let server = self.identity().server;
        let server = server.trim_end_matches('/');
        let ws = server.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
        format!("{ws}/agent/v1/connect")
    }

    async fn session(&self, reports: &mut mpsc::UnboundedReceiver<TaskReport>, welcomed: &mut bool) -> Result<Ended, String> {
        let mut request = self.url().into_client_request().map_err(|e| e.to_string())?;
        let bearer = format!("Bearer {}", self.identity().credential);
        request.headers_mut().insert("authorization", bearer.parse().map_err(|_| "the credential is not a valid header")?);
        let config = WebSocketConfig::default()
            .read_buffer_size(SOCKET_BUFFER_BYTES)
            .write_buffer_size(SOCKET_BUFFER_BYTES)
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let connector = tokio_tungstenite::Connector::Rustls(self.tls.clone());
        let (socket, _) = match tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, Some(connector)).await {
            Ok(ok) => ok,
            Err(WsError::Http(response)) if response.status().as_u16() == 401 => {
                let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
                let message = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| body.to_string());
                if self.fall_back_to_previous_credential() {
                    return Err(format!("the server refused the newest credential ({message}); trying the one before it"));
                }
                return Ok(Ended::CredentialRefused(message));
            }
            Err(e) => return Err(format!("cannot connect to {}: {e}", self.url())),
        };
        let (mut sink, mut stream) = socket.split();
        // Reports queued while away are covered by the hello's snapshot.
        while reports.try_recv().is_ok() {}
        let hello = AgentMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            docker_version: self.facts.docker_version.clone(),
            runtime: self.supervisor.runtime().name().to_string(),
            hostname: self.facts.hostname.clone(),
            cpu: self.facts.cpu,
            memory: self.facts.memory,
            attributes: self.facts.attributes.clone(),
            tasks: self.supervisor.snapshot(),
        };
        sink.send(text(&hello)).await.map_err(|e| e.to_string())?;
        let heartbeat = match next_message(&mut stream).await? {
            ServerMessage::Welcome { heartbeat_interval_seconds, container_instance_id, cluster, task_policy, .. } => {
                *welcomed = true;
                self.supervisor.set_task_policy(task_policy);
                tracing::info!(instance = %container_instance_id, %cluster, "connected");
                Duration::from_secs(heartbeat_interval_seconds.max(1))
            }
            ServerMessage::Refused { reason, .. } => return Ok(Ended::Refused(reason)),
            other => return Err(format!("expected a welcome, got {other:?}")),
        };

        let (out_tx, mut out_rx) = mpsc::channel::<AgentMessage>(256);
        let mut log_requests: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
        let mut beat = tokio::time::interval(heartbeat);
        let mut usage = tokio::time::interval(self.usage_every);
        let mut sampling: Option<tokio::task::JoinHandle<()>> = None;
        beat.tick().await;
        let mut beats = 0u32;
        let result = loop {
            let outgoing = tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(t))) => match serde_json::from_str::<ServerMessage>(&t) {
                        Ok(m) => match self.handle(m, &out_tx, &mut log_requests).await {
                            Some(ended) => break Ok(ended),
                            None => continue,
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "the server sent a message this agent does not understand");
                            continue;
                        }
                    },
                    Some(Ok(Message::Close(_))) | None => break Err("the server closed the connection".to_string()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break Err(e.to_string()),
                },
                Some(report) = reports.recv() => AgentMessage::TaskStateChange { task: report },
                Some(message) = out_rx.recv() => message,
                _ = beat.tick() => {
                    beats = beats.wrapping_add(1);
                    if beats.is_multiple_of(RECONCILE_EVERY_HEARTBEATS) {
                        // The digest: a start or stop lost on the way is made good.
                        AgentMessage::Reconcile { tasks: self.supervisor.snapshot() }
                    } else {
                        AgentMessage::Heartbeat {}
                    }
                }
                _ = usage.tick() => {
                    // Sampling asks the engine about every container and can take seconds; it
                    // runs beside the loop so heartbeats and reports never wait for it.
                    if sampling.as_ref().is_none_or(|h| h.is_finished()) {
                        let (supervisor, host, out) = (self.supervisor.clone(), self.usage, out_tx.clone());
                        sampling = Some(tokio::spawn(async move {
                            let tasks = supervisor.usage().await;
                            let _ = out.send(AgentMessage::Usage { host: host(&supervisor), tasks }).await;
                        }));
                    }
                    continue;
                }
            };
            if let Err(e) = sink.send(text(&outgoing)).await {
                break Err(e.to_string());
            }
        };
        for (_, h) in log_requests {
            h.abort();
        }
        if let Some(h) = sampling {
            h.abort();
        }
        result
    }

    async fn handle(
        &self,
        message: ServerMessage,
        out: &mpsc::Sender<AgentMessage>,
        logs: &mut HashMap<String, tokio::task::AbortHandle>,
    ) -> Option<Ended> {
        match message {
            ServerMessage::StartTask { task } => self.supervisor.start(task),
            ServerMessage::StopTask { task_id, reason } => self.supervisor.stop(&task_id, &reason),
            ServerMessage::Drain { draining } => tracing::info!(draining, "the instance's state changed"),
            ServerMessage::RotateCredential { credential, offer } => {
                // Saved before it is confirmed: until the server hears back, both work. The old
                // one is kept too, in case the server replaces this offer before confirming it.
                let mut identity = self.identity();
                identity.previous_credential = Some(std::mem::replace(&mut identity.credential, credential.expose().to_string()));
                match self.state.save_identity(&identity) {
                    Ok(()) => {
                        *self.identity.lock().unwrap_or_else(|e| e.into_inner()) = identity;
                        tracing::info!("the instance credential was rotated");
                        // Never waits: this loop is the queue's only reader. A lost answer is
                        // made good by signing in with the new credential next time.
                        if out.try_send(AgentMessage::CredentialSaved { offer }).is_err() {
                            tracing::warn!("could not confirm the new credential now; the next connection will");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot save the new instance credential; keeping the old one"),
                }
            }
            ServerMessage::Deregistered {} => {
                tracing::warn!("this container instance was deregistered; stopping its tasks");
                self.supervisor.stop_all("Container instance deregistered");
                let deadline = Instant::now() + Duration::from_secs(150);
                while self.supervisor.running_count() > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                return Some(Ended::Deregistered);
            }
            ServerMessage::FetchLogs { request_id, task_id, container, tail, follow } => {
                logs.retain(|_, h| !h.is_finished());
                let handle = tokio::spawn(stream_logs(self.supervisor.clone(), out.clone(), request_id.clone(), task_id, container, tail, follow));
                logs.insert(request_id, handle.abort_handle());
            }
            ServerMessage::CancelLogs { request_id } => {
                if let Some(h) = logs.remove(&request_id) {
                    h.abort();
                }
            }
            ServerMessage::Rejected { reason } => tracing::warn!(%reason, "the server rejected a message"),
            ServerMessage::Refused { reason } => tracing::warn!(%reason, "the server refused the session"),
            ServerMessage::TaskPolicyChanged { task_policy } => {
                tracing::info!(level = ?task_policy.level, "the cluster's task policy changed");
                self.supervisor.set_task_policy(task_policy);
            }
            ServerMessage::Welcome { .. } => {}
        }
        None
    }
}

fn text(message: &AgentMessage) -> Message {
    Message::text(serde_json::to_string(message).unwrap_or_default())
}

async fn next_message<S>(stream: &mut S) -> Result<ServerMessage, String>
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    let wait = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str::<ServerMessage>(&t).map_err(|e| e.to_string()),
                Some(Ok(Message::Close(_))) | None => return Err("the server closed the connection".to_string()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.to_string()),
            }
        }
    });
    wait.await.map_err(|_| "no answer to the hello".to_string())?
}

/// Sends a container's log in chunks of lines: at most 200 lines or 200 ms per chunk.
async fn stream_logs(
    supervisor: Supervisor,
    out: mpsc::Sender<AgentMessage>,
    request_id: String,
    task_id: String,
    container: String,
    tail: Option<u32>,
    follow: bool,
) {
    let done = |lines: Vec<String>, error: Option<String>| AgentMessage::Logs { request_id: request_id.clone(), lines, done: true, error };
    let Some(runtime_id) = supervisor.runtime_id(&task_id, &container) else {
        let _ = out.send(done(Vec::new(), Some(format!("container {container} of task {task_id} has not run on this host")))).await;
        return;
    };
    let mut lines = match supervisor.runtime().logs(&runtime_id, tail, follow).await {
        Ok(l) => l,
        Err(e) => {
            let _ = out.send(done(Vec::new(), Some(e.to_string()))).await;
            return;
        }
    };
    let mut batch = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            line = lines.next() => match line {
                Some(Ok(l)) => {
                    batch.push(l);
                    if batch.len() < 200 {
                        continue;
                    }
                }
                Some(Err(e)) => {
                    let _ = out.send(done(std::mem::take(&mut batch), Some(e.to_string()))).await;
                    return;
                }
                None => {
                    let _ = out.send(done(std::mem::take(&mut batch), None)).await;
                    return;
                }
            },
            _ = tick.tick() => if batch.is_empty() { continue },
        }
        let chunk = AgentMessage::Logs { request_id: request_id.clone(), lines: std::mem::take(&mut batch), done: false, error: None };
        if out.send(chunk).await.is_err() {
            return;
        }
    }
}
