//! Reports drawn on the server, as HTML, for server functions to answer with: a
//! cluster's page body and a plan. The browser's WASM holds neither these views nor the
//! readers of their data (docs/DECISIONS.md: the hydrate bundle). Server only.

use leptos::prelude::*;

use super::cluster::{badge, cluster_head, cluster_tabs};
use super::reload_while;
use crate::dto::*;

/// The cluster page's body as HTML. Drawn on the server, so that the browser's WASM holds
/// neither this view nor the reader of its data (docs/DECISIONS.md): the page is a
/// report that changes as a whole when an operation moves, with one kind of form in it:
/// a failed operation's retry, posted to `retry_action` (the server function's path,
/// given by the server function that draws the page, so this module does not depend on
/// the server functions).
pub fn cluster_html(d: ClusterDetail, retry_action: &'static str) -> String {
    draw(|| view! { <ClusterView d retry_action /> })
}

/// A view as HTML, rendered on the server under an owner of its own (a server function
/// has no page to render into).
fn draw<V: IntoView>(view: impl FnOnce() -> V) -> String {
    Owner::new().with(|| view().to_html())
}

#[component]
fn ClusterView(d: ClusterDetail, retry_action: &'static str) -> impl IntoView {
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
        {cluster_head(c.name.clone(), c.status, c.status_reason.clone())}
        {cluster_tabs(c.id.clone(), "")}
        <div class="card">
            <dl class="facts">
                <dt>"Kubernetes"</dt><dd>{c.version.clone()}</dd>
                <dt>"API endpoint"</dt><dd id="api-endpoint">{d.api_address.clone().map(|a| format!("https://{a}")).unwrap_or_else(|| "not yet".into())} " (" {d.api_endpoint.clone()} ")"</dd>
                <dt>"Masters"</dt><dd>{format!("{} × {}", c.masters, d.master_flavor)}</dd>
                <dt>"Pod / service CIDR"</dt><dd>{format!("{} / {}", d.pod_cidr, d.service_cidr)}</dd>
                <dt>"Created"</dt><dd>{format!("{} by {}", format_time(c.created_at), c.created_by)}</dd>
            </dl>
            {c.status.serves_api().then(|| view! {
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
                                    <form method="post" action=retry_action class="inline">
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
            {(can_edit && c.status.accepts_changes()).then(|| view! {
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

/// A plan's report as HTML, drawn on the server like the cluster page's body: the pages
/// with a plan hold neither its view nor the reader of its rows.
pub fn plan_html(report: PlanReport) -> String {
    draw(|| view! { <PlanReportView report /> })
}

/// What a plan makes or removes, how long it takes, whether the cloud and the quota have
/// room for it, and what quota it leaves.
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
    fn the_cluster_page_is_drawn_with_its_retry_form() {
        use crate::server_fns::RetryOperation;
        use leptos::server_fn::ServerFn;
        let cluster = ClusterRowDto {
            id: "c1".into(),
            name: "web".into(),
            status: ClusterStatus::Failed,
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
        let html = cluster_html(d.clone(), RetryOperation::PATH).replace("<!>", "");
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
        assert!(!cluster_html(d, RetryOperation::PATH).contains(&retry));
    }

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
