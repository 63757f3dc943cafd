/*! Routes of clusters. */

use wharf_app::backend::Backend as _;
use super::error::{ApiResult, Body, Query};
use super::{Gated, ListQuery};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use wharf_core::WharfError;
use wharf_core::cluster::{Cluster, CreateClusterInput, UpdateClusterInput};

#[derive(Serialize, ToSchema)]
pub struct ClusterResponse {
    cluster: Cluster,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterList {
    clusters: Vec<Cluster>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// Creates a cluster (ECS CreateCluster). Like ECS, creating an existing name returns it (200).
#[utoipa::path(post, path = "/api/v1/clusters", tag = "clusters", request_body = CreateClusterInput,
    responses((status = 201, body = ClusterResponse), (status = 200, description = "It existed already", body = ClusterResponse),
              (status = 400, body = WharfError)))]
pub async fn create(gate: Gated, Body(input): Body<CreateClusterInput>) -> ApiResult<(StatusCode, Json<ClusterResponse>)> {
    let (cluster, created) = gate.create_cluster(input).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(ClusterResponse { cluster })))
}

#[utoipa::path(get, path = "/api/v1/clusters", tag = "clusters", params(ListQuery),
    responses((status = 200, body = ClusterList), (status = 400, body = WharfError)))]
pub async fn list(gate: Gated, Query(q): Query<ListQuery>) -> ApiResult<Json<ClusterList>> {
    let paged = gate.list_clusters(q.page()?).await?;
    Ok(Json(ClusterList { clusters: paged.items, next_token: paged.next_token }))
}

/// Describes a cluster with its counts of instances, tasks and services.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}", tag = "clusters", params(("cluster" = String, Path)),
    responses((status = 200, body = ClusterResponse), (status = 404, body = WharfError)))]
pub async fn describe(gate: Gated, Path(name): Path<String>) -> ApiResult<Json<ClusterResponse>> {
    Ok(Json(ClusterResponse { cluster: gate.describe_cluster(&name).await? }))
}

/// Sets what the cluster's tasks may do (its task policy); running tasks are not touched.
#[utoipa::path(patch, path = "/api/v1/clusters/{cluster}", tag = "clusters", params(("cluster" = String, Path)), request_body = UpdateClusterInput,
    responses((status = 200, body = ClusterResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn update(gate: Gated, Path(name): Path<String>, Body(input): Body<UpdateClusterInput>) -> ApiResult<Json<ClusterResponse>> {
    Ok(Json(ClusterResponse { cluster: gate.update_cluster(&name, input).await? }))
}

/// Deletes an empty cluster; 409 while it has container instances or active services.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}", tag = "clusters", params(("cluster" = String, Path)),
    responses((status = 200, body = ClusterResponse), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn delete(gate: Gated, Path(name): Path<String>) -> ApiResult<Json<ClusterResponse>> {
    Ok(Json(ClusterResponse { cluster: gate.delete_cluster(&name).await? }))
}
