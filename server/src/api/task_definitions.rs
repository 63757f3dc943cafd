/*! Routes of task definitions: register, list, describe, deregister. */

use wharf_app::backend::Backend as _;
use super::error::{ApiResult, Query, RawJson};
use super::Gated;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wharf_app::backend::RevisionFilter;
use wharf_core::task_definition::{TaskDefinition, TaskDefinitionFamily, TaskDefinitionStatus, TaskDefinitionSpec};
use wharf_core::{WharfError, page::PageRequest};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionResponse {
    task_definition: TaskDefinition,
    /// Read-only fields the document carried (from a describe call) and that were ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignored_fields: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionList {
    task_definition_arns: Vec<String>,
    task_definitions: Vec<TaskDefinition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FamilyList {
    families: Vec<TaskDefinitionFamily>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RevisionQuery {
    /// Only families starting with this.
    family_prefix: Option<String>,
    /// Only this family.
    family: Option<String>,
    /// ACTIVE or INACTIVE.
    status: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn status_filter(status: Option<&str>) -> Result<Option<TaskDefinitionStatus>, WharfError> {
    status
        .filter(|s| !s.is_empty())
        .map(|s| {
            TaskDefinitionStatus::parse(s)
                .ok_or_else(|| WharfError::invalid_field("status", format!("'{s}' is not a status; use ACTIVE or INACTIVE")))
        })
        .transpose()
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegisterQuery {
    /// The team a new family goes to; by default the family's team, or the caller's only
    /// team where they may deploy.
    team: Option<String>,
}

/// Registers a new revision of the document's family (ECS RegisterTaskDefinition).
#[utoipa::path(post, path = "/api/v1/task-definitions", tag = "task definitions", params(RegisterQuery),
    request_body(content = TaskDefinitionSpec, description = "ECS RegisterTaskDefinition input, or the output of a describe call"),
    responses((status = 201, body = TaskDefinitionResponse), (status = 400, body = WharfError), (status = 413, body = WharfError)))]
pub async fn register(gate: Gated, Query(q): Query<RegisterQuery>, RawJson(document): RawJson) -> ApiResult<(StatusCode, Json<TaskDefinitionResponse>)> {
    let (task_definition, ignored_fields) = gate.register_task_definition(document, q.team).await?;
    Ok((StatusCode::CREATED, Json(TaskDefinitionResponse { task_definition, ignored_fields })))
}

/// Lists revisions by family and revision (ECS ListTaskDefinitions, with the documents).
#[utoipa::path(get, path = "/api/v1/task-definitions", tag = "task definitions", params(RevisionQuery),
    responses((status = 200, body = TaskDefinitionList), (status = 400, body = WharfError)))]
pub async fn list(gate: Gated, Query(q): Query<RevisionQuery>) -> ApiResult<Json<TaskDefinitionList>> {
    let status = status_filter(q.status.as_deref())?;
    let page = PageRequest { max_results: q.max_results, next_token: q.next_token }.validate()?;
    let filter = RevisionFilter { family: q.family, family_prefix: q.family_prefix, status };
    let paged = gate.list_task_definitions(filter, page).await?;
    Ok(Json(TaskDefinitionList {
        task_definition_arns: paged.items.iter().map(|t| t.task_definition_arn.clone()).collect(),
        task_definitions: paged.items,
        next_token: paged.next_token,
    }))
}

/// Lists families (ECS ListTaskDefinitionFamilies): ACTIVE = has an ACTIVE revision.
#[utoipa::path(get, path = "/api/v1/task-definition-families", tag = "task definitions", params(RevisionQuery),
    responses((status = 200, body = FamilyList), (status = 400, body = WharfError)))]
pub async fn families(gate: Gated, Query(q): Query<RevisionQuery>) -> ApiResult<Json<FamilyList>> {
    let status = status_filter(q.status.as_deref())?;
    let page = PageRequest { max_results: q.max_results, next_token: q.next_token }.validate()?;
    let paged = gate.list_task_definition_families(q.family_prefix, status, page).await?;
    Ok(Json(FamilyList { families: paged.items, next_token: paged.next_token }))
}

/// One revision (`family:revision`), or the latest ACTIVE one (`family`).
#[utoipa::path(get, path = "/api/v1/task-definitions/{taskDefinition}", tag = "task definitions",
    params(("taskDefinition" = String, Path, description = "family:revision, or family for the latest ACTIVE revision")),
    responses((status = 200, body = TaskDefinitionResponse), (status = 404, body = WharfError)))]
pub async fn describe(gate: Gated, Path(reference): Path<String>) -> ApiResult<Json<TaskDefinitionResponse>> {
    let task_definition = gate.describe_task_definition(&reference).await?;
    Ok(Json(TaskDefinitionResponse { task_definition, ignored_fields: Vec::new() }))
}

/// Deregisters a revision: it becomes INACTIVE; services running it keep running.
#[utoipa::path(delete, path = "/api/v1/task-definitions/{taskDefinition}", tag = "task definitions",
    params(("taskDefinition" = String, Path, description = "family:revision")),
    responses((status = 200, body = TaskDefinitionResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn deregister(gate: Gated, Path(reference): Path<String>) -> ApiResult<Json<TaskDefinitionResponse>> {
    let task_definition = gate.deregister_task_definition(&reference).await?;
    Ok(Json(TaskDefinitionResponse { task_definition, ignored_fields: Vec::new() }))
}
