/*!
What the portal's server functions may ask of the server. The server implements this over its
store; the portal reaches it through Leptos context, never the database directly.
*/

use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;
use wharf_core::cluster::{Cluster, CreateClusterInput, UpdateClusterInput};
use wharf_core::instance::ContainerInstance;
use wharf_core::join_token::{CreateJoinTokenInput, JoinToken};
use wharf_core::page::{Page, Paged};
use wharf_core::service::{CreateServiceInput, Service, UpdateServiceInput};
use wharf_core::task::Task;
use wharf_core::task_input::{RunTaskInput, StartTaskInput, StopTaskInput, TasksStarted, UpdateInstanceInput};
use wharf_core::task_definition::{TaskDefinition, TaskDefinitionFamily, TaskDefinitionStatus};
use wharf_core::WharfError;
use wharf_core::account::{AuditEntry, CreateTeamInput, CreateUserInput, SetMemberInput, Team, UpdateUserInput, User};

pub type Result<T> = std::result::Result<T, WharfError>;

/// Filters of `GET /api/v1/clusters/{cluster}/tasks`.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub service_name: Option<String>,
    pub desired_status: Option<String>,
    pub container_instance: Option<String>,
    pub family: Option<String>,
}

/// Filters of `GET /api/v1/task-definitions`.
#[derive(Debug, Clone, Default)]
pub struct RevisionFilter {
    pub family: Option<String>,
    pub family_prefix: Option<String>,
    pub status: Option<TaskDefinitionStatus>,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn create_cluster(&self, input: CreateClusterInput) -> Result<(Cluster, bool)>;
    async fn list_clusters(&self, page: Page) -> Result<Paged<Cluster>>;
    async fn describe_cluster(&self, name: &str) -> Result<Cluster>;
    /// Sets what the cluster's tasks may do (ECS UpdateCluster, for the task policy).
    async fn update_cluster(&self, name: &str, input: UpdateClusterInput) -> Result<Cluster>;
    async fn delete_cluster(&self, name: &str) -> Result<Cluster>;

    /// Registers a new revision; also returns the read-only fields the document carried.
    /// With a team, the family must be that team's (a new family becomes it); without one,
    /// the family's team, or the caller's only team, is meant.
    async fn register_task_definition(&self, document: Value, team: Option<String>) -> Result<(TaskDefinition, Vec<String>)>;
    async fn list_task_definition_families(
        &self,
        family_prefix: Option<String>,
        status: Option<TaskDefinitionStatus>,
        page: Page,
    ) -> Result<Paged<TaskDefinitionFamily>>;
    async fn list_task_definitions(&self, filter: RevisionFilter, page: Page) -> Result<Paged<TaskDefinition>>;
    /// `family:revision`, or `family` for the latest ACTIVE revision.
    async fn describe_task_definition(&self, reference: &str) -> Result<TaskDefinition>;
    async fn deregister_task_definition(&self, reference: &str) -> Result<TaskDefinition>;

    async fn create_service(&self, cluster: &str, input: CreateServiceInput) -> Result<Service>;
    async fn list_services(&self, cluster: &str, page: Page) -> Result<Paged<Service>>;
    async fn describe_service(&self, cluster: &str, name: &str) -> Result<Service>;
    async fn update_service(&self, cluster: &str, name: &str, input: UpdateServiceInput) -> Result<Service>;
    async fn delete_service(&self, cluster: &str, name: &str, force: bool) -> Result<Service>;

    /// A new join token; the clear token is returned here and never again.
    async fn create_join_token(&self, cluster: &str, input: CreateJoinTokenInput) -> Result<(JoinToken, String)>;
    async fn list_join_tokens(&self, cluster: &str) -> Result<Vec<JoinToken>>;
    /// Revokes a join token; with `deregister_instances`, also deregisters the hosts that
    /// joined with it (their ids are returned).
    async fn revoke_join_token(&self, cluster: &str, id: &str, deregister_instances: bool) -> Result<(JoinToken, Vec<String>)>;

    /// The cluster's instances of `status` (see `wharf_core::instance::status_filter`; none:
    /// all but the deregistered).
    async fn list_container_instances(&self, cluster: &str, status: Option<String>, page: Page) -> Result<Paged<ContainerInstance>>;
    async fn describe_container_instance(&self, cluster: &str, id: &str) -> Result<ContainerInstance>;
    async fn list_tasks(&self, cluster: &str, filter: TaskFilter, page: Page) -> Result<Paged<Task>>;
    async fn describe_task(&self, cluster: &str, id: &str) -> Result<Task>;
    /// The newest tasks, newest first.
    async fn recent_tasks(&self, cluster: &str, limit: i64) -> Result<Vec<Task>>;
    /// The newest tasks that stopped on their own (an essential container exited, a start
    /// failed, the host lost them), newest first.
    async fn recent_failed_tasks(&self, cluster: &str, limit: i64) -> Result<Vec<Task>>;
    /// The tasks that stopped on an instance most recently, newest first.
    async fn recently_stopped_on(&self, cluster: &str, instance: &str, limit: i64) -> Result<Vec<Task>>;
    /// The newest events of the cluster's services, newest first, with the service's name.
    async fn recent_service_events(&self, cluster: &str, limit: i64) -> Result<Vec<(String, wharf_core::service::ServiceEvent)>>;
    /// ECS StartTask: one task on each named instance; refusals come back as `failures`.
    async fn start_task(&self, cluster: &str, input: StartTaskInput) -> Result<TasksStarted>;
    async fn run_task(&self, cluster: &str, input: RunTaskInput) -> Result<TasksStarted>;
    async fn stop_task(&self, cluster: &str, id: &str, input: StopTaskInput) -> Result<Task>;
    /// ACTIVE or DRAINING.
    async fn update_container_instance_state(&self, cluster: &str, id: &str, input: UpdateInstanceInput) -> Result<ContainerInstance>;
    /// Stops the instance's tasks and takes it out of the cluster (INACTIVE).
    async fn deregister_container_instance(&self, cluster: &str, id: &str) -> Result<ContainerInstance>;
    /// ECS PutAttributes: the attributes an admin gives an instance, replacing those given before.
    async fn put_attributes(&self, cluster: &str, id: &str, input: wharf_core::instance::PutAttributesInput) -> Result<ContainerInstance>;
    /// The cluster as the relationship diagram draws it.
    /// A cluster's totals (instances, tasks, capacity) without its instances one by one.
    async fn cluster_summary(&self, cluster: &str) -> Result<wharf_core::topology::Summary>;
    async fn topology(&self, cluster: &str, detail: wharf_core::topology::Detail) -> Result<wharf_core::topology::Topology>;
    /// The topology with only the instances `pick` chooses (by position, from every instance
    /// without its tasks), whose tasks alone are read; the summary and services stay whole
    /// and `partial` says when some were left out.
    async fn topology_of_some(
        &self,
        cluster: &str,
        detail: wharf_core::topology::Detail,
        pick: &(dyn for<'t> Fn(&'t wharf_core::topology::Topology) -> Vec<usize> + Send + Sync),
    ) -> Result<wharf_core::topology::Topology>;
    /// The command that installs and starts an agent on a new host, for a clear join token.
    fn agent_install_command(&self, cluster: &str, token: &str) -> String;

    /// What the portal may offer on a family's objects (or in general, for None).
    async fn abilities(&self, _family: Option<String>) -> Result<wharf_core::access::Abilities> {
        Ok(wharf_core::access::Abilities::default())
    }

    /// Who is asking (None when signed out, or for the server's own use).
    fn subject(&self) -> Option<wharf_core::access::Subject> {
        None
    }

    /// The CSRF token of the session asking, which the page hands its scripts and forms.
    fn csrf_token(&self) -> Option<String> {
        None
    }

    /// People, teams and the audit log, when the backend has accounts.
    fn accounts(&self) -> Option<&dyn Accounts> {
        None
    }

    /// Teams' secrets, when the backend keeps them.
    fn secrets(&self) -> Option<&dyn Secrets> {
        None
    }

    /// Target groups and listeners, when the backend balances load.
    fn load_balancing(&self) -> Option<&dyn LoadBalancing> {
        None
    }

    /// Services' auto scaling, when the backend scales them.
    fn scaling(&self) -> Option<&dyn Scaling> {
        None
    }
}

/// Services' auto scaling (Application Auto Scaling's calls), checked and recorded as through
/// the API.
#[async_trait]
pub trait Scaling: Send + Sync {
    async fn describe_scaling(&self, cluster: &str, service: &str) -> Result<wharf_core::scaling::ServiceScaling>;
    async fn service_metrics(&self, cluster: &str, service: &str, minutes: i64) -> Result<wharf_core::scaling::ServiceMetrics>;
    async fn instance_metrics(&self, cluster: &str, instance: &str, minutes: i64) -> Result<wharf_core::scaling::InstanceMetrics>;
    async fn register_scalable_target(
        &self,
        cluster: &str,
        service: &str,
        input: wharf_core::scaling::RegisterScalableTargetInput,
    ) -> Result<wharf_core::scaling::ScalableTarget>;
    async fn deregister_scalable_target(&self, cluster: &str, service: &str) -> Result<wharf_core::scaling::ScalableTarget>;
    async fn put_scaling_policy(
        &self,
        cluster: &str,
        service: &str,
        policy: &str,
        input: wharf_core::scaling::PutScalingPolicyInput,
    ) -> Result<wharf_core::scaling::ScalingPolicy>;
    async fn delete_scaling_policy(&self, cluster: &str, service: &str, policy: &str) -> Result<wharf_core::scaling::ScalingPolicy>;
    async fn put_scheduled_action(
        &self,
        cluster: &str,
        service: &str,
        action: &str,
        input: wharf_core::scaling::PutScheduledActionInput,
    ) -> Result<wharf_core::scaling::ScheduledAction>;
    async fn delete_scheduled_action(&self, cluster: &str, service: &str, action: &str) -> Result<wharf_core::scaling::ScheduledAction>;
    /// A scheduled action's next runs (in its zone), or its problems by field.
    async fn preview_schedule(&self, input: wharf_core::scaling::PutScheduledActionInput) -> Result<Vec<String>>;
}

/// Target groups, listeners and what a service's load balancing looks like, checked and
/// recorded as through the API.
#[async_trait]
pub trait LoadBalancing: Send + Sync {
    async fn service_balancing(&self, cluster: &str, service: &str) -> Result<wharf_core::load_balancing::ServiceBalancing>;
    async fn list_target_groups(&self, cluster: &str) -> Result<Vec<wharf_core::load_balancing::TargetGroup>>;
    async fn create_target_group(&self, cluster: &str, input: wharf_core::load_balancing::CreateTargetGroupInput) -> Result<wharf_core::load_balancing::TargetGroup>;
    async fn list_listeners(&self, cluster: &str) -> Result<Vec<wharf_core::load_balancing::Listener>>;
    async fn create_listener(&self, cluster: &str, input: wharf_core::load_balancing::CreateListenerInput) -> Result<wharf_core::load_balancing::Listener>;
    async fn create_rule(&self, cluster: &str, port: i64, input: wharf_core::load_balancing::CreateRuleInput) -> Result<wharf_core::load_balancing::Listener>;
    async fn delete_rule(&self, cluster: &str, port: i64, priority: i64) -> Result<wharf_core::load_balancing::Listener>;
}

/// Teams' secrets, checked and recorded as through the API; a value goes in and never out.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// The caller's teams' secrets (every one for an admin).
    async fn list_secrets(&self) -> Result<Vec<wharf_core::secret::Secret>>;
    async fn create_secret(&self, input: wharf_core::secret::CreateSecretInput) -> Result<wharf_core::secret::Secret>;
    async fn put_secret_value(&self, name: &str, input: wharf_core::secret::PutSecretValueInput) -> Result<wharf_core::secret::Secret>;
    async fn delete_secret(&self, name: &str) -> Result<wharf_core::secret::Secret>;
}

/// People, teams, cluster sharing and the audit log: each call is checked by the policy and
/// recorded, as the same call through the API is.
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn list_users(&self) -> Result<Vec<User>>;
    async fn create_user(&self, input: CreateUserInput) -> Result<User>;
    async fn update_user(&self, username: &str, input: UpdateUserInput) -> Result<User>;
    /// The teams the caller may read (all of them for an admin).
    async fn list_teams(&self) -> Result<Vec<Team>>;
    async fn describe_team(&self, team: &str) -> Result<Team>;
    async fn create_team(&self, input: CreateTeamInput) -> Result<Team>;
    async fn set_member(&self, team: &str, username: &str, input: SetMemberInput) -> Result<Team>;
    async fn remove_member(&self, team: &str, username: &str) -> Result<Team>;
    /// Shares a cluster with a team (`share`) or stops sharing it; the teams it is shared with.
    async fn share_cluster(&self, cluster: &str, team: &str, share: bool) -> Result<Vec<String>>;
    /// Newest first, older than `before` (a sequence number) when given.
    async fn audit_log(&self, team: Option<&str>, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>>;
}

pub type SharedBackend = Arc<dyn Backend>;
