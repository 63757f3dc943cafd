/*!
Placement strategies and constraints in the scheduler's own terms, taken from their ECS JSON
(already validated by `wharf-core`), and the filter every instance goes through.
*/

use crate::snapshot::{Demand, HostPort, Instance, InstanceStatus};
use wharf_core::expr::{self, Expr};
use wharf_core::service::PlacementStrategy;
use wharf_core::task_definition::PlacementConstraint;

/// The ECS attribute services spread over when they name no strategy.
pub const ZONE_ATTRIBUTE: &str = "ecs.availability-zone";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Memory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Fewest units of the resource left after placement wins.
    Binpack(Resource),
    /// Fewest tasks of the group on the instance wins.
    SpreadInstance,
    /// Fewest tasks of the group among instances with the same attribute value wins.
    SpreadAttribute(String),
    /// A seeded draw.
    Random,
}

impl Strategy {
    /// ECS JSON to a strategy; `None` for what validation rejects.
    pub fn from_ecs(s: &PlacementStrategy) -> Option<Self> {
        let field = s.field.as_deref().unwrap_or("");
        match s.kind.as_deref()? {
            "binpack" if field.eq_ignore_ascii_case("cpu") => Some(Self::Binpack(Resource::Cpu)),
            "binpack" if field.eq_ignore_ascii_case("memory") => Some(Self::Binpack(Resource::Memory)),
            "spread" if field == "instanceId" || field == "host" => Some(Self::SpreadInstance),
            "spread" => field.strip_prefix("attribute:").filter(|n| !n.is_empty()).map(|n| Self::SpreadAttribute(n.into())),
            "random" => Some(Self::Random),
            _ => None,
        }
    }

    /// The strategies of a placement request: ECS's default (spread over availability zones,
    /// then over instances so tasks of one zone do not pile onto one host) when none is given.
    pub fn list_or_default(given: &[PlacementStrategy]) -> Vec<Self> {
        let list: Vec<Self> = given.iter().filter_map(Self::from_ecs).collect();
        if list.is_empty() { vec![Self::SpreadAttribute(ZONE_ATTRIBUTE.into()), Self::SpreadInstance] } else { list }
    }
}

#[derive(Debug, Clone)]
pub enum Constraint {
    /// Each task of the group on a different instance.
    DistinctInstance,
    /// Only instances the expression selects.
    MemberOf { expression: String, expr: Expr },
}

impl Constraint {
    /// ECS JSON to constraints; an expression that does not parse is an error naming it.
    pub fn from_ecs(list: &[PlacementConstraint]) -> Result<Vec<Self>, String> {
        list.iter()
            .map(|c| match c.kind.as_deref() {
                Some("distinctInstance") => Ok(Self::DistinctInstance),
                Some("memberOf") => {
                    let expression = c.expression.clone().unwrap_or_default();
                    let expr = expr::parse(&expression).map_err(|e| format!("memberOf({expression}): {e}"))?;
                    Ok(Self::MemberOf { expression, expr })
                }
                other => Err(format!("'{}' is not a constraint type", other.unwrap_or(""))),
            })
            .collect()
    }

    /// Whether the answer can change as tasks are placed.
    pub(crate) fn reads_tasks(&self) -> bool {
        match self {
            Self::DistinctInstance => true,
            Self::MemberOf { expr, .. } => expr.reads_tasks(),
        }
    }

    pub(crate) fn allows(&self, instance: &Instance, group: &str) -> bool {
        match self {
            Self::DistinctInstance => instance.group_count(group) == 0,
            Self::MemberOf { expr, .. } => expr.matches(instance),
        }
    }
}

/// Why an instance cannot take a task, in the order the filters run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    Status(&'static str),
    Disconnected,
    MissingAttribute(String),
    Constraint(String),
    DistinctInstance,
    Cpu,
    Memory,
    Port(HostPort),
}

impl Rejection {
    /// Rejections that only grow stronger as tasks are placed (resources run down, groups
    /// fill up): an instance rejected so is out for the rest of the request.
    pub(crate) fn is_final(&self) -> bool {
        matches!(self, Self::DistinctInstance | Self::Cpu | Self::Memory | Self::Port(_))
    }
}

/// Filters that do not depend on tasks already placed: status, agent, attributes, and the
/// constraints that read only the instance.
pub(crate) fn check_static(instance: &Instance, demand: &Demand, constraints: &[Constraint]) -> Result<(), Rejection> {
    if !instance.connected && instance.status == InstanceStatus::Active {
        return Err(Rejection::Disconnected);
    }
    may_keep(instance, demand, constraints)
}

/// Whether a task of this kind belongs on the instance at all, agent connected or not: what
/// a DAEMON keeps running through a short disconnect.
pub(crate) fn may_keep(instance: &Instance, demand: &Demand, constraints: &[Constraint]) -> Result<(), Rejection> {
    match instance.status {
        InstanceStatus::Active => {}
        other => return Err(Rejection::Status(other.as_str())),
    }
    for (name, value) in &demand.requires_attributes {
        let ok = match (instance.attributes.get(name), value) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(have), Some(want)) => have == want,
        };
        if !ok {
            let shown = value.as_ref().map_or(name.clone(), |v| format!("{name}={v}"));
            return Err(Rejection::MissingAttribute(shown));
        }
    }
    for c in constraints.iter().filter(|c| !c.reads_tasks()) {
        if let Constraint::MemberOf { expression, .. } = c
            && !c.allows(instance, &demand.group)
        {
            return Err(Rejection::Constraint(expression.clone()));
        }
    }
    Ok(())
}

/// Filters that change as tasks are placed: constraints on tasks, then resources and ports.
pub(crate) fn check_dynamic(instance: &Instance, demand: &Demand, constraints: &[Constraint]) -> Result<(), Rejection> {
    for c in constraints.iter().filter(|c| c.reads_tasks()) {
        if !c.allows(instance, &demand.group) {
            return Err(match c {
                Constraint::DistinctInstance => Rejection::DistinctInstance,
                Constraint::MemberOf { expression, .. } => Rejection::Constraint(expression.clone()),
            });
        }
    }
    if instance.cpu < demand.cpu {
        return Err(Rejection::Cpu);
    }
    if instance.memory < demand.memory {
        return Err(Rejection::Memory);
    }
    if let Some(p) = demand.ports.iter().find(|p| instance.ports.contains(p)) {
        return Err(Rejection::Port(*p));
    }
    Ok(())
}

/// The whole pipeline for one instance.
pub fn check(instance: &Instance, demand: &Demand, constraints: &[Constraint]) -> Result<(), Rejection> {
    check_static(instance, demand, constraints)?;
    check_dynamic(instance, demand, constraints)
}
