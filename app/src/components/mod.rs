//! Pieces shared by pages: the header, the sign-in guard, error and notice banners,
//! forms that post with and without JavaScript, and live updates.

pub mod cluster;
#[cfg(feature = "ssr")]
pub mod report;

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::dto::SessionInfo;
use crate::error::AppError;
use crate::server_fns::SignOut;
use crate::SessionResource;

#[component]
pub fn Header() -> impl IntoView {
    let session = expect_context::<SessionResource>();
    let switch = expect_context::<Submit<()>>();
    let sign_out = Submit::new::<SignOut>();
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="logo" aria-hidden="true">"⎈"</span>
                "Shipyard"
            </a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match session.await {
                        Ok(Some(info)) => {
                            let current = info.current.clone().map(|p| p.id).unwrap_or_default();
                            view! {
                                <nav class="mainnav" aria-label="Main">
                                    <a href="/clusters">"Clusters"</a>
                                    <a href="/project">"Project"</a>
                                    <a href="/account">"Account"</a>
                                    {info.user.is_admin.then(|| view! { <a href="/admin">"Admin"</a> })}
                                </nav>
                                <PostForm action=switch attr:class="switcher">
                                    <label for="project-switch">"Project"</label>
                                    <select id="project-switch" name="project_id">
                                        {info
                                            .projects
                                            .iter()
                                            .map(|p| {
                                                view! {
                                                    <option value=p.id.clone() selected=p.id == current>
                                                        {p.name.clone()}
                                                    </option>
                                                }
                                            })
                                            .collect_view()}
                                    </select>
                                    <button type="submit" class="secondary">"Switch"</button>
                                </PostForm>
                                <span class="whoami" data-testid="whoami">{info.user.email.clone()}</span>
                                <PostForm action=sign_out attr:class="signout">
                                    <button type="submit" class="secondary">"Sign out"</button>
                                </PostForm>
                            }
                                .into_any()
                        }
                        _ => {
                            view! {
                                <nav class="mainnav" aria-label="Main">
                                    <a href="/signin">"Sign in"</a>
                                    <a href="/signup">"Sign up"</a>
                                </nav>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </header>
    }
}

/// Renders `page` for a signed-in user; sends everyone else to the sign-in page.
pub fn authed<F>(page: F) -> impl IntoView
where
    F: Fn(SessionInfo) -> AnyView + Send + Sync + 'static,
{
    let session = expect_context::<SessionResource>();
    let page = Arc::new(page);
    let location = leptos_router::hooks::use_location();
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let page = page.clone();
                Suspend::new(async move {
                    match session.await {
                        // A one-time password allows nothing but choosing one's own.
                        Ok(Some(info))
                            if info.user.must_change_password
                                && location.pathname.get_untracked() != "/account" =>
                        {
                            view! { <Redirect path="/account" /> }.into_any()
                        }
                        Ok(Some(info)) => page(info),
                        Ok(None) => view! { <Redirect path="/signin" /> }.into_any(),
                        Err(e) => view! { <ErrorText error=e /> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// The error of the last submission of a form, if any.
#[component]
pub fn ActionError<T, S>(value: S) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || {
        value
            .get()
            .and_then(|r| r.err())
            .map(|e| view! { <ErrorText error=e /> })
    }
}

#[component]
pub fn ErrorText(error: AppError) -> impl IntoView {
    view! {
        <p class="banner error" role="alert" data-status=error.status()>
            {error.to_string()}
        </p>
    }
}

#[component]
pub fn Notice(text: String) -> impl IntoView {
    view! {
        <p class="banner ok" role="status">
            {text}
        </p>
    }
}

/// A form's submissions to one server function: the last answer, whether one is on its
/// way, and how many have come back. What `ServerAction` gives a page, but generic only
/// over the answer's type: [`PostForm`] posts the form's fields as the browser would,
/// URL-encoded, so the WASM holds no (de)serializer for any server function's arguments
/// — the server parses them, with the same rules as without JavaScript.
pub struct Submit<O: 'static> {
    path: &'static str,
    value: RwSignal<Option<Result<O, AppError>>>,
    pending: RwSignal<bool>,
    version: RwSignal<usize>,
}

impl<O: 'static> Clone for Submit<O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O: 'static> Copy for Submit<O> {}

impl<O: Send + Sync + 'static> Submit<O> {
    /// Submissions to the server function `S`. After a post without JavaScript that
    /// failed, the server redirected back with the error in the URL: it is the value.
    pub fn new<S>() -> Self
    where
        S: leptos::server_fn::ServerFn<Output = O>,
    {
        use leptos::server_fn::error::ServerFnUrlError;
        let failed = use_context::<leptos::server::ServerActionError>().and_then(|error| {
            (error.path() == S::PATH)
                .then(|| Err(ServerFnUrlError::<AppError>::decode_err(error.err())))
        });
        Self {
            path: S::PATH,
            value: RwSignal::new(failed),
            pending: RwSignal::new(false),
            version: RwSignal::new(0),
        }
    }

    /// The answer to the last submission (`None` before the first comes back).
    pub fn value(&self) -> RwSignal<Option<Result<O, AppError>>> {
        self.value
    }

    /// Whether a submission is on its way.
    pub fn pending(&self) -> RwSignal<bool> {
        self.pending
    }

    /// How many submissions have come back; resources that show what a form changes
    /// refetch when it moves.
    pub fn version(&self) -> RwSignal<usize> {
        self.version
    }
}

/// A `<form method=post>` to a server function. Without JavaScript the browser posts it
/// and the server redirects back; hydrated, it posts the same fields with `fetch` and
/// updates `action` in place (following a redirect the server function asks for).
#[component]
pub fn PostForm<O>(action: Submit<O>, children: Children) -> impl IntoView
where
    O: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    view! {
        <form action=action.path method="post" on:submit=move |ev| action.post(ev)>
            {children()}
        </form>
    }
}

impl<O> Submit<O>
where
    O: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    /// For a container of forms drawn as HTML (the cluster page's body): a submit that
    /// bubbles up from a form posting to this server function is posted as [`PostForm`]
    /// posts; any other form is left to the browser.
    pub fn post_within(self, ev: leptos::web_sys::SubmitEvent) {
        use leptos::wasm_bindgen::JsCast;
        let ours = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
            .and_then(|form| form.get_attribute("action"))
            .is_some_and(|action| action == self.path);
        if ours {
            self.post(ev);
        }
    }

    /// Posts the form of a submit event in place of the browser.
    fn post(self, ev: leptos::web_sys::SubmitEvent) {
        if ev.default_prevented() {
            return;
        }
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            let body = leptos::form::form_data_from_event(&ev)
                .ok()
                .and_then(|data| {
                    leptos::web_sys::UrlSearchParams::new_with_str_sequence_sequence(&data).ok()
                })
                .map(|params| String::from(params.to_string()));
            self.pending.set(true);
            leptos::task::spawn_local(async move {
                let answer = match body {
                    Some(body) => post::post_form(self.path, body).await,
                    None => Err(AppError::Internal("could not read the form".into())),
                };
                let answer = answer.and_then(|bytes| {
                    serde_json::from_slice::<O>(&bytes)
                        .map_err(|e| AppError::Transport(format!("Unreadable answer: {e}")))
                });
                self.value.set(Some(answer));
                self.version.update(|n| *n += 1);
                self.pending.set(false);
            });
        }
    }
}

#[cfg(feature = "hydrate")]
mod post {
    use leptos::server_fn::client::{browser::BrowserClient, Client};
    use leptos::server_fn::error::FromServerFnError;
    use leptos::server_fn::redirect::call_redirect_hook;
    use leptos::server_fn::request::{browser::BrowserRequest, ClientReq};
    use leptos::server_fn::response::ClientRes;

    use crate::error::AppError;

    /// Posts URL-encoded fields to a server function as `server_fn`'s own client does
    /// (JSON back; an error status carries an `AppError`; a redirect header sends the
    /// router on), and returns the answer's bytes. Not generic: one copy in the WASM.
    pub async fn post_form(path: &str, body: String) -> Result<Vec<u8>, AppError> {
        let req = <BrowserRequest as ClientReq<AppError>>::try_new_post(
            path,
            "application/x-www-form-urlencoded",
            "application/json",
            body,
        )?;
        let res = <BrowserClient as Client<AppError>>::send(req).await?;
        let status = ClientRes::<AppError>::status(&res);
        let location = ClientRes::<AppError>::location(&res);
        let redirect = ClientRes::<AppError>::has_redirect(&res);
        let bytes = ClientRes::<AppError>::try_into_bytes(res).await?;
        if (400..=599).contains(&status) {
            return Err(AppError::de(bytes));
        }
        if (300..=399).contains(&status) || redirect {
            call_redirect_hook(&location);
        }
        Ok(bytes.to_vec())
    }
}

/// While an operation of a cluster runs, the page follows it. `state` reads the page's
/// data: the cluster's id and whether something of it is under way. With JavaScript the
/// page listens to `/clusters/<id>/events` (server-sent events) and moves `tick`, which
/// its resource refetches on, at each change; without, [`reload_while`] reloads it.
pub fn follow<F>(state: F, tick: RwSignal<u64>)
where
    F: Fn() -> Option<(String, bool)> + 'static,
{
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        let source: StoredValue<Option<web_sys::EventSource>, LocalStorage> =
            StoredValue::new_local(None);
        let close = move || {
            if let Some(es) = source.try_update_value(Option::take).flatten() {
                es.close();
            }
        };
        Effect::new(move |_| match state() {
            Some((id, true)) if source.with_value(|s| s.is_none()) => {
                if let Ok(es) = web_sys::EventSource::new(&format!("/clusters/{id}/events")) {
                    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
                        tick.update(|t| *t += 1);
                    });
                    es.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                    on_message.forget();
                    // The stream failed or ended: refused because the cluster went in the
                    // meantime (a delete faster than the page's refetch), the server
                    // restarted, or the ten minutes are up. Read the page once more, after
                    // a second so that a server that keeps failing is not hammered; if the
                    // browser gave up on the stream, the effect opens a new one while the
                    // page still shows something running.
                    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                        source.try_update_value(|s| {
                            s.take_if(|es| es.ready_state() == web_sys::EventSource::CLOSED)
                        });
                        set_timeout(
                            move || {
                                _ = tick.try_update(|t| *t += 1);
                            },
                            std::time::Duration::from_secs(1),
                        );
                    });
                    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
                    on_error.forget();
                    source.set_value(Some(es));
                }
            }
            Some((_, true)) => {}
            // Nothing runs any more, or the page could not be read (the cluster is gone).
            _ => close(),
        });
        on_cleanup(close);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (state, tick);
}

/// Without JavaScript a page reloads itself every three seconds while something runs. As
/// inner HTML, so that a browser with scripting parses it as text: a refresh element made
/// through the DOM would reload a hydrated page too.
pub fn reload_while(busy: bool) -> impl IntoView {
    busy.then(|| view! { <noscript inner_html=r#"<meta http-equiv="refresh" content="3">"# /> })
}
