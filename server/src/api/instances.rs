/*! Routes of container instances and tasks (read side; agents and the scheduler write). */

use super::error::{ApiResult, Query};
use super::{AppState, ListQuery};
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wharf_app::backend::TaskFilter;
use wharf_core::WharfError;
use wharf_core::instance::ContainerInstance;
use wharf_core::page::PageRequest;
use wharf_core::task::Task;

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

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskList {
    tasks: Vec<Task>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskResponse {
    task: Task,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    service_name: Option<String>,
    /// RUNNING, PENDING or STOPPED.
    desired_status: Option<String>,
    container_instance: Option<String>,
    family: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/container-instances", tag = "container instances",
    params(("cluster" = String, Path), ListQuery),
    responses((status = 200, body = InstanceList), (status = 404, body = WharfError)))]
pub async fn list(State(state): State<AppState>, Path(cluster): Path<String>, Query(q): Query<ListQuery>) -> ApiResult<Json<InstanceList>> {
    let paged = state.backend.list_container_instances(&cluster, q.page()?).await?;
    Ok(Json(InstanceList { container_instances: paged.items, next_token: paged.next_token }))
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/container-instances/{id}", tag = "container instances",
    params(("cluster" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = InstanceResponse), (status = 404, body = WharfError)))]
pub async fn describe(State(state): State<AppState>, Path((cluster, id)): Path<(String, String)>) -> ApiResult<Json<InstanceResponse>> {
    Ok(Json(InstanceResponse { container_instance: state.backend.describe_container_instance(&cluster, &id).await? }))
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/tasks", tag = "tasks", params(("cluster" = String, Path), TaskQuery),
    responses((status = 200, body = TaskList), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn list_tasks(State(state): State<AppState>, Path(cluster): Path<String>, Query(q): Query<TaskQuery>) -> ApiResult<Json<TaskList>> {
    if let Some(s) = q.desired_status.as_deref().filter(|s| !["RUNNING", "PENDING", "STOPPED"].contains(s)) {
        return Err(WharfError::invalid_field("desiredStatus", format!("'{s}' is not a desired status; use RUNNING, PENDING or STOPPED")).into());
    }
    let page = PageRequest { max_results: q.max_results, next_token: q.next_token }.validate()?;
    let filter = TaskFilter {
        service_name: q.service_name,
        desired_status: q.desired_status,
        container_instance: q.container_instance,
        family: q.family,
    };
    let paged = state.backend.list_tasks(&cluster, filter, page).await?;
    Ok(Json(TaskList { tasks: paged.items, next_token: paged.next_token }))
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/tasks/{id}", tag = "tasks",
    params(("cluster" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 404, body = WharfError)))]
pub async fn describe_task(State(state): State<AppState>, Path((cluster, id)): Path<(String, String)>) -> ApiResult<Json<TaskResponse>> {
    Ok(Json(TaskResponse { task: state.backend.describe_task(&cluster, &id).await? }))
}
