//! The admin dashboard, one page per tab, each its own WASM chunk: the overview
//! (charts, the cloud's capacity, operations that need attention), every project's
//! clusters, users and sign-up, quotas, the versions and flavors on offer, and the
//! audit log. Every page answers 403 to anyone but an admin.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{authed, ActionError, ErrorText, PostForm, Submit};
use crate::dto::format_time;
use crate::dto::{AuditFilterDto, HostDto, ProjectQuotaDto};
use crate::error::AppError;
use crate::server_fns::{
    get_admin_audit, get_admin_clusters, get_admin_offer, get_admin_overview, get_admin_quotas,
    get_admin_users, AdminFlavor, AdminOperation, AdminQuota, AdminSetProjectLimit, AdminSetSignup,
    AdminUpdateUser, AdminVersion,
};

/// The admin pages: `(path, title)`.
const TABS: [(&str, &str); 6] = [
    ("/admin", "Overview"),
    ("/admin/clusters", "Clusters"),
    ("/admin/users", "Users"),
    ("/admin/quotas", "Quotas"),
    ("/admin/offer", "Versions and flavors"),
    ("/admin/audit", "Audit log"),
];

/// An admin page: its title, the tabs (for admins) and its body, which loads its own
/// data (a non-admin gets the server's 403 from it).
fn admin_page(path: &'static str, body: fn() -> AnyView) -> impl IntoView {
    let title = TABS
        .iter()
        .find(|(p, _)| *p == path)
        .map_or("Admin", |(_, t)| *t);
    view! {
        <Title text=format!("{title} · Admin · Shipyard") />
        {authed(move |info| view! {
            <section class="page">
                <h1>{format!("Admin: {title}")}</h1>
                {info.user.is_admin.then(|| view! {
                    <nav class="tabs" aria-label="Admin">
                        {TABS.map(|(p, label)| view! {
                            <a href=p aria-current=(p == path).then_some("page")>{label}</a>
                        }).collect_view()}
                    </nav>
                })}
                {body()}
            </section>
        }.into_any())}
    }
}

/// What a page shows when its data could not be had (and the status it answers with).
fn failed(e: AppError) -> AnyView {
    #[cfg(feature = "ssr")]
    crate::ssr::set_error_status(&e);
    view! { <ErrorText error=e /> }.into_any()
}

fn loading() -> impl IntoView {
    view! { <p class="muted">"Loading…"</p> }
}

/// `/admin`.
#[component]
pub fn AdminPage() -> impl IntoView {
    admin_page("/admin", || view! { <Overview /> }.into_any())
}

/// `/admin/clusters`.
#[component]
pub fn AdminClustersPage() -> impl IntoView {
    admin_page("/admin/clusters", || view! { <AllClusters /> }.into_any())
}

/// `/admin/users`.
#[component]
pub fn AdminUsersPage() -> impl IntoView {
    admin_page("/admin/users", || view! { <Users /> }.into_any())
}

/// `/admin/quotas`.
#[component]
pub fn AdminQuotasPage() -> impl IntoView {
    admin_page("/admin/quotas", || view! { <Quotas /> }.into_any())
}

/// `/admin/offer`.
#[component]
pub fn AdminOfferPage() -> impl IntoView {
    admin_page("/admin/offer", || view! { <Offer /> }.into_any())
}

/// `/admin/audit`.
#[component]
pub fn AdminAuditPage() -> impl IntoView {
    admin_page("/admin/audit", || view! { <Audit /> }.into_any())
}

/// Charts, the cloud's capacity, and the operations running, failed or stuck (retry
/// or abort each).
#[component]
fn Overview() -> impl IntoView {
    let op = Submit::new::<AdminOperation>();
    let data = crate::load(move || op.version().get(), |_| get_admin_overview());
    view! {
        <ActionError value=op.value() />
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let d = match data.await {
                    Ok(d) => d,
                    Err(e) => return failed(e),
                };
                view! {
                    <div class="card">
                        <h2>"Overview"</h2>
                        <div class="charts">
                            <BarChart id="chart-clusters" title="Clusters by status (all projects)" items=d.clusters_by_status.clone() />
                            <BarChart id="chart-operations" title="Operations finished in the last 24 h" items=d.operations_24h.clone() />
                        </div>
                    </div>
                    <div class="card">
                        <h2>"Cloud capacity"</h2>
                        {d.cloud_error.clone().map(|e| view! { <p class="banner error">{e}</p> })}
                        <CapacityBars hosts=d.hosts.clone() />
                        <p id="cloud-usage">{format!("{} load balancers, {} volumes ({} GiB) in use.", d.load_balancers, d.volumes, d.volume_gib)}</p>
                    </div>
                    <div class="card">
                        <h2>"Operations: running, failed, stuck"</h2>
                        <table class="table" id="admin-operations">
                            <thead>
                                <tr><th scope="col">"What"</th><th scope="col">"State"</th><th scope="col">"Progress"</th><th scope="col">"Error"</th><th scope="col">"Started"</th><th scope="col">""</th></tr>
                            </thead>
                            <tbody>
                                {d.operations.iter().map(|o| {
                                    let action = match o.state.as_str() {
                                        "failed" | "stuck" => Some(("retry", "Retry")),
                                        "pending" | "running" => Some(("abort", "Abort")),
                                        _ => None,
                                    };
                                    let oid = o.id.clone();
                                    view! {
                                        <tr data-operation=o.id.clone() data-state=o.state.clone()>
                                            <td><a href=format!("/operations/{}", o.id)>{o.kind.clone()}</a>" " <a href=format!("/clusters/{}", o.target_id) class="muted">"cluster"</a></td>
                                            <td><span class="badge">{o.state.clone()}</span></td>
                                            <td>{format!("{}/{}", o.done, o.total)}</td>
                                            <td>{o.error.clone().unwrap_or_default()}</td>
                                            <td>{format_time(o.created_at)}</td>
                                            <td>{action.map(move |(a, label)| view! {
                                                <PostForm action=op attr:class="inline">
                                                    <input type="hidden" name="operation" value=oid.clone() />
                                                    <input type="hidden" name="action" value=a />
                                                    <button type="submit" class="secondary small">{label}</button>
                                                </PostForm>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                    .into_any()
            })}
        </Transition>
    }
}

/// The clusters of every project; each opens the same detail page its tenants see.
#[component]
fn AllClusters() -> impl IntoView {
    let data = crate::load(|| (), |_| get_admin_clusters());
    view! {
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let clusters = match data.await {
                    Ok(d) => d,
                    Err(e) => return failed(e),
                };
                view! {
                    <div class="card">
                        <h2>"Clusters of every project"</h2>
                        <table class="table" id="all-clusters">
                            <thead>
                                <tr><th scope="col">"Name"</th><th scope="col">"Project"</th><th scope="col">"Status"</th><th scope="col">"Version"</th><th scope="col">"Created"</th></tr>
                            </thead>
                            <tbody>
                                {clusters.into_iter().map(|(c, project)| view! {
                                    <tr data-cluster=c.name.clone()>
                                        <td><a href=format!("/clusters/{}", c.id)>{c.name.clone()}</a></td>
                                        <td>{project}</td>
                                        <td><span class="badge" title=c.status_reason.clone().unwrap_or_default()>{c.status.as_str()}</span></td>
                                        <td>{c.version.clone()}</td>
                                        <td>{format_time(c.created_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                    .into_any()
            })}
        </Transition>
    }
}

/// The sign-up policy and every account: make or revoke admin, disable or enable.
#[component]
fn Users() -> impl IntoView {
    let signup = Submit::new::<AdminSetSignup>();
    let limit = Submit::new::<AdminSetProjectLimit>();
    let user_change = Submit::new::<AdminUpdateUser>();
    let data = crate::load(
        move || {
            (
                signup.version().get(),
                limit.version().get(),
                user_change.version().get(),
            )
        },
        |_| get_admin_users(),
    );
    view! {
        <ActionError value=signup.value() />
        <ActionError value=limit.value() />
        <ActionError value=user_change.value() />
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let o = match data.await {
                    Ok(o) => o,
                    Err(e) => return failed(e),
                };
                view! {
                    <div class="card">
                        <h2>"Sign-up"</h2>
                        <p data-testid="signup-state">
                            {if o.signup_open { "Open: anyone can create an account." } else { "Closed: only administrators create accounts." }}
                        </p>
                        <PostForm action=signup attr:class="inline" attr:id="signup-toggle">
                            <input type="hidden" name="open" value=if o.signup_open { "false" } else { "true" } />
                            <button type="submit" class="secondary">
                                {if o.signup_open { "Close sign-up" } else { "Open sign-up" }}
                            </button>
                        </PostForm>
                        <PostForm action=limit attr:class="form inline" attr:id="project-limit-form">
                            <label for="project-limit">"Projects a user may own"</label>
                            <input id="project-limit" name="limit" type="number" min="1" max="1000" required value=o.project_limit.to_string() />
                            <button type="submit" class="secondary">"Save"</button>
                        </PostForm>
                    </div>
                    <div class="card">
                        <h2>"Users"</h2>
                        <table class="table" id="users">
                            <thead>
                                <tr>
                                    <th scope="col">"Email"</th>
                                    <th scope="col">"Role"</th>
                                    <th scope="col">"State"</th>
                                    <th scope="col">"Created"</th>
                                    <th scope="col">"Actions"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {o.users.into_iter().map(|u| {
                                    let uid = u.id.clone();
                                    let admin_change = if u.is_admin { ("revoke_admin", "Revoke admin") } else { ("make_admin", "Make admin") };
                                    let state_change = if u.disabled { ("enable", "Enable") } else { ("disable", "Disable") };
                                    view! {
                                        <tr>
                                            <td>{u.email.clone()}</td>
                                            <td>{if u.is_admin { "admin" } else { "user" }}</td>
                                            <td>{if u.disabled { view! { <span class="badge bad">"disabled"</span> } } else { view! { <span class="badge good">"active"</span> } }}</td>
                                            <td>{format_time(u.created_at)}</td>
                                            <td class="actions">
                                                {[admin_change, state_change].into_iter().map(move |(change, label)| { let uid = uid.clone(); view! {
                                                    <PostForm action=user_change attr:class="inline">
                                                        <input type="hidden" name="user_id" value=uid />
                                                        <input type="hidden" name="change" value=change />
                                                        <button type="submit" class="secondary small">{label}</button>
                                                    </PostForm>
                                                }}).collect_view()}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                    .into_any()
            })}
        </Transition>
    }
}

/// The audit log, filtered as the address says.
#[component]
fn Audit() -> impl IntoView {
    let query = use_query_map();
    let data = crate::load(
        move || query.get(),
        |q| {
            let field = |k: &str| q.get(k).unwrap_or_default();
            get_admin_audit(AuditFilterDto {
                actor: field("actor"),
                project: field("project"),
                action: field("action"),
                outcome: field("outcome"),
                since: field("since"),
                until: field("until"),
            })
        },
    );
    view! {
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let o = match data.await {
                    Ok(o) => o,
                    Err(e) => return failed(e),
                };
                view! {
                    <div class="card" id="audit-card">
                        <h2>"Audit log"</h2>
                        <AuditFilterForm
                            filter=o.audit_filter.clone()
                            actions=o.audit_actions.clone()
                            projects=o.projects.clone()
                            emails=o.emails.clone()
                        />
                        {o.audit_error.clone().map(|e| view! { <p class="banner error" id="audit-error">{e}</p> })}
                        <table class="table" id="audit">
                            <thead>
                                <tr>
                                    <th scope="col">"Time"</th>
                                    <th scope="col">"Actor"</th>
                                    <th scope="col">"Project"</th>
                                    <th scope="col">"Action"</th>
                                    <th scope="col">"Object"</th>
                                    <th scope="col">"Outcome"</th>
                                    <th scope="col">"Client"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {o.audit.iter().map(|a| view! {
                                    <tr data-action=a.action.clone() data-outcome=a.outcome.clone()>
                                        <td>{format_time(a.at)}</td>
                                        <td>{a.actor_email.clone()}</td>
                                        <td>{a.project_id.as_ref().map(|id| o.projects.iter().find(|(p, _)| p == id).map(|(_, n)| n.clone()).unwrap_or_else(|| id.clone()))}</td>
                                        <td><code>{a.action.clone()}</code></td>
                                        <td>{a.object.clone()}</td>
                                        <td><span class=format!("badge {}", a.outcome)>{a.outcome.clone()}</span></td>
                                        <td>{a.client_addr.clone()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                    .into_any()
            })}
        </Transition>
    }
}

/// The audit log's filter: a GET form, so it works without JavaScript and the
/// filtered log has an address of its own.
#[component]
fn AuditFilterForm(
    filter: AuditFilterDto,
    actions: Vec<String>,
    projects: Vec<(String, String)>,
    emails: Vec<String>,
) -> impl IntoView {
    let choice = move |id: &'static str, current: String, options: Vec<(String, String)>| {
        view! {
            <select id=id name=id>
                <option value="" selected=current.is_empty()>"any"</option>
                {options.into_iter().map(|(value, label)| {
                    let selected = value == current;
                    view! { <option value=value selected=selected>{label}</option> }
                }).collect_view()}
            </select>
        }
    };
    let outcomes = ["success", "failure", "denied"]
        .map(|o| (o.to_string(), o.to_string()))
        .to_vec();
    view! {
        <form method="get" action="/admin/audit" class="form filters" id="audit-filter">
            <div>
                <label for="actor">"Actor"</label>
                <input id="actor" name="actor" list="actor-emails" value=filter.actor.clone() placeholder="email" />
                <datalist id="actor-emails">
                    {emails.into_iter().map(|e| view! { <option value=e></option> }).collect_view()}
                </datalist>
            </div>
            <div>
                <label for="project">"Project"</label>
                {choice("project", filter.project.clone(), projects)}
            </div>
            <div>
                <label for="action">"Action"</label>
                {choice("action", filter.action.clone(), actions.into_iter().map(|a| (a.clone(), a)).collect())}
            </div>
            <div>
                <label for="outcome">"Outcome"</label>
                {choice("outcome", filter.outcome.clone(), outcomes)}
            </div>
            <div>
                <label for="since">"Since (UTC)"</label>
                <input id="since" name="since" type="datetime-local" value=filter.since.clone() />
            </div>
            <div>
                <label for="until">"Until (UTC)"</label>
                <input id="until" name="until" type="datetime-local" value=filter.until.clone() />
            </div>
            <div class="filter-buttons">
                <button type="submit" class="secondary" id="audit-filter-apply">"Filter"</button>
                " "
                <a href="/admin/audit">"Clear"</a>
            </div>
        </form>
    }
}

/// Horizontal bars, one per `(label, value)`, drawn on the server as SVG.
#[component]
fn BarChart(id: &'static str, title: &'static str, items: Vec<(String, i64)>) -> impl IntoView {
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = 24 * items.len().max(1) + 4;
    view! {
        <figure class="chart" id=id>
            <figcaption>{title}</figcaption>
            {if items.is_empty() {
                view! { <p class="muted">"Nothing yet."</p> }.into_any()
            } else {
                view! {
                    <svg role="img" aria-label=title width="100%" height=height viewBox=format!("0 0 400 {height}") preserveAspectRatio="none">
                        {items.iter().enumerate().map(|(i, (label, v))| {
                            let y = 24 * i + 2;
                            let w = 240 * *v / max;
                            view! {
                                <g data-label=label.clone() data-value=*v>
                                    <text x="0" y=y + 15 font-size="12">{label.clone()}</text>
                                    <rect x="110" y=y + 3 width=w.max(1) height="16" class=format!("bar {}", label.to_ascii_lowercase()) />
                                    <text x=115 + w y=y + 15 font-size="12">{*v}</text>
                                </g>
                            }
                        }).collect_view()}
                    </svg>
                }.into_any()
            }}
        </figure>
    }
}

/// Each host's vCPU and RAM, used against free, from the cloud's own figures.
#[component]
fn CapacityBars(hosts: Vec<HostDto>) -> impl IntoView {
    let bar = |used: u64, total: u64| {
        let pct = (100 * used).checked_div(total).unwrap_or(0).min(100);
        view! {
            <span class="meter" title=format!("{used} of {total}")>
                <span class="meter-used" style=format!("width: {pct}%")></span>
            </span>
            <span class="muted">{format!(" {used} / {total}")}</span>
        }
    };
    view! {
        <table class="table" id="capacity">
            <thead>
                <tr><th scope="col">"Host"</th><th scope="col">"vCPUs used"</th><th scope="col">"RAM used (MiB)"</th></tr>
            </thead>
            <tbody>
                {hosts.into_iter().map(|h| view! {
                    <tr data-host=h.name.clone()>
                        <td>{h.name.clone()}</td>
                        <td>{bar(h.vcpus_used, h.vcpus)}</td>
                        <td>{bar(h.ram_used_mib, h.ram_mib)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The Kubernetes versions and flavors tenants may choose from.
#[component]
fn Offer() -> impl IntoView {
    let version = Submit::new::<AdminVersion>();
    let flavor = Submit::new::<AdminFlavor>();
    let data = crate::load(
        move || (version.version().get(), flavor.version().get()),
        |_| get_admin_offer(),
    );
    view! {
        <ActionError value=version.value() />
        <ActionError value=flavor.value() />
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let d = match data.await {
                    Ok(d) => d,
                    Err(e) => return failed(e),
                };
                view! {
                    <div class="card">
                        <h2>"Kubernetes versions on offer"</h2>
                        <table class="table" id="versions">
                            <thead><tr><th scope="col">"Version"</th><th scope="col">"Image"</th><th scope="col">"Offered"</th><th scope="col">""</th></tr></thead>
                            <tbody>
                                {d.versions.into_iter().map(|v| { let name = v.version.clone(); view! {
                                    <tr data-version=v.version.clone()>
                                        <td>{v.version.clone()}</td>
                                        <td><code>{v.image.clone()}</code></td>
                                        <td>{if v.enabled { "yes" } else { "no" }}</td>
                                        <td>
                                            <PostForm action=version attr:class="inline">
                                                <input type="hidden" name="version" value=name />
                                                <input type="hidden" name="enabled" value=if v.enabled { "false" } else { "true" } />
                                                <button type="submit" class="secondary small">{if v.enabled { "Stop offering" } else { "Offer" }}</button>
                                            </PostForm>
                                        </td>
                                    </tr>
                                }}).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <div class="card">
                        <h2>"Flavors on offer"</h2>
                        <p class="muted">"A flavor not on offer takes no new clusters or node groups; node groups already on it keep it."</p>
                        {d.cloud_error.map(|e| view! { <p class="banner error">{e}</p> })}
                        <table class="table" id="flavors">
                            <thead><tr><th scope="col">"Flavor"</th><th scope="col">"vCPUs"</th><th scope="col">"RAM (MiB)"</th><th scope="col">"Offered"</th><th scope="col">""</th></tr></thead>
                            <tbody>
                                {d.flavors.into_iter().map(|f| { let name = f.name.clone(); view! {
                                    <tr data-flavor=f.name.clone() data-enabled=f.enabled.to_string()>
                                        <td>{f.name.clone()}</td>
                                        <td>{f.vcpus}</td>
                                        <td>{f.ram_mib}</td>
                                        <td>{if f.enabled { "yes" } else { "no" }}</td>
                                        <td>
                                            <PostForm action=flavor attr:class="inline">
                                                <input type="hidden" name="name" value=name />
                                                <input type="hidden" name="enabled" value=if f.enabled { "false" } else { "true" } />
                                                <button type="submit" class="secondary small">{if f.enabled { "Stop offering" } else { "Offer" }}</button>
                                            </PostForm>
                                        </td>
                                    </tr>
                                }}).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                    .into_any()
            })}
        </Transition>
    }
}

/// Each project's limits beside its use; `?quota=<project id>` opens that project's form.
#[component]
fn Quotas() -> impl IntoView {
    let quota = Submit::new::<AdminQuota>();
    let query = use_query_map();
    let data = crate::load(
        move || (quota.version().get(), query.with(|q| q.get("saved"))),
        |_| get_admin_quotas(),
    );
    let editing = move || query.with(|q| q.get("quota")).unwrap_or_default();
    view! {
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(quotas) => view! { <QuotaTable quotas editing=editing() action=quota /> }.into_any(),
                    Err(e) => failed(e),
                }
            })}
        </Transition>
    }
}

/// The quota table, and the form of the project being edited.
#[component]
fn QuotaTable(quotas: Vec<ProjectQuotaDto>, editing: String, action: Submit<()>) -> impl IntoView {
    let edited = quotas.iter().find(|p| p.project_id == editing).cloned();
    view! {
        <div class="card" id="quotas">
            <h2>"Quotas per project"</h2>
            <ActionError value=action.value() />
            {edited.map(|p| view! {
                <PostForm action=action attr:class="form quota-form" attr:id="quota-form">
                    <h3>{format!("Quota of {}", p.name)}</h3>
                    <input type="hidden" name="project_id" value=p.project_id.clone() />
                    {p.quota.items().into_iter().zip(p.usage.items()).map(|((field, label, limit), (_, _, used))| view! {
                        <label for=format!("quota-{field}")>{format!("{label} (uses {used})")}</label>
                        <input id=format!("quota-{field}") name=field inputmode="numeric" value=limit.to_string() />
                    }).collect_view()}
                    <button type="submit" id="quota-save">"Save quota"</button>
                    " "
                    <a href="/admin/quotas">"Cancel"</a>
                </PostForm>
            })}
            <table class="table" id="quota-table">
                <thead>
                    <tr>
                        <th scope="col">"Project"</th>
                        {crate::dto::QuotaDto::default().items().into_iter().map(|(_, label, _)| view! { <th scope="col">{label}</th> }).collect_view()}
                        <th scope="col">""</th>
                    </tr>
                </thead>
                <tbody>
                    {quotas.into_iter().map(|p| view! {
                        <tr data-project=p.project_id.clone()>
                            <td>
                                {p.name.clone()}
                                {p.personal_of.clone().map(|e| view! { <span class="muted">{format!(" ({e})")}</span> })}
                            </td>
                            {p.quota.items().into_iter().zip(p.usage.items()).map(|((_, _, limit), (_, _, used))| {
                                let over = used > limit;
                                view! { <td class:over=over>{format!("{used} / {limit}")}</td> }
                            }).collect_view()}
                            <td><a href=format!("/admin/quotas?quota={}", p.project_id) class="button secondary small">"Edit"</a></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
