/*! Routes of accounts: the first admin, sign-in, users, teams and their members, API tokens,
cluster sharing and the audit log. */

use super::error::{ApiError, ApiResult, Body, Query};
use super::{AppState, Gated};
use crate::store::credentials::AuditEntry;
use crate::auth::{SESSION_COOKIE, clear_session_cookie, cookie, session_cookie};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wharf_core::WharfError;
use wharf_core::access::Subject;
use wharf_core::account::{ApiToken, ChangePasswordInput, CreateTeamInput, CreateTokenInput, CreateUserInput, Credentials, SetMemberInput, Team, UpdateUserInput, User};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetupStatus {
    /// True until the first admin exists.
    setup_required: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    subject: Subject,
    /// For a session (not an API token): what its changes carry in `X-CSRF-Token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
}

/// Whether Wharf still waits for its first admin.
#[utoipa::path(get, path = "/api/v1/setup", tag = "accounts", responses((status = 200, body = SetupStatus)))]
pub async fn setup_status(State(state): State<AppState>) -> Json<SetupStatus> {
    Json(SetupStatus { setup_required: !state.accounts_exist().await })
}

fn signed_in(state: &AppState, status: StatusCode, session: crate::control::accounts::NewSession) -> Response {
    let mut res = (status, Json(SessionResponse { subject: session.subject, csrf_token: Some(session.csrf_token) })).into_response();
    res.headers_mut().insert(header::SET_COOKIE, session_cookie(&session.secret, state.secure_cookies()));
    res
}

/// Creates the first admin and signs them in; refused once any account exists.
#[utoipa::path(post, path = "/api/v1/setup", tag = "accounts", request_body = Credentials,
    responses((status = 201, body = SessionResponse), (status = 400, body = WharfError), (status = 409, body = WharfError)))]
pub async fn setup(State(state): State<AppState>, gate: Gated, Body(input): Body<Credentials>) -> ApiResult<Response> {
    let out = state.control.create_account(&input, true, true).await;
    gate.record("CreateFirstAdmin", &input.username, None, &out).await;
    out?;
    state.accounts_exist.store(true, std::sync::atomic::Ordering::Relaxed);
    let subject = state.control.session_subject_of(&input.username).await?;
    Ok(signed_in(&state, StatusCode::CREATED, state.control.open_session(subject).await?))
}

/// Signs in with a username and password; the session is a cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "accounts", request_body = Credentials,
    responses((status = 200, body = SessionResponse), (status = 401, body = WharfError), (status = 429, body = WharfError)))]
pub async fn sign_in(State(state): State<AppState>, gate: Gated, Body(input): Body<Credentials>) -> ApiResult<Response> {
    let out = state.control.sign_in(&input, gate.caller()).await;
    let result = if out.is_ok() { "allowed" } else { "denied" };
    let detail = out.as_ref().err().map(|e| e.message.clone()).unwrap_or_default();
    gate.audit("SignIn", &input.username, None, result, &detail).await;
    Ok(signed_in(&state, StatusCode::OK, out?))
}

/// Who the caller is, with their teams and roles.
#[utoipa::path(get, path = "/api/v1/session", tag = "accounts", responses((status = 200, body = SessionResponse), (status = 401, body = WharfError)))]
pub async fn whoami(gate: Gated) -> ApiResult<Json<SessionResponse>> {
    Ok(Json(SessionResponse { subject: gate.who()?.clone(), csrf_token: gate.caller().csrf_token.clone() }))
}

/// Signs out: the session ends on the server, not only in the browser.
#[utoipa::path(delete, path = "/api/v1/session", tag = "accounts", responses((status = 204)))]
pub async fn sign_out(State(state): State<AppState>, gate: Gated, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        state.control.sign_out(secret).await?;
        if let Ok(who) = gate.who() {
            gate.audit("SignOut", &who.username.clone(), None, "allowed", "").await;
        }
    }
    Ok(([(header::SET_COOKIE, clear_session_cookie())], StatusCode::NO_CONTENT).into_response())
}

/// Changes the caller's own password (proving the current one); other sessions end.
#[utoipa::path(put, path = "/api/v1/session/password", tag = "accounts", request_body = ChangePasswordInput,
    responses((status = 204), (status = 400, body = WharfError), (status = 401, body = WharfError)))]
pub async fn change_password(gate: Gated, Body(input): Body<ChangePasswordInput>) -> ApiResult<StatusCode> {
    gate.change_password(input).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    users: Vec<User>,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    user: User,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", responses((status = 200, body = UserList), (status = 403, body = WharfError)))]
pub async fn list_users(gate: Gated) -> ApiResult<Json<UserList>> {
    Ok(Json(UserList { users: gate.list_users().await? }))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = CreateUserInput,
    responses((status = 201, body = UserResponse), (status = 400, body = WharfError), (status = 403, body = WharfError)))]
pub async fn create_user(gate: Gated, Body(input): Body<CreateUserInput>) -> ApiResult<(StatusCode, Json<UserResponse>)> {
    Ok((StatusCode::CREATED, Json(UserResponse { user: gate.create_user(input).await? })))
}

/// An admin disables or enables an account, or resets its password.
#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "accounts", params(("username" = String, Path)), request_body = UpdateUserInput,
    responses((status = 200, body = UserResponse), (status = 400, body = WharfError), (status = 403, body = WharfError), (status = 404, body = WharfError)))]
pub async fn update_user(gate: Gated, Path(username): Path<String>, Body(input): Body<UpdateUserInput>) -> ApiResult<Json<UserResponse>> {
    Ok(Json(UserResponse { user: gate.update_user(&username, input).await? }))
}

#[derive(Serialize, ToSchema)]
pub struct TeamList {
    teams: Vec<Team>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamResponse {
    team: Team,
}

#[utoipa::path(get, path = "/api/v1/teams", tag = "accounts", responses((status = 200, body = TeamList)))]
pub async fn list_teams(gate: Gated) -> ApiResult<Json<TeamList>> {
    Ok(Json(TeamList { teams: gate.list_teams().await? }))
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "accounts", request_body = CreateTeamInput,
    responses((status = 201, body = TeamResponse), (status = 400, body = WharfError), (status = 403, body = WharfError)))]
pub async fn create_team(gate: Gated, Body(input): Body<CreateTeamInput>) -> ApiResult<(StatusCode, Json<TeamResponse>)> {
    Ok((StatusCode::CREATED, Json(TeamResponse { team: gate.create_team(input).await? })))
}

#[utoipa::path(get, path = "/api/v1/teams/{team}", tag = "accounts", params(("team" = String, Path)),
    responses((status = 200, body = TeamResponse), (status = 403, body = WharfError), (status = 404, body = WharfError)))]
pub async fn describe_team(gate: Gated, Path(team): Path<String>) -> ApiResult<Json<TeamResponse>> {
    Ok(Json(TeamResponse { team: gate.describe_team(&team).await? }))
}

/// Deletes a team; its families stay, owned by no team (an admin's alone).
#[utoipa::path(delete, path = "/api/v1/teams/{team}", tag = "accounts", params(("team" = String, Path)),
    responses((status = 204), (status = 403, body = WharfError), (status = 404, body = WharfError)))]
pub async fn delete_team(gate: Gated, Path(team): Path<String>) -> ApiResult<StatusCode> {
    gate.delete_team(&team).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a member or sets their role (viewer, deployer, maintainer).
#[utoipa::path(put, path = "/api/v1/teams/{team}/members/{username}", tag = "accounts", params(("team" = String, Path), ("username" = String, Path)),
    request_body = SetMemberInput,
    responses((status = 200, body = TeamResponse), (status = 400, body = WharfError), (status = 403, body = WharfError), (status = 404, body = WharfError)))]
pub async fn set_member(gate: Gated, Path((team, username)): Path<(String, String)>, Body(input): Body<SetMemberInput>) -> ApiResult<Json<TeamResponse>> {
    Ok(Json(TeamResponse { team: gate.set_member(&team, &username, input).await? }))
}

#[utoipa::path(delete, path = "/api/v1/teams/{team}/members/{username}", tag = "accounts", params(("team" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = TeamResponse), (status = 403, body = WharfError), (status = 404, body = WharfError)))]
pub async fn remove_member(gate: Gated, Path((team, username)): Path<(String, String)>) -> ApiResult<Json<TeamResponse>> {
    Ok(Json(TeamResponse { team: gate.remove_member(&team, &username).await? }))
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<ApiToken>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewTokenResponse {
    api_token: ApiToken,
    /// The token in clear: shown here once, never again.
    token: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    api_token: ApiToken,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts", responses((status = 200, body = TokenList)))]
pub async fn list_tokens(gate: Gated) -> ApiResult<Json<TokenList>> {
    Ok(Json(TokenList { tokens: gate.list_tokens().await? }))
}

/// A token for the caller (never above their own role) or, with `team`, for a team.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "accounts", request_body = CreateTokenInput,
    responses((status = 201, body = NewTokenResponse), (status = 400, body = WharfError), (status = 403, body = WharfError)))]
pub async fn create_token(gate: Gated, Body(input): Body<CreateTokenInput>) -> ApiResult<(StatusCode, Json<NewTokenResponse>)> {
    let (api_token, token) = gate.create_token(input).await?;
    Ok((StatusCode::CREATED, Json(NewTokenResponse { api_token, token })))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = TokenResponse), (status = 403, body = WharfError), (status = 404, body = WharfError)))]
pub async fn revoke_token(gate: Gated, Path(id): Path<String>) -> ApiResult<Json<TokenResponse>> {
    Ok(Json(TokenResponse { api_token: gate.revoke_token(&id).await? }))
}

#[derive(Serialize, ToSchema)]
pub struct ClusterTeams {
    teams: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/teams", tag = "clusters", params(("cluster" = String, Path)),
    responses((status = 200, body = ClusterTeams), (status = 403, body = WharfError), (status = 404, body = WharfError)))]
pub async fn cluster_teams(gate: Gated, Path(cluster): Path<String>) -> ApiResult<Json<ClusterTeams>> {
    Ok(Json(ClusterTeams { teams: gate.cluster_shares(&cluster).await? }))
}

/// Shares the cluster with a team: its deployers may run tasks and services there.
#[utoipa::path(put, path = "/api/v1/clusters/{cluster}/teams/{team}", tag = "clusters", params(("cluster" = String, Path), ("team" = String, Path)),
    responses((status = 200, body = ClusterTeams), (status = 403, body = WharfError), (status = 404, body = WharfError)))]
pub async fn share_cluster(gate: Gated, Path((cluster, team)): Path<(String, String)>) -> ApiResult<Json<ClusterTeams>> {
    Ok(Json(ClusterTeams { teams: gate.share_cluster(&cluster, &team, true).await? }))
}

/// Stops sharing; the team's running tasks there are left running.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/teams/{team}", tag = "clusters", params(("cluster" = String, Path), ("team" = String, Path)),
    responses((status = 200, body = ClusterTeams), (status = 403, body = WharfError), (status = 404, body = WharfError)))]
pub async fn unshare_cluster(gate: Gated, Path((cluster, team)): Path<(String, String)>) -> ApiResult<Json<ClusterTeams>> {
    Ok(Json(ClusterTeams { teams: gate.share_cluster(&cluster, &team, false).await? }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this team's entries (a maintainer's own team; an admin's any).
    team: Option<String>,
    /// Entries older than this sequence number (the last one of the previous page).
    before: Option<i64>,
    /// 1 to 1000; 100 when absent.
    max_results: Option<i64>,
    /// `jsonl`: one JSON object per line, for export.
    format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    entries: Vec<AuditEntry>,
}

/// Every change and every refused attempt, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "accounts", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 403, body = WharfError)))]
pub async fn audit(gate: Gated, Query(q): Query<AuditQuery>) -> ApiResult<Response> {
    let entries = gate.audit_log(q.team.as_deref(), q.before, q.max_results.unwrap_or(100)).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(AuditList { entries }).into_response()),
        Some("jsonl") => {
            let body: String = entries.iter().map(|v| serde_json::to_string(v).unwrap_or_default() + "\n").collect();
            Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
        }
        Some(_) => Err(ApiError(WharfError::invalid_field("format", "json or jsonl"))),
    }
}
