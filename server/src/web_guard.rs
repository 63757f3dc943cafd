/*!
What a browser could be tricked into doing for a page of another site. Every request passes
one guard before any route sees it:

- its `Host` must be a name this server answers to, so a page whose own name resolves to this
  server (DNS rebinding) reaches nothing;
- a request that changes something must come from this server's own pages: a foreign `Origin`
  (or, without one, `Sec-Fetch-Site: cross-site`) is refused;
- the JSON API takes bodies as `application/json` only: a form that another site posts (which
  the browser sends without asking first) is refused before it is read.

Every response carries headers that keep the portal out of other sites' frames and stop
browsers from guessing content types.
*/

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use wharf_core::{ErrorKind, WharfError};

/// The names this server answers to.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Host names without their port, lowercase; `*` answers to any.
    hosts: Vec<String>,
}

impl Guard {
    /// Loopback names, the address it listens on, the host of its public URL, and `extra`.
    pub fn new(listen: SocketAddr, public_url: &str, extra: &[String]) -> Self {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        if !listen.ip().is_unspecified() {
            hosts.push(listen.ip().to_string());
        }
        if let Some(host) = url_authority(public_url).map(host_of) {
            hosts.push(host);
        }
        hosts.extend(extra.iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()));
        hosts.sort();
        hosts.dedup();
        Self { hosts }
    }

    fn answers_to(&self, host: &str) -> bool {
        let host = host_of(host);
        self.hosts.iter().any(|h| h == "*" || *h == host)
    }

    /// Why the request is refused, if it is.
    /// `authority` is the request's own (HTTP/2 sends the name there, not in `Host`).
    fn check(&self, method: &Method, path: &str, authority: Option<&str>, headers: &HeaderMap) -> Result<(), WharfError> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(authority);
        if let Some(host) = host
            && !self.answers_to(host)
        {
            return Err(WharfError::new(
                ErrorKind::AccessDenied,
                format!("this server does not answer to the name '{host}'; start it with --allowed-host {}", host_of(host)),
            ));
        }
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        match headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("null")) {
            Some(origin) => {
                let same = host.is_some_and(|host| url_authority(origin).is_some_and(|a| a.eq_ignore_ascii_case(host)));
                if !same {
                    return Err(WharfError::new(ErrorKind::AccessDenied, format!("a request from another site ({origin}) may not change anything here")));
                }
            }
            None => {
                if headers.get("sec-fetch-site").is_some_and(|s| s.as_bytes() == b"cross-site") {
                    return Err(WharfError::new(ErrorKind::AccessDenied, "a request from another site may not change anything here"));
                }
            }
        }
        if path.starts_with("/api/v1/")
            && let Some(kind) = headers.get(header::CONTENT_TYPE)
            && !is_json(kind)
        {
            return Err(WharfError::new(
                ErrorKind::UnsupportedMediaType,
                format!("the API takes JSON bodies as application/json, not {}", kind.to_str().unwrap_or("that")),
            ));
        }
        Ok(())
    }
}

/// The middleware: refuses what [`Guard::check`] refuses, and adds the headers every response
/// carries.
pub async fn guard(State(state): State<crate::api::AppState>, req: Request, next: Next) -> Response {
    let mut response = match state.guard.check(req.method(), req.uri().path(), req.uri().authority().map(|a| a.as_str()), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let source = crate::client_address::source(req.extensions());
            let session = crate::auth::cookie(req.headers(), crate::auth::SESSION_COOKIE).map(str::to_string);
            let target = format!("{} {}", req.method(), req.uri().path());
            record_refusal(&state, source, session, &target, &e).await;
            crate::api::error::ApiError(e).into_response()
        }
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Puts a refused request in the audit log, in the name of the account whose session cookie
/// the browser sent along (the person another site tried to act as), if any.
async fn record_refusal(state: &crate::api::AppState, source: String, session: Option<String>, target: &str, refusal: &WharfError) {
    let subject = match session {
        // Looked up without counting as use: another site's request keeps no session alive.
        Some(secret) => state.control.presented_subject(&crate::control::gate::Presented::Session(secret)).await.ok().flatten(),
        None => None,
    };
    let gate = crate::control::gate::Gate::new((*state.control).clone(), crate::control::gate::Caller { subject, source, ..Default::default() });
    gate.audit("RefusedRequest", target, None, "denied", &refusal.message).await;
}

/// `application/json`, whatever its parameters (`; charset=utf-8`).
fn is_json(kind: &HeaderValue) -> bool {
    kind.to_str().ok().and_then(|k| k.split(';').next()).is_some_and(|k| k.trim().eq_ignore_ascii_case("application/json"))
}

/// `host:port` of `scheme://host:port/...`.
fn url_authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then_some(authority)
}

/// The host of `host[:port]` or `[v6]:port`, lowercase, without brackets.
fn host_of(authority: &str) -> String {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(authority, |(h, _)| h),
    };
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn refused(g: &Guard, method: Method, path: &str, pairs: &[(&'static str, &str)]) -> Option<ErrorKind> {
        g.check(&method, path, None, &headers(pairs)).err().map(|e| e.error)
    }

    #[test]
    fn over_http2_the_name_comes_in_the_request_authority() {
        let g = Guard::new("127.0.0.1:3000".parse().unwrap(), "https://127.0.0.1:3000", &[]);
        let from_here = headers(&[("origin", "https://127.0.0.1:3000"), ("content-type", "application/json")]);
        assert!(g.check(&Method::POST, "/auth/login", Some("127.0.0.1:3000"), &from_here).is_ok());
        let from_elsewhere = headers(&[("origin", "https://evil.example"), ("content-type", "application/json")]);
        assert_eq!(g.check(&Method::POST, "/auth/login", Some("127.0.0.1:3000"), &from_elsewhere).err().map(|e| e.error), Some(ErrorKind::AccessDenied));
        // A rebound name is refused however it is sent.
        assert_eq!(g.check(&Method::GET, "/", Some("evil.example:3000"), &HeaderMap::new()).err().map(|e| e.error), Some(ErrorKind::AccessDenied));
    }

    #[test]
    fn names_origins_and_content_types() {
        let g = Guard::new("127.0.0.1:3000".parse().unwrap(), "https://wharf.example.com", &["ops.internal".into()]);
        let here = [("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000"), ("content-type", "application/json; charset=utf-8")];
        assert_eq!(refused(&g, Method::POST, "/api/v1/clusters", &here), None);
        for host in ["localhost:3000", "[::1]:3000", "wharf.example.com", "WHARF.example.com:443", "ops.internal:3000"] {
            assert_eq!(refused(&g, Method::GET, "/", &[("host", host)]), None, "{host}");
        }
        // DNS rebinding: a page of evil.example whose name now points here.
        assert_eq!(refused(&g, Method::GET, "/api/v1/clusters", &[("host", "evil.example:3000")]), Some(ErrorKind::AccessDenied));
        // Another site's form or fetch.
        for origin in ["http://evil.example", "null", "http://127.0.0.1:3001"] {
            let pairs = [("host", "127.0.0.1:3000"), ("origin", origin)];
            assert_eq!(refused(&g, Method::POST, "/api/v1/clusters", &pairs), Some(ErrorKind::AccessDenied), "{origin}");
            assert_eq!(refused(&g, Method::GET, "/api/v1/clusters", &pairs), None, "reads are not refused: {origin}");
        }
        assert_eq!(refused(&g, Method::DELETE, "/x", &[("sec-fetch-site", "cross-site")]), Some(ErrorKind::AccessDenied));
        assert_eq!(refused(&g, Method::DELETE, "/x", &[("sec-fetch-site", "same-origin")]), None);
        // The API takes JSON as JSON only; a portal server function posts a form.
        for kind in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            assert_eq!(refused(&g, Method::POST, "/api/v1/task-definitions", &[("content-type", kind)]), Some(ErrorKind::UnsupportedMediaType), "{kind}");
            assert_eq!(refused(&g, Method::POST, "/api/register_task_definition", &[("content-type", kind)]), None, "{kind}");
        }
        assert_eq!(refused(&g, Method::POST, "/api/v1/clusters/c/join-tokens", &[]), None, "no body, no type");
        // Listening everywhere names no host of its own.
        let open = Guard::new("0.0.0.0:3000".parse().unwrap(), "http://0.0.0.0:3000", &[]);
        assert_eq!(refused(&open, Method::GET, "/", &[("host", "10.0.0.5:3000")]), Some(ErrorKind::AccessDenied));
        let any = Guard::new("0.0.0.0:3000".parse().unwrap(), "http://0.0.0.0:3000", &["*".into()]);
        assert_eq!(refused(&any, Method::GET, "/", &[("host", "10.0.0.5:3000")]), None);
    }
}
