/*!
The relationship diagram of a cluster (`/clusters/{cluster}/diagram`): instances grouped by
zone (or any attribute) with their capacity, the tasks inside each coloured by service, their
containers when zoomed in close, a traced service linked to its tasks, and a list of the same
for screen readers. It follows the live feed without losing the user's place, draws only the
rows on screen, and the URL holds the view (grouping, filters, trace, search, level and zoom)
so a link shows a colleague the same picture.
*/

pub mod controls;
pub mod layout;
pub mod svg;

use crate::components::{DataRegion, EmptyState, PageHeader, settled};
use crate::error::PortalResult;
use controls::{Choices, Controls, Legend, ListView, SummaryStrip};
use layout::{Level, View, layout, step};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use std::sync::Arc;
use svg::Scene;
use wharf_core::topology::{Detail, Topology};

/// The topology at `detail`; without one, at what the cluster's size opens with (everything
/// for a small cluster, instances only for a large one).
#[server(input = Json)]
pub async fn cluster_topology(cluster: String, detail: Option<Detail>) -> PortalResult<Topology> {
    let backend = crate::ssr::backend()?;
    if let Some(detail) = detail {
        return Ok(backend.topology(&cluster, detail).await?);
    }
    let t = backend.topology(&cluster, Detail::Instances).await?;
    Ok(if Level::default_for(t.instances.len()) == Level::Tiles { t } else { backend.topology(&cluster, Detail::Containers).await? })
}

/// The page's first read: for a large cluster, only the instances on the first screen of
/// the picture (at the view's grouping and level), so the page stays small however large the
/// cluster; the browser reads the rest once it runs.
#[server(input = Json)]
pub async fn first_topology(cluster: String, level: Option<String>, group_by: String) -> PortalResult<Topology> {
    let asked = level.as_deref().and_then(Level::parse);
    let view = View { group_by, ..View::default() };
    // Where instances go does not depend on their tasks at the tiles level, and the level a
    // cluster opens at depends only on how many instances it has.
    // (At closer levels a box's height grows with its tasks, so laying out without them picks
    // a few more than fit: the band errs on the side of drawing.)
    let pick = move |t: &Topology| {
        let n = t.instances.len();
        let level = asked.unwrap_or_else(|| Level::default_for(n));
        if asked.is_none() && level != Level::Tiles {
            return (0..n).collect();
        }
        let drawing = layout(t, &view, level, layout::WIDTH);
        drawing.placed.iter().filter(|p| p.y <= FIRST_BAND).map(|p| p.instance).collect()
    };
    let backend = crate::ssr::backend()?;
    let detail = match asked {
        Some(level) => level.detail(),
        None => Detail::Instances,
    };
    let t = backend.topology_of_some(&cluster, detail, &pick).await?;
    // A small cluster opens with everything at once.
    if asked.is_none() && Level::default_for(t.instances.len()) != Level::Tiles {
        return Ok(backend.topology(&cluster, Detail::Containers).await?);
    }
    Ok(t)
}

/// Rows of the picture drawn before the browser measures its frame (user units).
const FIRST_BAND: f64 = 800.0;

/// What a picture of `instances` hosts at `level` needs from the server: small clusters get
/// everything at once.
#[cfg(any(feature = "hydrate", test))]
fn wanted(level: Level, instances: usize) -> Detail {
    if Level::default_for(instances) == Level::Tiles { level.detail() } else { Detail::Containers }
}

pub(crate) const ZONE: &str = "ecs.availability-zone";

/// The view as the URL holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub view: View,
    pub search: String,
    /// None: what suits the cluster's size.
    pub level: Option<Level>,
    pub zoom: f64,
}

fn state_of(query: &leptos_router::params::ParamsMap) -> State {
    let get = |k: &str| query.get(k).unwrap_or_default();
    let group = query.get("group").unwrap_or_else(|| ZONE.to_string());
    State {
        view: View {
            group_by: if group == "none" { String::new() } else { group },
            service: get("service"),
            status: get("status"),
            family: get("family"),
            trace: get("trace"),
        },
        search: get("q"),
        level: Level::parse(&get("level")),
        zoom: get("zoom").parse::<f64>().ok().filter(|z| z.is_finite()).map_or(1.0, |z| z.clamp(0.25, 4.0)),
    }
}

fn query_of(s: &State) -> String {
    let group = if s.view.group_by.is_empty() { "none" } else { s.view.group_by.as_str() };
    let mut pairs = vec![("group", group.to_string())];
    for (k, v) in [("service", &s.view.service), ("status", &s.view.status), ("family", &s.view.family), ("trace", &s.view.trace), ("q", &s.search)] {
        if !v.is_empty() {
            pairs.push((k, v.clone()));
        }
    }
    if let Some(level) = s.level {
        pairs.push(("level", level.name().to_string()));
    }
    if (s.zoom - 1.0).abs() > 1e-9 {
        pairs.push(("zoom", format!("{:.2}", s.zoom)));
    }
    let encode = |v: &str| v.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect::<String>();
    pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

/// Applies a change to a copy of the view.
type Change<'a> = &'a dyn Fn(&mut State);

/// Changes the view by rewriting the URL (replacing, not pushing, history).
#[derive(Clone)]
pub struct SetState(Arc<dyn Fn(Change<'_>) + Send + Sync>);

impl SetState {
    pub fn update(&self, f: &dyn Fn(&mut State)) {
        (self.0)(f)
    }

    /// `steps` along the zoom ladder (see [`zoomed`]).
    pub fn zoom_by(&self, drawn: Level, steps: i32) {
        self.update(&|st: &mut State| zoomed(st, drawn, steps))
    }
}

/// `steps` along the zoom ladder from the level asked for, or from what is drawn when none
/// was: a closer level asked for is drawn only once its data arrives, and stepping from the
/// picture still on screen would undo the step just taken.
fn zoomed(st: &mut State, drawn: Level, steps: i32) {
    let (level, zoom) = step(st.level.unwrap_or(drawn), st.zoom, steps);
    st.level = Some(level);
    st.zoom = zoom;
}

#[component]
pub fn DiagramPage() -> impl IntoView {
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let query = use_query_map();
    let state = Memo::new(move |_| state_of(&query.read()));
    let navigate = use_navigate();
    let set_state = SetState(Arc::new(move |f: &dyn Fn(&mut State)| {
        let mut next = state.get_untracked();
        f(&mut next);
        let c = params.read_untracked().get("cluster").unwrap_or_default();
        navigate(&format!("/clusters/{c}/diagram?{}", query_of(&next)), NavigateOptions { replace: true, scroll: false, ..Default::default() });
    }));
    let live = crate::live::use_live(cluster);
    // The first read only: later ones (live changes, zooming in) update the picture in place so
    // the user keeps their place.
    let first = crate::components::resource(cluster, move |c| {
        let s = state.get_untracked();
        first_topology(c, s.level.map(|l| l.name().to_string()), s.view.group_by)
    });
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
                Suspend::new(async move {
                    let t = settled(first).await?;
                    Ok::<_, crate::error::PortalError>(view! { <Diagram first=t state set_state live cluster=cluster()/> })
                })
            }}
        </DataRegion>
    }
}

#[component]
fn Diagram(first: Topology, state: Memo<State>, set_state: SetState, live: crate::live::Live, cluster: String) -> impl IntoView {
    let data = RwSignal::new(Arc::new(first));
    let level = Memo::new(move |_| {
        let n = data.with(|t| t.instances.len());
        let asked = state.with(|s| s.level).unwrap_or_else(|| Level::default_for(n));
        // Draw what the data can carry until the closer read arrives.
        asked.min(Level::most_for(data.with(|t| t.detail)))
    });
    // The picture fits its frame's width (in user units at the current zoom), so rows reflow
    // rather than scroll sideways; the server draws for a typical width.
    let frame_px = RwSignal::new(layout::WIDTH);
    let drawing = Memo::new(move |_| {
        let width = frame_px.get() / state.with(|s| s.zoom);
        Arc::new(data.with(|t| layout(t, &state.with(|s| s.view.clone()), level.get(), width)))
    });
    #[cfg(feature = "hydrate")]
    follow(data, state, live, cluster.clone());
    #[cfg(not(feature = "hydrate"))]
    let _ = live;
    let zoom = Memo::new(move |_| state.with(|s| s.zoom));
    let search = Memo::new(move |_| state.with(|s| s.search.clone()));
    // Which rows are drawn: the band on screen, one screen either side. The server draws the
    // top of the picture; the browser measures its frame once it runs.
    let band = RwSignal::new((0.0f64, FIRST_BAND));
    let rows = Memo::new(move |_| {
        let (top, bottom) = band.get();
        drawing.with(|d| d.rows_between(top, bottom))
    });
    // New data or a new picture redraws every row (the geometry may be unchanged when one task
    // replaced another); scrolling draws only rows that come into view.
    let epoch = Memo::new(move |prev: Option<&u64>| {
        data.track();
        drawing.track();
        search.track();
        prev.map_or(0, |p| p + 1)
    });
    let frame = NodeRef::<leptos::html::Div>::new();
    let view_ = Signal::derive(move || state.with(|s| s.view.clone()));
    let row_markup = {
        let cluster = cluster.clone();
        move |r: usize| {
            data.with_untracked(|t| {
                drawing.with_untracked(|d| {
                    state.with_untracked(|s| Scene { topology: t, drawing: d, cluster: &cluster, search: &s.search, view: &s.view }.row(r))
                })
            })
        }
    };
    let frames = {
        let cluster = cluster.clone();
        move || data.with(|t| drawing.with(|d| view_.with(|v| Scene { topology: t, drawing: d, cluster: &cluster, search: "", view: v }.frames())))
    };
    let export = {
        let cluster = cluster.clone();
        Callback::new(move |kind: &'static str| {
            let (markup, w, h) = data.with_untracked(|t| {
                drawing.with_untracked(|d| {
                    state.with_untracked(|s| (Scene { topology: t, drawing: d, cluster: &cluster, search: &s.search, view: &s.view }.document(), d.width, d.height))
                })
            });
            download(kind, &format!("{cluster}-diagram.{kind}"), markup, w, h);
        })
    };
    let pan = interact::Pan::new(frame, band, frame_px, data, drawing, zoom, search, set_state.clone(), level);
    let choices = Memo::new(move |_| data.with(|t| Choices::of(t)));
    let summary = Memo::new(move |_| data.with(|t| t.summary.clone()));
    let empty = Memo::new(move |_| data.with(|t| t.instances.is_empty()));
    move || {
        if empty.get() {
            return view! {
                <EmptyState title="No container instances yet" body="Add a host with a join token from the cluster's page; it appears here as it joins."/>
            }
            .into_any();
        }
        let (pan, set_state, row_markup, frames, cluster) = (pan.clone(), set_state.clone(), row_markup.clone(), frames.clone(), cluster.clone());
        view! {
            {move || view! { <SummaryStrip summary=summary.get()/> }}
            <Controls choices state level set_state=set_state.clone() on_export=export/>
            <Legend choices state set_state/>
            <div class="diagram-frame" id="diagram" tabindex="0" node_ref=frame
                aria-label="Cluster diagram: + and - zoom through tiles, tasks and containers, 0 resets, arrows or dragging scroll, Enter opens"
                on:keydown=pan.on_key() on:click=pan.on_click() on:mousedown=pan.on_down() on:mousemove=pan.on_move()
                on:mouseup=pan.on_up() on:mouseleave=pan.on_up() on:wheel=pan.on_wheel() on:scroll=pan.on_scroll()>
                <svg id="diagram-svg" xmlns="http://www.w3.org/2000/svg" data-level=move || level.get().name()
                    data-partial=move || data.with(|t| t.partial.then_some("true"))
                    viewBox=move || drawing.with(|d| format!("0 0 {} {}", d.width, d.height))
                    width=move || drawing.with(|d| d.width) * zoom.get() height=move || drawing.with(|d| d.height) * zoom.get()
                    role="group" aria-label=format!("Diagram of cluster {cluster}")>
                    <style>{svg::STYLE}</style>
                    <g inner_html=svg::DEFS></g>
                    <g class="frames" inner_html=frames></g>
                    <For each=move || { let e = epoch.get(); rows.get().map(move |r| (e, r)) } key=|k| *k let((_, r))>
                        <g class="row" inner_html=row_markup(r)></g>
                    </For>
                </svg>
            </div>
            <ListView data cluster view=view_/>
        }
        .into_any()
    }
}

/// Re-reads the topology when the cluster changes or the zoom needs more detail. One read at a
/// time: changes that arrive during a read ask for one more when it ends, so a busy cluster of
/// thousands of hosts never has more than one read in flight.
#[cfg(feature = "hydrate")]
fn follow(data: RwSignal<Arc<Topology>>, state: Memo<State>, live: crate::live::Live, cluster: String) {
    let busy = StoredValue::new(false);
    let again = StoredValue::new(false);
    let wanted_now = move || {
        let n = data.with_untracked(|t| t.instances.len());
        wanted(state.with_untracked(|s| s.level).unwrap_or_else(|| Level::default_for(n)), n)
    };
    Effect::new(move |prev: Option<(u64, Option<Level>)>| {
        let key = (live.version.get(), state.with(|s| s.level));
        let changed = prev.is_some_and(|p| p.0 != key.0);
        if changed || data.with_untracked(|t| t.partial || t.detail < wanted_now()) {
            read(cluster.clone(), data, busy, again, wanted_now);
        }
        key
    });
}

#[cfg(feature = "hydrate")]
fn read(cluster: String, data: RwSignal<Arc<Topology>>, busy: StoredValue<bool>, again: StoredValue<bool>, wanted_now: impl Fn() -> Detail + Copy + 'static) {
    if busy.get_value() {
        again.set_value(true);
        return;
    }
    busy.set_value(true);
    let detail = wanted_now();
    leptos::task::spawn_local(async move {
        let result = cluster_topology(cluster.clone(), Some(detail)).await;
        // The page may have gone while the read was under way.
        if busy.try_set_value(false).is_some() {
            return;
        }
        // Zoomed in while this read was under way: it carries too little.
        let short = result.as_ref().is_ok_and(|t| t.detail < wanted_now());
        if let Ok(t) = result {
            data.try_set(Arc::new(t));
        }
        if again.get_value() || short {
            again.set_value(false);
            read(cluster, data, busy, again, wanted_now);
        }
    });
}

/// Downloads the picture as an SVG file, or as a PNG drawn from it.
fn download(kind: &str, file_name: &str, markup: String, width: f64, height: f64) {
    #[cfg(feature = "hydrate")]
    interact::download(kind, file_name, markup, width, height);
    #[cfg(not(feature = "hydrate"))]
    let _ = (kind, file_name, markup, width, height);
}

mod interact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zooming_in_from_tiles_reaches_the_containers_while_the_data_lags() {
        // 2,000 hosts open as tiles; the picture stays tiles until the tasks have been read,
        // whatever the keys asked for meanwhile.
        let mut st = state_of(&leptos_router::params::ParamsMap::new());
        let drawn = Level::Tiles;
        let mut seen = Vec::new();
        for _ in 0..layout::STOPS.len() {
            zoomed(&mut st, drawn, 1);
            seen.push((st.level.unwrap(), st.zoom));
        }
        assert_eq!(seen[..3], [(Level::Tiles, 1.25), (Level::Tasks, 1.0), (Level::Tasks, 1.25)], "{seen:?}");
        assert_eq!(*seen.last().unwrap(), (Level::Containers, 1.5), "the top of the ladder: {seen:?}");
        zoomed(&mut st, drawn, -9);
        assert_eq!((st.level, st.zoom), (Some(Level::Tiles), 0.5));
    }

    #[test]
    fn the_url_round_trips_the_view() {
        let s = State {
            view: View { group_by: "rack".into(), service: "web api".into(), status: "RUNNING".into(), family: String::new(), trace: "web".into() },
            search: "a&b".into(),
            level: Some(Level::Containers),
            zoom: 1.5,
        };
        let q = query_of(&s);
        assert_eq!(q, "group=rack&service=web%20api&status=RUNNING&trace=web&q=a%26b&level=containers&zoom=1.50");
        let mut map = leptos_router::params::ParamsMap::new();
        for (k, v) in [("group", "rack"), ("service", "web api"), ("status", "RUNNING"), ("trace", "web"), ("q", "a&b"), ("level", "containers"), ("zoom", "1.50")] {
            map.insert(k, v.to_string());
        }
        assert_eq!(state_of(&map), s);
        let defaults = state_of(&leptos_router::params::ParamsMap::new());
        assert_eq!((defaults.view.group_by.as_str(), defaults.zoom, defaults.level), (ZONE, 1.0, None));
        assert_eq!(wanted(Level::Tiles, 3), Detail::Containers, "a small cluster is read whole");
        assert_eq!(wanted(Level::Tiles, 2000), Detail::Instances);
        assert_eq!(wanted(Level::Tasks, 2000), Detail::Tasks);
    }
}
