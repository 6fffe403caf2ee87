//! `/signup`: create an account.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    components::{alert::ActionError, header::SiteHeader, signed_in::with_next},
    server_fns::auth::SignUp,
};

/// The sign-up form; success signs the person in and lands on `?next=` (a local path,
/// such as an invitation link) or `/credentials`.
#[component]
pub fn SignupPage() -> impl IntoView {
    let sign_up = ServerAction::<SignUp>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <Title text="Create account"/>
        <SiteHeader user=None/>
        <main class="narrow">
            <h1>"Create your account"</h1>
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
            <p class="aside">
                "Already have an account? "
                <A href=move || with_next("/login", &next())>"Sign in"</A>
            </p>
        </main>
    }
}
