/*! Routes of container instances: list, describe, drain, attributes, deregister. */

use wharf_app::backend::Backend as _;
use super::error::{ApiResult, Body, Query};
use super::{Gated, ListQuery};
use axum::extract::Path;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wharf_core::WharfError;
use wharf_core::instance::{ContainerInstance, PutAttributesInput};
use wharf_core::task_input::UpdateInstanceInput;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceList {
    container_instances: Vec<ContainerInstance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceResponse {
    container_instance: ContainerInstance,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InstanceListQuery {
    /// ACTIVE, DRAINING or INACTIVE; by default every status but INACTIVE, as in ECS.
    status: Option<String>,
    /// 1 to 1000; 100 when absent.
    max_results: Option<i64>,
    /// From the previous page's `nextToken`.
    next_token: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/container-instances", tag = "container instances",
    params(("cluster" = String, Path), InstanceListQuery),
    responses((status = 200, body = InstanceList), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn list(gate: Gated, Path(cluster): Path<String>, Query(q): Query<InstanceListQuery>) -> ApiResult<Json<InstanceList>> {
    let page = ListQuery { max_results: q.max_results, next_token: q.next_token }.page()?;
    let paged = gate.list_container_instances(&cluster, q.status, page).await?;
    Ok(Json(InstanceList { container_instances: paged.items, next_token: paged.next_token }))
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/container-instances/{id}", tag = "container instances",
    params(("cluster" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = InstanceResponse), (status = 404, body = WharfError)))]
pub async fn describe(gate: Gated, Path((cluster, id)): Path<(String, String)>) -> ApiResult<Json<InstanceResponse>> {
    Ok(Json(InstanceResponse { container_instance: gate.describe_container_instance(&cluster, &id).await? }))
}


/// ECS UpdateContainerInstancesState: DRAINING takes the instance out of placement, ACTIVE back in.
#[utoipa::path(patch, path = "/api/v1/clusters/{cluster}/container-instances/{id}", tag = "container instances",
    params(("cluster" = String, Path), ("id" = String, Path)), request_body = UpdateInstanceInput,
    responses((status = 200, body = InstanceResponse), (status = 400, body = WharfError), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn update(
    gate: Gated,
    Path((cluster, id)): Path<(String, String)>,
    Body(input): Body<UpdateInstanceInput>,
) -> ApiResult<Json<InstanceResponse>> {
    Ok(Json(InstanceResponse { container_instance: gate.update_container_instance_state(&cluster, &id, input).await? }))
}

/// ECS PutAttributes for one instance: the attributes an admin gives it, replacing those given
/// before (`[]` takes them away). They override what the host and its join token say, trusted
/// names included; `ecs.*` names are reserved as for join tokens.
#[utoipa::path(put, path = "/api/v1/clusters/{cluster}/container-instances/{id}/attributes", tag = "container instances",
    params(("cluster" = String, Path), ("id" = String, Path)), request_body = PutAttributesInput,
    responses((status = 200, body = InstanceResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn put_attributes(
    gate: Gated,
    Path((cluster, id)): Path<(String, String)>,
    Body(input): Body<PutAttributesInput>,
) -> ApiResult<Json<InstanceResponse>> {
    Ok(Json(InstanceResponse { container_instance: gate.put_attributes(&cluster, &id, input).await? }))
}

/// ECS DeregisterContainerInstance: its tasks stop and it leaves the cluster (INACTIVE).
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/container-instances/{id}", tag = "container instances",
    params(("cluster" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = InstanceResponse), (status = 404, body = WharfError)))]
pub async fn deregister(gate: Gated, Path((cluster, id)): Path<(String, String)>) -> ApiResult<Json<InstanceResponse>> {
    Ok(Json(InstanceResponse { container_instance: gate.deregister_container_instance(&cluster, &id).await? }))
}
