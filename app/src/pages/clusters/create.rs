//! `/clusters/new`: the create form, the plan of what was typed, and the button that
//! creates exactly that plan.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{authed, ActionError, ErrorText, PostForm, Submit};
use crate::dto::*;
use crate::server_fns::{cluster_plan, get_create_options, CreateCluster};

/// `/clusters/new`: the form (a GET, so the plan below it is a page of its own), the
/// plan of what was typed, and the button that creates exactly that plan.
#[component]
pub fn NewClusterPage() -> impl IntoView {
    view! {
        <Title text="Create cluster · Shipyard" />
        {authed(|_| view! { <NewCluster /> }.into_any())}
    }
}

#[component]
fn NewCluster() -> impl IntoView {
    let query = use_query_map();
    let create = Submit::new::<CreateCluster>();
    // One resource for the options and the plan, so that the server renders both
    // before it answers (the page works without JavaScript).
    let page = crate::load(
        move || query.get(),
        |q| async move {
            let o = get_create_options().await?;
            let field = |k: &str| q.get(k).unwrap_or_default();
            let typed = ClusterForm {
                name: field("name"),
                kubernetes_version: field("kubernetes_version"),
                master_count: field("master_count"),
                master_flavor: field("master_flavor"),
                pod_cidr: field("pod_cidr"),
                service_cidr: field("service_cidr"),
                api_endpoint: field("api_endpoint"),
                ng_name: field("ng_name"),
                ng_flavor: field("ng_flavor"),
                ng_count: field("ng_count"),
                ng_min: field("ng_min"),
                ng_max: field("ng_max"),
            };
            let newest = o.versions.first().cloned().unwrap_or_default();
            let form = typed.with_defaults(&newest);
            let plan = match q.get("review") {
                Some(_) => Some(cluster_plan(form.clone()).await),
                None => None,
            };
            Ok::<_, crate::error::AppError>((o, form, plan))
        },
    );
    view! {
        <section class="page">
            <h1>"Create a cluster"</h1>
            <ActionError value=create.value() />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let (o, f, plan) = match page.await {
                        Ok(x) => x,
                        Err(e) => return view! { <ErrorText error=e /> }.into_any(),
                    };
                    view! {
                        <ClusterFormView form=f.clone() options=o />
                        {plan.map(|p| view! { <PlanReview form=f plan=p create /> })}
                    }
                        .into_any()
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ClusterFormView(form: ClusterForm, options: CreateOptions) -> impl IntoView {
    let flavor_select = move |id: &'static str, current: String| {
        let flavors = options.flavors.clone();
        view! {
            <select id=id name=id>
                {flavors
                    .into_iter()
                    .map(|fl| {
                        let selected = fl.name == current;
                        view! {
                            <option value=fl.name.clone() selected=selected>
                                {format!("{} ({} vCPU, {} MiB)", fl.name, fl.vcpus, fl.ram_mib)}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        }
    };
    let versions = options.versions.clone();
    view! {
        <form method="get" action="/clusters/new" class="form wide" id="cluster-form">
            <input type="hidden" name="review" value="1" />
            <fieldset>
                <legend>"Cluster"</legend>
                <label for="name">"Name"</label>
                <input id="name" name="name" required value=form.name.clone() placeholder="lowercase letters, digits and -" />
                <label for="kubernetes_version">"Kubernetes version"</label>
                <select id="kubernetes_version" name="kubernetes_version">
                    {versions.into_iter().map(|v| {
                        let selected = v == form.kubernetes_version;
                        view! { <option value=v.clone() selected=selected>{v.clone()}</option> }
                    }).collect_view()}
                </select>
                <label for="master_count">"Masters"</label>
                <select id="master_count" name="master_count">
                    {["1", "3", "5"].into_iter().map(|n| view! {
                        <option value=n selected=form.master_count == n>{n}</option>
                    }).collect_view()}
                </select>
                <label for="master_flavor">"Master flavor"</label>
                {flavor_select("master_flavor", form.master_flavor.clone())}
                <label for="pod_cidr">"Pod CIDR"</label>
                <input id="pod_cidr" name="pod_cidr" value=form.pod_cidr.clone() />
                <label for="service_cidr">"Service CIDR"</label>
                <input id="service_cidr" name="service_cidr" value=form.service_cidr.clone() />
                <label for="api_endpoint">"API endpoint"</label>
                <select id="api_endpoint" name="api_endpoint">
                    <option value="public" selected=form.api_endpoint == "public">"public"</option>
                    <option value="private" selected=form.api_endpoint == "private">"private"</option>
                </select>
            </fieldset>
            <fieldset>
                <legend>"First node group"</legend>
                <label for="ng_name">"Name"</label>
                <input id="ng_name" name="ng_name" value=form.ng_name.clone() />
                <label for="ng_flavor">"Flavor"</label>
                {flavor_select("ng_flavor", form.ng_flavor.clone())}
                <label for="ng_count">"Nodes"</label>
                <input id="ng_count" name="ng_count" inputmode="numeric" value=form.ng_count.clone() />
                <label for="ng_min">"Minimum"</label>
                <input id="ng_min" name="ng_min" inputmode="numeric" value=form.ng_min.clone() />
                <label for="ng_max">"Maximum"</label>
                <input id="ng_max" name="ng_max" inputmode="numeric" value=form.ng_max.clone() />
            </fieldset>
            <button type="submit" id="review-plan">"Review the plan"</button>
        </form>
    }
}

/// The plan of the form, and the button that creates exactly that.
#[component]
fn PlanReview(
    form: ClusterForm,
    plan: Result<PlanDto, crate::error::AppError>,
    create: Submit<()>,
) -> impl IntoView {
    let p = match plan {
        Ok(p) => p,
        Err(e) => {
            return view! {
                <div class="card" id="plan">
                    <h2>"The plan"</h2>
                    <ErrorText error=e />
                    <p class="muted">"Correct the form above and review again."</p>
                </div>
            }
            .into_any()
        }
    };
    let can = p.can_apply();
    let plan_id = p.plan_id.to_string();
    view! {
        <div class="card" id="plan" data-plan-id=p.plan_id.to_string()>
            <h2>"The plan"</h2>
            <div class="plan-report" inner_html=p.html />
            <PostForm action=create attr:id="create-form">
                {form.fields().into_iter().map(|(k, v)| view! {
                    <input type="hidden" name=k value=v.to_string() />
                }).collect_view()}
                <input type="hidden" name="plan_id" value=plan_id />
                <button type="submit" id="create-cluster" disabled=!can>"Create cluster"</button>
            </PostForm>
        </div>
    }
    .into_any()
}
