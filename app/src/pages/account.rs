//! The signed-in user's account: password change and personal API tokens.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{authed, ActionError, ErrorText, Notice, PostForm, Submit};
use crate::dto::format_time;
use crate::server_fns::{get_tokens, ChangePassword, CreateToken, RevokeToken};

#[component]
pub fn AccountPage() -> impl IntoView {
    let query = use_query_map();
    view! {
        <Title text="Account · Shipyard" />
        {authed(move |info| {
            let action = Submit::new::<ChangePassword>();
            let changed = move || {
                query.with(|q| q.get("changed").is_some())
                    || matches!(action.value().get(), Some(Ok(())))
            };
            let revoked = move || {
                query
                    .with(|q| q.get("revoked"))
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|n| *n > 0)
            };
            let must_change = info.user.must_change_password;
            view! {
                <section class="page">
                    <h1>"Account"</h1>
                    <p>"Signed in as " <strong>{info.user.email.clone()}</strong></p>
                    {info
                        .user
                        .must_change_password
                        .then(|| {
                            view! {
                                <p class="banner warn" role="status">
                                    "You signed in with a one-time password. Choose your own password now."
                                </p>
                            }
                        })}
                    <div class="card">
                        <h2>"Change password"</h2>
                        {move || changed().then(|| {
                            let tokens = revoked()
                                .map(|n| format!(" {n} API token(s) revoked."))
                                .unwrap_or_default();
                            view! { <Notice text=format!("Password changed. Your other sessions are signed out.{tokens}") /> }
                        })}
                        <PostForm action=action attr:class="form" attr:id="password-form">
                            <ActionError value=action.value() />
                            <label for="current">"Current password"</label>
                            <input id="current" name="current" type="password" autocomplete="current-password" required />
                            <label for="new">"New password"</label>
                            <input id="new" name="new" type="password" autocomplete="new-password" minlength="12" required />
                            <p class="help">"At least 12 characters. Every other session of yours is signed out."</p>
                            <label class="check">
                                <input type="checkbox" name="revoke_tokens" value="on" id="revoke-tokens" />
                                " Also revoke all my API tokens"
                            </label>
                            <button type="submit" disabled=move || action.pending().get()>"Change password"</button>
                        </PostForm>
                    </div>
                    {(!must_change).then(|| view! { <Tokens /> })}
                </section>
            }
                .into_any()
        })}
    }
}

/// Personal API tokens: create (the secret is shown once), list, revoke.
#[component]
fn Tokens() -> impl IntoView {
    let create = Submit::new::<CreateToken>();
    let revoke = Submit::new::<RevokeToken>();
    let query = use_query_map();
    let tokens = crate::load(
        // Not on `create`'s version: its redirect (to `?token=<id>`) changes the query.
        move || {
            (
                query.get().get("token").unwrap_or_default(),
                revoke.version().get(),
            )
        },
        |(shown, _)| get_tokens(shown),
    );
    view! {
        <div class="card" id="tokens">
            <h2>"API tokens"</h2>
            <p class="muted">"For scripts and the REST API: " <code>"Authorization: Bearer sy_…"</code> " (see /api/v1/openapi.json)."</p>
            <ActionError value=create.value() />
            <ActionError value=revoke.value() />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let t = match tokens.await {
                        Ok(t) => t,
                        Err(e) => return view! { <ErrorText error=e /> }.into_any(),
                    };
                    view! {
                        {t.new_secret.map(|secret| view! {
                            <div class="banner ok" role="status" id="new-token">
                                <p>"Your new token. Copy it now: it is not shown again."</p>
                                <code id="new-token-secret">{secret}</code>
                            </div>
                        })}
                        <table class="table" id="token-list">
                            <thead>
                                <tr><th scope="col">"Name"</th><th scope="col">"Access"</th><th scope="col">"Created"</th><th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col">"State"</th><th scope="col">""</th></tr>
                            </thead>
                            <tbody>
                                {t.tokens.into_iter().map(|k| {
                                    let id = k.id.clone();
                                    view! {
                                        <tr data-token=k.name.clone()>
                                            <td>{k.name.clone()}</td>
                                            <td>{if k.read_only { "read only" } else { "read and write" }}</td>
                                            <td>{format_time(k.created_at)}</td>
                                            <td>{k.expires_at.map(format_time).unwrap_or_else(|| "never".into())}</td>
                                            <td>{k.last_used_at.map(format_time).unwrap_or_else(|| "never".into())}</td>
                                            <td>{if k.revoked_at.is_some() { "revoked" } else if k.expired { "expired" } else { "active" }}</td>
                                            <td>{(k.revoked_at.is_none() && !k.expired).then(move || view! {
                                                <PostForm action=revoke attr:class="inline">
                                                    <input type="hidden" name="id" value=id />
                                                    <button type="submit" class="secondary small">"Revoke"</button>
                                                </PostForm>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }
                        .into_any()
                })}
            </Transition>
            <PostForm action=create attr:class="form inline" attr:id="token-form">
                <label for="token-name">"New token"</label>
                <input id="token-name" name="name" required maxlength="64" placeholder="what it is for" />
                <label for="token-expiry">"Expires in"</label>
                <select id="token-expiry" name="expires_in_days">
                    <option value="7">"7 days"</option>
                    <option value="30">"30 days"</option>
                    <option value="90" selected>"90 days"</option>
                    <option value="365">"1 year"</option>
                    <option value="never">"never"</option>
                </select>
                <label class="check">
                    <input type="checkbox" name="read_only" value="on" id="token-read-only" />
                    " Read only"
                </label>
                <button type="submit">"Create token"</button>
            </PostForm>
        </div>
    }
}
