/*! Routes of join tokens: the clear token is in the create response only. */

use wharf_app::backend::Backend as _;
use super::Gated;
use super::error::{ApiResult, Body, Query};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wharf_core::WharfError;
use wharf_core::join_token::{CreateJoinTokenInput, JoinToken};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedJoinToken {
    join_token: JoinToken,
    /// The token in clear, shown this once: `wharf-agent --token …`.
    token: String,
    /// The command that installs and starts an agent with it on a new host (over HTTPS it
    /// carries the server's certificate and key pins).
    install_command: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinTokenResponse {
    join_token: JoinToken,
    /// The hosts deregistered with it (`deregisterInstances=true`).
    deregistered_instances: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct RevokeQuery {
    /// Also deregister the hosts that joined with the token (their tasks are stopped).
    #[serde(default)]
    deregister_instances: bool,
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
    gate: Gated,
    Path(cluster): Path<String>,
    Body(input): Body<CreateJoinTokenInput>,
) -> ApiResult<(StatusCode, Json<CreatedJoinToken>)> {
    let (join_token, token) = gate.create_join_token(&cluster, input).await?;
    let install_command = gate.agent_install_command(&cluster, &token);
    Ok((StatusCode::CREATED, Json(CreatedJoinToken { join_token, token, install_command })))
}

/// Lists the cluster's join tokens (never their secrets), newest first.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/join-tokens", tag = "clusters", params(("cluster" = String, Path)),
    responses((status = 200, body = JoinTokenList), (status = 404, body = WharfError)))]
pub async fn list(gate: Gated, Path(cluster): Path<String>) -> ApiResult<Json<JoinTokenList>> {
    Ok(Json(JoinTokenList { join_tokens: gate.list_join_tokens(&cluster).await? }))
}

/// Revokes a join token: hosts can no longer register with it. With
/// `deregisterInstances=true` the hosts that joined with it are deregistered too.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/join-tokens/{id}", tag = "clusters",
    params(("cluster" = String, Path), ("id" = String, Path), RevokeQuery),
    responses((status = 200, body = JoinTokenResponse), (status = 404, body = WharfError)))]
pub async fn revoke(gate: Gated, Path((cluster, id)): Path<(String, String)>, Query(query): Query<RevokeQuery>) -> ApiResult<Json<JoinTokenResponse>> {
    let (join_token, deregistered_instances) = gate.revoke_join_token(&cluster, &id, query.deregister_instances).await?;
    Ok(Json(JoinTokenResponse { join_token, deregistered_instances }))
}
