/*!
Auto scaling in the portal: the server functions, the load chart of a service (desired,
running and its metrics, with each scaling decision marked) and of an instance, and the card
on a service's page that shows its bounds, policies, scheduled actions with their next run,
and why each recent scaling happened. The forms are on a page of their own
([`crate::scaling_page`]).
*/

use crate::chart::{Axis, Mark, Series, TimeChart};
use crate::components::{DataRegion, EmptyState, StatusBadge, settled, short_time};
use crate::error::{PortalError, PortalResult};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use wharf_core::scaling::{
    InstanceMetrics, PutScalingPolicyInput, PutScheduledActionInput, RegisterScalableTargetInput, ScalableTarget, ScalingActivity, ScalingPolicy,
    ScheduledAction, ServiceMetrics, ServiceScaling,
};

#[cfg(feature = "ssr")]
fn scaling(backend: &crate::backend::SharedBackend) -> PortalResult<&dyn crate::backend::Scaling> {
    backend.scaling().ok_or_else(|| PortalError(wharf_core::WharfError::internal()))
}

#[server(input = Json)]
pub async fn scaling_of_service(cluster: String, service: String) -> PortalResult<ServiceScaling> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.describe_scaling(&cluster, &service).await?)
}

#[server(input = Json)]
pub async fn metrics_of_service(cluster: String, service: String, minutes: i64) -> PortalResult<ServiceMetrics> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.service_metrics(&cluster, &service, minutes).await?)
}

#[server(input = Json)]
pub async fn metrics_of_instance(cluster: String, instance: String, minutes: i64) -> PortalResult<InstanceMetrics> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.instance_metrics(&cluster, &instance, minutes).await?)
}

#[server(input = Json)]
pub async fn register_scalable_target(cluster: String, service: String, input: RegisterScalableTargetInput) -> PortalResult<ScalableTarget> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.register_scalable_target(&cluster, &service, input).await?)
}

#[server(input = Json)]
pub async fn deregister_scalable_target(cluster: String, service: String) -> PortalResult<ScalableTarget> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.deregister_scalable_target(&cluster, &service).await?)
}

#[server(input = Json)]
pub async fn put_scaling_policy(cluster: String, service: String, name: String, input: PutScalingPolicyInput) -> PortalResult<ScalingPolicy> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.put_scaling_policy(&cluster, &service, &name, input).await?)
}

#[server(input = Json)]
pub async fn delete_scaling_policy(cluster: String, service: String, name: String) -> PortalResult<ScalingPolicy> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.delete_scaling_policy(&cluster, &service, &name).await?)
}

#[server(input = Json)]
pub async fn put_scheduled_action(cluster: String, service: String, name: String, input: PutScheduledActionInput) -> PortalResult<ScheduledAction> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.put_scheduled_action(&cluster, &service, &name, input).await?)
}

#[server(input = Json)]
pub async fn delete_scheduled_action(cluster: String, service: String, name: String) -> PortalResult<ScheduledAction> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.delete_scheduled_action(&cluster, &service, &name).await?)
}

/// The next runs of a schedule as its form is typed, or what is wrong with it, by field.
#[server(input = Json)]
pub async fn preview_schedule(input: PutScheduledActionInput) -> PortalResult<Vec<String>> {
    let b = crate::ssr::backend()?;
    Ok(scaling(&b)?.preview_schedule(input).await?)
}

/// How far back the charts look, in minutes.
const CHART_MINUTES: i64 = 60;

/// A counter that moves every 10 s in the browser: charts refetch on it, since samples arrive
/// without events.
fn ticking() -> ReadSignal<u64> {
    let (tick, set_tick) = signal(0u64);
    #[cfg(feature = "hydrate")]
    {
        if let Ok(handle) = set_interval_with_handle(move || set_tick.update(|t| *t += 1), std::time::Duration::from_secs(10)) {
            on_cleanup(move || handle.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = set_tick;
    tick
}

fn mark_of(a: &ScalingActivity) -> Option<Mark> {
    let at = chrono_like_seconds(&a.start_time)?;
    let kind = if a.status_code != "Successful" {
        "held"
    } else if a.to_count > a.from_count {
        "out"
    } else if a.to_count < a.from_count {
        "in"
    } else {
        "bounds"
    };
    Some(Mark { at, label: format!("{} {}: {}", short_time(&a.start_time), a.description, a.cause), kind })
}

/// Unix seconds of an RFC 3339 UTC time as the store writes it (`2026-12-04T15:04:05.123Z`),
/// read without a date library in the browser.
fn chrono_like_seconds(t: &str) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d, hh, mm, ss) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The service's load over the last hour: desired and running tasks, CPU and memory (and
/// requests per target behind a load balancer), with each scaling decision marked.
#[component]
pub fn ServiceLoadChart(cluster: String, service: String, version: ReadSignal<u64>) -> impl IntoView {
    let tick = ticking();
    let data = crate::components::resource(
        move || (cluster.clone(), service.clone(), version.get(), tick.get()),
        |(c, s, ..)| metrics_of_service(c, s, CHART_MINUTES),
    );
    view! {
        <section class="card" id="service-load">
            <h2>"Load, last hour"</h2>
            <DataRegion>
                {move || Suspend::new(async move {
                    let m = settled(data).await?;
                    let Some(last) = m.samples.last().map(|s| s.at) else {
                        return Ok::<_, PortalError>(view! {
                            <EmptyState title="No samples yet" body="Every few seconds the service's tasks' CPU and memory are sampled here."/>
                        }.into_any());
                    };
                    let from = last - CHART_MINUTES * 60;
                    let pick = |f: fn(&wharf_core::scaling::MetricSample) -> Option<f64>| m.samples.iter().filter_map(|s| Some((s.at, f(s)?))).collect::<Vec<_>>();
                    let counts = |f: fn(&wharf_core::scaling::MetricSample) -> i64| m.samples.iter().map(|s| (s.at, f(s) as f64)).collect::<Vec<_>>();
                    let mut series = vec![
                        Series { name: "desired tasks".into(), class: "series-1", axis: Axis::Left, points: counts(|s| s.desired) },
                        Series { name: "running tasks".into(), class: "series-2", axis: Axis::Left, points: counts(|s| s.running) },
                        Series { name: "CPU % (average)".into(), class: "series-3", axis: Axis::Right, points: pick(|s| s.cpu_average) },
                        Series { name: "memory % (average)".into(), class: "series-4", axis: Axis::Right, points: pick(|s| s.memory_average) },
                    ];
                    series.retain(|s| !s.points.is_empty());
                    let requests = pick(|s| s.requests_per_target);
                    let now = m.samples.last().cloned();
                    let summary = now.as_ref().map(|s| format!(
                        "Desired {} and running {} tasks; CPU {}; memory {}",
                        s.desired, s.running,
                        s.cpu_average.map_or("unknown".into(), |c| format!("{c:.0} %")),
                        s.memory_average.map_or("unknown".into(), |c| format!("{c:.0} %")),
                    )).unwrap_or_default();
                    let marks: Vec<Mark> = m.scaling_activities.iter().filter_map(mark_of).collect();
                    let request_marks = marks.clone();
                    Ok(view! {
                        <TimeChart id="load-chart" summary from to=last series marks right_unit=" %" right_floor=100.0/>
                        {(!requests.is_empty()).then(|| view! {
                            <h3>"Requests per target (last minute)"</h3>
                            <TimeChart id="requests-chart" summary="Requests per target per minute".to_string() from to=last
                                series=vec![Series { name: "requests per target".into(), class: "series-5", axis: Axis::Left, points: requests }]
                                marks=request_marks/>
                        })}
                    }.into_any())
                })}
            </DataRegion>
        </section>
    }
}

/// A host's CPU and memory use over the last hour, against what it registered.
#[component]
pub fn InstanceUsageChart(cluster: String, instance: String, cpu: i64, memory: i64) -> impl IntoView {
    let tick = ticking();
    let data = crate::components::resource(move || (cluster.clone(), instance.clone(), tick.get()), |(c, i, _)| metrics_of_instance(c, i, CHART_MINUTES));
    view! {
        <section class="card" id="instance-usage">
            <h2>"Use, last hour"</h2>
            <DataRegion>
                {move || Suspend::new(async move {
                    let m = settled(data).await?;
                    let Some(last) = m.samples.last().map(|s| s.at) else {
                        return Ok::<_, PortalError>(view! { <EmptyState title="No samples yet" body="The agent reports its host's use every few seconds."/> }.into_any());
                    };
                    let percent = |used: i64, of: i64| if of > 0 { used as f64 * 100.0 / of as f64 } else { 0.0 };
                    let series = vec![
                        Series { name: "CPU % of registered".into(), class: "series-3", axis: Axis::Right, points: m.samples.iter().map(|s| (s.at, percent(s.cpu, cpu))).collect() },
                        Series { name: "memory % of registered".into(), class: "series-4", axis: Axis::Right, points: m.samples.iter().map(|s| (s.at, percent(s.memory, memory))).collect() },
                    ];
                    let now = m.samples.last().map(|s| format!("CPU {:.0} %, memory {:.0} % of what the instance registered", percent(s.cpu, cpu), percent(s.memory, memory))).unwrap_or_default();
                    Ok(view! { <TimeChart id="usage-chart" summary=now from=last - CHART_MINUTES * 60 to=last series right_unit=" %" right_floor=100.0/> }.into_any())
                })}
            </DataRegion>
        </section>
    }
}

/// One line about a policy: what it follows and how.
pub fn describe_policy(p: &ScalingPolicy) -> String {
    if let Some(t) = &p.config.target_tracking_scaling_policy_configuration {
        let metric = t.predefined_metric_specification.as_ref().and_then(|m| m.predefined_metric_type.clone()).unwrap_or_default();
        let scale_in = if t.disable_scale_in == Some(true) { ", scale-in disabled" } else { "" };
        return format!(
            "keeps {metric} at {} (cooldowns: out {} s, in {} s{scale_in})",
            t.target_value.unwrap_or_default(),
            t.scale_out_cooldown.unwrap_or_default(),
            t.scale_in_cooldown.unwrap_or_default()
        );
    }
    if let Some(s) = &p.config.step_scaling_policy_configuration {
        let a = s.alarm.clone().unwrap_or_default();
        return format!(
            "when {} {} {} for {} × {} s: {} by steps (cooldown {} s)",
            a.metric_name.unwrap_or_default(),
            a.comparison_operator.unwrap_or_default(),
            a.threshold.unwrap_or_default(),
            a.evaluation_periods.unwrap_or_default(),
            a.period.unwrap_or_default(),
            s.adjustment_type.clone().unwrap_or_default(),
            s.cooldown.unwrap_or_default()
        );
    }
    p.config.policy_type.clone()
}

/// What a scheduled action sets.
pub fn describe_action(a: &ScheduledAction) -> String {
    let t = a.scalable_target_action;
    match (t.min_capacity, t.max_capacity) {
        (Some(min), Some(max)) => format!("min {min}, max {max}"),
        (Some(min), None) => format!("min {min}"),
        (None, Some(max)) => format!("max {max}"),
        (None, None) => "nothing".into(),
    }
}

/// Scaling activities, newest first.
#[component]
pub fn ActivityTable(activities: Vec<ScalingActivity>) -> impl IntoView {
    view! {
        <table class="table" id="scaling-activities">
            <thead><tr><th>"When"</th><th>"Result"</th><th>"Change"</th><th>"Why"</th></tr></thead>
            <tbody>
                {activities.into_iter().map(|a| view! {
                    <tr data-status=a.status_code.clone()>
                        <td>{short_time(&a.start_time)}</td>
                        <td><StatusBadge status=a.status_code.to_uppercase()/></td>
                        <td class="nowrap">{if a.from_count == a.to_count { a.description.clone() } else { format!("{} → {} tasks", a.from_count, a.to_count) }}</td>
                        <td>{a.cause.clone()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The service page's auto scaling card.
#[component]
pub fn ServiceScalingCard(cluster: String, service: String, family: String, version: ReadSignal<u64>) -> impl IntoView {
    let href = format!("/clusters/{cluster}/services/{service}/scaling");
    let data = crate::components::resource(move || (cluster.clone(), service.clone(), version.get()), |(c, s, _)| scaling_of_service(c, s));
    let family = Signal::stored(Some(family));
    view! {
        <section class="card" id="auto-scaling">
            <h2>"Auto scaling"</h2>
            <DataRegion>
                {move || { let href = href.clone(); Suspend::new(async move {
                    let s = settled(data).await?;
                    let edit = view! {
                        <crate::account::IfAllowed family check=|a| a.deploy>
                            <div class="actions"><A href=href.clone() attr:class="button" attr:id="open-scaling">"Edit auto scaling"</A></div>
                        </crate::account::IfAllowed>
                    };
                    let Some(target) = s.scalable_target else {
                        return Ok::<_, PortalError>(view! {
                            <EmptyState title="No auto scaling" body="Set a minimum and maximum number of tasks, then policies that follow CPU, memory or requests, or a schedule."/>
                            {edit}
                        }.into_any());
                    };
                    let suspended = target.suspended_state;
                    let flags: Vec<&str> = [
                        (suspended.dynamic_scaling_out_suspended, "scale-out"),
                        (suspended.dynamic_scaling_in_suspended, "scale-in"),
                        (suspended.scheduled_scaling_suspended, "scheduled scaling"),
                    ].into_iter().filter(|f| f.0).map(|f| f.1).collect();
                    let recent: Vec<ScalingActivity> = s.scaling_activities.into_iter().take(8).collect();
                    Ok(view! {
                        <dl class="facts" id="scalable-target">
                            <dt>"Tasks"</dt><dd>{format!("at least {}, at most {}", target.min_capacity, target.max_capacity)}</dd>
                            <dt>"Suspended"</dt><dd>{if flags.is_empty() { "nothing".to_string() } else { flags.join(", ") }}</dd>
                        </dl>
                        <h3>"Policies"</h3>
                        {if s.scaling_policies.is_empty() {
                            view! { <p class="muted">"No policy: the count moves only by schedule or by hand."</p> }.into_any()
                        } else {
                            view! {
                                <table class="table" id="scaling-policies">
                                    <thead><tr><th>"Policy"</th><th>"Rule"</th><th>"Last scaled out"</th><th>"Last scaled in"</th></tr></thead>
                                    <tbody>
                                        {s.scaling_policies.iter().map(|p| view! {
                                            <tr data-policy=p.policy_name.clone()>
                                                <td><code>{p.policy_name.clone()}</code></td>
                                                <td>{describe_policy(p)}</td>
                                                <td>{p.last_scale_out_time.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                                                <td>{p.last_scale_in_time.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                        <h3>"Scheduled actions"</h3>
                        {if s.scheduled_actions.is_empty() {
                            view! { <p class="muted">"No scheduled action."</p> }.into_any()
                        } else {
                            view! { <ScheduleTable actions=s.scheduled_actions/> }.into_any()
                        }}
                        <h3>"Recent activity"</h3>
                        {if recent.is_empty() {
                            view! { <p class="muted">"Nothing yet: each decision is written here with its numbers."</p> }.into_any()
                        } else {
                            view! { <ActivityTable activities=recent/> }.into_any()
                        }}
                        {edit}
                    }.into_any())
                })}}
            </DataRegion>
        </section>
    }
}

/// Scheduled actions with when each runs next, in its own zone and in UTC.
#[component]
pub fn ScheduleTable(actions: Vec<ScheduledAction>) -> impl IntoView {
    view! {
        <table class="table" id="scheduled-actions">
            <thead><tr><th>"Action"</th><th>"Schedule"</th><th>"Sets"</th><th>"Next run"</th><th>"Last run"</th></tr></thead>
            <tbody>
                {actions.into_iter().map(|a| view! {
                    <tr data-action=a.scheduled_action_name.clone()>
                        <td><code>{a.scheduled_action_name.clone()}</code></td>
                        <td><code>{a.schedule.clone()}</code>" "<span class="muted">{a.timezone.clone()}</span></td>
                        <td>{describe_action(&a)}</td>
                        <td class="next-run" title=a.next_run_time.clone().unwrap_or_default()>
                            {a.next_run_local_time.clone().unwrap_or_else(|| "never again".into())}
                        </td>
                        <td>{a.last_run_time.as_deref().map(short_time).unwrap_or_else(|| "not yet".into())}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_times_read_as_unix_seconds() {
        assert_eq!(super::chrono_like_seconds("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(super::chrono_like_seconds("2026-12-04T15:04:05.123Z"), Some(1_796_396_645));
        assert_eq!(super::chrono_like_seconds("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(super::chrono_like_seconds("soon"), None);
    }
}
