/*!
Auto scaling in the portal: the server functions, the load chart of a service (desired,
running and its metrics, with each scaling decision marked) and of an instance, and the card
on a service's page that shows its bounds, policies, scheduled actions with their next run,
and why each recent scaling happened. The forms are on a page of their own
([`crate::scaling_page`]).
*/

use crate::components::{DataRegion, EmptyState, StatusBadge, settled, short_time};
use crate::error::{PortalError, PortalResult};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};
use wharf_core::scaling::{
    PutScalingPolicyInput, PutScheduledActionInput, RegisterScalableTargetInput, ScalableTarget, ScalingPolicy,
    ScheduledAction, SuspendedState,
};

/// A service's auto scaling as its pages show it: text, read once on the server (the
/// browser is not sent the policies' whole documents).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScalingSummary {
    /// The service is behind a load balancer (so requests per target can be followed).
    pub balanced: bool,
    /// (min, max) when a scalable target is registered.
    pub bounds: Option<(i64, i64)>,
    pub suspended: SuspendedState,
    pub policies: Vec<PolicyLine>,
    pub actions: Vec<ActionLine>,
    /// Newest first.
    pub activities: Vec<ActivityLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyLine {
    pub name: String,
    pub rule: String,
    pub last_out: Option<String>,
    pub last_in: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionLine {
    pub name: String,
    pub schedule: String,
    pub zone: String,
    pub sets: String,
    /// In the action's zone, and in UTC.
    pub next: Option<(String, String)>,
    pub last: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityLine {
    pub at: String,
    pub status: String,
    pub change: String,
    pub cause: String,
}


#[cfg(feature = "ssr")]
use crate::chart as charts;

#[cfg(feature = "ssr")]
fn scaling(backend: &crate::backend::SharedBackend) -> PortalResult<&dyn crate::backend::Scaling> {
    backend.scaling().ok_or_else(|| PortalError(wharf_core::WharfError::internal()))
}

#[server(input = Json)]
pub async fn scaling_of_service(cluster: String, service: String) -> PortalResult<ScalingSummary> {
    let b = crate::ssr::backend()?;
    let s = scaling(&b)?.describe_scaling(&cluster, &service).await?;
    let balanced = !b.describe_service(&cluster, &service).await?.config.load_balancers.is_empty();
    Ok(ScalingSummary {
        balanced,
        bounds: s.scalable_target.as_ref().map(|t| (t.min_capacity, t.max_capacity)),
        suspended: s.scalable_target.map(|t| t.suspended_state).unwrap_or_default(),
        policies: s.scaling_policies.iter().map(|p| PolicyLine { name: p.policy_name.clone(), rule: describe_policy(p), last_out: p.last_scale_out_time.clone(), last_in: p.last_scale_in_time.clone() }).collect(),
        actions: s.scheduled_actions.iter().map(|a| ActionLine {
            name: a.scheduled_action_name.clone(),
            schedule: a.schedule.clone(),
            zone: a.timezone.clone(),
            sets: describe_action(a),
            next: a.next_run_local_time.clone().zip(a.next_run_time.clone()),
            last: a.last_run_time.clone(),
        }).collect(),
        activities: s.scaling_activities.iter().map(activity_line).collect(),
    })
}

/// The service's load chart of the last hour, drawn (none before its first sample).
#[server(input = Json)]
pub async fn load_chart_of_service(cluster: String, service: String) -> PortalResult<Option<String>> {
    let b = crate::ssr::backend()?;
    let m = scaling(&b)?.service_metrics(&cluster, &service, CHART_MINUTES).await?;
    Ok(charts::service_load(&m))
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

/// The next runs of a schedule as its form is typed, or what is wrong with its calendar (the
/// expression, the zone, the start and end), by field. A schedule being typed is not a failed
/// request: its problems come back as an answer.
#[server(input = Json)]
pub async fn preview_schedule(input: PutScheduledActionInput) -> PortalResult<(Vec<String>, Vec<wharf_core::FieldError>)> {
    let b = crate::ssr::backend()?;
    match scaling(&b)?.preview_schedule(input).await {
        Ok(runs) => Ok((runs, Vec::new())),
        Err(e) if e.error == wharf_core::ErrorKind::InvalidParameter => {
            let calendar = ["schedule", "timezone", "startTime", "endTime"];
            Ok((Vec::new(), e.errors.into_iter().filter(|f| calendar.contains(&f.field.as_str())).collect()))
        }
        Err(e) => Err(e.into()),
    }
}

/// How far back the charts look, in minutes.
#[cfg(feature = "ssr")]
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

#[cfg(feature = "ssr")]
fn activity_line(a: &wharf_core::scaling::ScalingActivity) -> ActivityLine {
    ActivityLine {
        at: a.start_time.clone(),
        status: a.status_code.clone(),
        change: if a.from_count == a.to_count { a.description.clone() } else { format!("{} → {} tasks", a.from_count, a.to_count) },
        cause: a.cause.clone(),
    }
}

/// The service's load over the last hour: desired and running tasks, CPU and memory (and
/// requests per target behind a load balancer), with each scaling decision marked.
#[component]
pub fn ServiceLoadChart(cluster: String, service: String, version: ReadSignal<u64>) -> impl IntoView {
    let tick = ticking();
    let chart = crate::components::resource(move || (cluster.clone(), service.clone(), version.get(), tick.get()), |(c, s, ..)| load_chart_of_service(c, s));
    view! {
        <section class="card" id="service-load">
            <h2>"Load, last hour"</h2>
            <ChartRegion chart empty="Every few seconds the service's tasks' CPU and memory are sampled here."/>
        </section>
    }
}

/// A chart the server drew, or an empty state.
#[component]
fn ChartRegion(chart: crate::components::Data<PortalResult<Option<String>>>, empty: &'static str) -> impl IntoView {
    view! {
        <DataRegion>
            {move || Suspend::new(async move {
                Ok::<_, PortalError>(match settled(chart).await? {
                    Some(markup) => view! { <div class="chart-frame" inner_html=markup></div> }.into_any(),
                    None => view! { <EmptyState title="No samples yet" body=empty/> }.into_any(),
                })
            })}
        </DataRegion>
    }
}

/// One line about a policy: what it follows and how.
#[cfg(feature = "ssr")]
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
#[cfg(feature = "ssr")]
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
pub fn ActivityTable(activities: Vec<ActivityLine>) -> impl IntoView {
    view! {
        <table class="table" id="scaling-activities">
            <thead><tr><th>"When"</th><th>"Result"</th><th>"Change"</th><th>"Why"</th></tr></thead>
            <tbody>
                {activities.into_iter().map(|a| view! {
                    <tr data-status=a.status.clone()>
                        <td>{short_time(&a.at)}</td>
                        <td><StatusBadge status=a.status.to_uppercase()/></td>
                        <td class="nowrap">{a.change}</td>
                        <td>{a.cause}</td>
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
    // The link's check reads a resource of its own: made here, in the same order on the server
    // and in the browser, not inside the card's Suspend (which the two resolve at other times).
    view! {
        <section class="card" id="auto-scaling">
            <h2>"Auto scaling"</h2>
            <DataRegion>
                {move || Suspend::new(async move {
                    let s = settled(data).await?;
                    let Some((min, max)) = s.bounds else {
                        return Ok::<_, PortalError>(view! {
                            <EmptyState title="No auto scaling" body="Set a minimum and maximum number of tasks, then policies that follow CPU, memory or requests, or a schedule."/>
                        }.into_any());
                    };
                    let flags: Vec<&str> = [
                        (s.suspended.dynamic_scaling_out_suspended, "scale-out"),
                        (s.suspended.dynamic_scaling_in_suspended, "scale-in"),
                        (s.suspended.scheduled_scaling_suspended, "scheduled scaling"),
                    ].into_iter().filter(|f| f.0).map(|f| f.1).collect();
                    let recent: Vec<ActivityLine> = s.activities.into_iter().take(8).collect();
                    Ok(view! {
                        <dl class="facts" id="scalable-target">
                            <dt>"Tasks"</dt><dd>{format!("at least {min}, at most {max}")}</dd>
                            <dt>"Suspended"</dt><dd>{if flags.is_empty() { "nothing".to_string() } else { flags.join(", ") }}</dd>
                        </dl>
                        <h3>"Policies"</h3>
                        {if s.policies.is_empty() {
                            view! { <p class="muted">"No policy: the count moves only by schedule or by hand."</p> }.into_any()
                        } else {
                            view! { <PolicyTable policies=s.policies/> }.into_any()
                        }}
                        <h3>"Scheduled actions"</h3>
                        {if s.actions.is_empty() {
                            view! { <p class="muted">"No scheduled action."</p> }.into_any()
                        } else {
                            view! { <ScheduleTable actions=s.actions/> }.into_any()
                        }}
                        <h3>"Recent activity"</h3>
                        {if recent.is_empty() {
                            view! { <p class="muted">"Nothing yet: each decision is written here with its numbers."</p> }.into_any()
                        } else {
                            view! { <ActivityTable activities=recent/> }.into_any()
                        }}
                    }.into_any())
                })}
            </DataRegion>
            <crate::account::IfAllowed family check=|a| a.deploy>
                <div class="actions"><A href=href.clone() attr:class="button" attr:id="open-scaling">"Edit auto scaling"</A></div>
            </crate::account::IfAllowed>
        </section>
    }
}

/// Policies, each with a button of the caller's (delete) when given.
#[component]
pub fn PolicyTable(policies: Vec<PolicyLine>, #[prop(optional)] action: Option<Callback<String, AnyView>>) -> impl IntoView {
    let never = |t: Option<String>| t.as_deref().map(short_time).unwrap_or_else(|| "never".into());
    view! {
        <table class="table" id="scaling-policies">
            <thead><tr><th>"Policy"</th><th>"Rule"</th><th>"Last scaled out"</th><th>"Last scaled in"</th><th></th></tr></thead>
            <tbody>
                {policies.into_iter().map(|p| view! {
                    <tr data-policy=p.name.clone()>
                        <td><code>{p.name.clone()}</code></td>
                        <td>{p.rule}</td>
                        <td>{never(p.last_out)}</td>
                        <td>{never(p.last_in)}</td>
                        <td>{action.map(|a| a.run(p.name.clone()))}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Scheduled actions with when each runs next, in its own zone (UTC on hover).
#[component]
pub fn ScheduleTable(actions: Vec<ActionLine>, #[prop(optional)] action: Option<Callback<String, AnyView>>) -> impl IntoView {
    view! {
        <table class="table" id="scheduled-actions">
            <thead><tr><th>"Action"</th><th>"Schedule"</th><th>"Sets"</th><th>"Next run"</th><th>"Last run"</th><th></th></tr></thead>
            <tbody>
                {actions.into_iter().map(|a| {
                    let (local, utc) = a.next.unwrap_or_else(|| ("never again".into(), String::new()));
                    view! {
                        <tr data-action=a.name.clone()>
                            <td><code>{a.name.clone()}</code></td>
                            <td><code>{a.schedule}</code>" "<span class="muted">{a.zone}</span></td>
                            <td>{a.sets}</td>
                            <td class="next-run" title=utc>{local}</td>
                            <td>{a.last.as_deref().map(short_time).unwrap_or_else(|| "not yet".into())}</td>
                            <td>{action.map(|f| f.run(a.name.clone()))}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
