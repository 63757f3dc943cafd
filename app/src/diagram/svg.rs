/*!
The diagram's SVG, written as markup: the page inserts it a row at a time (only rows on screen,
so 2,000 hosts cost what a screenful does) and the export writes the whole picture from the same
functions, so a file looks like the page. Parts link by `data-href`, handled once for the whole
picture; every text from users is escaped.
*/

use super::layout::{
    CARD_HEAD, CARD_LINE, CELL, Drawing, GROUP_HEAD, Level, MARGIN, Placed, RAIL_W, View, fraction, heat, task_rect, tile_count,
};
use std::fmt::Write;
use wharf_core::topology::{Capacity, InstanceNode, TaskNode, Topology};

/// What a picture is drawn from.
pub struct Scene<'a> {
    pub topology: &'a Topology,
    pub drawing: &'a Drawing,
    pub cluster: &'a str,
    pub search: &'a str,
    pub view: &'a View,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max.saturating_sub(1)).collect::<String>()) }
}

/// Instances or tasks whose id starts with (or whose name contains) the search.
pub fn matches(search: &str, name: &str, id: &str) -> bool {
    let s = search.trim().to_lowercase();
    !s.is_empty() && (id.starts_with(&s) || name.to_lowercase().contains(&s))
}

pub fn percent(part: i64, whole: i64) -> String {
    format!("{:.0}%", fraction(part, whole) * 100.0)
}

pub fn capacity_text(c: &Capacity, unit: &str) -> String {
    let used = c.used.map(|u| format!(", used {u}{unit} ({})", percent(u, c.registered))).unwrap_or_default();
    format!("reserved {}{unit} of {}{unit} ({}){used}", c.reserved, c.registered, percent(c.reserved, c.registered))
}

fn state_word(i: &InstanceNode) -> &'static str {
    if !i.agent_connected {
        "disconnected"
    } else if i.status == "DRAINING" {
        "draining"
    } else {
        "active"
    }
}

/// A coordinate as the markup writes it: to a tenth of a unit (finer than any screen shows)
/// and without a trailing ".0", which keeps the markup of a large picture small.
#[derive(Clone, Copy)]
struct N(f64);

impl std::fmt::Display for N {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenths = (self.0 * 10.0).round() as i64;
        let sign = if tenths < 0 { "-" } else { "" };
        let (whole, tenth) = (tenths.unsigned_abs() / 10, tenths.unsigned_abs() % 10);
        if tenth == 0 { write!(f, "{sign}{whole}") } else { write!(f, "{sign}{whole}.{tenth}") }
    }
}

/// x of the traced service's rail.
pub fn rail_x() -> f64 {
    MARGIN + RAIL_W / 2.0 - 4.0
}

impl Scene<'_> {
    /// The standalone picture, every row, for export.
    pub fn document(&self) -> String {
        let d = self.drawing;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\"><style>{STYLE}</style>{DEFS}",
            w = N(d.width),
            h = N(d.height)
        );
        out.push_str(&self.frames());
        for r in 0..d.rows.len() {
            out.push_str(&self.row(r));
        }
        out.push_str("</svg>");
        out
    }

    /// Group frames with their summary lines, and the traced service's rail.
    pub fn frames(&self) -> String {
        let mut out = String::new();
        for g in &self.drawing.groups {
            let s = &g.summary;
            let used = |c: &Capacity| c.used.map(|u| format!(", {} used", percent(u, c.registered))).unwrap_or_default();
            let label = format!(
                "{} — {} instance{} · {} running, {} pending · CPU {} reserved{} · memory {} reserved{}",
                g.label,
                s.instances,
                if s.instances == 1 { "" } else { "s" },
                s.tasks_running,
                s.tasks_pending,
                percent(s.cpu.reserved, s.cpu.registered),
                used(&s.cpu),
                percent(s.memory.reserved, s.memory.registered),
                used(&s.memory)
            );
            let _ = write!(
                out,
                r#"<g class="group"><rect class="group-frame" x="{}" y="{}" width="{}" height="{}" rx="8"/><text class="group-label" x="{}" y="{}">{}</text></g>"#,
                N(g.x),
                N(g.y),
                N(g.w),
                N(g.h),
                N(g.x + 12.0),
                N(g.y + GROUP_HEAD - 12.0),
                escape(&label)
            );
        }
        if !self.trace().is_empty() {
            let (x, colour) = (N(rail_x()), self.drawing.palette.colour(Some(self.trace())));
            let bottom = N(self.drawing.height - MARGIN);
            let _ = write!(
                out,
                r#"<g class="rail" data-service="{s}" data-href="/clusters/{c}/services/{s}" role="link"><title>service {s}: open its page</title><line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="{colour}"/><circle cx="{x}" cy="{top}" r="6" fill="{colour}"/><text class="rail-label" x="{tx}" y="{ty}">{s}</text></g>"#,
                s = escape(self.trace()),
                c = escape(self.cluster),
                top = N(MARGIN + 6.0),
                tx = N(rail_x() + 10.0),
                ty = N(MARGIN + 10.0),
            );
        }
        out
    }

    /// One row of instances, and the traced service's branches to them.
    pub fn row(&self, r: usize) -> String {
        let d = self.drawing;
        let mut out = String::new();
        let mut branches = Vec::new();
        for p in &d.placed[d.rows[r].items.clone()] {
            let i = &self.topology.instances[p.instance];
            match d.level {
                Level::Tiles => {
                    self.tile(&mut out, p, i);
                    if !self.trace().is_empty() && i.tasks_by_service.get(self.trace()).is_some_and(|n| *n > 0) {
                        branches.push((p.x, p.y + p.h / 2.0));
                    }
                }
                Level::Tasks | Level::Containers => {
                    self.boxed(&mut out, p, i);
                    for (n, &t) in p.tasks.iter().enumerate() {
                        if !self.trace().is_empty() && i.tasks[t].service() == Some(self.trace()) {
                            let (x, y, _, h) = task_rect(d.level, p, self.topology, n);
                            branches.push((x, y + h.min(CELL) / 2.0));
                        }
                    }
                }
            }
        }
        if !branches.is_empty() {
            let (rx, ry) = (rail_x(), d.rows[r].y + 8.0);
            let mut path = String::new();
            for (x, y) in branches {
                let _ = write!(path, "M{},{} C{},{} {},{} {},{} ", N(rx), N(ry), N(rx + 40.0), N(ry), N(x - 40.0), N(y), N(x), N(y));
            }
            let (rx, ry) = (N(rx), N(ry));
            let _ = write!(
                out,
                r#"<g class="branches"><circle cx="{rx}" cy="{ry}" r="3" fill="{c}"/><path d="{path}" stroke="{c}"/></g>"#,
                c = self.drawing.palette.colour(Some(self.trace()))
            );
        }
        out
    }

    fn head(&self, out: &mut String, p: &Placed, i: &InstanceNode, class: &str, rx: u8) {
        let zone = i.attributes.get("ecs.availability-zone").map(|z| format!(" · zone {z}")).unwrap_or_default();
        let tooltip = format!(
            "{} ({})\n{}{}{}\nCPU {}\nMemory {}\n{} running, {} pending",
            i.name,
            i.id,
            i.status,
            if i.agent_connected { " · connected" } else { " · disconnected" },
            zone,
            capacity_text(&i.cpu, ""),
            capacity_text(&i.memory, " MiB"),
            i.running_tasks_count,
            i.pending_tasks_count
        );
        let hit = if matches(self.search, &i.name, &i.id) { " hit" } else { "" };
        let dim = if !self.trace().is_empty() && !i.tasks_by_service.contains_key(self.trace()) && self.drawing.level == Level::Tiles { " dim" } else { "" };
        let _ = write!(
            out,
            r#"<g class="instance {class} {state}{hit}{dim}" data-instance="{id}"><g class="head" data-href="/clusters/{c}/instances/{id}" role="link" tabindex="0" aria-label="instance {name}"><title>{tip}</title><rect class="box" x="{x}" y="{y}" width="{w}" height="{h}" rx="{rx}"/>"#,
            state = state_word(i),
            id = escape(&i.id),
            c = escape(self.cluster),
            name = escape(&i.name),
            tip = escape(&tooltip),
            x = N(p.x),
            y = N(p.y),
            w = N(p.w),
            h = N(p.h),
        );
    }

    /// Far out: name, state, task count, the mix of services and capacity heat.
    fn tile(&self, out: &mut String, p: &Placed, i: &InstanceNode) {
        self.head(out, p, i, &format!("tile heat{}", heat(i)), 5);
        let word = if i.agent_connected { i.status.clone() } else { "disconnected".into() };
        let count = tile_count(i, self.view);
        let _ = write!(
            out,
            r#"<text class="name" x="{}" y="{}">{}</text><text class="meta" x="{}" y="{}">{} · {} tasks</text></g>"#,
            N(p.x + 8.0),
            N(p.y + 16.0),
            escape(&clip(&i.name, 19)),
            N(p.x + 8.0),
            N(p.y + 29.0),
            escape(&word),
            count
        );
        // The mix of services, as one stacked bar in their colours.
        let total: i64 = i.tasks_by_service.values().sum();
        let (bx, bw) = (p.x + 8.0, p.w - 16.0);
        let mut x = bx;
        for (service, n) in &i.tasks_by_service {
            let w = bw * fraction(*n, total);
            let _ = write!(out, r#"<rect x="{}" y="{}" width="{}" height="4" fill="{}"/>"#, N(x), N(p.y + 34.0), N(w), self.drawing.palette.colour(Some(service)));
            x += w;
        }
        bar(out, bx, p.y + 41.0, bw, 3.0, &i.cpu);
        bar(out, bx, p.y + 46.0, bw, 3.0, &i.memory);
        out.push_str("</g>");
    }

    /// Closer: a box with capacity bars and its tasks as cells or, closest, as cards.
    fn boxed(&self, out: &mut String, p: &Placed, i: &InstanceNode) {
        self.head(out, p, i, "box", 6);
        let zone = i.attributes.get("ecs.availability-zone").map(|z| format!(" · {z}")).unwrap_or_default();
        let meta = format!("{} · {}{zone}", i.status, if i.agent_connected { "connected" } else { "disconnected" });
        let _ = write!(
            out,
            r#"<text class="name" x="{}" y="{}">{}</text><text class="meta" x="{}" y="{}">{}</text></g>"#,
            N(p.x + 10.0),
            N(p.y + 18.0),
            escape(&clip(&i.name, (p.w / 7.5) as usize)),
            N(p.x + 10.0),
            N(p.y + 34.0),
            escape(&meta)
        );
        for (row, label, c) in [(0.0, "CPU", &i.cpu), (1.0, "MEM", &i.memory)] {
            let by = p.y + 44.0 + row * 16.0;
            let bw = p.w - 84.0;
            let _ = write!(out, r#"<text class="bar-label" x="{}" y="{}">{label}</text>"#, N(p.x + 10.0), N(by + 8.0));
            bar(out, p.x + 44.0, by, bw, 8.0, c);
            let _ = write!(out, r#"<text class="bar-label" x="{}" y="{}">{}</text>"#, N(p.x + 50.0 + bw), N(by + 8.0), percent(c.reserved, c.registered));
        }
        for (n, &t) in p.tasks.iter().enumerate() {
            let rect = task_rect(self.drawing.level, p, self.topology, n);
            self.task(out, &i.tasks[t], rect);
        }
        if p.more > 0 {
            let _ = write!(out, r#"<text class="more" x="{}" y="{}">+{} more tasks</text>"#, N(p.x + 10.0), N(p.y + p.h - 8.0), p.more);
        }
        out.push_str("</g>");
    }

    fn task(&self, out: &mut String, t: &TaskNode, (x, y, w, h): (f64, f64, f64, f64)) {
        let service = t.service().unwrap_or_default();
        let colour = self.drawing.palette.colour(Some(service));
        let hit = if matches(self.search, "", &t.id) { " hit" } else { "" };
        let dim = if !self.trace().is_empty() && service != self.trace() { " dim" } else { "" };
        let card = if self.drawing.level == Level::Containers { " card" } else { "" };
        // Asked to stop, not stopped yet: drawn faded until the agent reports it gone.
        let stopping = if t.desired_status == "STOPPED" { " stopping" } else { "" };
        let mut title = format!(
            "task {}\n{}{}\n{} (wanted {})",
            t.id,
            t.task_definition,
            if service.is_empty() { String::new() } else { format!(" · service {service}") },
            t.last_status,
            t.desired_status
        );
        for c in &t.containers {
            let _ = write!(title, "\n{}", container_line(c));
        }
        // A listener's traffic to it.
        let requests = t.requests.map(|n| {
            let _ = write!(title, "\n{n} requests from the load balancer");
            format!(r#" data-requests="{n}""#)
        });
        let _ = write!(
            out,
            r#"<g class="task{card}{stopping}{hit}{dim}" data-task="{id}" data-service="{s}"{r} data-href="/clusters/{c}/tasks/{id}" role="link"><title>{title}</title>"#,
            r = requests.unwrap_or_default(),
            id = escape(&t.id),
            s = escape(service),
            c = escape(self.cluster),
            title = escape(&title)
        );
        let pending = t.last_status != "RUNNING";
        let (nx, ny, nw, nh) = (N(x), N(y), N(w), N(h));
        if card.is_empty() {
            let _ = write!(out, r#"<rect x="{nx}" y="{ny}" width="{nw}" height="{nh}" rx="2" fill="{colour}"/>"#);
            if pending {
                let _ = write!(out, r#"<rect x="{nx}" y="{ny}" width="{nw}" height="{nh}" rx="2" fill="url(#hatch)"/>"#);
            }
        } else {
            let head = format!(
                "{} · {} · {}{}",
                &t.id[..t.id.len().min(8)],
                if service.is_empty() { t.task_definition.as_str() } else { service },
                t.last_status,
                t.requests.map(|n| format!(" · {n} req")).unwrap_or_default()
            );
            let _ = write!(
                out,
                r#"<rect class="card-box" x="{nx}" y="{ny}" width="{nw}" height="{nh}" rx="3"/><rect x="{nx}" y="{ny}" width="4" height="{nh}" fill="{colour}"/>"#
            );
            if pending {
                let _ = write!(out, r#"<rect x="{nx}" y="{ny}" width="4" height="{nh}" fill="url(#hatch)"/>"#);
            }
            let _ = write!(out, r#"<text class="card-title" x="{}" y="{}">{}</text>"#, N(x + 10.0), N(y + 13.0), escape(&head));
            for (k, c) in t.containers.iter().enumerate() {
                let ly = y + CARD_HEAD + k as f64 * CARD_LINE + 10.0;
                let dot = match (c.last_status.as_str(), c.health_status.as_deref()) {
                    (_, Some("UNHEALTHY")) | ("STOPPED", _) => "bad",
                    ("RUNNING", _) => "ok",
                    _ => "wait",
                };
                let _ = write!(
                    out,
                    r#"<circle class="dot {dot}" cx="{}" cy="{}" r="3.5"/><text class="ctr" x="{}" y="{}">{}</text>"#,
                    N(x + 14.0),
                    N(ly - 3.5),
                    N(x + 22.0),
                    N(ly),
                    escape(&clip(&container_line(c), ((w - 30.0) / 6.0) as usize))
                );
            }
        }
        out.push_str("</g>");
    }

    /// The traced service, or empty.
    fn trace(&self) -> &str {
        &self.view.trace
    }
}

/// name · image · status · health · host ports, as a card and a tooltip show a container.
pub fn container_line(c: &wharf_core::task::Container) -> String {
    let mut parts = vec![c.name.clone(), c.image.clone(), c.last_status.clone()];
    if let Some(h) = &c.health_status {
        parts.push(h.clone());
    }
    let ports: Vec<String> = c
        .network_bindings
        .iter()
        .map(|b| format!("{}→{}/{}", b.host_port, b.container_port, b.protocol))
        .collect();
    if !ports.is_empty() {
        parts.push(ports.join(" "));
    }
    parts.join(" · ")
}

/// A capacity bar: registered as the track, reserved filled, used as a mark.
fn bar(out: &mut String, x: f64, y: f64, w: f64, h: f64, c: &Capacity) {
    let reserved = N(w * fraction(c.reserved, c.registered));
    let used = c.used.map(|u| N(x + w * fraction(u, c.registered)));
    let (top, bottom) = (N(y - 1.0), N(y + h + 1.0));
    let (x, y, w, h) = (N(x), N(y), N(w), N(h));
    let _ = write!(
        out,
        r#"<rect class="bar-bg" x="{x}" y="{y}" width="{w}" height="{h}" rx="1.5"/><rect class="bar-reserved" x="{x}" y="{y}" width="{reserved}" height="{h}" rx="1.5"/>"#,
    );
    if let Some(ux) = used {
        let _ = write!(out, r#"<line class="bar-used" x1="{ux}" y1="{top}" x2="{ux}" y2="{bottom}"/>"#);
    }
}

pub const DEFS: &str = r##"<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="4" stroke="#ffffff" stroke-width="2" stroke-opacity="0.7"/></pattern></defs>"##;

/// Styles inside the SVG itself, so an exported file looks the same on its own.
pub const STYLE: &str = "
text { font-family: system-ui, sans-serif; fill: #1c2430; }
.group-frame { fill: #f3f5f8; stroke: #c9d1da; }
.group-label { font-size: 14px; font-weight: 600; }
.instance rect.box { fill: #ffffff; stroke: #1a7f37; stroke-width: 1.5; }
.tile.heat0 rect.box { fill: #f1f8f1; } .tile.heat1 rect.box { fill: #e2f2dd; } .tile.heat2 rect.box { fill: #fbf1cf; }
.tile.heat3 rect.box { fill: #fde0c2; } .tile.heat4 rect.box { fill: #f8cccc; }
.instance.draining rect.box { stroke: #9a6700; stroke-width: 2; }
.instance.disconnected rect.box { stroke: #cf222e; stroke-dasharray: 5 3; stroke-width: 2; }
.instance.hit rect.box, .task.hit rect { stroke: #0969da; stroke-width: 4; }
[data-href] { cursor: pointer; }
.head:focus { outline: none; }
.head:focus rect.box { stroke: #0969da; stroke-width: 3; }
.instance .name { font-size: 13px; font-weight: 600; }
.tile .name { font-size: 12px; }
.instance .meta { font-size: 11px; fill: #5d6b7e; }
.tile .meta { font-size: 10px; }
.bar-bg { fill: #e6eaef; }
.bar-reserved { fill: #4e79a7; }
.bar-used { stroke: #cf222e; stroke-width: 2; }
.bar-label { font-size: 10px; fill: #5d6b7e; }
.task rect { stroke: #ffffff; stroke-width: 0.5; }
.card-box { fill: #f6f8fa; stroke: #d0d7de; }
.card-title { font-size: 11px; font-weight: 600; }
.ctr { font-size: 10px; font-family: ui-monospace, monospace; }
.dot.ok { fill: #1a7f37; } .dot.wait { fill: #9a6700; } .dot.bad { fill: #cf222e; }
.more { font-size: 11px; fill: #5d6b7e; }
.dim { opacity: 0.22; }
.task.stopping { opacity: 0.45; }
.task.stopping rect { stroke: #cf222e; stroke-dasharray: 2 2; stroke-width: 1.5; }
.rail line { stroke-width: 3; }
.rail-label { font-size: 13px; font-weight: 700; }
.branches { pointer-events: none; } .branches path { fill: none; stroke-width: 1.5; stroke-opacity: 0.65; }
@media (prefers-color-scheme: dark) {
  text { fill: #e3e8ee; }
  .group-frame { fill: #11161d; stroke: #2a333f; }
  .instance rect.box { fill: #161c24; stroke: #3fb950; }
  .tile.heat0 rect.box { fill: #15201a; } .tile.heat1 rect.box { fill: #1a2b1f; } .tile.heat2 rect.box { fill: #2e2a16; }
  .tile.heat3 rect.box { fill: #35251a; } .tile.heat4 rect.box { fill: #3d1d1f; }
  .instance.draining rect.box { stroke: #d29922; }
  .instance.disconnected rect.box { stroke: #f85149; }
  .instance .meta, .bar-label, .more { fill: #9aa7b6; }
  .bar-bg { fill: #2a333f; }
  .bar-reserved { fill: #6f9bd1; }
  .task rect { stroke: #161c24; }
  .card-box { fill: #1c232c; stroke: #2f3945; }
}
";

#[cfg(test)]
mod tests {
    use super::super::layout::layout;
    use super::*;
    use wharf_core::topology::{Detail, Summary};

    fn scene_of(t: &Topology, level: Level, search: &str, trace: &str) -> String {
        let view = View { trace: trace.into(), ..View::default() };
        let d = layout(t, &view, level, super::super::layout::WIDTH);
        Scene { topology: t, drawing: &d, cluster: "c&d", search, view: &view }.document()
    }

    fn topology() -> Topology {
        let t: Topology = serde_json::from_str(
            r#"{"clusterName":"c","detail":"containers","services":[],"summary":{"instances":0,"connected":0,"tasksRunning":0,"tasksPending":0,
            "cpu":{"registered":0,"reserved":0,"used":null},"memory":{"registered":0,"reserved":0,"used":null}},
            "instances":[{"id":"i1","name":"<evil> & \"host\"","status":"DRAINING","agentConnected":true,"attributes":{"ecs.availability-zone":"a"},
              "cpu":{"registered":1024,"reserved":512,"used":100},"memory":{"registered":2048,"reserved":1024,"used":null},
              "runningTasksCount":1,"pendingTasksCount":1,"tasksBySservice":{},"tasksByService":{"web":1,"":1},
              "tasks":[{"id":"0123456789abcdef","group":"service:web","taskDefinition":"web:3","lastStatus":"RUNNING","desiredStatus":"RUNNING",
                "cpu":128,"memory":256,"usedCpu":null,"usedMemory":null,"containers":[{"name":"app","image":"local/web:1","lastStatus":"RUNNING",
                "healthStatus":"UNHEALTHY","networkBindings":[{"containerPort":80,"hostPort":32768,"protocol":"tcp"}]}]},
               {"id":"fedcba9876543210","group":null,"taskDefinition":"job:1","lastStatus":"PENDING","desiredStatus":"RUNNING",
                "cpu":64,"memory":64,"usedCpu":null,"usedMemory":null,"containers":[]}]}]}"#,
        )
        .unwrap();
        Topology { summary: Summary::of(&t.instances), detail: Detail::Containers, ..t }
    }

    #[test]
    fn user_text_is_escaped_and_every_level_draws_its_parts() {
        let t = topology();
        for level in Level::ALL {
            let svg = scene_of(&t, level, "", "");
            assert!(!svg.contains("<evil>") && !svg.contains("c&d"), "names and the cluster are escaped at {level:?}");
            assert!(svg.contains("&lt;evil&gt; &amp; &quot;host&quot;"));
            assert_eq!(svg.matches("<g class=\"instance ").count(), 1);
            assert!(svg.contains("instance") && svg.contains(" draining"), "the state is a class (colour) at {level:?}");
            assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count(), "groups balance at {level:?}");
        }
        let tiles = scene_of(&t, Level::Tiles, "", "");
        assert!(tiles.contains("DRAINING · 2 tasks"), "a tile says its state in words and counts its tasks");
        assert!(!tiles.contains("data-task"), "tiles draw no tasks");
        let cells = scene_of(&t, Level::Tasks, "", "");
        assert_eq!(cells.matches("data-task=").count(), 2);
        assert!(cells.contains("url(#hatch)"), "a pending task is hatched");
        let cards = scene_of(&t, Level::Containers, "", "");
        assert!(cards.contains("app · local/web:1 · RUNNING · UNHEALTHY · 32768→80/tcp"), "a card lists its containers: {cards}");
        assert!(cards.contains("dot bad"), "an unhealthy container is marked");
        let mut stopping = t.clone();
        stopping.instances[0].tasks[0].desired_status = "STOPPED".into();
        assert_eq!(scene_of(&stopping, Level::Tasks, "", "").matches("task stopping").count(), 1, "a task asked to stop is marked");
        assert!(!cells.contains("task stopping"));
    }

    #[test]
    fn search_marks_hits_and_a_traced_service_gets_a_rail_and_branches() {
        let t = topology();
        let found = scene_of(&t, Level::Tasks, "0123", "");
        assert_eq!(found.matches("task hit").count(), 1);
        let traced = scene_of(&t, Level::Tasks, "", "web");
        assert!(traced.contains(r#"class="rail" data-service="web""#));
        assert_eq!(traced.matches(&format!("M{},", rail_x())).count(), 1, "one branch, to web's one task");
        assert_eq!(traced.matches("task dim").count(), 1, "the other task is dimmed");
        assert!(clip("abcdefghij", 5) == "abcd…" && clip("abc", 5) == "abc");
    }
}
