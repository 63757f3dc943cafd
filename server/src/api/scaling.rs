/*! Routes of a service's auto scaling, in Application Auto Scaling's shapes. */

use super::Gated;
use super::error::{ApiResult, Body, Query};
use axum::Json;
use axum::extract::Path;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wharf_app::backend::Scaling as _;
use wharf_core::WharfError;
use wharf_core::scaling::{
    InstanceMetrics,
    PutScalingPolicyInput, PutScheduledActionInput, RegisterScalableTargetInput, ScalableTarget, ScalingPolicy, ScheduledAction, ServiceMetrics,
    ServiceScaling,
};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalableTargetResponse {
    scalable_target: ScalableTarget,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingPolicyResponse {
    scaling_policy: ScalingPolicy,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledActionResponse {
    scheduled_action: ScheduledAction,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// How far back, 1 to 1440 minutes; 60 when absent.
    minutes: Option<i64>,
}

impl MetricsQuery {
    fn minutes(&self) -> Result<i64, WharfError> {
        let minutes = self.minutes.unwrap_or(60);
        if !(1..=1440).contains(&minutes) {
            return Err(WharfError::invalid_field("minutes", format!("{minutes} is out of range (1 to 1440)")));
        }
        Ok(minutes)
    }
}

type ServicePath = Path<(String, String)>;
type NamedPath = Path<(String, String, String)>;

/// The service's scalable target, scaling policies, scheduled actions (with their next run)
/// and newest scaling activities.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/services/{service}/scaling", tag = "auto scaling",
    params(("cluster" = String, Path), ("service" = String, Path)),
    responses((status = 200, body = ServiceScaling), (status = 404, body = WharfError)))]
pub async fn describe(gate: Gated, Path((cluster, service)): ServicePath) -> ApiResult<Json<ServiceScaling>> {
    Ok(Json(gate.describe_scaling(&cluster, &service).await?))
}

/// The service's metric samples (desired, running, CPU, memory, requests per target) and the
/// scaling activities among them.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/services/{service}/metrics", tag = "auto scaling",
    params(("cluster" = String, Path), ("service" = String, Path), MetricsQuery),
    responses((status = 200, body = ServiceMetrics), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn metrics(gate: Gated, Path((cluster, service)): ServicePath, Query(q): Query<MetricsQuery>) -> ApiResult<Json<ServiceMetrics>> {
    Ok(Json(gate.service_metrics(&cluster, &service, q.minutes()?).await?))
}

/// The host's CPU and memory use over time, as its agent reported it.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/container-instances/{id}/metrics", tag = "container instances",
    params(("cluster" = String, Path), ("id" = String, Path), MetricsQuery),
    responses((status = 200, body = InstanceMetrics), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn instance_metrics(gate: Gated, Path((cluster, id)): ServicePath, Query(q): Query<MetricsQuery>) -> ApiResult<Json<InstanceMetrics>> {
    Ok(Json(gate.instance_metrics(&cluster, &id, q.minutes()?).await?))
}

/// Registers the service as a scalable target, or changes its bounds and suspend flags
/// (RegisterScalableTarget). A desired count outside the new bounds moves inside at once.
#[utoipa::path(put, path = "/api/v1/clusters/{cluster}/services/{service}/scalable-target", tag = "auto scaling",
    params(("cluster" = String, Path), ("service" = String, Path)), request_body = RegisterScalableTargetInput,
    responses((status = 200, body = ScalableTargetResponse), (status = 400, body = WharfError), (status = 404, body = WharfError), (status = 409, body = WharfError)))]
pub async fn register(gate: Gated, Path((cluster, service)): ServicePath, Body(input): Body<RegisterScalableTargetInput>) -> ApiResult<Json<ScalableTargetResponse>> {
    Ok(Json(ScalableTargetResponse { scalable_target: gate.register_scalable_target(&cluster, &service, input).await? }))
}

/// Deregisters the scalable target with its policies and scheduled actions
/// (DeregisterScalableTarget); the desired count stays where it is.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/services/{service}/scalable-target", tag = "auto scaling",
    params(("cluster" = String, Path), ("service" = String, Path)),
    responses((status = 200, body = ScalableTargetResponse), (status = 404, body = WharfError)))]
pub async fn deregister(gate: Gated, Path((cluster, service)): ServicePath) -> ApiResult<Json<ScalableTargetResponse>> {
    Ok(Json(ScalableTargetResponse { scalable_target: gate.deregister_scalable_target(&cluster, &service).await? }))
}

/// Creates or replaces a scaling policy (PutScalingPolicy): target tracking or step scaling.
#[utoipa::path(put, path = "/api/v1/clusters/{cluster}/services/{service}/scaling-policies/{policy}", tag = "auto scaling",
    params(("cluster" = String, Path), ("service" = String, Path), ("policy" = String, Path)), request_body = PutScalingPolicyInput,
    responses((status = 200, body = ScalingPolicyResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn put_policy(gate: Gated, Path((cluster, service, policy)): NamedPath, Body(input): Body<PutScalingPolicyInput>) -> ApiResult<Json<ScalingPolicyResponse>> {
    Ok(Json(ScalingPolicyResponse { scaling_policy: gate.put_scaling_policy(&cluster, &service, &policy, input).await? }))
}

/// Deletes a scaling policy (DeleteScalingPolicy).
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/services/{service}/scaling-policies/{policy}", tag = "auto scaling",
    params(("cluster" = String, Path), ("service" = String, Path), ("policy" = String, Path)),
    responses((status = 200, body = ScalingPolicyResponse), (status = 404, body = WharfError)))]
pub async fn delete_policy(gate: Gated, Path((cluster, service, policy)): NamedPath) -> ApiResult<Json<ScalingPolicyResponse>> {
    Ok(Json(ScalingPolicyResponse { scaling_policy: gate.delete_scaling_policy(&cluster, &service, &policy).await? }))
}

/// Creates or replaces a scheduled action (PutScheduledAction): at(...), rate(...) or
/// cron(...) in an IANA time zone, setting minCapacity and/or maxCapacity.
#[utoipa::path(put, path = "/api/v1/clusters/{cluster}/services/{service}/scheduled-actions/{action}", tag = "auto scaling",
    params(("cluster" = String, Path), ("service" = String, Path), ("action" = String, Path)), request_body = PutScheduledActionInput,
    responses((status = 200, body = ScheduledActionResponse), (status = 400, body = WharfError), (status = 404, body = WharfError)))]
pub async fn put_action(gate: Gated, Path((cluster, service, action)): NamedPath, Body(input): Body<PutScheduledActionInput>) -> ApiResult<Json<ScheduledActionResponse>> {
    Ok(Json(ScheduledActionResponse { scheduled_action: gate.put_scheduled_action(&cluster, &service, &action, input).await? }))
}

/// Deletes a scheduled action (DeleteScheduledAction).
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/services/{service}/scheduled-actions/{action}", tag = "auto scaling",
    params(("cluster" = String, Path), ("service" = String, Path), ("action" = String, Path)),
    responses((status = 200, body = ScheduledActionResponse), (status = 404, body = WharfError)))]
pub async fn delete_action(gate: Gated, Path((cluster, service, action)): NamedPath) -> ApiResult<Json<ScheduledActionResponse>> {
    Ok(Json(ScheduledActionResponse { scheduled_action: gate.delete_scheduled_action(&cluster, &service, &action).await? }))
}
