//! The clusters of the current project: the list (search, status filter, pages), the
//! create form with its plan, and a cluster's page with live progress.

use leptos::prelude::*;
use leptos::tachys::html::InertElement;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::cluster_api::*;
use crate::components::{authed, follow, reload_while, ActionError, ErrorText, PostForm, Submit};
use crate::dto::*;
use crate::escape_html as esc;

/// The badge class of a cluster or operation status.
fn badge(status: &str) -> &'static str {
    match status {
        "ACTIVE" | "succeeded" => "badge good",
        "FAILED" | "failed" | "stuck" | "unwound" => "badge bad",
        _ => "badge busy",
    }
}

const STATUSES: [&str; 5] = ["CREATING", "ACTIVE", "UPDATING", "DELETING", "FAILED"];

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
                    {STATUSES
                        .iter()
                        .map(|s| view! { <option value=*s selected=move || status() == *s>{*s}</option> })
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
    s.push_str(badge(&c.status));
    s.push_str("\" title=\"");
    esc(c.status_reason.as_deref().unwrap_or_default(), &mut s);
    s.push_str("\">");
    esc(&c.status, &mut s);
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
    let plan_id = p.plan_id.clone();
    view! {
        <div class="card" id="plan" data-plan-id=p.plan_id.clone()>
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

/// `/clusters/:id`: status, endpoint, nodes, load balancers, volumes, operations with
/// their progress (followed live while one runs), and the kubeconfig download.
#[component]
pub fn ClusterPage() -> impl IntoView {
    view! {
        <Title text="Cluster · Shipyard" />
        {authed(|_| view! { <ClusterBody /> }.into_any())}
    }
}

#[component]
fn ClusterBody() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let tick = RwSignal::new(0u64);
    let retry = Submit::new::<RetryOperation>();
    let page = crate::load(
        move || (id(), tick.get(), retry.version().get()),
        |(id, _, _)| get_cluster(id),
    );
    follow(
        move || {
            page.get()
                .and_then(|r| r.ok())
                .map(|p| (p.id.clone(), p.busy))
        },
        tick,
    );
    view! {
        <section class="page">
            <ActionError value=retry.value() />
            // Read straight from the resource (not awaited in a Suspend): every new value
            // the live updates fetch replaces the page's body. The body is HTML drawn on
            // the server; its retry forms post through `retry` once hydrated.
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    page.get().map(|r| match r {
                        Ok(p) => view! {
                            <div id="cluster-page" inner_html=p.html on:submit=move |ev| retry.post_within(ev) />
                        }
                            .into_any(),
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

/// The cluster page's body as HTML. Drawn on the server, so that the browser's WASM holds
/// neither this view nor the reader of its data (docs/DECISIONS.md): the page is a
/// report that changes as a whole when an operation moves, with one kind of form in it.
#[cfg(feature = "ssr")]
pub(crate) fn cluster_html(d: ClusterDetail) -> String {
    draw(|| view! { <ClusterView d /> })
}

/// A view as HTML, rendered on the server under an owner of its own (a server function
/// has no page to render into).
#[cfg(feature = "ssr")]
fn draw<V: IntoView>(view: impl FnOnce() -> V) -> String {
    Owner::new().with(|| view().to_html())
}

#[cfg(feature = "ssr")]
#[component]
fn ClusterView(d: ClusterDetail) -> impl IntoView {
    use leptos::server_fn::ServerFn;
    let c = d.cluster.clone();
    let id = c.id.clone();
    let can_edit = d.can_edit;
    let busy = d.busy();
    let masters: Vec<NodeDto> = d
        .nodes
        .iter()
        .filter(|n| n.role == "master")
        .cloned()
        .collect();
    let workers: Vec<NodeDto> = d
        .nodes
        .iter()
        .filter(|n| n.role == "worker")
        .cloned()
        .collect();
    let node_table = |id: &'static str, nodes: Vec<NodeDto>| {
        view! {
            <table class="table" id=id>
                <thead>
                    <tr><th scope="col">"Name"</th><th scope="col">"Status"</th><th scope="col">"Host"</th><th scope="col">"Address"</th><th scope="col">"Node group"</th></tr>
                </thead>
                <tbody>
                    {nodes.into_iter().map(|n| view! {
                        <tr>
                            <td>{n.name}</td>
                            <td><span class=if n.status == "ACTIVE" { "badge good" } else if n.status == "ERROR" { "badge bad" } else { "badge busy" }>{n.status.clone()}</span></td>
                            <td class="host">{n.host.unwrap_or_default()}</td>
                            <td>{n.address.unwrap_or_default()}</td>
                            <td>{n.node_group.unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
    };
    view! {
        {reload_while(busy)}
        {cluster_head(c.name.clone(), c.status.clone(), c.status_reason.clone())}
        {cluster_tabs(c.id.clone(), "")}
        <div class="card">
            <dl class="facts">
                <dt>"Kubernetes"</dt><dd>{c.version.clone()}</dd>
                <dt>"API endpoint"</dt><dd id="api-endpoint">{d.api_address.clone().map(|a| format!("https://{a}")).unwrap_or_else(|| "not yet".into())} " (" {d.api_endpoint.clone()} ")"</dd>
                <dt>"Masters"</dt><dd>{format!("{} × {}", c.masters, d.master_flavor)}</dd>
                <dt>"Pod / service CIDR"</dt><dd>{format!("{} / {}", d.pod_cidr, d.service_cidr)}</dd>
                <dt>"Created"</dt><dd>{format!("{} by {}", format_time(c.created_at), c.created_by)}</dd>
            </dl>
            {(c.status == "ACTIVE" || c.status == "UPDATING").then(|| view! {
                <form method="post" action=format!("/api/v1/clusters/{}/kubeconfig", c.id) id="kubeconfig-form" class="form inline">
                    <button type="submit" id="download-kubeconfig">"Download kubeconfig"</button>
                    <span class="muted">
                        "A fresh client certificate, valid 24 hours. Then: "
                        <code>{format!("kubectl --kubeconfig {}.kubeconfig.yaml get nodes", c.name)}</code>
                    </span>
                </form>
            })}
        </div>
        {d.cloud_error.clone().map(|e| view! { <p class="banner error">{e}</p> })}
        {d.kubernetes.clone().map(kubernetes_card)}
        <div class="card">
            <h2>"Operations"</h2>
            <table class="table" id="operations">
                <thead>
                    <tr><th scope="col">"What"</th><th scope="col">"State"</th><th scope="col">"Progress"</th><th scope="col">"Now"</th><th scope="col">"Started"</th></tr>
                </thead>
                <tbody>
                    {d.operations.iter().map(|o| { let id = id.clone(); let o = o.clone(); let op_id = o.id.clone(); view! {
                        <tr data-operation=o.id.clone() data-state=o.state.clone()>
                            <td><a href=format!("/operations/{}", o.id)>{o.kind.clone()}</a></td>
                            <td><span class=badge(&o.state)>{o.state.clone()}</span></td>
                            <td>
                                <progress max=o.total.max(1) value=o.done aria-label="steps done">{format!("{}/{}", o.done, o.total)}</progress>
                                " " {format!("{}/{}", o.done, o.total)}
                            </td>
                            <td>
                                {o.current.join(", ")}
                                {o.error.clone().map(|e| view! { <span class="error-text">{e}</span> })}
                                {(can_edit && o.state == "failed").then(move || view! {
                                    <form method="post" action=RetryOperation::PATH class="inline">
                                        <input type="hidden" name="id" value=id />
                                        <input type="hidden" name="operation" value=op_id />
                                        <button type="submit" class="secondary small">"Retry"</button>
                                    </form>
                                })}
                            </td>
                            <td>{format_time(o.created_at)}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="card">
            <h2>"Masters"</h2>
            {node_table("masters", masters)}
        </div>
        <div class="card">
            <h2>"Node groups"</h2>
            <table class="table" id="node-groups">
                <thead>
                    <tr><th scope="col">"Name"</th><th scope="col">"Flavor"</th><th scope="col">"Nodes"</th><th scope="col">"Min"</th><th scope="col">"Max"</th><th scope="col">"Change"</th></tr>
                </thead>
                <tbody>
                    {d.node_groups.iter().map(|n| view! {
                        <tr data-node-group=n.name.clone()>
                            <td>{n.name.clone()}</td><td>{n.flavor.clone()}</td><td>{n.node_count}</td><td>{n.min_node_count}</td><td>{n.max_node_count}</td>
                            <td>{can_edit.then(|| view! { <a href=format!("/clusters/{}/nodegroups/{}", c.id, n.name)>"Scale or delete"</a> })}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {(can_edit && c.status == "ACTIVE").then(|| view! {
                <p><a href=format!("/clusters/{}/add-node-group", c.id) class="button secondary small" id="add-node-group">"Add a node group"</a></p>
            })}
            <h3>"Workers"</h3>
            {node_table("workers", workers)}
        </div>
        <div class="card">
            <h2>"Load balancers"</h2>
            <table class="table" id="load-balancers">
                <thead>
                    <tr><th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"VIP"</th><th scope="col">"Status"</th></tr>
                </thead>
                <tbody>
                    {d.load_balancers.iter().map(|l| view! {
                        <tr><td>{l.name.clone()}</td><td>{l.role.clone()}</td><td>{l.vip.clone().unwrap_or_default()}</td><td>{format!("{} / {}", l.status, l.operating_status)}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="card">
            <h2>"Volumes"</h2>
            <table class="table" id="volumes">
                <thead>
                    <tr><th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Size"</th><th scope="col">"Status"</th><th scope="col">"Attached to"</th></tr>
                </thead>
                <tbody>
                    {d.volumes.iter().map(|v| view! {
                        <tr><td>{v.name.clone()}</td><td>{v.role.clone()}</td><td>{format!("{} GiB", v.size_gib)}</td><td>{v.status.clone()}</td><td>{v.attached_to.join(", ")}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {can_edit.then(|| view! {
            <div class="card danger">
                <h2>"Delete"</h2>
                <p>"Deleting removes every server, load balancer and volume of the cluster."</p>
                <a class="button danger" id="delete-cluster" href=format!("/clusters/{}/delete", c.id)>"Delete this cluster…"</a>
            </div>
        })}
    }
}

/// What the cluster's own API says: its health and each node as Kubernetes sees it.
#[cfg(feature = "ssr")]
fn kubernetes_card(k: KubeDto) -> impl IntoView {
    let simulated = k.nodes.iter().any(|n| n.simulated);
    view! {
        <div class="card" id="kubernetes">
            <h2>"Kubernetes"</h2>
            <dl class="facts">
                <dt>"API"</dt>
                <dd id="api-health">
                    {if k.reachable {
                        view! { <span class="badge good">"answering"</span> " " {k.version.clone().unwrap_or_default()} }.into_any()
                    } else {
                        view! { <span class="badge bad">"not answering"</span> " " <span class="muted">{k.error.clone().unwrap_or_default()}</span> }.into_any()
                    }}
                </dd>
            </dl>
            {simulated.then(|| view! {
                <p class="muted">"These nodes are simulated by localcloud: pods are scheduled and reported, no container runs."</p>
            })}
            <table class="table" id="kube-nodes">
                <thead>
                    <tr><th scope="col">"Node"</th><th scope="col">"Ready"</th><th scope="col">"Version"</th><th scope="col">"Pods"</th></tr>
                </thead>
                <tbody>
                    {k.nodes.into_iter().map(|n| {
                        let class = match n.ready.as_str() { "True" => "badge good", "False" => "badge bad", _ => "badge busy" };
                        view! {
                        <tr data-node=n.name.clone()>
                            <td>{n.name.clone()}</td>
                            <td><span class=class>{n.ready.clone()}</span></td>
                            <td>{n.version}</td>
                            <td>{n.pods}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The name and status on top of each of a cluster's pages.
fn cluster_head(name: String, status: String, reason: Option<String>) -> impl IntoView {
    let class = badge(&status);
    view! {
        <div class="page-head">
            <h1 id="cluster-name">{name}</h1>
            <span class=class id="cluster-status" title=reason.clone().unwrap_or_default()>{status}</span>
        </div>
        {reason.map(|r| view! { <p class="banner error" id="cluster-reason">{r}</p> })}
    }
}

/// The tabs of a cluster's pages; `current` is the page's address below the cluster's.
fn cluster_tabs(id: String, current: &'static str) -> impl IntoView {
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
        |(id, _, _)| get_cluster_workloads(id),
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
    let live = w.status == "ACTIVE";
    view! {
        {reload_while(w.busy)}
        {cluster_head(w.name.clone(), w.status.clone(), w.status_reason.clone())}
        {cluster_tabs(w.id.clone(), "/workloads")}
        {(!live).then(|| view! { <p class="muted">"Services and volumes can be changed while the cluster is ACTIVE."</p> })}
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

/// `/clusters/:id/delete`: what will be destroyed, and the cluster's name to type.
#[component]
pub fn DeleteClusterPage() -> impl IntoView {
    view! {
        <Title text="Delete cluster · Shipyard" />
        {authed(|_| view! { <DeleteCluster_ /> }.into_any())}
    }
}

#[component]
fn DeleteCluster_() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let plan = crate::load(id, cluster_delete_plan);
    let delete = Submit::new::<DeleteCluster>();
    view! {
        <section class="page">
            <ActionError value=delete.value() />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let (c, p) = match plan.await {
                        Ok(x) => x,
                        Err(e) => {
                            #[cfg(feature = "ssr")]
                            crate::ssr::set_error_status(&e);
                            return view! { <ErrorText error=e /> }.into_any();
                        }
                    };
                    let back = format!("/clusters/{}", c.id);
                    view! {
                        <h1>{format!("Delete {}", c.name)}</h1>
                        <p>"This removes, from the cloud, everything below. It cannot be undone."</p>
                        <div id="delete-plan" inner_html=p.html.clone() />
                        <PostForm action=delete attr:class="form" attr:id="delete-form">
                            <input type="hidden" name="id" value=c.id.clone() />
                            <input type="hidden" name="plan_id" value=p.plan_id.clone() />
                            <label for="confirm">{format!("Type {} to confirm", c.name)}</label>
                            <input id="confirm" name="confirm" autocomplete="off" required />
                            <button type="submit" class="danger" id="confirm-delete">"Delete the cluster"</button>
                        </PostForm>
                        <p><a href=back>"Keep it"</a></p>
                    }
                        .into_any()
                })}
            </Transition>
        </section>
    }
}

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
    let data = crate::load(
        move || (params.get(), query.get()),
        |(params, query)| async move {
            let id = params.get("id").unwrap_or_default();
            let group = params.get("ng").unwrap_or_default();
            let d = get_cluster_groups(id.clone()).await?;
            let ng = d
                .node_groups
                .iter()
                .find(|n| n.name == group)
                .cloned()
                .ok_or_else(|| {
                    crate::error::AppError::NotFound(format!("Node group {group} not found."))
                })?;
            let plan = match query.get("node_count") {
                Some(n) => Some(node_group_plan(id, group, n.clone()).await.map(|p| (n, p))),
                None => None,
            };
            Ok::<_, crate::error::AppError>((d.cluster, ng, plan))
        },
    );
    view! {
        <section class="page">
            <ActionError value=scale.value() />
            <ActionError value=delete.value() />
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
                    view! {
                        <h1>{format!("{} / {}", c.name, ng.name)}</h1>
                        <p class="muted">{format!("{} nodes of {} (from {} to {})", ng.node_count, ng.flavor, ng.min_node_count, ng.max_node_count)}</p>
                        <form method="get" action=here class="form inline" id="scale-form">
                            <label for="node_count">"Nodes"</label>
                            <input id="node_count" name="node_count" inputmode="numeric" value=ng.node_count.to_string() />
                            <button type="submit" class="secondary" id="review-scale">"Review the plan"</button>
                        </form>
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
                                        <input type="hidden" name="plan_id" value=p.plan_id.clone() />
                                        <button type="submit" id="apply-scale-button" disabled=!p.quota_fits>"Apply"</button>
                                    </PostForm>
                                </div>
                            }.into_any(),
                        })}
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
                get_cluster_groups(id.clone()).await?,
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
                    Some(node_group_create_plan(id, name, flavor, count, min, max).await)
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
                                        <input type="hidden" name="plan_id" value=p.plan_id.clone() />
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

/// A plan's report as HTML, drawn on the server like the cluster page's body: the pages
/// with a plan hold neither its view nor the reader of its rows.
#[cfg(feature = "ssr")]
pub(crate) fn plan_html(report: PlanReport) -> String {
    draw(|| view! { <PlanReportView report /> })
}

/// What a plan makes or removes, how long it takes, whether the cloud and the quota have
/// room for it, and what quota it leaves.
#[cfg(feature = "ssr")]
#[component]
fn PlanReportView(report: PlanReport) -> impl IntoView {
    let grows = !report.removal;
    let summary = grows.then(|| {
        view! {
            <p id="plan-summary">
                {format!("About {} seconds (the longest chain of steps). ", report.expected_seconds)}
                {match report.fits {
                    Some(true) => view! { <span class="badge good" id="plan-fits">"the cloud has room"</span> }.into_any(),
                    Some(false) => view! { <span class="badge bad" id="plan-fits">"the cloud's hosts cannot take it"</span> }.into_any(),
                    None => view! { <span class="badge">"host room unknown"</span> }.into_any(),
                }}
                " "
                {if report.quota_fits {
                    view! { <span class="badge good" id="plan-quota">"within quota"</span> }.into_any()
                } else {
                    view! { <span class="badge bad" id="plan-quota">"over quota"</span> }.into_any()
                }}
            </p>
        }
    });
    let totals = amounts(&report.totals);
    let left = amounts(&report.quota_left);
    view! {
        {summary}
        <table class="table" id="plan-resources">
            <thead>
                <tr>
                    {grows.then(|| view! { <th scope="col">"Action"</th> })}
                    <th scope="col">"Kind"</th><th scope="col">"Name"</th><th scope="col">"Detail"</th>
                </tr>
            </thead>
            <tbody>
                {report.rows.into_iter().map(|r| view! {
                    <tr>{grows.then(|| view! { <td>{r.action}</td> })}<td>{r.kind}</td><td>{r.name}</td><td>{r.detail}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
        {grows.then(|| view! {
            <p class="muted">"Totals: " {totals}</p>
            <p class="muted" id="plan-quota-left">"Quota left after it: " {left}</p>
        })}
    }
}

/// `(what, how many)` pairs as "2 servers, 4 vCPUs".
#[cfg(feature = "ssr")]
fn amounts<V: std::fmt::Display>(pairs: &[(String, V)]) -> String {
    pairs
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_escapes_what_users_typed() {
        let row = ClusterRowDto {
            id: "c1".into(),
            name: "a<b>&c".into(),
            status: "FAILED".into(),
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
            status: "ACTIVE".into(),
            status_reason: None,
            ..row
        };
        assert!(
            row_html(&active).contains("<span class=\"badge good\" title=\"\">ACTIVE</span></td>")
        );
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_cluster_page_is_drawn_with_its_retry_form() {
        use leptos::server_fn::ServerFn;
        let cluster = ClusterRowDto {
            id: "c1".into(),
            name: "web".into(),
            status: "FAILED".into(),
            status_reason: Some("no <room>".into()),
            version: "1.31".into(),
            masters: 1,
            nodes: 0,
            created_at: 0,
            created_by: "o@example.com".into(),
        };
        let op = OperationDto {
            id: "op1".into(),
            kind: "create".into(),
            state: "failed".into(),
            done: 2,
            total: 5,
            current: Vec::new(),
            error: Some("quota".into()),
            retryable: true,
            created_at: 0,
            finished: true,
        };
        let master = NodeDto {
            name: "web-master-0".into(),
            role: "master".into(),
            node_group: None,
            status: "ACTIVE".into(),
            host: Some("host-1".into()),
            address: Some("127.10.0.5".into()),
        };
        let mut d = ClusterDetail {
            cluster,
            api_address: None,
            api_endpoint: "public".into(),
            master_flavor: "m1.small".into(),
            pod_cidr: "10.100.0.0/16".into(),
            service_cidr: "10.254.0.0/16".into(),
            node_groups: Vec::new(),
            nodes: vec![master],
            load_balancers: Vec::new(),
            volumes: Vec::new(),
            operations: vec![op],
            can_edit: true,
            cloud_error: None,
            kubernetes: Some(KubeDto {
                reachable: false,
                version: None,
                error: Some("no <answer>".into()),
                nodes: vec![KubeNodeDto {
                    name: "n1".into(),
                    ready: "Unknown".into(),
                    version: "v1.31.12".into(),
                    pods: 3,
                    simulated: true,
                }],
            }),
        };
        // (Less the comments that mark text nodes for hydration.)
        let html = cluster_html(d.clone()).replace("<!>", "");
        assert!(html.contains("no &lt;room&gt;"), "{html}");
        // The cluster's own view, escaped too.
        assert!(
            html.contains("not answering") && html.contains("no &lt;answer&gt;"),
            "{html}"
        );
        assert!(html.contains("data-node=\"n1\""), "{html}");
        assert!(html.contains("<td class=\"host\">host-1</td>"), "{html}");
        assert!(html.contains("data-state=\"failed\""), "{html}");
        let retry = format!("<form method=\"post\" action=\"{}\"", RetryOperation::PATH);
        assert!(html.contains(&retry), "{html}");
        // Not busy: no reload without JavaScript; a viewer gets no retry button.
        assert!(!html.contains("refresh"), "{html}");
        d.can_edit = false;
        assert!(!cluster_html(d).contains(&retry));
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn a_plan_is_drawn_whole_or_as_a_list_to_remove() {
        let report = PlanReport {
            rows: vec![PlanRow {
                action: "create".into(),
                kind: "server".into(),
                name: "a<b>".into(),
                detail: "m1.small".into(),
            }],
            totals: vec![("servers".into(), "1".into())],
            fits: Some(false),
            quota_fits: true,
            quota_left: vec![("clusters".into(), 4)],
            expected_seconds: 42,
            removal: false,
        };
        let html = plan_html(report.clone()).replace("<!>", "");
        for part in [
            "About 42 seconds",
            "class=\"badge bad\">the cloud's hosts cannot take it<",
            "class=\"badge good\">within quota<",
            "<td>create</td><td>server</td><td>a&lt;b&gt;</td>",
            "1 servers",
            "4 clusters",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
        let html = plan_html(PlanReport {
            removal: true,
            ..report
        })
        .replace("<!>", "");
        assert!(
            html.contains("<td>server</td><td>a&lt;b&gt;</td>"),
            "{html}"
        );
        assert!(
            !html.contains("quota") && !html.contains("create"),
            "{html}"
        );
    }
}
