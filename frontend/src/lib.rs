//! The browser entry point: hydrates the server-rendered portal.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // As `leptos::mount::hydrate_lazy`, then the mark that tells tests and scripts the page is
    // live: a page's section hydrates only once its module has loaded, after the shell.
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else { return };
        let owner = leptos::mount::hydrate_from_async(body.clone(), wharf_app::App).await;
        owner.forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
