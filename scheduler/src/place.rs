/*!
Placing N tasks of one kind: filters, then strategies in order, then the pick.

A linear scan of every instance per task would cost O(n) per placement; instead the
candidates (instances past the filters that do not change during a request) go into an index
built once per request:

- a leading `spread` on an attribute becomes groups (one per attribute value), ordered by how
  many tasks of the group each holds;
- the following per-instance strategies (`binpack`, `spread` on instanceId, `random`) become
  one ordered key per instance in the leaves;
- anything after that (rare: an attribute spread behind a binpack) breaks ties among equal
  keys.

A pick walks the tree along the lowest counts (comparing the groups that tie on count, as
ECS breaks ties with the next strategy) and takes the first leaf entry that passes the
filters that change as tasks land (resources, ports, task constraints). Entries that fail for
good are dropped as they are met, so each pick costs about log n. The choice is exact: the
same as scoring every instance by the strategies in order and taking the smallest, with the
instance's position as the last tie-break.
*/

use crate::explain::Explanation;
use crate::rules::{Constraint, Resource, Strategy, check_dynamic, check_static};
use crate::snapshot::{Demand, Instance, Snapshot};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// ECS allows at most five strategies; the ranking has one slot per strategy.
pub const MAX_STRATEGIES: usize = 5;

type Rank = [i64; MAX_STRATEGIES];

/// What to place.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub demand: &'a Demand,
    pub count: usize,
    pub strategies: &'a [Strategy],
    pub constraints: &'a [Constraint],
    /// Feeds the `random` strategy; the same seed gives the same plan.
    pub seed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Snapshot positions, one per task placed, in order.
    pub placed: Vec<usize>,
    /// Why the rest could not be placed, when fewer than asked were.
    pub explanation: Option<Explanation>,
}

impl Snapshot {
    /// Places up to `request.count` tasks and records them on the snapshot's instances, so
    /// that the next request sees what this one took.
    pub fn place(&mut self, request: &Request) -> Plan {
        let mut plan = Plan::default();
        if request.count == 0 {
            return plan;
        }
        let strategies = &request.strategies[..request.strategies.len().min(MAX_STRATEGIES)];
        let mut index = Index::build(&self.instances, request, strategies);
        while plan.placed.len() < request.count {
            let Some(chosen) = index.pick(&self.instances, request) else {
                plan.explanation = Some(Explanation::of(&self.instances, request.demand, request.constraints));
                break;
            };
            let i = chosen as usize;
            self.instances[i].take(request.demand);
            index.moved(&self.instances, i, request);
            plan.placed.push(i);
        }
        plan
    }
}

enum Node {
    /// Groups of one attribute's values: (tasks of the group, subtree), and the groups
    /// still holding candidates ordered by (tasks, group).
    Split { children: Vec<(u32, Node)>, order: BTreeSet<(u32, u32)>, by_value: HashMap<String, u32> },
    /// Candidates ordered by their per-instance rank.
    Leaf(BTreeSet<(Rank, u32)>),
}

impl Node {
    fn is_empty(&self) -> bool {
        match self {
            Node::Split { order, .. } => order.is_empty(),
            Node::Leaf(set) => set.is_empty(),
        }
    }
}

/// How strategy slots split: [0, splits) attribute groups, [splits, keyed) per-instance keys,
/// [keyed, len) tie-breaks.
struct Index<'r> {
    strategies: &'r [Strategy],
    splits: usize,
    keyed: usize,
    root: Node,
    /// Per snapshot position: the group taken at each split level (empty for non-candidates).
    path: Vec<Vec<u32>>,
    rank: Vec<Rank>,
    /// Tie-break attribute spreads: tasks of the group per attribute value.
    tie_counts: Vec<HashMap<String, u32>>,
}

const MISSING: &str = "\u{0}";

fn value<'a>(inst: &'a Instance, attribute: &str) -> &'a str {
    inst.attributes.get(attribute).map_or(MISSING, String::as_str)
}

/// The `random` strategy's score of the instance at position `i` holding `tasks` tasks: a new
/// draw each time the instance takes a task.
pub fn random_score(seed: u64, i: usize, tasks: u64) -> i64 {
    (mix(seed, i as u64, tasks) >> 1) as i64
}

fn mix(seed: u64, a: u64, b: u64) -> u64 {
    // splitmix64 over the three inputs: cheap, well spread, reproducible.
    let mut z = seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One instance's score on a per-instance strategy (lower wins).
fn score(s: &Strategy, inst: &Instance, i: usize, request: &Request) -> i64 {
    match s {
        Strategy::Binpack(Resource::Cpu) => inst.cpu,
        Strategy::Binpack(Resource::Memory) => inst.memory,
        Strategy::SpreadInstance => i64::from(inst.group_count(&request.demand.group)),
        Strategy::Random => random_score(request.seed, i, inst.tasks),
        Strategy::SpreadAttribute(_) => 0,
    }
}

impl<'r> Index<'r> {
    fn build(instances: &[Instance], request: &Request, strategies: &'r [Strategy]) -> Self {
        // Only a leading attribute spread becomes groups: a later one counts tasks over the
        // whole cluster, not within a group, so it breaks ties instead.
        let splits = usize::from(matches!(strategies.first(), Some(Strategy::SpreadAttribute(_))));
        let keyed = splits + strategies[splits..].iter().take_while(|s| !matches!(s, Strategy::SpreadAttribute(_))).count();
        let mut index = Index {
            strategies,
            splits,
            keyed,
            root: Node::Leaf(BTreeSet::new()),
            path: vec![Vec::new(); instances.len()],
            rank: vec![[0; MAX_STRATEGIES]; instances.len()],
            tie_counts: vec![HashMap::new(); strategies.len()],
        };
        let candidates: Vec<usize> =
            (0..instances.len()).filter(|&i| check_static(&instances[i], request.demand, request.constraints).is_ok()).collect();
        for &i in &candidates {
            index.rank[i] = index.keyed_rank(&instances[i], i, request);
        }
        index.root = index.grow(instances, 0, candidates);
        // Group counts cover every instance with tasks of the group, candidate or not.
        let group = &request.demand.group;
        for inst in instances {
            let n = inst.group_count(group);
            if n == 0 {
                continue;
            }
            index.count_into_tree(inst, n);
            for (level, s) in strategies.iter().enumerate().skip(keyed) {
                if let Strategy::SpreadAttribute(a) = s {
                    *index.tie_counts[level].entry(value(inst, a).to_string()).or_default() += n;
                }
            }
        }
        index
    }

    fn grow(&mut self, instances: &[Instance], level: usize, members: Vec<usize>) -> Node {
        if level == self.splits {
            return Node::Leaf(members.into_iter().map(|i| (self.rank[i], i as u32)).collect());
        }
        let Strategy::SpreadAttribute(attribute) = &self.strategies[level] else { unreachable!("split levels are attribute spreads") };
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for i in members {
            groups.entry(value(&instances[i], attribute)).or_default().push(i);
        }
        let mut children = Vec::with_capacity(groups.len());
        let mut by_value = HashMap::with_capacity(groups.len());
        for (c, (v, members)) in groups.into_iter().enumerate() {
            for &i in &members {
                self.path[i].push(c as u32);
            }
            by_value.insert(v.to_string(), c as u32);
            children.push((0, self.grow(instances, level + 1, members)));
        }
        let order = (0..children.len() as u32).map(|c| (0, c)).collect();
        Node::Split { children, order, by_value }
    }

    /// Adds `n` tasks of an instance to the groups it falls in, where those groups exist.
    fn count_into_tree(&mut self, inst: &Instance, n: u32) {
        let mut node = &mut self.root;
        for level in 0..self.splits {
            let Strategy::SpreadAttribute(attribute) = &self.strategies[level] else { return };
            let Node::Split { children, order, by_value } = node else { return };
            let Some(&c) = by_value.get(value(inst, attribute)) else { return };
            let count = &mut children[c as usize].0;
            order.remove(&(*count, c));
            *count += n;
            order.insert((*count, c));
            node = &mut children[c as usize].1;
        }
    }

    fn keyed_rank(&self, inst: &Instance, i: usize, request: &Request) -> Rank {
        let mut rank = [0; MAX_STRATEGIES];
        for (slot, s) in rank.iter_mut().zip(self.strategies).take(self.keyed).skip(self.splits) {
            *slot = score(s, inst, i, request);
        }
        rank
    }

    fn pick(&mut self, instances: &[Instance], request: &Request) -> Option<u32> {
        let mut root = std::mem::replace(&mut self.root, Node::Leaf(BTreeSet::new()));
        let found = self.pick_in(&mut root, 0, instances, request).map(|(_, i)| i);
        self.root = root;
        found
    }

    fn pick_in(&self, node: &mut Node, level: usize, instances: &[Instance], request: &Request) -> Option<(Rank, u32)> {
        match node {
            Node::Leaf(set) => self.pick_leaf(set, instances, request),
            Node::Split { children, order, .. } => {
                let mut best: Option<(Rank, u32)> = None;
                let mut best_count = None;
                let mut exhausted = Vec::new();
                for &(count, c) in order.iter() {
                    if best_count.is_some_and(|b| count > b) {
                        break;
                    }
                    let child = &mut children[c as usize].1;
                    let found = self.pick_in(child, level + 1, instances, request);
                    if child.is_empty() {
                        exhausted.push((count, c));
                    }
                    if let Some((mut rank, i)) = found {
                        rank[level] = i64::from(count);
                        if best.is_none_or(|b| (rank, i) < b) {
                            best = Some((rank, i));
                        }
                        best_count = Some(count);
                    }
                }
                for e in exhausted {
                    order.remove(&e);
                }
                best
            }
        }
    }

    fn pick_leaf(&self, set: &mut BTreeSet<(Rank, u32)>, instances: &[Instance], request: &Request) -> Option<(Rank, u32)> {
        let mut dropped = Vec::new();
        let mut best: Option<(Rank, u32)> = None;
        let mut first_rank = None;
        for &(rank, i) in set.iter() {
            if first_rank.is_some_and(|r| r != rank) {
                break;
            }
            match check_dynamic(&instances[i as usize], request.demand, request.constraints) {
                Ok(()) => {
                    let full = self.with_ties(rank, &instances[i as usize], i as usize, request);
                    if best.is_none_or(|b| (full, i) < b) {
                        best = Some((full, i));
                    }
                    if self.keyed == self.strategies.len() {
                        break;
                    }
                    first_rank = Some(rank);
                }
                Err(r) if r.is_final() => dropped.push((rank, i)),
                Err(_) => {}
            }
        }
        for d in dropped {
            set.remove(&d);
        }
        best
    }

    fn with_ties(&self, mut rank: Rank, inst: &Instance, i: usize, request: &Request) -> Rank {
        for (level, s) in self.strategies.iter().enumerate().skip(self.keyed) {
            rank[level] = match s {
                Strategy::SpreadAttribute(a) => i64::from(self.tie_counts[level].get(value(inst, a)).copied().unwrap_or(0)),
                other => score(other, inst, i, request),
            };
        }
        rank
    }

    /// After a task landed on instance `i`: move it in its leaf, count it in its groups.
    fn moved(&mut self, instances: &[Instance], i: usize, request: &Request) {
        let old = self.rank[i];
        let new = self.keyed_rank(&instances[i], i, request);
        self.rank[i] = new;
        let path = std::mem::take(&mut self.path[i]);
        let mut node = &mut self.root;
        for &c in &path {
            let Node::Split { children, order, .. } = node else { break };
            let count = &mut children[c as usize].0;
            if order.remove(&(*count, c)) {
                order.insert((*count + 1, c));
            }
            *count += 1;
            node = &mut children[c as usize].1;
        }
        if let Node::Leaf(set) = node
            && set.remove(&(old, i as u32))
        {
            set.insert((new, i as u32));
        }
        self.path[i] = path;
        for level in self.keyed..self.strategies.len() {
            if let Strategy::SpreadAttribute(a) = &self.strategies[level] {
                *self.tie_counts[level].entry(value(&instances[i], a).to_string()).or_default() += 1;
            }
        }
    }
}
