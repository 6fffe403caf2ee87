//! `/issuers/remove?name=…`: the removal confirmation, as a page of its own for browsers
//! without JavaScript (with it, the list confirms in place).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    UiError,
    components::{confirm::ConfirmPage, signed_in::SignedIn},
    server_fns::issuers::{IssuerView, RemoveIssuer, get_issuer},
};

#[component]
pub fn RemoveIssuerPage() -> impl IntoView {
    // Created before the sign-in gate, which may build the page again while rendering
    // on the server (see `ServersPage`).
    let query = use_query_map();
    let name = move || query.read().get("name").unwrap_or_default();
    let remove = ServerAction::<RemoveIssuer>::new();
    let found = Resource::new(name, get_issuer);
    view! {
        <Title text="Remove trusted issuer"/>
        <SignedIn>
            <Confirm remove=remove found=found/>
        </SignedIn>
    }
}

#[component]
fn Confirm(
    remove: ServerAction<RemoveIssuer>,
    found: Resource<Result<IssuerView, UiError>>,
) -> impl IntoView {
    view! {
        <ConfirmPage
            title="Remove trusted issuer"
            action=remove
            found=found
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
