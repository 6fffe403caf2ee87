//! `/credentials/revoke?client_id=…`: the revocation confirmation, as a page of its own
//! for browsers without JavaScript (with it, the list confirms in place).

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    components::{alert::ActionError, signed_in::SignedIn},
    server_fns::credentials::{RevokeCredential, get_credential},
};

#[component]
pub fn RevokeCredentialPage() -> impl IntoView {
    view! {
        <Title text="Revoke credential"/>
        <SignedIn>
            <Confirm/>
        </SignedIn>
    }
}

#[component]
fn Confirm() -> impl IntoView {
    let query = use_query_map();
    let client_id = move || query.read().get("client_id").unwrap_or_default();
    let credential = Resource::new(client_id, get_credential);
    let revoke = ServerAction::<RevokeCredential>::new();
    view! {
        <div class="narrow-block">
            <h1>"Revoke credential"</h1>
            <ActionError action=revoke/>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match credential.await {
                        Ok(credential) => {
                            Either::Left(
                                view! {
                                    <p>
                                        {format!("Revoke “{}” ({})? ", credential.name, credential.client_id)}
                                        "Programs using it lose access at once. This cannot be undone."
                                    </p>
                                    <div class="actions">
                                        <ActionForm action=revoke>
                                            <input type="hidden" name="client_id" value=credential.client_id/>
                                            <button type="submit" class="danger">
                                                "Revoke credential"
                                            </button>
                                        </ActionForm>
                                        <A href="/credentials">"Cancel"</A>
                                    </div>
                                },
                            )
                        }
                        Err(error) => {
                            Either::Right(
                                view! {
                                    <p class="alert" role="alert">
                                        {error.to_string()}
                                    </p>
                                    <A href="/credentials">"Back to credentials"</A>
                                },
                            )
                        }
                    }
                })}
            </Suspense>
        </div>
    }
}
