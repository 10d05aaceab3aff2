//! The current project: description, members, invitations and roles; the signed-in
//! user's own invitations; new projects.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_query_map};

use crate::components::{authed, ActionError, ErrorText, Notice, PostForm, Submit};
use crate::dto::{format_time, InvitationDto};
use crate::server_fns::{
    get_project_page, AcceptInvitation, CreateProject, DeclineInvitation, RemoveMember,
    RevokeInvitation, SetMember, UpdateProject,
};

#[component]
pub fn ProjectPage() -> impl IntoView {
    view! {
        <Title text="Project · Shipyard" />
        {authed(|info| {
            let current = info.current.map(|p| p.id).unwrap_or_default();
            view! { <ProjectView current /> }.into_any()
        })}
    }
}

/// The page under one resource: the user's invitations, the current project (when
/// there is one: `current` is its id, else empty) and the new project form.
#[component]
fn ProjectView(current: String) -> impl IntoView {
    let create = Submit::new::<CreateProject>();
    let update = Submit::new::<UpdateProject>();
    let set_member = Submit::new::<SetMember>();
    let remove = Submit::new::<RemoveMember>();
    let withdraw = Submit::new::<RevokeInvitation>();
    let accept = Submit::new::<AcceptInvitation>();
    let decline = Submit::new::<DeclineInvitation>();
    let location = use_location();
    let query = use_query_map();
    let pid = current.clone();
    let page = crate::load(
        move || {
            (
                location.search.get(),
                update.version().get(),
                set_member.version().get(),
                remove.version().get(),
                withdraw.version().get(),
                (accept.version().get(), decline.version().get()),
            )
        },
        move |_| get_project_page(pid.clone()),
    );
    let notice = move || {
        query.with(
            |q| match (q.get("saved").as_deref(), q.get("created"), q.get("joined")) {
                (Some("invitation"), _, _) => Some(
                    "Invitation saved. They join once they accept it on their Project page \
                 (after signing in, or signing up, with that email)."
                        .to_string(),
                ),
                (Some("role"), _, _) => Some("Role changed.".to_string()),
                (Some("declined"), _, _) => Some("Invitation declined.".to_string()),
                (Some("invitation-withdrawn"), _, _) => Some("Invitation withdrawn.".to_string()),
                (Some(what), _, _) => Some(format!("Saved ({what}).")),
                (None, Some(_), _) => {
                    Some("Project created; it is now your current project.".to_string())
                }
                (None, None, Some(_)) => {
                    Some("You joined the project; it is now your current project.".to_string())
                }
                _ => None,
            },
        )
    };
    view! {
        <section class="page">
        <ActionError value=accept.value() />
        <ActionError value=decline.value() />
        {move || notice().map(|text| view! { <Notice text /> })}
        <ActionError value=update.value() />
        <ActionError value=set_member.value() />
        <ActionError value=remove.value() />
        <ActionError value=withdraw.value() />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let project_id = current.clone();
                Suspend::new(async move {
                    let page = match page.await {
                        Ok(page) => page,
                        Err(e) => return view! { <ErrorText error=e /> }.into_any(),
                    };
                    let mine = my_invitations(page.mine, accept, decline);
                    let Some(d) = page.current else {
                        return view! {
                            {mine}
                            <p class="muted">"You are not a member of any project."</p>
                        }
                            .into_any();
                    };
                    let can_manage = d.can_manage;
                    let pid_update = project_id.clone();
                    let pid_member = project_id.clone();
                    view! {
                        {mine}
                        <div class="page-head">
                            <h1>{d.project.name.clone()}</h1>
                            <p class="muted">"Your role: " <span class="badge">{d.project.role.clone()}</span></p>
                        </div>
                        <div class="card">
                            <h2>"Description"</h2>
                            {if d.can_edit {
                                view! {
                                    <PostForm action=update attr:class="form" attr:id="project-update-form">
                                        <input type="hidden" name="project_id" value=pid_update />
                                        <label for="description">"Description"</label>
                                        <textarea id="description" name="description" maxlength="500" rows="3">
                                            {d.project.description.clone()}
                                        </textarea>
                                        <button type="submit">"Save description"</button>
                                    </PostForm>
                                }
                                    .into_any()
                            } else {
                                view! {
                                    <p data-testid="description">
                                        {if d.project.description.is_empty() {
                                            "No description.".to_string()
                                        } else {
                                            d.project.description.clone()
                                        }}
                                    </p>
                                }
                                    .into_any()
                            }}
                        </div>
                        <div class="card">
                            <h2>"Members"</h2>
                            <table class="table" id="members">
                                <thead>
                                    <tr>
                                        <th scope="col">"Email"</th>
                                        <th scope="col">"Role"</th>
                                        <th scope="col">"Since"</th>
                                        {can_manage.then(|| view! { <th scope="col">"Actions"</th> })}
                                    </tr>
                                </thead>
                                <tbody>
                                    {d
                                        .members
                                        .iter()
                                        .map(|m| {
                                            let user_id = m.user_id.clone();
                                            let pid = project_id.clone();
                                            view! {
                                                <tr>
                                                    <td>{m.email.clone()}</td>
                                                    <td><span class="badge">{m.role.clone()}</span></td>
                                                    <td>{format_time(m.created_at)}</td>
                                                    {can_manage.then(|| view! {
                                                        <td>
                                                            <PostForm action=remove attr:class="inline">
                                                                <input type="hidden" name="project_id" value=pid.clone() />
                                                                <input type="hidden" name="user_id" value=user_id.clone() />
                                                                <button type="submit" class="danger small">"Remove"</button>
                                                            </PostForm>
                                                        </td>
                                                    })}
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                            {(!d.invitations.is_empty()).then(|| view! {
                                <h3>"Invited"</h3>
                                <table class="table" id="invitations">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Email"</th>
                                            <th scope="col">"Role"</th>
                                            <th scope="col">"Until"</th>
                                            {can_manage.then(|| view! { <th scope="col">"Actions"</th> })}
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {d
                                            .invitations
                                            .iter()
                                            .map(|i| {
                                                let email = i.email.clone();
                                                let pid = project_id.clone();
                                                view! {
                                                    <tr>
                                                        <td>{i.email.clone()}</td>
                                                        <td><span class="badge">{i.role.clone()}</span></td>
                                                        <td>{format_time(i.expires_at)}</td>
                                                        {can_manage.then(|| view! {
                                                            <td>
                                                                <PostForm action=withdraw attr:class="inline">
                                                                    <input type="hidden" name="project_id" value=pid.clone() />
                                                                    <input type="hidden" name="email" value=email.clone() />
                                                                    <button type="submit" class="danger small">"Withdraw"</button>
                                                                </PostForm>
                                                            </td>
                                                        })}
                                                    </tr>
                                                }
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            })}
                            {can_manage.then(|| view! {
                                <h3>"Invite someone or change a member's role"</h3>
                                <p class="muted">
                                    "Anyone you add is invited by email and joins once they accept."
                                </p>
                                <PostForm action=set_member attr:class="form inline" attr:id="member-form">
                                    <input type="hidden" name="project_id" value=pid_member />
                                    <label for="member-email">"Email"</label>
                                    <input id="member-email" name="email" type="email" required />
                                    <label for="member-role">"Role"</label>
                                    <select id="member-role" name="role">
                                        <option value="viewer">"viewer"</option>
                                        <option value="member" selected>"member"</option>
                                        <option value="owner">"owner"</option>
                                    </select>
                                    <button type="submit">"Invite or change role"</button>
                                </PostForm>
                            })}
                        </div>
                    }
                        .into_any()
                })
            }}
        </Transition>
        <div class="card">
            <h2>"New project"</h2>
            <PostForm action=create attr:class="form inline" attr:id="project-create-form">
                <ActionError value=create.value() />
                <label for="new-project-name">"Name"</label>
                <input id="new-project-name" name="name" maxlength="64" required />
                <button type="submit">"Create project"</button>
            </PostForm>
        </div>
        </section>
    }
}

/// The signed-in user's open invitations, each with Accept and Decline; nothing when
/// there are none.
fn my_invitations(
    mine: Vec<InvitationDto>,
    accept: Submit<()>,
    decline: Submit<()>,
) -> impl IntoView {
    (!mine.is_empty()).then(|| view! {
        <div class="card" id="my-invitations">
            <h2>"Invitations for you"</h2>
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Project"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Until"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {mine
                        .into_iter()
                        .map(|i| {
                            let (pid, pid2) = (i.project_id.clone(), i.project_id.clone());
                            view! {
                                <tr>
                                    <td>{i.project_name.clone()}</td>
                                    <td><span class="badge">{i.role.clone()}</span></td>
                                    <td>{format_time(i.expires_at)}</td>
                                    <td>
                                        <PostForm action=accept attr:class="inline">
                                            <input type="hidden" name="project_id" value=pid />
                                            <button type="submit" class="small">"Accept"</button>
                                        </PostForm>
                                        <PostForm action=decline attr:class="inline">
                                            <input type="hidden" name="project_id" value=pid2 />
                                            <button type="submit" class="secondary small">"Decline"</button>
                                        </PostForm>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    })
}
