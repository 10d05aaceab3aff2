//! Pieces of a cluster's pages drawn both in the browser and on the server: the status
//! badge, the name and status on top, the tabs.

use leptos::prelude::*;
use model::ClusterStatus;
use model::Tone;

/// The badge class of a cluster or operation status.
pub fn badge(status: &str) -> &'static str {
    match status {
        "ACTIVE" | "succeeded" => "badge good",
        "FAILED" | "failed" | "stuck" | "unwound" => "badge bad",
        _ => "badge busy",
    }
}

/// The badge class of a cluster's status.
pub fn cluster_badge(status: ClusterStatus) -> &'static str {
    match status.tone() {
        Tone::Good => "badge good",
        Tone::Bad => "badge bad",
        Tone::Busy => "badge busy",
    }
}

/// The name and status on top of each of a cluster's pages.
pub fn cluster_head(name: String, status: ClusterStatus, reason: Option<String>) -> impl IntoView {
    let class = cluster_badge(status);
    let status = status.as_str();
    view! {
        <div class="page-head">
            <h1 id="cluster-name">{name}</h1>
            <span class=class id="cluster-status" title=reason.clone().unwrap_or_default()>{status}</span>
        </div>
        {reason.map(|r| view! { <p class="banner error" id="cluster-reason">{r}</p> })}
    }
}

/// The tabs of a cluster's pages; `current` is the page's address below the cluster's.
pub fn cluster_tabs(id: String, current: &'static str) -> impl IntoView {
    let tab = |(path, label): (&'static str, &'static str)| {
        view! {
            <a href=format!("/clusters/{id}{path}") aria-current=(path == current).then_some("page")>{label}</a>
        }
    };
    view! {
        <nav class="tabs" aria-label="Cluster">
            {[("", "Overview"), ("/workloads", "Services and volumes")].map(tab)}
        </nav>
    }
}
