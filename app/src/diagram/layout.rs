/*!
Where everything goes in the relationship diagram, worked out apart from drawing so it can be
tested: groups of instances (by zone or any attribute) as frames, instances as boxes in a grid
inside them, each box tall enough for its tasks. Units are SVG user units.
*/

use std::collections::BTreeMap;
use wharf_core::topology::{InstanceNode, Summary, TaskNode, Topology};

pub const WIDTH: f64 = 1200.0;
pub const MARGIN: f64 = 16.0;
pub const BOX_W: f64 = 220.0;
pub const GAP: f64 = 14.0;
/// Name, status line and the two capacity bars.
pub const HEADER_H: f64 = 78.0;
pub const CELL: f64 = 14.0;
pub const CELL_GAP: f64 = 3.0;
pub const CELLS_PER_ROW: usize = 12;
/// More tasks than this in one box are drawn as a count.
pub const CELLS_MAX: usize = 96;
pub const GROUP_HEAD: f64 = 34.0;

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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Placed<'a> {
    pub instance: &'a InstanceNode,
    pub x: f64,
    pub y: f64,
    pub h: f64,
    /// The tasks shown (after filters), at most [`CELLS_MAX`].
    pub tasks: Vec<&'a TaskNode>,
    /// Tasks that pass the filters but did not fit.
    pub more: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group<'a> {
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub summary: Summary,
    pub instances: Vec<Placed<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Drawing<'a> {
    pub groups: Vec<Group<'a>>,
    pub width: f64,
    pub height: f64,
}

pub fn shown(task: &TaskNode, view: &View) -> bool {
    (view.service.is_empty() || task.service() == Some(view.service.as_str()))
        && (view.status.is_empty() || task.last_status == view.status)
        && (view.family.is_empty() || task.task_definition.rsplit_once(':').map_or(task.task_definition.as_str(), |(f, _)| f) == view.family)
}

pub fn layout<'a>(topology: &'a Topology, view: &View) -> Drawing<'a> {
    let mut by_group: BTreeMap<String, Vec<&InstanceNode>> = BTreeMap::new();
    for i in &topology.instances {
        let label = if view.group_by.is_empty() {
            "All instances".to_string()
        } else {
            i.attributes.get(&view.group_by).cloned().unwrap_or_else(|| format!("no {}", view.group_by))
        };
        by_group.entry(label).or_default().push(i);
    }
    let columns = (((WIDTH - 2.0 * MARGIN - GAP) / (BOX_W + GAP)).floor() as usize).max(1);
    let mut groups = Vec::new();
    let mut y = MARGIN;
    for (label, mut members) in by_group {
        members.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        let mut placed = Vec::with_capacity(members.len());
        let mut row_y = y + GROUP_HEAD;
        for row in members.chunks(columns) {
            let tasks_of = |i: &'a InstanceNode| -> Vec<&'a TaskNode> { i.tasks.iter().filter(|t| shown(t, view)).collect() };
            let rows_needed = row.iter().map(|i| tasks_of(i).len().min(CELLS_MAX).div_ceil(CELLS_PER_ROW)).max().unwrap_or(0);
            let h = HEADER_H + rows_needed as f64 * (CELL + CELL_GAP) + 8.0;
            for (c, instance) in row.iter().enumerate() {
                let all = tasks_of(instance);
                let more = all.len().saturating_sub(CELLS_MAX);
                let tasks = all.into_iter().take(CELLS_MAX).collect();
                placed.push(Placed { instance, x: MARGIN + GAP + c as f64 * (BOX_W + GAP), y: row_y, h, tasks, more });
            }
            row_y += h + GAP;
        }
        let h = row_y - y;
        groups.push(Group { label, x: MARGIN, y, w: WIDTH - 2.0 * MARGIN, h, summary: Summary::of(members.iter().copied()), instances: placed });
        y += h + GAP;
    }
    Drawing { groups, width: WIDTH, height: y + MARGIN }
}

/// A colour per service, stable for a name, from a palette that reads on light and dark.
pub fn service_colour(service: Option<&str>) -> &'static str {
    const PALETTE: [&str; 10] = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759", "#9c755f", "#ff9da7", "#86bc86"];
    match service {
        None => "#8b96a5",
        Some(name) => {
            let hash = name.bytes().fold(2166136261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619));
            PALETTE[hash as usize % PALETTE.len()]
        }
    }
}

/// A fraction for a bar, 0 to 1.
pub fn fraction(part: i64, whole: i64) -> f64 {
    if whole <= 0 { 0.0 } else { (part as f64 / whole as f64).clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_core::topology::Capacity;

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
        }
    }

    fn instance(name: &str, zone: &str, tasks: Vec<TaskNode>) -> InstanceNode {
        InstanceNode {
            id: format!("id-{name}"),
            name: name.into(),
            status: "ACTIVE".into(),
            agent_connected: true,
            attributes: [("ecs.availability-zone".to_string(), zone.to_string())].into(),
            cpu: Capacity { registered: 100, reserved: 20, used: None },
            memory: Capacity { registered: 100, reserved: 20, used: None },
            tasks,
        }
    }

    fn topology(instances: Vec<InstanceNode>) -> Topology {
        let summary = Summary::of(&instances);
        Topology { cluster_name: "c".into(), instances, services: Vec::new(), summary }
    }

    #[test]
    fn instances_are_grouped_by_the_chosen_attribute_in_frames_that_do_not_overlap() {
        let t = topology(vec![
            instance("b1", "b", vec![task("t1", Some("web"), "RUNNING")]),
            instance("a2", "a", vec![]),
            instance("a1", "a", (0..30).map(|n| task(&format!("x{n}"), Some("api"), "RUNNING")).collect()),
        ]);
        let d = layout(&t, &View { group_by: "ecs.availability-zone".into(), ..View::default() });
        let labels: Vec<&str> = d.groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["a", "b"]);
        let names: Vec<&str> = d.groups[0].instances.iter().map(|p| p.instance.name.as_str()).collect();
        assert_eq!(names, ["a1", "a2"], "sorted by name within a group");
        assert!(d.groups[0].y + d.groups[0].h <= d.groups[1].y, "frames stack without overlapping");
        // 30 tasks need 3 rows of 12: both boxes of the row get that height.
        let h = d.groups[0].instances[0].h;
        assert_eq!(h, HEADER_H + 3.0 * (CELL + CELL_GAP) + 8.0);
        assert_eq!(d.groups[0].instances[1].h, h);
        assert_eq!(d.groups[0].summary.instances, 2);
        assert!(d.height > d.groups[1].y + d.groups[1].h);
        for g in &d.groups {
            for p in &g.instances {
                assert!(p.x >= g.x && p.x + BOX_W <= g.x + g.w, "a box stays inside its frame");
                assert!(p.y >= g.y && p.y + p.h <= g.y + g.h);
            }
        }
    }

    #[test]
    fn filters_keep_instances_but_hide_other_tasks_and_crowded_boxes_count_the_rest() {
        let mut tasks: Vec<TaskNode> = (0..100).map(|n| task(&format!("w{n}"), Some("web"), "RUNNING")).collect();
        tasks.push(task("j", None, "PENDING"));
        let t = topology(vec![instance("h", "a", tasks), instance("g", "a", vec![task("k", Some("api"), "RUNNING")])]);
        let web = layout(&t, &View { service: "web".into(), ..View::default() });
        let placed = &web.groups[0].instances;
        assert_eq!(placed.len(), 2, "instances without matching tasks stay drawn");
        let h = placed.iter().find(|p| p.instance.name == "h").unwrap();
        assert_eq!((h.tasks.len(), h.more), (CELLS_MAX, 100 - CELLS_MAX));
        assert!(placed.iter().find(|p| p.instance.name == "g").unwrap().tasks.is_empty());
        let pending = layout(&t, &View { status: "PENDING".into(), ..View::default() });
        assert_eq!(pending.groups[0].instances.iter().map(|p| p.tasks.len()).sum::<usize>(), 1);
        let family = layout(&t, &View { family: "web".into(), ..View::default() });
        assert_eq!(family.groups[0].instances.iter().map(|p| p.tasks.len() + p.more).sum::<usize>(), 102);
        assert_eq!(web.groups[0].label, "All instances");
    }

    #[test]
    fn service_colours_are_stable_and_one_off_tasks_are_grey() {
        assert_eq!(service_colour(Some("web")), service_colour(Some("web")));
        assert_eq!(service_colour(None), "#8b96a5");
        assert_eq!(fraction(5, 0), 0.0);
        assert_eq!(fraction(150, 100), 1.0);
    }
}
