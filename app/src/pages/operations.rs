//! `/operations/:id`: one operation's steps (state, attempts, errors, times) and its
//! events, with retry or abort for those who may; followed live while it runs.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::{authed, follow, reload_while, ActionError, ErrorText, PostForm, Submit};
use crate::dto::format_time;
use crate::server_fns::{get_operation, ChangeOperation};

#[component]
pub fn OperationPage() -> impl IntoView {
    view! {
        <Title text="Operation · Shipyard" />
        {authed(|_| view! { <Operation_ /> }.into_any())}
    }
}

#[component]
fn Operation_() -> impl IntoView {
    let params = use_params_map();
    let change = Submit::new::<ChangeOperation>();
    let tick = RwSignal::new(0u64);
    let data = crate::load(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                tick.get(),
                change.version().get(),
            )
        },
        |(id, _, _)| get_operation(id.into()),
    );
    follow(
        move || {
            data.get()
                .and_then(|r| r.ok())
                .map(|d| (d.cluster_id.clone(), !d.operation.finished))
        },
        tick,
    );
    let when = |t: Option<i64>| t.map(format_time).unwrap_or_default();
    view! {
        <section class="page">
            <ActionError value=change.value() />
            // Read straight from the resource (not awaited in a Suspend): every new value
            // the live updates fetch re-renders the page.
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || data.get().map(|r| {
                    let d = match r {
                        Ok(d) => d,
                        Err(e) => {
                            #[cfg(feature = "ssr")]
                            crate::ssr::set_error_status(&e);
                            return view! { <ErrorText error=e /> }.into_any();
                        }
                    };
                    let o = d.operation.clone();
                    let action = match o.state.as_str() {
                        "failed" => Some(("retry", "Retry")),
                        "stuck" if d.is_admin => Some(("retry", "Retry")),
                        "pending" | "running" => Some(("abort", "Abort (unwinds)")),
                        _ => None,
                    }
                    .filter(|_| d.can_act);
                    let oid = o.id.clone();
                    view! {
                        {reload_while(!o.finished)}
                        <h1>{format!("Operation {}", o.kind)}</h1>
                        <dl class="facts">
                            <dt>"State"</dt>
                            <dd><span class="badge" id="operation-state">{o.state.clone()}</span></dd>
                            <dt>"Progress"</dt>
                            <dd>
                                <progress max=o.total.max(1) value=o.done aria-label="steps done"></progress>
                                {format!(" {}/{} steps", o.done, o.total)}
                            </dd>
                            <dt>"Started"</dt>
                            <dd>{format_time(o.created_at)}</dd>
                            <dt>"Cluster"</dt>
                            <dd><a href=format!("/clusters/{}", d.cluster_id)>{d.cluster_id.clone()}</a></dd>
                        </dl>
                        {o.error.clone().map(|e| view! { <p class="banner error" id="operation-error">{e}</p> })}
                        {action.map(|(a, label)| view! {
                            <PostForm action=change attr:class="inline" attr:id="operation-action">
                                <input type="hidden" name="operation" value=oid />
                                <input type="hidden" name="action" value=a />
                                <button type="submit" class="secondary">{label}</button>
                            </PostForm>
                        })}
                        <div class="card">
                            <h2>"Steps"</h2>
                            <table class="table" id="steps">
                                <thead>
                                    <tr><th scope="col">"Step"</th><th scope="col">"State"</th><th scope="col">"Attempts"</th><th scope="col">"Started"</th><th scope="col">"Finished"</th><th scope="col">"Error"</th></tr>
                                </thead>
                                <tbody>
                                    {d.steps.iter().map(|s| view! {
                                        <tr data-step=s.step.clone() data-state=s.state.clone()>
                                            <td><code>{s.step.clone()}</code></td>
                                            <td><span class="badge">{s.state.clone()}</span></td>
                                            <td>{s.attempts}</td>
                                            <td>{when(s.started_at)}</td>
                                            <td>{when(s.finished_at)}</td>
                                            <td>{s.error.clone().unwrap_or_default()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <div class="card">
                            <h2>"Events"</h2>
                            <table class="table" id="events">
                                <thead>
                                    <tr><th scope="col">"Time"</th><th scope="col">"Step"</th><th scope="col">"Event"</th><th scope="col">"Detail"</th></tr>
                                </thead>
                                <tbody>
                                    {d.events.iter().map(|e| view! {
                                        <tr>
                                            <td>{format_time(e.at)}</td>
                                            <td><code>{e.step.clone().unwrap_or_default()}</code></td>
                                            <td>{e.event.clone()}</td>
                                            <td>{e.detail.clone()}</td>
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
