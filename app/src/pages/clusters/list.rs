//! `/clusters`: the current project's clusters, searched by name and status, a page
//! at a time.

use leptos::prelude::*;
use leptos::tachys::html::InertElement;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::cluster::cluster_badge;
use crate::components::{authed, ErrorText};
use crate::dto::*;
use crate::escape_html as esc;
use crate::server_fns::list_clusters;

#[component]
pub fn ClustersPage() -> impl IntoView {
    view! {
        <Title text="Clusters · Shipyard" />
        {authed(|info| {
            let project = info.current.map(|p| p.name).unwrap_or_else(|| "no project".into());
            view! { <ClusterList project /> }.into_any()
        })}
    }
}

#[component]
fn ClusterList(project: String) -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let status = move || query.read().get("status").unwrap_or_default();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(1)
    };
    let list = crate::load(
        move || (q(), status(), page()),
        |(q, status, page)| list_clusters(q, status, page),
    );
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Clusters"</h1>
                <p class="muted">"Project: " <strong>{project}</strong></p>
                <a class="button" href="/clusters/new" id="new-cluster">"Create cluster"</a>
            </div>
            <form method="get" action="/clusters" class="form inline" role="search" id="cluster-search">
                <label for="q">"Name"</label>
                <input id="q" name="q" type="search" value=q placeholder="part of a name" />
                <label for="status">"Status"</label>
                <select id="status" name="status">
                    <option value="" selected=move || status().is_empty()>"any"</option>
                    {ClusterStatus::LIVE
                        .iter()
                        .map(|s| s.as_str())
                        .map(|s| view! { <option value=s selected=move || status() == s>{s}</option> })
                        .collect_view()}
                </select>
                <button type="submit" class="secondary">"Search"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let p = match list.await {
                        Ok(p) => p,
                        Err(e) => {
                            #[cfg(feature = "ssr")]
                            crate::ssr::set_error_status(&e);
                            return view! { <ErrorText error=e /> }.into_any();
                        }
                    };
                    if p.total == 0 && q().is_empty() && status().is_empty() {
                        return view! {
                            <div class="empty" id="clusters-empty">
                                <p class="big">"No clusters in this project yet."</p>
                                <p class="muted">"A cluster takes a few minutes: masters behind an API load balancer, workers, volumes."</p>
                                <a class="button" href="/clusters/new">"Create your first cluster"</a>
                            </div>
                        }
                            .into_any();
                    }
                    let pages = (p.total + p.per_page - 1) / p.per_page;
                    let link = move |to: i64| {
                        format!("/clusters?q={}&status={}&page={to}", encode(&q()), encode(&status()))
                    };
                    view! {
                        <table class="table" id="clusters">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col">"Version"</th>
                                    <th scope="col">"Masters"</th>
                                    <th scope="col">"Nodes"</th>
                                    <th scope="col">"Created"</th>
                                    <th scope="col">"Created by"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {p.items.iter().map(|c| InertElement::new(row_html(c))).collect::<Vec<_>>()}
                            </tbody>
                        </table>
                        <nav class="pager" aria-label="Pages">
                            <span class="muted">{format!("{} cluster(s), page {} of {}", p.total, p.page, pages.max(1))}</span>
                            {(p.page > 1).then(|| view! { <a href=link(p.page - 1) rel="prev">"Previous"</a> })}
                            {(p.page < pages).then(|| view! { <a href=link(p.page + 1) rel="next">"Next"</a> })}
                        </nav>
                    }
                        .into_any()
                })}
            </Transition>
        </section>
    }
}

/// One row of the list as HTML. Rows are written as strings, not views: this is the
/// console's busiest page, and 20 rows of seven cells as views were an eighth of its
/// CPU (docs/DECISIONS.md). Nothing in a row is reactive; its link is followed by the
/// router like any other, and hydration takes the row as it is.
fn row_html(c: &ClusterRowDto) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(512);
    s.push_str("<tr data-cluster=\"");
    esc(&c.name, &mut s);
    s.push_str("\"><td><a href=\"/clusters/");
    esc(&c.id, &mut s);
    s.push_str("\">");
    esc(&c.name, &mut s);
    s.push_str("</a></td><td><span class=\"");
    s.push_str(cluster_badge(c.status));
    s.push_str("\" title=\"");
    esc(c.status_reason.as_deref().unwrap_or_default(), &mut s);
    s.push_str("\">");
    esc(c.status.as_str(), &mut s);
    s.push_str("</span>");
    if let Some(r) = &c.status_reason {
        s.push_str("<details class=\"reason\"><summary>why</summary>");
        esc(r, &mut s);
        s.push_str("</details>");
    }
    s.push_str("</td><td>");
    esc(&c.version, &mut s);
    let _ = write!(
        s,
        "</td><td>{}</td><td>{}</td><td>{}</td><td>",
        c.masters,
        c.nodes,
        format_time(c.created_at)
    );
    esc(&c.created_by, &mut s);
    s.push_str("</td></tr>");
    s
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_escapes_what_users_typed() {
        let row = ClusterRowDto {
            id: "c1".into(),
            name: "a<b>&c".into(),
            status: ClusterStatus::Failed,
            status_reason: Some("quota \"cores\" <exceeded>".into()),
            version: "1.31".into(),
            masters: 3,
            nodes: 2,
            created_at: 0,
            created_by: "o'neil@example.com".into(),
        };
        assert_eq!(
            row_html(&row),
            "<tr data-cluster=\"a&lt;b&gt;&amp;c\"><td><a href=\"/clusters/c1\">a&lt;b&gt;&amp;c</a></td>\
             <td><span class=\"badge bad\" title=\"quota &quot;cores&quot; &lt;exceeded&gt;\">FAILED</span>\
             <details class=\"reason\"><summary>why</summary>quota &quot;cores&quot; &lt;exceeded&gt;</details></td>\
             <td>1.31</td><td>3</td><td>2</td><td>1970-01-01 00:00 UTC</td><td>o&#39;neil@example.com</td></tr>"
        );
        let active = ClusterRowDto {
            status: ClusterStatus::Active,
            status_reason: None,
            ..row
        };
        assert!(
            row_html(&active).contains("<span class=\"badge good\" title=\"\">ACTIVE</span></td>")
        );
    }
}
