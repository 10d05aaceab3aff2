//! The console's pages, one module per area (their addresses: `crate::routes`).

mod account;
mod admin;
mod auth;
mod clusters;
mod operations;
mod project;

pub use account::AccountPage;
pub use admin::{
    AdminAuditPage, AdminClustersPage, AdminOfferPage, AdminPage, AdminQuotasPage, AdminUsersPage,
};
pub use auth::{SignInPage, SignUpPage};
pub use clusters::{
    AddNodeGroupPage, ClusterPage, ClustersPage, DeleteClusterPage, NewClusterPage, NodeGroupPage,
    WorkloadsPage,
};
pub use operations::OperationPage;
pub use project::ProjectPage;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::SessionResource;

/// `/`: the clusters of a signed-in user, the sign-in page otherwise.
#[component]
pub fn Home() -> impl IntoView {
    let session = expect_context::<SessionResource>();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match session.await {
                    Ok(Some(_)) => view! { <Redirect path="/clusters" /> }.into_any(),
                    _ => view! { <Redirect path="/signin" /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · Shipyard" />
        <section class="card narrow">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/">"Go to the console"</a></p>
        </section>
    }
}
