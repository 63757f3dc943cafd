/*! Routes agents call. Registration trades a join token for the instance's own credential. */

use super::error::{ApiResult, Body};
use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use wharf_core::WharfError;
use wharf_core::instance::{ContainerInstance, RegisterInstanceInput};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    container_instance: ContainerInstance,
    /// The instance's own credential (`wic_…`), returned this once; the agent keeps it.
    credential: String,
}

/// Registers a host into the join token's cluster (ECS RegisterContainerInstance).
#[utoipa::path(post, path = "/agent/v1/register", tag = "container instances", request_body = RegisterInstanceInput,
    responses((status = 201, body = Registered), (status = 400, body = WharfError), (status = 401, body = WharfError)))]
pub async fn register(State(state): State<AppState>, Body(input): Body<RegisterInstanceInput>) -> ApiResult<(StatusCode, Json<Registered>)> {
    let (container_instance, credential) = state.control.register_container_instance(input).await?;
    Ok((StatusCode::CREATED, Json(Registered { container_instance, credential })))
}
