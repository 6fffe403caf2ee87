//! `/issuers`: the trusted issuers of workload tokens (SPEC §18) — CI platforms and
//! clusters whose signed tokens federation rules accept instead of a secret. Everyone
//! signed in sees them; administrators add and remove them.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::{
    UiError,
    components::{
        alert::{ActionError, PageError},
        confirm::InlineConfirm,
        signed_in::SignedIn,
    },
    server_fns::issuers::{AddIssuer, IssuerList, IssuerView, RemoveIssuer, list_issuers},
};

#[component]
pub fn IssuersPage() -> impl IntoView {
    // Created before the sign-in gate, which may build the page again while rendering
    // on the server (see `ServersPage`).
    let add = ServerAction::<AddIssuer>::new();
    let remove = ServerAction::<RemoveIssuer>::new();
    let list = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| list_issuers(),
    );
    view! {
        <Title text="Trusted issuers"/>
        <SignedIn>
            <Issuers add=add remove=remove list=list/>
        </SignedIn>
    }
}

#[component]
fn Issuers(
    add: ServerAction<AddIssuer>,
    remove: ServerAction<RemoveIssuer>,
    list: Resource<Result<IssuerList, UiError>>,
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
    list: IssuerList,
    add: ServerAction<AddIssuer>,
    remove: ServerAction<RemoveIssuer>,
) -> impl IntoView {
    let IssuerList { is_admin, issuers } = list;
    view! {
        <div class="page-head">
            <h1>"Trusted issuers"</h1>
        </div>
        <p class="aside">
            "CI platforms and clusters already give each job or pod a short-lived token they sign. "
            "A credential's federation rule accepts such tokens from a trusted issuer instead of a secret."
        </p>
        <ActionError action=remove/>
        {if issuers.is_empty() {
            Either::Left(view! {
                <div class="empty-state">
                    <p>
                        {if is_admin {
                            "No issuer is trusted yet. Add one below, e.g. GitHub Actions (https://token.actions.githubusercontent.com)."
                        } else {
                            "No issuer is trusted yet; an administrator can add them."
                        }}
                    </p>
                </div>
            })
        } else {
            Either::Right(view! {
                <ul class="credentials">
                    {issuers
                        .into_iter()
                        .map(|issuer| view! { <Row issuer=issuer is_admin=is_admin remove=remove/> })
                        .collect_view()}
                </ul>
            })
        }}
        {is_admin.then(|| view! { <AddForm add=add/> })}
    }
}

#[component]
fn Row(issuer: IssuerView, is_admin: bool, remove: ServerAction<RemoveIssuer>) -> impl IntoView {
    let IssuerView {
        name,
        issuer,
        jwks_url,
        keys,
        keys_fetched,
        added,
    } = issuer;
    let source = jwks_url.map_or_else(
        || Either::Left(view! { <span>"OpenID Connect discovery"</span> }),
        |url| Either::Right(view! { <code>{url}</code> }),
    );
    let keys = if keys.is_empty() {
        "None yet (fetched on first use)".to_owned()
    } else {
        keys.join(", ")
    };
    let control = is_admin.then(|| {
        let name = name.clone();
        view! {
            <div class="actions">
                <InlineConfirm
                    page="/issuers/remove"
                    field="name"
                    value=name.clone()
                    button="Remove"
                    label="Confirm removal"
                    question=format!(
                        "Stop trusting “{name}”? Every federation rule naming it goes with it; its tokens get nothing more.",
                    )
                >
                    {
                        let name = name.clone();
                        view! {
                            <ActionForm action=remove>
                                <input type="hidden" name="name" value=name/>
                                <button type="submit" class="danger">
                                    "Remove issuer"
                                </button>
                            </ActionForm>
                        }
                    }
                </InlineConfirm>
            </div>
        }
    });
    view! {
        <li data-testid="issuer-row" class="credential">
            <div class="credential-head">
                <h2 class="credential-name">{name}</h2>
            </div>
            <dl class="facts">
                <div>
                    <dt>"Issuer"</dt>
                    <dd>
                        <code>{issuer}</code>
                    </dd>
                </div>
                <div>
                    <dt>"Keys from"</dt>
                    <dd>{source}</dd>
                </div>
                <div>
                    <dt>"Keys held"</dt>
                    <dd data-testid="issuer-keys">{keys}</dd>
                </div>
                <div>
                    <dt>"Fetched"</dt>
                    <dd data-testid="issuer-fetched">{keys_fetched.unwrap_or_else(|| "Not yet".to_owned())}</dd>
                </div>
                <div>
                    <dt>"Added"</dt>
                    <dd>{added}</dd>
                </div>
            </dl>
            {control}
        </li>
    }
}

#[component]
fn AddForm(add: ServerAction<AddIssuer>) -> impl IntoView {
    view! {
        <section class="narrow-block" aria-labelledby="add-issuer">
            <h2 id="add-issuer">"Add a trusted issuer"</h2>
            <ActionForm action=add attr:class="stack">
                <ActionError action=add/>
                <label>
                    "Name" <input type="text" name="name" autocomplete="off" aria-describedby="issuer-name-hint"/>
                </label>
                <p id="issuer-name-hint" class="hint">"How federation rules name it, e.g. “github”."</p>
                <label>
                    "Issuer URL"
                    <input type="url" name="issuer" autocomplete="off" aria-describedby="issuer-url-hint"/>
                </label>
                <p id="issuer-url-hint" class="hint">
                    "The iss its tokens carry: https://token.actions.githubusercontent.com, https://gitlab.com, "
                    "your cluster's service-account issuer. https only (http on a loopback address)."
                </p>
                <label>
                    "JWKS URL"
                    <input type="url" name="jwks_url" autocomplete="off" aria-describedby="jwks-url-hint"/>
                </label>
                <p id="jwks-url-hint" class="hint">
                    "Empty: found by OpenID Connect discovery at the issuer. Keys are only ever fetched from "
                    "this URL or the issuer's own origin, without following redirects."
                </p>
                <div class="actions">
                    <button type="submit" disabled=move || add.pending().get()>
                        "Add issuer"
                    </button>
                </div>
            </ActionForm>
        </section>
    }
}
