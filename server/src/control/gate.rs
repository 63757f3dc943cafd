/*!
The gate every request of the API and the portal passes: the same commands as [`Control`],
each first asking [`access::decide`] with the caller and the resource's owner, and lists
narrowed to what the caller may read. A refusal is recorded in the audit log, as is every
change that was allowed.

Ownership: a team owns task-definition families; a service and a task belong to the team of
their task definition's family. Families of no team (made before teams existed) are an
admin's alone.
*/

use super::Control;
use crate::store::{accounts, credentials};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use wharf_app::backend::{Backend, Result, RevisionFilter, TaskFilter};
use wharf_core::WharfError;
use wharf_core::account::{AuditEntry, CreateTeamInput, CreateUserInput, SetMemberInput, Team, UpdateUserInput, User};
use wharf_core::access::{Action, Denied, Resource, Role, Subject, decide};
use wharf_core::cluster::{Cluster, CreateClusterInput, UpdateClusterInput};
use wharf_core::instance::ContainerInstance;
use wharf_core::join_token::{CreateJoinTokenInput, JoinToken};
use wharf_core::page::{Page, Paged, fill};
use wharf_core::service::{CreateServiceInput, Service, UpdateServiceInput};
use wharf_core::task::Task;
use wharf_core::task_definition::{TaskDefinition, TaskDefinitionFamily, TaskDefinitionStatus, family_of};
use wharf_core::task_input::{RunTaskInput, StartTaskInput, StopTaskInput, TasksStarted, UpdateInstanceInput};
use wharf_core::topology::{Detail, Topology};

/// Who is asking, and from where: what the authentication layer found for a request.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// None: no (valid) credentials.
    pub subject: Option<Subject>,
    /// The peer's address, for the audit log.
    pub source: String,
    /// The CSRF token of the session the caller came with (none for API tokens), which the
    /// portal's pages put on the changes they send.
    pub csrf_token: Option<String>,
    /// The credentials themselves, so a response that stays open can ask again whether they
    /// still stand for the same subject.
    pub presented: Option<Presented>,
}

/// The secret a request was authenticated with. Its `Debug` never shows the secret.
#[derive(Clone)]
pub enum Presented {
    Token(String),
    Session(String),
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Presented::Token(_) => "Token(<redacted>)",
            Presented::Session(_) => "Session(<redacted>)",
        })
    }
}

pub struct Gate {
    control: Control,
    caller: Caller,
}

impl Gate {
    pub fn new(control: Control, caller: Caller) -> Self {
        Self { control, caller }
    }

    /// The subject, or 401 when the request carried no valid credentials.
    pub fn who(&self) -> Result<&Subject> {
        self.caller.subject.as_ref().ok_or_else(|| WharfError::unauthorized("Authorization", "sign in, or send an API token as Authorization: Bearer <token>"))
    }

    async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.control.read().await
    }

    /// Decides, recording a refusal in the audit log.
    pub(crate) async fn check(&self, action: Action, resource: Resource<'_>, what: &str, target: &str) -> Result<()> {
        let who = self.who()?;
        match decide(who, action, resource) {
            Ok(()) => Ok(()),
            Err(Denied(reason)) => {
                let team = match resource {
                    Resource::Team { team, .. } => Some(team.to_string()),
                    _ => None,
                };
                self.audit(what, target, team, "denied", &reason).await;
                Err(WharfError::from(Denied(reason)))
            }
        }
    }

    /// Records an attempt; a store fault here is logged, not returned (the change itself
    /// stands or fell on its own).
    pub async fn audit(&self, action: &str, target: &str, team: Option<String>, result: &str, detail: &str) {
        let actor = self.caller.subject.as_ref().map(|s| s.username.clone()).unwrap_or_else(|| "anonymous".into());
        let entry = credentials::AuditEntry {
            seq: 0,
            at: crate::store::now(),
            actor,
            team,
            action: action.into(),
            target: target.into(),
            source: self.caller.source.clone(),
            result: result.into(),
            detail: detail.into(),
        };
        let written = async {
            let mut w = self.control.store().write().await?;
            credentials::audit(w.conn(), &entry).await?;
            w.commit().await
        };
        if let Err(e) = written.await {
            tracing::error!(error = %e, "audit log write failed");
        }
    }

    /// Records a command's outcome.
    pub(crate) async fn record<T>(&self, what: &str, target: &str, team: Option<String>, out: &Result<T>) {
        match out {
            Ok(_) => self.audit(what, target, team, "allowed", "").await,
            Err(e) => self.audit(what, target, team, "failed", &e.message).await,
        }
    }

    /// Runs a change after its check, and records its outcome.
    pub(crate) async fn change<T>(&self, what: &str, target: &str, team: Option<String>, run: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let out = run.await;
        self.record(what, target, team, &out).await;
        out
    }

    pub(crate) async fn cluster_teams(&self, cluster: &str) -> Result<Vec<String>> {
        Ok(accounts::cluster_teams(&mut *self.read().await?, cluster).await?)
    }

    /// A cluster's teams, after checking the caller may use the cluster.
    pub(crate) async fn use_cluster(&self, cluster: &str) -> Result<Vec<String>> {
        let shared = self.cluster_teams(cluster).await?;
        self.check(Action::UseCluster, Resource::Cluster { shared_with: &shared }, "UseCluster", cluster).await?;
        Ok(shared)
    }

    pub(crate) async fn admin(&self, action: Action, what: &str, target: &str) -> Result<()> {
        self.check(action, Resource::System, what, target).await
    }

    /// The team owning a family: `Ok(None)` for a family of no team or no such family.
    async fn family_team(&self, family: &str) -> Result<Option<String>> {
        Ok(accounts::family_team(&mut *self.read().await?, family).await?.flatten())
    }

    /// Checks `action` on whatever a family's team owns; a family of no team is an admin's.
    pub(crate) async fn on_family(&self, action: Action, family: &str, cluster_shared_with: Option<&[String]>, what: &str, target: &str) -> Result<Option<String>> {
        let team = self.family_team(family).await?;
        self.on_team_or_admin(action, team.as_deref(), cluster_shared_with, what, target, family).await?;
        Ok(team)
    }

    /// Checks `action` on something `team` owns; what belongs to no team is an admin's.
    pub(crate) async fn on_owner(&self, action: Action, team: Option<&str>, what: &str, target: &str) -> Result<()> {
        self.on_team_or_admin(action, team, None, what, target, target).await
    }

    pub(crate) async fn on_team_or_admin(&self, action: Action, team: Option<&str>, cluster_shared_with: Option<&[String]>, what: &str, target: &str, owned: &str) -> Result<()> {
        match team {
            Some(team) => self.check(action, Resource::Team { team, cluster_shared_with }, what, target).await,
            None => self.check(Action::ManageAccounts, Resource::System, what, target).await.map_err(|_| {
                WharfError::from(Denied(format!("'{owned}' belongs to no team; only an admin may use it")))
            }),
        }
    }

    /// What the caller may read: None when everything, else a family → team map to filter with.
    async fn readable(&self) -> Result<Option<(HashMap<String, String>, Subject)>> {
        let who = self.who()?;
        if who.sees_everything() {
            return Ok(None);
        }
        Ok(Some((accounts::family_teams(&mut *self.read().await?).await?, who.clone())))
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Whether the request's credentials still stand for the subject they stood for when it
    /// came (not signed out, expired, revoked or disabled; no role or team changed). A caller
    /// without credentials has nothing to lose; an unanswerable check counts as no.
    pub async fn still_the_same_caller(&self) -> bool {
        match &self.caller.presented {
            None => self.caller.subject.is_none(),
            Some(presented) => matches!(self.control.presented_subject(presented).await, Ok(Some(now)) if Some(&now) == self.caller.subject.as_ref()),
        }
    }

    /// Checks that the caller may read a task's logs (the API streams them from the control
    /// layer directly).
    pub async fn may_read_task(&self, cluster: &str, id: &str) -> Result<()> {
        self.describe_task(cluster, id).await.map(|_| ())
    }
}

/// Whether a family's objects are readable under a [`Gate::readable`] answer.
fn may_read(readable: &Option<(HashMap<String, String>, Subject)>, family: &str) -> bool {
    match readable {
        None => true,
        Some((teams, who)) => teams.get(family).is_some_and(|t| who.role_in(t).is_some()),
    }
}

#[async_trait]
impl Backend for Gate {
    async fn create_cluster(&self, input: CreateClusterInput) -> Result<(Cluster, bool)> {
        let name = input.cluster_name.clone().unwrap_or_default();
        self.admin(Action::ManageClusters, "CreateCluster", &name).await?;
        self.change("CreateCluster", &name, None, self.control.create_cluster(input)).await
    }

    async fn list_clusters(&self, page: Page) -> Result<Paged<Cluster>> {
        let who = self.who()?.clone();
        if who.sees_everything() {
            return self.control.list_clusters(page).await;
        }
        let shares = accounts::all_cluster_teams(&mut *self.read().await?).await?;
        let none = Vec::new();
        let shared = |c: &Cluster| decide(&who, Action::UseCluster, Resource::Cluster { shared_with: shares.get(&c.cluster_name).unwrap_or(&none) }).is_ok();
        fill(page, |p| self.control.list_clusters(p), shared).await
    }

    async fn describe_cluster(&self, name: &str) -> Result<Cluster> {
        let cluster = self.control.describe_cluster(name).await?;
        self.use_cluster(name).await?;
        Ok(cluster)
    }

    async fn update_cluster(&self, name: &str, input: UpdateClusterInput) -> Result<Cluster> {
        self.admin(Action::ManageClusters, "UpdateCluster", name).await?;
        self.change("UpdateCluster", name, None, self.control.update_cluster(name, input)).await
    }

    async fn delete_cluster(&self, name: &str) -> Result<Cluster> {
        self.admin(Action::ManageClusters, "DeleteCluster", name).await?;
        self.change("DeleteCluster", name, None, self.control.delete_cluster(name)).await
    }

    async fn register_task_definition(&self, document: Value, team: Option<String>) -> Result<(TaskDefinition, Vec<String>)> {
        let who = self.who()?.clone();
        let family = document.get("family").and_then(Value::as_str).unwrap_or_default().to_string();
        let existing = accounts::family_team(&mut *self.read().await?, &family).await?;
        let team = match (existing, team) {
            // A family of no team (made before teams, or its team deleted) is an admin's.
            (Some(None), _) if !who.admin => {
                let reason = format!("'{family}' belongs to no team; only an admin may register it");
                self.audit("RegisterTaskDefinition", &family, None, "denied", &reason).await;
                return Err(Denied(reason).into());
            }
            (Some(None), _) => None,
            (Some(Some(owner)), _) => Some(owner),
            (None, Some(t)) => Some(t),
            (None, None) if who.admin => None,
            (None, None) => Some(who.default_team(Role::Deployer).map_err(WharfError::from)?),
        };
        if let Some(t) = &team {
            self.check(Action::Deploy, Resource::Team { team: t, cluster_shared_with: None }, "RegisterTaskDefinition", &family).await?;
        }
        let target = family.clone();
        self.change("RegisterTaskDefinition", &target, team.clone(), self.control.register_task_definition(document, team)).await
    }

    async fn list_task_definition_families(&self, family_prefix: Option<String>, status: Option<TaskDefinitionStatus>, page: Page) -> Result<Paged<TaskDefinitionFamily>> {
        let readable = self.readable().await?;
        fill(page, |p| self.control.list_task_definition_families(family_prefix.clone(), status, p), |f| may_read(&readable, &f.family)).await
    }

    async fn list_task_definitions(&self, filter: RevisionFilter, page: Page) -> Result<Paged<TaskDefinition>> {
        let readable = self.readable().await?;
        fill(page, |p| self.control.list_task_definitions(filter.clone(), p), |d| may_read(&readable, d.family())).await
    }

    async fn describe_task_definition(&self, reference: &str) -> Result<TaskDefinition> {
        self.on_family(Action::Read, family_of(reference), None, "DescribeTaskDefinition", reference).await?;
        self.control.describe_task_definition(reference).await
    }

    async fn deregister_task_definition(&self, reference: &str) -> Result<TaskDefinition> {
        let team = self.on_family(Action::Maintain, family_of(reference), None, "DeregisterTaskDefinition", reference).await?;
        self.change("DeregisterTaskDefinition", reference, team, self.control.deregister_task_definition(reference)).await
    }

    async fn create_service(&self, cluster: &str, input: CreateServiceInput) -> Result<Service> {
        // Bad input is answered field by field before anything about ownership.
        input.clone().validate()?;
        let shared = self.cluster_teams(cluster).await?;
        let family = family_of(input.task_definition.as_deref().unwrap_or_default()).to_string();
        let target = format!("{cluster}/{}", input.service_name.as_deref().unwrap_or_default());
        let team = self.on_family(Action::Maintain, &family, Some(&shared), "CreateService", &target).await?;
        self.change("CreateService", &target, team, self.control.create_service(cluster, input)).await
    }

    async fn list_services(&self, cluster: &str, page: Page) -> Result<Paged<Service>> {
        self.use_cluster(cluster).await?;
        let readable = self.readable().await?;
        fill(page, |p| self.control.list_services(cluster, p), |s| may_read(&readable, family_of(&s.config.task_definition))).await
    }

    async fn describe_service(&self, cluster: &str, name: &str) -> Result<Service> {
        let service = self.control.describe_service(cluster, name).await?;
        self.on_family(Action::Read, family_of(&service.config.task_definition), None, "DescribeService", &format!("{cluster}/{name}")).await?;
        Ok(service)
    }

    async fn update_service(&self, cluster: &str, name: &str, input: UpdateServiceInput) -> Result<Service> {
        let target = format!("{cluster}/{name}");
        let current = self.control.describe_service(cluster, name).await?;
        input.clone().apply(&current.config)?;
        let shared = self.cluster_teams(cluster).await?;
        let team = self.on_family(Action::Deploy, family_of(&current.config.task_definition), Some(&shared), "UpdateService", &target).await?;
        // A service stays with its team: a new revision must come from a family of that team.
        if let Some(next) = input.task_definition.as_deref() {
            let next_team = self.on_family(Action::Deploy, family_of(next), Some(&shared), "UpdateService", &target).await?;
            if next_team != team && !self.who()?.admin {
                let reason = format!("'{}' belongs to another team than the service", family_of(next));
                self.audit("UpdateService", &target, team.clone(), "denied", &reason).await;
                return Err(Denied(reason).into());
            }
        }
        self.change("UpdateService", &target, team, self.control.update_service(cluster, name, input)).await
    }

    async fn delete_service(&self, cluster: &str, name: &str, force: bool) -> Result<Service> {
        let target = format!("{cluster}/{name}");
        let current = self.control.describe_service(cluster, name).await?;
        let team = self.on_family(Action::Maintain, family_of(&current.config.task_definition), None, "DeleteService", &target).await?;
        self.change("DeleteService", &target, team, self.control.delete_service(cluster, name, force)).await
    }

    async fn create_join_token(&self, cluster: &str, input: CreateJoinTokenInput) -> Result<(JoinToken, String)> {
        self.admin(Action::ManageHosts, "CreateJoinToken", cluster).await?;
        self.change("CreateJoinToken", cluster, None, self.control.create_join_token(cluster, input)).await
    }

    async fn list_join_tokens(&self, cluster: &str) -> Result<Vec<JoinToken>> {
        self.admin(Action::ManageHosts, "ListJoinTokens", cluster).await?;
        self.control.list_join_tokens(cluster).await
    }

    async fn revoke_join_token(&self, cluster: &str, id: &str, deregister_instances: bool) -> Result<(JoinToken, Vec<String>)> {
        self.admin(Action::ManageHosts, "RevokeJoinToken", &format!("{cluster}/{id}")).await?;
        self.change("RevokeJoinToken", &format!("{cluster}/{id}"), None, self.control.revoke_join_token(cluster, id, deregister_instances)).await
    }

    async fn list_container_instances(&self, cluster: &str, status: Option<String>, page: Page) -> Result<Paged<ContainerInstance>> {
        let out = self.control.list_container_instances(cluster, status, page).await?;
        self.use_cluster(cluster).await?;
        Ok(out)
    }

    async fn describe_container_instance(&self, cluster: &str, id: &str) -> Result<ContainerInstance> {
        self.use_cluster(cluster).await?;
        self.control.describe_container_instance(cluster, id).await
    }

    async fn list_tasks(&self, cluster: &str, filter: TaskFilter, page: Page) -> Result<Paged<Task>> {
        self.use_cluster(cluster).await?;
        let readable = self.readable().await?;
        fill(page, |p| self.control.list_tasks(cluster, filter.clone(), p), |t| may_read(&readable, family_of(&t.task_definition_arn))).await
    }

    async fn describe_task(&self, cluster: &str, id: &str) -> Result<Task> {
        let task = self.control.describe_task(cluster, id).await?;
        self.on_family(Action::Read, family_of(&task.task_definition_arn), None, "DescribeTask", &format!("{cluster}/{id}")).await?;
        Ok(task)
    }

    async fn recent_tasks(&self, cluster: &str, limit: i64) -> Result<Vec<Task>> {
        self.use_cluster(cluster).await?;
        let readable = self.readable().await?;
        Ok(self.control.recent_tasks(cluster, limit).await?.into_iter().filter(|t| may_read(&readable, family_of(&t.task_definition_arn))).collect())
    }

    async fn recent_failed_tasks(&self, cluster: &str, limit: i64) -> Result<Vec<Task>> {
        self.use_cluster(cluster).await?;
        let readable = self.readable().await?;
        Ok(self.control.recent_failed_tasks(cluster, limit).await?.into_iter().filter(|t| may_read(&readable, family_of(&t.task_definition_arn))).collect())
    }

    async fn recently_stopped_on(&self, cluster: &str, instance: &str, limit: i64) -> Result<Vec<Task>> {
        self.use_cluster(cluster).await?;
        let readable = self.readable().await?;
        Ok(self.control.recently_stopped_on(cluster, instance, limit).await?.into_iter().filter(|t| may_read(&readable, family_of(&t.task_definition_arn))).collect())
    }

    async fn recent_service_events(&self, cluster: &str, limit: i64) -> Result<Vec<(String, wharf_core::service::ServiceEvent)>> {
        self.use_cluster(cluster).await?;
        let events = self.control.recent_service_events(cluster, limit).await?;
        let readable_some = self.readable().await?;
        if readable_some.is_none() {
            return Ok(events);
        }
        let services = self.control.list_services(cluster, Page { after: None, limit: 1000 }).await?;
        let visible: Vec<String> = services.items.into_iter().filter(|s| may_read(&readable_some, family_of(&s.config.task_definition))).map(|s| s.service_name).collect();
        Ok(events.into_iter().filter(|(name, _)| visible.contains(name)).collect())
    }

    async fn start_task(&self, cluster: &str, input: StartTaskInput) -> Result<TasksStarted> {
        input.clone().validate()?;
        let shared = self.cluster_teams(cluster).await?;
        let family = family_of(input.task_definition.as_deref().unwrap_or_default()).to_string();
        let team = self.on_family(Action::Deploy, &family, Some(&shared), "StartTask", cluster).await?;
        self.change("StartTask", cluster, team, self.control.start_task(cluster, input)).await
    }

    async fn run_task(&self, cluster: &str, input: RunTaskInput) -> Result<TasksStarted> {
        input.clone().validate()?;
        let shared = self.cluster_teams(cluster).await?;
        let family = family_of(input.task_definition.as_deref().unwrap_or_default()).to_string();
        let team = self.on_family(Action::Deploy, &family, Some(&shared), "RunTask", cluster).await?;
        self.change("RunTask", cluster, team, self.control.run_task(cluster, input)).await
    }

    async fn stop_task(&self, cluster: &str, id: &str, input: StopTaskInput) -> Result<Task> {
        input.clone().validate()?;
        let target = format!("{cluster}/{id}");
        let task = self.control.describe_task(cluster, id).await?;
        let team = self.on_family(Action::Deploy, family_of(&task.task_definition_arn), None, "StopTask", &target).await?;
        self.change("StopTask", &target, team, self.control.stop_task(cluster, id, input)).await
    }

    async fn update_container_instance_state(&self, cluster: &str, id: &str, input: UpdateInstanceInput) -> Result<ContainerInstance> {
        let target = format!("{cluster}/{id}");
        self.admin(Action::ManageHosts, "UpdateContainerInstancesState", &target).await?;
        self.change("UpdateContainerInstancesState", &target, None, self.control.update_container_instance_state(cluster, id, input)).await
    }

    async fn deregister_container_instance(&self, cluster: &str, id: &str) -> Result<ContainerInstance> {
        let target = format!("{cluster}/{id}");
        self.admin(Action::ManageHosts, "DeregisterContainerInstance", &target).await?;
        self.change("DeregisterContainerInstance", &target, None, self.control.deregister_container_instance(cluster, id)).await
    }

    async fn put_attributes(&self, cluster: &str, id: &str, input: wharf_core::instance::PutAttributesInput) -> Result<ContainerInstance> {
        let target = format!("{cluster}/{id}");
        self.admin(Action::ManageHosts, "PutAttributes", &target).await?;
        self.change("PutAttributes", &target, None, self.control.put_attributes(cluster, id, input)).await
    }

    async fn cluster_summary(&self, cluster: &str) -> Result<wharf_core::topology::Summary> {
        self.use_cluster(cluster).await?;
        self.control.cluster_summary(cluster).await
    }

    async fn topology(&self, cluster: &str, detail: Detail) -> Result<Topology> {
        self.use_cluster(cluster).await?;
        let readable = self.readable().await?;
        Ok(redact(self.control.topology(cluster, detail).await?, &readable))
    }

    async fn topology_of_some(&self, cluster: &str, detail: Detail, pick: &(dyn for<'t> Fn(&'t Topology) -> Vec<usize> + Send + Sync)) -> Result<Topology> {
        self.use_cluster(cluster).await?;
        let readable = self.readable().await?;
        Ok(redact(self.control.topology_of_some(cluster, detail, pick).await?, &readable))
    }

    fn agent_install_command(&self, cluster: &str, token: &str) -> String {
        self.control.agent_install_command(cluster, token)
    }

    async fn abilities(&self, family: Option<String>) -> Result<wharf_core::access::Abilities> {
        let who = self.who()?;
        let team = match family {
            Some(f) => self.family_team(&f).await?,
            None => None,
        };
        Ok(who.abilities(team.as_deref()))
    }

    fn subject(&self) -> Option<Subject> {
        self.caller.subject.clone()
    }

    fn csrf_token(&self) -> Option<String> {
        self.caller.csrf_token.clone()
    }

    fn accounts(&self) -> Option<&dyn wharf_app::backend::Accounts> {
        Some(self)
    }

    fn secrets(&self) -> Option<&dyn wharf_app::backend::Secrets> {
        Some(self)
    }

    fn load_balancing(&self) -> Option<&dyn wharf_app::backend::LoadBalancing> {
        Some(self)
    }

    fn scaling(&self) -> Option<&dyn wharf_app::backend::Scaling> {
        Some(self)
    }
}

/// The portal's account pages go through the same commands as the API's routes.
#[async_trait]
impl wharf_app::backend::Accounts for Gate {
    async fn list_users(&self) -> Result<Vec<User>> {
        Gate::list_users(self).await
    }
    async fn create_user(&self, input: CreateUserInput) -> Result<User> {
        Gate::create_user(self, input).await
    }
    async fn update_user(&self, username: &str, input: UpdateUserInput) -> Result<User> {
        Gate::update_user(self, username, input).await
    }
    async fn list_teams(&self) -> Result<Vec<Team>> {
        Gate::list_teams(self).await
    }
    async fn describe_team(&self, team: &str) -> Result<Team> {
        Gate::describe_team(self, team).await
    }
    async fn create_team(&self, input: CreateTeamInput) -> Result<Team> {
        Gate::create_team(self, input).await
    }
    async fn set_member(&self, team: &str, username: &str, input: SetMemberInput) -> Result<Team> {
        Gate::set_member(self, team, username, input).await
    }
    async fn remove_member(&self, team: &str, username: &str) -> Result<Team> {
        Gate::remove_member(self, team, username).await
    }
    async fn share_cluster(&self, cluster: &str, team: &str, share: bool) -> Result<Vec<String>> {
        Gate::share_cluster(self, cluster, team, share).await
    }
    async fn audit_log(&self, team: Option<&str>, before: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        Gate::audit_log(self, team, before, limit).await
    }
}

/// The cluster as another team sees it: every host and its capacity (they share them), only
/// their own services and tasks.
fn redact(mut topology: Topology, readable: &Option<(HashMap<String, String>, Subject)>) -> Topology {
    if readable.is_none() {
        return topology;
    }
    topology.services.retain(|s| may_read(readable, family_of(&s.task_definition)));
    let shown: Vec<String> = topology.services.iter().map(|s| s.service_name.clone()).collect();
    for instance in &mut topology.instances {
        instance.tasks.retain(|t| may_read(readable, family_of(&t.task_definition)));
        // Counts of the caller's own services only (not of one-off tasks or gone services).
        instance.tasks_by_service.retain(|name, _| shown.contains(name));
    }
    topology
}
