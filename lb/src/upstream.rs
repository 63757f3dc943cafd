/*!
Connections to targets: HTTP/1.1 keep-alive connections, pooled per thread. A worker of the data
path is one thread, so its pool needs no lock and no shared map: a request takes an idle
connection to its target (or opens one) and gives it back once the answer's last byte has gone
to the client.

A request the connection never took (it closed first) comes back to the caller whole, so it can
go to another connection or target whatever its method or body.
*/

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// How long opening a connection to a target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per target and thread.
const IDLE_PER_TARGET: usize = 64;
/// How long a connection may sit idle before it is closed: shorter than the keep-alive of
/// common servers (Node.js closes after 5 s), so a request seldom meets a connection the
/// target is closing that very moment.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

type Idle = HashMap<SocketAddr, Vec<(Instant, SendRequest<ProxyBody>)>>;

thread_local! {
    static IDLE: RefCell<Idle> = RefCell::new(HashMap::new());
}

/// Why a request got no answer.
pub enum Failure {
    /// No connection to the target could be opened; the request is whole.
    Connect(std::io::Error, Box<Request<ProxyBody>>),
    /// The connection closed before taking the request, which comes back whole.
    NotSent(hyper::Error, Box<Request<ProxyBody>>),
    /// Sent (maybe in part) and no answer came; `reused` when on a kept-alive connection.
    Lost { error: hyper::Error, reused: bool },
}

impl Failure {
    pub fn message(&self) -> String {
        match self {
            Self::Connect(e, _) => format!("connecting failed: {e}"),
            Self::NotSent(e, _) => format!("the connection closed first: {e}"),
            Self::Lost { error, .. } => error.to_string(),
        }
    }

    /// Whether it failed on a kept-alive connection (which the target may have closed just
    /// then) rather than on a fresh one.
    pub fn on_reused_connection(&self) -> bool {
        matches!(self, Self::Lost { reused: true, .. })
    }
}

/// A connection lent to one request; back in the pool when dropped, if still usable.
pub struct Lent {
    addr: SocketAddr,
    sender: Option<SendRequest<ProxyBody>>,
}

impl Drop for Lent {
    fn drop(&mut self) {
        let Some(mut sender) = self.sender.take() else { return };
        if sender.is_closed() {
            return;
        }
        let addr = self.addr;
        if sender.is_ready() {
            give_back(addr, sender);
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            // The connection reads the rest of the answer's framing first.
            runtime.spawn(async move {
                if sender.ready().await.is_ok() {
                    give_back(addr, sender);
                }
            });
        }
    }
}

fn give_back(addr: SocketAddr, sender: SendRequest<ProxyBody>) {
    // `try_with`: a connection handed back while the thread is ending is just closed.
    let _ = IDLE.try_with(|idle| {
        let mut idle = idle.borrow_mut();
        let senders = idle.entry(addr).or_default();
        if senders.len() < IDLE_PER_TARGET {
            senders.push((Instant::now(), sender));
        }
    });
}

/// Closes this thread's connections idle for longer than [`IDLE_TIMEOUT`] or closed by their
/// targets. Workers call it every second.
pub fn sweep() {
    let _ = IDLE.try_with(|idle| {
        idle.borrow_mut().retain(|_, senders| {
            senders.retain(|(since, s)| since.elapsed() < IDLE_TIMEOUT && !s.is_closed());
            !senders.is_empty()
        });
    });
}

/// An idle, ready connection to `addr` from this thread's pool, the most recently used first.
fn take_idle(addr: SocketAddr) -> Option<SendRequest<ProxyBody>> {
    IDLE.try_with(|idle| {
        let mut idle = idle.borrow_mut();
        let senders = idle.get_mut(&addr)?;
        while let Some((since, sender)) = senders.pop() {
            if since.elapsed() < IDLE_TIMEOUT && sender.is_ready() {
                return Some(sender);
            }
            // Too old, or closed by the target: dropped.
        }
        None
    })
    .ok()
    .flatten()
}

async fn connect(addr: SocketAddr) -> std::io::Result<SendRequest<ProxyBody>> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting took too long"))??;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(%addr, error = %e, "a connection to a target ended with an error");
        }
    });
    Ok(sender)
}

/// Sends `request` (origin-form, with its `Host`) to `addr` on a pooled connection, or a new
/// one when none is idle or the idle one closed before taking it. The answer comes with the
/// connection it came on, which goes back to the pool once dropped.
pub async fn send(addr: SocketAddr, mut request: Request<ProxyBody>) -> Result<(Response<Incoming>, Lent), Failure> {
    // An idle connection the target closed meanwhile hands the request back: a new one takes it.
    while let Some(mut sender) = take_idle(addr) {
        match sender.try_send_request(request).await {
            Ok(response) => return Ok((response, Lent { addr, sender: Some(sender) })),
            Err(mut e) => match e.take_message() {
                Some(back) => request = back,
                None => return Err(Failure::Lost { error: e.into_error(), reused: true }),
            },
        }
    }
    let mut sender = match connect(addr).await {
        Ok(sender) => sender,
        Err(e) => return Err(Failure::Connect(e, Box::new(request))),
    };
    match sender.try_send_request(request).await {
        Ok(response) => Ok((response, Lent { addr, sender: Some(sender) })),
        Err(mut e) => match e.take_message() {
            Some(back) => Err(Failure::NotSent(e.into_error(), Box::new(back))),
            None => Err(Failure::Lost { error: e.into_error(), reused: false }),
        },
    }
}
