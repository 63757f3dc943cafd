/*!
Load balancing in Elastic Load Balancing's shape: **target groups** (a health check and a
deregistration delay, owned by a team), **listeners** (a port with rules on host and path that
forward to target groups) and a service's `loadBalancers` (which container port of its tasks
a target group reaches). Inputs are checked here, field by field; names and defaults are ELB's,
with shorter health checks allowed.
*/

mod listener;
mod target_group;

pub use listener::*;
pub use target_group::*;

use crate::FieldErrors;
use serde::{Deserialize, Serialize};

/// ARNs in ELB's layout: `arn:wharf:elasticloadbalancing:<region>:<account>:<resource>`.
pub fn arn(resource: &str) -> String {
    format!("arn:wharf:elasticloadbalancing:{}:{}:{resource}", crate::arn::REGION, crate::arn::ACCOUNT)
}

/// A service's load balancing as its page shows it: per `loadBalancers` entry, the listeners
/// that reach it and each target with its health and traffic.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceBalancing {
    pub entries: Vec<BalancedPort>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalancedPort {
    pub target_group_name: String,
    pub container_name: String,
    pub container_port: i64,
    /// `http://host:port/` of each listener whose rules or default reach the group.
    pub listener_urls: Vec<String>,
    pub targets: Vec<TargetTraffic>,
}

/// One target with its health and what the load balancer sent it over the last minute.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetTraffic {
    pub task_id: String,
    pub address: String,
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub requests_per_second: f64,
    /// Milliseconds, from the latency histogram's buckets; none without requests.
    #[serde(default)]
    pub p99_ms: Option<f64>,
    /// Requests since the server started.
    pub requests: u64,
}

/// The most `loadBalancers` entries a service may have (ECS's limit).
pub const MAX_SERVICE_LOAD_BALANCERS: usize = 5;

/// One entry of a service's `loadBalancers`: its tasks' `containerName`:`containerPort`
/// become targets of `targetGroupArn`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceLoadBalancer {
    /// A target group of the service's cluster, by ARN or by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i64>,
    /// Classic load balancers are not Wharf's; named only to refuse them by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_name: Option<String>,
}

/// Checks the shape of a service's `loadBalancers` (whether the target groups and containers
/// exist is the server's to check).
pub fn check_service_load_balancers(errors: &mut FieldErrors, field: &str, entries: &[ServiceLoadBalancer]) {
    if entries.len() > MAX_SERVICE_LOAD_BALANCERS {
        errors.push(field, format!("at most {MAX_SERVICE_LOAD_BALANCERS} load balancers; there are {}", entries.len()));
    }
    for (i, entry) in entries.iter().enumerate() {
        let at = |name: &str| format!("{field}[{i}].{name}");
        if entry.load_balancer_name.is_some() {
            errors.push(at("loadBalancerName"), "classic load balancers are not supported; name a target group in targetGroupArn");
        }
        match entry.target_group_arn.as_deref() {
            None | Some("") => errors.push(at("targetGroupArn"), "a target group (its ARN or name) is required"),
            Some(tg) if tg.len() > 512 => errors.push(at("targetGroupArn"), "is longer than 512 characters"),
            _ => {}
        }
        if entry.container_name.as_deref().is_none_or(str::is_empty) {
            errors.push(at("containerName"), "the container whose port the target group reaches is required");
        }
        match entry.container_port {
            None => errors.push(at("containerPort"), "the container port the target group reaches is required"),
            Some(p) if !(1..=65535).contains(&p) => errors.push(at("containerPort"), format!("{p} is not a port (1 to 65535)")),
            _ => {}
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let key = (&entry.target_group_arn, &entry.container_name, entry.container_port);
        if !seen.insert(key) {
            errors.push(format!("{field}[{i}]"), "the same target group, container and port are named twice");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_names_target_group_container_and_port() {
        let mut errors = FieldErrors::new();
        let good = ServiceLoadBalancer { target_group_arn: Some("web".into()), container_name: Some("app".into()), container_port: Some(80), load_balancer_name: None };
        let entries = vec![
            good.clone(),
            ServiceLoadBalancer { container_port: Some(70000), target_group_arn: None, ..good.clone() },
            ServiceLoadBalancer { load_balancer_name: Some("classic".into()), ..good.clone() },
            good.clone(),
        ];
        check_service_load_balancers(&mut errors, "loadBalancers", &entries);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["loadBalancers[1].targetGroupArn", "loadBalancers[1].containerPort", "loadBalancers[2].loadBalancerName", "loadBalancers[2]", "loadBalancers[3]"]
        );
    }
}
