/*! Routes of secrets, in the manner of Secrets Manager: a value goes in, and never comes out. */

use super::Gated;
use super::error::{ApiResult, Body};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use wharf_core::WharfError;
use wharf_core::secret::{CreateSecretInput, PutSecretValueInput, Secret};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretResponse {
    secret: Secret,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretList {
    secrets: Vec<Secret>,
}

/// Creates a secret owned by a team (the caller's only team when `team` is absent). Task
/// definitions of that team's families name it in `secrets[].valueFrom`.
#[utoipa::path(post, path = "/api/v1/secrets", tag = "secrets", request_body = CreateSecretInput,
    responses((status = 201, body = SecretResponse), (status = 400, body = WharfError), (status = 409, body = WharfError)))]
pub async fn create(gate: Gated, Body(input): Body<CreateSecretInput>) -> ApiResult<(StatusCode, Json<SecretResponse>)> {
    Ok((StatusCode::CREATED, Json(SecretResponse { secret: gate.create_secret(input).await? })))
}

/// The secrets of the caller's teams (every secret for an admin), by name; never values.
#[utoipa::path(get, path = "/api/v1/secrets", tag = "secrets", responses((status = 200, body = SecretList)))]
pub async fn list(gate: Gated) -> ApiResult<Json<SecretList>> {
    Ok(Json(SecretList { secrets: gate.list_secrets().await? }))
}

/// A secret's description; never its value. A name holding `/` is sent encoded (`%2F`).
#[utoipa::path(get, path = "/api/v1/secrets/{name}", tag = "secrets", params(("name" = String, Path)),
    responses((status = 200, body = SecretResponse), (status = 404, body = WharfError)))]
pub async fn describe(gate: Gated, Path(name): Path<String>) -> ApiResult<Json<SecretResponse>> {
    Ok(Json(SecretResponse { secret: gate.describe_secret(&name).await? }))
}

/// Sets a new value; tasks started from now on receive it.
#[utoipa::path(put, path = "/api/v1/secrets/{name}/value", tag = "secrets", params(("name" = String, Path)), request_body = PutSecretValueInput,
    responses((status = 200, body = SecretResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn put_value(gate: Gated, Path(name): Path<String>, Body(input): Body<PutSecretValueInput>) -> ApiResult<Json<SecretResponse>> {
    Ok(Json(SecretResponse { secret: gate.put_secret_value(&name, input).await? }))
}

/// Deletes a secret at once; tasks that name it can no longer start.
#[utoipa::path(delete, path = "/api/v1/secrets/{name}", tag = "secrets", params(("name" = String, Path)),
    responses((status = 200, body = SecretResponse), (status = 404, body = WharfError)))]
pub async fn delete(gate: Gated, Path(name): Path<String>) -> ApiResult<Json<SecretResponse>> {
    Ok(Json(SecretResponse { secret: gate.delete_secret(&name).await? }))
}
