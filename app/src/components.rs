//! Pieces shared by pages: the header, the sign-in guard, error and notice banners.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::api::{SignOut, SwitchProject};
use crate::dto::SessionInfo;
use crate::error::AppError;
use crate::SessionResource;

#[component]
pub fn Header() -> impl IntoView {
    let session = expect_context::<SessionResource>();
    let switch = expect_context::<ServerAction<SwitchProject>>();
    let sign_out = ServerAction::<SignOut>::new();
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
                                <ActionForm action=switch attr:class="switcher">
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
                                </ActionForm>
                                <span class="whoami" data-testid="whoami">{info.user.email.clone()}</span>
                                <ActionForm action=sign_out attr:class="signout">
                                    <button type="submit" class="secondary">"Sign out"</button>
                                </ActionForm>
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
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let page = page.clone();
                Suspend::new(async move {
                    match session.await {
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
