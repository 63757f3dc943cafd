/*!
The portal's sign-in, first-admin and sign-out forms: plain HTML form posts, so they work
before (or without) the page's scripts, answered with a redirect and the session cookie.
*/

use super::{SESSION_COOKIE, clear_session_cookie, cookie, session_cookie};
use crate::api::{AppState, Gated};
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use wharf_core::account::Credentials;

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// Where to go once signed in (a path of this site only).
    #[serde(default)]
    next: String,
}

/// Only a local path: a sign-in link must not send people to another site.
fn local_path(next: &str) -> &str {
    // Browsers drop tabs and newlines from URLs, and read `\` as `/`: `/\t/evil` is `//evil`.
    let plain = next.chars().all(|c| c.is_ascii_graphic()) && !next.contains('\\');
    if plain && next.starts_with('/') && !next.starts_with("//") { next } else { "/" }
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn with_cookie(to: &str, cookie: axum::http::HeaderValue) -> Response {
    let mut res = Redirect::to(to).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie);
    res
}

pub async fn sign_in(State(state): State<AppState>, gate: Gated, Form(form): Form<SignInForm>) -> Response {
    let input = Credentials { username: form.username, password: form.password };
    let out = state.control.sign_in(&input, gate.caller()).await;
    let next = local_path(&form.next);
    match out {
        Ok(session) => {
            gate.audit("SignIn", &input.username, None, "allowed", "").await;
            with_cookie(next, session_cookie(&session.secret, state.secure_cookies()))
        }
        Err(e) => {
            gate.audit("SignIn", &input.username, None, "denied", &e.message).await;
            Redirect::to(&format!("/login?error={}&next={}&username={}", encode(&e.message), encode(next), encode(&input.username))).into_response()
        }
    }
}

pub async fn setup(State(state): State<AppState>, gate: Gated, Form(form): Form<SignInForm>) -> Response {
    let input = Credentials { username: form.username, password: form.password };
    let out = state.control.create_account(&input, true, true).await;
    gate.record("CreateFirstAdmin", &input.username, None, &out).await;
    let opened = match out {
        Ok(_) => {
            state.accounts_exist.store(true, std::sync::atomic::Ordering::Relaxed);
            match state.control.session_subject_of(&input.username).await {
                Ok(subject) => state.control.open_session(subject).await,
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    match opened {
        Ok(session) => with_cookie("/", session_cookie(&session.secret, state.secure_cookies())),
        Err(e) => {
            let first = e.errors.first().map(|f| f.to_string()).unwrap_or(e.message);
            Redirect::to(&format!("/setup?error={}&username={}", encode(&first), encode(&input.username))).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    /// The session's CSRF token, which the portal's sign-out form holds.
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(State(state): State<AppState>, gate: Gated, headers: HeaderMap, form: Result<Form<SignOutForm>, FormRejection>) -> Response {
    // A live session ends only at its own page's asking; without one there is nothing to end.
    if let Some(expected) = &gate.caller().csrf_token {
        let sent = form.as_ref().ok().map(|f| f.csrf.as_str());
        if !super::csrf_matches(sent, expected) {
            // A page of an older session (signed in again in another tab) holds an old token:
            // back to a page that holds the current one, signed in as before.
            gate.audit("RefusedRequest", "POST /auth/logout", None, "denied", "sign-out must carry the session's CSRF token").await;
            return Redirect::to("/").into_response();
        }
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        let _ = state.control.sign_out(secret).await;
        if let Ok(who) = gate.who() {
            gate.audit("SignOut", &who.username.clone(), None, "allowed", "").await;
        }
    }
    with_cookie("/login", clear_session_cookie())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(super::local_path("/clusters/a"), "/clusters/a");
        for foreign in ["https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil.example", "/ /x", ""] {
            assert_eq!(super::local_path(foreign), "/", "{foreign}");
        }
    }
}
