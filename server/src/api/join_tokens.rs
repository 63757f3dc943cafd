/*! Routes of join tokens: the clear token is in the create response only. */

use super::AppState;
use super::error::{ApiResult, Body};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use wharf_core::WharfError;
use wharf_core::join_token::{CreateJoinTokenInput, JoinToken};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedJoinToken {
    join_token: JoinToken,
    /// The token in clear, shown this once: `wharf-agent --token …`.
    token: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinTokenResponse {
    join_token: JoinToken,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinTokenList {
    join_tokens: Vec<JoinToken>,
}

/// Creates a join token for the cluster; the response holds the secret, once.
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/join-tokens", tag = "clusters", params(("cluster" = String, Path)),
    request_body = CreateJoinTokenInput,
    responses((status = 201, body = CreatedJoinToken), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn create(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
    Body(input): Body<CreateJoinTokenInput>,
) -> ApiResult<(StatusCode, Json<CreatedJoinToken>)> {
    let (join_token, token) = state.backend.create_join_token(&cluster, input).await?;
    Ok((StatusCode::CREATED, Json(CreatedJoinToken { join_token, token })))
}

/// Lists the cluster's join tokens (never their secrets), newest first.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/join-tokens", tag = "clusters", params(("cluster" = String, Path)),
    responses((status = 200, body = JoinTokenList), (status = 404, body = WharfError)))]
pub async fn list(State(state): State<AppState>, Path(cluster): Path<String>) -> ApiResult<Json<JoinTokenList>> {
    Ok(Json(JoinTokenList { join_tokens: state.backend.list_join_tokens(&cluster).await? }))
}

/// Revokes a join token: hosts can no longer register with it.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/join-tokens/{id}", tag = "clusters",
    params(("cluster" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = JoinTokenResponse), (status = 404, body = WharfError)))]
pub async fn revoke(State(state): State<AppState>, Path((cluster, id)): Path<(String, String)>) -> ApiResult<Json<JoinTokenResponse>> {
    Ok(Json(JoinTokenResponse { join_token: state.backend.revoke_join_token(&cluster, &id).await? }))
}
