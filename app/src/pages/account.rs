//! The signed-in user's account: password change.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::ChangePassword;
use crate::components::{authed, ActionError, Notice};

#[component]
pub fn AccountPage() -> impl IntoView {
    let query = use_query_map();
    view! {
        <Title text="Account · Shipyard" />
        {authed(move |info| {
            let action = ServerAction::<ChangePassword>::new();
            let changed = move || {
                query.with(|q| q.get("changed").is_some())
                    || matches!(action.value().get(), Some(Ok(())))
            };
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
                        {move || changed().then(|| view! { <Notice text="Password changed.".to_string() /> })}
                        <ActionForm action=action attr:class="form" attr:id="password-form">
                            <ActionError value=action.value() />
                            <label for="current">"Current password"</label>
                            <input id="current" name="current" type="password" autocomplete="current-password" required />
                            <label for="new">"New password"</label>
                            <input id="new" name="new" type="password" autocomplete="new-password" minlength="12" required />
                            <p class="help">"At least 12 characters."</p>
                            <button type="submit" disabled=move || action.pending().get()>"Change password"</button>
                        </ActionForm>
                    </div>
                </section>
            }
                .into_any()
        })}
    }
}
