//! Any path the app does not know.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::header::SiteHeader;

/// A 404 page (with a 404 status when rendered on the server).
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <SiteHeader user=None/>
        <main class="narrow">
            <h1>"Page not found"</h1>
            <p>
                "There is nothing at this address. " <A href="/credentials">"Go to your credentials"</A>
                "."
            </p>
        </main>
    }
}
