//! A cluster's own pages: its overview (drawn on the server, followed live while an
//! operation runs) and its deletion.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::{authed, follow, ActionError, ErrorText, PostForm, Submit};
use crate::server_fns::{cluster_delete_plan, get_cluster, DeleteCluster, RetryOperation};

/// `/clusters/:id`: status, endpoint, nodes, load balancers, volumes, operations with
/// their progress (followed live while one runs), and the kubeconfig download.
#[component]
pub fn ClusterPage() -> impl IntoView {
    view! {
        <Title text="Cluster · Shipyard" />
        {authed(|_| view! { <ClusterBody /> }.into_any())}
    }
}

#[component]
fn ClusterBody() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let tick = RwSignal::new(0u64);
    let retry = Submit::new::<RetryOperation>();
    let page = crate::load(
        move || (id(), tick.get(), retry.version().get()),
        |(id, _, _)| get_cluster(id.into()),
    );
    follow(
        move || {
            page.get()
                .and_then(|r| r.ok())
                .map(|p| (p.id.clone(), p.busy))
        },
        tick,
    );
    view! {
        <section class="page">
            <ActionError value=retry.value() />
            // Read straight from the resource (not awaited in a Suspend): every new value
            // the live updates fetch replaces the page's body. The body is HTML drawn on
            // the server; its retry forms post through `retry` once hydrated.
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    page.get().map(|r| match r {
                        Ok(p) => view! {
                            <div id="cluster-page" inner_html=p.html on:submit=move |ev| retry.post_within(ev) />
                        }
                            .into_any(),
                        Err(e) => {
                            #[cfg(feature = "ssr")]
                            crate::ssr::set_error_status(&e);
                            view! { <ErrorText error=e /> }.into_any()
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

/// `/clusters/:id/delete`: what will be destroyed, and the cluster's name to type.
#[component]
pub fn DeleteClusterPage() -> impl IntoView {
    view! {
        <Title text="Delete cluster · Shipyard" />
        {authed(|_| view! { <DeleteCluster_ /> }.into_any())}
    }
}

#[component]
fn DeleteCluster_() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let plan = crate::load(id, |id| cluster_delete_plan(id.into()));
    let delete = Submit::new::<DeleteCluster>();
    view! {
        <section class="page">
            <ActionError value=delete.value() />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let (c, p) = match plan.await {
                        Ok(x) => x,
                        Err(e) => {
                            #[cfg(feature = "ssr")]
                            crate::ssr::set_error_status(&e);
                            return view! { <ErrorText error=e /> }.into_any();
                        }
                    };
                    let back = format!("/clusters/{}", c.id);
                    view! {
                        <h1>{format!("Delete {}", c.name)}</h1>
                        <p>"This removes, from the cloud, everything below. It cannot be undone."</p>
                        <div id="delete-plan" inner_html=p.html.clone() />
                        <PostForm action=delete attr:class="form" attr:id="delete-form">
                            <input type="hidden" name="id" value=c.id.clone() />
                            <input type="hidden" name="plan_id" value=p.plan_id.to_string() />
                            <label for="confirm">{format!("Type {} to confirm", c.name)}</label>
                            <input id="confirm" name="confirm" autocomplete="off" required />
                            <button type="submit" class="danger" id="confirm-delete">"Delete the cluster"</button>
                        </PostForm>
                        <p><a href=back>"Keep it"</a></p>
                    }
                        .into_any()
                })}
            </Transition>
        </section>
    }
}
