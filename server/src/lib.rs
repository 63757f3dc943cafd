/*!
wharf-server: the control plane. HTTP API and portal in one axum router, over the store.
`main.rs` only reads the configuration and calls [`serve`].
*/

pub mod agents;
pub mod api;
pub mod autoscaling;
pub mod auth;
pub mod config;
pub mod control;
pub mod events;
pub mod load_balancer;
pub mod retention;
pub mod setup_command;
pub mod scheduling;
pub mod store;
pub mod tls;
pub mod web_guard;
pub mod client_address;

use api::AppState;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use wharf_app::backend::SharedBackend;
use wharf_app::{App, shell};

/// Builds the state around an opened store.
pub fn state(store: store::Store, leptos: LeptosOptions, public_url: String, agent: api::AgentSettings) -> AppState {
    // Loopback names and the public URL's host; a server binary adds its own (`--allowed-host`).
    let guard = Arc::new(web_guard::Guard::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), &public_url, &[]));
    let control = Arc::new(control::Control::new(store.clone(), agents::Agents::default(), public_url));
    AppState { control, store, leptos, metrics: Arc::default(), agent: Arc::new(agent), guard, proxies: Arc::default(), accounts_exist: Arc::default() }
}

/// Background work of a running server: agent heartbeats and silence detection, the
/// scheduling loop, history retention, auto scaling every `scaling`, and the load balancer's
/// listeners on `balancer_address`.
pub fn spawn_background(state: &AppState, scheduler: scheduling::Settings, history: retention::Settings, scaling: std::time::Duration, balancer_address: std::net::IpAddr) {
    state.control.set_load_balancer(load_balancer::LoadBalancer::start((*state.control).clone(), balancer_address));
    tokio::spawn(agents::session::monitor((*state.control).clone(), state.agent.heartbeat));
    scheduling::spawn(state.store.clone(), state.control.agents().clone(), state.control.events().clone(), scheduler);
    retention::spawn(state.store.clone(), history);
    autoscaling::spawn((*state.control).clone(), scaling);
}

/// The whole HTTP surface: API, portal pages, server functions, static files.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let leptos = state.leptos.clone();
    // Each page render and server function gets the gate for its request's caller, so the
    // portal passes the same policy as the API.
    let control = state.control.clone();
    let per_request = move || {
        let caller = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<control::gate::Caller>().cloned())
            .unwrap_or_default();
        let gate: SharedBackend = Arc::new(control::gate::Gate::new((*control).clone(), caller));
        leptos::prelude::provide_context(gate);
    };
    // The bundle goes out gzipped where the build left a .gz beside it (wasm shrinks to about
    // a third that way); anything else falls through to the portal's file handler.
    // A build's folder never changes once written, so browsers may keep its files for good.
    let pkg = std::path::Path::new(&*state.leptos.site_root).join("pkg");
    let built = state.leptos.site_pkg_dir.as_ref() != "pkg";
    let cache = tower_http::set_header::SetResponseHeaderLayer::overriding(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static(if built { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    let portal = Router::<AppState>::new()
        .nest_service("/pkg", tower::ServiceBuilder::new().layer(cache).service(tower_http::services::ServeDir::new(pkg).precompressed_gzip()))
        .leptos_routes_with_context(&state, routes, per_request.clone(), move || shell(leptos.clone()))
        // A page not found is a page too: it gets its caller's gate (and CSRF token).
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(per_request, shell));
    api::router()
        .merge(portal)
        .layer(middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(middleware::from_fn(refuse_nul))
        .layer(middleware::from_fn_with_state(state.clone(), web_guard::guard))
        .layer(middleware::from_fn_with_state(state.clone(), count_responses))
        .layer(middleware::from_fn_with_state(state.clone(), client_address::identify))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// An address with a NUL (`%00`) in its path or query is refused before any route reads it:
/// PostgreSQL keeps no NUL in text, and bodies are held to the same rule.
async fn refuse_nul(req: Request, next: Next) -> Response {
    let uri = req.uri();
    for (field, part) in [("path", uri.path()), ("query", uri.query().unwrap_or_default())] {
        if part.contains("%00") {
            return api::error::ApiError(wharf_core::WharfError::invalid_field(field, wharf_core::text::NUL_MESSAGE)).into_response();
        }
    }
    next.run(req).await
}

async fn count_responses(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    state.metrics.record(response.status());
    response
}

/// Leptos options for a site folder (the wasm, JS and CSS the build writes). Each build of the
/// bundle has a folder of its own, `pkg/<build id>`, named in `pkg/BUILD`: a page names the
/// files of the build it was rendered with, so a cached file is never one of another build.
pub fn leptos_options(site_root: &std::path::Path, listen: std::net::SocketAddr) -> LeptosOptions {
    let build = std::fs::read_to_string(site_root.join("pkg").join("BUILD")).ok();
    let build = build.as_deref().map(str::trim).filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()));
    let pkg_dir = build.map(|id| format!("pkg/{id}")).unwrap_or_else(|| "pkg".into());
    LeptosOptions::builder().output_name("wharf").site_root(site_root.display().to_string()).site_pkg_dir(pkg_dir).site_addr(listen).build()
}
