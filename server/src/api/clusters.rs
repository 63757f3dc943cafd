/*! Routes of clusters. */

use super::error::{ApiResult, Body, Query};
use super::{AppState, ListQuery};
use axum::extract::{Path, State};
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
pub async fn create(State(state): State<AppState>, Body(input): Body<CreateClusterInput>) -> ApiResult<(StatusCode, Json<ClusterResponse>)> {
    let (cluster, created) = state.backend.create_cluster(input).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(ClusterResponse { cluster })))
}

#[utoipa::path(get, path = "/api/v1/clusters", tag = "clusters", params(ListQuery),
    responses((status = 200, body = ClusterList), (status = 400, body = WharfError)))]
pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<ClusterList>> {
    let paged = state.backend.list_clusters(q.page()?).await?;
    Ok(Json(ClusterList { clusters: paged.items, next_token: paged.next_token }))
}

/// Describes a cluster with its counts of instances, tasks and services.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}", tag = "clusters", params(("cluster" = String, Path)),
    responses((status = 200, body = ClusterResponse), (status = 404, body = WharfError)))]
pub async fn describe(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<ClusterResponse>> {
    Ok(Json(ClusterResponse { cluster: state.backend.describe_cluster(&name).await? }))
}

/// Sets what the cluster's tasks may do (its task policy); running tasks are not touched.
#[utoipa::path(patch, path = "/api/v1/clusters/{cluster}", tag = "clusters", params(("cluster" = String, Path)), request_body = UpdateClusterInput,
    responses((status = 200, body = ClusterResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn update(State(state): State<AppState>, Path(name): Path<String>, Body(input): Body<UpdateClusterInput>) -> ApiResult<Json<ClusterResponse>> {
    Ok(Json(ClusterResponse { cluster: state.backend.update_cluster(&name, input).await? }))
}

/// Deletes an empty cluster; 409 while it has container instances or active services.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}", tag = "clusters", params(("cluster" = String, Path)),
    responses((status = 200, body = ClusterResponse), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<ClusterResponse>> {
    Ok(Json(ClusterResponse { cluster: state.backend.delete_cluster(&name).await? }))
}
