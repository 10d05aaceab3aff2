//! The Shipyard console: Leptos pages, components and server functions.
//!
//! Pages render on the server (SSR) and hydrate in the browser; every form is a
//! `components::PostForm`, so it posts and redirects without JavaScript and updates in
//! place with it. Server-only code lives under `#[cfg(feature = "ssr")]`.

mod components;
pub mod dto;
pub mod error;
mod pages;
mod routes;
#[cfg(feature = "ssr")]
pub mod secret_handoff;
pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet};
use leptos_router::components::Router;
use leptos_router::hooks::use_location;

use crate::dto::SessionInfo;
use crate::error::AppError;
use crate::server_fns::{get_session, SwitchProject};

/// The signed-in session, refetched on every navigation and project switch.
pub type SessionResource = Resource<Result<Option<SessionInfo>, AppError>, SliceJson>;

/// How resources carry their values from the server into the page: JSON, decoded from
/// bytes exactly as server functions' answers are. Leptos' default codec decodes with
/// `serde_json::from_str`, server functions with `from_slice` — two instantiations of
/// every DTO's deserializer in the WASM; one codec for both makes it one.
pub struct SliceJson;

impl<T: serde::Serialize> codee::Encoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, Self::Error> {
        serde_json::to_string(val)
    }
}

impl<T: serde::de::DeserializeOwned> codee::Decoder<T> for SliceJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, Self::Error> {
        serde_json::from_slice(val.as_bytes())
    }
}

/// A resource (see [`SliceJson`]): `fetcher` runs on the server for the first render
/// and again in the browser whenever `source` changes. On the server one fetch per call
/// site and source serves the whole request, so what `fetcher` reads must come from
/// `source` or be the same for the whole request (the signed-in user's project, say).
#[track_caller]
pub fn load<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T, SliceJson>
where
    S: Send + Sync + Clone + PartialEq + 'static,
    T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    // On the server a `<Suspense>` walks its children again while it waits, and a page
    // built under one creates its resources again on each walk, disposing the previous
    // walk's owner; a fetch still running for that owner would find no request in its
    // context ("no session layer") and its data, sometimes the one the browser
    // hydrates with, would be an error. So the fetch runs with the request's contexts,
    // taken when the resource is made.
    // And every walk shares the first walk's fetch (`ssr::RequestMemo::fetch_once`): one
    // read per resource per request, and HTML and hydration data from the same read.
    // And every walk gets the same resource, made under the request's root owner
    // (`ssr::RequestMemo::resource_once`): each resource made sends its data with the
    // page, once per walk before.
    #[cfg(feature = "ssr")]
    {
        let request = ssr::RequestScope::capture();
        let memo = ssr::memo();
        let at = std::panic::Location::caller();
        let first = untrack(&source);
        let fetcher = {
            let request = request.clone();
            let memo = memo.clone();
            move |s: S| request.run(memo.fetch_once(at, s, &fetcher))
        };
        memo.resource_once(at, first, || {
            request.with_root(|| Resource::new_with_options(source, fetcher, false))
        })
    }
    #[cfg(not(feature = "ssr"))]
    Resource::new_with_options(source, fetcher, false)
}

/// Appends `s` escaped for HTML text and double-quoted attribute values.
pub(crate) fn escape_html(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::page_security_policy();
    #[cfg(feature = "ssr")]
    let preloads = ssr::chunk_preloads(&options);
    #[cfg(not(feature = "ssr"))]
    let preloads = ();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HydrationScripts options />
                {preloads}
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // A page's code may still be on its way (each signed-in page is its own WASM chunk):
    // a bar along the top shows that a navigation is under way.
    let (routing, set_routing) = signal(false);
    provide_context(Routing(routing));
    view! {
        <Stylesheet id="shipyard" href="/pkg/shipyard.css" />
        <Router set_is_routing=set_routing>
            <Console />
        </Router>
    }
}

/// Whether a navigation is under way (its page's code or data still loading).
#[derive(Clone, Copy)]
struct Routing(ReadSignal<bool>);

#[component]
fn Console() -> impl IntoView {
    let location = use_location();
    let switch = components::Submit::new::<SwitchProject>();
    let session: SessionResource = load(
        move || {
            (
                location.pathname.get(),
                location.search.get(),
                switch.version().get(),
            )
        },
        |_| get_session(),
    );
    provide_context(session);
    provide_context(switch);
    let Routing(routing) = expect_context();
    view! {
        <div class="routing" class:active=move || routing.get() aria-hidden="true"></div>
        <a class="skip" href="#main">"Skip to content"</a>
        <components::Header />
        <main id="main">
            <routes::ConsoleRoutes />
        </main>
    }
}
