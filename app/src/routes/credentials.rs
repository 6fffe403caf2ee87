//! `/credentials`: the OAuth client credentials of the current workspace (the person's
//! own, or a team's), newest first, each with who created it.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    UiError,
    components::{alert::ActionError, confirm::InlineConfirm, signed_in::SignedIn},
    server_fns::credentials::{
        CredentialPage, CredentialStatus, CredentialView, EndOldSecret, RevokeCredential,
        list_credentials,
    },
};

/// Where a signed-in person lands.
#[component]
pub fn CredentialsPage() -> impl IntoView {
    // Created before the sign-in gate, which may build the page again while rendering
    // on the server (see `ServersPage`).
    let query = use_query_map();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(1)
    };
    let revoke = ServerAction::<RevokeCredential>::new();
    let end_old = ServerAction::<EndOldSecret>::new();
    let switch = crate::components::header::provide_workspace_switch();
    let list = Resource::new(
        move || {
            (
                page(),
                revoke.version().get(),
                end_old.version().get(),
                switch.version().get(),
            )
        },
        |(page, ..)| list_credentials(page),
    );
    let actions = Actions { revoke, end_old };
    view! {
        <Title text="Credentials"/>
        <SignedIn>
            <CredentialList list=list actions=actions/>
        </SignedIn>
    }
}

#[component]
fn CredentialList(
    list: Resource<Result<CredentialPage, UiError>>,
    actions: Actions,
) -> impl IntoView {
    let Actions { revoke, end_old } = actions;
    view! {
        <div class="page-head">
            <h1>"Credentials"</h1>
            <A href="/credentials/new" attr:class="button">
                "New credential"
            </A>
        </div>
        <ActionError action=revoke/>
        <ActionError action=end_old/>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(page) => Either::Left(view! { <Listing page=page actions=actions/> }),
                    Err(error) => {
                        Either::Right(
                            view! {
                                <p class="alert" role="alert">
                                    {error.to_string()}
                                </p>
                            },
                        )
                    }
                }
            })}
        </Transition>
    }
}

/// The row buttons' actions, shared by the rows (the list reloads after each).
#[derive(Clone, Copy)]
struct Actions {
    revoke: ServerAction<RevokeCredential>,
    end_old: ServerAction<EndOldSecret>,
}

#[component]
fn Listing(page: CredentialPage, actions: Actions) -> impl IntoView {
    let workspace = view! {
        <p class="aside" data-testid="workspace-name">{format!("Workspace: {}", page.workspace)}</p>
    };
    if page.total == 0 {
        return Either::Left(view! {
            {workspace}
            <div class="empty-state">
                <p>
                    "Client credentials let your programs — backend services, CI pipelines, AI agents — "
                    "get short-lived access tokens for MCP servers, without anyone signing in."
                </p>
                <p>"This workspace has none yet. Create one to get a client ID and secret."</p>
            </div>
        });
    }
    let (current, pages, total) = (page.page, page.pages, page.total);
    Either::Right(view! {
        {workspace}
        <p class="aside">{format!("{total} credential{}", if total == 1 { "" } else { "s" })}</p>
        <ul class="credentials">
            {page
                .items
                .into_iter()
                .map(|credential| view! { <Row credential=credential actions=actions/> })
                .collect_view()}
        </ul>
        {(pages > 1)
            .then(|| {
                view! {
                    <nav class="pager" aria-label="Pages">
                        {(current > 1)
                            .then(|| {
                                view! {
                                    <A href=format!("/credentials?page={}", current - 1)>"← Newer"</A>
                                }
                            })}
                        <span>{format!("Page {current} of {pages}")}</span>
                        {(current < pages)
                            .then(|| {
                                view! {
                                    <A href=format!("/credentials?page={}", current + 1)>"Older →"</A>
                                }
                            })}
                    </nav>
                }
            })}
    })
}

#[component]
fn Row(credential: CredentialView, actions: Actions) -> impl IntoView {
    let CredentialView {
        client_id,
        name,
        description,
        scopes,
        created,
        expires,
        last_used,
        tokens_issued,
        status,
        servers,
        allowed_tools,
        old_secret_ends,
        token_lifetime,
        tokens_per_hour,
        expires_soon,
        authentication,
        key_ids,
        created_by,
        can_change,
        suspended,
        workload_only,
        ..
    } = credential;
    let with_key = !key_ids.is_empty();
    let status_class = format!("status status-{}", status.label().to_lowercase());
    let edit = view! {
        <A href=format!("/credentials/edit?client_id={client_id}") attr:class="button secondary">
            "Edit"
        </A>
    };
    let edit = can_change.then_some(edit);
    // A credential without a secret or keys has nothing to rotate.
    let rotate = (can_change && status == CredentialStatus::Active && !workload_only).then(|| {
        view! {
            <A href=format!("/credentials/rotate?client_id={client_id}") attr:class="button secondary">
                {if with_key { "Rotate key" } else { "Rotate secret" }}
            </A>
        }
    });
    let control = (can_change && status != CredentialStatus::Revoked).then(|| {
        let id = client_id.clone();
        view! {
            <InlineConfirm
                page="/credentials/revoke"
                field="client_id"
                value=client_id.clone()
                button="Revoke"
                label="Confirm revocation"
                question=format!(
                    "Revoke “{name}”? Programs using it lose access at once. This cannot be undone.",
                )
            >
                {
                    let id = id.clone();
                    view! {
                        <ActionForm action=actions.revoke>
                            <input type="hidden" name="client_id" value=id/>
                            <button type="submit" class="danger">
                                "Revoke credential"
                            </button>
                        </ActionForm>
                    }
                }
            </InlineConfirm>
        }
    });
    let old_secret = old_secret_ends.map(|ends| {
        let id = client_id.clone();
        view! {
            <div class="old-secret" data-testid="old-secret">
                <p>
                    {format!("The old {} works until {ends}.", if with_key { "key" } else { "secret" })}
                </p>
                <ActionForm action=actions.end_old>
                    <input type="hidden" name="client_id" value=id/>
                    <button type="submit" class="secondary">
                        "Revoke now"
                    </button>
                </ActionForm>
            </div>
        }
    });
    view! {
        <li data-testid="credential-row" class="credential">
            <div class="credential-head">
                <h2 class="credential-name">
                    <A href=format!("/credentials/{client_id}")>{name.clone()}</A>
                </h2>
                <span class=status_class>{status.label()}</span>
                {suspended.then(|| view! { <span class="status status-revoked">"Suspended"</span> })}
                {expires_soon.then(|| view! { <span class="status status-soon">"Expires soon"</span> })}
            </div>
            {(!description.is_empty()).then(|| view! { <p class="description">{description}</p> })}
            <dl class="facts">
                <div>
                    <dt>"Client ID"</dt>
                    <dd>
                        <code>{client_id}</code>
                    </dd>
                </div>
                <div>
                    <dt>"Scopes"</dt>
                    <dd>{scopes.join(" ")}</dd>
                </div>
                <div>
                    <dt>"Servers"</dt>
                    <dd>{servers.join(", ")}</dd>
                </div>
                {(!allowed_tools.is_empty())
                    .then(|| {
                        view! {
                            <div>
                                <dt>"Allowed tools"</dt>
                                <dd>{allowed_tools.join(", ")}</dd>
                            </div>
                        }
                    })}
                <div>
                    <dt>"Created"</dt>
                    <dd>{created}</dd>
                </div>
                <div>
                    <dt>"Created by"</dt>
                    <dd data-testid="created-by">{created_by}</dd>
                </div>
                <div>
                    <dt>"Expires"</dt>
                    <dd>{expires}</dd>
                </div>
                <div>
                    <dt>"Authentication"</dt>
                    <dd>
                        {authentication}
                        {with_key.then(|| format!(" (keys {})", key_ids.join(", ")))}
                    </dd>
                </div>
                <div>
                    <dt>"Token lifetime"</dt>
                    <dd>{token_lifetime}</dd>
                </div>
                <div>
                    <dt>"Tokens per hour"</dt>
                    <dd>{tokens_per_hour.map_or_else(|| "No limit".to_owned(), |n| n.to_string())}</dd>
                </div>
                <div>
                    <dt>"Last used"</dt>
                    <dd>{last_used}</dd>
                </div>
                <div>
                    <dt>"Tokens issued"</dt>
                    <dd>{tokens_issued}</dd>
                </div>
            </dl>
            {old_secret}
            <div class="row-actions">{edit} {rotate} {control}</div>
        </li>
    }
}
