/*!
Services: `CreateService` / `UpdateService` input, ECS's defaults and rules, and the
described service with its deployments and events.
*/

use crate::task_definition::{PlacementConstraint, Tag, TaskDefinitionRef, validate::check_expression};
use crate::load_balancing::{ServiceLoadBalancer, check_service_load_balancers};
use crate::{FieldErrors, WharfError, names};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const MAX_STRATEGIES: usize = 5;
const MAX_CONSTRAINTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SchedulingStrategy {
    /// Keep `desiredCount` tasks running.
    Replica,
    /// Keep one task on every ACTIVE instance that meets the constraints.
    Daemon,
}

impl SchedulingStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replica => "REPLICA",
            Self::Daemon => "DAEMON",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_percent: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_healthy_percent: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<CircuitBreaker>,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

/// `binpack` on cpu|memory, `spread` on instanceId|attribute:NAME, or `random`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacementStrategy {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The body of `CreateService`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateServiceInput {
    #[serde(default)]
    pub service_name: Option<String>,
    #[serde(default)]
    pub task_definition: Option<String>,
    #[serde(default)]
    pub desired_count: Option<i64>,
    #[serde(default)]
    pub launch_type: Option<String>,
    #[serde(default)]
    pub scheduling_strategy: Option<SchedulingStrategy>,
    #[serde(default)]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    #[serde(default)]
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    #[serde(default)]
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    #[serde(default)]
    pub health_check_grace_period_seconds: Option<i64>,
    #[serde(default)]
    pub tags: Option<Vec<Tag>>,
    /// Target groups that reach a container port of the service's tasks.
    #[serde(default)]
    pub load_balancers: Option<Vec<ServiceLoadBalancer>>,
    /// ECS puts the cluster in the body too; the route's cluster wins.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Fields Wharf keeps but does not act on yet (serviceRegistries, …).
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

/// The body of `UpdateService`: every field optional, absent = unchanged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateServiceInput {
    #[serde(default)]
    pub desired_count: Option<i64>,
    #[serde(default)]
    pub task_definition: Option<String>,
    #[serde(default)]
    pub force_new_deployment: Option<bool>,
    #[serde(default)]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    #[serde(default)]
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    #[serde(default)]
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    #[serde(default)]
    pub health_check_grace_period_seconds: Option<i64>,
    /// Replaces the service's load balancers (a new deployment registers its tasks with them).
    #[serde(default)]
    pub load_balancers: Option<Vec<ServiceLoadBalancer>>,
}

/// A service's checked configuration with ECS's defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceConfig {
    pub task_definition: String,
    pub desired_count: i64,
    pub launch_type: String,
    pub scheduling_strategy: SchedulingStrategy,
    pub deployment_configuration: DeploymentConfiguration,
    pub placement_strategy: Vec<PlacementStrategy>,
    pub placement_constraints: Vec<PlacementConstraint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<i64>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Target groups as ARNs once the server has resolved them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<ServiceLoadBalancer>,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

impl CreateServiceInput {
    /// Checks the input; returns the service name, the referenced revision and the config.
    pub fn validate(self) -> Result<(String, TaskDefinitionRef, ServiceConfig), WharfError> {
        let mut errors = FieldErrors::new();
        let name = match self.service_name.as_deref() {
            None => {
                errors.push("serviceName", "a service needs a name");
                String::new()
            }
            Some(n) => {
                if let Err(m) = names::check_name(n) {
                    errors.push("serviceName", format!("the service name {m}"));
                }
                n.to_string()
            }
        };
        let task_def = check_task_definition(&mut errors, self.task_definition.as_deref(), true);
        let strategy = self.scheduling_strategy.unwrap_or(SchedulingStrategy::Replica);
        if let Some(lt) = self.launch_type.as_deref().filter(|lt| !["EC2", "EXTERNAL"].contains(lt)) {
            errors.push("launchType", format!("'{lt}' is not a launch type Wharf runs; use EC2 or EXTERNAL"));
        }
        let desired_count = match strategy {
            SchedulingStrategy::Replica => match self.desired_count {
                None => {
                    errors.push("desiredCount", "a REPLICA service needs a desiredCount (0 or more)");
                    0
                }
                Some(n) => n,
            },
            // ECS: a daemon's count follows the instances; any given count is ignored.
            SchedulingStrategy::Daemon => 0,
        };
        check_desired_count(&mut errors, desired_count);
        let config = ServiceConfig {
            task_definition: String::new(),
            desired_count,
            launch_type: self.launch_type.unwrap_or_else(|| "EC2".into()),
            scheduling_strategy: strategy,
            deployment_configuration: with_defaults(self.deployment_configuration.unwrap_or_default(), strategy),
            placement_strategy: self.placement_strategy.unwrap_or_default(),
            placement_constraints: self.placement_constraints.unwrap_or_default(),
            health_check_grace_period_seconds: self.health_check_grace_period_seconds,
            tags: self.tags.unwrap_or_default(),
            load_balancers: self.load_balancers.unwrap_or_default(),
            extra: self.extra,
        };
        config.check(&mut errors);
        errors.finish((name, task_def.unwrap_or(TaskDefinitionRef { family: String::new(), revision: None }), config))
    }
}

impl UpdateServiceInput {
    /// Applies the update to `current`. Returns the new config, the revision reference to
    /// resolve if it changed, and whether the change needs a new deployment.
    pub fn apply(self, current: &ServiceConfig) -> Result<(ServiceConfig, Option<TaskDefinitionRef>, bool), WharfError> {
        let mut errors = FieldErrors::new();
        let mut next = current.clone();
        let task_def = check_task_definition(&mut errors, self.task_definition.as_deref(), false);
        if let Some(n) = self.desired_count {
            if current.scheduling_strategy == SchedulingStrategy::Daemon {
                errors.push("desiredCount", "a DAEMON service runs one task per instance; its desiredCount cannot be set");
            }
            check_desired_count(&mut errors, n);
            next.desired_count = n;
        }
        if let Some(dc) = self.deployment_configuration {
            next.deployment_configuration = with_defaults(dc, current.scheduling_strategy);
        }
        if let Some(ps) = self.placement_strategy {
            next.placement_strategy = ps;
        }
        if let Some(pc) = self.placement_constraints {
            next.placement_constraints = pc;
        }
        if let Some(g) = self.health_check_grace_period_seconds {
            next.health_check_grace_period_seconds = Some(g);
        }
        if let Some(lb) = self.load_balancers {
            next.load_balancers = lb;
        }
        next.check(&mut errors);
        // ECS starts a deployment for a new revision, new placement or a forced one; a
        // count change alone only scales the current deployment.
        let redeploy = task_def.is_some()
            || self.force_new_deployment.unwrap_or(false)
            || next.placement_strategy != current.placement_strategy
            || next.placement_constraints != current.placement_constraints
            || next.load_balancers != current.load_balancers;
        errors.finish((next, task_def, redeploy))
    }
}

impl ServiceConfig {
    pub fn minimum_healthy_percent(&self) -> i64 {
        self.deployment_configuration.minimum_healthy_percent.unwrap_or(100)
    }

    pub fn maximum_percent(&self) -> i64 {
        self.deployment_configuration.maximum_percent.unwrap_or(200)
    }

    fn check(&self, errors: &mut FieldErrors) {
        let (min, max) = (self.minimum_healthy_percent(), self.maximum_percent());
        if !(0..=100).contains(&min) {
            errors.push("deploymentConfiguration.minimumHealthyPercent", format!("{min} is out of range (0 to 100)"));
        }
        match self.scheduling_strategy {
            SchedulingStrategy::Replica if !(100..=2000).contains(&max) => errors.push(
                "deploymentConfiguration.maximumPercent",
                format!("{max} is out of range (100 to 2000): a rolling deployment needs room for at least the desired count"),
            ),
            SchedulingStrategy::Daemon if max != 100 => errors.push(
                "deploymentConfiguration.maximumPercent",
                "a DAEMON service replaces tasks in place; its maximumPercent is 100",
            ),
            _ => {}
        }
        if min > max {
            errors.push("deploymentConfiguration.minimumHealthyPercent", format!("{min} must not exceed maximumPercent ({max})"));
        }
        if self.scheduling_strategy == SchedulingStrategy::Daemon && !self.placement_strategy.is_empty() {
            errors.push("placementStrategy", "a DAEMON service places one task per instance and takes no placement strategy");
        }
        check_placement(errors, &self.placement_strategy, &self.placement_constraints);
        if let Some(g) = self.health_check_grace_period_seconds.filter(|g| !(0..=2_147_483_647).contains(g)) {
            errors.push("healthCheckGracePeriodSeconds", format!("{g} is out of range (0 to 2147483647)"));
        }
        check_service_load_balancers(errors, "loadBalancers", &self.load_balancers);
    }
}

/// Checks placement strategies and constraints (services and RunTask share the rules).
pub fn check_placement(errors: &mut FieldErrors, strategies: &[PlacementStrategy], constraints: &[PlacementConstraint]) {
        if strategies.len() > MAX_STRATEGIES {
            errors.push("placementStrategy", format!("at most {MAX_STRATEGIES} strategies; there are {}", strategies.len()));
        }
        for (i, s) in strategies.iter().enumerate() {
            check_strategy(errors, i, s);
        }
        if constraints.len() > MAX_CONSTRAINTS {
            errors.push("placementConstraints", format!("at most {MAX_CONSTRAINTS} constraints; there are {}", constraints.len()));
        }
        for (i, c) in constraints.iter().enumerate() {
            let at = format!("placementConstraints[{i}]");
            match c.kind.as_deref() {
                Some("memberOf") => check_expression(errors, &at, c.expression.as_deref()),
                Some("distinctInstance") if c.expression.is_some() => {
                    errors.push(format!("{at}.expression"), "distinctInstance takes no expression")
                }
                Some("distinctInstance") => {}
                Some(other) => errors.push(format!("{at}.type"), format!("'{other}' is not a constraint type; use memberOf or distinctInstance")),
                None => errors.push(format!("{at}.type"), "a constraint needs a type (memberOf or distinctInstance)"),
            }
        }
}

fn check_strategy(errors: &mut FieldErrors, i: usize, s: &PlacementStrategy) {
    let at = |f: &str| format!("placementStrategy[{i}].{f}");
    match (s.kind.as_deref(), s.field.as_deref()) {
        (Some("binpack"), Some(f)) if f.eq_ignore_ascii_case("cpu") || f.eq_ignore_ascii_case("memory") => {}
        (Some("binpack"), _) => errors.push(at("field"), "binpack packs on cpu or memory"),
        (Some("spread"), Some(f)) if f == "instanceId" || f == "host" || f.strip_prefix("attribute:").is_some_and(|n| !n.is_empty()) => {}
        (Some("spread"), _) => errors.push(at("field"), "spread needs a field: instanceId or attribute:NAME (e.g. attribute:ecs.availability-zone)"),
        (Some("random"), None) => {}
        (Some("random"), Some(_)) => errors.push(at("field"), "random takes no field"),
        (Some(other), _) => errors.push(at("type"), format!("'{other}' is not a strategy; use binpack, spread or random")),
        (None, _) => errors.push(at("type"), "a strategy needs a type: binpack, spread or random"),
    }
}

fn check_desired_count(errors: &mut FieldErrors, n: i64) {
    if !(0..=100_000).contains(&n) {
        errors.push("desiredCount", format!("{n} is out of range (0 to 100000)"));
    }
}

fn check_task_definition(errors: &mut FieldErrors, text: Option<&str>, required: bool) -> Option<TaskDefinitionRef> {
    match text {
        None if required => {
            errors.push("taskDefinition", "name the task definition to run, as family or family:revision");
            None
        }
        None => None,
        Some(t) => TaskDefinitionRef::parse(t).map_err(|m| errors.push("taskDefinition", m)).ok(),
    }
}

/// ECS's defaults: REPLICA 100/200, DAEMON 0/100; circuit breaker off.
fn with_defaults(mut dc: DeploymentConfiguration, strategy: SchedulingStrategy) -> DeploymentConfiguration {
    let (min, max) = match strategy {
        SchedulingStrategy::Replica => (100, 200),
        SchedulingStrategy::Daemon => (0, 100),
    };
    dc.minimum_healthy_percent.get_or_insert(min);
    dc.maximum_percent.get_or_insert(max);
    dc.deployment_circuit_breaker.get_or_insert_with(CircuitBreaker::default);
    dc
}

/// ECS's deployment: the change of a service to one revision/configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deployment {
    pub id: String,
    /// PRIMARY (the newest), ACTIVE (still draining) or INACTIVE (done).
    pub status: String,
    pub task_definition: String,
    pub desired_count: i64,
    pub pending_count: i64,
    pub running_count: i64,
    pub failed_tasks: i64,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: String,
    pub message: String,
}

/// A service as `DescribeServices` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Service {
    pub service_arn: String,
    pub service_name: String,
    pub cluster_arn: String,
    /// ACTIVE, DRAINING or INACTIVE (deleted).
    pub status: String,
    pub running_count: i64,
    pub pending_count: i64,
    pub created_at: String,
    /// Why tasks the service wants are not placed (not an ECS field): every instance counted
    /// by the first rule that turned it away. Absent when nothing is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_reason: Option<String>,
    #[serde(flatten)]
    pub config: ServiceConfig,
    #[serde(default)]
    pub deployments: Vec<Deployment>,
    #[serde(default)]
    pub events: Vec<ServiceEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: serde_json::Value) -> Result<(String, TaskDefinitionRef, ServiceConfig), WharfError> {
        serde_json::from_value::<CreateServiceInput>(json).unwrap().validate()
    }

    #[test]
    fn defaults_follow_ecs() {
        let (_, td, cfg) = create(serde_json::json!({"serviceName": "web", "taskDefinition": "web:3", "desiredCount": 2})).unwrap();
        assert_eq!(td.revision, Some(3));
        assert_eq!((cfg.minimum_healthy_percent(), cfg.maximum_percent()), (100, 200));
        let (_, _, cfg) = create(serde_json::json!({"serviceName": "logs", "taskDefinition": "logs", "schedulingStrategy": "DAEMON"})).unwrap();
        assert_eq!((cfg.minimum_healthy_percent(), cfg.maximum_percent()), (0, 100));
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let err = create(serde_json::json!({
            "serviceName": "bad name", "desiredCount": -1,
            "deploymentConfiguration": {"minimumHealthyPercent": 150},
            "placementStrategy": [{"type": "binpack", "field": "disk"}],
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:x =="}]
        }))
        .unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        for f in ["serviceName", "taskDefinition", "desiredCount", "deploymentConfiguration.minimumHealthyPercent",
                  "placementStrategy[0].field", "placementConstraints[0].expression"] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn updates_decide_on_a_new_deployment() {
        let (_, _, cfg) = create(serde_json::json!({"serviceName": "web", "taskDefinition": "web:3", "desiredCount": 2})).unwrap();
        let (next, td, redeploy) = UpdateServiceInput { desired_count: Some(5), ..Default::default() }.apply(&cfg).unwrap();
        assert_eq!((next.desired_count, td, redeploy), (5, None, false));
        let (_, _, redeploy) = UpdateServiceInput { force_new_deployment: Some(true), ..Default::default() }.apply(&cfg).unwrap();
        assert!(redeploy);
    }
}
