/*!
Commands and queries: the one place that turns a request into checked changes of the store,
each change in one transaction. The HTTP API and the portal both go through here (the
portal through the [`Backend`] trait it declares).
*/

pub mod accounts;
pub mod agents;
pub mod gate;
pub mod load_balancing;
mod load_balancing_gate;
mod join_tokens;
pub(crate) mod registration;
pub mod reports;
pub mod scaling;
mod scaling_gate;
pub mod secrets;
pub(crate) mod services;
pub mod tasks;
mod teams;
mod topology;

use crate::agents::Agents;
use crate::events::Events;
use crate::store::{self, Store, StoreError, clusters, instances, task_definitions};
use async_trait::async_trait;
use serde_json::{Value, json};
use wharf_app::backend::{Backend, Result, RevisionFilter, TaskFilter};
use wharf_core::WharfError;
use wharf_core::cluster::{Cluster, CreateClusterInput, UpdateClusterInput};
use wharf_core::instance::{ContainerInstance, RegisterInstanceInput};
use wharf_core::join_token::{CreateJoinTokenInput, JoinToken};
use wharf_core::page::{Page, Paged};
use wharf_core::service::{CreateServiceInput, Service, UpdateServiceInput};
use wharf_core::task::Task;
use wharf_core::task_definition::{TaskDefinition, TaskDefinitionFamily, TaskDefinitionRef, TaskDefinitionStatus, parse_registration_value};
use wharf_core::task_input::{RunTaskInput, StartTaskInput, StopTaskInput, TasksStarted, UpdateInstanceInput};

#[derive(Clone)]
pub struct Control {
    store: Store,
    agents: Agents,
    /// The URL hosts reach this server at, for the agent install command.
    public_url: String,
    /// Task reports' batch writer, started on first use (it needs the runtime).
    reports: std::sync::Arc<std::sync::OnceLock<reports::ReportQueue>>,
    events: Events,
    /// The server's TLS certificate's pins (None without TLS): its SHA-256, which agents pin,
    /// and its public key's, which curl pins.
    certificate: std::sync::Arc<std::sync::OnceLock<(String, String)>>,
    /// The key secrets are sealed with, set once at start.
    sealer: std::sync::Arc<std::sync::OnceLock<crate::auth::sealing::Sealer>>,
    /// The load balancer this server runs, once started.
    load_balancer: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<crate::load_balancer::LoadBalancer>>>,
}

impl Control {
    pub fn new(store: Store, agents: Agents, public_url: String) -> Self {
        let public_url = public_url.trim_end_matches('/').to_string();
        Self { store, agents, public_url, reports: Default::default(), events: Events::default(), certificate: Default::default(), sealer: Default::default(), load_balancer: Default::default() }
    }

    /// The key secrets are sealed with, set once at start.
    pub fn set_sealer(&self, sealer: crate::auth::sealing::Sealer) {
        let _ = self.sealer.set(sealer);
    }

    /// The load balancer this server runs, set once at start.
    pub fn set_load_balancer(&self, lb: std::sync::Arc<crate::load_balancer::LoadBalancer>) {
        let _ = self.load_balancer.set(lb);
    }

    pub fn load_balancer(&self) -> Option<&crate::load_balancer::LoadBalancer> {
        self.load_balancer.get().map(|lb| &**lb)
    }

    /// Each task's requests from the load balancer, on a diagram's tasks.
    fn with_traffic(&self, mut topology: wharf_core::topology::Topology) -> wharf_core::topology::Topology {
        let Some(lb) = self.load_balancer.get() else { return topology };
        let mut by_task: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for t in lb.stats().targets {
            *by_task.entry(t.task.to_string()).or_default() += t.counts.requests();
        }
        for task in topology.instances.iter_mut().flat_map(|i| i.tasks.iter_mut()) {
            task.requests = by_task.get(&task.id).copied();
        }
        topology
    }

    /// Listener states as this server's load balancer sees them (none running: every port
    /// PROVISIONING).
    pub fn listener_states(&self) -> &dyn load_balancing::ListenerStates {
        match self.load_balancer.get() {
            Some(lb) => &**lb,
            None => &load_balancing::NotServed,
        }
    }

    /// The server's TLS certificate's pins, set once at start.
    pub fn set_certificate(&self, sha256: String, public_key_sha256: String) {
        let _ = self.certificate.set((sha256, public_key_sha256));
    }

    /// The certificate's SHA-256 (hex) and its public key's (base64), with TLS.
    pub fn certificate_pins(&self) -> Option<(&str, &str)> {
        self.certificate.get().map(|(c, k)| (c.as_str(), k.as_str()))
    }

    /// The live feed of committed changes.
    pub fn events(&self) -> &Events {
        &self.events
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn agents(&self) -> &Agents {
        &self.agents
    }

    /// Queues a task report from an agent, to be stored with others in one transaction.
    /// The sender's `budget` bounds how many of its reports wait in the shared queue.
    pub async fn report_task(
        &self,
        who: &agents::AgentIdentity,
        report: wharf_core::protocol::TaskReport,
        budget: std::sync::Arc<tokio::sync::Semaphore>,
    ) -> Result<reports::Answered> {
        let queue = self.reports.get_or_init(|| reports::ReportQueue::spawn(self.store.clone(), self.agents.clone(), self.events.clone()));
        queue.enqueue(who, report, budget).await
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub async fn task_logs(&self, cluster: &str, id: &str, query: tasks::LogQuery) -> Result<tasks::LogStream> {
        tasks::logs(&self.store, &self.agents, cluster, id, query).await
    }

    /// Registers a host with a join token; returns the instance and its credential (once).
    pub async fn register_container_instance(&self, input: RegisterInstanceInput) -> Result<(ContainerInstance, String)> {
        let out = registration::register(&self.store, input).await?;
        self.publish_instance(&out.0);
        Ok(out)
    }

    /// Checks a clear join token (agents present one to register); returns the token, whose
    /// cluster the host may join.
    pub async fn verify_join_token(&self, token: &str) -> Result<JoinToken> {
        join_tokens::verify(&self.store, token).await
    }

    fn publish_service(&self, cluster: &str, s: &Service) {
        let data = json!({"serviceName": s.service_name, "status": s.status, "runningCount": s.running_count, "pendingCount": s.pending_count});
        self.events.publish("service", Some(cluster), data);
    }

    fn publish_task(&self, cluster: &str, t: &Task) {
        let instance = t.container_instance_arn.as_deref().and_then(|a| a.rsplit('/').next());
        let data = json!({"taskId": t.id, "lastStatus": t.last_status, "desiredStatus": t.desired_status, "containerInstanceId": instance, "group": t.group});
        self.events.publish("task", Some(cluster), data);
    }

    /// An instance's agent connected or went away.
    pub fn publish_connection(&self, cluster: &str, id: &str, connected: bool) {
        self.events.publish("instance", Some(cluster), json!({"containerInstanceId": id, "agentConnected": connected}));
    }

    /// An instance's state changed (status, connection).
    pub fn publish_instance(&self, i: &ContainerInstance) {
        let data = json!({"containerInstanceId": i.id, "status": i.status, "agentConnected": i.agent_connected});
        self.events.publish("instance", Some(&i.cluster_name), data);
    }

    pub(crate) async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.store.pool().acquire().await.map_err(StoreError::from)?)
    }
}

/// Store faults are Wharf's faults: logged here with their cause, reported as a bare 500.
impl From<StoreError> for WharfError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate => WharfError::conflict("the object exists already"),
            other => {
                tracing::error!(error = %other, "store failure");
                WharfError::internal()
            }
        }
    }
}

fn cluster_not_found(name: &str) -> WharfError {
    WharfError::not_found(format!("no cluster named '{name}'; create it first"))
}

/// Resolves `family` (latest ACTIVE) or `family:revision` within a connection.
/// Refuses a task definition the cluster's task policy forbids, at each offending field
/// (`taskDefinition.volumes[1].host.sourcePath`).
fn check_task_policy(cluster: &Cluster, definition: &TaskDefinition) -> Result<()> {
    let errors = cluster.task_policy.check_definition(&definition.spec);
    if errors.is_empty() {
        return Ok(());
    }
    Err(WharfError::invalid(
        errors
            .into_iter()
            .map(|e| wharf_core::FieldError { field: format!("taskDefinition.{}", e.field), message: format!("{} (in {})", e.message, definition.name()) })
            .collect(),
    ))
}

async fn resolve_task_definition(conn: &mut sqlx::AnyConnection, reference: &TaskDefinitionRef) -> Result<TaskDefinition> {
    let found = match reference.revision {
        Some(rev) => task_definitions::get(conn, &reference.family, rev).await?,
        None => task_definitions::latest_active(conn, &reference.family).await?,
    };
    found.ok_or_else(|| match reference.revision {
        Some(_) => WharfError::not_found(format!("no task definition {reference}")),
        None => WharfError::not_found(format!("the family '{reference}' has no ACTIVE revision")),
    })
}

fn parse_reference(field: &str, text: &str) -> Result<TaskDefinitionRef> {
    TaskDefinitionRef::parse(text).map_err(|m| WharfError::invalid_field(field, m))
}

#[async_trait]
impl Backend for Control {
    async fn create_cluster(&self, input: CreateClusterInput) -> Result<(Cluster, bool)> {
        let name = input.validate()?;
        let tags = serde_json::to_string(&input.tags.unwrap_or_default()).unwrap_or_else(|_| "[]".into());
        let policy = serde_json::to_string(&input.task_policy.unwrap_or_default()).map_err(|_| WharfError::internal())?;
        let trusted = input.trusted_attributes.unwrap_or_else(wharf_core::instance::default_trusted_attributes);
        let trusted = serde_json::to_string(&trusted).map_err(|_| WharfError::internal())?;
        let mut w = self.store.write().await?;
        // ECS's CreateCluster is idempotent: an existing cluster is returned as it is.
        if let Some(existing) = clusters::get(w.conn(), &name).await? {
            return Ok((existing, false));
        }
        clusters::insert(w.conn(), &name, &tags, &policy, &trusted, &store::now()).await?;
        let cluster = clusters::get(w.conn(), &name).await?.ok_or_else(WharfError::internal)?;
        w.commit().await?;
        self.events.publish("cluster", Some(&name), json!({"status": "ACTIVE"}));
        Ok((cluster, true))
    }

    async fn list_clusters(&self, page: Page) -> Result<Paged<Cluster>> {
        let rows = clusters::list(&mut *self.read().await?, &page).await?;
        Ok(Paged::from_rows(rows, page.limit, |c| c.cluster_name.clone()))
    }

    async fn describe_cluster(&self, name: &str) -> Result<Cluster> {
        clusters::get(&mut *self.read().await?, name).await?.ok_or_else(|| cluster_not_found(name))
    }

    async fn update_cluster(&self, name: &str, input: UpdateClusterInput) -> Result<Cluster> {
        input.validate()?;
        let mut w = self.store.write().await?;
        clusters::get(w.conn(), name).await?.ok_or_else(|| cluster_not_found(name))?;
        if let Some(policy) = &input.task_policy {
            clusters::set_task_policy(w.conn(), name, &serde_json::to_string(policy).map_err(|_| WharfError::internal())?).await?;
        }
        // Hosts' stored attributes are weighed again now: a newly trusted name's claims go at
        // once. A name no longer trusted comes back from a host at its next hello.
        if let Some(trusted) = &input.trusted_attributes {
            clusters::set_trusted_attributes(w.conn(), name, &serde_json::to_string(trusted).map_err(|_| WharfError::internal())?).await?;
            for host in instances::all(w.conn(), name).await? {
                let (_, from_token) = clusters::trust_of(w.conn(), &host.id).await?;
                let attributes = agents::weigh_claims(&host.name, host.attributes, trusted, &from_token);
                instances::set_attributes(w.conn(), &host.id, &serde_json::to_string(&attributes).map_err(|_| WharfError::internal())?).await?;
            }
            w.touch_live_tasks(name);
        }
        let cluster = clusters::get(w.conn(), name).await?.ok_or_else(WharfError::internal)?;
        let hosts = instances::all(w.conn(), name).await?;
        w.commit().await?;
        // Agents check the starts they are handed against it too.
        for host in hosts.iter().filter(|h| h.agent_connected && input.task_policy.is_some()) {
            self.agents.send(&host.id, wharf_core::protocol::ServerMessage::TaskPolicyChanged { task_policy: cluster.task_policy.clone() });
        }
        self.events.publish("cluster", Some(name), json!({"status": "ACTIVE"}));
        Ok(cluster)
    }

    async fn delete_cluster(&self, name: &str) -> Result<Cluster> {
        let mut w = self.store.write().await?;
        let cluster = clusters::get(w.conn(), name).await?.ok_or_else(|| cluster_not_found(name))?;
        if cluster.registered_container_instances_count > 0 || cluster.active_services_count > 0 {
            return Err(WharfError::conflict(format!(
                "the cluster '{name}' still has {} container instance(s) and {} active service(s); deregister the instances and delete the services first",
                cluster.registered_container_instances_count, cluster.active_services_count
            )));
        }
        clusters::delete(w.conn(), name).await?;
        w.commit().await?;
        self.events.publish("cluster", Some(name), json!({"status": "INACTIVE"}));
        Ok(Cluster { status: "INACTIVE".into(), ..cluster })
    }

    async fn register_task_definition(&self, document: Value, team: Option<String>) -> Result<(TaskDefinition, Vec<String>)> {
        let registration = parse_registration_value(document)?;
        let family = registration.spec.family.clone().unwrap_or_default();
        let document = serde_json::to_string(&registration.spec).map_err(|_| WharfError::internal())?;
        let mut w = self.store.write().await?;
        let revision = task_definitions::next_revision(w.conn(), &family).await?;
        // Under the family's row lock: two teams registering a new family at once cannot
        // both own it.
        if let Some(team) = &team {
            if !store::accounts::team_exists(w.conn(), team).await? {
                return Err(WharfError::invalid_field("team", format!("no team named '{team}'")));
            }
            // Only a family born in this transaction is claimed; an existing one keeps its
            // team, or its lack of one.
            if revision == 1 {
                store::accounts::claim_family(w.conn(), &family, team).await?;
            }
            let owner = store::accounts::family_team(w.conn(), &family).await?.flatten();
            if owner.as_deref() != Some(team.as_str()) {
                return Err(WharfError::new(wharf_core::ErrorKind::AccessDenied, format!("the family '{family}' belongs to another team")));
            }
        }
        // The owner as of this transaction: a team's, or no team's (an admin's family).
        let owner = store::accounts::family_team(w.conn(), &family).await?.flatten().or(team);
        secrets::check_references(w.conn(), &registration.spec, owner.as_deref()).await?;
        task_definitions::insert(w.conn(), &family, revision, &document, &store::now()).await?;
        let registered = task_definitions::get(w.conn(), &family, revision).await?.ok_or_else(WharfError::internal)?;
        w.commit().await?;
        tracing::info!(task_definition = %registered.name(), "registered");
        self.events.publish("taskDefinition", None, json!({"taskDefinition": registered.name(), "status": "ACTIVE"}));
        Ok((registered, registration.ignored_fields))
    }

    async fn list_task_definition_families(
        &self,
        family_prefix: Option<String>,
        status: Option<TaskDefinitionStatus>,
        page: Page,
    ) -> Result<Paged<TaskDefinitionFamily>> {
        let prefix = family_prefix.unwrap_or_default();
        let rows = task_definitions::families(&mut *self.read().await?, &prefix, status, &page).await?;
        Ok(Paged::from_rows(rows, page.limit, |f| f.family.clone()))
    }

    async fn list_task_definitions(&self, filter: RevisionFilter, page: Page) -> Result<Paged<TaskDefinition>> {
        let rows = task_definitions::list(&mut *self.read().await?, &filter, &page).await?;
        Ok(Paged::from_rows(rows, page.limit, TaskDefinition::name))
    }

    async fn describe_task_definition(&self, reference: &str) -> Result<TaskDefinition> {
        let reference = parse_reference("taskDefinition", reference)?;
        resolve_task_definition(&mut *self.read().await?, &reference).await
    }

    async fn deregister_task_definition(&self, reference: &str) -> Result<TaskDefinition> {
        let reference = parse_reference("taskDefinition", reference)?;
        let Some(revision) = reference.revision else {
            return Err(WharfError::invalid_field("taskDefinition", "name the revision to deregister, as family:revision"));
        };
        let mut w = self.store.write().await?;
        resolve_task_definition(w.conn(), &reference).await?;
        task_definitions::deregister(w.conn(), &reference.family, revision, &store::now()).await?;
        let updated = resolve_task_definition(w.conn(), &reference).await?;
        w.commit().await?;
        self.events.publish("taskDefinition", None, json!({"taskDefinition": updated.name(), "status": "INACTIVE"}));
        Ok(updated)
    }

    async fn create_service(&self, cluster: &str, input: CreateServiceInput) -> Result<Service> {
        let out = services::create(&self.store, cluster, input).await;
        self.agents.wake_scheduler();
        if let Ok(service) = &out {
            self.publish_service(cluster, service);
        }
        out
    }

    async fn list_services(&self, cluster: &str, page: Page) -> Result<Paged<Service>> {
        let mut conn = self.read().await?;
        clusters::get(&mut conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
        let rows = store::services::list(&mut conn, cluster, &page).await?;
        let described = store::services::assemble(&mut conn, rows, false).await?;
        Ok(Paged::from_rows(described, page.limit, |s| s.service_name.clone()))
    }

    async fn describe_service(&self, cluster: &str, name: &str) -> Result<Service> {
        services::describe(&mut *self.read().await?, cluster, name).await
    }

    async fn update_service(&self, cluster: &str, name: &str, input: UpdateServiceInput) -> Result<Service> {
        let out = services::update(&self.store, cluster, name, input).await;
        self.agents.wake_scheduler();
        if let Ok(service) = &out {
            self.publish_service(cluster, service);
        }
        out
    }

    async fn delete_service(&self, cluster: &str, name: &str, force: bool) -> Result<Service> {
        let out = services::delete(&self.store, cluster, name, force).await.map(|(service, stops)| {
            for (instance, message) in stops {
                self.agents.send(&instance, message);
            }
            service
        });
        self.agents.wake_scheduler();
        if let Ok(service) = &out {
            self.publish_service(cluster, service);
        }
        out
    }

    async fn create_join_token(&self, cluster: &str, input: CreateJoinTokenInput) -> Result<(JoinToken, String)> {
        join_tokens::create(&self.store, cluster, input).await
    }

    async fn list_join_tokens(&self, cluster: &str) -> Result<Vec<JoinToken>> {
        join_tokens::list(&mut *self.read().await?, cluster).await
    }

    async fn revoke_join_token(&self, cluster: &str, id: &str, deregister_instances: bool) -> Result<(JoinToken, Vec<String>)> {
        // Revoked first: no host joins with it while its hosts are being deregistered, and a
        // revocation cut short by a crash is finished by asking again.
        let token = join_tokens::revoke(&self.store, cluster, id).await?;
        let mut gone = Vec::new();
        if deregister_instances {
            let joined = store::instances::joined_with(&mut *self.read().await?, cluster, id).await?;
            for instance in joined {
                self.deregister_container_instance(cluster, &instance).await?;
                gone.push(instance);
            }
        }
        Ok((token, gone))
    }

    async fn list_container_instances(&self, cluster: &str, status: Option<String>, page: Page) -> Result<Paged<ContainerInstance>> {
        let status = wharf_core::instance::status_filter(status.as_deref())?;
        let mut conn = self.read().await?;
        clusters::get(&mut conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
        let mut rows = instances::list(&mut conn, cluster, status.as_deref(), &page).await?;
        for i in &mut rows {
            i.usage = self.agents.host_usage(&i.id);
        }
        Ok(Paged::from_rows(rows, page.limit, instances::page_key))
    }

    async fn describe_container_instance(&self, cluster: &str, id: &str) -> Result<ContainerInstance> {
        let mut instance = instances::get(&mut *self.read().await?, cluster, id)
            .await?
            .ok_or_else(|| WharfError::not_found(format!("no container instance '{id}' in cluster '{cluster}'")))?;
        instance.usage = self.agents.host_usage(id);
        Ok(instance)
    }

    async fn list_tasks(&self, cluster: &str, filter: TaskFilter, page: Page) -> Result<Paged<Task>> {
        let mut conn = self.read().await?;
        clusters::get(&mut conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
        let rows = store::tasks::list(&mut conn, cluster, &filter, &page).await?;
        Ok(Paged::from_rows(rows, page.limit, |t| t.id.clone()))
    }

    async fn describe_task(&self, cluster: &str, id: &str) -> Result<Task> {
        store::tasks::get(&mut *self.read().await?, cluster, id)
            .await?
            .ok_or_else(|| WharfError::not_found(format!("no task '{id}' in cluster '{cluster}'")))
    }

    async fn recent_tasks(&self, cluster: &str, limit: i64) -> Result<Vec<Task>> {
        Ok(store::tasks::recent(&mut *self.read().await?, cluster, limit.clamp(1, 100)).await?)
    }

    async fn recent_service_events(&self, cluster: &str, limit: i64) -> Result<Vec<(String, wharf_core::service::ServiceEvent)>> {
        Ok(store::services::recent_events(&mut *self.read().await?, cluster, limit.clamp(1, 100)).await?)
    }

    async fn recently_stopped_on(&self, cluster: &str, instance: &str, limit: i64) -> Result<Vec<Task>> {
        Ok(store::tasks::recently_stopped_on(&mut *self.read().await?, cluster, instance, limit.clamp(1, 100)).await?)
    }

    async fn recent_failed_tasks(&self, cluster: &str, limit: i64) -> Result<Vec<Task>> {
        Ok(store::tasks::recent_failures(&mut *self.read().await?, cluster, limit.clamp(1, 100)).await?)
    }

    async fn start_task(&self, cluster: &str, input: StartTaskInput) -> Result<TasksStarted> {
        let out = tasks::start(&self.store, &self.agents, cluster, input).await;
        self.agents.wake_scheduler();
        for task in out.iter().flat_map(|o| &o.tasks) {
            self.publish_task(cluster, task);
        }
        out
    }

    async fn run_task(&self, cluster: &str, input: RunTaskInput) -> Result<TasksStarted> {
        let out = tasks::run(&self.store, &self.agents, cluster, input).await;
        self.agents.wake_scheduler();
        for task in out.iter().flat_map(|o| &o.tasks) {
            self.publish_task(cluster, task);
        }
        out
    }

    async fn stop_task(&self, cluster: &str, id: &str, input: StopTaskInput) -> Result<Task> {
        let out = tasks::stop(&self.store, &self.agents, cluster, id, input).await;
        self.agents.wake_scheduler();
        if let Ok(task) = &out {
            self.publish_task(cluster, task);
        }
        out
    }

    async fn update_container_instance_state(&self, cluster: &str, id: &str, input: UpdateInstanceInput) -> Result<ContainerInstance> {
        let out = tasks::update_state(&self.store, &self.agents, cluster, id, input).await;
        self.agents.wake_scheduler();
        if let Ok(instance) = &out {
            self.publish_instance(instance);
        }
        out
    }

    async fn deregister_container_instance(&self, cluster: &str, id: &str) -> Result<ContainerInstance> {
        let out = tasks::deregister(&self.store, &self.agents, cluster, id).await;
        self.agents.wake_scheduler();
        if let Ok(instance) = &out {
            self.publish_instance(instance);
        }
        out
    }

    async fn put_attributes(&self, cluster: &str, id: &str, input: wharf_core::instance::PutAttributesInput) -> Result<ContainerInstance> {
        let given = input.validate()?;
        let instance = agents::put_attributes(&self.store, cluster, id, given).await?;
        self.agents.wake_scheduler();
        self.publish_instance(&instance);
        Ok(instance)
    }

    async fn cluster_summary(&self, cluster: &str) -> Result<wharf_core::topology::Summary> {
        topology::summary(&self.store, &self.agents, cluster).await
    }

    async fn topology(&self, cluster: &str, detail: wharf_core::topology::Detail) -> Result<wharf_core::topology::Topology> {
        topology::topology(&self.store, &self.agents, cluster, detail, None).await.map(|t| self.with_traffic(t))
    }

    async fn topology_of_some(
        &self,
        cluster: &str,
        detail: wharf_core::topology::Detail,
        pick: &(dyn for<'t> Fn(&'t wharf_core::topology::Topology) -> Vec<usize> + Send + Sync),
    ) -> Result<wharf_core::topology::Topology> {
        topology::topology(&self.store, &self.agents, cluster, detail, Some(pick)).await.map(|t| self.with_traffic(t))
    }

    fn agent_install_command(&self, cluster: &str, token: &str) -> String {
        match self.certificate_pins() {
            // No CA vouches for a self-signed certificate: curl checks the server's public key
            // against the pin instead (-k only skips the CA check), and so does the agent.
            Some((cert, key)) => format!(
                "curl -fsSLk --pinnedpubkey 'sha256//{key}' {url}/agent/install.sh | sudo sh -s -- --cluster {cluster} --token {token} --server-cert-sha256 {cert} --server-key-sha256 '{key}'",
                url = self.public_url
            ),
            None => format!("curl -fsSL {}/agent/install.sh | sudo sh -s -- --cluster {cluster} --token {token}", self.public_url),
        }
    }
}
