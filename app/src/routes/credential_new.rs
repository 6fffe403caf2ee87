//! `/credentials/new`: create a credential, then show its secret once.
//!
//! With JavaScript the form calls the `create_credential` server function and the
//! one-time view replaces the form. Without it the form posts to this same URL and the
//! server answers with the rendered result (see [`NoJsCreate`]). Either way the secret
//! travels only in the response to the create request: never in a resource, a URL, a
//! cookie or a later page.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    UiError,
    components::{
        allowed_tools::AllowedToolsFields,
        federation::{FederationFields, RuleFields},
        one_time::OneTimeView,
        signed_in::SignedIn,
    },
    forms::form_pairs,
    server_fns::{
        credentials::{
            BUILTIN_LABEL, BUILTIN_VALUE, CreateCredential, CreatedCredential,
            TOKEN_LIFETIME_CHOICES,
        },
        issuers::{IssuerList, list_issuers},
        servers::{ServerList, ToolChoices, list_server_tools, list_servers},
    },
};

/// The outcome of a create form posted without JavaScript, given as context to the
/// server-side render that answers it.
#[derive(Clone)]
pub struct NoJsCreate {
    pub input: CreateCredential,
    pub result: Result<CreatedCredential, UiError>,
}

#[component]
pub fn NewCredentialPage() -> impl IntoView {
    // Created before the sign-in gate, which may build the page again while rendering
    // on the server (see `ServersPage`).
    let create = ServerAction::<CreateCredential>::new();
    let lists = Lists {
        servers: Resource::new(|| (), |()| list_servers()),
        tools: Resource::new(|| (), |()| list_server_tools()),
        issuers: Resource::new(|| (), |()| list_issuers()),
    };
    view! {
        <Title text="New credential"/>
        <SignedIn>
            <Create create=create lists=lists/>
        </SignedIn>
    }
}

/// What the form offers: the servers, their tools, the trusted issuers.
#[derive(Clone, Copy)]
struct Lists {
    servers: Resource<Result<ServerList, UiError>>,
    tools: Resource<Result<ToolChoices, UiError>>,
    issuers: Resource<Result<IssuerList, UiError>>,
}

#[component]
fn Create(create: ServerAction<CreateCredential>, lists: Lists) -> impl IntoView {
    let submitted = use_context::<NoJsCreate>();
    if let Some(submitted) = &submitted {
        create.value().set(Some(submitted.result.clone()));
    }
    // What was sent last (without JavaScript: the posted form), so that a refused form
    // comes back as it was filled in.
    let sent = StoredValue::new(submitted.map(|s| s.input));
    move || match create.value().get() {
        Some(Ok(created)) => Either::Left(view! { <OneTimeView created=created/> }),
        other => {
            let error = other.and_then(Result::err);
            Either::Right(
                view! { <CreateForm create=create lists=lists error=error prefill=sent.get_value() sent=sent/> },
            )
        }
    }
}

#[component]
fn CreateForm(
    create: ServerAction<CreateCredential>,
    lists: Lists,
    error: Option<UiError>,
    prefill: Option<CreateCredential>,
    sent: StoredValue<Option<CreateCredential>>,
) -> impl IntoView {
    let name = prefill.as_ref().map(|p| p.name.clone()).unwrap_or_default();
    let description = prefill
        .as_ref()
        .and_then(|p| p.description.clone())
        .unwrap_or_default();
    // A fresh form has `mcp` checked; a re-shown one keeps what was sent.
    let mcp = prefill.as_ref().is_none_or(|p| p.mcp.is_some());
    let introspect = prefill.as_ref().is_some_and(|p| p.introspect.is_some());
    let admin_scope = prefill
        .as_ref()
        .is_some_and(|p| p.credentials_admin.is_some());
    let expires = prefill
        .as_ref()
        .map_or_else(|| "never".to_owned(), |p| p.expires.clone());
    let expires_on = prefill
        .as_ref()
        .and_then(|p| p.expires_on.clone())
        .unwrap_or_default();
    let option = move |value: &'static str, label: &'static str| {
        view! {
            <option value=value selected=expires == value>
                {label}
            </option>
        }
    };
    // A fresh form grants the built-in server; a re-shown one keeps what was sent.
    let chosen = prefill
        .as_ref()
        .and_then(|p| p.servers.clone())
        .unwrap_or_else(|| vec![BUILTIN_VALUE.to_owned()]);
    let allowed_tools: Vec<String> = prefill
        .as_ref()
        .and_then(|p| p.allowed_tools.as_deref())
        .map(|tools| {
            tools
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let auth_method = prefill
        .as_ref()
        .and_then(|p| p.auth_method.clone())
        .unwrap_or_default();
    let public_key = prefill
        .as_ref()
        .and_then(|p| p.public_key.clone())
        .unwrap_or_default();
    let token_lifetime = prefill
        .as_ref()
        .and_then(|p| p.token_lifetime.clone())
        .unwrap_or_default();
    let tokens_per_hour = prefill
        .as_ref()
        .and_then(|p| p.tokens_per_hour.clone())
        .unwrap_or_default();
    let federation = prefill
        .as_ref()
        .map(|p| RuleFields {
            issuer: p.federate_issuer.clone().unwrap_or_default(),
            audience: p.federate_audience.clone().unwrap_or_default(),
            claims: p.claims.clone().unwrap_or_default(),
            single_use: p.single_use.is_some(),
        })
        .unwrap_or_default();
    let no_secret = prefill.as_ref().is_some_and(|p| p.no_secret.is_some());
    let require_dpop = prefill.as_ref().is_some_and(|p| p.require_dpop.is_some());
    let calls_per_minute = prefill
        .as_ref()
        .and_then(|p| p.calls_per_minute.clone())
        .unwrap_or_default();
    let servers = lists.servers;
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match form_pairs(&ev) {
            Some(pairs) => {
                let input = CreateCredential::from_pairs(pairs);
                sent.set_value(Some(input.clone()));
                create.dispatch(input);
            }
            None => create.value().set(Some(Err(UiError::BadRequest))),
        }
    };
    let server_box = {
        let chosen = chosen.clone();
        move |value: String, label: String| {
            let checked = chosen.contains(&value);
            view! {
                <label class="check">
                    <input type="checkbox" name="server" value=value checked=checked/>
                    {label}
                </label>
            }
        }
    };
    view! {
        <div class="narrow-block">
            <h1>"New credential"</h1>
            <form method="post" action="/credentials/new" class="stack" on:submit=on_submit>
                {error.map(|e| view! { <p class="alert" role="alert">{e.to_string()}</p> })}
                <label>
                    "Name" <input type="text" name="name" value=name autocomplete="off" aria-describedby="name-hint"/>
                </label>
                <p id="name-hint" class="hint">"Up to 100 characters, e.g. “CI deploy bot”."</p>
                <label>
                    "Description" <textarea name="description" rows="3">{description}</textarea>
                </label>
                <fieldset>
                    <legend>"Scopes"</legend>
                    <label class="check">
                        <input type="checkbox" name="mcp" value="on" checked=mcp/>
                        "mcp"
                    </label>
                    <p class="hint">"Call MCP servers."</p>
                    <label class="check">
                        <input type="checkbox" name="introspect" value="on" checked=introspect/>
                        "introspect"
                    </label>
                    <p class="hint">"Introspect any token issued by this server (administrators only)."</p>
                    <label class="check">
                        <input type="checkbox" name="credentials_admin" value="on" checked=admin_scope/>
                        "credentials:admin"
                    </label>
                    <p class="hint">
                        "Manage this workspace's credentials through the admin API (/api/v1)."
                    </p>
                </fieldset>
                <fieldset>
                    <legend>"Servers"</legend>
                    {server_box(BUILTIN_VALUE.to_owned(), BUILTIN_LABEL.to_owned())}
                    <Suspense fallback=|| ()>
                        {
                            let server_box = server_box.clone();
                            move || {
                                let server_box = server_box.clone();
                                Suspend::new(async move {
                                    servers
                                        .await
                                        .map(|list| {
                                            list.servers
                                                .into_iter()
                                                .filter(|s| s.grantable)
                                                .map(|s| server_box(s.slug, s.name))
                                                .collect_view()
                                        })
                                        .ok()
                                })
                            }
                        }
                    </Suspense>
                    <p class="hint">"The MCP servers this credential may get tokens for."</p>
                </fieldset>
                <AllowedToolsFields chosen=allowed_tools choices=lists.tools/>
                <label>
                    "Expires"
                    <select name="expires">
                        {option("never", "Never")}
                        {option("30", "In 30 days")}
                        {option("90", "In 90 days")}
                        {option("365", "In 365 days")}
                        {option("date", "On a date…")}
                    </select>
                </label>
                <label>
                    "Expiry date (for “On a date…”)" <input type="date" name="expires_on" value=expires_on/>
                </label>
                <label>
                    "Authentication"
                    <select name="auth_method">
                        <option value="client_secret" selected=auth_method != "private_key_jwt">
                            "Client secret"
                        </option>
                        <option value="private_key_jwt" selected=auth_method == "private_key_jwt">
                            "Private key JWT"
                        </option>
                    </select>
                </label>
                <label>
                    "Public key"
                    <textarea name="public_key" rows="5" spellcheck="false" aria-describedby="key-hint">
                        {public_key}
                    </textarea>
                </label>
                <p id="key-hint" class="hint">
                    "For Private key JWT only: PEM (-----BEGIN PUBLIC KEY-----), a JWK or a JWKS of up to 5 keys — "
                    "Ed25519, P-256 or RSA of at least 2048 bits. No secret is made; programs sign with the private key."
                </p>
                <FederationFields chosen=federation offer_no_secret=true no_secret=no_secret issuers=lists.issuers/>
                <label>
                    "Token lifetime"
                    <select name="token_lifetime">
                        {TOKEN_LIFETIME_CHOICES
                            .iter()
                            .map(|(value, label)| {
                                view! {
                                    <option value=*value selected=token_lifetime == *value>
                                        {*label}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Tokens per hour"
                    <input
                        type="number"
                        name="tokens_per_hour"
                        min="1"
                        step="1"
                        value=tokens_per_hour
                        aria-describedby="quota-hint"
                    />
                </label>
                <p id="quota-hint" class="hint">"Empty: no limit. Over it, token requests get 429 until the next hour."</p>
                <label>
                    "Calls per minute"
                    <textarea name="calls_per_minute" rows="3" spellcheck="false" aria-describedby="calls-hint">
                        {calls_per_minute}
                    </textarea>
                </label>
                <p id="calls-hint" class="hint">
                    "At gateway servers, one limit per line: SERVER=N for all its tools, SERVER:TOOL=N for one (e.g. ops=600, ops:deploy=5). "
                    "Over a limit the gateway answers 429 itself until the next minute. Empty: no limit."
                </p>
                <label class="check">
                    <input type="checkbox" name="require_dpop" value="on" checked=require_dpop aria-describedby="dpop-hint"/>
                    "Require DPoP"
                </label>
                <p id="dpop-hint" class="hint">
                    "Its token requests must carry a DPoP proof, so every token it gets is bound to the program's key: "
                    "a copied token is useless without that key. Clients that speak DPoP (the MCP TypeScript SDK's DpopSession) need nothing else."
                </p>
                <div class="actions">
                    <button type="submit" disabled=move || create.pending().get()>
                        "Create credential"
                    </button>
                    <A href="/credentials">"Cancel"</A>
                </div>
            </form>
        </div>
    }
}
