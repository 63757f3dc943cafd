/*!
The cluster as the scheduler sees it: a compact copy of every container instance with what it
has left, kept by the server and changed by the plans it commits. Nothing here reads a clock
or the store.
*/

use std::collections::{BTreeMap, HashMap, HashSet};
use wharf_core::expr::Facts;

/// ECS's container instance status, as far as placement cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceStatus {
    Active,
    Draining,
    Inactive,
}

impl InstanceStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "ACTIVE" => Self::Active,
            "DRAINING" => Self::Draining,
            _ => Self::Inactive,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Draining => "DRAINING",
            Self::Inactive => "INACTIVE",
        }
    }
}

/// A host port a task holds: protocol and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    pub udp: bool,
    pub port: u16,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.port, if self.udp { "/udp" } else { "" })
    }
}

/// One container instance.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub status: InstanceStatus,
    pub connected: bool,
    pub agent_version: String,
    pub registered_at: String,
    /// Attribute name → value (`""` when it has none).
    pub attributes: BTreeMap<String, String>,
    /// CPU units and MiB left for new tasks.
    pub cpu: i64,
    pub memory: i64,
    /// Static host ports held by its tasks.
    pub ports: HashSet<HostPort>,
    /// Tasks on it that have not stopped.
    pub tasks: u64,
    /// Those tasks by group (`service:NAME`, `family:NAME`, or a RunTask group).
    pub groups: HashMap<String, u32>,
}

impl Instance {
    pub fn new(id: impl Into<String>, cpu: i64, memory: i64) -> Self {
        Self {
            id: id.into(),
            status: InstanceStatus::Active,
            connected: true,
            agent_version: String::new(),
            registered_at: String::new(),
            attributes: BTreeMap::new(),
            cpu,
            memory,
            ports: HashSet::new(),
            tasks: 0,
            groups: HashMap::new(),
        }
    }

    pub fn with_attribute(mut self, name: &str, value: &str) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    pub fn group_count(&self, group: &str) -> u32 {
        self.groups.get(group).copied().unwrap_or(0)
    }

    /// Records a task placed here.
    pub fn take(&mut self, demand: &Demand) {
        // Saturating: a demand is bounded by validation, but the snapshot must not wrap if a
        // stored value ever escaped it.
        self.cpu = self.cpu.saturating_sub(demand.cpu);
        self.memory = self.memory.saturating_sub(demand.memory);
        self.ports.extend(demand.ports.iter().copied());
        self.tasks += 1;
        *self.groups.entry(demand.group.clone()).or_default() += 1;
    }

    /// Gives back what a stopped task held.
    pub fn release(&mut self, demand: &Demand) {
        self.cpu = self.cpu.saturating_add(demand.cpu);
        self.memory = self.memory.saturating_add(demand.memory);
        for p in &demand.ports {
            self.ports.remove(p);
        }
        self.tasks = self.tasks.saturating_sub(1);
        if let Some(n) = self.groups.get_mut(&demand.group) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.groups.remove(&demand.group);
            }
        }
    }
}

impl Facts for Instance {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
    fn instance_id(&self) -> &str {
        &self.id
    }
    fn agent_connected(&self) -> bool {
        self.connected
    }
    fn agent_version(&self) -> &str {
        &self.agent_version
    }
    fn registered_at(&self) -> &str {
        &self.registered_at
    }
    fn running_tasks_count(&self) -> u64 {
        self.tasks
    }
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
        self.groups.iter().any(|(g, n)| *n > 0 && test(g))
    }
}

/// What one task needs from the instance it goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demand {
    pub cpu: i64,
    pub memory: i64,
    /// Static host ports; dynamic ones (hostPort 0) come from the host's ephemeral range.
    pub ports: Vec<HostPort>,
    pub group: String,
    /// The task definition's `requiresAttributes`: name and, when given, value.
    pub requires_attributes: Vec<(String, Option<String>)>,
}

/// Every instance of one cluster, by position; positions are stable for a snapshot's life.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub instances: Vec<Instance>,
    by_id: HashMap<String, usize>,
}

impl Snapshot {
    pub fn new(instances: Vec<Instance>) -> Self {
        let by_id = instances.iter().enumerate().map(|(i, inst)| (inst.id.clone(), i)).collect();
        Self { instances, by_id }
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn get(&self, id: &str) -> Option<&Instance> {
        self.index_of(id).map(|i| &self.instances[i])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.index_of(id).map(|i| &mut self.instances[i])
    }

    /// Adds an instance, or replaces the one with the same id.
    pub fn upsert(&mut self, instance: Instance) {
        match self.index_of(&instance.id) {
            Some(i) => self.instances[i] = instance,
            None => {
                self.by_id.insert(instance.id.clone(), self.instances.len());
                self.instances.push(instance);
            }
        }
    }
}
