/*!
The data path: accept a client's connection (HTTP/1.1, or HTTP/2 with prior knowledge), route
each request by host and path, choose a target, forward, stream the answer back. A request that
never reached its target (the connection failed) is tried on another one, and so is an
idempotent one whose connection broke before the answer, as long as its body was small enough
to hold. Upgrades (WebSocket) are tunnelled.
*/

use crate::balance::{self, Candidate, Draws};
use crate::metrics::Meter;
use crate::{Inner, TargetState};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

use crate::upstream::{self, Failure, ProxyBody};

/// Tries per request: the first and two more on other targets.
const ATTEMPTS: usize = 3;

/// Accepts one listener's connections until the listener is closed, and hands each to a
/// worker of the data path.
pub async fn accept(inner: Weak<Inner>, port: u16, socket: TcpListener, meter: Arc<Meter>) {
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin.
                tracing::warn!(port, error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Some(strong) = inner.upgrade() else { return };
        let connection = Connection { inner: inner.clone(), port, peer, meter: meter.clone() };
        match stream.into_std() {
            Ok(stream) => strong.workers.hand(connection, stream),
            Err(e) => tracing::debug!(port, %peer, error = %e, "an accepted connection could not be handed over"),
        }
    }
}

/// A client connection on its way to a worker.
pub(crate) struct Connection {
    pub inner: Weak<Inner>,
    pub port: u16,
    pub peer: SocketAddr,
    pub meter: Arc<Meter>,
}

/// Serves one client connection until it closes.
pub(crate) async fn serve(connection: Connection, stream: tokio::net::TcpStream) {
    let Connection { inner, port, peer, meter } = connection;
    meter.connections.fetch_add(1, Relaxed);
    let service = hyper::service::service_fn(|req| {
        let inner = inner.clone();
        let meter = meter.clone();
        async move {
            let Some(inner) = inner.upgrade() else {
                return Ok::<_, Infallible>(plain(StatusCode::SERVICE_UNAVAILABLE, "the load balancer is stopping"));
            };
            let started = Instant::now();
            meter.active.fetch_add(1, Relaxed);
            let response = handle(&inner, port, peer, req).await;
            meter.active.fetch_sub(1, Relaxed);
            meter.record(response.status().as_u16(), started.elapsed());
            Ok(response)
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // A client that never finishes its headers does not hold a connection for ever.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
    if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await {
        tracing::debug!(port, %peer, error = %e, "a client connection ended with an error");
    }
    meter.connections.fetch_sub(1, Relaxed);
}

thread_local! {
    static DRAWS: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::thread::current().id())
}

fn draws() -> (u64, u64) {
    DRAWS.with(|cell| {
        let mut draws = Draws::new(cell.get());
        let pair = draws.pair();
        cell.set(pair.1);
        pair
    })
}

async fn handle(inner: &Arc<Inner>, port: u16, peer: SocketAddr, mut req: Request<Incoming>) -> Response<ProxyBody> {
    let live = inner.live.read().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(listener) = live.listeners.get(&port) else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "this listener is closing");
    };
    let host = req.uri().authority().map(|a| a.as_str().to_string()).or_else(|| req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string)).unwrap_or_default();
    let Some(group) = listener.route(&host, req.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "no rule of this listener matches the request");
    };
    let Some(targets) = live.groups.get(group).filter(|t| !t.is_empty()) else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "no target is registered for this request");
    };
    // Only origin-form paths go to a target (`OPTIONS *` would name another port).
    let Some(path) = req.uri().path_and_query().filter(|p| p.as_str().starts_with('/')).cloned() else {
        return plain(StatusCode::BAD_REQUEST, "the request's path must start with '/'");
    };
    let upgrade = req.version() == Version::HTTP_11 && req.headers().contains_key(header::UPGRADE);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let mut payload = match Payload::read(body).await {
        Ok(payload) => payload,
        Err(status) => return plain(status, "the request's body could not be read"),
    };
    let idempotent = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE);
    let outgoing = |payload: &mut Payload| {
        let mut outgoing = Request::new(payload.take());
        *outgoing.method_mut() = parts.method.clone();
        *outgoing.uri_mut() = Uri::from(path.clone());
        *outgoing.headers_mut() = forward_headers(&parts.headers, &host, peer, port, upgrade, &inner.config.strip_cookies);
        outgoing
    };
    // The request as it will go next: built once, and again only to repeat one that was sent.
    let mut next = Some(outgoing(&mut payload));
    let mut tried = Vec::new();
    for _ in 0..ATTEMPTS {
        // Nothing left to send (a request that cannot be repeated): no target is counted.
        let Some(request) = next.take() else { break };
        let Some((index, target)) = pick(inner, targets, &tried) else { break };
        tried.push(index);
        let guard = Active::new(inner, target.clone());
        let started = Instant::now();
        match upstream::send(target.addr, request).await {
            Ok((mut response, connection)) => {
                target.meter.record(response.status().as_u16(), started.elapsed());
                if response.status() == StatusCode::SWITCHING_PROTOCOLS
                    && let Some(client_upgrade) = client_upgrade
                {
                    let target_upgrade = hyper::upgrade::on(&mut response);
                    tokio::spawn(async move {
                        if let (Ok(client), Ok(target)) = (client_upgrade.await, target_upgrade.await) {
                            let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(target)).await;
                        }
                        drop(guard);
                        drop(connection);
                    });
                    let (mut head, _) = response.into_parts();
                    strip_hop_by_hop(&mut head.headers, true);
                    return Response::from_parts(head, Empty::new().map_err(|never| match never {}).boxed());
                }
                let (mut head, body) = response.into_parts();
                strip_hop_by_hop(&mut head.headers, false);
                strip_set_cookies(&mut head.headers, &inner.config.strip_cookies);
                // In flight until the last byte of the answer has gone; then the connection
                // goes back to the pool.
                let body = body.map_frame(move |frame| {
                    let _ = (&guard, &connection);
                    frame
                });
                return Response::from_parts(head, body.boxed());
            }
            Err(failure) => {
                drop(guard);
                target.meter.record(502, started.elapsed());
                tracing::debug!(target = %target.addr, error = %failure.message(), "forwarding failed");
                // A kept-alive connection the target closed as the request went out says
                // nothing of the target: it may take the request again on a new one.
                if failure.on_reused_connection() {
                    tried.pop();
                }
                next = match failure {
                    // Never reached the target: whole, it may go anywhere.
                    Failure::Connect(_, back) | Failure::NotSent(_, back) => Some(*back),
                    // Sent, maybe in part: only what is safe to repeat and was held.
                    Failure::Lost { .. } if idempotent && payload.repeatable() => Some(outgoing(&mut payload)),
                    Failure::Lost { .. } => None,
                };
            }
        }
    }
    plain(StatusCode::BAD_GATEWAY, "no target could be reached")
}

/// Request bodies up to this size are held, so the request can go to another target.
const HELD_BODY: u64 = 64 * 1024;

/// A request's body as forwarding sees it.
enum Payload {
    Held(Bytes),
    /// Larger or of unknown length: sent as it comes, once.
    Streamed(Option<Incoming>),
}

impl Payload {
    async fn read(body: Incoming) -> Result<Self, StatusCode> {
        if body.is_end_stream() {
            return Ok(Self::Held(Bytes::new()));
        }
        match body.size_hint().exact() {
            Some(n) if n <= HELD_BODY => body.collect().await.map(|b| Self::Held(b.to_bytes())).map_err(|_| StatusCode::BAD_REQUEST),
            _ => Ok(Self::Streamed(Some(body))),
        }
    }

    fn take(&mut self) -> ProxyBody {
        match self {
            Self::Held(bytes) if bytes.is_empty() => Empty::new().map_err(|never| match never {}).boxed(),
            Self::Held(bytes) => Full::new(bytes.clone()).map_err(|never| match never {}).boxed(),
            Self::Streamed(body) => body.take().map_or_else(|| Empty::new().map_err(|never| match never {}).boxed(), BodyExt::boxed),
        }
    }

    /// Whether the same request can be sent again.
    fn repeatable(&self) -> bool {
        matches!(self, Self::Held(_))
    }
}

/// Chooses a target and counts the request in flight on it, skipping one that began draining
/// meanwhile.
fn pick(inner: &Inner, targets: &[Arc<TargetState>], tried: &[usize]) -> Option<(usize, Arc<TargetState>)> {
    let mut skip = tried.to_vec();
    loop {
        let candidates: Vec<Candidate> = targets
            .iter()
            .map(|t| Candidate { healthy: t.healthy.load(Relaxed), draining: t.draining.load(Relaxed), outstanding: t.meter.active.load(Relaxed).max(0) as u32 })
            .collect();
        let index = balance::choose(&candidates, &skip, draws())?;
        let target = &targets[index];
        target.meter.active.fetch_add(1, SeqCst);
        if !target.draining.load(SeqCst) {
            return Some((index, target.clone()));
        }
        target.meter.active.fetch_sub(1, SeqCst);
        // The drain may have looked while this count was in: say it now.
        inner.tell_if_drained(target);
        skip.push(index);
    }
}

/// A request counted in flight on a target until dropped.
struct Active {
    inner: Weak<Inner>,
    target: Arc<TargetState>,
}

impl Active {
    /// Takes over the count [`pick`] made.
    fn new(inner: &Arc<Inner>, target: Arc<TargetState>) -> Self {
        Self { inner: Arc::downgrade(inner), target }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.target.meter.active.fetch_sub(1, SeqCst);
        if let Some(inner) = self.inner.upgrade() {
            inner.tell_if_drained(&self.target);
        }
    }
}

fn plain(status: StatusCode, message: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(message.as_bytes())).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes the headers that belong to one connection, and those its `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let upgrade = headers.get(header::UPGRADE).cloned();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
    if keep_upgrade && let Some(upgrade) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, upgrade);
    }
}

/// Drops a target's `Set-Cookie` of the control plane's cookies: a listener shares the
/// portal's host, and a browser would take them as the portal's.
fn strip_set_cookies(headers: &mut HeaderMap, names: &[String]) {
    if names.is_empty() || !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            let text = v.to_str().unwrap_or_default();
            let name = text.split_once('=').map_or(text, |(n, _)| n).trim();
            !names.iter().any(|n| n.eq_ignore_ascii_case(name))
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
}

/// The request's headers as a target gets them: without hop-by-hop headers and the control
/// plane's cookies, with the client's address, scheme, port and host in `X-Forwarded-*`.
fn forward_headers(incoming: &HeaderMap, host: &str, peer: SocketAddr, port: u16, upgrade: bool, strip_cookies: &[String]) -> HeaderMap {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers, upgrade);
    let client = peer.ip().to_canonical().to_string();
    let forwarded_for = match incoming.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(chain) if !chain.trim().is_empty() => format!("{chain}, {client}"),
        _ => client,
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", value);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    headers.insert("x-forwarded-port", HeaderValue::from(port));
    if let Ok(value) = HeaderValue::from_str(host) {
        headers.insert("x-forwarded-host", value.clone());
        // An HTTP/2 client names the host in `:authority`; a target on HTTP/1.1 wants `Host`.
        headers.entry(header::HOST).or_insert(value);
    }
    if !strip_cookies.is_empty() {
        let kept: Vec<String> = incoming
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let name = pair.split_once('=').map_or(*pair, |(n, _)| n).trim();
                !strip_cookies.iter().any(|s| s == name)
            })
            .map(str::to_string)
            .collect();
        headers.remove(header::COOKIE);
        if !kept.is_empty()
            && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
        {
            headers.insert(header::COOKIE, value);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_name_the_client_and_drop_what_is_not_the_targets() {
        let mut incoming = HeaderMap::new();
        incoming.insert(header::HOST, HeaderValue::from_static("shop.example:8080"));
        incoming.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret-hop"));
        incoming.insert("x-secret-hop", HeaderValue::from_static("1"));
        incoming.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        incoming.append(header::COOKIE, HeaderValue::from_static("wharf_session=abc; theme=dark"));
        incoming.append(header::COOKIE, HeaderValue::from_static("cart=42"));
        let peer: SocketAddr = "[::ffff:10.0.0.7]:5555".parse().unwrap();
        let out = forward_headers(&incoming, "shop.example:8080", peer, 8080, false, &["wharf_session".into()]);
        assert_eq!(out["x-forwarded-for"], "203.0.113.9, 10.0.0.7");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert_eq!(out["x-forwarded-port"], "8080");
        assert_eq!(out["x-forwarded-host"], "shop.example:8080");
        assert_eq!(out[header::HOST], "shop.example:8080");
        assert!(!out.contains_key(header::CONNECTION) && !out.contains_key("x-secret-hop"));
        assert_eq!(out[header::COOKIE], "theme=dark; cart=42");

        let mut only_session = HeaderMap::new();
        only_session.insert(header::COOKIE, HeaderValue::from_static("wharf_session=abc"));
        let out = forward_headers(&only_session, "h", peer, 80, false, &["wharf_session".into()]);
        assert!(!out.contains_key(header::COOKIE));
    }

    #[test]
    fn a_target_cannot_set_the_control_planes_cookie() {
        let mut headers = HeaderMap::new();
        headers.append(header::SET_COOKIE, HeaderValue::from_static("wharf_session=stolen; Path=/"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("cart=1; Path=/"));
        strip_set_cookies(&mut headers, &["wharf_session".into()]);
        let left: Vec<&str> = headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(left, ["cart=1; Path=/"]);
    }

    #[test]
    fn an_upgrade_keeps_its_headers() {
        let mut incoming = HeaderMap::new();
        incoming.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        incoming.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        let out = forward_headers(&incoming, "h", "127.0.0.1:1".parse().unwrap(), 80, true, &[]);
        assert_eq!(out[header::UPGRADE], "websocket");
        assert_eq!(out[header::CONNECTION], "upgrade");
        let out = forward_headers(&incoming, "h", "127.0.0.1:1".parse().unwrap(), 80, false, &[]);
        assert!(!out.contains_key(header::UPGRADE));
    }
}
