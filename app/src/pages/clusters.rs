//! The clusters of the current project.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::authed;

#[component]
pub fn ClustersPage() -> impl IntoView {
    view! {
        <Title text="Clusters · Shipyard" />
        {authed(|info| {
            let project = info.current.map(|p| p.name).unwrap_or_else(|| "no project".into());
            view! {
                <section class="page">
                    <div class="page-head">
                        <h1>"Clusters"</h1>
                        <p class="muted">"Project: " <strong>{project}</strong></p>
                    </div>
                    <table class="table" aria-describedby="clusters-empty">
                        <thead>
                            <tr>
                                <th scope="col">"Name"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Version"</th>
                                <th scope="col">"Masters"</th>
                                <th scope="col">"Nodes"</th>
                                <th scope="col">"Created"</th>
                            </tr>
                        </thead>
                        <tbody></tbody>
                    </table>
                    <div class="empty" id="clusters-empty">
                        <p class="big">"No clusters in this project yet."</p>
                        <p class="muted">
                            "Clusters you create here appear in this list with their status, version and nodes."
                        </p>
                    </div>
                </section>
            }
                .into_any()
        })}
    }
}
