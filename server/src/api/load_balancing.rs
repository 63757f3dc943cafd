/*! Routes of target groups and listeners, in Elastic Load Balancing's shape, per cluster. */

use super::Gated;
use super::error::{ApiResult, Body};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use wharf_core::WharfError;
use wharf_core::load_balancing::{
    CreateListenerInput, CreateRuleInput, CreateTargetGroupInput, Listener, ModifyListenerInput, TargetGroup, TargetGroupSettings,
    TargetHealthDescription,
};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupResponse {
    target_group: TargetGroup,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupList {
    target_groups: Vec<TargetGroup>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealthList {
    target_health_descriptions: Vec<TargetHealthDescription>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerResponse {
    listener: Listener,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerList {
    listeners: Vec<Listener>,
}

/// Creates a target group (ELB CreateTargetGroup) owned by a team: ALB's health check and
/// deregistration delay unless given.
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/target-groups", tag = "load balancing", params(("cluster" = String, Path)),
    request_body = CreateTargetGroupInput,
    responses((status = 201, body = TargetGroupResponse), (status = 400, body = WharfError), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn create_target_group(gate: Gated, Path(cluster): Path<String>, Body(input): Body<CreateTargetGroupInput>) -> ApiResult<(StatusCode, Json<TargetGroupResponse>)> {
    Ok((StatusCode::CREATED, Json(TargetGroupResponse { target_group: gate.create_target_group(&cluster, input).await? })))
}

/// The cluster's target groups the caller may read, by name.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/target-groups", tag = "load balancing", params(("cluster" = String, Path)),
    responses((status = 200, body = TargetGroupList), (status = 404, body = WharfError)))]
pub async fn list_target_groups(gate: Gated, Path(cluster): Path<String>) -> ApiResult<Json<TargetGroupList>> {
    Ok(Json(TargetGroupList { target_groups: gate.list_target_groups(&cluster).await? }))
}

/// A target group by name or ARN (an ARN's slashes sent as `%2F`).
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/target-groups/{name}", tag = "load balancing",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = TargetGroupResponse), (status = 404, body = WharfError)))]
pub async fn describe_target_group(gate: Gated, Path((cluster, name)): Path<(String, String)>) -> ApiResult<Json<TargetGroupResponse>> {
    Ok(Json(TargetGroupResponse { target_group: gate.describe_target_group(&cluster, &name).await? }))
}

/// Changes the health check or the deregistration delay (ELB ModifyTargetGroup).
#[utoipa::path(patch, path = "/api/v1/clusters/{cluster}/target-groups/{name}", tag = "load balancing",
    params(("cluster" = String, Path), ("name" = String, Path)), request_body = TargetGroupSettings,
    responses((status = 200, body = TargetGroupResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn modify_target_group(gate: Gated, Path((cluster, name)): Path<(String, String)>, Body(input): Body<TargetGroupSettings>) -> ApiResult<Json<TargetGroupResponse>> {
    Ok(Json(TargetGroupResponse { target_group: gate.modify_target_group(&cluster, &name, input).await? }))
}

/// Deletes a target group no listener or service uses any more.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/target-groups/{name}", tag = "load balancing",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = TargetGroupResponse), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn delete_target_group(gate: Gated, Path((cluster, name)): Path<(String, String)>) -> ApiResult<Json<TargetGroupResponse>> {
    Ok(Json(TargetGroupResponse { target_group: gate.delete_target_group(&cluster, &name).await? }))
}

/// Each target of the group with its health (ELB DescribeTargetHealth).
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/target-groups/{name}/targets", tag = "load balancing",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = TargetHealthList), (status = 404, body = WharfError)))]
pub async fn describe_target_health(gate: Gated, Path((cluster, name)): Path<(String, String)>) -> ApiResult<Json<TargetHealthList>> {
    Ok(Json(TargetHealthList { target_health_descriptions: gate.describe_target_health(&cluster, &name).await? }))
}

/// Opens a port on the load balancer (ELB CreateListener); an admin's to do.
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/listeners", tag = "load balancing", params(("cluster" = String, Path)),
    request_body = CreateListenerInput,
    responses((status = 201, body = ListenerResponse), (status = 400, body = WharfError), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn create_listener(gate: Gated, Path(cluster): Path<String>, Body(input): Body<CreateListenerInput>) -> ApiResult<(StatusCode, Json<ListenerResponse>)> {
    Ok((StatusCode::CREATED, Json(ListenerResponse { listener: gate.create_listener(&cluster, input).await? })))
}

/// The cluster's listeners, with the rules the caller may read.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/listeners", tag = "load balancing", params(("cluster" = String, Path)),
    responses((status = 200, body = ListenerList), (status = 404, body = WharfError)))]
pub async fn list_listeners(gate: Gated, Path(cluster): Path<String>) -> ApiResult<Json<ListenerList>> {
    Ok(Json(ListenerList { listeners: gate.list_listeners(&cluster).await? }))
}

#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/listeners/{port}", tag = "load balancing",
    params(("cluster" = String, Path), ("port" = i64, Path)),
    responses((status = 200, body = ListenerResponse), (status = 404, body = WharfError)))]
pub async fn describe_listener(gate: Gated, Path((cluster, port)): Path<(String, String)>) -> ApiResult<Json<ListenerResponse>> {
    Ok(Json(ListenerResponse { listener: gate.describe_listener(&cluster, number("port", &port)?).await? }))
}

/// Changes where requests no rule takes go (ELB ModifyListener).
#[utoipa::path(patch, path = "/api/v1/clusters/{cluster}/listeners/{port}", tag = "load balancing",
    params(("cluster" = String, Path), ("port" = i64, Path)), request_body = ModifyListenerInput,
    responses((status = 200, body = ListenerResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn modify_listener(gate: Gated, Path((cluster, port)): Path<(String, String)>, Body(input): Body<ModifyListenerInput>) -> ApiResult<Json<ListenerResponse>> {
    Ok(Json(ListenerResponse { listener: gate.modify_listener(&cluster, number("port", &port)?, input).await? }))
}

/// Closes the port, with its rules.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/listeners/{port}", tag = "load balancing",
    params(("cluster" = String, Path), ("port" = i64, Path)),
    responses((status = 200, body = ListenerResponse), (status = 404, body = WharfError)))]
pub async fn delete_listener(gate: Gated, Path((cluster, port)): Path<(String, String)>) -> ApiResult<Json<ListenerResponse>> {
    Ok(Json(ListenerResponse { listener: gate.delete_listener(&cluster, number("port", &port)?).await? }))
}

/// Adds a rule forwarding to one of the caller's team's target groups (ELB CreateRule).
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/listeners/{port}/rules", tag = "load balancing",
    params(("cluster" = String, Path), ("port" = i64, Path)), request_body = CreateRuleInput,
    responses((status = 201, body = ListenerResponse), (status = 400, body = WharfError), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn create_rule(gate: Gated, Path((cluster, port)): Path<(String, String)>, Body(input): Body<CreateRuleInput>) -> ApiResult<(StatusCode, Json<ListenerResponse>)> {
    Ok((StatusCode::CREATED, Json(ListenerResponse { listener: gate.create_rule(&cluster, number("port", &port)?, input).await? })))
}

#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/listeners/{port}/rules/{priority}", tag = "load balancing",
    params(("cluster" = String, Path), ("port" = i64, Path), ("priority" = i64, Path)),
    responses((status = 200, body = ListenerResponse), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn delete_rule(gate: Gated, Path((cluster, port, priority)): Path<(String, String, String)>) -> ApiResult<Json<ListenerResponse>> {
    Ok(Json(ListenerResponse { listener: gate.delete_rule(&cluster, number("port", &port)?, number("priority", &priority)?).await? }))
}

/// One Prometheus `http_sd` target group: addresses sharing labels.
#[derive(Serialize, ToSchema)]
pub struct HttpSdGroup {
    targets: Vec<String>,
    labels: std::collections::BTreeMap<String, String>,
}

/// The group's targets for Prometheus's HTTP service discovery (`http_sd_config`): one entry
/// per target, labelled with its task, service, container and health. Draining targets are
/// left out, as the load balancer sends them nothing new.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/target-groups/{name}/http-sd", tag = "load balancing",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Vec<HttpSdGroup>), (status = 404, body = WharfError)))]
pub async fn http_sd(gate: Gated, Path((cluster, name)): Path<(String, String)>) -> ApiResult<Json<Vec<HttpSdGroup>>> {
    let group = gate.describe_target_group(&cluster, &name).await?;
    let targets = gate.describe_target_health(&cluster, &name).await?;
    Ok(Json(
        targets
            .into_iter()
            .filter(|t| t.target_health.state != "draining")
            .map(|t| HttpSdGroup {
                targets: vec![address(&t)],
                labels: [
                    ("__meta_wharf_cluster", cluster.clone()),
                    ("__meta_wharf_target_group", group.target_group_name.clone()),
                    ("__meta_wharf_service", t.service_name.clone()),
                    ("__meta_wharf_task_id", t.task_id.clone()),
                    ("__meta_wharf_container", t.container_name.clone()),
                    ("__meta_wharf_target_health", t.target_health.state.clone()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            })
            .collect(),
    ))
}

/// A target group's addresses for another proxy to follow (nginx, HAProxy, Traefik).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    target_group_arn: String,
    /// `host:port` of the targets that pass their health checks: where to send requests.
    healthy: Vec<String>,
    /// Every target with its health, draining ones included.
    targets: Vec<Endpoint>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    address: String,
    task_id: String,
    state: String,
}

/// The group's targets as plain JSON: the healthy addresses, and every target's state.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/target-groups/{name}/endpoints", tag = "load balancing",
    params(("cluster" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Endpoints), (status = 404, body = WharfError)))]
pub async fn endpoints(gate: Gated, Path((cluster, name)): Path<(String, String)>) -> ApiResult<Json<Endpoints>> {
    let group = gate.describe_target_group(&cluster, &name).await?;
    let targets = gate.describe_target_health(&cluster, &name).await?;
    Ok(Json(Endpoints {
        target_group_arn: group.target_group_arn,
        healthy: targets.iter().filter(|t| t.target_health.state == "healthy").map(address).collect(),
        targets: targets.iter().map(|t| Endpoint { address: address(t), task_id: t.task_id.clone(), state: t.target_health.state.clone() }).collect(),
    }))
}

fn address(t: &TargetHealthDescription) -> String {
    let ip: std::net::IpAddr = t.target.id.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    std::net::SocketAddr::new(ip, u16::try_from(t.target.port).unwrap_or(0)).to_string()
}

/// A number in the path, or an error naming it (not the router's plain-text refusal).
fn number(field: &str, text: &str) -> Result<i64, WharfError> {
    text.parse().map_err(|_| WharfError::invalid_field(field, format!("'{text}' is not a whole number")))
}
