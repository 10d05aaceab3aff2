//! The admin dashboard: sign-up policy, users and the audit log.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_location;

use crate::api::{get_admin_overview, AdminSetSignup, AdminUpdateUser};
use crate::components::{authed, ActionError, ErrorText};
use crate::dto::format_time;

#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <Title text="Admin · Shipyard" />
        {authed(|_info| view! { <AdminBody /> }.into_any())}
    }
}

#[component]
fn AdminBody() -> impl IntoView {
    let signup = ServerAction::<AdminSetSignup>::new();
    let user_change = ServerAction::<AdminUpdateUser>::new();
    let location = use_location();
    let overview = Resource::new(
        move || {
            (
                location.search.get(),
                signup.version().get(),
                user_change.version().get(),
            )
        },
        |_| get_admin_overview(),
    );
    view! {
        <section class="page">
            <h1>"Admin"</h1>
            <ActionError value=signup.value() />
            <ActionError value=user_change.value() />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let o = match overview.await {
                        Ok(o) => o,
                        Err(e) => {
                            #[cfg(feature = "ssr")]
                            crate::ssr::set_error_status(&e);
                            return view! { <ErrorText error=e /> }.into_any();
                        }
                    };
                    view! {
                        <div class="card">
                            <h2>"Sign-up"</h2>
                            <p data-testid="signup-state">
                                {if o.signup_open { "Open: anyone can create an account." } else { "Closed: only administrators create accounts." }}
                            </p>
                            <ActionForm action=signup attr:class="inline" attr:id="signup-toggle">
                                <input type="hidden" name="open" value=if o.signup_open { "false" } else { "true" } />
                                <button type="submit" class="secondary">
                                    {if o.signup_open { "Close sign-up" } else { "Open sign-up" }}
                                </button>
                            </ActionForm>
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
                                                        <ActionForm action=user_change attr:class="inline">
                                                            <input type="hidden" name="user_id" value=uid />
                                                            <input type="hidden" name="change" value=change />
                                                            <button type="submit" class="secondary small">{label}</button>
                                                        </ActionForm>
                                                    }}).collect_view()}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <div class="card">
                            <h2>"Audit log"</h2>
                            <table class="table" id="audit">
                                <thead>
                                    <tr>
                                        <th scope="col">"Time"</th>
                                        <th scope="col">"Actor"</th>
                                        <th scope="col">"Action"</th>
                                        <th scope="col">"Object"</th>
                                        <th scope="col">"Outcome"</th>
                                        <th scope="col">"Client"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {o.audit.iter().map(|a| view! {
                                        <tr>
                                            <td>{format_time(a.at)}</td>
                                            <td>{a.actor_email.clone()}</td>
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
        </section>
    }
}
