/*! Building blocks every page shares: headers, empty states, badges, data regions. */

use crate::error::ErrorTemplate;
use leptos::prelude::*;
use leptos_router::components::A;

/// A page's title row with breadcrumbs and actions on the right.
#[component]
pub fn PageHeader(
    #[prop(into)] title: Signal<String>,
    #[prop(optional)] crumbs: Vec<(String, String)>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <leptos_meta::Title text=move || title.get()/>
        <header class="page-header">
            <div>
                <nav class="crumbs" aria-label="Breadcrumb">
                    {crumbs
                        .into_iter()
                        .map(|(href, label)| view! { <A href=href>{label}</A><span class="sep">"/"</span> })
                        .collect_view()}
                </nav>
                <h1>{move || title.get()}</h1>
            </div>
            <div class="actions">{children.map(|c| c())}</div>
        </header>
    }
}

/// What an empty list shows: what it is, and the next step.
#[component]
pub fn EmptyState(
    #[prop(into)] title: String,
    #[prop(into)] body: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="empty">
            <h2>{title}</h2>
            <p>{body}</p>
            {children.map(|c| c())}
        </div>
    }
}

/// A status word with a colour that means the same everywhere.
#[component]
pub fn StatusBadge(#[prop(into)] status: String) -> impl IntoView {
    let tone = match status.as_str() {
        "ACTIVE" | "RUNNING" | "COMPLETED" | "PRIMARY" | "HEALTHY" => "ok",
        "DRAINING" | "PENDING" | "PROVISIONING" | "IN_PROGRESS" | "ACTIVATING" | "STOPPING" => "busy",
        "FAILED" | "UNHEALTHY" => "bad",
        _ => "muted",
    };
    view! { <span class=format!("badge badge-{tone}")>{status}</span> }
}

/// A bar for `value` of `max` (a deployment's running tasks, reserved capacity), with its
/// numbers for assistive technology.
#[component]
pub fn Progress(value: i64, max: i64, #[prop(into)] label: String) -> impl IntoView {
    let percent = if max > 0 { (value as f64 / max as f64 * 100.0).clamp(0.0, 100.0) } else { 0.0 };
    view! {
        <div class="progress" role="progressbar" aria-label=label aria-valuemin="0" aria-valuemax=max aria-valuenow=value>
            <div class="progress-fill" style=format!("width:{percent:.1}%")></div>
        </div>
    }
}

/// Rows a paged table shows at once: a screenful, and a page that stays small however large
/// the cluster.
pub const PAGE_ROWS: i64 = 50;

/// The `after` cursor of a paged list, from the page's query string.
pub fn use_page_cursor() -> Memo<Option<String>> {
    let query = leptos_router::hooks::use_query_map();
    Memo::new(move |_| query.read().get("after").filter(|a| !a.is_empty()))
}

/// Links between the pages of a list: back to the first, and on to the next when there is one.
#[component]
pub fn Pager(next: Option<String>, #[prop(into)] on_later_page: bool, #[prop(into)] what: String) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let path = move || location.pathname.get();
    (next.is_some() || on_later_page).then(|| {
        view! {
            <nav class="pager" aria-label=format!("Pages of {what}")>
                {on_later_page.then(|| view! { <A href=move || path() attr:class="button">"← First page"</A> })}
                {next.map(|token| view! { <A href=move || format!("{}?after={token}", path()) attr:class="button" attr:rel="next">"Next page →"</A> })}
            </nav>
        }
    })
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <div class="loading" aria-busy="true"><span class="spinner"></span>"Loading…"</div> }
}

/// Wraps a region that loads data: a spinner first, the error template if it fails.
#[component]
pub fn DataRegion(children: Children) -> impl IntoView {
    view! {
        <Transition fallback=Loading>
            <ErrorBoundary fallback=|errors| view! { <ErrorTemplate errors/> }>{children()}</ErrorBoundary>
        </Transition>
    }
}

/// "3 minutes ago" would need a clock per render; show the UTC time, short.
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).map(|t| t.replace('T', " ")).unwrap_or_else(|| rfc3339.to_string()) + " UTC"
}

/// A checkbox with its label, bound to a signal.
#[component]
pub fn Checkbox(id: &'static str, checked: RwSignal<bool>, label: &'static str) -> impl IntoView {
    view! {
        <label class="check" for=id>
            <input type="checkbox" id=id bind:checked=checked/>
            " "
            {label}
        </label>
    }
}

/// Awaits a resource from inside a `Suspend`. A `Suspend` can be polled once more after its
/// page was torn down (a navigation, or a live re-render that replaced the view), and `.await`
/// on a disposed resource panics; that view is gone, so it simply never resolves.
pub async fn settled<T: Clone + Send + Sync + 'static, S>(resource: Resource<T, S>) -> T {
    if resource.is_disposed() { std::future::pending().await } else { resource.await }
}

/// The codec of the portal's resources: JSON, read from bytes by the same `serde_json` reader
/// that reads server functions' answers. Leptos's default reads hydration data from a `&str`, a
/// second reader that compiles every type's deserializer into the wasm a second time.
pub struct SliceJson;

impl<T: serde::Serialize> leptos::server::codee::Encoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: serde::de::DeserializeOwned> leptos::server::codee::Decoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(encoded: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(encoded.as_bytes())
    }
}

/// A resource of the portal: loaded on the server, sent with the page, refetched when `source` changes.
pub type Data<T> = Resource<T, SliceJson>;

/// [`Resource::new`] with the portal's codec.
#[track_caller]
pub fn resource<S, T, Fut>(source: impl Fn() -> S + Send + Sync + 'static, fetcher: impl Fn(S) -> Fut + Send + Sync + 'static) -> Data<T>
where
    S: Send + Sync + Clone + PartialEq + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}
