//! `/issuers/remove?name=…`: the removal confirmation, as a page of its own for browsers
//! without JavaScript (with it, the list confirms in place).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{confirm::ConfirmPage, signed_in::SignedIn},
    server_fns::issuers::{IssuerView, RemoveIssuer, get_issuer},
};

#[component]
pub fn RemoveIssuerPage() -> impl IntoView {
    view! {
        <Title text="Remove trusted issuer"/>
        <SignedIn>
            <Confirm/>
        </SignedIn>
    }
}

#[component]
fn Confirm() -> impl IntoView {
    let query = use_query_map();
    let name = move || query.read().get("name").unwrap_or_default();
    let remove = ServerAction::<RemoveIssuer>::new();
    view! {
        <ConfirmPage
            title="Remove trusted issuer"
            action=remove
            found=Resource::new(name, get_issuer)
            back="/issuers"
            back_label="Back to trusted issuers"
            question=|issuer: &IssuerView| {
                format!(
                    "Stop trusting “{}” ({})? Every federation rule naming it goes with it.",
                    issuer.name,
                    issuer.issuer,
                )
            }
            form=move |issuer: IssuerView| {
                view! {
                    <ActionForm action=remove>
                        <input type="hidden" name="name" value=issuer.name/>
                        <button type="submit" class="danger">
                            "Remove issuer"
                        </button>
                    </ActionForm>
                }
            }
        />
    }
}
