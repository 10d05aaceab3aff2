//! The browser entry point: hydrate the server-rendered console.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Asynchronous hydration: a page whose route is split into its own WASM chunk waits
    // for that chunk (preloaded by the page's <head>), then hydrates.
    // (`hydrate_from_async` sets Leptos' executor up itself.)
    wasm_bindgen_futures::spawn_local(async {
        let body = leptos::prelude::document()
            .body()
            .expect("the page has a body");
        let handle = leptos::mount::hydrate_from_async(body.clone(), app::App).await;
        handle.forget();
        // Browser tests and the navigation benchmark wait for this: every event handler
        // of the page is attached by now.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
