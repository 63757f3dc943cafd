/*! Routes of services. */

use wharf_app::backend::Backend as _;
use super::error::{ApiResult, Body, Query};
use super::{Gated, ListQuery};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wharf_core::WharfError;
use wharf_core::service::{CreateServiceInput, Service, UpdateServiceInput};

#[derive(Serialize, ToSchema)]
pub struct ServiceResponse {
    service: Service,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceList {
    services: Vec<Service>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Delete even though tasks are wanted or running; they are stopped.
    force: Option<bool>,
}

/// Creates a service (ECS CreateService).
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/services", tag = "services", params(("cluster" = String, Path)),
    request_body = CreateServiceInput,
    responses((status = 201, body = ServiceResponse), (status = 400, body = WharfError), (status = 404, body = WharfError),
              (status = 409, body = WharfError)))]
pub async fn create(
    gate: Gated,
    Path(cluster): Path<String>,
    Body(input): Body<CreateServiceInput>,
) -> ApiResult<(StatusCode, Json<ServiceResponse>)> {
    let service = gate.create_service(&cluster, input).await?;
    Ok((StatusCode::CREATED, Json(ServiceResponse { service })))
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/services", tag = "services", params(("cluster" = String, Path), ListQuery),
    responses((status = 200, body = ServiceList), (status = 404, body = WharfError)))]
pub async fn list(gate: Gated, Path(cluster): Path<String>, Query(q): Query<ListQuery>) -> ApiResult<Json<ServiceList>> {
    let paged = gate.list_services(&cluster, q.page()?).await?;
    Ok(Json(ServiceList { services: paged.items, next_token: paged.next_token }))
}

/// Describes a service with its deployments and latest events.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/services/{service}", tag = "services",
    params(("cluster" = String, Path), ("service" = String, Path)),
    responses((status = 200, body = ServiceResponse), (status = 404, body = WharfError)))]
pub async fn describe(gate: Gated, Path((cluster, name)): Path<(String, String)>) -> ApiResult<Json<ServiceResponse>> {
    Ok(Json(ServiceResponse { service: gate.describe_service(&cluster, &name).await? }))
}

/// Updates a service (ECS UpdateService): a new revision, placement or forceNewDeployment
/// starts a deployment; a count change scales the current one.
#[utoipa::path(patch, path = "/api/v1/clusters/{cluster}/services/{service}", tag = "services",
    params(("cluster" = String, Path), ("service" = String, Path)), request_body = UpdateServiceInput,
    responses((status = 200, body = ServiceResponse), (status = 400, body = WharfError), (status = 404, body = WharfError),
              (status = 409, body = WharfError)))]
pub async fn update(
    gate: Gated,
    Path((cluster, name)): Path<(String, String)>,
    Body(input): Body<UpdateServiceInput>,
) -> ApiResult<Json<ServiceResponse>> {
    Ok(Json(ServiceResponse { service: gate.update_service(&cluster, &name, input).await? }))
}

/// Deletes a service (ECS DeleteService); without force a REPLICA service must be at 0.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/services/{service}", tag = "services",
    params(("cluster" = String, Path), ("service" = String, Path), DeleteQuery),
    responses((status = 200, body = ServiceResponse), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn delete(
    gate: Gated,
    Path((cluster, name)): Path<(String, String)>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<Json<ServiceResponse>> {
    let service = gate.delete_service(&cluster, &name, q.force.unwrap_or(false)).await?;
    Ok(Json(ServiceResponse { service }))
}
