//! The **Sign in with …** buttons of the sign-in and sign-up pages (SPEC §21): plain
//! links to `/sso/<name>/start`, which work without JavaScript.

use leptos::{either::Either, prelude::*};

use crate::server_fns::identity::SignInChoices;

/// A button per identity provider, carrying `next` through.
#[component]
pub fn ProviderButtons(options: SignInChoices, next: String) -> impl IntoView {
    if options.providers.is_empty() {
        return Either::Left(());
    }
    let encoded = percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    Either::Right(view! {
        <div class="stack sso" data-testid="sso-providers">
            {options
                .providers
                .into_iter()
                .map(|p| {
                    let href = if next.is_empty() {
                        format!("/sso/{}/start", p.name)
                    } else {
                        format!("/sso/{}/start?next={encoded}", p.name)
                    };
                    view! {
                        <a class="button secondary" href=href rel="external">
                            {format!("Sign in with {}", p.display_name)}
                        </a>
                    }
                })
                .collect_view()}
        </div>
    })
}
