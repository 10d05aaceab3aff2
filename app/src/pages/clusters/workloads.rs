//! `/clusters/:id/workloads`: a cluster's services and persistent volumes, with the
//! forms that make and remove them.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::cluster::{badge, cluster_head, cluster_tabs};
use crate::components::{authed, follow, reload_while, ActionError, ErrorText, PostForm, Submit};
use crate::dto::*;
use crate::server_fns::{get_cluster_workloads, CreateVolume, DeleteWorkload, ExposeService};

/// `/clusters/:id/workloads`: the services exposed on load balancers and the persistent
/// volumes of a cluster, with the forms that make and remove them.
#[component]
pub fn WorkloadsPage() -> impl IntoView {
    view! {
        <Title text="Services and volumes · Shipyard" />
        {authed(|_| view! { <Workloads /> }.into_any())}
    }
}

#[component]
fn Workloads() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let tick = RwSignal::new(0u64);
    let forms = WorkloadForms {
        expose: Submit::new::<ExposeService>(),
        volume: Submit::new::<CreateVolume>(),
        remove: Submit::new::<DeleteWorkload>(),
    };
    let data = crate::load(
        move || {
            (
                id(),
                tick.get(),
                forms.expose.version().get()
                    + forms.volume.version().get()
                    + forms.remove.version().get(),
            )
        },
        |(id, _, _)| get_cluster_workloads(id.into()),
    );
    follow(
        move || {
            data.get()
                .and_then(|r| r.ok())
                .map(|w| (w.id.clone(), w.busy))
        },
        tick,
    );
    view! {
        <section class="page">
            <ActionError value=forms.expose.value() />
            <ActionError value=forms.volume.value() />
            <ActionError value=forms.remove.value() />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    data.get().map(|r| match r {
                        Ok(w) => view! { <WorkloadsView w forms /> }.into_any(),
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

/// The forms of the services and volumes page, created once so their errors show above
/// it.
#[derive(Clone, Copy)]
struct WorkloadForms {
    expose: Submit<()>,
    volume: Submit<()>,
    remove: Submit<()>,
}

#[component]
fn WorkloadsView(w: ClusterWorkloads, forms: WorkloadForms) -> impl IntoView {
    let id = w.id.clone();
    let can_edit = w.can_edit;
    let live = w.status.accepts_changes();
    view! {
        {reload_while(w.busy)}
        {cluster_head(w.name.clone(), w.status, w.status_reason.clone())}
        {cluster_tabs(w.id.clone(), "/workloads")}
        {(!live).then(|| view! { <p class="muted">"Services and volumes can be changed while the cluster is ACTIVE."</p> })}
        <p class="muted">"Each is a Kubernetes object in the cluster (a Service of type LoadBalancer, a PersistentVolumeClaim): kubectl sees what is made here, and this page shows what kubectl makes."</p>
        {w.api_error.clone().map(|e| view! { <p class="error" id="workloads-api-error">{format!("Only what Shipyard made in the cloud is listed: {e}")}</p> })}
        <div class="card">
            <h2>"Services"</h2>
            <table class="table" id="services">
                <thead>
                    <tr><th scope="col">"Name"</th><th scope="col">"Ports (LB→node)"</th><th scope="col">"VIP"</th><th scope="col">"Status"</th><th scope="col">""</th></tr>
                </thead>
                <tbody>
                    {w.services.iter().map(|x| { let id = id.clone(); view! {
                        <tr data-service=x.name.clone()>
                            <td>{x.name.clone()}</td><td>{x.ports.clone()}</td><td>{x.vip.clone().unwrap_or_default()}</td>
                            <td><span class=badge(&x.status) title=x.status_reason.clone().unwrap_or_default()>{x.status.clone()}</span></td>
                            <td>{(can_edit && live).then(|| view! { <DeleteWorkloadForm action=forms.remove id=id what="service" name=x.name.clone() /> })}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
            {(can_edit && live).then({ let id = id.clone(); move || view! {
                <PostForm action=forms.expose attr:class="form inline" attr:id="expose-form">
                    <input type="hidden" name="id" value=id />
                    <label for="service-name">"Name"</label>
                    <input id="service-name" name="name" required />
                    <label for="service-port">"Port"</label>
                    <input id="service-port" name="port" inputmode="numeric" required />
                    <label for="service-node-port">"Node port"</label>
                    <input id="service-node-port" name="node_port" inputmode="numeric" placeholder="picked" />
                    <button type="submit">"Expose"</button>
                </PostForm>
            }})}
        </div>
        <div class="card">
            <h2>"Persistent volumes"</h2>
            <table class="table" id="persistent-volumes">
                <thead>
                    <tr><th scope="col">"Name"</th><th scope="col">"Size"</th><th scope="col">"Status"</th><th scope="col">""</th></tr>
                </thead>
                <tbody>
                    {w.persistent_volumes.iter().map(|x| { let id = id.clone(); view! {
                        <tr data-volume=x.name.clone()>
                            <td>{x.name.clone()}</td><td>{format!("{} GiB", x.size_gib)}</td>
                            <td><span class=badge(&x.status) title=x.status_reason.clone().unwrap_or_default()>{x.status.clone()}</span></td>
                            <td>{(can_edit && live).then(|| view! { <DeleteWorkloadForm action=forms.remove id=id what="volume" name=x.name.clone() /> })}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
            {(can_edit && live).then({ let id = id.clone(); move || view! {
                <PostForm action=forms.volume attr:class="form inline" attr:id="volume-form">
                    <input type="hidden" name="id" value=id />
                    <label for="volume-name">"Name"</label>
                    <input id="volume-name" name="name" required />
                    <label for="volume-size">"Size (GiB)"</label>
                    <input id="volume-size" name="size_gib" inputmode="numeric" required />
                    <button type="submit">"Create volume"</button>
                </PostForm>
            }})}
        </div>
    }
}

#[component]
fn DeleteWorkloadForm(
    action: Submit<()>,
    id: String,
    what: &'static str,
    name: String,
) -> impl IntoView {
    view! {
        <PostForm action=action attr:class="inline">
            <input type="hidden" name="id" value=id />
            <input type="hidden" name="what" value=what />
            <input type="hidden" name="name" value=name />
            <button type="submit" class="secondary small">"Delete"</button>
        </PostForm>
    }
}
