//! Sign in and sign up.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{ActionError, PostForm, Submit};
use crate::server_fns::{signup_status, SignIn, SignUp};

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = Submit::new::<SignIn>();
    view! {
        <Title text="Sign in · Shipyard" />
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <PostForm action=action attr:class="form" attr:id="signin-form">
                <ActionError value=action.value() />
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                />
                <button type="submit" disabled=move || action.pending().get()>
                    "Sign in"
                </button>
            </PostForm>
            <p class="muted">"No account yet? " <a href="/signup">"Sign up"</a></p>
        </section>
    }
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = Submit::new::<SignUp>();
    let open = crate::load(|| (), |_| signup_status());
    view! {
        <Title text="Sign up · Shipyard" />
        <section class="card narrow">
            <h1>"Create your account"</h1>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    (open.await == Ok(false))
                        .then(|| {
                            view! {
                                <p class="banner warn" role="status">
                                    "Sign-up is closed on this Shipyard; ask an administrator for an account."
                                </p>
                            }
                        })
                })}
            </Transition>
            <PostForm action=action attr:class="form" attr:id="signup-form">
                <ActionError value=action.value() />
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="new-password"
                    minlength="12"
                    required
                    aria-describedby="password-help"
                />
                <p id="password-help" class="help">"At least 12 characters."</p>
                <button type="submit" disabled=move || action.pending().get()>
                    "Sign up"
                </button>
            </PostForm>
            <p class="muted">"Already have an account? " <a href="/signin">"Sign in"</a></p>
        </section>
    }
}
