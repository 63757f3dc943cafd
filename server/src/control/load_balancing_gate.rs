/*!
Who may touch load balancing. Target groups are a team's, like its services: maintainers of
the team create, change and delete them in a cluster shared with the team, and its members read
them. Listeners are ports of the load balancer, an admin's to open and close; anyone who may
use the cluster reads them, and a team's maintainers add and remove rules that forward to the
team's own target groups. A rule or target group of no team is an admin's.
*/

use super::gate::Gate;
use super::load_balancing as lb;
use crate::store::load_balancing::TargetGroupRow;
use wharf_app::backend::Result;
use wharf_core::WharfError;
use wharf_core::access::{Action, Role, Subject};
use wharf_core::load_balancing::{
    BalancedPort, CreateListenerInput, CreateRuleInput, CreateTargetGroupInput, Listener, ModifyListenerInput, ServiceBalancing, TargetGroup,
    TargetGroupSettings, TargetHealthDescription, TargetTraffic,
};

impl Gate {
    /// Tells the load balancer and the live feed that listeners, rules or target groups changed.
    fn balancing_changed(&self, cluster: &str, what: &str) {
        if let Some(balancer) = self.control().load_balancer() {
            balancer.changed();
        }
        self.control().events().publish("loadBalancing", Some(cluster), serde_json::json!({"change": what}));
    }

    async fn target_group_row(&self, cluster: &str, name: &str) -> Result<TargetGroupRow> {
        lb::target_group(&mut *self.control().read().await?, cluster, name).await
    }

    pub async fn create_target_group(&self, cluster: &str, input: CreateTargetGroupInput) -> Result<TargetGroup> {
        let (name, _) = input.validate()?;
        let who = self.who()?.clone();
        let team = match input.team_name.clone() {
            Some(t) => Some(t),
            None if who.admin => None,
            None => Some(who.default_team(Role::Maintainer).map_err(WharfError::from)?),
        };
        let shared = self.cluster_teams(cluster).await?;
        let target = format!("{cluster}/{name}");
        self.on_team_or_admin(Action::Maintain, team.as_deref(), Some(&shared), "CreateTargetGroup", &target, &target).await?;
        let out = self.change("CreateTargetGroup", &target, team.clone(), lb::create_target_group(self.control().store(), cluster, team.as_deref(), input)).await;
        if out.is_ok() {
            self.balancing_changed(cluster, "targetGroup");
        }
        out
    }

    pub async fn list_target_groups(&self, cluster: &str) -> Result<Vec<TargetGroup>> {
        self.use_cluster(cluster).await?;
        let who = self.who()?.clone();
        let all = lb::list_target_groups(&mut *self.control().read().await?, cluster).await?;
        Ok(all.into_iter().filter(|g| readable(&who, g.team_name.as_deref())).collect())
    }

    pub async fn describe_target_group(&self, cluster: &str, name: &str) -> Result<TargetGroup> {
        let group = lb::describe_target_group(&mut *self.control().read().await?, cluster, name).await?;
        let target = format!("{cluster}/{}", group.target_group_name);
        self.on_team_or_admin(Action::Read, group.team_name.as_deref(), None, "DescribeTargetGroups", &target, &target).await?;
        Ok(group)
    }

    pub async fn modify_target_group(&self, cluster: &str, name: &str, input: TargetGroupSettings) -> Result<TargetGroup> {
        let row = self.target_group_row(cluster, name).await?;
        let target = format!("{cluster}/{}", row.name);
        let shared = self.cluster_teams(cluster).await?;
        self.on_team_or_admin(Action::Maintain, row.team.as_deref(), Some(&shared), "ModifyTargetGroup", &target, &target).await?;
        let run = lb::modify_target_group(self.control().store(), cluster, &row.arn, row.team.as_deref(), input);
        let out = self.change("ModifyTargetGroup", &target, row.team.clone(), run).await;
        if out.is_ok() {
            self.balancing_changed(cluster, "targetGroup");
        }
        out
    }

    pub async fn delete_target_group(&self, cluster: &str, name: &str) -> Result<TargetGroup> {
        let row = self.target_group_row(cluster, name).await?;
        let target = format!("{cluster}/{}", row.name);
        let shared = self.cluster_teams(cluster).await?;
        self.on_team_or_admin(Action::Maintain, row.team.as_deref(), Some(&shared), "DeleteTargetGroup", &target, &target).await?;
        let run = lb::delete_target_group(self.control().store(), cluster, &row.arn, row.team.as_deref());
        let out = self.change("DeleteTargetGroup", &target, row.team.clone(), run).await;
        if out.is_ok() {
            self.balancing_changed(cluster, "targetGroup");
        }
        out
    }

    pub async fn describe_target_health(&self, cluster: &str, name: &str) -> Result<Vec<TargetHealthDescription>> {
        let group = self.describe_target_group(cluster, name).await?;
        lb::target_health(&mut *self.control().read().await?, cluster, &group.target_group_arn).await
    }

    pub async fn create_listener(&self, cluster: &str, input: CreateListenerInput) -> Result<Listener> {
        let target = format!("{cluster}/{}", input.port.unwrap_or_default());
        self.admin(Action::ManageClusters, "CreateListener", &target).await?;
        let out = self.change("CreateListener", &target, None, lb::create_listener(self.control().store(), self.control().listener_states(), cluster, input)).await;
        if out.is_ok() {
            self.balancing_changed(cluster, "listener");
        }
        out
    }

    pub async fn list_listeners(&self, cluster: &str) -> Result<Vec<Listener>> {
        self.use_cluster(cluster).await?;
        let who = self.who()?.clone();
        let listeners = lb::list_listeners(&mut *self.control().read().await?, self.control().listener_states(), cluster).await?;
        let groups = self.team_of_groups(cluster).await?;
        Ok(listeners.into_iter().map(|l| visible_part(&who, &groups, &listener_host(self.control().public_url()), l)).collect())
    }

    pub async fn describe_listener(&self, cluster: &str, port: i64) -> Result<Listener> {
        self.use_cluster(cluster).await?;
        let who = self.who()?.clone();
        let listener = lb::describe_listener(&mut *self.control().read().await?, self.control().listener_states(), cluster, port).await?;
        let groups = self.team_of_groups(cluster).await?;
        Ok(visible_part(&who, &groups, &listener_host(self.control().public_url()), listener))
    }

    pub async fn modify_listener(&self, cluster: &str, port: i64, input: ModifyListenerInput) -> Result<Listener> {
        let target = format!("{cluster}/{port}");
        self.admin(Action::ManageClusters, "ModifyListener", &target).await?;
        let run = lb::modify_listener(self.control().store(), self.control().listener_states(), cluster, port, input);
        let out = self.change("ModifyListener", &target, None, run).await;
        if out.is_ok() {
            self.balancing_changed(cluster, "listener");
        }
        out
    }

    pub async fn delete_listener(&self, cluster: &str, port: i64) -> Result<Listener> {
        let target = format!("{cluster}/{port}");
        self.admin(Action::ManageClusters, "DeleteListener", &target).await?;
        let out = self.change("DeleteListener", &target, None, lb::delete_listener(self.control().store(), self.control().listener_states(), cluster, port)).await;
        if out.is_ok() {
            self.balancing_changed(cluster, "listener");
        }
        out
    }

    pub async fn create_rule(&self, cluster: &str, port: i64, input: CreateRuleInput) -> Result<Listener> {
        let target = format!("{cluster}/{port}/{}", input.priority.unwrap_or_default());
        self.use_cluster(cluster).await?;
        let group = lb::rule_target_group(&mut *self.control().read().await?, cluster, port, &input).await?;
        let shared = self.cluster_teams(cluster).await?;
        self.on_team_or_admin(Action::Maintain, group.team.as_deref(), Some(&shared), "CreateRule", &target, &group.name).await?;
        let run = lb::create_rule(self.control().store(), self.control().listener_states(), cluster, port, &group.arn, input);
        let out = self.change("CreateRule", &target, group.team.clone(), run).await;
        if out.is_ok() {
            self.balancing_changed(cluster, "rule");
        }
        let who = self.who()?.clone();
        let groups = self.team_of_groups(cluster).await?;
        out.map(|l| visible_part(&who, &groups, &listener_host(self.control().public_url()), l))
    }

    pub async fn delete_rule(&self, cluster: &str, port: i64, priority: i64) -> Result<Listener> {
        let target = format!("{cluster}/{port}/{priority}");
        self.use_cluster(cluster).await?;
        let group = lb::existing_rule_target_group(&mut *self.control().read().await?, cluster, port, priority).await?;
        let shared = self.cluster_teams(cluster).await?;
        self.on_team_or_admin(Action::Maintain, group.team.as_deref(), Some(&shared), "DeleteRule", &target, &group.name).await?;
        let run = lb::delete_rule(self.control().store(), self.control().listener_states(), cluster, port, priority, &group.arn);
        let out = self.change("DeleteRule", &target, group.team.clone(), run).await;
        if out.is_ok() {
            self.balancing_changed(cluster, "rule");
        }
        let who = self.who()?.clone();
        let groups = self.team_of_groups(cluster).await?;
        out.map(|l| visible_part(&who, &groups, &listener_host(self.control().public_url()), l))
    }

    /// Each target group's team, by ARN.
    async fn team_of_groups(&self, cluster: &str) -> Result<std::collections::HashMap<String, Option<String>>> {
        let rows = crate::store::load_balancing::target_groups(&mut *self.control().read().await?, Some(cluster)).await?;
        Ok(rows.into_iter().map(|g| (g.arn, g.team)).collect())
    }
}

impl Gate {
    /// What a service's page shows of its load balancing: listeners that reach each of its
    /// target groups, and each target's health and traffic over the last minute.
    pub async fn service_balancing(&self, cluster: &str, service: &str) -> Result<ServiceBalancing> {
        use wharf_app::backend::Backend as _;
        let described = self.describe_service(cluster, service).await?;
        let who = self.who()?.clone();
        let listeners = lb::list_listeners(&mut *self.control().read().await?, self.control().listener_states(), cluster).await?;
        let groups = self.team_of_groups(cluster).await?;
        let listeners: Vec<Listener> = listeners.into_iter().map(|l| visible_part(&who, &groups, &listener_host(self.control().public_url()), l)).collect();
        let rates = self.control().load_balancer().map(|lb| lb.rates()).unwrap_or_default();
        let mut entries = Vec::new();
        for entry in &described.config.load_balancers {
            let Some(arn) = entry.target_group_arn.as_deref() else { continue };
            let Ok(group) = lb::describe_target_group(&mut *self.control().read().await?, cluster, arn).await else { continue };
            let reaches = |l: &&Listener| l.rules.iter().any(|r| r.target_group_arn() == arn) || l.default_actions.iter().any(|a| a.target_group_arn.as_deref() == Some(arn));
            let listener_urls = listeners.iter().filter(reaches).filter_map(|l| l.url.clone()).collect();
            let targets = lb::target_health(&mut *self.control().read().await?, cluster, arn)
                .await?
                .into_iter()
                .filter(|t| t.service_name == described.service_name && Some(t.container_name.as_str()) == entry.container_name.as_deref())
                .map(|t| {
                    let address = format!("{}:{}", t.target.id, t.target.port);
                    let addr = address.parse().ok();
                    let rate = addr.and_then(|a| rates.get(&(arn.to_string(), t.task_id.clone(), a))).copied().unwrap_or_default();
                    TargetTraffic {
                        task_id: t.task_id,
                        address,
                        state: t.target_health.state,
                        reason: t.target_health.reason,
                        description: t.target_health.description,
                        requests_per_second: rate.per_second,
                        p99_ms: rate.p99_seconds.map(|s| s * 1000.0),
                        requests: rate.total,
                    }
                })
                .collect();
            entries.push(BalancedPort {
                target_group_name: group.target_group_name,
                container_name: entry.container_name.clone().unwrap_or_default(),
                container_port: entry.container_port.unwrap_or_default(),
                listener_urls,
                targets,
            });
        }
        Ok(ServiceBalancing { entries })
    }
}

/// The host a browser reaches listeners at: the server's public URL's (listeners are served
/// by the same host).
fn listener_host(public_url: &str) -> String {
    let rest = public_url.split_once("://").map_or(public_url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_string(),
        _ => authority.to_string(),
    }
}

/// The portal's load balancing pages go through the same commands as the API's routes.
#[async_trait::async_trait]
impl wharf_app::backend::LoadBalancing for Gate {
    async fn service_balancing(&self, cluster: &str, service: &str) -> Result<ServiceBalancing> {
        Gate::service_balancing(self, cluster, service).await
    }
    async fn list_target_groups(&self, cluster: &str) -> Result<Vec<TargetGroup>> {
        Gate::list_target_groups(self, cluster).await
    }
    async fn create_target_group(&self, cluster: &str, input: CreateTargetGroupInput) -> Result<TargetGroup> {
        Gate::create_target_group(self, cluster, input).await
    }
    async fn list_listeners(&self, cluster: &str) -> Result<Vec<Listener>> {
        Gate::list_listeners(self, cluster).await
    }
    async fn create_listener(&self, cluster: &str, input: CreateListenerInput) -> Result<Listener> {
        Gate::create_listener(self, cluster, input).await
    }
    async fn create_rule(&self, cluster: &str, port: i64, input: CreateRuleInput) -> Result<Listener> {
        Gate::create_rule(self, cluster, port, input).await
    }
    async fn delete_rule(&self, cluster: &str, port: i64, priority: i64) -> Result<Listener> {
        Gate::delete_rule(self, cluster, port, priority).await
    }
}

/// Whether `who` may read what `team` owns (no team: an admin's).
fn readable(who: &Subject, team: Option<&str>) -> bool {
    who.sees_everything() || team.is_some_and(|t| who.role_in(t).is_some())
}

/// A listener with only the rules and default the caller may read: other teams' hosts and
/// paths are theirs.
/// It carries its URL, at the server's public host.
fn visible_part(who: &Subject, groups: &std::collections::HashMap<String, Option<String>>, host: &str, mut listener: Listener) -> Listener {
    listener.url = Some(format!("http://{host}:{}/", listener.port));
    let may = |arn: &str| groups.get(arn).is_some_and(|team| readable(who, team.as_deref()));
    listener.rules.retain(|r| may(r.target_group_arn()));
    listener.default_actions.retain(|a| a.target_group_arn.as_deref().is_some_and(may));
    listener
}
