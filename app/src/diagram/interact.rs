//! Moving around the picture: dragging and the wheel pan, Ctrl+wheel and `+ - 0` walk the zoom
//! ladder keeping the same spot in view, click and Enter open what was hit, search centres its
//! match; and the SVG and PNG downloads.

use super::layout::{Drawing, Level};
use super::{SetState, State};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use std::sync::Arc;
use wharf_core::topology::Topology;

#[derive(Clone)]
pub struct Pan {
    frame: NodeRef<leptos::html::Div>,
    band: RwSignal<(f64, f64)>,
    /// The frame's width in pixels: the picture fits it.
    frame_px: RwSignal<f64>,
    zoom: Memo<f64>,
    level: Memo<Level>,
    set_state: SetState,
    /// Where a drag started: pointer and scroll position.
    drag: StoredValue<Option<(i32, i32, i32, i32)>>,
    /// A drag moved, so the click that ends it opens nothing.
    dragged: StoredValue<bool>,
    last_wheel: StoredValue<f64>,
    /// The frame's centre in user units, to keep across zooms.
    centre: StoredValue<(f64, f64)>,
}

impl Pan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        frame: NodeRef<leptos::html::Div>,
        band: RwSignal<(f64, f64)>,
        frame_px: RwSignal<f64>,
        data: RwSignal<Arc<Topology>>,
        drawing: Memo<Arc<Drawing>>,
        zoom: Memo<f64>,
        search: Memo<String>,
        set_state: SetState,
        level: Memo<Level>,
    ) -> Pan {
        let pan = Pan {
            frame,
            band,
            frame_px,
            zoom,
            level,
            set_state,
            drag: StoredValue::new(None),
            dragged: StoredValue::new(false),
            last_wheel: StoredValue::new(0.0),
            centre: StoredValue::new((0.0, 0.0)),
        };
        #[cfg(feature = "hydrate")]
        {
            use super::layout::carry;
            use super::svg;
            let me = pan.clone();
            Effect::new(move |_| {
                let me = me.clone();
                request_animation_frame(move || me.measure());
            });
            let me = pan.clone();
            let resized = window_event_listener(leptos::ev::resize, move |_| me.measure());
            on_cleanup(move || resized.remove());
            let me = pan.clone();
            Effect::new(move |prev: Option<(Arc<Drawing>, f64)>| {
                let (d, z) = (drawing.get(), zoom.get());
                if let Some((before, _)) = prev.filter(|(before, z0)| before.level != d.level || (z0 - z).abs() > 1e-9) {
                    let (x, y) = carry(&before, &d, me.centre.get_value());
                    let me = me.clone();
                    request_animation_frame(move || me.centre_on(x, y));
                }
                (d, z)
            });
            // Centre the first match when the search changes. Tiles draw no tasks: a search that
            // finds nothing there (a task id) zooms in to the tasks and looks again once drawn.
            let me = pan.clone();
            Effect::new(move |prev: Option<(String, Level, bool)>| {
                let (q, level) = (search.get(), drawing.with(|d| d.level));
                let retry = prev.as_ref().is_some_and(|(pq, pl, found)| *pq == q && *pl != level && !found);
                let fresh = prev.as_ref().is_none_or(|(pq, ..)| *pq != q);
                if q.is_empty() || !(fresh || retry) {
                    let found = prev.as_ref().is_none_or(|p| p.2);
                    return (q, level, found);
                }
                let hit = data.with_untracked(|t| drawing.with_untracked(|d| d.find(t, |name, id| svg::matches(&q, name, id))));
                match hit {
                    Some((x, y)) => {
                        let me = me.clone();
                        request_animation_frame(move || me.centre_on(x, y));
                    }
                    None if level == Level::Tiles => me.set_state.update(&|st: &mut State| {
                        st.level = Some(Level::Tasks);
                        st.zoom = 1.0;
                    }),
                    None => {}
                }
                (q, level, hit.is_some())
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (data, drawing, search);
        pan
    }

    /// Which band of the picture is on screen (one screen either side is drawn too).
    fn measure(&self) {
        let Some(f) = self.frame.get_untracked() else { return };
        let z = self.zoom.get_untracked();
        let (top, h) = (f64::from(f.scroll_top()), f64::from(f.client_height()));
        let (left, w) = (f64::from(f.scroll_left()), f64::from(f.client_width()));
        self.band.set(((top - h) / z, (top + 2.0 * h) / z));
        if (w - self.frame_px.get_untracked()).abs() > 1.0 && w > 0.0 {
            self.frame_px.set(w);
        }
        self.centre.set_value(((left + w / 2.0) / z, (top + h / 2.0) / z));
    }

    #[cfg(feature = "hydrate")]
    fn centre_on(&self, x: f64, y: f64) {
        let Some(f) = self.frame.get_untracked() else { return };
        let z = self.zoom.get_untracked();
        f.set_scroll_left((x * z - f64::from(f.client_width()) / 2.0).max(0.0) as i32);
        f.set_scroll_top((y * z - f64::from(f.client_height()) / 2.0).max(0.0) as i32);
        self.measure();
    }

    pub fn on_scroll(&self) -> impl Fn(leptos::ev::Event) + Clone + 'static {
        let me = self.clone();
        move |_| me.measure()
    }

    pub fn on_key(&self) -> impl Fn(leptos::ev::KeyboardEvent) + Clone + 'static {
        let me = self.clone();
        let navigate = use_navigate();
        move |ev| {
            if ev.key() == "Enter" {
                if let Some(href) = href_of(ev.target()) {
                    navigate(&href, Default::default());
                }
                return;
            }
            let steps = match ev.key().as_str() {
                "+" | "=" => 1,
                "-" | "_" => -1,
                "0" => 0,
                _ => return,
            };
            ev.prevent_default();
            if steps == 0 {
                me.set_state.update(&|st: &mut State| {
                    st.level = None;
                    st.zoom = 1.0;
                });
            } else {
                me.set_state.zoom_by(me.level.get_untracked(), steps);
            }
        }
    }

    pub fn on_wheel(&self) -> impl Fn(leptos::ev::WheelEvent) + Clone + 'static {
        let me = self.clone();
        move |ev| {
            if !(ev.ctrl_key() || ev.meta_key()) {
                return;
            }
            ev.prevent_default();
            // A trackpad sends a stream of small steps; one zoom step per 150 ms.
            let now = ev.time_stamp();
            if now - me.last_wheel.get_value() < 150.0 || ev.delta_y() == 0.0 {
                return;
            }
            me.last_wheel.set_value(now);
            me.set_state.zoom_by(me.level.get_untracked(), if ev.delta_y() < 0.0 { 1 } else { -1 });
        }
    }

    pub fn on_down(&self) -> impl Fn(leptos::ev::MouseEvent) + Clone + 'static {
        let me = self.clone();
        move |ev| {
            let Some(f) = me.frame.get_untracked() else { return };
            if ev.button() == 0 {
                me.drag.set_value(Some((ev.client_x(), ev.client_y(), f.scroll_left(), f.scroll_top())));
                me.dragged.set_value(false);
            }
        }
    }

    pub fn on_move(&self) -> impl Fn(leptos::ev::MouseEvent) + Clone + 'static {
        let me = self.clone();
        move |ev| {
            let (Some((x, y, left, top)), Some(f)) = (me.drag.get_value(), me.frame.get_untracked()) else { return };
            let (dx, dy) = (ev.client_x() - x, ev.client_y() - y);
            if dx.abs() + dy.abs() > 4 {
                me.dragged.set_value(true);
            }
            if me.dragged.get_value() {
                ev.prevent_default();
                f.set_scroll_left(left - dx);
                f.set_scroll_top(top - dy);
            }
        }
    }

    pub fn on_up(&self) -> impl Fn(leptos::ev::MouseEvent) + Clone + 'static {
        let me = self.clone();
        move |_| me.drag.set_value(None)
    }

    pub fn on_click(&self) -> impl Fn(leptos::ev::MouseEvent) + Clone + 'static {
        let me = self.clone();
        let navigate = use_navigate();
        move |ev| {
            if me.dragged.get_value() {
                me.dragged.set_value(false);
                return;
            }
            if let Some(href) = href_of(ev.target()) {
                navigate(&href, Default::default());
            }
        }
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

/// Saves `markup` as an SVG file, or draws it on a canvas and saves that as a PNG (at twice the
/// size where the browser's canvas limits allow, for sharp text).
#[cfg(feature = "hydrate")]
pub fn download(kind: &str, file_name: &str, markup: String, width: f64, height: f64) {
    use wasm_bindgen::{JsCast, JsValue};
    let save = |href: &str, name: &str| {
        let Ok(link) = document().create_element("a") else { return };
        let _ = link.set_attribute("href", href);
        let _ = link.set_attribute("download", name);
        if let Ok(link) = link.dyn_into::<web_sys::HtmlElement>() {
            link.click();
        }
    };
    let markup = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{markup}");
    if kind == "svg" {
        save(&format!("data:image/svg+xml;charset=utf-8,{}", js_sys::encode_uri_component(&markup)), file_name);
        return;
    }
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("image/svg+xml");
    let parts = js_sys::Array::of1(&JsValue::from_str(&markup));
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    let Ok(image) = web_sys::HtmlImageElement::new() else { return };
    let scale = 2f64.min((16_000_000.0 / (width * height)).sqrt()).min(16_000.0 / width.max(height));
    let name = file_name.to_string();
    let drawn = image.clone();
    let src = url.clone();
    let onload = wasm_bindgen::closure::Closure::once_into_js(move || {
        let canvas = document().create_element("canvas").ok().and_then(|c| c.dyn_into::<web_sys::HtmlCanvasElement>().ok());
        if let Some(canvas) = canvas {
            canvas.set_width((width * scale).round() as u32);
            canvas.set_height((height * scale).round() as u32);
            let context = canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok());
            if let Some(context) = context {
                let _ = context.scale(scale, scale);
                let _ = context.draw_image_with_html_image_element(&drawn, 0.0, 0.0);
                if let Ok(data) = canvas.to_data_url_with_type("image/png") {
                    save(&data, &name);
                }
            }
        }
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    image.set_onload(Some(onload.unchecked_ref()));
    image.set_src(&src);
}
