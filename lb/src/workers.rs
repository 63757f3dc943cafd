/*!
The data path's threads. Each worker runs a single-threaded runtime with its own pool of
connections to targets (see [`crate::upstream`]), and serves whole client connections handed
to it. A request then
crosses no thread: the client connection's task and the upstream connection's task wake each
other on one thread, which on a multi-threaded runtime cost a cross-thread wake-up (a futex and
often a parked thread) each way, per request.

Connections are handed out in turn; keep-alive connections carry many requests each, so the
one hand-off per connection is cheap.
*/

use crate::proxy::{self, Connection};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use tokio::sync::mpsc;

type Lane = mpsc::UnboundedSender<(Connection, std::net::TcpStream)>;

pub(crate) struct Workers {
    lanes: Vec<Lane>,
    next: AtomicUsize,
}

impl Workers {
    /// One worker per core. A thread that cannot be started is left out; with none at all,
    /// connections are served on the caller's runtime.
    pub fn start() -> Self {
        let count = std::thread::available_parallelism().map_or(1, usize::from);
        let mut lanes = Vec::with_capacity(count);
        for index in 0..count {
            let (lane, mut arrivals) = mpsc::unbounded_channel::<(Connection, std::net::TcpStream)>();
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::warn!(error = %e, "a load balancer worker's runtime could not be built");
                    continue;
                }
            };
            let started = std::thread::Builder::new().name(format!("wharf-lb-{index}")).spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(async {
                        loop {
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            crate::upstream::sweep();
                        }
                    });
                    while let Some((connection, stream)) = arrivals.recv().await {
                        spawn_serve(connection, stream);
                    }
                });
                // Dropping the runtime here ends the connections it still serves: the
                // balancer is gone.
            });
            match started {
                Ok(_) => lanes.push(lane),
                Err(e) => tracing::warn!(error = %e, "a load balancer worker could not be started"),
            }
        }
        Self { lanes, next: AtomicUsize::new(0) }
    }

    /// Gives a client connection to the next worker (or serves it here when there is none).
    pub fn hand(&self, connection: Connection, stream: std::net::TcpStream) {
        let mut item = (connection, stream);
        for _ in 0..self.lanes.len() {
            let lane = &self.lanes[self.next.fetch_add(1, Relaxed) % self.lanes.len()];
            match lane.send(item) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => item = back,
            }
        }
        let (connection, stream) = item;
        spawn_serve(connection, stream);
    }
}

fn spawn_serve(connection: Connection, stream: std::net::TcpStream) {
    // Registering with this thread's reactor needs the socket non-blocking (tokio's accept
    // made it so; set it again rather than rely on that).
    if let Err(e) = stream.set_nonblocking(true) {
        tracing::debug!(error = %e, "a client connection could not be made non-blocking");
        return;
    }
    match tokio::net::TcpStream::from_std(stream) {
        Ok(stream) => {
            tokio::spawn(proxy::serve(connection, stream));
        }
        Err(e) => tracing::debug!(error = %e, "a client connection could not be registered"),
    }
}
