/*!
"Why is it pending?": when a task cannot be placed, every instance is put through the filters
once more and the first filter that turned it away is counted, with the figures a user needs
to act (how much is needed, the most any instance has free).
*/

use crate::rules::{Constraint, Rejection, check};
use crate::snapshot::{Demand, Instance};
use std::collections::BTreeMap;
use std::fmt;

/// How many instances one filter turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub rejection: Rejection,
    pub instances: usize,
    /// For CPU and memory: what the task needs and the most any of those instances has free.
    pub needs: Option<i64>,
    pub most_free: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Instances in the cluster.
    pub instances: usize,
    pub cpu: i64,
    pub memory: i64,
    /// Largest group first.
    pub rejected: Vec<Rejected>,
}

impl Explanation {
    pub fn of(instances: &[Instance], demand: &Demand, constraints: &[Constraint]) -> Self {
        let mut counts: BTreeMap<Rejection, (usize, Option<i64>)> = BTreeMap::new();
        let needs = |r: &Rejection| match r {
            Rejection::Cpu => Some(demand.cpu),
            Rejection::Memory => Some(demand.memory),
            _ => None,
        };
        for inst in instances {
            if let Err(r) = check(inst, demand, constraints) {
                let free = match r {
                    Rejection::Cpu => Some(inst.cpu),
                    Rejection::Memory => Some(inst.memory),
                    _ => None,
                };
                let entry = counts.entry(r).or_default();
                entry.0 += 1;
                entry.1 = entry.1.max(free);
            }
        }
        let mut rejected: Vec<Rejected> =
            counts.into_iter().map(|(rejection, (instances, most_free))| Rejected { needs: needs(&rejection), rejection, instances, most_free }).collect();
        rejected.sort_by(|a, b| b.instances.cmp(&a.instances).then_with(|| a.rejection.cmp(&b.rejection)));
        Self { instances: instances.len(), cpu: demand.cpu, memory: demand.memory, rejected }
    }

    /// Instances turned away for this reason (0 when none).
    pub fn count(&self, f: impl Fn(&Rejection) -> bool) -> usize {
        self.rejected.iter().filter(|r| f(&r.rejection)).map(|r| r.instances).sum()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.instances;
        write!(f, "{n} instance{}: ", if n == 1 { "" } else { "s" })?;
        let (needs, free) = (self.needs.unwrap_or(0), self.most_free.unwrap_or(0).max(0));
        match &self.rejection {
            Rejection::Status(s) => write!(f, "{s}, not taking new tasks"),
            Rejection::Disconnected => write!(f, "agent disconnected"),
            Rejection::MissingAttribute(a) => write!(f, "missing the required attribute {a}"),
            Rejection::Constraint(e) => write!(f, "constraint `{e}` not met"),
            Rejection::DistinctInstance => write!(f, "already run a task of this group (distinctInstance)"),
            Rejection::Cpu => write!(f, "insufficient CPU (needs {needs}, most free {free})"),
            Rejection::Memory => write!(f, "insufficient memory (needs {needs} MiB, most free {free})"),
            Rejection::Port(p) => write!(f, "port {p} in use"),
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.instances == 0 {
            return write!(f, "the cluster has no container instances; add a host with a join token");
        }
        write!(f, "no container instance meets all requirements (needs {} CPU, {} MiB)", self.cpu, self.memory)?;
        for (i, r) in self.rejected.iter().enumerate() {
            write!(f, "{} {r}", if i == 0 { ":" } else { ";" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::Constraint;
    use crate::snapshot::{Demand, HostPort, Instance, InstanceStatus, Snapshot};
    use crate::{Request, Strategy};
    use wharf_core::task_definition::PlacementConstraint;

    #[test]
    fn says_why_each_instance_was_turned_away() {
        let mut instances: Vec<Instance> = (0..3).map(|i| Instance::new(format!("small-{i}"), 2048, 384 - i * 100)).collect();
        let mut busy = Instance::new("busy", 4096, 4096).with_attribute("zone", "b");
        busy.ports.insert(HostPort { udp: false, port: 8080 });
        instances.push(busy.clone());
        busy.id = "busy-2".into();
        instances.push(busy);
        let mut draining = Instance::new("draining", 4096, 4096);
        draining.status = InstanceStatus::Draining;
        instances.push(draining);
        let mut snap = Snapshot::new(instances);
        let demand = Demand { cpu: 256, memory: 512, ports: vec![HostPort { udp: false, port: 8080 }], group: "service:web".into(), ..Default::default() };
        let constraints = Constraint::from_ecs(&[PlacementConstraint { kind: Some("memberOf".into()), expression: Some("attribute:zone != c".into()) }]).unwrap();
        let plan = snap.place(&Request { demand: &demand, count: 2, strategies: &Strategy::list_or_default(&[]), constraints: &constraints, seed: 0 });
        assert!(plan.placed.is_empty());
        let text = plan.explanation.unwrap().to_string();
        assert_eq!(
            text,
            "no container instance meets all requirements (needs 256 CPU, 512 MiB): 3 instances: insufficient memory (needs 512 MiB, most free 384); \
             2 instances: port 8080 in use; 1 instance: DRAINING, not taking new tasks"
        );
        let empty = Snapshot::new(vec![]).place(&Request { demand: &demand, count: 1, strategies: &[], constraints: &[], seed: 0 });
        assert!(empty.explanation.unwrap().to_string().contains("no container instances"));
    }
}
