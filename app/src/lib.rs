/*!
Wharf's portal: server-rendered Leptos pages that hydrate in the browser. Pages are grouped
by resource; each keeps its server functions beside its components.
*/
#![recursion_limit = "512"]

pub mod account;
pub mod audit;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod balancing;
#[cfg(feature = "ssr")]
pub mod chart;
pub mod cluster_settings;
pub mod clusters;
pub mod components;
pub mod diagram;
pub mod editor;
pub mod error;
mod home;
pub mod instances;
pub mod join_tokens;
pub mod live;
pub mod logs;
mod pages;
pub mod run_task;
pub mod scaling;
pub mod scaling_page;
pub mod secrets;
pub mod services;
pub mod task_definitions;
pub mod tasks;
pub mod teams;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{Lazy, path};

/// A browser remembers a module it failed to fetch for the page's life, so one request lost on
/// the way (a change of the host's network aborts those in flight) would leave the page
/// unhydrated for good: load it again instead, a little later each time so that a burst of
/// changes can pass, at most 4 times a minute. Other errors are left to show.
const RELOAD_ON_LOST_MODULE: &str = r#"addEventListener('unhandledrejection', (e) => {
  // Chromium: "Failed to fetch…"; Firefox: "error loading dynamically imported module";
  // Safari: "Importing a module script failed.", "Load failed".
  const lost = /fetch|dynamically imported module|module script failed|load failed/i;
  if (document.body?.dataset.hydrated || !(e.reason instanceof TypeError) || !lost.test(e.reason.message)) return;
  const now = Date.now();
  const recent = JSON.parse(sessionStorage.getItem('wharf-reloads') ?? '[]').filter((t) => now - t < 60000);
  if (recent.length >= 4) return;
  sessionStorage.setItem('wharf-reloads', JSON.stringify([...recent, now]));
  e.preventDefault();
  console.warn(`loading the page again: ${e.reason.message}`);
  setTimeout(() => location.reload(), 250 * 2 ** recent.length);
});"#;

/// Every change a page sends to this site carries the session's CSRF token, which a page of
/// another site cannot read: server functions go through `fetch`, so it is added there. When
/// the session changed since the page loaded (signed in again in another tab), the page takes
/// the new session's token and tries once more.
const SEND_CSRF_TOKEN: &str = r#"{
  const meta = document.querySelector('meta[name="csrf-token"]');
  const send = window.fetch.bind(window);
  if (meta) window.fetch = async (input, init) => {
    const request = new Request(input, init);
    const change = !['GET', 'HEAD', 'OPTIONS'].includes(request.method);
    if (!change || new URL(request.url).origin !== location.origin) return send(request);
    const again = request.clone();
    request.headers.set('X-CSRF-Token', meta.content);
    const response = await send(request);
    if (response.status !== 403 || !(await response.clone().text()).includes('CSRF')) return response;
    const session = await send('/api/v1/session', { credentials: 'same-origin' }).then((r) => r.ok ? r.json() : null, () => null);
    if (!session?.csrfToken || session.csrfToken === meta.content) return response;
    meta.content = session.csrfToken;
    again.headers.set('X-CSRF-Token', meta.content);
    return send(again);
  };
}"#;

/// The session's CSRF token, from the request on the server and from the page in the browser.
pub fn csrf_token() -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        ssr::backend().ok().and_then(|b| b.csrf_token())
    }
    #[cfg(not(feature = "ssr"))]
    {
        document().query_selector(r#"meta[name="csrf-token"]"#).ok().flatten().and_then(|m| m.get_attribute("content"))
    }
}

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%231f6feb'/%3E%3Cpath d='M3 5h10M3 8h10M3 11h10' stroke='white' stroke-width='1.5'/%3E%3C/svg%3E"/>
                <meta name="csrf-token" content=csrf_token()/>
                <script nonce=leptos::nonce::use_nonce()>{RELOAD_ON_LOST_MODULE}</script>
                <script nonce=leptos::nonce::use_nonce()>{SEND_CSRF_TOKEN}</script>
                <link rel="stylesheet" id="wharf" href=format!("/{}/wharf.css", options.site_pkg_dir)/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|page: String| if page.is_empty() { "Wharf".to_string() } else { format!("{page} · Wharf") }/>
        <Router>
            <a class="skip" href="#main">"Skip to content"</a>
            <div class="layout">
                <nav class="sidebar" aria-label="Main">
                    <A href="/" attr:class="brand">
                        <span class="logo" aria-hidden="true">"⚓"</span>
                        "Wharf"
                    </A>
                    <A href="/" exact=true>"Dashboard"</A>
                    <A href="/clusters">"Clusters"</A>
                    <A href="/task-definitions">"Task definitions"</A>
                    <A href="/teams">"Teams"</A>
                    <A href="/secrets">"Secrets"</A>
                    // Admins read all of it, maintainers their teams' part; no one else any.
                    <account::IfAllowed check=|a| a.maintain_anywhere>
                        <A href="/audit">"Audit log"</A>
                    </account::IfAllowed>
                    <a href="/api/v1/openapi.json" class="muted">"API (OpenAPI)"</a>
                    <account::UserMenu/>
                </nav>
                <main id="main" tabindex="-1">
                    <Routes fallback=NotFound>
                        <Route path=path!("") view={Lazy::<pages::Home>::new()}/>
                        <Route path=path!("/login") view=account::LoginPage/>
                        <Route path=path!("/setup") view=account::SetupPage/>
                        <Route path=path!("/clusters") view={Lazy::<pages::Clusters>::new()}/>
                        <Route path=path!("/clusters/:cluster") view={Lazy::<pages::Cluster>::new()}/>
                        <Route path=path!("/clusters/:cluster/services/new") view={Lazy::<pages::NewService>::new()}/>
                        <Route path=path!("/clusters/:cluster/run-task") view={Lazy::<pages::RunTask>::new()}/>
                        <Route path=path!("/clusters/:cluster/services/:service") view={Lazy::<pages::Service>::new()}/>
                        <Route path=path!("/clusters/:cluster/services/:service/update") view={Lazy::<pages::UpdateService>::new()}/>
                        <Route path=path!("/clusters/:cluster/services/:service/scaling") view={Lazy::<pages::ServiceScaling>::new()}/>
                        <Route path=path!("/clusters/:cluster/diagram") view={Lazy::<pages::Diagram>::new()}/>
                        <Route path=path!("/clusters/:cluster/load-balancing") view={Lazy::<pages::LoadBalancing>::new()}/>
                        <Route path=path!("/clusters/:cluster/instances") view={Lazy::<pages::Instances>::new()}/>
                        <Route path=path!("/clusters/:cluster/instances/:id") view={Lazy::<pages::Instance>::new()}/>
                        <Route path=path!("/clusters/:cluster/tasks/:id") view={Lazy::<pages::Task>::new()}/>
                        <Route path=path!("/task-definitions") view={Lazy::<pages::Families>::new()}/>
                        <Route path=path!("/task-definitions/new") view={Lazy::<pages::Register>::new()}/>
                        <Route path=path!("/task-definitions/:family") view={Lazy::<pages::Family>::new()}/>
                        <Route path=path!("/task-definitions/:family/:revision") view={Lazy::<pages::Revision>::new()}/>
                        <Route path=path!("/teams") view={Lazy::<pages::Teams>::new()}/>
                        <Route path=path!("/teams/:team") view={Lazy::<pages::Team>::new()}/>
                        <Route path=path!("/audit") view={Lazy::<pages::Audit>::new()}/>
                        <Route path=path!("/secrets") view={Lazy::<pages::Secrets>::new()}/>
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <components::EmptyState title="Page not found" body="There is nothing at this address. Start from the dashboard, or pick a section from the menu.">
            <A href="/" attr:class="button">"Go to the dashboard"</A>
        </components::EmptyState>
    }
}

/// Server-only helpers for server functions.
#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use crate::backend::SharedBackend;
    use crate::error::PortalError;
    use leptos::prelude::use_context;
    use wharf_core::WharfError;

    /// Sets the status of the current server function response from an error kind.
    pub fn set_status(kind: wharf_core::ErrorKind) {
        let code = http::StatusCode::from_u16(kind.http_status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(code);
        }
    }

    /// A page's Content-Security-Policy: scripts only from this origin or inline with this
    /// response's nonce (Leptos puts it on the scripts it writes), wasm compiled only from
    /// there, nothing framed, posted or fetched elsewhere. Inline style attributes stay allowed:
    /// bars and swatches are drawn with them.
    pub fn content_security_policy() {
        let nonce = leptos::nonce::use_nonce().map(|n| n.to_string()).unwrap_or_default();
        let policy = format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
        );
        if let (Some(response), Ok(value)) = (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(&policy)) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }

    /// The server's implementation of [`crate::backend::Backend`], provided per request.
    pub fn backend() -> Result<SharedBackend, PortalError> {
        use_context::<SharedBackend>().ok_or_else(|| PortalError(WharfError::internal()))
    }
}
