//! The console's pages, one module per area.

mod account;
mod admin;
mod auth;
pub(crate) mod clusters;
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
use leptos_router::{lazy_route, LazyRoute};

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

// Every page is a lazy route (only the shell, the header and "not found" are in the main
// WASM): its code is split out of the main WASM into a chunk of its own (see the Makefile's `site` and
// docs/DECISIONS.md), which the server preloads with the page that needs it. Each impl is
// written out: `#[lazy_route]` names the chunk after the source position, so a macro
// generating them would give them all one name.

/// `/`, loaded with its own chunk of WASM.
pub struct HomeRoute;

#[lazy_route]
impl LazyRoute for HomeRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <Home /> }.into_any()
    }
}

/// `/signin`, loaded with its own chunk of WASM.
pub struct SignInRoute;

#[lazy_route]
impl LazyRoute for SignInRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <SignInPage /> }.into_any()
    }
}

/// `/signup`, loaded with its own chunk of WASM.
pub struct SignUpRoute;

#[lazy_route]
impl LazyRoute for SignUpRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <SignUpPage /> }.into_any()
    }
}

/// `/clusters`, loaded with its own chunk of WASM.
pub struct ClustersRoute;

#[lazy_route]
impl LazyRoute for ClustersRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <ClustersPage /> }.into_any()
    }
}

/// `/clusters/new`, loaded with its own chunk of WASM.
pub struct NewClusterRoute;

#[lazy_route]
impl LazyRoute for NewClusterRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <NewClusterPage /> }.into_any()
    }
}

/// `/clusters/:id`, loaded with its own chunk of WASM.
pub struct ClusterRoute;

#[lazy_route]
impl LazyRoute for ClusterRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <ClusterPage /> }.into_any()
    }
}

/// `/clusters/:id/workloads`, loaded with its own chunk of WASM.
pub struct WorkloadsRoute;

#[lazy_route]
impl LazyRoute for WorkloadsRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <WorkloadsPage /> }.into_any()
    }
}

/// `/clusters/:id/delete`, loaded with its own chunk of WASM.
pub struct DeleteClusterRoute;

#[lazy_route]
impl LazyRoute for DeleteClusterRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <DeleteClusterPage /> }.into_any()
    }
}

/// `/clusters/:id/nodegroups/:ng`, loaded with its own chunk of WASM.
pub struct NodeGroupRoute;

#[lazy_route]
impl LazyRoute for NodeGroupRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <NodeGroupPage /> }.into_any()
    }
}

/// `/clusters/:id/add-node-group`, loaded with its own chunk of WASM.
pub struct AddNodeGroupRoute;

#[lazy_route]
impl LazyRoute for AddNodeGroupRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AddNodeGroupPage /> }.into_any()
    }
}

/// `/operations/:id`, loaded with its own chunk of WASM.
pub struct OperationRoute;

#[lazy_route]
impl LazyRoute for OperationRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <OperationPage /> }.into_any()
    }
}

/// `/project`, loaded with its own chunk of WASM.
pub struct ProjectRoute;

#[lazy_route]
impl LazyRoute for ProjectRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <ProjectPage /> }.into_any()
    }
}

/// `/account`, loaded with its own chunk of WASM.
pub struct AccountRoute;

#[lazy_route]
impl LazyRoute for AccountRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AccountPage /> }.into_any()
    }
}

/// `/admin`, loaded with its own chunk of WASM.
pub struct AdminRoute;

#[lazy_route]
impl LazyRoute for AdminRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AdminPage /> }.into_any()
    }
}

/// `/admin/clusters`, loaded with its own chunk of WASM.
pub struct AdminClustersRoute;

#[lazy_route]
impl LazyRoute for AdminClustersRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AdminClustersPage /> }.into_any()
    }
}

/// `/admin/users`, loaded with its own chunk of WASM.
pub struct AdminUsersRoute;

#[lazy_route]
impl LazyRoute for AdminUsersRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AdminUsersPage /> }.into_any()
    }
}

/// `/admin/quotas`, loaded with its own chunk of WASM.
pub struct AdminQuotasRoute;

#[lazy_route]
impl LazyRoute for AdminQuotasRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AdminQuotasPage /> }.into_any()
    }
}

/// `/admin/offer`, loaded with its own chunk of WASM.
pub struct AdminOfferRoute;

#[lazy_route]
impl LazyRoute for AdminOfferRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AdminOfferPage /> }.into_any()
    }
}

/// `/admin/audit`, loaded with its own chunk of WASM.
pub struct AdminAuditRoute;

#[lazy_route]
impl LazyRoute for AdminAuditRoute {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        view! { <AdminAuditPage /> }.into_any()
    }
}
