/*!
Target groups, listeners and rules: each command one transaction. Who may run them is the
gate's to decide; here the rules that hold whoever asks: names unique per cluster, a rule's
priority once per listener, a target group in use is not deleted, and a rule or service only
reaches target groups of its own cluster.
*/

use super::cluster_not_found;
use crate::store::{self, Store, clusters, load_balancing as sql};
use sqlx::AnyConnection;
use wharf_app::backend::Result;
use wharf_core::WharfError;
use wharf_core::service::ServiceConfig;
use wharf_core::load_balancing::{
    CreateListenerInput, CreateRuleInput, CreateTargetGroupInput, Listener, ListenerAction, ModifyListenerInput, TargetGroup,
    TargetGroupSettings, arn, listener_arn,
};

/// What the load balancer serves now: the state of each listener's port, filled in by the
/// server that runs it.
pub trait ListenerStates: Send + Sync {
    /// `ACTIVE`, `PROVISIONING` or `FAILED`, and why it failed.
    fn state(&self, port: i64) -> (String, Option<String>);
}

/// The states of a server that runs no load balancer (a test's, or one starting).
pub struct NotServed;

impl ListenerStates for NotServed {
    fn state(&self, _port: i64) -> (String, Option<String>) {
        ("PROVISIONING".into(), None)
    }
}

pub async fn create_target_group(store: &Store, cluster: &str, team: Option<&str>, input: CreateTargetGroupInput) -> Result<TargetGroup> {
    let (name, config) = input.validate()?;
    let mut w = store.write().await?;
    clusters::get(w.conn(), cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let id = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let row = sql::TargetGroupRow {
        arn: arn(&format!("targetgroup/{name}/{id}")),
        cluster: cluster.to_string(),
        name: name.clone(),
        team: team.map(str::to_string),
        config,
        created_at: store::now(),
    };
    if !sql::insert_target_group(w.conn(), &row).await? {
        return Err(WharfError::conflict(format!("the cluster '{cluster}' already has a target group named '{name}'")));
    }
    let described = describe_row(w.conn(), row).await?;
    w.commit().await?;
    Ok(described)
}

/// A target group of `cluster`, by ARN or name.
/// How long a service's tasks may drain out of its target groups before they stop: the
/// longest deregistration delay of them; none for a service without load balancers.
pub(crate) async fn drain_delay(conn: &mut AnyConnection, config: &ServiceConfig) -> Result<Option<i64>> {
    let mut delay = None;
    for arn in config.load_balancers.iter().filter_map(|lb| lb.target_group_arn.as_deref()) {
        if let Some(group) = sql::find_target_group_by_arn(&mut *conn, arn).await? {
            delay = delay.max(Some(group.config.deregistration_delay_seconds));
        }
    }
    Ok(delay)
}

pub async fn target_group(conn: &mut AnyConnection, cluster: &str, arn_or_name: &str) -> Result<sql::TargetGroupRow> {
    clusters::get(conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    sql::find_target_group(conn, cluster, arn_or_name)
        .await?
        .ok_or_else(|| WharfError::not_found(format!("no target group '{arn_or_name}' in cluster '{cluster}'")))
}

pub async fn describe_target_group(conn: &mut AnyConnection, cluster: &str, arn_or_name: &str) -> Result<TargetGroup> {
    let row = target_group(conn, cluster, arn_or_name).await?;
    describe_row(conn, row).await
}

pub async fn list_target_groups(conn: &mut AnyConnection, cluster: &str) -> Result<Vec<TargetGroup>> {
    clusters::get(conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let mut out = Vec::new();
    for row in sql::target_groups(conn, Some(cluster)).await? {
        out.push(describe_row(conn, row).await?);
    }
    Ok(out)
}

async fn describe_row(conn: &mut AnyConnection, row: sql::TargetGroupRow) -> Result<TargetGroup> {
    let listener_ports = sql::listener_ports_of(conn, &row.arn).await?;
    let service_names = services_using(conn, &row.cluster, &row.arn).await?;
    Ok(TargetGroup {
        target_group_arn: row.arn,
        target_group_name: row.name,
        cluster_name: row.cluster,
        team_name: row.team,
        config: row.config,
        created_at: row.created_at,
        listener_ports,
        service_names,
    })
}

/// Names of the live services whose tasks a target group reaches.
async fn services_using(conn: &mut AnyConnection, cluster: &str, arn: &str) -> Result<Vec<String>> {
    let services = store::scheduling::services(conn, cluster).await?;
    Ok(services
        .into_iter()
        .filter(|s| s.row.config.load_balancers.iter().any(|lb| lb.target_group_arn.as_deref() == Some(arn)))
        .map(|s| s.row.name)
        .collect())
}

/// Changes a target group's health check or delay, if it still has the team the caller was
/// checked against.
pub async fn modify_target_group(store: &Store, cluster: &str, arn_or_name: &str, team: Option<&str>, input: TargetGroupSettings) -> Result<TargetGroup> {
    let mut w = store.write().await?;
    let row = target_group(w.conn(), cluster, arn_or_name).await?;
    let mut errors = wharf_core::FieldErrors::new();
    let config = input.apply(&row.config, &mut errors);
    errors.finish(())?;
    if !sql::update_target_group(w.conn(), &row.arn, team, &config).await? {
        return Err(changed_meanwhile(&row.name));
    }
    let described = describe_row(w.conn(), sql::TargetGroupRow { config, ..row }).await?;
    w.commit().await?;
    Ok(described)
}

pub async fn delete_target_group(store: &Store, cluster: &str, arn_or_name: &str, team: Option<&str>) -> Result<TargetGroup> {
    let mut w = store.write().await?;
    let row = target_group(w.conn(), cluster, arn_or_name).await?;
    let described = describe_row(w.conn(), row.clone()).await?;
    // ELB's ResourceInUse: what still sends requests to it goes first.
    if !described.listener_ports.is_empty() {
        let ports: Vec<String> = described.listener_ports.iter().map(i64::to_string).collect();
        return Err(WharfError::conflict(format!(
            "the target group '{}' is used by the listener(s) on port {}; delete those rules or defaults first",
            row.name,
            ports.join(", ")
        )));
    }
    if !described.service_names.is_empty() {
        return Err(WharfError::conflict(format!(
            "the target group '{}' is used by the service(s) {}; update or delete them first",
            row.name,
            described.service_names.join(", ")
        )));
    }
    if !sql::delete_target_group(w.conn(), &row.arn, team).await? {
        return Err(changed_meanwhile(&row.name));
    }
    w.commit().await?;
    Ok(described)
}

fn changed_meanwhile(name: &str) -> WharfError {
    WharfError::conflict(format!("the target group '{name}' changed owner meanwhile; look again and retry"))
}

/// Resolves a forward action's target group (ARN or name) in `cluster`, naming `field` when
/// there is none.
async fn resolve_action(conn: &mut AnyConnection, cluster: &str, action: &ListenerAction, field: &str) -> Result<sql::TargetGroupRow> {
    let wanted = action.target_group_arn.as_deref().unwrap_or_default();
    sql::find_target_group(conn, cluster, wanted)
        .await?
        .ok_or_else(|| WharfError::invalid_field(field, format!("no target group '{wanted}' in cluster '{cluster}'")))
}

pub async fn create_listener(store: &Store, states: &dyn ListenerStates, cluster: &str, input: CreateListenerInput) -> Result<Listener> {
    let (port, actions) = input.validate()?;
    let mut w = store.write().await?;
    clusters::get(w.conn(), cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let default = match actions.first() {
        Some(action) => Some(resolve_action(w.conn(), cluster, action, "defaultActions[0].targetGroupArn").await?.arn),
        None => None,
    };
    let row = sql::ListenerRow { port, cluster: cluster.to_string(), default_target_group: default, created_at: store::now(), rules: Vec::new() };
    if !sql::insert_listener(w.conn(), &row).await? {
        let owner = sql::listener(w.conn(), port).await?.map(|l| l.cluster).unwrap_or_default();
        return Err(WharfError::conflict(format!("port {port} already has a listener (of cluster '{owner}')")));
    }
    let described = describe_listener_row(w.conn(), states, row).await?;
    w.commit().await?;
    Ok(described)
}

/// A listener of `cluster` by port.
async fn listener_row(conn: &mut AnyConnection, cluster: &str, port: i64) -> Result<sql::ListenerRow> {
    clusters::get(conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    sql::listener(conn, port)
        .await?
        .filter(|l| l.cluster == cluster)
        .ok_or_else(|| WharfError::not_found(format!("no listener on port {port} in cluster '{cluster}'")))
}

pub async fn describe_listener(conn: &mut AnyConnection, states: &dyn ListenerStates, cluster: &str, port: i64) -> Result<Listener> {
    let row = listener_row(conn, cluster, port).await?;
    describe_listener_row(conn, states, row).await
}

pub async fn list_listeners(conn: &mut AnyConnection, states: &dyn ListenerStates, cluster: &str) -> Result<Vec<Listener>> {
    clusters::get(conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let mut out = Vec::new();
    for row in sql::listeners(conn, Some(cluster)).await? {
        out.push(describe_listener_row(conn, states, row).await?);
    }
    Ok(out)
}

async fn describe_listener_row(conn: &mut AnyConnection, states: &dyn ListenerStates, row: sql::ListenerRow) -> Result<Listener> {
    let groups = sql::target_groups(conn, Some(&row.cluster)).await?;
    let team_of = |arn: &str| groups.iter().find(|g| g.arn == arn).and_then(|g| g.team.clone());
    let (state, state_reason) = states.state(row.port);
    Ok(Listener {
        listener_arn: listener_arn(&row.cluster, row.port),
        port: row.port,
        protocol: "HTTP".into(),
        default_actions: row
            .default_target_group
            .iter()
            .map(|tg| ListenerAction { kind: Some("forward".into()), target_group_arn: Some(tg.clone()) })
            .collect(),
        rules: row.rules.iter().map(|r| r.describe(&row.cluster, row.port, team_of(&r.target_group).as_deref())).collect(),
        created_at: row.created_at,
        cluster_name: row.cluster,
        state,
        state_reason,
        url: None,
    })
}

pub async fn modify_listener(store: &Store, states: &dyn ListenerStates, cluster: &str, port: i64, input: ModifyListenerInput) -> Result<Listener> {
    let actions = input.validate()?;
    let mut w = store.write().await?;
    let row = listener_row(w.conn(), cluster, port).await?;
    let default = match actions.first() {
        Some(action) => Some(resolve_action(w.conn(), cluster, action, "defaultActions[0].targetGroupArn").await?.arn),
        None => None,
    };
    sql::set_default_target_group(w.conn(), port, default.as_deref()).await?;
    let described = describe_listener_row(w.conn(), states, sql::ListenerRow { default_target_group: default, ..row }).await?;
    w.commit().await?;
    Ok(described)
}

pub async fn delete_listener(store: &Store, states: &dyn ListenerStates, cluster: &str, port: i64) -> Result<Listener> {
    let mut w = store.write().await?;
    let row = listener_row(w.conn(), cluster, port).await?;
    let described = describe_listener_row(w.conn(), states, row).await?;
    sql::delete_listener(w.conn(), port).await?;
    w.commit().await?;
    Ok(described)
}

/// The target group a new rule would forward to (for the gate, which checks its team).
pub async fn rule_target_group(conn: &mut AnyConnection, cluster: &str, port: i64, input: &CreateRuleInput) -> Result<sql::TargetGroupRow> {
    let (_, _, action) = input.validate()?;
    listener_row(conn, cluster, port).await?;
    resolve_action(conn, cluster, &action, "actions[0].targetGroupArn").await
}

/// Adds a rule forwarding to `expected` (the target group the caller was checked against).
pub async fn create_rule(store: &Store, states: &dyn ListenerStates, cluster: &str, port: i64, expected: &str, input: CreateRuleInput) -> Result<Listener> {
    let (priority, conditions, action) = input.validate()?;
    let mut w = store.write().await?;
    let listener = listener_row(w.conn(), cluster, port).await?;
    let group = resolve_action(w.conn(), cluster, &action, "actions[0].targetGroupArn").await?;
    if group.arn != expected {
        return Err(changed_meanwhile(&group.name));
    }
    if listener.rules.len() >= wharf_core::load_balancing::MAX_RULES {
        return Err(WharfError::conflict(format!("the listener on port {port} has {} rules, the most it may hold", listener.rules.len())));
    }
    if let Some(team) = group.team.as_deref() {
        let groups = sql::target_groups(w.conn(), Some(cluster)).await?;
        let others: Vec<(i64, &str, Vec<String>)> = listener
            .rules
            .iter()
            .filter_map(|r| {
                let owner = groups.iter().find(|g| g.arn == r.target_group)?.team.as_deref()?;
                (owner != team).then(|| (r.priority, owner, hosts_of(&r.conditions).into_iter().map(|(_, h)| h).collect()))
            })
            .collect();
        check_team_hosts(team, &hosts_of(&conditions), &others)?;
    }
    let rule = sql::RuleRow { priority, target_group: group.arn, conditions, created_at: store::now() };
    if !sql::insert_rule(w.conn(), port, &rule).await? {
        return Err(WharfError::invalid_field("priority", format!("the listener on port {port} already has a rule at priority {priority}")));
    }
    let row = listener_row(w.conn(), cluster, port).await?;
    let described = describe_listener_row(w.conn(), states, row).await?;
    w.commit().await?;
    Ok(described)
}

/// A rule's host patterns, each with its field path.
fn hosts_of(conditions: &[wharf_core::load_balancing::RuleCondition]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, c) in conditions.iter().enumerate().filter(|(_, c)| c.field.as_deref() == Some("host-header")) {
        for (j, v) in c.values.iter().flatten().enumerate() {
            out.push((format!("conditions[{i}].values[{j}]"), v.clone()));
        }
    }
    out
}

/// A team's rule on a shared listener names the hosts it serves, none of which another team's
/// rule may also take: otherwise a team could put a rule for every host (or another team's)
/// before theirs and receive their requests. Only an admin's target groups take every host.
fn check_team_hosts(team: &str, hosts: &[(String, String)], others: &[(i64, &str, Vec<String>)]) -> Result<()> {
    if hosts.is_empty() {
        return Err(WharfError::invalid_field(
            "conditions",
            format!("a rule of team '{team}' names the hosts it serves (a host-header condition); only an admin's target group takes every host"),
        ));
    }
    for (field, host) in hosts {
        // "*.shop.example" is a team's; "*", "*.example" and the like are everyone's.
        let fixed = host.trim_start_matches("*.");
        if fixed.contains(['*', '?']) || !fixed.contains('.') {
            return Err(WharfError::invalid_field(
                field.as_str(),
                format!("'{host}' would take hosts of other teams; name a host, or '*.' and a domain of two labels or more"),
            ));
        }
        for (priority, owner, theirs) in others {
            let overlap = |a: &str, b: &str| wharf_lb::table::glob_matches(a, b, true) || wharf_lb::table::glob_matches(b, a, true);
            if theirs.is_empty() || theirs.iter().any(|t| overlap(host, t)) {
                return Err(WharfError::conflict(format!(
                    "the host '{host}' is served by team '{owner}''s rule at priority {priority} on this listener; a host belongs to one team"
                )));
            }
        }
    }
    Ok(())
}

/// The target group a rule forwards to (for the gate).
pub async fn existing_rule_target_group(conn: &mut AnyConnection, cluster: &str, port: i64, priority: i64) -> Result<sql::TargetGroupRow> {
    let listener = listener_row(conn, cluster, port).await?;
    let rule = listener
        .rules
        .iter()
        .find(|r| r.priority == priority)
        .ok_or_else(|| WharfError::not_found(format!("the listener on port {port} has no rule at priority {priority}")))?;
    target_group(conn, cluster, &rule.target_group).await
}

/// Deletes a rule, if it still forwards to `expected`.
pub async fn delete_rule(store: &Store, states: &dyn ListenerStates, cluster: &str, port: i64, priority: i64, expected: &str) -> Result<Listener> {
    let mut w = store.write().await?;
    listener_row(w.conn(), cluster, port).await?;
    if !sql::delete_rule(w.conn(), port, priority, expected).await? {
        return Err(WharfError::conflict(format!("the rule at priority {priority} changed meanwhile; look again and retry")));
    }
    let row = listener_row(w.conn(), cluster, port).await?;
    let described = describe_listener_row(w.conn(), states, row).await?;
    w.commit().await?;
    Ok(described)
}

/// Checks a service's `loadBalancers` against its cluster and revision and returns them with
/// target groups as ARNs: each target group must be the cluster's and of the service's own
/// team (a team's listener rules must not reach another team's tasks), and each container must
/// map the port over TCP.
pub async fn resolve_service_load_balancers(
    conn: &mut AnyConnection,
    cluster: &str,
    definition: &wharf_core::task_definition::TaskDefinition,
    entries: &[wharf_core::load_balancing::ServiceLoadBalancer],
) -> Result<Vec<wharf_core::load_balancing::ServiceLoadBalancer>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let team = store::accounts::family_team(conn, definition.family()).await?.flatten();
    let mut errors = wharf_core::FieldErrors::new();
    let mut resolved = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let at = |name: &str| format!("loadBalancers[{i}].{name}");
        let wanted = entry.target_group_arn.as_deref().unwrap_or_default();
        let mut next = entry.clone();
        match sql::find_target_group(conn, cluster, wanted).await? {
            None => errors.push(at("targetGroupArn"), format!("no target group '{wanted}' in cluster '{cluster}'")),
            Some(group) if group.team != team => errors.push(
                at("targetGroupArn"),
                format!(
                    "the target group '{}' belongs to {}, and {} belongs to {}; a service uses its own team's target groups",
                    group.name,
                    owner(group.team.as_deref()),
                    definition.family(),
                    owner(team.as_deref())
                ),
            ),
            Some(group) => next.target_group_arn = Some(group.arn),
        }
        let name = entry.container_name.as_deref().unwrap_or_default();
        let port = entry.container_port.unwrap_or_default();
        match definition.containers().iter().find(|c| c.name.as_deref() == Some(name)) {
            None => errors.push(at("containerName"), format!("{} has no container named '{name}'", definition.name())),
            Some(container) => {
                let maps = container
                    .port_mappings
                    .iter()
                    .flatten()
                    .any(|pm| pm.container_port == Some(port) && pm.protocol.as_deref().is_none_or(|p| p.eq_ignore_ascii_case("tcp")));
                if !maps {
                    errors.push(
                        at("containerPort"),
                        format!("the container '{name}' of {} maps no TCP port {port}; add it to its portMappings", definition.name()),
                    );
                }
            }
        }
        resolved.push(next);
    }
    errors.finish(resolved)
}

fn owner(team: Option<&str>) -> String {
    team.map_or("no team (an admin's)".to_string(), |t| format!("team '{t}'"))
}

/// DescribeTargetHealth: every target the group has now, with what the load balancer last
/// said of it (`initial` until it says something).
pub async fn target_health(conn: &mut AnyConnection, cluster: &str, arn: &str) -> Result<Vec<wharf_core::load_balancing::TargetHealthDescription>> {
    use wharf_core::load_balancing::{TargetDescription, TargetHealth, TargetHealthDescription};
    let said = sql::health(conn, Some(arn)).await?;
    let targets = crate::load_balancer::targets(conn, cluster).await?;
    Ok(targets
        .into_iter()
        .filter(|t| t.target_group == arn)
        .map(|t| {
            let address = t.addr.to_string();
            let row = said.iter().find(|h| h.task_id == t.task_id && h.address == address);
            let target_health = match row {
                _ if t.draining => TargetHealth {
                    state: "draining".into(),
                    reason: Some("Target.DeregistrationInProgress".into()),
                    description: Some("Target deregistration is in progress".into()),
                },
                Some(h) => TargetHealth { state: h.state.clone(), reason: h.reason.clone(), description: h.description.clone() },
                None => TargetHealth {
                    state: "initial".into(),
                    reason: Some("Elb.RegistrationInProgress".into()),
                    description: Some("Target registration is in progress".into()),
                },
            };
            TargetHealthDescription {
                target: TargetDescription { id: t.addr.ip().to_string(), port: i64::from(t.addr.port()) },
                target_health,
                task_id: t.task_id,
                service_name: t.service_name,
                container_name: t.container_name,
                container_port: t.container_port,
                updated_at: row.map(|h| h.updated_at.clone()),
            }
        })
        .collect())
}
