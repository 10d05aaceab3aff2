//! Preloads of the WASM chunks a page needs, sent with the page.

use leptos::prelude::*;

/// The lazy route (as `#[lazy_route]` names its chunk: `__<snake name>_route_view_<hash>`)
/// a path is served by, after the route table (`crate::routes`).
pub fn lazy_route_of(path: &str) -> Option<String> {
    crate::routes::chunk_of(path)
}

/// `<link rel=preload>`s for the WASM chunks of the page being rendered, from the split
/// manifest (`make site` writes it as `split-manifest.json`, not under the name Leptos
/// reads). Leptos' own preloads come only when the lazy route has already run by the
/// time it looks, which with `SsrMode::Async` it mostly has not: the browser then fetched
/// a page's chunks after the main WASM had started, and pages differed from one request
/// to the next. Each route's links are written once, as HTML, when first asked for (the
/// shell is never hydrated): as views they were a few percent of a page's CPU.
pub fn chunk_preloads(options: &LeptosOptions) -> impl IntoView {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static PRELOADS: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let preloads = PRELOADS.get_or_init(|| {
        let path = std::path::Path::new(options.site_root.as_ref())
            .join(options.site_pkg_dir.as_ref())
            .join("split-manifest.json");
        let manifest: HashMap<String, Vec<String>> = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        manifest
            .into_iter()
            .filter_map(|(split, modules)| {
                let route = split.strip_prefix("__")?.split_once("_route_view_")?.0;
                Some((
                    route.to_string(),
                    preload_links(&options.site_pkg_dir, &modules),
                ))
            })
            .collect()
    });
    let html = use_context::<http::request::Parts>()
        .and_then(|parts| lazy_route_of(parts.uri.path()))
        .and_then(|route| preloads.get(&route).copied())
        .unwrap_or_default();
    leptos::tachys::html::InertElement::new(html)
}

/// The links that preload a route's chunks (and the split loader), as HTML.
fn preload_links(pkg: &str, modules: &[String]) -> &'static str {
    if modules.is_empty() {
        return "";
    }
    let attr = |s: &str| {
        let mut out = String::new();
        crate::escape_html(s, &mut out);
        out
    };
    let mut html = format!(
        "<link rel=\"modulepreload\" href=\"/{}/__wasm_split.______________________.js\" crossorigin=\"anonymous\">",
        attr(pkg)
    );
    for m in modules {
        html.push_str(&format!(
            "<link rel=\"preload\" href=\"/{}/{}.wasm\" as=\"fetch\" type=\"application/wasm\" crossorigin=\"anonymous\">",
            attr(pkg),
            attr(m)
        ));
    }
    // Once per route for the life of the process.
    html.leak()
}

#[cfg(test)]
mod tests {
    use super::lazy_route_of;

    #[test]
    fn paths_map_to_their_lazy_routes() {
        assert_eq!(lazy_route_of("/clusters").as_deref(), Some("clusters"));
        assert_eq!(
            lazy_route_of("/clusters/new").as_deref(),
            Some("new_cluster")
        );
        assert_eq!(lazy_route_of("/clusters/abc").as_deref(), Some("cluster"));
        assert_eq!(
            lazy_route_of("/clusters/abc/workloads").as_deref(),
            Some("workloads")
        );
        assert_eq!(
            lazy_route_of("/clusters/abc/delete").as_deref(),
            Some("delete_cluster")
        );
        assert_eq!(
            lazy_route_of("/clusters/abc/nodegroups/w").as_deref(),
            Some("node_group")
        );
        assert_eq!(
            lazy_route_of("/clusters/abc/add-node-group").as_deref(),
            Some("add_node_group")
        );
        assert_eq!(lazy_route_of("/operations/1").as_deref(), Some("operation"));
        assert_eq!(lazy_route_of("/admin").as_deref(), Some("admin"));
        assert_eq!(
            lazy_route_of("/admin/quotas").as_deref(),
            Some("admin_quotas")
        );
        assert_eq!(
            lazy_route_of("/admin/audit").as_deref(),
            Some("admin_audit")
        );
        assert_eq!(lazy_route_of("/signin").as_deref(), Some("sign_in"));
        assert_eq!(lazy_route_of("/signup").as_deref(), Some("sign_up"));
        assert_eq!(lazy_route_of("/").as_deref(), Some("home"));
        assert_eq!(lazy_route_of("/project").as_deref(), Some("project"));
        assert_eq!(lazy_route_of("/account").as_deref(), Some("account"));
        assert_eq!(
            lazy_route_of("/admin/clusters").as_deref(),
            Some("admin_clusters")
        );
        assert_eq!(
            lazy_route_of("/admin/users").as_deref(),
            Some("admin_users")
        );
        assert_eq!(
            lazy_route_of("/admin/offer").as_deref(),
            Some("admin_offer")
        );
        assert_eq!(lazy_route_of("/nowhere").as_deref(), None);
        assert_eq!(lazy_route_of("/clusters/abc/nowhere").as_deref(), None);
    }
}
