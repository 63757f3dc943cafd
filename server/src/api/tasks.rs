/*! Routes of tasks: list, describe, StartTask, StopTask and container logs. */

use wharf_app::backend::Backend as _;
use super::error::{ApiResult, Body, Query};
use wharf_core::topology::Detail;
use super::Gated;
use crate::agents::LogChunk;
use crate::control::tasks::LogQuery;
use axum::Json;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wharf_app::backend::TaskFilter;
use wharf_core::WharfError;
use wharf_core::page::PageRequest;
use wharf_core::task::Task;
use wharf_core::task_input::{RunTaskInput, StartTaskInput, StopTaskInput, TasksStarted};

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

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/tasks", tag = "tasks", params(("cluster" = String, Path), TaskQuery),
    responses((status = 200, body = TaskList), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn list_tasks(gate: Gated, Path(cluster): Path<String>, Query(q): Query<TaskQuery>) -> ApiResult<Json<TaskList>> {
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
    let paged = gate.list_tasks(&cluster, filter, page).await?;
    Ok(Json(TaskList { tasks: paged.items, next_token: paged.next_token }))
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/tasks/{id}", tag = "tasks",
    params(("cluster" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = TaskResponse), (status = 404, body = WharfError)))]
pub async fn describe_task(gate: Gated, Path((cluster, id)): Path<(String, String)>) -> ApiResult<Json<TaskResponse>> {
    Ok(Json(TaskResponse { task: gate.describe_task(&cluster, &id).await? }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopologyQuery {
    /// `instances` (capacity and task counts only), `tasks` (without containers) or
    /// `containers` (everything; the default).
    detail: Option<String>,
}

/// The cluster as the relationship diagram draws it: every container instance with its CPU and
/// memory (registered, reserved by tasks, used at the agent's last sample) and task counts, the
/// live tasks on it with their containers, the services, and the cluster's totals.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/topology", tag = "clusters",
    params(("cluster" = String, Path), TopologyQuery),
    responses((status = 200, body = wharf_core::topology::Topology), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn topology(
    gate: Gated,
    Path(cluster): Path<String>,
    Query(q): Query<TopologyQuery>,
) -> ApiResult<Json<wharf_core::topology::Topology>> {
    let detail = match q.detail.as_deref() {
        None => Detail::default(),
        Some(d) => Detail::parse(d)
            .ok_or_else(|| WharfError::invalid_field("detail", format!("'{d}' is not a detail level; use instances, tasks or containers")))?,
    };
    Ok(Json(gate.topology(&cluster, detail).await?))
}

/// ECS RunTask: the scheduler places `count` tasks by the strategies and constraints given
/// (default: spread over availability zones, then instances); `failures` says why any could
/// not be placed, per reason, with how many instances each filter turned away.
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/tasks", tag = "tasks",
    params(("cluster" = String, Path)), request_body = RunTaskInput,
    responses((status = 200, body = TasksStarted), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn run(
    gate: Gated,
    Path(cluster): Path<String>,
    Body(input): Body<RunTaskInput>,
) -> ApiResult<Json<TasksStarted>> {
    Ok(Json(gate.run_task(&cluster, input).await?))
}

/// ECS StartTask: one task on each container instance named.
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/tasks/start", tag = "tasks",
    params(("cluster" = String, Path)), request_body = StartTaskInput,
    responses((status = 200, body = TasksStarted), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn start(gate: Gated, Path(cluster): Path<String>, Body(input): Body<StartTaskInput>) -> ApiResult<Json<TasksStarted>> {
    Ok(Json(gate.start_task(&cluster, input).await?))
}

/// ECS StopTask: SIGTERM, then SIGKILL after each container's stopTimeout.
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/tasks/{id}/stop", tag = "tasks",
    params(("cluster" = String, Path), ("id" = String, Path)), request_body = StopTaskInput,
    responses((status = 200, body = TaskResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn stop(
    gate: Gated,
    Path((cluster, id)): Path<(String, String)>,
    Body(input): Body<StopTaskInput>,
) -> ApiResult<Json<TaskResponse>> {
    Ok(Json(TaskResponse { task: gate.stop_task(&cluster, &id, input).await? }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// The container's name; the task's first container when absent.
    container: Option<String>,
    /// The last N lines (at most 10000); everything when absent.
    tail: Option<u32>,
    /// Keep the response open and stream new lines.
    follow: Option<bool>,
}

/// A container's log as plain text, one line per line; with `follow=true` the response stays
/// open and new lines stream as the container writes them.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/tasks/{id}/logs", tag = "tasks",
    params(("cluster" = String, Path), ("id" = String, Path), LogsQuery),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn logs(gate: Gated, Path((cluster, id)): Path<(String, String)>, Query(q): Query<LogsQuery>) -> ApiResult<impl IntoResponse> {
    let query = LogQuery { container: q.container, tail: q.tail, follow: q.follow.unwrap_or(false) };
    gate.may_read_task(&cluster, &id).await?;
    let stream = gate.control().task_logs(&cluster, &id, query).await?;
    let gate = std::sync::Arc::new(gate.0);
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let chunk = match s.rx.recv().await? {
            LogChunk::Lines(lines) => lines.into_iter().map(|l| l + "\n").collect::<String>(),
            LogChunk::Error(e) => format!("[wharf: {e}]\n"),
            LogChunk::Gap(n) => format!("[wharf: {n} lines dropped here; the reader fell behind the container]\n"),
        };
        Some((Ok::<_, std::convert::Infallible>(chunk), s))
    });
    let (task_cluster, task) = (cluster.clone(), id.clone());
    let body = super::live::while_allowed(body, move || {
        let (gate, cluster, id) = (gate.clone(), task_cluster.clone(), task.clone());
        async move { gate.still_the_same_caller().await && gate.may_read_task(&cluster, &id).await.is_ok() }
    });
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        axum::body::Body::from_stream(body),
    ))
}
