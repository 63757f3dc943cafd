/*!
Time charts drawn on the server as SVG markup: lines on a left axis (counts) and a right axis
(a metric), with marks for events (scaling decisions), and a legend. No chart library, and no
chart code in the browser: a page is sent the picture, not the samples, and places it as is
(the portal's bundle stays small). Times are shown in UTC.
*/

use wharf_core::instance::ContainerInstance;
use wharf_core::scaling::{InstanceMetrics, MetricSample, ScalingActivity, ServiceMetrics};

/// Which axis a series is read against.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Axis {
    Left,
    Right,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    /// A CSS class giving its colour (`series-1` …).
    pub class: &'static str,
    pub axis: Axis,
    /// (unix seconds, value), oldest first.
    pub points: Vec<(i64, f64)>,
}

/// A moment marked on the chart, with what happened then.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub at: i64,
    pub label: String,
    /// `out`, `in`, `held` or `bounds`: how it is drawn.
    pub kind: String,
}

const W: f64 = 720.0;
const H: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 676.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 170.0;

/// A round number at or above `v`: 1, 2 or 5 times a power of ten.
fn nice(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|c| *c >= v).unwrap_or(10.0 * power)
}

fn clock(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{:02}:{:02}", s / 3600, s % 3600 / 60)
}

fn label(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// Text for SVG and HTML: the labels carry names and reasons from the server.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The chart's markup. Drawn as text rather than a view tree: a chart is hundreds of nodes
/// that never change apart from each other, and a tree of typed views costs the bundle far more.
pub fn markup(summary: &str, from: i64, to: i64, series: &[Series], marks: &[Mark], right_unit: &str, right_floor: f64) -> String {
    use std::fmt::Write;
    let span = (to - from).max(1) as f64;
    let x = |t: i64| LEFT + (t - from) as f64 / span * (RIGHT - LEFT);
    let top_of = |axis: Axis, floor: f64| {
        let peak = series.iter().filter(|s| s.axis == axis).flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
        nice(peak.max(floor))
    };
    let (left_top, right_top) = (top_of(Axis::Left, 1.0), top_of(Axis::Right, right_floor));
    let y = |axis: Axis, v: f64| {
        let top = if axis == Axis::Left { left_top } else { right_top };
        BOTTOM - (v / top).clamp(0.0, 1.0) * (BOTTOM - TOP)
    };
    let has_right = series.iter().any(|s| s.axis == Axis::Right);
    let has_left = series.iter().any(|s| s.axis == Axis::Left);
    let mut out = format!(r#"<svg viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#, escape(summary));
    for f in [0.0, 0.5, 1.0] {
        let gy = BOTTOM - f * (BOTTOM - TOP);
        let _ = write!(out, r#"<line class="grid" x1="{LEFT}" y1="{gy}" x2="{RIGHT}" y2="{gy}"/>"#);
        if has_left {
            let _ = write!(out, r#"<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#, LEFT - 6.0, gy + 4.0, label(left_top * f));
        }
        if has_right {
            let _ = write!(out, r#"<text class="tick" x="{}" y="{}">{}{}</text>"#, RIGHT + 6.0, gy + 4.0, label(right_top * f), escape(right_unit));
        }
    }
    let _ = write!(out, r#"<text class="tick" x="{LEFT}" y="{}">{} UTC</text><text class="tick" x="{RIGHT}" y="{}" text-anchor="end">{} UTC</text>"#, BOTTOM + 18.0, clock(from), BOTTOM + 18.0, clock(to));
    for s in series {
        let points: Vec<String> = s.points.iter().filter(|p| p.0 >= from && p.0 <= to).map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(s.axis, v))).collect();
        let _ = write!(out, r#"<polyline class="line {}" data-series="{}" points="{}"/>"#, s.class, escape(&s.name), points.join(" "));
    }
    for m in marks.iter().filter(|m| m.at >= from && m.at <= to) {
        let mx = x(m.at);
        let _ = write!(
            out,
            r#"<g class="mark mark-{}" data-at="{}"><title>{}</title><line x1="{mx:.1}" y1="{TOP}" x2="{mx:.1}" y2="{BOTTOM}"/><circle cx="{mx:.1}" cy="{}" r="4"/></g>"#,
            escape(&m.kind),
            m.at,
            escape(&m.label),
            TOP + 4.0
        );
    }
    out.push_str("</svg><figcaption class=\"legend\">");
    for s in series {
        let _ = write!(out, r#"<span class="legend-item"><span class="swatch {}"></span>{}</span>"#, s.class, escape(&s.name));
    }
    out.push_str("</figcaption>");
    out
}

fn figure(id: &str, inner: String) -> String {
    format!(r#"<figure class="chart" id="{id}">{inner}</figure>"#)
}

/// How far back the charts look, in seconds.
const SPAN: i64 = 3600;

/// Where a chart ending at `last` starts: an hour back, or the first sample when the history
/// is shorter (a new service's minute fills the width), and at least a minute back.
fn since(first: Option<i64>, last: i64) -> i64 {
    first.unwrap_or(last).max(last - SPAN).min(last - 60)
}

fn mark_of(a: &ScalingActivity) -> Option<Mark> {
    let at = chrono::DateTime::parse_from_rfc3339(&a.start_time).ok()?.timestamp();
    let kind = match (a.status_code.as_str(), a.to_count.cmp(&a.from_count)) {
        ("Successful", std::cmp::Ordering::Greater) => "out",
        ("Successful", std::cmp::Ordering::Less) => "in",
        ("Successful", _) => "bounds",
        _ => "held",
    };
    let time = a.start_time.get(..16).unwrap_or_default().replace('T', " ");
    Some(Mark { at, label: format!("{time} UTC {}: {}", a.description, a.cause), kind: kind.into() })
}

/// A service's desired and running tasks against its CPU and memory, decisions marked; and
/// its requests per target when it has any. None before the first sample.
pub fn service_load(m: &ServiceMetrics) -> Option<String> {
    let last = m.samples.last()?;
    let (from, to) = (since(m.samples.first().map(|s| s.at), last.at), last.at);
    let pick = |f: fn(&MetricSample) -> Option<f64>| m.samples.iter().filter_map(|s| Some((s.at, f(s)?))).collect::<Vec<_>>();
    let counts = |f: fn(&MetricSample) -> i64| m.samples.iter().map(|s| (s.at, f(s) as f64)).collect::<Vec<_>>();
    let mut series = vec![
        Series { name: "desired tasks".into(), class: "series-1", axis: Axis::Left, points: counts(|s| s.desired) },
        Series { name: "running tasks".into(), class: "series-2", axis: Axis::Left, points: counts(|s| s.running) },
        Series { name: "CPU % (average)".into(), class: "series-3", axis: Axis::Right, points: pick(|s| s.cpu_average) },
        Series { name: "memory % (average)".into(), class: "series-4", axis: Axis::Right, points: pick(|s| s.memory_average) },
    ];
    series.retain(|s| !s.points.is_empty());
    let percent = |v: Option<f64>| v.map_or("unknown".into(), |c| format!("{c:.0} %"));
    let summary = format!("Desired {} and running {} tasks; CPU {}; memory {}", last.desired, last.running, percent(last.cpu_average), percent(last.memory_average));
    let marks: Vec<Mark> = m.scaling_activities.iter().filter_map(mark_of).collect();
    let mut out = figure("load-chart", markup(&summary, from, to, &series, &marks, " %", 100.0));
    let requests = pick(|s| s.requests_per_target);
    if !requests.is_empty() {
        let series = [Series { name: "requests per target".into(), class: "series-5", axis: Axis::Left, points: requests }];
        out.push_str("<h3>Requests per target (last minute)</h3>");
        out.push_str(&figure("requests-chart", markup("Requests per target per minute", from, to, &series, &marks, "", 0.0)));
    }
    Some(out)
}

/// A host's CPU and memory use against what it registered. None before the first sample.
pub fn instance_usage(instance: &ContainerInstance, m: &InstanceMetrics) -> Option<String> {
    let last = m.samples.last()?;
    let registered = |name: &str| instance.registered_resources.iter().find(|r| r.name == name).and_then(|r| r.integer_value).unwrap_or(0);
    let (cpu, memory) = (registered("CPU"), registered("MEMORY"));
    let percent = |used: i64, of: i64| if of > 0 { used as f64 * 100.0 / of as f64 } else { 0.0 };
    let series = [
        Series { name: "CPU % of registered".into(), class: "series-3", axis: Axis::Right, points: m.samples.iter().map(|s| (s.at, percent(s.cpu, cpu))).collect() },
        Series { name: "memory % of registered".into(), class: "series-4", axis: Axis::Right, points: m.samples.iter().map(|s| (s.at, percent(s.memory, memory))).collect() },
    ];
    let summary = format!("CPU {:.0} %, memory {:.0} % of what the instance registered", percent(last.cpu, cpu), percent(last.memory, memory));
    Some(figure("usage-chart", markup(&summary, since(m.samples.first().map(|s| s.at), last.at), last.at, &series, &[], " %", 100.0)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_cannot_break_out_of_the_picture() {
        use super::*;
        let marks = [Mark { at: 5, label: "</title><script>x</script>".into(), kind: "out".into() }];
        let series = [Series { name: "a\"b".into(), class: "series-1", axis: Axis::Left, points: vec![(0, 1.0), (10, 2.0)] }];
        let svg = markup("s", 0, 10, &series, &marks, " %", 0.0);
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;") && svg.contains(r#"data-series="a&quot;b""#), "{svg}");
        assert!(svg.contains(r#"points="44.0,90.0 676.0,10.0""#), "{svg}");
        assert!(svg.contains(r#"text-anchor="end">2</text>"#) && !svg.contains("100 %"), "a left axis only: {svg}");
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!([0.0, 0.7, 3.0, 7.0, 64.0, 101.0].map(super::nice), [1.0, 1.0, 5.0, 10.0, 100.0, 200.0]);
        assert_eq!(super::clock(1_764_860_400 + 3 * 3600 + 7 * 60), "18:07");
    }
}
