/*!
The HTTP API under `/api/v1`: thin handlers that parse, call the control layer and shape the
answer. Routes and shapes follow `design/api.md`; the OpenAPI document is generated from the
handlers' annotations.
*/

mod accounts;
mod agent;
mod clusters;
pub mod error;
mod events;
mod instances;
pub mod live;
mod join_tokens;
mod load_balancing;
mod scaling;
mod secrets;
mod services;
mod task_definitions;
mod tasks;

use crate::store::Store;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use error::ApiError;
use leptos::config::LeptosOptions;
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use utoipa::{IntoParams, OpenApi};
use wharf_core::WharfError;
use wharf_core::page::{Page, PageRequest};

/// Largest request body accepted (ECS caps a task definition far below this).
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    /// The commands, ungated: requests reach them through [`Gated`] (the portal through the
    /// same gate, provided per request); agents' own routes check their credentials.
    pub control: Arc<crate::control::Control>,
    pub store: Store,
    pub leptos: LeptosOptions,
    pub metrics: Arc<Metrics>,
    pub agent: Arc<AgentSettings>,
    /// The names the server answers to, and the rules for requests from other sites.
    pub guard: Arc<crate::web_guard::Guard>,
    /// Proxies whose X-Forwarded-For names the client.
    pub proxies: Arc<crate::client_address::TrustedProxies>,
    /// Set once any account exists (accounts are never deleted, only disabled).
    pub accounts_exist: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// Whether the first admin exists; asks the store until it does.
    pub async fn accounts_exist(&self) -> bool {
        if self.accounts_exist.load(Ordering::Relaxed) {
            return true;
        }
        let exist = self.control.accounts_exist().await.unwrap_or(false);
        if exist {
            self.accounts_exist.store(true, Ordering::Relaxed);
        }
        exist
    }

    /// Session cookies are marked Secure when people reach the server over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.control.public_url().starts_with("https://")
    }
}

/// The [`Gate`](crate::control::gate::Gate) for the request's caller: what every handler
/// asks.
pub struct Gated(pub crate::control::gate::Gate);

impl std::ops::Deref for Gated {
    type Target = crate::control::gate::Gate;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl axum::extract::FromRequestParts<AppState> for Gated {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = parts.extensions.get::<crate::control::gate::Caller>().cloned().unwrap_or_default();
        Ok(Gated(crate::control::gate::Gate::new((*state.control).clone(), caller)))
    }
}

/// How the server treats agents.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// How often agents send a heartbeat; three missed make the instance disconnected.
    pub heartbeat: std::time::Duration,
    /// How long an instance credential serves before its agent is handed a new one.
    pub credential_rotation: std::time::Duration,
    /// The `wharf-agent` binary served to hosts at `/agent/wharf-agent`.
    pub binary: Option<std::path::PathBuf>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// Request counters for `/metrics`, by status class.
#[derive(Default)]
pub struct Metrics {
    pub responses: [AtomicU64; 6],
}

impl Metrics {
    pub fn record(&self, status: StatusCode) {
        let class = (status.as_u16() / 100).min(5) as usize;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }
}

/// `maxResults` and `nextToken`, as every list route takes them.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 1000; 100 when absent.
    max_results: Option<i64>,
    /// From the previous page's `nextToken`.
    next_token: Option<String>,
}

impl ListQuery {
    fn page(&self) -> Result<Page, WharfError> {
        PageRequest { max_results: self.max_results, next_token: self.next_token.clone() }.validate()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Wharf API", description = "ECS-shaped container orchestration: task definitions, clusters, services, container instances and tasks."),
    paths(
        task_definitions::register, task_definitions::list, task_definitions::families, task_definitions::describe,
        task_definitions::deregister,
        clusters::create, clusters::list, clusters::describe, clusters::update, clusters::delete,
        join_tokens::create, join_tokens::list, join_tokens::revoke, agent::register,
        services::create, services::list, services::describe, services::update, services::delete,
        instances::list, instances::describe, instances::update, instances::deregister, instances::put_attributes,
        tasks::list_tasks, tasks::describe_task, tasks::run, tasks::start, tasks::stop, tasks::logs,
        tasks::topology, events::stream,
        accounts::setup_status, accounts::setup, accounts::sign_in, accounts::whoami, accounts::sign_out, accounts::change_password,
        accounts::list_users, accounts::create_user, accounts::update_user,
        accounts::list_teams, accounts::create_team, accounts::describe_team, accounts::delete_team, accounts::set_member, accounts::remove_member,
        accounts::list_tokens, accounts::create_token, accounts::revoke_token,
        accounts::cluster_teams, accounts::share_cluster, accounts::unshare_cluster, accounts::audit,
        secrets::create, secrets::list, secrets::describe, secrets::put_value, secrets::delete,
        load_balancing::create_target_group, load_balancing::list_target_groups, load_balancing::describe_target_group,
        load_balancing::modify_target_group, load_balancing::delete_target_group, load_balancing::describe_target_health,
        load_balancing::http_sd, load_balancing::endpoints,
        load_balancing::create_listener, load_balancing::list_listeners, load_balancing::describe_listener,
        load_balancing::modify_listener, load_balancing::delete_listener, load_balancing::create_rule, load_balancing::delete_rule,
        scaling::describe, scaling::metrics, scaling::instance_metrics, scaling::register, scaling::deregister, scaling::put_policy, scaling::delete_policy,
        scaling::put_action, scaling::delete_action,
    ),
    components(schemas(WharfError, wharf_core::FieldError, wharf_core::ErrorKind)),
    modifiers(&BearerAuth),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "task definitions", description = "Versioned blueprints in ECS's JSON shape"),
        (name = "clusters", description = "Logical groups of container instances"),
        (name = "services", description = "Keep N tasks of a revision running"),
        (name = "container instances", description = "Hosts running wharf-agent"),
        (name = "tasks", description = "Running instantiations of task definitions"),
        (name = "events", description = "Live feed of state changes (Server-Sent Events)"),
        (name = "accounts", description = "Sign-in, users, teams, API tokens and the audit log"),
        (name = "secrets", description = "Values tasks receive in their environment, never returned"),
        (name = "load balancing", description = "Target groups and listeners: one stable address per service"),
        (name = "auto scaling", description = "A service's bounds, scaling policies, scheduled actions, activities and metrics"),
    )
)]
pub struct ApiDoc;

/// The two ways to send credentials (an API token, or the portal's session cookie), and the
/// answers any route may give whatever it does: bad input, no or bad credentials, not
/// allowed, no such object, a conflict, a body too large or not JSON, too many sign-ins.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))));
        let common = [
            ("400", "Invalid input; `errors` names each field"),
            ("401", "No credentials, or unknown, expired or revoked ones"),
            ("403", "Not allowed to the caller, or sent from another site"),
            ("404", "No such object"),
            ("409", "Conflicts with the current state"),
            ("413", "Body too large"),
            ("415", "Body not application/json"),
            ("429", "Too many failed sign-ins"),
        ];
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                for (code, description) in common {
                    operation.responses.responses.entry(code.to_string()).or_insert_with(|| {
                        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("WharfError"))).build();
                        ResponseBuilder::new().description(description).content("application/json", content).build().into()
                    });
                }
            }
        }
    }
}

pub fn router() -> Router<AppState> {
    use axum::routing::{get as g, post};
    let v1 = Router::new()
        .route("/task-definitions", post(task_definitions::register).get(task_definitions::list))
        .route("/task-definition-families", g(task_definitions::families))
        .route("/task-definitions/{reference}", g(task_definitions::describe).delete(task_definitions::deregister))
        .route("/clusters", post(clusters::create).get(clusters::list))
        .route("/clusters/{cluster}", g(clusters::describe).patch(clusters::update).delete(clusters::delete))
        .route("/clusters/{cluster}/services", post(services::create).get(services::list))
        .route(
            "/clusters/{cluster}/services/{service}",
            g(services::describe).patch(services::update).delete(services::delete),
        )
        .route("/clusters/{cluster}/services/{service}/scaling", g(scaling::describe))
        .route("/clusters/{cluster}/services/{service}/metrics", g(scaling::metrics))
        .route("/clusters/{cluster}/container-instances/{id}/metrics", g(scaling::instance_metrics))
        .route("/clusters/{cluster}/services/{service}/scalable-target", axum::routing::put(scaling::register).delete(scaling::deregister))
        .route("/clusters/{cluster}/services/{service}/scaling-policies/{policy}", axum::routing::put(scaling::put_policy).delete(scaling::delete_policy))
        .route("/clusters/{cluster}/services/{service}/scheduled-actions/{action}", axum::routing::put(scaling::put_action).delete(scaling::delete_action))
        .route("/clusters/{cluster}/join-tokens", post(join_tokens::create).get(join_tokens::list))
        .route("/clusters/{cluster}/join-tokens/{id}", axum::routing::delete(join_tokens::revoke))
        .route("/clusters/{cluster}/container-instances", g(instances::list))
        .route(
            "/clusters/{cluster}/container-instances/{id}",
            g(instances::describe).patch(instances::update).delete(instances::deregister),
        )
        .route("/clusters/{cluster}/container-instances/{id}/attributes", axum::routing::put(instances::put_attributes))
        .route("/clusters/{cluster}/tasks", g(tasks::list_tasks).post(tasks::run))
        .route("/clusters/{cluster}/tasks/start", post(tasks::start))
        .route("/clusters/{cluster}/tasks/{id}", g(tasks::describe_task))
        .route("/clusters/{cluster}/tasks/{id}/stop", post(tasks::stop))
        .route("/clusters/{cluster}/tasks/{id}/logs", g(tasks::logs))
        .route("/clusters/{cluster}/topology", g(tasks::topology))
        .route("/events", g(events::stream))
        .route("/setup", g(accounts::setup_status).post(accounts::setup))
        .route("/session", g(accounts::whoami).post(accounts::sign_in).delete(accounts::sign_out))
        .route("/session/password", axum::routing::put(accounts::change_password))
        .route("/users", g(accounts::list_users).post(accounts::create_user))
        .route("/users/{username}", axum::routing::patch(accounts::update_user))
        .route("/teams", g(accounts::list_teams).post(accounts::create_team))
        .route("/teams/{team}", g(accounts::describe_team).delete(accounts::delete_team))
        .route("/teams/{team}/members/{username}", axum::routing::put(accounts::set_member).delete(accounts::remove_member))
        .route("/tokens", g(accounts::list_tokens).post(accounts::create_token))
        .route("/tokens/{id}", axum::routing::delete(accounts::revoke_token))
        .route("/secrets", g(secrets::list).post(secrets::create))
        .route("/secrets/{name}", g(secrets::describe).delete(secrets::delete))
        .route("/secrets/{name}/value", axum::routing::put(secrets::put_value))
        .route("/clusters/{cluster}/target-groups", post(load_balancing::create_target_group).get(load_balancing::list_target_groups))
        .route(
            "/clusters/{cluster}/target-groups/{name}",
            g(load_balancing::describe_target_group).patch(load_balancing::modify_target_group).delete(load_balancing::delete_target_group),
        )
        .route("/clusters/{cluster}/target-groups/{name}/targets", g(load_balancing::describe_target_health))
        .route("/clusters/{cluster}/target-groups/{name}/http-sd", g(load_balancing::http_sd))
        .route("/clusters/{cluster}/target-groups/{name}/endpoints", g(load_balancing::endpoints))
        .route("/clusters/{cluster}/listeners", post(load_balancing::create_listener).get(load_balancing::list_listeners))
        .route(
            "/clusters/{cluster}/listeners/{port}",
            g(load_balancing::describe_listener).patch(load_balancing::modify_listener).delete(load_balancing::delete_listener),
        )
        .route("/clusters/{cluster}/listeners/{port}/rules", post(load_balancing::create_rule))
        .route("/clusters/{cluster}/listeners/{port}/rules/{priority}", axum::routing::delete(load_balancing::delete_rule))
        .route("/clusters/{cluster}/teams", g(accounts::cluster_teams))
        .route("/clusters/{cluster}/teams/{team}", axum::routing::put(accounts::share_cluster).delete(accounts::unshare_cluster))
        .route("/audit", g(accounts::audit))
        .route("/openapi.json", g(openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Router::new()
        .nest("/api/v1", v1)
        .route("/agent/v1/register", axum::routing::post(agent::register).layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .route("/agent/v1/connect", get(agent::connect))
        .route("/agent/install.sh", get(agent::install_script))
        .route("/agent/wharf-agent", get(agent::binary))
        .route("/auth/login", axum::routing::post(crate::auth::forms::sign_in))
        .route("/auth/setup", axum::routing::post(crate::auth::forms::setup))
        .route("/auth/logout", axum::routing::post(crate::auth::forms::sign_out))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError(WharfError::not_found("no such route; see /api/v1/openapi.json"))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "store not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "store not reachable")
        }
    }
}

/// Anyone may scrape the counters; only an admin's (per-target series name teams' target groups
/// and tasks).
async fn metrics(State(state): State<AppState>, axum::Extension(caller): axum::Extension<crate::control::gate::Caller>) -> impl IntoResponse {
    let mut out = String::from("# HELP wharf_http_responses_total HTTP responses by status class.\n# TYPE wharf_http_responses_total counter\n");
    for (class, count) in state.metrics.responses.iter().enumerate().skip(1) {
        out.push_str(&format!("wharf_http_responses_total{{class=\"{class}xx\"}} {}\n", count.load(Ordering::Relaxed)));
    }
    let mut conn = state.store.pool().acquire().await.ok();
    if let Some(conn) = conn.as_mut()
        && let Ok(n) = crate::store::task_definitions::count(conn).await {
            out.push_str("# HELP wharf_task_definitions Task definition revisions stored.\n# TYPE wharf_task_definitions gauge\n");
            out.push_str(&format!("wharf_task_definitions {n}\n"));
        }
    if let Some(lb) = state.control.load_balancer() {
        lb.render_metrics(&mut out, caller.subject.as_ref().is_some_and(|s| s.admin));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
