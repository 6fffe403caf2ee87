//! `/signup`: create an account.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    components::{
        alert::ActionError, header::SiteHeader, signed_in::with_next, sso::ProviderButtons,
    },
    server_fns::{auth::SignUp, identity::sign_in_options},
};

/// The sign-up form; success signs the person in and lands on `?next=` (a local path,
/// such as an invitation link) or `/credentials`. When password sign-up is off
/// (`--signup sso-only` or `closed`) the page says so instead, with the identity
/// providers' buttons (a first single sign-on creates the account under `sso-only`).
#[component]
pub fn SignupPage() -> impl IntoView {
    let sign_up = ServerAction::<SignUp>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let options = Resource::new(|| (), |()| sign_in_options(None));
    view! {
        <Title text="Create account"/>
        <SiteHeader user=None/>
        <main class="narrow">
            <h1>"Create your account"</h1>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match options.await {
                        Ok(options) if !options.password_signup => Either::Left(view! {
                            <p class="aside" data-testid="signup-off">
                                {if options.providers.is_empty() {
                                    "Accounts are not created here: ask an administrator."
                                } else {
                                    "Accounts are created by signing in with your identity provider."
                                }}
                            </p>
                            <ProviderButtons options=options next=next()/>
                        }),
                        _ => Either::Right(view! { <SignupForm sign_up=sign_up next=next()/> }),
                    }
                })}
            </Transition>
            <p class="aside">
                "Already have an account? "
                <A href=move || with_next("/login", &next())>"Sign in"</A>
            </p>
        </main>
    }
}

#[component]
fn SignupForm(sign_up: ServerAction<SignUp>, next: String) -> impl IntoView {
    view! {
        <ActionForm action=sign_up attr:class="stack">
            <ActionError action=sign_up/>
            <label>
                "Email" <input type="email" name="email" autocomplete="username" required/>
            </label>
            <label>
                "Password"
                <input
                    type="password"
                    name="password"
                    autocomplete="new-password"
                    aria-describedby="password-hint"
                    required
                />
            </label>
            <p id="password-hint" class="hint">
                "At least 10 characters. A passphrase of a few words is easiest."
            </p>
            <input type="hidden" name="next" value=next/>
            <button type="submit" disabled=move || sign_up.pending().get()>
                "Create account"
            </button>
        </ActionForm>
    }
}
