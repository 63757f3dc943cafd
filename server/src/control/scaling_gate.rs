/*!
Who may touch a service's auto scaling: whoever may update the service (a deployer of its
team, in a cluster shared with the team) changes its scalable target, policies and scheduled
actions; whoever may read the service reads them and its metrics.
*/

use super::gate::Gate;
use super::scaling as ctl;
use wharf_app::backend::{Backend as _, Result};
use wharf_core::access::Action;
use wharf_core::scaling::{
    InstanceMetrics, PutScalingPolicyInput, PutScheduledActionInput, RegisterScalableTargetInput, ScalableTarget, ScalingPolicy, ScheduledAction, ServiceMetrics,
    ServiceScaling,
};
use wharf_core::task_definition::family_of;

impl Gate {
    /// Checks `action` on the service (by its family's team); returns the team.
    async fn on_service(&self, cluster: &str, service: &str, action: Action, what: &str) -> Result<Option<String>> {
        let current = self.control().describe_service(cluster, service).await?;
        let shared = match action {
            Action::Read => None,
            _ => Some(self.cluster_teams(cluster).await?),
        };
        self.on_family(action, family_of(&current.config.task_definition), shared.as_deref(), what, &format!("{cluster}/{service}")).await
    }

    async fn scaling_change<T>(&self, cluster: &str, service: &str, what: &str, run: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let team = self.on_service(cluster, service, Action::Deploy, what).await?;
        let out = self.change(what, &format!("{cluster}/{service}"), team, run).await;
        if out.is_ok() {
            self.control().events().publish("scaling", Some(cluster), serde_json::json!({"serviceName": service}));
        }
        out
    }
}

/// The API's routes and the portal's service page go through these.
#[async_trait::async_trait]
impl wharf_app::backend::Scaling for Gate {
    async fn describe_scaling(&self, cluster: &str, service: &str) -> Result<ServiceScaling> {
        self.on_service(cluster, service, Action::Read, "DescribeScalableTargets").await?;
        ctl::describe(&mut *self.control().read().await?, cluster, service).await
    }

    async fn service_metrics(&self, cluster: &str, service: &str, minutes: i64) -> Result<ServiceMetrics> {
        self.on_service(cluster, service, Action::Read, "GetMetricData").await?;
        let (samples, scaling_activities) = ctl::metrics(&mut *self.control().read().await?, cluster, service, minutes).await?;
        Ok(ServiceMetrics { samples, scaling_activities })
    }

    async fn instance_metrics(&self, cluster: &str, instance: &str, minutes: i64) -> Result<InstanceMetrics> {
        let found = self.describe_container_instance(cluster, instance).await?;
        let since = chrono::Utc::now().timestamp() - minutes.clamp(1, 24 * 60) * 60;
        let samples = crate::store::scaling::host_samples(&mut *self.control().read().await?, &found.id, since).await?;
        Ok(InstanceMetrics { samples })
    }

    async fn preview_schedule(&self, input: PutScheduledActionInput) -> Result<Vec<String>> {
        self.who()?;
        ctl::preview_schedule(&input)
    }

    async fn register_scalable_target(&self, cluster: &str, service: &str, input: RegisterScalableTargetInput) -> Result<ScalableTarget> {
        let run = ctl::register_scalable_target(self.control().store(), cluster, service, input);
        let out = self.scaling_change(cluster, service, "RegisterScalableTarget", run).await;
        // A desired count moved into the new bounds is the scheduler's to act on.
        self.control().agents().wake_scheduler();
        out
    }

    async fn deregister_scalable_target(&self, cluster: &str, service: &str) -> Result<ScalableTarget> {
        let run = ctl::deregister_scalable_target(self.control().store(), cluster, service);
        self.scaling_change(cluster, service, "DeregisterScalableTarget", run).await
    }

    async fn put_scaling_policy(&self, cluster: &str, service: &str, policy: &str, input: PutScalingPolicyInput) -> Result<ScalingPolicy> {
        let run = ctl::put_scaling_policy(self.control().store(), cluster, service, policy, input);
        self.scaling_change(cluster, service, "PutScalingPolicy", run).await
    }

    async fn delete_scaling_policy(&self, cluster: &str, service: &str, policy: &str) -> Result<ScalingPolicy> {
        let run = ctl::delete_scaling_policy(self.control().store(), cluster, service, policy);
        self.scaling_change(cluster, service, "DeleteScalingPolicy", run).await
    }

    async fn put_scheduled_action(&self, cluster: &str, service: &str, action: &str, input: PutScheduledActionInput) -> Result<ScheduledAction> {
        let run = ctl::put_scheduled_action(self.control().store(), cluster, service, action, input);
        self.scaling_change(cluster, service, "PutScheduledAction", run).await
    }

    async fn delete_scheduled_action(&self, cluster: &str, service: &str, action: &str) -> Result<ScheduledAction> {
        let run = ctl::delete_scheduled_action(self.control().store(), cluster, service, action);
        self.scaling_change(cluster, service, "DeleteScheduledAction", run).await
    }
}
