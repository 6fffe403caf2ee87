//! `/`: the dashboard lives at `/credentials`.

use leptos::prelude::*;
use leptos_router::components::Redirect;

/// Sends people to their credentials (which sends signed-out people to sign in).
#[component]
pub fn Home() -> impl IntoView {
    view! { <Redirect path="/credentials"/> }
}
