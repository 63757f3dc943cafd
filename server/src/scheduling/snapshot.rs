/*!
From store rows to the scheduler's terms: the cluster snapshot (what each instance has left
once its live tasks are counted), a task definition's demand, a task's health.
*/

use crate::store::scheduling::LiveTask;
use std::collections::HashMap;
use std::time::Duration;
use wharf_core::instance::ContainerInstance;
use wharf_core::protocol::{TaskSpec, task_reservation};
use wharf_core::task_definition::TaskDefinition;
use wharf_scheduler::service::TaskHealth;
use wharf_scheduler::{Demand, HostPort, Instance, InstanceStatus, Snapshot};

pub struct Cluster {
    pub snapshot: Snapshot,
    /// Per snapshot position: its agent has been away longer than the grace period.
    pub lost: Vec<bool>,
}

pub fn build(instances: &[ContainerInstance], live: &[&LiveTask], lost_after: Duration) -> Cluster {
    let now = chrono::Utc::now();
    let mut lost = Vec::with_capacity(instances.len());
    let mut list = Vec::with_capacity(instances.len());
    for ci in instances {
        let registered = |name: &str| ci.registered_resources.iter().find(|r| r.name == name).and_then(|r| r.integer_value).unwrap_or(0);
        let mut inst = Instance::new(ci.id.clone(), registered("CPU"), registered("MEMORY"));
        inst.status = InstanceStatus::parse(&ci.status);
        inst.connected = ci.agent_connected;
        inst.agent_version = ci.version_info.agent_version.clone().unwrap_or_default();
        inst.registered_at = ci.registered_at.clone();
        inst.attributes = ci.attributes.iter().map(|a| (a.name.clone(), a.value.clone().unwrap_or_default())).collect();
        let seen = ci.last_heartbeat_at.as_deref().unwrap_or(&ci.registered_at);
        let away = chrono::DateTime::parse_from_rfc3339(seen)
            .map(|t| (now - t.with_timezone(&chrono::Utc)).to_std().unwrap_or_default())
            .unwrap_or_default();
        lost.push(!ci.agent_connected && away > lost_after);
        list.push(inst);
    }
    let mut snapshot = Snapshot::new(list);
    for t in live {
        let Some(inst) = t.instance_id.as_deref().and_then(|id| snapshot.get_mut(id)) else {
            continue;
        };
        // Resources stay held until the task has stopped; only wanted tasks count for spread.
        inst.cpu = inst.cpu.saturating_sub(t.cpu);
        inst.memory = inst.memory.saturating_sub(t.memory);
        inst.ports.extend(t.host_ports.iter().filter_map(|p| parse_port(p)));
        if t.desired_status == "RUNNING" {
            inst.tasks += 1;
            if let Some(g) = &t.group {
                match inst.groups.get_mut(g) {
                    Some(n) => *n += 1,
                    None => {
                        inst.groups.insert(g.clone(), 1);
                    }
                }
            }
        }
    }
    Cluster { snapshot, lost }
}

/// One instance as a booking sees it: what it has left once the tasks the store holds for it
/// are counted (`remaining_resources`), and whether its agent is connected to this server.
pub fn bookable(ci: &ContainerInstance, connected: bool) -> Instance {
    let remaining = |name: &str| ci.remaining_resources.iter().find(|r| r.name == name);
    let amount = |name: &str| remaining(name).and_then(|r| r.integer_value).unwrap_or(0);
    let mut inst = Instance::new(ci.id.clone(), amount("CPU"), amount("MEMORY"));
    inst.status = InstanceStatus::parse(&ci.status);
    inst.connected = connected;
    inst.agent_version = ci.version_info.agent_version.clone().unwrap_or_default();
    inst.registered_at = ci.registered_at.clone();
    inst.attributes = ci.attributes.iter().map(|a| (a.name.clone(), a.value.clone().unwrap_or_default())).collect();
    for (set, udp) in [("PORTS", false), ("PORTS_UDP", true)] {
        let held = remaining(set).and_then(|r| r.string_set_value.as_deref()).unwrap_or_default();
        inst.ports.extend(held.iter().filter_map(|p| p.parse().ok()).map(|port| HostPort { udp, port }));
    }
    inst.tasks = u64::try_from(ci.running_tasks_count.saturating_add(ci.pending_tasks_count)).unwrap_or(0);
    inst
}

/// "tcp:8080" → the port a task holds.
fn parse_port(text: &str) -> Option<HostPort> {
    let (proto, port) = text.split_once(':')?;
    Some(HostPort { udp: proto == "udp", port: port.parse().ok()? })
}

/// What one task of this revision needs from its instance.
pub fn demand_of(definition: &TaskDefinition, group: &str) -> Demand {
    let (cpu, memory) = task_reservation(definition);
    let spec = TaskSpec::from_definition(definition, "", "", "", None);
    Demand {
        cpu,
        memory,
        ports: spec.static_host_ports().into_iter().map(|(p, port)| HostPort { udp: p == "udp", port }).collect(),
        group: group.to_string(),
        requires_attributes: definition.requires_attributes.iter().map(|a| (a.name.clone(), a.value.clone())).collect(),
    }
}

/// RUNNING and every essential container with a health check HEALTHY: ECS's healthy task. One
/// UNHEALTHY fails it (the service replaces it).
pub fn health(task: &LiveTask, definitions: &HashMap<String, TaskDefinition>) -> TaskHealth {
    if task.last_status != "RUNNING" {
        return TaskHealth::Pending;
    }
    let Some(def) = definitions.get(&task.task_definition) else {
        return TaskHealth::Healthy;
    };
    let mut checked = def.containers().iter().filter(|c| c.is_essential() && c.health_check.is_some()).peekable();
    if checked.peek().is_none() {
        return TaskHealth::Healthy;
    }
    let containers = task.containers().unwrap_or_default();
    let statuses: Vec<Option<&str>> = checked
        .map(|c| containers.iter().find(|tc| c.name.as_deref() == Some(tc.name.as_str())).and_then(|tc| tc.health_status.as_deref()))
        .collect();
    if statuses.contains(&Some("UNHEALTHY")) {
        TaskHealth::Failed
    } else if statuses.iter().all(|s| *s == Some("HEALTHY")) {
        TaskHealth::Healthy
    } else {
        TaskHealth::Unhealthy
    }
}
