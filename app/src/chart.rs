/*!
A small time chart drawn as inline SVG: lines on a left axis (counts) and a right axis (a
metric), with marks for events (scaling decisions). No chart library: the portal's bundle
stays small, and the server renders the same picture the browser hydrates. Times are shown in
UTC so both render the same text.
*/

use leptos::prelude::*;

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
#[derive(Clone, Debug)]
pub struct Mark {
    pub at: i64,
    pub label: String,
    /// `out`, `in` or `held`: how it is drawn.
    pub kind: &'static str,
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

#[component]
pub fn TimeChart(
    id: &'static str,
    /// What the picture says, for screen readers.
    summary: String,
    from: i64,
    to: i64,
    series: Vec<Series>,
    #[prop(optional)] marks: Vec<Mark>,
    #[prop(optional)] right_unit: &'static str,
    /// The right axis' least top (100 for percents).
    #[prop(optional)] right_floor: f64,
) -> impl IntoView {
    let span = (to - from).max(1) as f64;
    let x = move |t: i64| LEFT + (t - from) as f64 / span * (RIGHT - LEFT);
    let top_of = |axis: Axis, floor: f64| {
        let peak = series.iter().filter(|s| s.axis == axis).flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
        nice(peak.max(floor))
    };
    let (left_top, right_top) = (top_of(Axis::Left, 1.0), top_of(Axis::Right, right_floor));
    let y = move |axis: Axis, v: f64| {
        let top = if axis == Axis::Left { left_top } else { right_top };
        BOTTOM - (v / top).clamp(0.0, 1.0) * (BOTTOM - TOP)
    };
    let has_right = series.iter().any(|s| s.axis == Axis::Right);
    let lines = series
        .iter()
        .map(|s| {
            let points = s.points.iter().filter(|p| p.0 >= from && p.0 <= to).map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(s.axis, v))).collect::<Vec<_>>().join(" ");
            view! { <polyline class=format!("line {}", s.class) points=points data-series=s.name.clone()/> }
        })
        .collect_view();
    let ticks = [0.0, 0.5, 1.0]
        .into_iter()
        .map(|f| {
            let gy = BOTTOM - f * (BOTTOM - TOP);
            view! {
                <line class="grid" x1=LEFT y1=gy x2=RIGHT y2=gy/>
                <text class="tick" x=LEFT - 6.0 y=gy + 4.0 text-anchor="end">{label(left_top * f)}</text>
                {has_right.then(|| view! { <text class="tick" x=RIGHT + 6.0 y=gy + 4.0>{format!("{}{right_unit}", label(right_top * f))}</text> })}
            }
        })
        .collect_view();
    let marks = marks
        .into_iter()
        .filter(|m| m.at >= from && m.at <= to)
        .map(|m| {
            let mx = x(m.at);
            view! {
                <g class=format!("mark mark-{}", m.kind) data-at=m.at.to_string()>
                    <title>{m.label.clone()}</title>
                    <line x1=mx y1=TOP x2=mx y2=BOTTOM/>
                    <circle cx=mx cy=TOP + 4.0 r="4"/>
                </g>
            }
        })
        .collect_view();
    let legend = series.iter().map(|s| view! { <span class="legend-item"><span class=format!("swatch {}", s.class)></span>{s.name.clone()}</span> }).collect_view();
    view! {
        <figure class="chart" id=id>
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=summary>
                {ticks}
                <text class="tick" x=LEFT y=BOTTOM + 18.0>{format!("{} UTC", clock(from))}</text>
                <text class="tick" x=RIGHT y=BOTTOM + 18.0 text-anchor="end">{format!("{} UTC", clock(to))}</text>
                {lines}
                {marks}
            </svg>
            <figcaption class="legend">{legend}</figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!([0.0, 0.7, 3.0, 7.0, 64.0, 101.0].map(super::nice), [1.0, 1.0, 5.0, 10.0, 100.0, 200.0]);
        assert_eq!(super::clock(1_764_860_400 + 3 * 3600 + 7 * 60), "18:07");
    }
}
