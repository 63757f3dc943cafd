/*!
Wharf's portal: server-rendered Leptos pages that hydrate in the browser. Pages are grouped
by resource; each keeps its server functions beside its components.
*/
#![recursion_limit = "256"]

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
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
        <Stylesheet id="wharf" href="/pkg/wharf.css"/>
        <Title text="Wharf"/>
        <Router>
            <main>
                <Routes fallback=|| "Not found">
                    <Route path=path!("") view=|| view! { <h1>"Wharf"</h1> }/>
                </Routes>
            </main>
        </Router>
    }
}
