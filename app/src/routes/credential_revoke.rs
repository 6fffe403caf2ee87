//! `/credentials/revoke?client_id=…`: the revocation confirmation, as a page of its own
//! for browsers without JavaScript (with it, the list confirms in place).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    UiError,
    components::{confirm::ConfirmPage, signed_in::SignedIn},
    server_fns::credentials::{CredentialView, RevokeCredential, get_credential},
};

#[component]
pub fn RevokeCredentialPage() -> impl IntoView {
    // Created before the sign-in gate, which may build the page again while rendering
    // on the server (see `ServersPage`).
    let query = use_query_map();
    let client_id = move || query.read().get("client_id").unwrap_or_default();
    let revoke = ServerAction::<RevokeCredential>::new();
    let found = Resource::new(client_id, get_credential);
    view! {
        <Title text="Revoke credential"/>
        <SignedIn>
            <Confirm revoke=revoke found=found/>
        </SignedIn>
    }
}

#[component]
fn Confirm(
    revoke: ServerAction<RevokeCredential>,
    found: Resource<Result<CredentialView, UiError>>,
) -> impl IntoView {
    view! {
        <ConfirmPage
            title="Revoke credential"
            action=revoke
            found=found
            back="/credentials"
            back_label="Back to credentials"
            question=|credential: &CredentialView| {
                format!(
                    "Revoke “{}” ({})? Programs using it lose access at once. This cannot be undone.",
                    credential.name,
                    credential.client_id,
                )
            }
            form=move |credential: CredentialView| {
                view! {
                    <ActionForm action=revoke>
                        <input type="hidden" name="client_id" value=credential.client_id/>
                        <button type="submit" class="danger">
                            "Revoke credential"
                        </button>
                    </ActionForm>
                }
            }
        />
    }
}
