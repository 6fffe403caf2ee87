//! `/credentials/edit?client_id=…`: change a credential's name, description, allowed
//! tools and quota (SPEC §11.3). Scopes, servers and authentication stay as created.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    components::{
        alert::{ActionError, PageError},
        allowed_tools::AllowedToolsFields,
        signed_in::SignedIn,
    },
    server_fns::credentials::{CredentialView, UpdateCredential, get_credential},
};

#[component]
pub fn EditCredentialPage() -> impl IntoView {
    let query = use_query_map();
    let client_id = move || query.read().get("client_id").unwrap_or_default();
    let credential = Resource::new(client_id, get_credential);
    let update = ServerAction::<UpdateCredential>::new();
    view! {
        <Title text="Edit credential"/>
        <SignedIn>
            <div class="narrow-block">
                <h1>"Edit credential"</h1>
                <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match credential.await {
                            Ok(credential) => Either::Left(view! { <EditForm credential=credential update=update/> }),
                            Err(error) => {
                                Either::Right(
                                    view! {
                                        <PageError error=error/>
                                        <A href="/credentials">"Back to credentials"</A>
                                    },
                                )
                            }
                        }
                    })}
                </Suspense>
            </div>
        </SignedIn>
    }
}

#[component]
fn EditForm(credential: CredentialView, update: ServerAction<UpdateCredential>) -> impl IntoView {
    view! {
        <ActionForm action=update attr:class="stack">
            <ActionError action=update/>
            <input type="hidden" name="client_id" value=credential.client_id.clone()/>
            <p class="hint">
                {format!(
                    "{} · scopes {} · servers {}",
                    credential.client_id,
                    credential.scopes.join(" "),
                    credential.servers.join(", "),
                )}
            </p>
            <label>
                "Name" <input type="text" name="name" value=credential.name autocomplete="off"/>
            </label>
            <label>
                "Description" <textarea name="description" rows="3">{credential.description}</textarea>
            </label>
            <AllowedToolsFields chosen=credential.allowed_tools/>
            <label>
                "Tokens per hour"
                <input
                    type="number"
                    name="tokens_per_hour"
                    min="1"
                    step="1"
                    value=credential.tokens_per_hour.map(|n| n.to_string()).unwrap_or_default()
                />
            </label>
            <p class="hint">"Empty: no limit."</p>
            <div class="actions">
                <button type="submit" disabled=move || update.pending().get()>
                    "Save"
                </button>
                <A href="/credentials">"Cancel"</A>
            </div>
        </ActionForm>
    }
}
