/*!
Where everything goes in the relationship diagram, worked out apart from drawing so it can be
tested: groups of instances (by zone or any attribute) as frames, instances in rows inside them,
at one of three levels of detail (semantic zoom): tiles with capacity heat, boxes with their
tasks, boxes with each task's containers. Units are SVG user units; rows let the page draw only
what is on screen.
*/

use std::collections::BTreeMap;
use std::ops::Range;
use wharf_core::topology::{Detail, InstanceNode, Summary, TaskNode, Topology};

/// Width the server draws for; the browser then fits the picture to its frame.
pub const WIDTH: f64 = 1200.0;
pub const MARGIN: f64 = 16.0;
pub const GAP: f64 = 12.0;
pub const GROUP_HEAD: f64 = 34.0;
/// Room on the left for a traced service's rail.
pub const RAIL_W: f64 = 36.0;
/// Name, status line and the two capacity bars of a box.
pub const HEADER_H: f64 = 78.0;
pub const CELL: f64 = 14.0;
pub const CELL_GAP: f64 = 3.0;
pub const CELLS_PER_ROW: usize = 12;
/// More tasks than this in one box are drawn as a count.
pub const CELLS_MAX: usize = 96;
pub const CARD_HEAD: f64 = 18.0;
pub const CARD_LINE: f64 = 14.0;
pub const CARDS_MAX: usize = 16;
pub const TILE_H: f64 = 52.0;

/// Semantic zoom: what an instance is drawn as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// A tile: name, state, task count, service mix and capacity heat.
    Tiles,
    /// A box with capacity bars and a cell per task.
    Tasks,
    /// A box with a card per task listing its containers.
    Containers,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Tiles, Level::Tasks, Level::Containers];

    pub fn name(self) -> &'static str {
        match self {
            Level::Tiles => "tiles",
            Level::Tasks => "tasks",
            Level::Containers => "containers",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == s)
    }

    /// What the server must send for this level.
    pub fn detail(self) -> Detail {
        match self {
            Level::Tiles => Detail::Instances,
            Level::Tasks => Detail::Tasks,
            Level::Containers => Detail::Containers,
        }
    }

    /// The most this data can draw.
    pub fn most_for(detail: Detail) -> Level {
        match detail {
            Detail::Instances => Level::Tiles,
            Detail::Tasks => Level::Tasks,
            Detail::Containers => Level::Containers,
        }
    }

    /// Width of an instance at zoom 1.
    pub fn box_w(self) -> f64 {
        match self {
            Level::Tiles => 152.0,
            Level::Tasks => 220.0,
            Level::Containers => 380.0,
        }
    }

    /// The level a cluster of this size opens at: names and tasks while they fit on a few
    /// screens, tiles beyond that, so a picture of 2,000 hosts opens legible rather than as a
    /// wall of cells.
    pub fn default_for(instances: usize) -> Level {
        if instances <= 60 { Level::Tasks } else { Level::Tiles }
    }
}

/// Zoom stops, smallest to largest instance: zooming walks this ladder, so zooming in past a
/// level's largest scale switches to the next level's smallest (semantic zoom).
pub const STOPS: [(Level, f64); 10] = [
    (Level::Tiles, 0.5),
    (Level::Tiles, 0.75),
    (Level::Tiles, 1.0),
    (Level::Tiles, 1.25),
    (Level::Tasks, 1.0),
    (Level::Tasks, 1.25),
    (Level::Tasks, 1.5),
    (Level::Containers, 1.0),
    (Level::Containers, 1.25),
    (Level::Containers, 1.5),
];

/// The stop `steps` away from (level, zoom); off the ladder, from the level's nearest stop.
pub fn step(level: Level, zoom: f64, steps: i32) -> (Level, f64) {
    let nearest = STOPS
        .iter()
        .enumerate()
        .filter(|(_, (l, _))| *l == level)
        .min_by(|a, b| (a.1.1 - zoom).abs().total_cmp(&(b.1.1 - zoom).abs()))
        .map_or(0, |(n, _)| n);
    let at = (nearest as i32 + steps).clamp(0, STOPS.len() as i32 - 1) as usize;
    STOPS[at]
}

/// What the user chose to see; every field is also in the page's URL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// Attribute to group instances by; empty for one group.
    pub group_by: String,
    /// Only tasks of this service (instances stay, to show where they are not).
    pub service: String,
    /// Only tasks in this last status.
    pub status: String,
    /// Task definition family.
    pub family: String,
    /// A service whose tasks are linked to a rail on the left, the others dimmed.
    pub trace: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// Index into the topology's instances.
    pub instance: usize,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    /// Indices of the tasks shown (after filters), at most what the level draws.
    pub tasks: Vec<usize>,
    /// Tasks that pass the filters but did not fit.
    pub more: usize,
}

/// One line of boxes: the unit the page draws or leaves out as it scrolls.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub y: f64,
    pub h: f64,
    /// Indices into [`Drawing::placed`].
    pub items: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Drawing {
    pub level: Level,
    pub palette: Palette,
    pub groups: Vec<Group>,
    pub rows: Vec<Row>,
    pub placed: Vec<Placed>,
    pub width: f64,
    pub height: f64,
}

pub fn family(task_definition: &str) -> &str {
    task_definition.rsplit_once(':').map_or(task_definition, |(f, _)| f)
}

/// Whether a task is in the state a status filter names, as the picture draws states: PENDING
/// takes every state before RUNNING (hatched), STOPPING every task asked to stop (faded).
pub fn in_state(task: &TaskNode, status: &str) -> bool {
    match status {
        "PENDING" => wharf_core::topology::is_pending(&task.last_status),
        "STOPPING" => task.desired_status == "STOPPED" || task.last_status == "STOPPING" || task.last_status == "DEACTIVATING",
        "RUNNING" => task.last_status == "RUNNING" && task.desired_status != "STOPPED",
        other => task.last_status == other,
    }
}

pub fn shown(task: &TaskNode, view: &View) -> bool {
    (view.service.is_empty() || task.service() == Some(view.service.as_str()))
        && (view.status.is_empty() || in_state(task, &view.status))
        && (view.family.is_empty() || family(&task.task_definition) == view.family)
}

/// How many tasks a tile counts: the filtered service's, or all.
pub fn tile_count(i: &InstanceNode, view: &View) -> i64 {
    if view.service.is_empty() { i.tasks_by_service.values().sum() } else { i.tasks_by_service.get(&view.service).copied().unwrap_or(0) }
}

/// Height of a task's card at the containers level.
pub fn card_h(task: &TaskNode) -> f64 {
    CARD_HEAD + CARD_LINE * task.containers.len().max(1) as f64 + 4.0
}

/// Where the `n`th shown task of a box is drawn: x, y, width, height.
pub fn task_rect(level: Level, p: &Placed, topology: &Topology, n: usize) -> (f64, f64, f64, f64) {
    match level {
        Level::Tiles => (p.x, p.y, p.w, p.h),
        Level::Tasks => (
            p.x + 10.0 + (n % CELLS_PER_ROW) as f64 * (CELL + CELL_GAP),
            p.y + HEADER_H + (n / CELLS_PER_ROW) as f64 * (CELL + CELL_GAP),
            CELL,
            CELL,
        ),
        Level::Containers => {
            let tasks = &topology.instances[p.instance].tasks;
            let above: f64 = p.tasks[..n].iter().map(|&t| card_h(&tasks[t]) + CELL_GAP).sum();
            (p.x + 8.0, p.y + HEADER_H + above, p.w - 16.0, card_h(&tasks[p.tasks[n]]))
        }
    }
}

/// Lays the picture out `width` user units wide (at least one instance per row).
pub fn layout(topology: &Topology, view: &View, level: Level, width: f64) -> Drawing {
    let mut by_group: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (n, i) in topology.instances.iter().enumerate() {
        let label = if view.group_by.is_empty() {
            "All instances".to_string()
        } else {
            i.attributes.get(&view.group_by).cloned().unwrap_or_else(|| format!("no {}", view.group_by))
        };
        by_group.entry(label).or_default().push(n);
    }
    let left = MARGIN + if view.trace.is_empty() { 0.0 } else { RAIL_W };
    let box_w = level.box_w();
    let width = width.max(left + MARGIN + 2.0 * GAP + box_w);
    let inner = width - left - MARGIN - 2.0 * GAP;
    let columns = (((inner + GAP) / (box_w + GAP)).floor() as usize).max(1);
    // Boxes widen (up to a third) to fill the row rather than leave a ragged margin.
    let box_w = ((inner + GAP) / columns as f64 - GAP).clamp(box_w, box_w * 4.0 / 3.0);
    let (mut groups, mut rows, mut placed) = (Vec::new(), Vec::new(), Vec::new());
    let mut y = MARGIN;
    for (label, mut members) in by_group {
        let instances = &topology.instances;
        members.sort_by(|&a, &b| instances[a].name.cmp(&instances[b].name).then(instances[a].id.cmp(&instances[b].id)));
        let mut row_y = y + GROUP_HEAD;
        for line in members.chunks(columns) {
            let start = placed.len();
            for (c, &n) in line.iter().enumerate() {
                let all: Vec<usize> = instances[n].tasks.iter().enumerate().filter(|(_, t)| shown(t, view)).map(|(k, _)| k).collect();
                let cap = match level {
                    Level::Tiles => 0,
                    Level::Tasks => CELLS_MAX,
                    Level::Containers => CARDS_MAX,
                };
                let more = all.len().saturating_sub(cap);
                let tasks: Vec<usize> = all.into_iter().take(cap).collect();
                let h = match level {
                    Level::Tiles => TILE_H,
                    Level::Tasks => HEADER_H + tasks.len().div_ceil(CELLS_PER_ROW) as f64 * (CELL + CELL_GAP) + 8.0 + if more > 0 { 14.0 } else { 0.0 },
                    Level::Containers => {
                        HEADER_H + tasks.iter().map(|&t| card_h(&instances[n].tasks[t]) + CELL_GAP).sum::<f64>() + 8.0 + if more > 0 { 14.0 } else { 0.0 }
                    }
                };
                placed.push(Placed { instance: n, x: left + GAP + c as f64 * (box_w + GAP), y: row_y, w: box_w, h, tasks, more });
            }
            // A row is as tall as its tallest box; every box in it takes that height.
            let h = placed[start..].iter().map(|p| p.h).fold(0.0, f64::max);
            for p in &mut placed[start..] {
                p.h = h;
            }
            rows.push(Row { y: row_y, h, items: start..placed.len() });
            row_y += h + GAP;
        }
        let h = row_y - y;
        groups.push(Group { label, x: left, y, w: width - left - MARGIN, h, summary: Summary::of(members.iter().map(|&n| &instances[n])) });
        y += h + GAP;
    }
    Drawing { level, palette: Palette::of(topology.services.iter().map(|s| s.service_name.as_str())), groups, rows, placed, width, height: y + MARGIN }
}

impl Drawing {
    /// Rows that meet the band from `top` to `bottom` (user units).
    pub fn rows_between(&self, top: f64, bottom: f64) -> Range<usize> {
        let first = self.rows.partition_point(|r| r.y + r.h < top);
        let end = self.rows.partition_point(|r| r.y <= bottom);
        first..end.max(first)
    }

    /// The centre of the first instance or task that `hit` accepts, for search.
    pub fn find(&self, topology: &Topology, hit: impl Fn(&str, &str) -> bool) -> Option<(f64, f64)> {
        for p in &self.placed {
            let i = &topology.instances[p.instance];
            if hit(&i.name, &i.id) {
                return Some((p.x + p.w / 2.0, p.y + p.h / 2.0));
            }
            if let Some(n) = p.tasks.iter().position(|&t| hit("", &i.tasks[t].id)).filter(|_| self.level != Level::Tiles) {
                let (x, y, w, h) = task_rect(self.level, p, topology, n);
                return Some((x + w / 2.0, y + h / 2.0));
            }
        }
        None
    }
}

/// Where a point of one drawing is in another, after a zoom that changed the level: the same
/// spot of the same instance, so the user stays where they were looking.
pub fn carry(from: &Drawing, to: &Drawing, (x, y): (f64, f64)) -> (f64, f64) {
    let distance = |p: &Placed| {
        let dx = (p.x - x).max(x - (p.x + p.w)).max(0.0);
        let dy = (p.y - y).max(y - (p.y + p.h)).max(0.0);
        dx * dx + dy * dy
    };
    let near = from.placed.iter().min_by(|a, b| distance(a).total_cmp(&distance(b)));
    if let Some((p, q)) = near.and_then(|p| Some((p, to.placed.iter().find(|q| q.instance == p.instance)?))) {
        let fx = ((x - p.x) / p.w).clamp(0.0, 1.0);
        let fy = ((y - p.y) / p.h).clamp(0.0, 1.0);
        return (q.x + fx * q.w, q.y + fy * q.h);
    }
    (x / from.width * to.width, y / from.height.max(1.0) * to.height)
}

const PALETTE: [&str; 10] = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759", "#9c755f", "#ff9da7", "#86bc86"];
const ONE_OFF: &str = "#8b96a5";

/// Colours of a cluster's services, given in name order so that up to ten services never
/// share one; a name it does not know gets one by hash.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Palette(BTreeMap<String, &'static str>);

impl Palette {
    pub fn of<'a>(services: impl IntoIterator<Item = &'a str>) -> Palette {
        let mut names: Vec<&str> = services.into_iter().filter(|s| !s.is_empty()).collect();
        names.sort_unstable();
        names.dedup();
        Palette(names.into_iter().enumerate().map(|(n, s)| (s.to_string(), PALETTE[n % PALETTE.len()])).collect())
    }

    pub fn colour(&self, service: Option<&str>) -> &'static str {
        match service {
            None | Some("") => ONE_OFF,
            Some(name) => self.0.get(name).copied().unwrap_or_else(|| {
                let hash = name.bytes().fold(2166136261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619));
                PALETTE[hash as usize % PALETTE.len()]
            }),
        }
    }
}

/// A fraction for a bar, 0 to 1.
pub fn fraction(part: i64, whole: i64) -> f64 {
    if whole <= 0 { 0.0 } else { (part as f64 / whole as f64).clamp(0.0, 1.0) }
}

/// Capacity heat of an instance, 0 (idle) to 4 (full): the fuller of CPU and memory reserved.
pub fn heat(i: &InstanceNode) -> usize {
    let f = fraction(i.cpu.reserved, i.cpu.registered).max(fraction(i.memory.reserved, i.memory.registered));
    ((f * 5.0).floor() as usize).min(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_core::topology::Capacity;
    use wharf_core::topology::Detail;

    fn task(id: &str, service: Option<&str>, status: &str) -> TaskNode {
        TaskNode {
            id: id.into(),
            group: service.map(|s| format!("service:{s}")),
            task_definition: "web:2".into(),
            last_status: status.into(),
            desired_status: "RUNNING".into(),
            cpu: 10,
            memory: 10,
            used_cpu: None,
            used_memory: None,
            containers: Vec::new(),
            requests: None,
        }
    }

    fn instance(name: &str, zone: &str, tasks: Vec<TaskNode>) -> InstanceNode {
        let mut by_service = BTreeMap::new();
        for t in &tasks {
            *by_service.entry(t.service().unwrap_or_default().to_string()).or_default() += 1;
        }
        InstanceNode {
            id: format!("id-{name}"),
            name: name.into(),
            status: "ACTIVE".into(),
            agent_connected: true,
            attributes: [("ecs.availability-zone".to_string(), zone.to_string())].into(),
            cpu: Capacity { registered: 100, reserved: 20, used: None },
            memory: Capacity { registered: 100, reserved: 20, used: None },
            running_tasks_count: tasks.iter().filter(|t| t.last_status == "RUNNING").count() as i64,
            pending_tasks_count: 0,
            tasks_by_service: by_service,
            tasks,
        }
    }

    pub fn topology(instances: Vec<InstanceNode>) -> Topology {
        let summary = Summary::of(&instances);
        Topology { cluster_name: "c".into(), detail: Detail::Containers, instances, services: Vec::new(), summary, partial: false }
    }

    #[test]
    fn instances_are_grouped_by_the_chosen_attribute_in_frames_that_do_not_overlap() {
        let t = topology(vec![
            instance("b1", "b", vec![task("t1", Some("web"), "RUNNING")]),
            instance("a2", "a", vec![]),
            instance("a1", "a", (0..30).map(|n| task(&format!("x{n}"), Some("api"), "RUNNING")).collect()),
        ]);
        let d = layout(&t, &View { group_by: "ecs.availability-zone".into(), ..View::default() }, Level::Tasks, WIDTH);
        let labels: Vec<&str> = d.groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["a", "b"]);
        let names: Vec<&str> = d.placed.iter().map(|p| t.instances[p.instance].name.as_str()).collect();
        assert_eq!(names, ["a1", "a2", "b1"], "sorted by name within a group");
        assert!(d.groups[0].y + d.groups[0].h <= d.groups[1].y, "frames stack without overlapping");
        // 30 tasks need 3 rows of 12: both boxes of the row get that height.
        let h = d.placed[0].h;
        assert_eq!(h, HEADER_H + 3.0 * (CELL + CELL_GAP) + 8.0);
        assert_eq!(d.placed[1].h, h);
        assert_eq!(d.groups[0].summary.instances, 2);
        assert_eq!(d.groups[0].summary.tasks_running, 30);
        assert!(d.height > d.groups[1].y + d.groups[1].h);
        for g in &d.groups {
            for p in d.placed.iter().filter(|p| p.y >= g.y && p.y < g.y + g.h) {
                assert!(p.x >= g.x && p.x + p.w <= g.x + g.w, "a box stays inside its frame");
                assert!(p.y + p.h <= g.y + g.h);
            }
        }
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.rows_between(0.0, d.rows[0].y + 1.0), 0..1);
        assert_eq!(d.rows_between(d.rows[1].y, d.height), 1..2);
        assert_eq!(d.rows_between(d.height + 10.0, d.height + 20.0), 2..2);
    }

    #[test]
    fn filters_keep_instances_but_hide_other_tasks_and_crowded_boxes_count_the_rest() {
        let mut tasks: Vec<TaskNode> = (0..100).map(|n| task(&format!("w{n}"), Some("web"), "RUNNING")).collect();
        tasks.push(task("j", None, "PENDING"));
        let t = topology(vec![instance("h", "a", tasks), instance("g", "a", vec![task("k", Some("api"), "RUNNING")])]);
        let web = layout(&t, &View { service: "web".into(), ..View::default() }, Level::Tasks, WIDTH);
        assert_eq!(web.placed.len(), 2, "instances without matching tasks stay drawn");
        let h = web.placed.iter().find(|p| t.instances[p.instance].name == "h").unwrap();
        assert_eq!((h.tasks.len(), h.more), (CELLS_MAX, 100 - CELLS_MAX));
        assert!(web.placed.iter().find(|p| t.instances[p.instance].name == "g").unwrap().tasks.is_empty());
        let pending = layout(&t, &View { status: "PENDING".into(), ..View::default() }, Level::Tasks, WIDTH);
        assert_eq!(pending.placed.iter().map(|p| p.tasks.len()).sum::<usize>(), 1);
        let mut asked = task("s", Some("web"), "RUNNING");
        asked.desired_status = "STOPPED".into();
        assert!(in_state(&asked, "STOPPING") && !in_state(&asked, "RUNNING"), "a task asked to stop counts as stopping");
        assert!(in_state(&task("p", None, "PROVISIONING"), "PENDING"), "every state before RUNNING is pending");
        let family = layout(&t, &View { family: "web".into(), ..View::default() }, Level::Tasks, WIDTH);
        assert_eq!(family.placed.iter().map(|p| p.tasks.len() + p.more).sum::<usize>(), 102);
        assert_eq!(web.groups[0].label, "All instances");
        assert_eq!(tile_count(&t.instances[0], &View { service: "web".into(), ..View::default() }), 100);
        assert_eq!(tile_count(&t.instances[0], &View::default()), 101);
    }

    #[test]
    fn levels_draw_tiles_boxes_or_cards_and_search_finds_what_is_drawn() {
        let many: Vec<InstanceNode> = (0..100).map(|n| instance(&format!("h{n:03}"), "a", vec![task(&format!("t{n}"), Some("web"), "RUNNING")])).collect();
        let t = topology(many);
        let tiles = layout(&t, &View::default(), Level::Tiles, WIDTH);
        assert!(tiles.placed.iter().all(|p| p.h == TILE_H && p.tasks.is_empty()));
        let per_row = tiles.rows[0].items.len();
        assert!(per_row >= 6, "tiles pack {per_row} to a row");
        assert_eq!(tiles.rows.len(), 100usize.div_ceil(per_row));
        let boxes = layout(&t, &View::default(), Level::Tasks, WIDTH);
        let narrow = layout(&t, &View::default(), Level::Tiles, 700.0);
        assert!(narrow.rows[0].items.len() < per_row && narrow.width == 700.0, "a narrower frame fits fewer to a row");
        assert_eq!(layout(&t, &View::default(), Level::Containers, 10.0).rows[0].items.len(), 1, "at least one to a row");
        assert!(boxes.height > tiles.height, "boxes take more room than tiles");
        let (x, y) = boxes.find(&t, |name, id| name == "h042" || id == "never").unwrap();
        let p = boxes.placed.iter().find(|p| t.instances[p.instance].name == "h042").unwrap();
        assert_eq!((x, y), (p.x + p.w / 2.0, p.y + p.h / 2.0));
        let (tx, ty) = boxes.find(&t, |_, id| id == "t7").unwrap();
        let p7 = boxes.placed.iter().find(|p| t.instances[p.instance].name == "h007").unwrap();
        assert_eq!((tx, ty), (p7.x + 10.0 + CELL / 2.0, p7.y + HEADER_H + CELL / 2.0));
        assert!(tiles.find(&t, |_, id| id == "t7").is_none(), "tiles draw no tasks to find");
        // Zooming from tiles to boxes keeps the same instance in view.
        let tile = tiles.placed.iter().find(|p| t.instances[p.instance].name == "h042").unwrap();
        assert_eq!(carry(&tiles, &boxes, (tile.x + tile.w / 2.0, tile.y + tile.h / 2.0)), (x, y));
        let traced = layout(&t, &View { trace: "web".into(), ..View::default() }, Level::Tasks, WIDTH);
        assert_eq!(traced.placed[0].x, boxes.placed[0].x + RAIL_W, "a traced service makes room for its rail");
        // Cards grow with their containers.
        let mut with = task("c", Some("web"), "RUNNING");
        with.containers = serde_json::from_str(r#"[{"name":"a","image":"i","lastStatus":"RUNNING"},{"name":"b","image":"i","lastStatus":"RUNNING"}]"#).unwrap();
        let t2 = topology(vec![instance("x", "a", vec![with, task("d", None, "RUNNING")])]);
        let cards = layout(&t2, &View::default(), Level::Containers, WIDTH);
        let p = &cards.placed[0];
        let (_, y0, _, h0) = task_rect(Level::Containers, p, &t2, 0);
        let (_, y1, _, _) = task_rect(Level::Containers, p, &t2, 1);
        assert_eq!(h0, CARD_HEAD + 2.0 * CARD_LINE + 4.0);
        assert_eq!(y1, y0 + h0 + CELL_GAP);
        assert!(y1 + card_h(&t2.instances[0].tasks[1]) <= p.y + p.h);
    }

    #[test]
    fn zooming_walks_the_ladder_across_levels() {
        assert_eq!(step(Level::Tiles, 1.25, 1), (Level::Tasks, 1.0));
        assert_eq!(step(Level::Tasks, 1.0, -1), (Level::Tiles, 1.25));
        assert_eq!(step(Level::Tasks, 1.5, 1), (Level::Containers, 1.0));
        assert_eq!(step(Level::Tiles, 0.5, -3), (Level::Tiles, 0.5), "the ladder ends");
        assert_eq!(step(Level::Tasks, 1.1, 0), (Level::Tasks, 1.0), "off the ladder snaps to the nearest stop");
        assert_eq!(step(Level::Tasks, 2.0, -1), (Level::Tasks, 1.25), "of the same level");
        let widths: Vec<f64> = STOPS.iter().map(|(l, z)| l.box_w() * z).collect();
        assert!(widths.windows(2).all(|w| w[0] < w[1]), "every stop draws instances larger than the one before: {widths:?}");
        assert_eq!(Level::default_for(3), Level::Tasks);
        assert_eq!(Level::default_for(2000), Level::Tiles);
        assert_eq!(Level::parse("containers"), Some(Level::Containers));
        assert_eq!(Level::most_for(Detail::Tasks), Level::Tasks);
    }

    #[test]
    fn services_get_distinct_colours_and_one_off_tasks_are_grey() {
        let names: Vec<String> = (0..10).map(|n| format!("svc{n}")).collect();
        let p = Palette::of(names.iter().map(String::as_str).rev());
        let mut colours: Vec<&str> = names.iter().map(|n| p.colour(Some(n))).collect();
        assert_eq!(colours[0], PALETTE[0], "in name order");
        colours.dedup();
        assert_eq!(colours.len(), 10, "ten services, ten colours");
        assert_eq!(p.colour(Some("other")), p.colour(Some("other")), "an unknown name is stable");
        assert_eq!(p.colour(None), ONE_OFF);
        assert_eq!(p.colour(Some("")), ONE_OFF);
        assert_eq!(fraction(5, 0), 0.0);
        assert_eq!(fraction(150, 100), 1.0);
        let mut i = instance("h", "a", vec![]);
        assert_eq!(heat(&i), 1);
        i.memory.reserved = 95;
        assert_eq!(heat(&i), 4);
    }
}
