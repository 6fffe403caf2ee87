//! `/credentials/rotate?client_id=…`: a new secret for a credential (SPEC §11.1), shown
//! once, with the old one kept working for a while or ended at once.
//!
//! As with creating, with JavaScript the form calls the `rotate_secret` server function
//! and the one-time view replaces it; without, the form posts to this same URL and the
//! server renders the outcome ([`NoJsRotate`]). The new secret travels only in the
//! answer to the rotate request.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    UiError,
    components::{one_time::OneTimeView, signed_in::SignedIn},
    forms::{field, form_pairs},
    server_fns::credentials::{CredentialView, OLD_SECRET_CHOICES, RotateSecret, get_credential},
};

/// The outcome of a rotate form posted without JavaScript, given as context to the
/// server-side render that answers it.
#[derive(Clone)]
pub struct NoJsRotate(pub Result<crate::server_fns::credentials::CreatedCredential, UiError>);

#[component]
pub fn RotateCredentialPage() -> impl IntoView {
    // Created before the sign-in gate, which may build the page again while rendering
    // on the server (see `ServersPage`).
    let rotate = ServerAction::<RotateSecret>::new();
    let query = use_query_map();
    let client_id = move || query.read().get("client_id").unwrap_or_default();
    let credential = Resource::new(client_id, get_credential);
    view! {
        <Title text="Rotate secret"/>
        <SignedIn>
            <Rotate rotate=rotate credential=credential/>
        </SignedIn>
    }
}

#[component]
fn Rotate(
    rotate: ServerAction<RotateSecret>,
    credential: Resource<Result<CredentialView, UiError>>,
) -> impl IntoView {
    if let Some(NoJsRotate(result)) = use_context::<NoJsRotate>() {
        rotate.value().set(Some(result));
    }
    move || match rotate.value().get() {
        Some(Ok(rotated)) => Either::Left(view! { <OneTimeView created=rotated/> }),
        other => Either::Right(
            view! { <RotateForm rotate=rotate credential=credential error=other.and_then(Result::err)/> },
        ),
    }
}

#[component]
fn RotateForm(
    rotate: ServerAction<RotateSecret>,
    credential: Resource<Result<CredentialView, UiError>>,
    error: Option<UiError>,
) -> impl IntoView {
    let error = StoredValue::new(error);
    view! {
        <div class="narrow-block">
            <h1>"Rotate secret"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match credential.await {
                        Ok(credential) => {
                            let action = format!("/credentials/rotate?client_id={}", credential.client_id);
                            let with_key = !credential.key_ids.is_empty();
                            let what = if with_key { "key" } else { "secret" };
                            Either::Left(
                                view! {
                                    <form
                                        method="post"
                                        action=action
                                        class="stack"
                                        on:submit=move |ev: leptos::ev::SubmitEvent| {
                                            ev.prevent_default();
                                            match form_pairs(&ev) {
                                                Some(pairs) => {
                                                    rotate.dispatch(RotateSecret {
                                                        client_id: field(&pairs, "client_id"),
                                                        old_secret_valid: field(&pairs, "old_secret_valid"),
                                                        public_key: pairs
                                                            .iter()
                                                            .any(|(k, _)| k == "public_key")
                                                            .then(|| field(&pairs, "public_key")),
                                                    });
                                                }
                                                None => rotate.value().set(Some(Err(UiError::BadRequest))),
                                            }
                                        }
                                    >
                                        {error
                                            .get_value()
                                            .map(|e| view! { <p class="alert" role="alert">{e.to_string()}</p> })}
                                        <p>
                                            {format!("A new {what} for “{}” ({}). ", credential.name, credential.client_id)}
                                            {format!(
                                                "The client ID stays the same. Programs keep working with the old {what} \
                                                 for as long as you choose, so you can update them without downtime."
                                            )}
                                        </p>
                                        <input type="hidden" name="client_id" value=credential.client_id.clone()/>
                                        {with_key
                                            .then(|| {
                                                view! {
                                                    <label>
                                                        "Public key"
                                                        <textarea name="public_key" rows="6" spellcheck="false"></textarea>
                                                    </label>
                                                    <p class="hint">
                                                        "PEM (-----BEGIN PUBLIC KEY-----), a JWK or a JWKS of up to 5 keys: Ed25519, P-256 or RSA of at least 2048 bits."
                                                    </p>
                                                }
                                            })}
                                        <label>
                                            {format!("Old {what} valid for")}
                                            <select name="old_secret_valid">
                                                {OLD_SECRET_CHOICES
                                                    .iter()
                                                    .map(|(value, label)| {
                                                        view! {
                                                            <option value=*value selected=*value == "86400">
                                                                {*label}
                                                            </option>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </select>
                                        </label>
                                        <div class="actions">
                                            <button type="submit">"Rotate"</button>
                                            <A href="/credentials">"Cancel"</A>
                                        </div>
                                    </form>
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
