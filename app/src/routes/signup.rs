//! `/signup`: create an account.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    components::{alert::ActionError, header::SiteHeader},
    server_fns::auth::SignUp,
};

/// The sign-up form; success signs the person in and lands on `/credentials`.
#[component]
pub fn SignupPage() -> impl IntoView {
    let sign_up = ServerAction::<SignUp>::new();
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
                <button type="submit" disabled=move || sign_up.pending().get()>
                    "Create account"
                </button>
            </ActionForm>
            <p class="aside">"Already have an account? " <A href="/login">"Sign in"</A></p>
        </main>
    }
}
