/*!
Who a request is from. One middleware reads the credentials (an API token as
`Authorization: Bearer …`, else the portal's session cookie), finds the subject and hands a
[`Caller`] to everything after it; the [`Gate`](crate::control::gate::Gate) decides what the
caller may do. Requests without credentials reach only what anyone may see: health, the
OpenAPI document, sign-in and, until the first admin exists, the setup.
*/

pub mod forms;
pub mod sealing;
pub mod secrets;

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::control::gate::{Caller, Presented};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use wharf_core::WharfError;

pub const SESSION_COOKIE: &str = "wharf_session";
/// The header a change made with a session carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether `sent` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(sent: Option<&str>, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    sent.is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(expected.as_bytes())))
}

/// Paths anyone may reach without credentials.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/api/v1/openapi.json" | "/api/v1/session" | "/api/v1/setup" | "/login" | "/setup" | "/auth/login" | "/auth/logout" | "/favicon.ico")
        || path.starts_with("/agent/")
        || path.starts_with("/pkg/")
        // The portal's server functions answer for themselves through the gate (sign-in
        // and setup take no subject; every other one refuses without one).
        || (path.starts_with("/api/") && !path.starts_with("/api/v1/"))
}

/// Sign-in and setup take credentials, not a session: a cookie someone still holds (another
/// tab's, an expired one) plays no part in them. The Origin check still applies.
fn takes_credentials(method: &Method, path: &str) -> bool {
    method == Method::POST && matches!(path, "/auth/login" | "/auth/setup" | "/api/v1/session" | "/api/v1/setup")
}

/// Paths that work before the first admin exists.
fn is_open_before_setup(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics" | "/api/v1/openapi.json" | "/api/v1/setup" | "/setup" | "/auth/setup" | "/favicon.ico")
        || path.starts_with("/pkg/")
        || (path.starts_with("/api/") && !path.starts_with("/api/v1/"))
}

/// The value of one cookie of the request.
pub fn cookie<'a>(req: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    req.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The session cookie: never readable by scripts, never sent by another site's requests.
pub fn session_cookie(secret: &str, secure: bool) -> HeaderValue {
    let max_age = crate::control::accounts::SESSION_ABSOLUTE.num_seconds();
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")).expect("hex is a valid header")
}

pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static("wharf_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn unauthorized(message: &str) -> Response {
    ApiError(WharfError::unauthorized("Authorization", message)).into_response()
}

/// Refuses a request made with a session, and puts the attempt in the audit log in the
/// session's name.
async fn refuse(state: &AppState, caller: Caller, target: &str, message: &str) -> Response {
    let refusal = WharfError::new(wharf_core::ErrorKind::AccessDenied, message);
    let gate = crate::control::gate::Gate::new((*state.control).clone(), caller);
    gate.audit("RefusedRequest", target, None, "denied", &refusal.message).await;
    ApiError(refusal).into_response()
}

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let source = crate::client_address::source(req.extensions());
    let path = req.uri().path().to_string();
    let mut caller = Caller { source, ..Default::default() };
    // Agents present their own credentials (a join token, then the instance's), which the
    // agent routes check themselves.
    if path.starts_with("/agent/") {
        req.extensions_mut().insert(caller);
        return next.run(req).await;
    }
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim) else {
            return unauthorized("send an API token as Authorization: Bearer <token>");
        };
        match state.control.token_subject(token).await {
            Ok(Some(subject)) => {
                caller.subject = Some(subject);
                caller.presented = Some(Presented::Token(token.to_string()));
            }
            Ok(None) => return unauthorized("the token is unknown, expired or revoked"),
            Err(e) => return ApiError(e).into_response(),
        }
    } else if let Some(secret) = cookie(req.headers(), SESSION_COOKIE).filter(|_| !takes_credentials(req.method(), &path)) {
        match state.control.session(secret).await {
            Ok(Some((subject, csrf))) => {
                // A cookie rides along with any request the browser makes; a change made with
                // one must come from a page of this site, which browsers say in Origin (a
                // foreign Origin was refused before this), and carry the session's CSRF token,
                // which only this site's pages can read. Sign-out is a plain form: its
                // handler reads the token from the form.
                let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
                let from_our_page = req.headers().contains_key(header::ORIGIN)
                    || req.headers().get("sec-fetch-site").is_some_and(|v| v == "same-origin");
                let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
                let refusal = if unsafe_method && !from_our_page {
                    Some("a change made with a session must come from Wharf's own pages (no Origin header)")
                } else if unsafe_method && path != "/auth/logout" && !csrf_matches(sent, &csrf) {
                    Some("a change made with a session must carry its CSRF token in X-CSRF-Token (Wharf's pages send it; GET /api/v1/session tells it)")
                } else {
                    None
                };
                if let Some(message) = refusal {
                    let target = format!("{} {path}", req.method());
                    return refuse(&state, Caller { subject: Some(subject), ..caller }, &target, message).await;
                }
                caller.subject = Some(subject);
                caller.csrf_token = Some(csrf);
                caller.presented = Some(Presented::Session(secret.to_string()));
            }
            Ok(None) => {}
            Err(e) => return ApiError(e).into_response(),
        }
    }
    if caller.subject.is_none() {
        let page = req.method() == Method::GET && !path.starts_with("/api/");
        if !state.accounts_exist().await {
            if !is_open_before_setup(&path) {
                if page {
                    return Redirect::to("/setup").into_response();
                }
                return unauthorized("Wharf has no admin yet: create one at /setup, or with wharf-server admin create");
            }
        } else if !is_public(&path) {
            if page {
                let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
                return Redirect::to(&format!("/login?next={next}")).into_response();
            }
            return unauthorized("sign in, or send an API token as Authorization: Bearer <token>");
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}
