/*!
A task's container logs in the browser: the last N lines, or those and then every new line as
the container writes it (follow), with line wrapping on or off and a download of the log. The
lines stream from the API's log route through the task's agent; the page keeps the newest
[`KEEP`] lines and stays at the bottom while the reader is there.
*/

use leptos::prelude::*;

/// Lines kept on the page while following; older ones scroll away (the download has more).
pub const KEEP: usize = 5000;

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Phase {
    Idle,
    Loading,
    Following,
    Done,
    Failed(String),
    /// A followed log ended on the server's side: the task stopped or its host went away.
    Ended,
}

/// `text` plus `more`, keeping the newest `keep` lines.
pub fn append(text: &mut String, more: &str, keep: usize) {
    text.push_str(more);
    let lines = text.matches('\n').count();
    if lines > keep {
        let cut = text.match_indices('\n').nth(lines - keep - 1).map_or(0, |(i, _)| i + 1);
        text.drain(..cut);
    }
}

pub fn log_url(cluster: &str, id: &str, container: &str, tail: &str, follow: bool) -> String {
    let enc = |s: &str| s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect::<String>();
    format!("/api/v1/clusters/{}/tasks/{}/logs?container={}&tail={}{}", enc(cluster), enc(id), enc(container), enc(tail), if follow { "&follow=true" } else { "" })
}

#[component]
pub fn Logs(cluster: String, id: String, containers: Vec<String>) -> impl IntoView {
    let container = RwSignal::new(containers.first().cloned().unwrap_or_default());
    let tail = RwSignal::new("200".to_string());
    let wrap = RwSignal::new(true);
    let text = RwSignal::new(String::new());
    let phase = RwSignal::new(Phase::Idle);
    let pre = NodeRef::<leptos::html::Pre>::new();
    let reader = reader::Reader::new(text, phase, pre);
    let (c1, i1) = (cluster.clone(), id.clone());
    let start = {
        let reader = reader.clone();
        move |follow: bool| reader.start(log_url(&c1, &i1, &container.get_untracked(), &tail.get_untracked(), follow), follow)
    };
    let show = start.clone();
    let follow_toggle = {
        let reader = reader.clone();
        move |_| if phase.get_untracked() == Phase::Following { reader.stop() } else { start(true) }
    };
    let file_name = {
        let id = id.clone();
        move || format!("{}-{}.log", &id[..id.len().min(12)], container.get())
    };
    let download = move || log_url(&cluster, &id, &container.get(), "10000", false);
    view! {
        <section class="card" id="logs">
            <h2>"Logs"</h2>
            <form class="inline-form" on:submit=move |ev| { ev.prevent_default(); show(false) }>
                <label for="log-container">"Container"</label>
                <select id="log-container" bind:value=container>
                    {containers.into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
                </select>
                <label for="log-tail">"Last"</label>
                <select id="log-tail" bind:value=tail>
                    {["50", "200", "1000", "10000"].map(|n| view! { <option value=n>{format!("{n} lines")}</option> }).collect_view()}
                </select>
                <button type="submit" id="show-logs" disabled=move || phase.get() == Phase::Loading>
                    {move || if phase.get() == Phase::Loading { "Loading…" } else { "Show logs" }}
                </button>
                <button type="button" id="follow-logs" aria-pressed=move || (phase.get() == Phase::Following).to_string() on:click=follow_toggle
                    title="Show the last lines, then each new line as the container writes it">
                    {move || if phase.get() == Phase::Following { "Stop following" } else { "Follow" }}
                </button>
                <label class="check"><input type="checkbox" id="wrap-logs" bind:checked=wrap/>"Wrap lines"</label>
                <a class="button" id="download-logs" href=download download=file_name title="The last 10,000 lines as a text file">"Download"</a>
            </form>
            {move || match phase.get() {
                Phase::Idle => Some(view! { <p class="muted">"Logs come from the host the task runs on. Pick a container and show them, or follow them live."</p> }.into_any()),
                Phase::Failed(e) => Some(view! { <div class="notice notice-error" role="alert" id="log-error">{e}</div> }.into_any()),
                Phase::Following => Some(view! { <p class="muted" id="log-following" role="status">"Following — new lines appear as they are written."</p> }.into_any()),
                Phase::Ended => Some(view! { <p class="muted" id="log-ended" role="status">"The log ended: the task stopped or its host went away."</p> }.into_any()),
                Phase::Done if text.with(String::is_empty) => Some(view! { <p class="muted" id="log-empty">"The container has written nothing yet."</p> }.into_any()),
                Phase::Loading | Phase::Done => None,
            }}
            <pre class=move || if wrap.get() { "log log-wrap" } else { "log" } id="log-lines" tabindex="0" node_ref=pre
                hidden=move || text.with(String::is_empty)>{move || text.get()}</pre>
        </section>
    }
}

mod reader {
    use super::Phase;
    use leptos::prelude::*;

    /// Reads a log URL into the page, one request at a time.
    #[derive(Clone)]
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub struct Reader {
        text: RwSignal<String>,
        phase: RwSignal<Phase>,
        pre: NodeRef<leptos::html::Pre>,
        /// Cancels the request under way; a newer request replaces it.
        #[cfg(feature = "hydrate")]
        abort: StoredValue<Option<send_wrapper::SendWrapper<web_sys::AbortController>>>,
        generation: StoredValue<u64>,
    }

    impl Reader {
        pub fn new(text: RwSignal<String>, phase: RwSignal<Phase>, pre: NodeRef<leptos::html::Pre>) -> Reader {
            let reader = Reader {
                text,
                phase,
                pre,
                #[cfg(feature = "hydrate")]
                abort: StoredValue::new(None),
                generation: StoredValue::new(0),
            };
            let me = reader.clone();
            on_cleanup(move || me.stop());
            reader
        }

        pub fn stop(&self) {
            self.generation.update_value(|g| *g += 1);
            #[cfg(feature = "hydrate")]
            if let Some(a) = self.abort.try_update_value(Option::take).flatten() {
                a.abort();
            }
            if self.phase.try_get_untracked() == Some(Phase::Following) {
                self.phase.set(Phase::Done);
            }
        }

        pub fn start(&self, url: String, follow: bool) {
            self.stop();
            self.text.set(String::new());
            self.phase.set(if follow { Phase::Following } else { Phase::Loading });
            #[cfg(feature = "hydrate")]
            self.fetch(url, follow);
            #[cfg(not(feature = "hydrate"))]
            let _ = (url, follow);
        }

        #[cfg(feature = "hydrate")]
        fn fetch(&self, url: String, follow: bool) {
            use super::{KEEP, append};
            use wasm_bindgen::JsCast;
            use wasm_bindgen_futures::JsFuture;
            let Ok(controller) = web_sys::AbortController::new() else { return };
            let init = web_sys::RequestInit::new();
            init.set_signal(Some(&controller.signal()));
            let request = window().fetch_with_str_and_init(&url, &init);
            self.abort.set_value(Some(send_wrapper::SendWrapper::new(controller)));
            let mine = self.generation.get_value();
            let me = self.clone();
            let current = move || me.generation.try_get_value() == Some(mine);
            let (text, phase, pre) = (self.text, self.phase, self.pre);
            leptos::task::spawn_local(async move {
                let fail = |e: String| {
                    if current() {
                        phase.set(Phase::Failed(e))
                    }
                };
                let response: web_sys::Response = match JsFuture::from(request).await.and_then(|r| r.dyn_into()) {
                    Ok(r) => r,
                    Err(_) if !current() => return,
                    Err(_) => return fail("The server could not be reached; try again.".into()),
                };
                if !response.ok() {
                    let body = match response.text() {
                        Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_string()).unwrap_or_default(),
                        Err(_) => String::new(),
                    };
                    let message = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v.pointer("/error/message").or_else(|| v.get("message")).and_then(|m| m.as_str().map(String::from)))
                        .unwrap_or_else(|| format!("The log could not be read ({}).", response.status()));
                    return fail(message);
                }
                let Some(stream) = response.body() else { return fail("The log came back empty.".into()) };
                let Ok(reader) = stream.get_reader().dyn_into::<web_sys::ReadableStreamDefaultReader>() else { return };
                let Ok(decoder) = web_sys::TextDecoder::new() else { return };
                let options = web_sys::TextDecodeOptions::new();
                options.set_stream(true);
                loop {
                    let Ok(chunk) = JsFuture::from(reader.read()).await else { break };
                    if !current() {
                        return;
                    }
                    if js_sys::Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
                        break;
                    }
                    let Ok(bytes) = js_sys::Reflect::get(&chunk, &"value".into()).and_then(|v| v.dyn_into::<js_sys::Uint8Array>()) else { break };
                    let more = decoder.decode_with_u8_array_and_options(&bytes.to_vec(), &options).unwrap_or_default();
                    // Stay at the bottom if the reader is there; leave them be if they scrolled up.
                    let at_bottom = pre.get_untracked().is_none_or(|p| p.scroll_top() + p.client_height() >= p.scroll_height() - 24);
                    text.update(|t| append(t, &more, KEEP));
                    if let Some(p) = pre.get_untracked().filter(|_| at_bottom) {
                        request_animation_frame(move || p.set_scroll_top(p.scroll_height()));
                    }
                }
                if current() {
                    phase.set(if follow { Phase::Ended } else { Phase::Done });
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_keeps_the_newest_lines_and_urls_are_encoded() {
        let mut t = String::new();
        append(&mut t, "a\nb\n", 3);
        append(&mut t, "c\nd\ne\n", 3);
        assert_eq!(t, "c\nd\ne\n");
        append(&mut t, "par", 3);
        append(&mut t, "tial\n", 3);
        assert_eq!(t, "d\ne\npartial\n", "a line split across chunks is joined");
        assert_eq!(log_url("c 1", "abc", "web/app", "200", true), "/api/v1/clusters/c%201/tasks/abc/logs?container=web%2Fapp&tail=200&follow=true");
    }
}
