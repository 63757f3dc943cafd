//! Everything around the picture: the summary strip, the controls (grouping, filters, search,
//! trace, zoom, export), the legend and the list view for screen readers.

use super::layout::{Level, Palette, View, family, shown};
use super::svg::capacity_text;
use super::{SetState, State, ZONE};
use leptos::prelude::*;
use std::sync::Arc;
use wharf_core::topology::{Summary, Topology};

#[component]
pub fn SummaryStrip(summary: Summary) -> impl IntoView {
    view! {
        <dl class="strip" id="summary">
            <div><dt>"Instances"</dt><dd>{format!("{} ({} connected)", summary.instances, summary.connected)}</dd></div>
            <div><dt>"Tasks"</dt><dd>{format!("{} running, {} pending", summary.tasks_running, summary.tasks_pending)}</dd></div>
            <div><dt>"CPU"</dt><dd>{capacity_text(&summary.cpu, "")}</dd></div>
            <div><dt>"Memory"</dt><dd>{capacity_text(&summary.memory, " MiB")}</dd></div>
        </dl>
    }
}

/// What the controls offer, from the data: re-rendered only when these lists change, so a busy
/// cluster does not reset a control someone is using.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Choices {
    pub attributes: Vec<String>,
    pub families: Vec<String>,
    pub services: Vec<String>,
}

impl Choices {
    pub fn of(topology: &Topology) -> Choices {
        let mut attributes: Vec<String> = topology.instances.iter().flat_map(|i| i.attributes.keys().cloned()).collect();
        attributes.sort();
        attributes.dedup();
        let mut families: Vec<String> = topology
            .instances
            .iter()
            .flat_map(|i| &i.tasks)
            .map(|t| family(&t.task_definition).to_string())
            .chain(topology.services.iter().map(|s| family(&s.task_definition).to_string()))
            .collect();
        families.sort();
        families.dedup();
        Choices { attributes, families, services: topology.services.iter().map(|s| s.service_name.clone()).collect() }
    }
}

#[component]
pub fn Controls(choices: Memo<Choices>, state: Memo<State>, level: Memo<Level>, set_state: SetState, on_export: Callback<&'static str>) -> impl IntoView {
    let set = set_state.clone();
    let group = Signal::derive(move || state.with(|s| if s.view.group_by.is_empty() { "none".to_string() } else { s.view.group_by.clone() }));
    // The attribute grouped by is always a choice, even when no instance has it: otherwise
    // the list would show "Nothing" while the picture is grouped by it.
    let attributes = Signal::derive(move || {
        let mut all = vec!["none".to_string()];
        all.extend(choices.with(|c| c.attributes.clone()));
        let current = group.get();
        if !all.contains(&current) {
            all.push(current);
        }
        all
    });
    let step = move |n: i32| {
        let set = set_state.clone();
        move |_| set.zoom_by(level.get_untracked(), n)
    };
    let s = set.clone();
    let services = Signal::derive(move || choices.with(|c| c.services.clone()));
    // Status and family pick tasks, which tiles do not draw: choosing one zooms in to them.
    let to_tasks = move |st: &mut State| {
        if level.get_untracked() == Level::Tiles && (!st.view.status.is_empty() || !st.view.family.is_empty()) {
            st.level = Some(Level::Tasks);
            st.zoom = 1.0;
        }
    };
    view! {
        <div class="diagram-controls">
            <label>"Group by"
                <select id="d-group" on:change=move |ev| { let v = event_target_value(&ev); s.update(&|st: &mut State| st.view.group_by = if v == "none" { String::new() } else { v.clone() }) }>
                    <For each=move || attributes.get() key=|a| a.clone() let:a>
                        <option value=a.clone() selected={ let a = a.clone(); move || group.get() == a }>{if a == "none" { "Nothing".to_string() } else { a.clone() }}</option>
                    </For>
                </select>
            </label>
            {filter_select("d-service", "Service", services, Signal::derive(move || state.with(|s| s.view.service.clone())), set.clone(), |st, v| st.view.service = v)}
            {filter_select("d-family", "Family", Signal::derive(move || choices.with(|c| c.families.clone())), Signal::derive(move || state.with(|s| s.view.family.clone())),
                set.clone(), move |st, v| { st.view.family = v; to_tasks(st) })}
            {filter_select("d-status", "Status", Signal::derive(|| ["RUNNING", "PENDING", "STOPPING"].map(String::from).to_vec()),
                Signal::derive(move || state.with(|s| s.view.status.clone())), set.clone(), move |st, v| { st.view.status = v; to_tasks(st) })}
            {filter_select("d-trace", "Trace service", services, Signal::derive(move || state.with(|s| s.view.trace.clone())), set.clone(), |st, v| st.view.trace = v)}
            <label>"Find"
                <input id="d-search" type="search" placeholder="instance or task name / id" prop:value=move || state.with(|s| s.search.clone())
                    on:change={ let s = set.clone(); move |ev| { let v = event_target_value(&ev); s.update(&|st: &mut State| st.search = v.clone()) } }/>
            </label>
            <div class="zoom" role="group" aria-label="Zoom">
                <button id="d-zoom-out" title="Zoom out (-)" on:click=step(-1)>"−"</button>
                <span id="d-zoom" aria-live="polite">{move || format!("{} {:.0}%", level.get().name(), state.with(|s| s.zoom) * 100.0)}</span>
                <button id="d-zoom-in" title="Zoom in (+)" on:click=step(1)>"+"</button>
                <button id="d-zoom-reset" title="Default view (0)" on:click=move |_| set.update(&|st: &mut State| { st.level = None; st.zoom = 1.0 })>"Reset"</button>
            </div>
            <div class="export" role="group" aria-label="Export">
                <button id="d-export" on:click=move |_| on_export.run("svg")>"Export SVG"</button>
                <button id="d-export-png" on:click=move |_| on_export.run("png")>"Export PNG"</button>
            </div>
        </div>
    }
}

/// A filter: "All" or one of `values`.
fn filter_select(
    id: &'static str,
    label: &'static str,
    values: Signal<Vec<String>>,
    current: Signal<String>,
    set: SetState,
    apply: impl Fn(&mut State, String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <label>{label}
            <select id=id on:change=move |ev| { let v = event_target_value(&ev); set.update(&|st: &mut State| apply(st, v.clone())) }>
                <option value="" selected=move || current.with(String::is_empty)>"All"</option>
                <For each=move || values.get() key=|v| v.clone() let:v>
                    <option value=v.clone() selected={ let v = v.clone(); move || current.get() == v }>{v.clone()}</option>
                </For>
            </select>
        </label>
    }
}

/// Task colours by service; a service's entry traces it (links it to its tasks).
#[component]
pub fn Legend(choices: Memo<Choices>, state: Memo<State>, set_state: SetState) -> impl IntoView {
    view! {
        <ul class="legend" id="legend" aria-label="Task colours by service">
            <For each=move || choices.with(|c| c.services.clone()) key=|s| s.clone() let:name>
                {
                    let colour = choices.with_untracked(|c| Palette::of(c.services.iter().map(String::as_str)).colour(Some(&name)));
                    let set = set_state.clone();
                    let toggle = name.clone();
                    let me = name.clone();
                    view! {
                        <li>
                            <button class="legend-entry" aria-pressed=move || (state.with(|s| s.view.trace == me)).to_string()
                                title="Trace this service: link it to its tasks"
                                on:click=move |_| { let n = toggle.clone(); set.update(&|st: &mut State| st.view.trace = if st.view.trace == n { String::new() } else { n.clone() }) }>
                                <span class="swatch" style=format!("background:{colour}")></span>{name.clone()}
                            </button>
                        </li>
                    }
                }
            </For>
            <li><span class="swatch" style=format!("background:{}", Palette::default().colour(None))></span>"one-off tasks"</li>
            <li><span class="swatch swatch-pending"></span>"pending (hatched)"</li>
            <li><span class="swatch swatch-stopping"></span>"stopping (faded)"</li>
            <li><span class="swatch heat-scale"></span>"tiles: capacity reserved, idle → full"</li>
        </ul>
    }
}

/// The same picture as a table: instances with their capacity and tasks, for screen readers and
/// for reading exact numbers. Rows are built only once it is opened (2,000 hosts are a long
/// table).
#[component]
pub fn ListView(data: RwSignal<Arc<Topology>>, cluster: String, view: Signal<View>) -> impl IntoView {
    let open = RwSignal::new(false);
    let rows = move || {
        open.get().then(|| {
            let topology = data.get();
            let view = view.get();
            topology
                .instances
                .iter()
                .map(|i| {
                    let shown: Vec<_> = i.tasks.iter().filter(|t| shown(t, &view)).collect();
                    let summary = if i.tasks.is_empty() && i.running_tasks_count + i.pending_tasks_count > 0 {
                        format!("{} running, {} pending", i.running_tasks_count, i.pending_tasks_count)
                    } else if shown.is_empty() {
                        "—".to_string()
                    } else {
                        String::new()
                    };
                    let tasks = shown
                        .into_iter()
                        .map(|t| {
                            let label = format!("{} {} ({})", t.id, t.service().unwrap_or("—"), t.last_status);
                            view! { <a href=format!("/clusters/{cluster}/tasks/{}", t.id)>{label}</a>" " }
                        })
                        .collect_view();
                    view! {
                        <tr>
                            <td><a href=format!("/clusters/{cluster}/instances/{}", i.id)>{i.name.clone()}</a></td>
                            <td>{i.attributes.get(ZONE).cloned().unwrap_or_default()}</td>
                            <td>{format!("{}{}", i.status, if i.agent_connected { "" } else { ", disconnected" })}</td>
                            <td>{capacity_text(&i.cpu, "")}</td>
                            <td>{capacity_text(&i.memory, " MiB")}</td>
                            <td class="wrap">{summary}{tasks}</td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <details class="panel" id="diagram-list" on:toggle=move |ev| open.set(event_target::<leptos::web_sys::Element>(&ev).has_attribute("open"))>
            <summary>"List view"</summary>
            <table class="table">
                <thead><tr><th>"Instance"</th><th>"Zone"</th><th>"State"</th><th>"CPU"</th><th>"Memory"</th><th>"Tasks"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
}
