//! The console's one route table: each page's address and component. From it come the
//! router's routes, each page's lazy route (its code in a WASM chunk of its own, see the
//! Makefile's `site` and docs/DECISIONS.md) and, on the server, which chunks to preload
//! with a page (`ssr::chunk_preloads`). Adding a page is one line here.
//!
//! Every page is lazy: only the shell, the header and "not found" are in the main WASM.
//! The table is a macro, not a `const` walked at run time, because the router's routes
//! are typed (`path!` takes a literal, `Lazy::<T>` a type, `Routes` a tuple of them) and
//! `#[lazy_route]` must see each route's own `impl`; the macro writes those out, and the
//! one thing the server needs at run time, path → chunk, is [`PAGES`].

use leptos::prelude::*;
use leptos_router::components::{Route, Routes};
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};

use crate::pages::*;

macro_rules! pages {
    ($($path:tt => $route:ident($page:ident),)*) => {
        $(
            #[doc = concat!("`", $path, "`, loaded with its own chunk of WASM.")]
            pub struct $route;

            // `#[lazy_route]` names the chunk after the type: `__<snake name>_view_<hash>`.
            #[lazy_route]
            impl LazyRoute for $route {
                fn data() -> Self {
                    Self
                }

                fn view(_this: Self) -> AnyView {
                    view! { <$page /> }.into_any()
                }
            }
        )*

        /// The console's routes, every page rendered whole before the answer is sent
        /// (`SsrMode::Async`: a page works without JavaScript).
        #[component]
        pub fn ConsoleRoutes() -> impl IntoView {
            view! {
                <Routes fallback=NotFound>
                    $(<Route path=path!($path) view={Lazy::<$route>::new()} ssr=SsrMode::Async />)*
                </Routes>
            }
        }

        /// Every page: its path (`:name` a parameter) and its lazy route's type name.
        #[cfg(feature = "ssr")]
        pub const PAGES: &[(&str, &str)] = &[$(($path, stringify!($route))),*];
    };
}

pages! {
    "/" => HomeRoute(Home),
    "/signin" => SignInRoute(SignInPage),
    "/signup" => SignUpRoute(SignUpPage),
    "/clusters" => ClustersRoute(ClustersPage),
    "/clusters/new" => NewClusterRoute(NewClusterPage),
    "/clusters/:id" => ClusterRoute(ClusterPage),
    "/clusters/:id/workloads" => WorkloadsRoute(WorkloadsPage),
    "/clusters/:id/delete" => DeleteClusterRoute(DeleteClusterPage),
    "/clusters/:id/nodegroups/:ng" => NodeGroupRoute(NodeGroupPage),
    "/clusters/:id/add-node-group" => AddNodeGroupRoute(AddNodeGroupPage),
    "/operations/:id" => OperationRoute(OperationPage),
    "/project" => ProjectRoute(ProjectPage),
    "/account" => AccountRoute(AccountPage),
    "/admin" => AdminRoute(AdminPage),
    "/admin/clusters" => AdminClustersRoute(AdminClustersPage),
    "/admin/users" => AdminUsersRoute(AdminUsersPage),
    "/admin/quotas" => AdminQuotasRoute(AdminQuotasPage),
    "/admin/offer" => AdminOfferRoute(AdminOfferPage),
    "/admin/audit" => AdminAuditRoute(AdminAuditPage),
}

/// The chunk of the page at `path`, named as the split manifest names it once its
/// `__` prefix and `_route_view_<hash>` suffix are taken off (`AddNodeGroupRoute` →
/// `add_node_group`). Where a static segment and a parameter both match, the static one
/// wins, as in the router (`/clusters/new` is not a cluster).
#[cfg(feature = "ssr")]
pub fn chunk_of(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    PAGES
        .iter()
        .filter_map(|(pattern, route)| {
            let wanted: Vec<&str> = pattern.trim_matches('/').split('/').collect();
            let fits = wanted.len() == segments.len()
                && wanted
                    .iter()
                    .zip(&segments)
                    .all(|(w, s)| w.starts_with(':') || w == s);
            let fixed = wanted.iter().filter(|w| !w.starts_with(':')).count();
            fits.then_some((fixed, route))
        })
        .max_by_key(|(fixed, _)| *fixed)
        .map(|(_, route)| snake_name(route.strip_suffix("Route").unwrap_or(route)))
}

/// `AdminClusters` → `admin_clusters`.
#[cfg(feature = "ssr")]
fn snake_name(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
