//! `/identity-providers` (administrators): the OpenID Connect providers people sign in
//! with (SPEC §21) — Okta, Entra ID, Google Workspace, Keycloak — and the redirect URI
//! to register at each.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::{
    UiError,
    components::{
        alert::{ActionError, PageError},
        signed_in::SignedIn,
    },
    server_fns::identity::{
        AddIdentityProvider, ProviderView, RemoveIdentityProvider, list_identity_providers,
    },
};

#[component]
pub fn IdentityProvidersPage() -> impl IntoView {
    // Created before the sign-in gate (see `ServersPage`).
    let add = ServerAction::<AddIdentityProvider>::new();
    let remove = ServerAction::<RemoveIdentityProvider>::new();
    let list = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| list_identity_providers(),
    );
    view! {
        <Title text="Identity providers"/>
        <SignedIn>
            <Providers add=add remove=remove list=list/>
        </SignedIn>
    }
}

#[component]
fn Providers(
    add: ServerAction<AddIdentityProvider>,
    remove: ServerAction<RemoveIdentityProvider>,
    list: Resource<Result<Vec<ProviderView>, UiError>>,
) -> impl IntoView {
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(list) => Either::Left(view! { <Listing list=list add=add remove=remove/> }),
                    Err(error) => Either::Right(view! { <PageError error=error/> }),
                }
            })}
        </Transition>
    }
}

#[component]
fn Listing(
    list: Vec<ProviderView>,
    add: ServerAction<AddIdentityProvider>,
    remove: ServerAction<RemoveIdentityProvider>,
) -> impl IntoView {
    view! {
        <div class="page-head">
            <h1>"Identity providers"</h1>
        </div>
        <p class="aside">
            "People sign in with their company's identity provider (OpenID Connect), and agents acting "
            "for them present its ID-JAGs at the token endpoint."
        </p>
        <ActionError action=remove/>
        {if list.is_empty() {
            Either::Left(view! {
                <div class="empty-state">
                    <p>"No identity provider yet. Add one below."</p>
                </div>
            })
        } else {
            Either::Right(view! {
                <ul class="credentials">
                    {list
                        .into_iter()
                        .map(|provider| view! { <Row provider=provider remove=remove/> })
                        .collect_view()}
                </ul>
            })
        }}
        <AddForm add=add/>
    }
}

#[component]
fn Row(provider: ProviderView, remove: ServerAction<RemoveIdentityProvider>) -> impl IntoView {
    let ProviderView {
        name,
        display_name,
        issuer,
        client_id,
        email_domains,
        redirect_uri,
        added,
    } = provider;
    let domains = if email_domains.is_empty() {
        "Any".to_owned()
    } else {
        email_domains.join(", ")
    };
    view! {
        <li data-testid="idp-row" class="credential">
            <div class="credential-head">
                <h2 class="credential-name">{display_name}</h2>
                <code>{name.clone()}</code>
            </div>
            <dl class="facts">
                <div>
                    <dt>"Issuer"</dt>
                    <dd>
                        <code>{issuer}</code>
                    </dd>
                </div>
                <div>
                    <dt>"Client ID"</dt>
                    <dd>
                        <code>{client_id}</code>
                    </dd>
                </div>
                <div>
                    <dt>"Email domains"</dt>
                    <dd>{domains}</dd>
                </div>
                <div>
                    <dt>"Redirect URI"</dt>
                    <dd>
                        <code data-testid="idp-redirect-uri">{redirect_uri}</code>
                    </dd>
                </div>
                <div>
                    <dt>"Added"</dt>
                    <dd>{added}</dd>
                </div>
            </dl>
            <details class="actions">
                <summary>"Remove…"</summary>
                <p>
                    "Nobody signs in with it any more and its ID-JAGs get nothing; the accounts it created stay."
                </p>
                <ActionForm action=remove>
                    <input type="hidden" name="name" value=name/>
                    <button type="submit" class="danger">
                        "Remove provider"
                    </button>
                </ActionForm>
            </details>
        </li>
    }
}

#[component]
fn AddForm(add: ServerAction<AddIdentityProvider>) -> impl IntoView {
    view! {
        <section class="narrow-block" aria-labelledby="add-idp">
            <h2 id="add-idp">"Add an identity provider"</h2>
            <ActionForm action=add attr:class="stack">
                <ActionError action=add/>
                <label>
                    "Name" <input type="text" name="name" autocomplete="off" aria-describedby="idp-name-hint"/>
                </label>
                <p id="idp-name-hint" class="hint">
                    "Short, in the redirect URI: /sso/NAME/callback, e.g. “okta”."
                </p>
                <label>
                    "Display name"
                    <input type="text" name="display_name" autocomplete="off" aria-describedby="idp-display-hint"/>
                </label>
                <p id="idp-display-hint" class="hint">"The button says “Sign in with …” this (default: the name)."</p>
                <label>
                    "Issuer URL"
                    <input type="url" name="issuer" autocomplete="off" aria-describedby="idp-issuer-hint"/>
                </label>
                <p id="idp-issuer-hint" class="hint">
                    "Its OpenID Connect issuer, e.g. https://acme.okta.com or https://login.microsoftonline.com/TENANT/v2.0."
                </p>
                <label>"Client ID" <input type="text" name="client_id" autocomplete="off"/></label>
                <label>
                    "Client secret"
                    <input type="password" name="client_secret" autocomplete="new-password" aria-describedby="idp-secret-hint"/>
                </label>
                <p id="idp-secret-hint" class="hint">"Sealed with the master key; never shown again."</p>
                <label>
                    "Email domains"
                    <textarea name="email_domains" rows="2" aria-describedby="idp-domains-hint"></textarea>
                </label>
                <p id="idp-domains-hint" class="hint">
                    "Only addresses in these domains sign in with it (one per line). Empty: any."
                </p>
                <div class="actions">
                    <button type="submit" disabled=move || add.pending().get()>
                        "Add identity provider"
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}
