//! The cluster as the relationship diagram draws it: one read of instances, live tasks and
//! services, with the agents' latest usage samples from memory.

use super::cluster_not_found;
use crate::agents::Agents;
use crate::store::{self, Store, clusters, instances, scheduling};
use std::collections::HashMap;
use wharf_app::backend::Result;
use wharf_core::topology::{Capacity, Detail, InstanceNode, ServiceNode, Summary, TaskNode, Topology, is_pending};

/// Picks, from every instance of a cluster (without their tasks), the positions of those a
/// read should carry.
pub type Pick<'a> = dyn Fn(&Topology) -> Vec<usize> + Send + Sync + 'a;

/// A cluster's totals: its instances' registered capacity and usage, and the counts of live
/// tasks the store keeps (no task is read).
pub async fn summary(store: &Store, agents: &Agents, cluster: &str) -> Result<Summary> {
    let mut conn = store.pool().acquire().await.map_err(store::StoreError::from)?;
    clusters::get(&mut conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let found = instances::registered(&mut conn, cluster).await?;
    let counts = scheduling::cluster_counts(&mut conn, cluster).await?;
    drop(conn);
    let nodes: Vec<InstanceNode> = found.into_iter().map(|i| node(i.id, i.agent_connected, i.cpu, i.memory, agents)).collect();
    Ok(totals(&nodes, counts))
}

/// Instances as the picture draws them, before their tasks are counted in.
fn nodes_of(found: Vec<wharf_core::instance::ContainerInstance>, agents: &Agents) -> Vec<InstanceNode> {
    found
        .into_iter()
        .map(|ci| {
            let registered = |name: &str| ci.registered_resources.iter().find(|r| r.name == name).and_then(|r| r.integer_value).unwrap_or(0);
            let (cpu, memory) = (registered("CPU"), registered("MEMORY"));
            InstanceNode {
                attributes: ci.attributes.into_iter().map(|a| (a.name, a.value.unwrap_or_default())).collect(),
                name: ci.name,
                status: ci.status,
                ..node(ci.id, ci.agent_connected, cpu, memory, agents)
            }
        })
        .collect()
}

/// An instance's node with its registered capacity and its agent's latest usage sample.
fn node(id: String, agent_connected: bool, cpu: i64, memory: i64, agents: &Agents) -> InstanceNode {
    let usage = agents.host_usage(&id);
    InstanceNode {
        cpu: Capacity { registered: cpu, reserved: 0, used: usage.as_ref().map(|u| u.cpu) },
        memory: Capacity { registered: memory, reserved: 0, used: usage.as_ref().map(|u| u.memory) },
        agent_connected,
        id,
        ..InstanceNode::default()
    }
}

/// Totals of instances (not yet counted) and of the cluster's kept task counts.
fn totals(nodes: &[InstanceNode], counts: Vec<scheduling::TaskTally>) -> Summary {
    let mut s = Summary::of(nodes);
    for c in counts {
        match c.last_status.as_str() {
            "RUNNING" => s.tasks_running += c.count,
            status if is_pending(status) => s.tasks_pending += c.count,
            _ => {}
        }
        s.cpu.reserved += c.cpu;
        s.memory.reserved += c.memory;
    }
    s
}

/// The cluster at `detail`; with `pick`, only the instances it picks (the summary and the
/// services stay whole), whose tasks alone are read.
pub async fn topology(store: &Store, agents: &Agents, cluster: &str, detail: Detail, pick: Option<&Pick<'_>>) -> Result<Topology> {
    let mut conn = store.pool().acquire().await.map_err(store::StoreError::from)?;
    clusters::get(&mut conn, cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
    let mut nodes = nodes_of(instances::all(&mut conn, cluster).await?, agents);
    let services = scheduling::services(&mut conn, cluster).await?;
    let (only, partial_summary) = match pick {
        None => (None, None),
        Some(pick) => {
            let counts = scheduling::cluster_counts(&mut conn, cluster).await?;
            let whole = Topology {
                cluster_name: cluster.to_string(),
                detail,
                instances: std::mem::take(&mut nodes),
                services: Vec::new(),
                summary: Summary::default(),
                partial: false,
            };
            let summary = totals(&whole.instances, counts);
            let keep: std::collections::BTreeSet<usize> = pick(&whole).into_iter().collect();
            let total = whole.instances.len();
            nodes = whole.instances.into_iter().enumerate().filter(|(n, _)| keep.contains(n)).map(|(_, node)| node).collect();
            let ids: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
            (Some(ids), (nodes.len() < total).then_some(summary))
        }
    };
    // A picture of instances only needs counts: the store keeps them.
    let (live, tallies) = match (detail, &only) {
        (Detail::Instances, None) => (Vec::new(), scheduling::live_task_tallies(&mut conn, cluster).await?),
        (Detail::Instances, Some(ids)) => (Vec::new(), scheduling::live_task_tallies_of(&mut conn, cluster, ids).await?),
        (_, only) => {
            let mut live = scheduling::live_tasks(&mut conn, cluster).await?;
            if let Some(ids) = only {
                let ids: std::collections::HashSet<&String> = ids.iter().collect();
                live.retain(|t| t.instance_id.as_ref().is_some_and(|i| ids.contains(i)));
            }
            let tallies = live.iter().map(scheduling::LiveTask::tally).collect();
            (live, tallies)
        }
    };
    drop(conn);

    let position: HashMap<String, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id.clone(), i)).collect();
    let mut counts: HashMap<&str, (i64, i64)> = HashMap::new();
    for t in &tallies {
        let (running, pending) = match t.last_status.as_str() {
            "RUNNING" => (t.count, 0),
            s if is_pending(s) => (0, t.count),
            _ => (0, 0),
        };
        if let Some(service) = t.service_id.as_deref() {
            let c = counts.entry(service).or_default();
            c.0 += running;
            c.1 += pending;
        }
        let Some(&at) = t.instance_id.as_ref().and_then(|id| position.get(id)) else { continue };
        let node = &mut nodes[at];
        node.cpu.reserved += t.cpu;
        node.memory.reserved += t.memory;
        node.running_tasks_count += running;
        node.pending_tasks_count += pending;
        let service = t.group.as_deref().and_then(|g| g.strip_prefix("service:")).unwrap_or_default();
        *node.tasks_by_service.entry(service.to_string()).or_default() += t.count;
    }
    let mut usage: HashMap<String, HashMap<String, (i64, i64)>> = HashMap::new();
    for t in &live {
        let Some(&at) = t.instance_id.as_ref().and_then(|id| position.get(id)) else { continue };
        let node = &mut nodes[at];
        let used = usage.entry(node.id.clone()).or_insert_with(|| agents.task_usage(&node.id)).get(&t.id).copied();
        node.tasks.push(TaskNode {
            id: t.id.clone(),
            group: t.group.clone(),
            task_definition: t.task_definition.clone(),
            last_status: t.last_status.clone(),
            desired_status: t.desired_status.clone(),
            cpu: t.cpu,
            memory: t.memory,
            used_cpu: used.map(|u| u.0),
            used_memory: used.map(|u| u.1),
            containers: if detail == Detail::Containers { t.containers()? } else { Vec::new() },
            requests: None,
        });
    }
    for node in &mut nodes {
        node.tasks.sort_by(|a, b| a.id.cmp(&b.id));
    }
    let services = services
        .iter()
        .map(|s| {
            let (running_count, pending_count) = counts.get(s.row.id.as_str()).copied().unwrap_or_default();
            ServiceNode {
                service_name: s.row.name.clone(),
                status: s.row.status.clone(),
                task_definition: s.deployments.iter().find(|d| d.status == "PRIMARY").map_or_else(|| s.row.config.task_definition.clone(), |d| d.task_definition.clone()),
                desired_count: s.row.config.desired_count,
                running_count,
                pending_count,
            }
        })
        .collect();
    let partial = partial_summary.is_some();
    let summary = partial_summary.unwrap_or_else(|| Summary::of(&nodes));
    Ok(Topology { cluster_name: cluster.to_string(), detail, instances: nodes, services, summary, partial })
}
