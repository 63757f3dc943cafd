/*!
A service's auto scaling page: its bounds and suspend flags, its policies and its scheduled
actions, each made in a form that is checked as it is typed (by the same rules the server
applies, from `wharf-core`; a schedule's expression and time zone by the server, which answers
with the next runs), and the activities that explain every decision.
*/

use crate::components::{DataRegion, PageHeader, settled};
use crate::error::{FieldErrorList, PortalError, errors_of};
use crate::scaling::*;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use wharf_core::FieldError;
use wharf_core::scaling::{
    ADJUSTMENT_TYPES, Alarm, COMPARISONS, PREDEFINED_METRICS, PredefinedMetricSpecification, PutScalingPolicyInput, PutScheduledActionInput,
    RegisterScalableTargetInput, ScalableTargetAction, StepAdjustment, StepScalingPolicyConfiguration, SuspendedState,
    TargetTrackingScalingPolicyConfiguration, check_name,
};
use wharf_core::{FieldErrors, WharfError};

/// A checkbox and its label.
fn check(id: &'static str, checked: RwSignal<bool>, label: &'static str) -> impl IntoView {
    view! { <label class="check" for=id><input type="checkbox" id=id bind:checked=checked/>" "{label}</label> }
}

/// A number typed in a field: none when empty, an error naming the field when not a number.
fn number<T: std::str::FromStr>(field: &str, text: &str, errors: &mut FieldErrors) -> Option<T> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    text.parse().map_err(|_| errors.push(field, format!("'{text}' is not a number"))).ok()
}

fn all_errors(mut typed: FieldErrors, checked: Result<(), WharfError>) -> Vec<FieldError> {
    if let Err(e) = checked {
        for f in e.errors {
            typed.push(f.field, f.message);
        }
    }
    typed.into_vec()
}

/// What the forms hold, owned by the page: the page's data is read again whenever the
/// service's scaling changes (a decision, another person's edit), and what someone is typing
/// must outlive that.
#[derive(Clone, Copy)]
struct TargetFields {
    min: RwSignal<String>,
    max: RwSignal<String>,
    no_out: RwSignal<bool>,
    no_in: RwSignal<bool>,
    no_schedule: RwSignal<bool>,
    /// Filled from the registered target once.
    seeded: RwSignal<bool>,
}

impl TargetFields {
    fn new() -> Self {
        Self {
            min: RwSignal::new("1".into()),
            max: RwSignal::new("4".into()),
            no_out: RwSignal::new(false),
            no_in: RwSignal::new(false),
            no_schedule: RwSignal::new(false),
            seeded: RwSignal::new(false),
        }
    }

    fn seed(&self, bounds: Option<(i64, i64)>, suspended: SuspendedState) {
        if self.seeded.get_untracked() {
            return;
        }
        self.seeded.set(true);
        if let Some((min, max)) = bounds {
            self.min.set(min.to_string());
            self.max.set(max.to_string());
        }
        self.no_out.set(suspended.dynamic_scaling_out_suspended);
        self.no_in.set(suspended.dynamic_scaling_in_suspended);
        self.no_schedule.set(suspended.scheduled_scaling_suspended);
    }
}

#[derive(Clone, Copy)]
struct PolicyFields {
    name: RwSignal<String>,
    kind: RwSignal<String>,
    metric: RwSignal<String>,
    target: RwSignal<String>,
    out_cooldown: RwSignal<String>,
    in_cooldown: RwSignal<String>,
    no_in: RwSignal<bool>,
    comparison: RwSignal<String>,
    threshold: RwSignal<String>,
    periods: RwSignal<String>,
    period: RwSignal<String>,
    adjustment: RwSignal<String>,
    step_lines: RwSignal<String>,
    cooldown: RwSignal<String>,
}

impl PolicyFields {
    fn new() -> Self {
        let text = |t: &str| RwSignal::new(t.to_string());
        Self {
            name: text("cpu-target"),
            kind: text("TargetTrackingScaling"),
            metric: text(PREDEFINED_METRICS[0]),
            target: text("60"),
            out_cooldown: text("300"),
            in_cooldown: text("300"),
            no_in: RwSignal::new(false),
            comparison: text(COMPARISONS[1]),
            threshold: text("80"),
            periods: text("3"),
            period: text("60"),
            adjustment: text(ADJUSTMENT_TYPES[0]),
            step_lines: text("0 20 1\n20 - 2"),
            cooldown: text("300"),
        }
    }
}

#[derive(Clone, Copy)]
struct ActionFields {
    name: RwSignal<String>,
    schedule: RwSignal<String>,
    zone: RwSignal<String>,
    min: RwSignal<String>,
    max: RwSignal<String>,
}

impl ActionFields {
    fn new() -> Self {
        let text = |t: &str| RwSignal::new(t.to_string());
        Self { name: text("weekday-mornings"), schedule: text("cron(0 8 ? * MON-FRI *)"), zone: text("UTC"), min: text(""), max: text("") }
    }
}

#[component]
pub fn ServiceScalingPage() -> impl IntoView {
    let (target_fields, policy_fields, action_fields) = (TargetFields::new(), PolicyFields::new(), ActionFields::new());
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let name = move || params.read().get("service").unwrap_or_default();
    let live = crate::live::use_live(cluster);
    let register = ServerAction::<RegisterScalableTarget>::new();
    let deregister = ServerAction::<DeregisterScalableTarget>::new();
    let put_policy = ServerAction::<PutScalingPolicy>::new();
    let delete_policy = ServerAction::<DeleteScalingPolicy>::new();
    let put_action = ServerAction::<PutScheduledAction>::new();
    let delete_action = ServerAction::<DeleteScheduledAction>::new();
    let changed = move || {
        (register.version().get(), deregister.version().get(), put_policy.version().get(), delete_policy.version().get(), put_action.version().get(), delete_action.version().get())
    };
    let data = crate::components::resource(
        move || (cluster(), name(), live.version.get(), changed()),
        |(c, s, ..)| scaling_of_service(c, s),
    );
    let delete_errors = Signal::derive(move || [errors_of(delete_policy.value().get()), errors_of(delete_action.value().get()), errors_of(deregister.value().get())].concat());
    view! {
        <PageHeader
            title=Signal::derive(move || format!("Auto scaling: {}", name()))
            crumbs=vec![
                ("/clusters".into(), "Clusters".into()),
                (format!("/clusters/{}", cluster()), cluster()),
                (format!("/clusters/{}/services/{}", cluster(), name()), name()),
            ]
        >
            <crate::live::LiveBadge live/>
        </PageHeader>
        <p class="lead">
            "The service's desired count stays between a minimum and a maximum. Policies move it with the load, checked every few seconds; scheduled actions move the bounds at set times. Every decision is written below with its numbers."
        </p>
        <DataRegion>
            {move || Suspend::new(async move {
                let scaling = settled(data).await?;
                let (c, s) = (cluster(), name());
                let balanced = scaling.balanced;
                target_fields.seed(scaling.bounds, scaling.suspended);
                let registered = scaling.bounds.is_some();
                Ok::<_, PortalError>(view! {
                    <TargetForm cluster=c.clone() service=s.clone() fields=target_fields registered register deregister/>
                    <FieldErrorList errors=delete_errors/>
                    {registered.then(|| view! {
                        <section class="card">
                            <h2>"Policies"</h2>
                            <PolicyList cluster=c.clone() service=s.clone() policies=scaling.policies.clone() delete=delete_policy/>
                            <h3>"New policy"</h3>
                            <PolicyForm cluster=c.clone() service=s.clone() balanced fields=policy_fields put=put_policy/>
                        </section>
                        <section class="card">
                            <h2>"Scheduled actions"</h2>
                            <ActionList cluster=c.clone() service=s.clone() actions=scaling.actions.clone() delete=delete_action/>
                            <h3>"New scheduled action"</h3>
                            <ActionForm cluster=c.clone() service=s.clone() fields=action_fields put=put_action/>
                        </section>
                    })}
                    <section class="card">
                        <h2>"Activity"</h2>
                        {if scaling.activities.is_empty() {
                            view! { <p class="muted">"No decision yet."</p> }.into_any()
                        } else {
                            view! { <ActivityTable activities=scaling.activities.clone()/> }.into_any()
                        }}
                    </section>
                })
            })}
        </DataRegion>
    }
}

#[component]
fn TargetForm(
    cluster: String,
    service: String,
    fields: TargetFields,
    registered: bool,
    register: ServerAction<RegisterScalableTarget>,
    deregister: ServerAction<DeregisterScalableTarget>,
) -> impl IntoView {
    let TargetFields { min, max, no_out, no_in, no_schedule, .. } = fields;
    let input = move || {
        let mut typed = FieldErrors::new();
        let input = RegisterScalableTargetInput {
            min_capacity: number("minCapacity", &min.get(), &mut typed),
            max_capacity: number("maxCapacity", &max.get(), &mut typed),
            suspended_state: Some(SuspendedState {
                dynamic_scaling_in_suspended: no_in.get(),
                dynamic_scaling_out_suspended: no_out.get(),
                scheduled_scaling_suspended: no_schedule.get(),
            }),
        };
        let checked = input.apply(None).map(|_| ());
        (input, all_errors(typed, checked))
    };
    let typed = Memo::new(move |_| input().1);
    let sent = Signal::derive(move || errors_of(register.value().get()));
    let (c, s) = (cluster.clone(), service.clone());
    view! {
        <section class="card">
            <h2>"Bounds"</h2>
            <form class="form-grid" id="scalable-target-form" on:submit=move |ev| {
                ev.prevent_default();
                register.dispatch(RegisterScalableTarget { cluster: cluster.clone(), service: service.clone(), input: input().0 });
            }>
                <label for="st-min">"Minimum tasks" <input id="st-min" type="number" min="0" bind:value=min aria-invalid=move || typed.with(|e| e.iter().any(|f| f.field == "minCapacity")).to_string()/></label>
                <label for="st-max">"Maximum tasks" <input id="st-max" type="number" min="0" bind:value=max aria-invalid=move || typed.with(|e| e.iter().any(|f| f.field == "maxCapacity")).to_string()/></label>
                <div class="wide checks">
                    {check("st-no-out", no_out, "Suspend scale-out")}
                    {check("st-no-in", no_in, "Suspend scale-in")}
                    {check("st-no-schedule", no_schedule, "Suspend scheduled actions")}
                </div>
                <div class="wide">
                    <FieldErrorList errors=Signal::derive(move || typed.get())/>
                    <FieldErrorList errors=sent/>
                    <button type="submit" class="primary" id="save-scalable-target" disabled=move || register.pending().get() || !typed.with(Vec::is_empty)>
                        {if registered { "Save bounds" } else { "Turn on auto scaling" }}
                    </button>
                    {registered.then(|| view! {
                        " "
                        <button type="button" class="danger" id="deregister-scalable-target" disabled=move || deregister.pending().get()
                            on:click=move |_| { deregister.dispatch(DeregisterScalableTarget { cluster: c.clone(), service: s.clone() }); }>
                            "Turn off (removes policies and schedules)"
                        </button>
                    })}
                </div>
            </form>
        </section>
    }
}

#[component]
fn PolicyList(cluster: String, service: String, policies: Vec<PolicyLine>, delete: ServerAction<DeleteScalingPolicy>) -> impl IntoView {
    if policies.is_empty() {
        return view! { <p class="muted">"No policy yet."</p> }.into_any();
    }
    let button = Callback::new(move |name: String| {
        let (cluster, service) = (cluster.clone(), service.clone());
        let label = format!("Delete policy {name}");
        view! {
            <button type="button" class="danger small" aria-label=label disabled=move || delete.pending().get()
                on:click=move |_| { delete.dispatch(DeleteScalingPolicy { cluster: cluster.clone(), service: service.clone(), name: name.clone() }); }>"Delete"</button>
        }
        .into_any()
    });
    view! { <PolicyTable policies action=button/> }.into_any()
}

/// Step adjustments typed one per line: `lower upper adjustment`, `-` for an open end.
fn steps(text: &str, typed: &mut FieldErrors) -> Vec<StepAdjustment> {
    let bound = |s: &str, typed: &mut FieldErrors, line: usize| if s == "-" { None } else { number(&format!("steps line {line}"), s, typed) };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() != 3 {
                typed.push(format!("steps line {}", i + 1), "is 'lower upper adjustment', with '-' for an open end");
                return StepAdjustment::default();
            }
            StepAdjustment {
                metric_interval_lower_bound: bound(parts[0], typed, i + 1),
                metric_interval_upper_bound: bound(parts[1], typed, i + 1),
                scaling_adjustment: number(&format!("steps line {}", i + 1), parts[2], typed),
            }
        })
        .collect()
}

#[component]
fn PolicyForm(cluster: String, service: String, balanced: bool, fields: PolicyFields, put: ServerAction<PutScalingPolicy>) -> impl IntoView {
    let PolicyFields { name, kind, metric, target, out_cooldown, in_cooldown, no_in, comparison, threshold, periods, period, adjustment, step_lines, cooldown } = fields;
    let input = move || {
        let mut typed = FieldErrors::new();
        check_name("policyName", name.get().trim(), &mut typed);
        let tracking = kind.get() == "TargetTrackingScaling";
        let spec = || Some(PredefinedMetricSpecification { predefined_metric_type: Some(metric.get()), resource_label: None });
        let input = PutScalingPolicyInput {
            policy_type: Some(kind.get()),
            target_tracking_scaling_policy_configuration: tracking.then(|| TargetTrackingScalingPolicyConfiguration {
                target_value: number("targetValue", &target.get(), &mut typed),
                predefined_metric_specification: spec(),
                scale_out_cooldown: number("scaleOutCooldown", &out_cooldown.get(), &mut typed),
                scale_in_cooldown: number("scaleInCooldown", &in_cooldown.get(), &mut typed),
                disable_scale_in: Some(no_in.get()),
            }),
            step_scaling_policy_configuration: (!tracking).then(|| StepScalingPolicyConfiguration {
                adjustment_type: Some(adjustment.get()),
                step_adjustments: Some(steps(&step_lines.get(), &mut typed)),
                min_adjustment_magnitude: None,
                cooldown: number("cooldown", &cooldown.get(), &mut typed),
                alarm: Some(Alarm {
                    metric_name: Some(metric.get()),
                    comparison_operator: Some(comparison.get()),
                    threshold: number("threshold", &threshold.get(), &mut typed),
                    evaluation_periods: number("evaluationPeriods", &periods.get(), &mut typed),
                    period: number("period", &period.get(), &mut typed),
                }),
            }),
        };
        let checked = input.validate().map(|_| ());
        (input, all_errors(typed, checked))
    };
    let typed = Memo::new(move |_| input().1);
    let sent = Signal::derive(move || errors_of(put.value().get()));
    let metrics: Vec<&'static str> = PREDEFINED_METRICS.into_iter().filter(|m| balanced || *m != "ALBRequestCountPerTarget").collect();
    let options = |list: Vec<&'static str>| list.into_iter().map(|m| view! { <option value=m>{m}</option> }).collect_view();
    view! {
        <form class="form-grid" id="policy-form" on:submit=move |ev| {
            ev.prevent_default();
            put.dispatch(PutScalingPolicy { cluster: cluster.clone(), service: service.clone(), name: name.get_untracked().trim().to_string(), input: input().0 });
        }>
            <label for="p-name">"Name" <input id="p-name" bind:value=name autocomplete="off"/></label>
            <label for="p-kind">"Type"
                <select id="p-kind" bind:value=kind>
                    <option value="TargetTrackingScaling">"Target tracking"</option>
                    <option value="StepScaling">"Step scaling"</option>
                </select>
            </label>
            <label for="p-metric">"Metric" <select id="p-metric" bind:value=metric>{options(metrics)}</select></label>
            {move || if kind.get() != "TargetTrackingScaling" { view! {
                <label for="p-comparison">"Alarm when" <select id="p-comparison" bind:value=comparison>{options(COMPARISONS.to_vec())}</select></label>
                <label for="p-threshold">"Threshold" <input id="p-threshold" type="number" step="any" bind:value=threshold/></label>
                <label for="p-periods">"For periods" <input id="p-periods" type="number" min="1" max="100" bind:value=periods/></label>
                <label for="p-period">"Period (s)" <input id="p-period" type="number" min="10" max="3600" bind:value=period/></label>
                <label for="p-adjustment">"Adjustment" <select id="p-adjustment" bind:value=adjustment>{options(ADJUSTMENT_TYPES.to_vec())}</select></label>
                <label for="p-cooldown">"Cooldown (s)" <input id="p-cooldown" type="number" min="0" bind:value=cooldown/></label>
                <label for="p-steps" class="wide">"Steps: lower upper adjustment, above the threshold ('-' for an open end)"
                    <textarea id="p-steps" rows="3" bind:value=step_lines></textarea>
                </label>
            }.into_any() } else { view! {
                <label for="p-target">"Target value" <input id="p-target" type="number" step="any" bind:value=target/></label>
                <label for="p-out">"Scale-out cooldown (s)" <input id="p-out" type="number" min="0" bind:value=out_cooldown/></label>
                <label for="p-in">"Scale-in cooldown (s)" <input id="p-in" type="number" min="0" bind:value=in_cooldown/></label>
                <div class="checks">{check("p-no-in", no_in, "Never scale in")}</div>
            }.into_any() }}
            <div class="wide">
                <FieldErrorList errors=Signal::derive(move || typed.get())/>
                <FieldErrorList errors=sent/>
                <button type="submit" class="primary" id="save-policy" disabled=move || put.pending().get() || !typed.with(Vec::is_empty)>"Save policy"</button>
            </div>
        </form>
    }
}

#[component]
fn ActionList(cluster: String, service: String, actions: Vec<ActionLine>, delete: ServerAction<DeleteScheduledAction>) -> impl IntoView {
    if actions.is_empty() {
        return view! { <p class="muted">"No scheduled action yet."</p> }.into_any();
    }
    let button = Callback::new(move |name: String| {
        let (cluster, service) = (cluster.clone(), service.clone());
        let label = format!("Delete scheduled action {name}");
        view! {
            <button type="button" class="danger small" aria-label=label disabled=move || delete.pending().get()
                on:click=move |_| { delete.dispatch(DeleteScheduledAction { cluster: cluster.clone(), service: service.clone(), name: name.clone() }); }>"Delete"</button>
        }
        .into_any()
    });
    view! { <ScheduleTable actions action=button/> }.into_any()
}

/// Zones offered as the time zone is typed (any IANA name is taken).
const ZONES: [&str; 12] = [
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo",
    "Asia/Tokyo", "Asia/Kolkata", "Asia/Singapore", "Australia/Sydney",
];

#[component]
fn ActionForm(cluster: String, service: String, fields: ActionFields, put: ServerAction<PutScheduledAction>) -> impl IntoView {
    let ActionFields { name, schedule, zone, min, max } = fields;
    let input = move || {
        let mut typed = FieldErrors::new();
        check_name("scheduledActionName", name.get().trim(), &mut typed);
        let input = PutScheduledActionInput {
            schedule: Some(schedule.get().trim().to_string()),
            timezone: Some(zone.get().trim().to_string()).filter(|z| !z.is_empty()),
            start_time: None,
            end_time: None,
            scalable_target_action: Some(ScalableTargetAction {
                min_capacity: number("scalableTargetAction.minCapacity", &min.get(), &mut typed),
                max_capacity: number("scalableTargetAction.maxCapacity", &max.get(), &mut typed),
            }),
        };
        input.check_action(&mut typed);
        (input, typed.into_vec())
    };
    let typed = Memo::new(move |_| input().1);
    // The calendar's part (expression, zone) is the server's: it answers with the next runs.
    let preview = crate::components::resource(move || input().0, preview_schedule);
    let sent = Signal::derive(move || errors_of(put.value().get()));
    view! {
        <form class="form-grid" id="action-form" on:submit=move |ev| {
            ev.prevent_default();
            put.dispatch(PutScheduledAction { cluster: cluster.clone(), service: service.clone(), name: name.get_untracked().trim().to_string(), input: input().0 });
        }>
            <label for="a-name">"Name" <input id="a-name" bind:value=name autocomplete="off"/></label>
            <label for="a-schedule">"Schedule" <input id="a-schedule" bind:value=schedule autocomplete="off" placeholder="cron(0 8 ? * MON-FRI *), rate(1 hour) or at(2026-12-24T18:00:00)"/></label>
            <label for="a-zone">"Time zone" <input id="a-zone" bind:value=zone list="zones" autocomplete="off"/></label>
            <datalist id="zones">{ZONES.into_iter().map(|z| view! { <option value=z/> }).collect_view()}</datalist>
            <label for="a-min">"Set minimum to" <input id="a-min" type="number" min="0" bind:value=min placeholder="unchanged"/></label>
            <label for="a-max">"Set maximum to" <input id="a-max" type="number" min="0" bind:value=max placeholder="unchanged"/></label>
            <div class="wide" id="schedule-preview" aria-live="polite">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        // (The rest of the form is checked above as typed.)
                        match settled(preview).await {
                            Ok((_, errors)) if !errors.is_empty() => view! { <FieldErrorList errors=Signal::stored(errors)/> }.into_any(),
                            Ok((runs, _)) if runs.is_empty() => view! { <p class="muted">"It never runs again."</p> }.into_any(),
                            Ok((runs, _)) => view! { <p class="muted">"Next runs: " {runs.join("; ")}</p> }.into_any(),
                            Err(e) => view! { <p class="muted">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
            <div class="wide">
                <FieldErrorList errors=Signal::derive(move || typed.get())/>
                <FieldErrorList errors=sent/>
                <button type="submit" class="primary" id="save-action" disabled=move || put.pending().get() || !typed.with(Vec::is_empty)>"Save scheduled action"</button>
            </div>
        </form>
    }
}
