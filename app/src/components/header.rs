//! The bar at the top of every page.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::{SessionUser, server_fns::auth::SignOut};

/// Brand, and for a signed-in person their email and a **Sign out** button.
#[component]
pub fn SiteHeader(user: Option<SessionUser>) -> impl IntoView {
    view! {
        <header class="site-header">
            <A href="/" attr:class="brand">
                "Clavis"
            </A>
            {user
                .map(|user| {
                    view! {
                        <nav class="site-nav" aria-label="Main">
                            <A href="/credentials">"Credentials"</A>
                            <A href="/servers">"MCP servers"</A>
                        </nav>
                        <SignOutForm email=user.email/>
                    }
                })}
        </header>
    }
}

#[component]
fn SignOutForm(email: String) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <div class="account">
            <span class="email">{email}</span>
            <ActionForm action=sign_out>
                <button type="submit" class="secondary">
                    "Sign out"
                </button>
            </ActionForm>
        </div>
    }
}
