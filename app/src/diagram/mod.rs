/*!
The relationship diagram of a cluster (`/clusters/{cluster}/diagram`): instances grouped by
zone (or any attribute) with their capacity, the tasks inside each coloured by service, and a
list of the same for screen readers. It follows the live feed, and the URL holds the view
(grouping, filters, search, zoom) so a link shows a colleague the same picture.
*/

pub mod layout;

use crate::components::{DataRegion, EmptyState, PageHeader};
use crate::error::PortalResult;
use layout::{BOX_W, CELL, CELL_GAP, CELLS_PER_ROW, Drawing, HEADER_H, View, fraction, layout, service_colour};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use leptos_router::NavigateOptions;
use wharf_core::topology::{Capacity, InstanceNode, Summary, Topology};

#[server(input = Json)]
pub async fn cluster_topology(cluster: String) -> PortalResult<Topology> {
    Ok(crate::ssr::backend()?.topology(&cluster).await?)
}

const ZONE: &str = "ecs.availability-zone";

/// The view as the URL holds it.
#[derive(Debug, Clone, PartialEq)]
struct State {
    view: View,
    search: String,
    zoom: f64,
}

fn state_of(query: &leptos_router::params::ParamsMap) -> State {
    let get = |k: &str| query.get(k).unwrap_or_default();
    let group = query.get("group").unwrap_or_else(|| ZONE.to_string());
    State {
        view: View { group_by: if group == "none" { String::new() } else { group }, service: get("service"), status: get("status"), family: get("family") },
        search: get("q"),
        zoom: get("zoom").parse::<f64>().ok().filter(|z| z.is_finite()).map_or(1.0, |z| z.clamp(0.25, 4.0)),
    }
}

fn query_of(s: &State) -> String {
    let group = if s.view.group_by.is_empty() { "none" } else { s.view.group_by.as_str() };
    let mut pairs = vec![("group", group.to_string())];
    for (k, v) in [("service", &s.view.service), ("status", &s.view.status), ("family", &s.view.family), ("q", &s.search)] {
        if !v.is_empty() {
            pairs.push((k, v.clone()));
        }
    }
    if (s.zoom - 1.0).abs() > 1e-9 {
        pairs.push(("zoom", format!("{:.2}", s.zoom)));
    }
    let encode = |v: &str| v.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect::<String>();
    pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

/// Instances or tasks whose name or id starts with (or whose name contains) the search.
fn matches(search: &str, name: &str, id: &str) -> bool {
    let s = search.trim().to_lowercase();
    !s.is_empty() && (id.starts_with(&s) || name.to_lowercase().contains(&s))
}

#[component]
pub fn DiagramPage() -> impl IntoView {
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let query = use_query_map();
    let state = Memo::new(move |_| state_of(&query.read()));
    let navigate = use_navigate();
    let set_state = move |f: &dyn Fn(&mut State)| {
        let mut next = state.get_untracked();
        f(&mut next);
        navigate(&format!("/clusters/{}/diagram?{}", cluster(), query_of(&next)), NavigateOptions { replace: true, scroll: false, ..Default::default() });
    };
    let live = crate::live::use_live(cluster);
    let topology = Resource::new(move || (cluster(), live.version.get()), |(c, _)| cluster_topology(c));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        // Centre the first match once the search changes and the picture is drawn.
        if !state.get().search.is_empty() && topology.get().is_some() {
            request_animation_frame(centre_first_hit);
        }
    });
    let set = set_state.clone();
    let enter = use_navigate();
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" {
            if let Some(href) = href_of(ev.target()) {
                enter(&href, Default::default());
            }
            return;
        }
        let factor = match ev.key().as_str() {
            "+" | "=" => 1.25,
            "-" | "_" => 0.8,
            "0" => 0.0,
            _ => return,
        };
        ev.prevent_default();
        set(&|s: &mut State| s.zoom = if factor == 0.0 { 1.0 } else { (s.zoom * factor).clamp(0.25, 4.0) });
    };
    let go = use_navigate();
    let open_clicked = move |ev: leptos::ev::MouseEvent| {
        if let Some(href) = href_of(ev.target()) {
            go(&href, Default::default());
        }
    };
    view! {
        <PageHeader
            title=Signal::derive(move || format!("{} · diagram", cluster()))
            crumbs=vec![("/clusters".into(), "Clusters".into()), (format!("/clusters/{}", cluster()), cluster())]
        >
            <crate::live::LiveBadge live/>
        </PageHeader>
        <DataRegion>
            {move || {
                let set_state = set_state.clone();
                let on_key = on_key.clone();
                let open_clicked = open_clicked.clone();
                Suspend::new(async move {
                    let t = topology.await?;
                    let s = state.get();
                    if t.instances.is_empty() {
                        return Ok::<_, crate::error::PortalError>(view! {
                            <EmptyState title="No container instances yet" body="Add a host with a join token from the cluster's page; it appears here as it joins."/>
                        }.into_any());
                    }
                    Ok(view! {
                        <SummaryStrip summary=t.summary.clone()/>
                        <Controls topology=t.clone() state=s.clone() set_state/>
                        <Legend topology=t.clone()/>
                        <div class="diagram-frame" id="diagram" tabindex="0" aria-label="Cluster diagram: + and - zoom, 0 resets, arrows scroll"
                            on:keydown=on_key on:click=open_clicked>
                            <Picture topology=t.clone() state=s.clone() cluster=cluster()/>
                        </div>
                        <ListView topology=t cluster=cluster() view=s.view/>
                    }.into_any())
                })
            }}
        </DataRegion>
    }
}

/// The page a clicked (or focused) part of the picture stands for.
fn href_of(target: Option<leptos::web_sys::EventTarget>) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let element = target?.dyn_into::<web_sys::Element>().ok()?;
        element.closest("[data-href]").ok()??.get_attribute("data-href")
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = target;
        None
    }
}

#[cfg(feature = "hydrate")]
fn centre_first_hit() {
    if let Ok(Some(hit)) = document().query_selector("#diagram .hit") {
        let options = web_sys::ScrollIntoViewOptions::new();
        options.set_block(web_sys::ScrollLogicalPosition::Center);
        options.set_inline(web_sys::ScrollLogicalPosition::Center);
        hit.scroll_into_view_with_scroll_into_view_options(&options);
    }
}

fn percent(part: i64, whole: i64) -> String {
    format!("{:.0}%", fraction(part, whole) * 100.0)
}

fn capacity_text(c: &Capacity, unit: &str) -> String {
    let used = c.used.map(|u| format!(", used {u}{unit} ({})", percent(u, c.registered))).unwrap_or_default();
    format!("reserved {}{unit} of {}{unit} ({}){used}", c.reserved, c.registered, percent(c.reserved, c.registered))
}

#[component]
fn SummaryStrip(summary: Summary) -> impl IntoView {
    view! {
        <dl class="strip" id="summary">
            <div><dt>"Instances"</dt><dd>{format!("{} ({} connected)", summary.instances, summary.connected)}</dd></div>
            <div><dt>"Tasks"</dt><dd>{format!("{} running, {} pending", summary.tasks_running, summary.tasks_pending)}</dd></div>
            <div><dt>"CPU"</dt><dd>{capacity_text(&summary.cpu, "")}</dd></div>
            <div><dt>"Memory"</dt><dd>{capacity_text(&summary.memory, " MiB")}</dd></div>
        </dl>
    }
}

#[component]
fn Controls(topology: Topology, state: State, set_state: impl Fn(&dyn Fn(&mut State)) + Clone + Send + Sync + 'static) -> impl IntoView {
    let mut attributes: Vec<String> = topology.instances.iter().flat_map(|i| i.attributes.keys().cloned()).collect();
    attributes.sort();
    attributes.dedup();
    let mut families: Vec<String> =
        topology.instances.iter().flat_map(|i| &i.tasks).map(|t| t.task_definition.rsplit_once(':').map_or(t.task_definition.clone(), |(f, _)| f.to_string())).collect();
    families.sort();
    families.dedup();
    let services: Vec<String> = topology.services.iter().map(|s| s.service_name.clone()).collect();
    let option = |value: String, label: String, selected: bool| view! { <option value=value selected=selected>{label}</option> };
    let (s1, s2, s3, s4, s5, s6) = (set_state.clone(), set_state.clone(), set_state.clone(), set_state.clone(), set_state.clone(), set_state);
    let group = if state.view.group_by.is_empty() { "none".to_string() } else { state.view.group_by.clone() };
    let export_name = format!("{}-diagram.svg", topology.cluster_name);
    view! {
        <div class="diagram-controls">
            <label>"Group by"
                <select id="d-group" on:change=move |ev| { let v = event_target_value(&ev); s1(&|s: &mut State| s.view.group_by = if v == "none" { String::new() } else { v.clone() }) }>
                    {option("none".into(), "Nothing".into(), group == "none")}
                    {attributes.into_iter().map(|a| option(a.clone(), a.clone(), a == group)).collect_view()}
                </select>
            </label>
            {filter_select("d-service", "Service", services, state.view.service.clone(), move |v| s2(&|s: &mut State| s.view.service = v.clone()))}
            {filter_select("d-family", "Family", families, state.view.family.clone(), move |v| s3(&|s: &mut State| s.view.family = v.clone()))}
            {filter_select("d-status", "Status", ["RUNNING", "PENDING", "STOPPING"].map(String::from).to_vec(), state.view.status.clone(),
                move |v| s4(&|s: &mut State| s.view.status = v.clone()))}
            <label>"Find"
                <input id="d-search" type="search" placeholder="instance or task name / id" prop:value=state.search.clone()
                    on:change=move |ev| { let v = event_target_value(&ev); s5(&|s: &mut State| s.search = v.clone()) }/>
            </label>
            <div class="zoom" role="group" aria-label="Zoom">
                <button id="d-zoom-out" title="Zoom out (-)" on:click={ let s = s6.clone(); move |_| s(&|st: &mut State| st.zoom = (st.zoom * 0.8).max(0.25)) }>"−"</button>
                <span id="d-zoom">{format!("{:.0}%", state.zoom * 100.0)}</span>
                <button id="d-zoom-in" title="Zoom in (+)" on:click={ let s = s6.clone(); move |_| s(&|st: &mut State| st.zoom = (st.zoom * 1.25).min(4.0)) }>"+"</button>
                <button id="d-zoom-reset" title="Actual size (0)" on:click=move |_| s6(&|st: &mut State| st.zoom = 1.0)>"1:1"</button>
            </div>
            <button id="d-export" on:click=move |_| export_svg(&export_name)>"Export SVG"</button>
        </div>
    }
}

/// A filter: "All" or one of `values`.
fn filter_select(id: &'static str, label: &'static str, values: Vec<String>, current: String, set: impl Fn(String) + 'static) -> impl IntoView {
    view! {
        <label>{label}
            <select id=id on:change=move |ev| set(event_target_value(&ev))>
                <option value="" selected=current.is_empty()>"All"</option>
                {values.into_iter().map(|v| view! { <option value=v.clone() selected=v == current>{v.clone()}</option> }).collect_view()}
            </select>
        </label>
    }
}

/// Downloads the drawn picture as a standalone SVG file.
fn export_svg(file_name: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Ok(Some(svg)) = document().query_selector("#diagram-svg") else { return };
        let markup = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", svg.outer_html());
        let href = format!("data:image/svg+xml;charset=utf-8,{}", js_sys::encode_uri_component(&markup));
        let Ok(link) = document().create_element("a") else { return };
        let _ = link.set_attribute("href", &href);
        let _ = link.set_attribute("download", file_name);
        if let Ok(link) = link.dyn_into::<web_sys::HtmlElement>() {
            link.click();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = file_name;
}

#[component]
fn Legend(topology: Topology) -> impl IntoView {
    let mut entries: Vec<(String, &'static str)> = topology.services.iter().map(|s| (s.service_name.clone(), service_colour(Some(&s.service_name)))).collect();
    entries.push(("no service (one-off tasks)".into(), service_colour(None)));
    view! {
        <ul class="legend" id="legend" aria-label="Task colours">
            {entries.into_iter().map(|(name, colour)| view! { <li><span class="swatch" style=format!("background:{colour}")></span>{name}</li> }).collect_view()}
            <li><span class="swatch swatch-pending"></span>"pending (hatched)"</li>
        </ul>
    }
}

#[component]
fn Picture(topology: Topology, state: State, cluster: String) -> impl IntoView {
    let drawing: Drawing<'_> = layout(&topology, &state.view);
    let (w, h) = (drawing.width, drawing.height);
    let groups = drawing
        .groups
        .iter()
        .map(|g| {
            let label = format!("{} — {} instances, {} running, {} pending · CPU {} · memory {}", g.label, g.summary.instances, g.summary.tasks_running,
                g.summary.tasks_pending, percent(g.summary.cpu.reserved, g.summary.cpu.registered), percent(g.summary.memory.reserved, g.summary.memory.registered));
            let boxes = g.instances.iter().map(|p| instance_box(p, &cluster, &state.search)).collect_view();
            view! {
                <g class="group">
                    <rect class="group-frame" x=g.x y=g.y width=g.w height=g.h rx="8"/>
                    <text class="group-label" x=g.x + 12.0 y=g.y + 22.0>{label}</text>
                    {boxes}
                </g>
            }
        })
        .collect_view();
    view! {
        <svg id="diagram-svg" xmlns="http://www.w3.org/2000/svg" viewBox=format!("0 0 {w} {h}") width=w * state.zoom height=h * state.zoom
            role="img" aria-label=format!("Diagram of cluster {}", topology.cluster_name)>
            <style>{SVG_STYLE}</style>
            <defs>
                <pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
                    <rect width="4" height="4" fill="#ffffff" fill-opacity="0.0"/>
                    <line x1="0" y1="0" x2="0" y2="4" stroke="#ffffff" stroke-width="2" stroke-opacity="0.7"/>
                </pattern>
            </defs>
            {groups}
        </svg>
    }
}

/// Styles inside the SVG itself, so an exported file looks the same on its own.
const SVG_STYLE: &str = "
text { font-family: system-ui, sans-serif; fill: #1c2430; }
.group-frame { fill: #f3f5f8; stroke: #c9d1da; }
.group-label { font-size: 14px; font-weight: 600; }
.instance rect.box { fill: #ffffff; stroke: #1a7f37; stroke-width: 1.5; }
.instance.draining rect.box { stroke: #9a6700; stroke-width: 2; }
.instance.disconnected rect.box { stroke: #cf222e; stroke-dasharray: 5 3; stroke-width: 2; }
.instance.hit rect.box, .task.hit rect { stroke: #0969da; stroke-width: 4; }
[data-href] { cursor: pointer; }
.head:focus { outline: none; }
.head:focus rect.box { stroke: #0969da; stroke-width: 3; }
.instance .name { font-size: 13px; font-weight: 600; }
.instance .meta { font-size: 11px; fill: #5d6b7e; }
.bar-bg { fill: #e6eaef; }
.bar-reserved { fill: #4e79a7; }
.bar-used { stroke: #cf222e; stroke-width: 2; }
.bar-label { font-size: 10px; fill: #5d6b7e; }
.task rect { stroke: #ffffff; stroke-width: 0.5; }
.more { font-size: 11px; fill: #5d6b7e; }
@media (prefers-color-scheme: dark) {
  text { fill: #e3e8ee; }
  .group-frame { fill: #11161d; stroke: #2a333f; }
  .instance rect.box { fill: #161c24; stroke: #3fb950; }
  .instance.draining rect.box { stroke: #d29922; }
  .instance.disconnected rect.box { stroke: #f85149; }
  .instance .meta, .bar-label, .more { fill: #9aa7b6; }
  .bar-bg { fill: #2a333f; }
  .bar-reserved { fill: #6f9bd1; }
  .task rect { stroke: #161c24; }
}
";

fn instance_box(p: &layout::Placed<'_>, cluster: &str, search: &str) -> impl IntoView + use<> {
    let i: &InstanceNode = p.instance;
    let state_word = if !i.agent_connected { "disconnected" } else if i.status == "DRAINING" { "draining" } else { "active" };
    let hit = matches(search, &i.name, &i.id);
    let class = format!("instance {state_word}{}", if hit { " hit" } else { "" });
    let zone = i.attributes.get(ZONE).cloned().unwrap_or_default();
    let meta = format!("{} · {}{}", i.status, if i.agent_connected { "connected" } else { "disconnected" }, if zone.is_empty() { String::new() } else { format!(" · {zone}") });
    let tooltip = format!("{} ({})\n{meta}\nCPU {}\nMemory {}\n{} tasks", i.name, i.id, capacity_text(&i.cpu, ""), capacity_text(&i.memory, " MiB"), i.tasks.len());
    let (x, y) = (p.x, p.y);
    let bar = |row: f64, label: &'static str, c: Capacity| {
        let by = y + 44.0 + row * 16.0;
        let bw = BOX_W - 60.0;
        let used = c.used.map(|u| {
            let ux = x + 44.0 + bw * fraction(u, c.registered);
            view! { <line class="bar-used" x1=ux y1=by - 1.0 x2=ux y2=by + 9.0/> }
        });
        view! {
            <text class="bar-label" x=x + 10.0 y=by + 8.0>{label}</text>
            <rect class="bar-bg" x=x + 44.0 y=by width=bw height="8" rx="2"/>
            <rect class="bar-reserved" x=x + 44.0 y=by width=bw * fraction(c.reserved, c.registered) height="8" rx="2"/>
            {used}
            <text class="bar-label" x=x + 48.0 + bw y=by + 8.0>{percent(c.reserved, c.registered)}</text>
        }
    };
    let cells = p
        .tasks
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let cx = x + 10.0 + (n % CELLS_PER_ROW) as f64 * (CELL + CELL_GAP);
            let cy = y + HEADER_H + (n / CELLS_PER_ROW) as f64 * (CELL + CELL_GAP);
            let colour = service_colour(t.service());
            let pending = t.last_status != "RUNNING";
            let hit = matches(search, "", &t.id);
            let title = format!("task {}\n{}{}\n{} (wanted {})", t.id, t.task_definition, t.service().map(|s| format!(" · service {s}")).unwrap_or_default(), t.last_status, t.desired_status);
            // SVG groups rather than links: a link built in the browser would be an HTML one,
            // which SVG does not draw. Clicks and Enter are handled once for the whole picture.
            view! {
                <g class=if hit { "task hit" } else { "task" } data-task=t.id.clone() data-service=t.service().unwrap_or_default().to_string()
                    data-href=format!("/clusters/{cluster}/tasks/{}", t.id) role="link">
                    <title>{title}</title>
                    <rect x=cx y=cy width=CELL height=CELL rx="2" fill=colour/>
                    {pending.then(|| view! { <rect x=cx y=cy width=CELL height=CELL rx="2" fill="url(#hatch)"/> })}
                </g>
            }
        })
        .collect_view();
    let more = (p.more > 0).then(|| {
        let rows = p.tasks.len().div_ceil(CELLS_PER_ROW) as f64;
        view! { <text class="more" x=x + 10.0 y=y + HEADER_H + rows * (CELL + CELL_GAP) + 4.0>{format!("+{} more tasks", p.more)}</text> }
    });
    view! {
        <g class=class data-instance=i.id.clone()>
            <g class="head" data-href=format!("/clusters/{cluster}/instances/{}", i.id) role="link" tabindex="0" aria-label=format!("instance {}", i.name)>
                <title>{tooltip}</title>
                <rect class="box" x=x y=y width=BOX_W height=p.h rx="6"/>
                <text class="name" x=x + 10.0 y=y + 18.0>{i.name.clone()}</text>
                <text class="meta" x=x + 10.0 y=y + 34.0>{meta}</text>
            </g>
            {bar(0.0, "CPU", i.cpu)}
            {bar(1.0, "MEM", i.memory)}
            {cells}
            {more}
        </g>
    }
}

/// The same picture as a list: instances with their capacity and tasks, for screen readers and
/// for reading exact numbers.
#[component]
fn ListView(topology: Topology, cluster: String, view: View) -> impl IntoView {
    let rows = topology
        .instances
        .iter()
        .map(|i| {
            let tasks: Vec<String> = i.tasks.iter().filter(|t| layout::shown(t, &view)).map(|t| format!("{} {} ({})", t.id.chars().take(12).collect::<String>(), t.service().unwrap_or("—"), t.last_status)).collect();
            view! {
                <tr>
                    <td><a href=format!("/clusters/{cluster}/instances/{}", i.id)>{i.name.clone()}</a></td>
                    <td>{i.attributes.get(ZONE).cloned().unwrap_or_default()}</td>
                    <td>{format!("{}{}", i.status, if i.agent_connected { "" } else { ", disconnected" })}</td>
                    <td>{capacity_text(&i.cpu, "")}</td>
                    <td>{capacity_text(&i.memory, " MiB")}</td>
                    <td class="wrap">{if tasks.is_empty() { "—".to_string() } else { tasks.join(", ") }}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <details class="panel" id="diagram-list">
            <summary>"List view"</summary>
            <table class="table">
                <thead><tr><th>"Instance"</th><th>"Zone"</th><th>"State"</th><th>"CPU"</th><th>"Memory"</th><th>"Tasks"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_round_trips_the_view() {
        let s = State {
            view: View { group_by: "rack".into(), service: "web api".into(), status: "RUNNING".into(), family: String::new() },
            search: "a&b".into(),
            zoom: 1.5,
        };
        let q = query_of(&s);
        assert_eq!(q, "group=rack&service=web%20api&status=RUNNING&q=a%26b&zoom=1.50");
        let mut map = leptos_router::params::ParamsMap::new();
        for (k, v) in [("group", "rack"), ("service", "web api"), ("status", "RUNNING"), ("q", "a&b"), ("zoom", "1.50")] {
            map.insert(k, v.to_string());
        }
        assert_eq!(state_of(&map), s);
        let defaults = state_of(&leptos_router::params::ParamsMap::new());
        assert_eq!((defaults.view.group_by.as_str(), defaults.zoom), (ZONE, 1.0));
        assert!(matches("ip-10", "ip-10-0-0-1", "abc"));
        assert!(matches("01a2", "", "01a2ff"));
        assert!(!matches("", "x", "y"));
    }
}
