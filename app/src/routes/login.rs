//! `/login`: sign in with email and password.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    components::{alert::ActionError, header::SiteHeader, signed_in::with_next},
    server_fns::auth::SignIn,
};

/// The sign-in form. Failures show one message, "Wrong email or password.", whether or
/// not the account exists. `?next=` is carried through to where sign-in lands.
#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <Title text="Sign in"/>
        <SiteHeader user=None/>
        <main class="narrow">
            <h1>"Sign in"</h1>
            <ActionForm action=sign_in attr:class="stack">
                <ActionError action=sign_in/>
                <label>
                    "Email" <input type="email" name="email" autocomplete="username" required/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <input type="hidden" name="next" value=next/>
                <button type="submit" disabled=move || sign_in.pending().get()>
                    "Sign in"
                </button>
            </ActionForm>
            <p class="aside">
                "No account yet? " <A href=move || with_next("/signup", &next())>"Create one"</A>
            </p>
        </main>
    }
}
