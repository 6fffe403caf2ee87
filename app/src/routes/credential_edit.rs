//! `/credentials/edit?client_id=…`: change a credential's name, description, allowed
//! tools, quota (SPEC §11.3) and federation rule (§18). Scopes, servers and
//! authentication stay as created.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    UiError,
    components::{
        alert::{ActionError, PageError},
        allowed_tools::AllowedToolsFields,
        federation::{FederationFields, RuleFields},
        signed_in::SignedIn,
    },
    server_fns::{
        credentials::{CredentialView, UpdateCredential, get_credential},
        issuers::{IssuerList, list_issuers},
        servers::{ToolChoices, list_server_tools},
    },
};

#[component]
pub fn EditCredentialPage() -> impl IntoView {
    let query = use_query_map();
    let client_id = move || query.read().get("client_id").unwrap_or_default();
    let credential = Resource::new(client_id, get_credential);
    let update = ServerAction::<UpdateCredential>::new();
    // The form's lists, made here rather than after the credential is read (see
    // `ServersPage`).
    let issuers = Resource::new(|| (), |()| list_issuers());
    let tools = Resource::new(|| (), |()| list_server_tools());
    view! {
        <Title text="Edit credential"/>
        <SignedIn>
            <div class="narrow-block">
                <h1>"Edit credential"</h1>
                <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match credential.await {
                            Ok(credential) => Either::Left(view! { <EditForm credential=credential update=update issuers=issuers tools=tools/> }),
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
fn EditForm(
    credential: CredentialView,
    update: ServerAction<UpdateCredential>,
    issuers: Resource<Result<IssuerList, UiError>>,
    tools: Resource<Result<ToolChoices, UiError>>,
) -> impl IntoView {
    // The form edits one rule; more (made with the CLI or the admin API) stay as they are.
    let federation = match credential.federation.as_slice() {
        [] => Either::Left(RuleFields::default()),
        [rule] => Either::Left(RuleFields {
            issuer: rule.issuer.clone(),
            audience: rule.audience.clone(),
            claims: rule.conditions.join("\n"),
            single_use: rule.single_use,
        }),
        rules => Either::Right(rules.len()),
    };
    let federation = match federation {
        Either::Left(chosen) => Either::Left(view! {
            <input type="hidden" name="federation_listed" value="on"/>
            <FederationFields chosen=chosen issuers=issuers/>
        }),
        Either::Right(count) => Either::Right(view! {
            <p class="hint">
                {format!(
                    "{count} federation rules: change them with clavis credential edit or the admin API.",
                )}
            </p>
        }),
    };
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
            <AllowedToolsFields chosen=credential.allowed_tools choices=tools/>
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
            <label>
                "Calls per minute"
                <textarea name="calls_per_minute" rows="3" spellcheck="false">
                    {credential.call_limits.join("\n")}
                </textarea>
            </label>
            <p class="hint">"One limit per line: SERVER=N for all its tools, SERVER:TOOL=N for one. Empty: no limit."</p>
            <label class="check">
                <input type="checkbox" name="require_dpop" value="on" checked=credential.require_dpop/>
                "Require DPoP"
            </label>
            <p class="hint">
                "Its token requests must carry a DPoP proof; tokens it already has keep working until they expire."
            </p>
            {federation}
            <div class="actions">
                <button type="submit" disabled=move || update.pending().get()>
                    "Save"
                </button>
                <A href="/credentials">"Cancel"</A>
            </div>
        </ActionForm>
    }
}
