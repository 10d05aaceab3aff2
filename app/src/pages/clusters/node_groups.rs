//! A cluster's node group pages: scaling one (with the plan: which nodes come or go),
//! turning its autoscaling on or off, or deleting it, and adding one (with its plan).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::components::{authed, ActionError, ErrorText, PostForm, Submit};
use crate::server_fns::{
    get_cluster_groups, get_create_options, node_group_create_plan, node_group_plan,
    AutoscaleNodeGroup, CreateNodeGroup, DeleteNodeGroup, ScaleNodeGroup,
};

/// `/clusters/:id/nodegroups/:ng`: scale (with the plan: which nodes come or go) or
/// delete a node group.
#[component]
pub fn NodeGroupPage() -> impl IntoView {
    view! {
        <Title text="Node group · Shipyard" />
        {authed(|_| view! { <NodeGroup_ /> }.into_any())}
    }
}

#[component]
fn NodeGroup_() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let scale = Submit::new::<ScaleNodeGroup>();
    let delete = Submit::new::<DeleteNodeGroup>();
    let autoscale = Submit::new::<AutoscaleNodeGroup>();
    let data = crate::load(
        move || (params.get(), query.get()),
        |(params, query)| async move {
            let id = params.get("id").unwrap_or_default();
            let group = params.get("ng").unwrap_or_default();
            let d = get_cluster_groups(id.clone().into()).await?;
            let ng = d
                .node_groups
                .iter()
                .find(|n| n.name == group)
                .cloned()
                .ok_or_else(|| {
                    crate::error::AppError::NotFound(format!("Node group {group} not found."))
                })?;
            let plan = match query.get("node_count") {
                Some(n) => Some(
                    node_group_plan(id.into(), group.into(), n.clone())
                        .await
                        .map(|p| (n, p)),
                ),
                None => None,
            };
            Ok::<_, crate::error::AppError>((d.cluster, ng, plan))
        },
    );
    view! {
        <section class="page">
            <ActionError value=scale.value() />
            <ActionError value=delete.value() />
            <ActionError value=autoscale.value() />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let (c, ng, plan) = match data.await {
                        Ok(x) => x,
                        Err(e) => {
                            #[cfg(feature = "ssr")]
                            crate::ssr::set_error_status(&e);
                            return view! { <ErrorText error=e /> }.into_any();
                        }
                    };
                    let here = format!("/clusters/{}/nodegroups/{}", c.id, ng.name);
                    let back = format!("/clusters/{}", c.id);
                    let (cid, gname) = (c.id.clone(), ng.name.clone());
                    let (aid, agroup) = (c.id.clone(), ng.name.clone());
                    view! {
                        <h1>{format!("{} / {}", c.name, ng.name)}</h1>
                        <p class="muted">{format!("{} nodes of {} (from {} to {})", ng.node_count, ng.flavor, ng.min_node_count, ng.max_node_count)}</p>
                        {if ng.autoscale {
                            view! {
                                <p id="autoscaled">{format!("Autoscaling is on: the group grows for pods no node can take and loses nodes that stay underused, between {} and {} nodes. Turn it off to resize it by hand.", ng.min_node_count, ng.max_node_count)}</p>
                            }.into_any()
                        } else {
                            view! {
                                <form method="get" action=here class="form inline" id="scale-form">
                                    <label for="node_count">"Nodes"</label>
                                    <input id="node_count" name="node_count" inputmode="numeric" value=ng.node_count.to_string() />
                                    <button type="submit" class="secondary" id="review-scale">"Review the plan"</button>
                                </form>
                            }.into_any()
                        }}
                        {plan.map(|r| match r {
                            Err(e) => view! { <ErrorText error=e /> }.into_any(),
                            Ok((n, p)) => view! {
                                <div class="card" id="plan">
                                    <h2>"The plan"</h2>
                                    <div class="plan-report" inner_html=p.html.clone() />
                                    <PostForm action=scale attr:id="apply-scale">
                                        <input type="hidden" name="id" value=cid.clone() />
                                        <input type="hidden" name="group" value=gname.clone() />
                                        <input type="hidden" name="node_count" value=n />
                                        <input type="hidden" name="plan_id" value=p.plan_id.to_string() />
                                        <button type="submit" id="apply-scale-button" disabled=!p.quota_fits>"Apply"</button>
                                    </PostForm>
                                </div>
                            }.into_any(),
                        })}
                        <div class="card" id="autoscaling">
                            <h2>"Autoscaling"</h2>
                            <PostForm action=autoscale attr:id="autoscale-form">
                                <input type="hidden" name="id" value=aid />
                                <input type="hidden" name="group" value=agroup />
                                <label for="enabled">"Autoscaling"</label>
                                <select id="enabled" name="enabled">
                                    <option value="on" selected=ng.autoscale>"On"</option>
                                    <option value="off" selected=!ng.autoscale>"Off"</option>
                                </select>
                                <label for="autoscale_min">"Minimum"</label>
                                <input id="autoscale_min" name="min_node_count" inputmode="numeric" value=ng.min_node_count.to_string() />
                                <label for="autoscale_max">"Maximum"</label>
                                <input id="autoscale_max" name="max_node_count" inputmode="numeric" value=ng.max_node_count.to_string() />
                                <button type="submit" class="secondary" id="apply-autoscaling">"Save"</button>
                            </PostForm>
                        </div>
                        <div class="card danger">
                            <h2>"Delete this node group"</h2>
                            <p>"Its servers are removed. A cluster keeps at least one node group."</p>
                            <PostForm action=delete attr:id="delete-node-group">
                                <input type="hidden" name="id" value=c.id.clone() />
                                <input type="hidden" name="group" value=ng.name.clone() />
                                <button type="submit" class="danger">"Delete node group"</button>
                            </PostForm>
                        </div>
                        <p><a href=back>"Back to the cluster"</a></p>
                    }
                        .into_any()
                })}
            </Transition>
        </section>
    }
}

/// `/clusters/:id/add-node-group`: the form (a GET, like the cluster's), the plan of
/// what was typed, and the button that adds exactly that.
#[component]
pub fn AddNodeGroupPage() -> impl IntoView {
    view! {
        <Title text="Add a node group · Shipyard" />
        {authed(|_| view! { <AddNodeGroup /> }.into_any())}
    }
}

#[component]
fn AddNodeGroup() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let create = Submit::new::<CreateNodeGroup>();
    let data = crate::load(
        move || (params.get(), query.get()),
        |(params, q)| async move {
            let id = params.get("id").unwrap_or_default();
            let (d, o) = (
                get_cluster_groups(id.clone().into()).await?,
                get_create_options().await?,
            );
            let field = |k: &str, default: &str| {
                q.get(k)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| default.to_string())
            };
            let small = o
                .flavors
                .first()
                .map(|f| f.name.clone())
                .unwrap_or_default();
            let form = [
                field("name", ""),
                field("flavor", &small),
                field("node_count", "1"),
                field("min_node_count", "1"),
                field("max_node_count", "5"),
            ];
            let plan = match q.get("review") {
                Some(_) => {
                    let [name, flavor, count, min, max] = form.clone();
                    Some(node_group_create_plan(id.into(), name, flavor, count, min, max).await)
                }
                None => None,
            };
            Ok::<_, crate::error::AppError>((d.cluster, o.flavors, form, plan))
        },
    );
    view! {
        <section class="page">
            <ActionError value=create.value() />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let (c, flavors, form, plan) = match data.await {
                        Ok(x) => x,
                        Err(e) => {
                            #[cfg(feature = "ssr")]
                            crate::ssr::set_error_status(&e);
                            return view! { <ErrorText error=e /> }.into_any();
                        }
                    };
                    let here = format!("/clusters/{}/add-node-group", c.id);
                    let [name, flavor, count, min, max] = form.clone();
                    let cid = c.id.clone();
                    view! {
                        <h1>{format!("Add a node group to {}", c.name)}</h1>
                        <form method="get" action=here class="form" id="node-group-form">
                            <input type="hidden" name="review" value="1" />
                            <label for="name">"Name"</label>
                            <input id="name" name="name" required value=name placeholder="lowercase letters, digits and -" />
                            <label for="flavor">"Flavor"</label>
                            <select id="flavor" name="flavor">
                                {flavors.into_iter().map(|fl| {
                                    let selected = fl.name == flavor;
                                    view! { <option value=fl.name.clone() selected=selected>{format!("{} ({} vCPU, {} MiB)", fl.name, fl.vcpus, fl.ram_mib)}</option> }
                                }).collect_view()}
                            </select>
                            <label for="node_count">"Nodes"</label>
                            <input id="node_count" name="node_count" inputmode="numeric" value=count />
                            <label for="min_node_count">"Minimum"</label>
                            <input id="min_node_count" name="min_node_count" inputmode="numeric" value=min />
                            <label for="max_node_count">"Maximum"</label>
                            <input id="max_node_count" name="max_node_count" inputmode="numeric" value=max />
                            <button type="submit" class="secondary" id="review-node-group">"Review the plan"</button>
                        </form>
                        {plan.map(|r| match r {
                            Err(e) => view! {
                                <div class="card" id="plan">
                                    <h2>"The plan"</h2>
                                    <ErrorText error=e />
                                    <p class="muted">"Correct the form above and review again."</p>
                                </div>
                            }.into_any(),
                            Ok(p) => view! {
                                <div class="card" id="plan">
                                    <h2>"The plan"</h2>
                                    <div class="plan-report" inner_html=p.html.clone() />
                                    <PostForm action=create attr:id="create-node-group-form">
                                        <input type="hidden" name="id" value=cid.clone() />
                                        {["name", "flavor", "node_count", "min_node_count", "max_node_count"].into_iter().zip(form.clone()).map(|(k, v)| view! {
                                            <input type="hidden" name=k value=v />
                                        }).collect_view()}
                                        <input type="hidden" name="plan_id" value=p.plan_id.to_string() />
                                        <button type="submit" id="create-node-group" disabled=!p.can_apply()>"Add node group"</button>
                                    </PostForm>
                                </div>
                            }.into_any(),
                        })}
                        <p><a href=format!("/clusters/{}", c.id)>"Back to the cluster"</a></p>
                    }
                        .into_any()
                })}
            </Transition>
        </section>
    }
}
