/*!
What a service needs next: how many tasks of its primary deployment to start, which tasks to
stop and why, and whether the deployment has completed or failed. ECS's rules, exactly:

- at least `minimumHealthyPercent` of `desiredCount` healthy while replacing tasks (rounded
  **up**), at most `maximumPercent` of it in total (rounded **down**);
- tasks on DRAINING instances and tasks of older deployments are replaced within those bounds;
  tasks on lost instances are neither healthy nor reachable and go at once;
- extra tasks (scale-in) go at once, chosen by the placement strategies in reverse;
- circuit breaker: a deployment fails after clamp(ceil(desired / 2), 3, 200) failed tasks.
*/

use crate::rules::{Resource, Strategy};
use crate::snapshot::Snapshot;
use std::collections::HashMap;

/// ceil(desired × percent / 100): the fewest healthy tasks a deployment keeps.
pub fn minimum_healthy(desired: i64, percent: i64) -> i64 {
    (desired * percent + 99).div_euclid(100)
}

/// floor(desired × percent / 100): the most tasks a deployment runs at once.
pub fn maximum_total(desired: i64, percent: i64) -> i64 {
    (desired * percent).div_euclid(100)
}

/// Failed tasks after which the circuit breaker fails a deployment.
pub fn circuit_breaker_threshold(desired: i64) -> i64 {
    ((desired + 1) / 2).clamp(3, 200)
}

/// Where a task of the service stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskHealth {
    /// Placed, not yet RUNNING (PROVISIONING, PENDING, ACTIVATING).
    Pending,
    /// RUNNING, and its essential containers' health checks (if any) pass.
    Healthy,
    /// RUNNING but a health check has not passed yet (or fails within the service's
    /// `healthCheckGracePeriodSeconds`).
    Unhealthy,
    /// RUNNING and its health checks failed: an essential container is UNHEALTHY, or a load
    /// balancer counts its target unhealthy. ECS replaces it.
    Failed,
}

/// Why the instance a task is on may not keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Ok,
    Draining,
    /// Its agent stayed away past the grace period.
    Lost,
}

#[derive(Debug, Clone)]
pub struct ServiceTask {
    pub id: String,
    /// Position of its instance in the snapshot.
    pub instance: usize,
    pub primary: bool,
    pub health: TaskHealth,
    pub host: Host,
}

#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub desired: i64,
    pub minimum_healthy_percent: i64,
    pub maximum_percent: i64,
}

/// Why a task is stopped: shown as its stoppedReason and in the service's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    ScaleIn,
    Replaced,
    Draining,
    Lost,
    /// Its health checks failed ([`TaskHealth::Failed`]).
    Unhealthy,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScaleIn => "Scaling activity initiated by (deployment)",
            Self::Replaced => "Task replaced by a new deployment",
            Self::Draining => "Container instance is draining",
            Self::Lost => "Container instance lost: its agent stayed disconnected",
            Self::Unhealthy => "Task failed health checks",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaPlan {
    /// New tasks of the primary deployment to place.
    pub start: usize,
    /// Positions in the task list, with the reason.
    pub stop: Vec<(usize, StopReason)>,
    /// Every task wanted is RUNNING and healthy, and nothing else is left.
    pub steady: bool,
}

/// Plans one step of a REPLICA service. `may_start` is false while starts are throttled or
/// the primary deployment has failed without rollback.
/// `stopping` counts the service's tasks already asked to stop but not yet stopped: they
/// still count against `maximumPercent`, as in ECS (RUNNING or PENDING tasks, whatever
/// their desired status).
pub fn plan_replica(
    snapshot: &Snapshot,
    tasks: &[ServiceTask],
    stopping: usize,
    bounds: Bounds,
    strategies: &[Strategy],
    may_start: bool,
) -> ReplicaPlan {
    let mut plan = ReplicaPlan::default();
    let min_healthy = minimum_healthy(bounds.desired, bounds.minimum_healthy_percent);
    let max_total = maximum_total(bounds.desired, bounds.maximum_percent);
    // Lost tasks go at once: nothing can be kept on a host that does not answer. Failed ones
    // too: they serve nothing, so stopping them costs no healthy task.
    let mut live: Vec<usize> = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        if t.host == Host::Lost {
            plan.stop.push((i, StopReason::Lost));
        } else if t.health == TaskHealth::Failed {
            plan.stop.push((i, StopReason::Unhealthy));
        } else {
            live.push(i);
        }
    }
    let keepers: Vec<usize> = live.iter().copied().filter(|&i| tasks[i].primary && tasks[i].host == Host::Ok).collect();
    let mut replaceable: Vec<usize> = live.iter().copied().filter(|&i| !(tasks[i].primary && tasks[i].host == Host::Ok)).collect();
    let desired = bounds.desired.max(0) as usize;

    // Scale-in: extra primary tasks go at once, by the strategies in reverse.
    let mut kept = keepers.clone();
    if keepers.len() > desired {
        let extra = choose_to_stop(snapshot, tasks, &keepers, keepers.len() - desired, strategies);
        for &i in &extra {
            plan.stop.push((i, StopReason::ScaleIn));
        }
        kept.retain(|i| !extra.contains(i));
    }
    let mut healthy = live.iter().filter(|&&i| tasks[i].health == TaskHealth::Healthy).count() as i64
        - plan.stop.iter().filter(|(i, _)| tasks[*i].health == TaskHealth::Healthy && tasks[*i].host != Host::Lost).count() as i64;
    // Replace: tasks that serve nothing go first, then the healthy ones while the minimum holds.
    replaceable.sort_by_key(|&i| (tasks[i].health == TaskHealth::Healthy, tasks[i].primary, i));
    let mut remaining_live = kept.len() as i64 + replaceable.len() as i64 + stopping as i64;
    for &i in &replaceable {
        let reason = if tasks[i].host == Host::Draining { StopReason::Draining } else { StopReason::Replaced };
        let is_healthy = tasks[i].health == TaskHealth::Healthy;
        // Keep serving tasks while the new ones are not all in: replacing needs the
        // replacement first unless the minimum allows one fewer.
        if is_healthy {
            if healthy - 1 < min_healthy {
                continue;
            }
            healthy -= 1;
        }
        plan.stop.push((i, reason));
        remaining_live -= 1;
    }
    if may_start {
        let want = desired.saturating_sub(kept.len());
        // Tasks stopped in this step still run until their agents have stopped them.
        let stopped_now = plan.stop.iter().filter(|(i, _)| tasks[*i].host != Host::Lost).count() as i64;
        let room = (max_total - remaining_live - stopped_now).max(0) as usize;
        plan.start = want.min(room);
    }
    plan.steady = plan.stop.is_empty()
        && plan.start == 0
        && replaceable.is_empty()
        && kept.len() == desired
        && kept.iter().all(|&i| tasks[i].health == TaskHealth::Healthy);
    plan
}

/// Picks `count` of `candidates` (positions in `tasks`) to stop, following the strategies
/// in reverse as ECS does on scale-in: binpack empties the instance with the most of the
/// resource left, spread takes from the fullest group or instance. Tasks not yet healthy
/// go before healthy ones on the chosen instance.
pub fn choose_to_stop(
    snapshot: &Snapshot,
    tasks: &[ServiceTask],
    candidates: &[usize],
    count: usize,
    strategies: &[Strategy],
) -> Vec<usize> {
    let mut by_instance: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in candidates {
        by_instance.entry(tasks[i].instance).or_default().push(i);
    }
    for list in by_instance.values_mut() {
        // Pop from the end: healthy last, newest position first among equals.
        list.sort_by_key(|&i| (tasks[i].health == TaskHealth::Healthy, std::cmp::Reverse(i)));
        list.reverse();
    }
    let mut on_instance: HashMap<usize, i64> = by_instance.iter().map(|(&k, v)| (k, v.len() as i64)).collect();
    let mut per_value: Vec<HashMap<String, i64>> = strategies
        .iter()
        .map(|s| match s {
            Strategy::SpreadAttribute(a) => {
                let mut m = HashMap::new();
                for (&inst, &n) in &on_instance {
                    *m.entry(attr(snapshot, inst, a)).or_default() += n;
                }
                m
            }
            _ => HashMap::new(),
        })
        .collect();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        // Highest score stops first; the instance's position breaks ties.
        let Some(&inst) = by_instance
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k)
            .max_by_key(|&&inst| {
                let inst_ref = &snapshot.instances[inst];
                let score: Vec<i64> = strategies
                    .iter()
                    .zip(&per_value)
                    .map(|(s, values)| match s {
                        // Stopping only adds to the most-free instance: it is emptied first.
                        Strategy::Binpack(Resource::Cpu) => inst_ref.cpu,
                        Strategy::Binpack(Resource::Memory) => inst_ref.memory,
                        Strategy::SpreadInstance => on_instance[&inst],
                        Strategy::SpreadAttribute(a) => values.get(&attr(snapshot, inst, a)).copied().unwrap_or(0),
                        Strategy::Random => 0,
                    })
                    .collect();
                (score, std::cmp::Reverse(inst))
            })
        else {
            break;
        };
        let task = by_instance.get_mut(&inst).and_then(Vec::pop).expect("a non-empty instance was chosen");
        out.push(task);
        *on_instance.get_mut(&inst).expect("counted") -= 1;
        for (s, values) in strategies.iter().zip(per_value.iter_mut()) {
            if let Strategy::SpreadAttribute(a) = s {
                *values.entry(attr(snapshot, inst, a)).or_default() -= 1;
            }
        }
    }
    out
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonPlan {
    /// Instances (snapshot positions) that get a task of the primary deployment.
    pub start_on: Vec<usize>,
    pub stop: Vec<(usize, StopReason)>,
    /// Instances that should run the daemon: ACTIVE, connected, meeting the constraints.
    pub desired: i64,
    /// Why eligible instances without a task could not take one now.
    pub explanation: Option<crate::Explanation>,
    pub steady: bool,
}

/// Plans one step of a DAEMON service: one task of the primary deployment on every ACTIVE,
/// connected instance that meets the constraints (instances that join later too). Old
/// revisions are stopped first and replaced in place (ECS's daemon bounds, 0% and 100%).
pub fn plan_daemon(
    snapshot: &Snapshot,
    tasks: &[ServiceTask],
    demand: &crate::Demand,
    constraints: &[crate::Constraint],
    may_start: bool,
) -> DaemonPlan {
    let mut plan = DaemonPlan::default();
    // Instances that should run the daemon; a disconnected one keeps its task (it is replaced
    // only once the host counts as lost) but gets no new one.
    let eligible: Vec<bool> = snapshot.instances.iter().map(|inst| crate::rules::may_keep(inst, demand, constraints).is_ok()).collect();
    let mut has_task = vec![false; snapshot.instances.len()];
    let mut all_healthy = true;
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    // Keep the healthiest primary task per instance.
    order.sort_by_key(|&i| (!tasks[i].primary, tasks[i].health != TaskHealth::Healthy, i));
    for i in order {
        let t = &tasks[i];
        let reason = match t.host {
            Host::Lost => Some(StopReason::Lost),
            _ if t.health == TaskHealth::Failed => Some(StopReason::Unhealthy),
            _ if !eligible[t.instance] && snapshot.instances[t.instance].status == crate::InstanceStatus::Draining => {
                Some(StopReason::Draining)
            }
            _ if !eligible[t.instance] => Some(StopReason::ScaleIn),
            _ if !t.primary => Some(StopReason::Replaced),
            _ if has_task[t.instance] => Some(StopReason::ScaleIn),
            _ => None,
        };
        match reason {
            Some(r) => plan.stop.push((i, r)),
            None => {
                has_task[t.instance] = true;
                all_healthy &= t.health == TaskHealth::Healthy;
            }
        }
    }
    // An instance whose old task is still stopping waits for it: its resources are still held.
    let stopping_on: std::collections::HashSet<usize> = plan.stop.iter().map(|(i, _)| tasks[*i].instance).collect();
    let mut blocked = false;
    for (pos, inst) in snapshot.instances.iter().enumerate() {
        if !eligible[pos] {
            continue;
        }
        plan.desired += 1;
        if has_task[pos] || stopping_on.contains(&pos) || !may_start || !inst.connected {
            continue;
        }
        if crate::rules::check_dynamic(inst, demand, constraints).is_ok() {
            plan.start_on.push(pos);
        } else {
            blocked = true;
        }
    }
    if blocked {
        let missing: Vec<crate::Instance> = snapshot
            .instances
            .iter()
            .enumerate()
            .filter(|(p, i)| eligible[*p] && i.connected && !has_task[*p] && !stopping_on.contains(p))
            .map(|(_, i)| i.clone())
            .collect();
        plan.explanation = Some(crate::Explanation::of(&missing, demand, constraints));
    }
    plan.steady = plan.stop.is_empty() && plan.start_on.is_empty() && !blocked && all_healthy;
    plan
}

fn attr(snapshot: &Snapshot, inst: usize, name: &str) -> String {
    snapshot.instances[inst].attributes.get(name).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_round_as_ecs_does() {
        assert_eq!(minimum_healthy(3, 50), 2);
        assert_eq!(maximum_total(3, 150), 4);
        assert_eq!(minimum_healthy(4, 100), 4);
        assert_eq!(maximum_total(4, 200), 8);
        assert_eq!(minimum_healthy(1, 50), 1);
        assert_eq!(maximum_total(1, 150), 1);
        assert_eq!(minimum_healthy(10, 0), 0);
    }

    #[test]
    fn circuit_breaker_threshold_is_clamped() {
        assert_eq!(circuit_breaker_threshold(1), 3);
        assert_eq!(circuit_breaker_threshold(10), 5);
        assert_eq!(circuit_breaker_threshold(11), 6);
        assert_eq!(circuit_breaker_threshold(1000), 200);
    }

    fn cluster(n: usize) -> Snapshot {
        Snapshot::new((0..n).map(|i| crate::Instance::new(format!("i-{i}"), 4096, 4096 - i as i64 * 100)).collect())
    }

    fn task(i: usize, instance: usize, primary: bool, health: TaskHealth, host: Host) -> ServiceTask {
        ServiceTask { id: format!("t{i}"), instance, primary, health, host }
    }

    #[test]
    fn a_rolling_update_keeps_the_minimum() {
        let snap = cluster(3);
        let old: Vec<ServiceTask> = (0..3).map(|i| task(i, i, false, TaskHealth::Healthy, Host::Ok)).collect();
        // desired 3, min 50% → 2 kept healthy, max 150% → 4 in total.
        let plan = plan_replica(&snap, &old, 0, Bounds { desired: 3, minimum_healthy_percent: 50, maximum_percent: 150 }, &[], true);
        // The stopping task still counts against the maximum until it has stopped.
        assert_eq!((plan.stop.len(), plan.start), (1, 1));
        let plan = plan_replica(&snap, &old[..2], 1, Bounds { desired: 3, minimum_healthy_percent: 50, maximum_percent: 150 }, &[], true);
        assert_eq!((plan.stop.len(), plan.start), (0, 1), "2 old + 1 stopping + 1 new = 4");
        // 100/200: all new ones first, nothing stopped until they are healthy.
        let plan = plan_replica(&snap, &old, 0, Bounds { desired: 3, minimum_healthy_percent: 100, maximum_percent: 200 }, &[], true);
        assert_eq!((plan.stop.len(), plan.start), (0, 3));
        let mut mid = old.clone();
        mid.extend((3..6).map(|i| task(i, i - 3, true, if i == 3 { TaskHealth::Healthy } else { TaskHealth::Pending }, Host::Ok)));
        let plan = plan_replica(&snap, &mid, 0, Bounds { desired: 3, minimum_healthy_percent: 100, maximum_percent: 200 }, &[], true);
        assert_eq!((plan.stop.len(), plan.start, plan.steady), (1, 0, false));
    }

    #[test]
    fn drained_and_lost_tasks_are_replaced() {
        let snap = cluster(3);
        let tasks = vec![
            task(0, 0, true, TaskHealth::Healthy, Host::Draining),
            task(1, 1, true, TaskHealth::Healthy, Host::Lost),
            task(2, 2, true, TaskHealth::Healthy, Host::Ok),
        ];
        let plan = plan_replica(&snap, &tasks, 0, Bounds { desired: 3, minimum_healthy_percent: 100, maximum_percent: 200 }, &[], true);
        assert_eq!(plan.stop, vec![(1, StopReason::Lost)], "the draining task waits for its replacement");
        assert_eq!(plan.start, 2);
    }

    #[test]
    fn failed_tasks_are_replaced_without_touching_healthy_ones() {
        let snap = cluster(3);
        let tasks = vec![
            task(0, 0, true, TaskHealth::Failed, Host::Ok),
            task(1, 1, true, TaskHealth::Healthy, Host::Ok),
            task(2, 2, true, TaskHealth::Unhealthy, Host::Ok),
        ];
        // 100/100: no room for a replacement first, and the failed task serves nothing.
        let plan = plan_replica(&snap, &tasks, 0, Bounds { desired: 3, minimum_healthy_percent: 100, maximum_percent: 100 }, &[], true);
        assert_eq!(plan.stop, vec![(0, StopReason::Unhealthy)], "a not-yet-healthy task is waited for, not replaced");
        assert_eq!((plan.start, plan.steady), (0, false), "the replacement waits until the failed task has stopped");
        let plan = plan_replica(&snap, &tasks, 0, Bounds { desired: 3, minimum_healthy_percent: 100, maximum_percent: 200 }, &[], true);
        assert_eq!((plan.stop.len(), plan.start), (1, 1));
        let demand = crate::Demand { cpu: 10, memory: 10, group: "service:logs".into(), ..Default::default() };
        let plan = plan_daemon(&snap, &tasks, &demand, &[], true);
        assert_eq!(plan.stop, vec![(0, StopReason::Unhealthy)]);
        assert!(plan.start_on.is_empty(), "the daemon's instance gets its new task once the old one has stopped");
    }

    #[test]
    fn scale_in_follows_the_strategies_in_reverse() {
        let snap = cluster(3);
        let tasks: Vec<ServiceTask> = (0..6).map(|i| task(i, i % 3, true, TaskHealth::Healthy, Host::Ok)).collect();
        let bounds = Bounds { desired: 3, minimum_healthy_percent: 100, maximum_percent: 200 };
        // binpack memory: instance 0 has the most memory left, so it is emptied first.
        let plan = plan_replica(&snap, &tasks, 0, bounds, &[Strategy::Binpack(Resource::Memory)], true);
        let hosts: Vec<usize> = plan.stop.iter().map(|(i, _)| tasks[*i].instance).collect();
        assert_eq!(hosts, vec![0, 0, 1]);
        // spread on instances: one from each.
        let plan = plan_replica(&snap, &tasks, 0, bounds, &[Strategy::SpreadInstance], true);
        let mut hosts: Vec<usize> = plan.stop.iter().map(|(i, _)| tasks[*i].instance).collect();
        hosts.sort();
        assert_eq!(hosts, vec![0, 1, 2]);
    }

    #[test]
    fn a_daemon_keeps_its_task_through_a_disconnect_and_leaves_draining_hosts() {
        let mut snap = cluster(3);
        snap.instances[1].connected = false;
        snap.instances[2].status = crate::InstanceStatus::Draining;
        let tasks: Vec<ServiceTask> = (0..3).map(|i| task(i, i, true, TaskHealth::Healthy, Host::Ok)).collect();
        let demand = crate::Demand { cpu: 10, memory: 10, group: "service:logs".into(), ..Default::default() };
        let plan = plan_daemon(&snap, &tasks, &demand, &[], true);
        assert_eq!(plan.stop, vec![(2, StopReason::Draining)]);
        assert_eq!((plan.desired, plan.start_on.len()), (2, 0));
        let plan = plan_daemon(&snap, &tasks[..1], &demand, &[], true);
        assert!(plan.start_on.is_empty(), "no new task on a disconnected instance");
    }
}
