/*!
Live updates: pages follow the server's feed of changes (`/api/v1/events`, Server-Sent
Events) and re-read what they show when something changed, instead of polling. The browser's
EventSource reconnects by itself and sends `Last-Event-ID`, so a page that lost the stream
catches up; while it is away the page says so.
*/

use leptos::prelude::*;

/// What a page follows: a counter that moves when its data may have changed, and whether the
/// feed is connected.
#[derive(Clone, Copy)]
pub struct Live {
    pub version: ReadSignal<u64>,
    pub online: ReadSignal<bool>,
}

/// Bumps at most this often, however many changes arrive (a burst of task reports becomes a
/// few re-reads, not thousands).
#[cfg(feature = "hydrate")]
const SETTLE_MS: i32 = 400;

/// Follows the feed for one cluster (or every cluster when `cluster` is empty).
pub fn use_live(cluster: impl Fn() -> String + Send + Sync + 'static) -> Live {
    use_live_where(cluster, |_, _| true)
}

/// Follows the feed, moving only for the events `keep` accepts (by event name and data), for
/// pages about one object that should not re-read on every change of the cluster. `reset` and
/// reconnects always count.
pub fn use_live_where(
    cluster: impl Fn() -> String + Send + Sync + 'static,
    keep: impl Fn(&str, &serde_json::Value) -> bool + Send + Sync + 'static,
) -> Live {
    let (version, set_version) = signal(0u64);
    let (online, set_online) = signal(true);
    #[cfg(feature = "hydrate")]
    {
        let keep = std::sync::Arc::new(keep);
        Effect::new(move |_| follow(cluster(), keep.clone(), set_version, set_online));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (cluster, keep, set_version, set_online);
    Live { version, online }
}

/// Whether an event (by name and data) concerns the page.
#[cfg(feature = "hydrate")]
type Keep = dyn Fn(&str, &serde_json::Value) -> bool + Send + Sync;

#[cfg(feature = "hydrate")]
fn follow(
    cluster: String,
    keep: std::sync::Arc<Keep>,
    set_version: WriteSignal<u64>,
    set_online: WriteSignal<bool>,
) {
    use std::cell::Cell;
    use std::rc::Rc;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    let url = if cluster.is_empty() { "/api/v1/events".to_string() } else { format!("/api/v1/events?cluster={cluster}") };
    let Ok(source) = web_sys::EventSource::new(&url) else {
        set_online.set(false);
        return;
    };
    // One re-read per settle period: the first change schedules it, later ones ride along.
    let scheduled = Rc::new(Cell::new(false));
    let changed = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
        set_online.set(true);
        let kind = ev.type_();
        let data: serde_json::Value = ev.data().as_string().and_then(|d| serde_json::from_str(&d).ok()).unwrap_or_default();
        if kind != "reset" && !keep(&kind, &data) {
            return;
        }
        if scheduled.replace(true) {
            return;
        }
        let scheduled = scheduled.clone();
        let bump = Closure::once_into_js(move || {
            scheduled.set(false);
            set_version.update(|v| *v += 1);
        });
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(bump.unchecked_ref(), SETTLE_MS);
    });
    for name in ["task", "tasks", "instance", "service", "cluster", "taskDefinition", "targetHealth", "loadBalancing", "reset"] {
        let _ = source.add_event_listener_with_callback(name, changed.as_ref().unchecked_ref());
    }
    // Back after an outage: whatever was missed arrives (or a reset); re-read once anyway.
    let opened = Closure::<dyn FnMut()>::new(move || {
        set_online.set(true);
        set_version.update(|v| *v += 1);
    });
    source.set_onopen(Some(opened.as_ref().unchecked_ref()));
    let failed = Closure::<dyn FnMut()>::new(move || set_online.set(false));
    source.set_onerror(Some(failed.as_ref().unchecked_ref()));
    changed.forget();
    opened.forget();
    failed.forget();
    let source = send_wrapper::SendWrapper::new(source);
    on_cleanup(move || source.close());
}

/// "Live" or "Offline — reconnecting…", for a page header.
#[component]
pub fn LiveBadge(live: Live) -> impl IntoView {
    view! {
        <span class=move || if live.online.get() { "live live-on" } else { "live live-off" } role="status" id="live">
            {move || if live.online.get() { "Live" } else { "Offline — reconnecting…" }}
        </span>
    }
}
