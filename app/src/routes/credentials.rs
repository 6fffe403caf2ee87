//! `/credentials`: the signed-in person's OAuth client credentials.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::signed_in::SignedIn;

/// Where a signed-in person lands.
#[component]
pub fn CredentialsPage() -> impl IntoView {
    view! {
        <Title text="Credentials"/>
        <SignedIn>
            <h1>"Credentials"</h1>
            <p class="empty">
                "Client credentials let your programs get access tokens for MCP servers. "
                "You have none yet."
            </p>
        </SignedIn>
    }
}
