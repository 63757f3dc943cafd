/*!
Service auto scaling in the server. Every few seconds it samples each active service's load
into the store (CPU and memory of its RUNNING tasks against what they reserve, from the
agents' latest usage; requests per target from the load balancer) and each connected host's
use, then evaluates every service with a scalable target: scheduled actions that are due,
then its policies (`wharf_scheduler::scaling::decide`), and commits what moved, with its
reason, in one transaction per service.

The clock is handed in: [`Autoscaler::sample`] and [`Autoscaler::evaluate`] take the moment
they act at, so tests drive cooldowns, alarms and schedules without sleeping.
*/

mod evaluate;

use crate::control::Control;
use crate::store::scaling as sql;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;
use wharf_core::scaling::{HostSample, MetricSample};

/// A task that reserves no CPU is measured against one vCPU (ECS leaves its service metric
/// undefined; a metric is more use).
const CPU_WHEN_UNRESERVED: i64 = 1024;

pub struct Autoscaler {
    control: Control,
    /// Per service, what was told of holds and passed-over runs: each once, not at every
    /// evaluation.
    told: HashMap<String, evaluate::Told>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Counts {
    #[serde(default)]
    desired_count: i64,
    #[serde(default)]
    load_balancers: Vec<serde_json::Value>,
}

impl Autoscaler {
    pub fn new(control: Control) -> Self {
        Self { control, told: HashMap::new() }
    }

    /// Records one sample of every active service at `now`; returns how many.
    pub async fn sample(&mut self, now: DateTime<Utc>) -> Result<usize, wharf_core::WharfError> {
        let (services, tasks) = sql::active_services(&mut *self.control.read().await?).await?;
        let agents = self.control.agents();
        let rates = self.control.load_balancer().map(|lb| lb.rates()).unwrap_or_default();
        let mut usage_of: HashMap<String, HashMap<String, (i64, i64)>> = HashMap::new();
        let mut by_service: HashMap<&str, Vec<&sql::RunningTask>> = HashMap::new();
        for t in &tasks {
            by_service.entry(t.service_id.as_str()).or_default().push(t);
            if let Some(i) = &t.instance_id
                && !usage_of.contains_key(i)
            {
                usage_of.insert(i.clone(), agents.task_usage(i));
            }
        }
        let mut samples = Vec::with_capacity(services.len());
        for (id, config) in services {
            let Ok(counts) = serde_json::from_str::<Counts>(&config) else { continue };
            let running = by_service.get(id.as_str()).map(Vec::as_slice).unwrap_or_default();
            let used = |t: &sql::RunningTask| t.instance_id.as_ref().and_then(|i| usage_of.get(i)?.get(&t.task_id).copied());
            let cpu = percents(running.iter().filter_map(|t| Some((used(t)?.0, if t.cpu > 0 { t.cpu } else { CPU_WHEN_UNRESERVED }))));
            let memory = percents(running.iter().filter_map(|t| Some((used(t)?.1, t.memory)).filter(|(_, reserved)| *reserved > 0)));
            let requests = (!counts.load_balancers.is_empty()).then(|| requests_per_target(running, &rates)).flatten();
            samples.push((
                id,
                MetricSample {
                    at: now.timestamp(),
                    desired: counts.desired_count,
                    running: running.len() as i64,
                    cpu_average: cpu.map(|c| c.0),
                    cpu_maximum: cpu.map(|c| c.1),
                    memory_average: memory.map(|m| m.0),
                    memory_maximum: memory.map(|m| m.1),
                    requests_per_target: requests,
                },
            ));
        }
        let hosts: Vec<(String, HostSample)> = agents
            .connected_ids()
            .into_iter()
            .filter_map(|id| {
                let used = agents.host_usage(&id)?;
                Some((id, HostSample { at: now.timestamp(), cpu: used.cpu, memory: used.memory }))
            })
            .collect();
        let mut w = self.control.store().write().await?;
        sql::insert_samples(w.conn(), &samples).await?;
        sql::insert_host_samples(w.conn(), &hosts).await?;
        w.commit().await?;
        Ok(samples.len())
    }
}

/// (average, maximum) percent of `(used, reserved)` pairs: the average is ECS's, total used
/// over total reserved.
fn percents(pairs: impl Iterator<Item = (i64, i64)>) -> Option<(f64, f64)> {
    let (mut used, mut reserved, mut max, mut any) = (0f64, 0f64, 0f64, false);
    for (u, r) in pairs {
        used += u as f64;
        reserved += r as f64;
        max = max.max(u as f64 * 100.0 / r as f64);
        any = true;
    }
    (any && reserved > 0.0).then(|| (used * 100.0 / reserved, max))
}

/// Requests per target over the last minute, ALB's `RequestCountPerTarget`.
fn requests_per_target(running: &[&sql::RunningTask], rates: &HashMap<(String, String, std::net::SocketAddr), crate::load_balancer::Rate>) -> Option<f64> {
    let (mut per_second, mut targets) = (0.0, 0u32);
    for ((_, task, _), rate) in rates {
        if running.iter().any(|t| &t.task_id == task) {
            per_second += rate.per_second;
            targets += 1;
        }
    }
    (targets > 0).then(|| per_second * 60.0 / f64::from(targets))
}

/// Samples and evaluates every `every` until the process ends.
pub fn spawn(control: Control, every: Duration) {
    tokio::spawn(async move {
        let mut scaler = Autoscaler::new(control);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = Utc::now();
            if let Err(e) = scaler.sample(now).await {
                tracing::warn!(error = %e, "service metrics could not be sampled");
            }
            if let Err(e) = scaler.evaluate(now).await {
                tracing::warn!(error = %e, "auto scaling could not evaluate; retrying");
            }
        }
    });
}

fn text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
