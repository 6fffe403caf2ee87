//! The one-time view of a new credential: its id and secret, and ready-to-paste
//! snippets. Nothing can show the secret again once this view is gone.

use leptos::{either::Either, prelude::*};
use leptos_router::components::A;

use crate::{components::copy::CopyButton, server_fns::credentials::CreatedCredential};

#[component]
pub fn OneTimeView(created: CreatedCredential) -> impl IntoView {
    if created.workload_only {
        return Either::Right(Either::Left(view! { <WorkloadOnly created=created/> }));
    }
    if created.client_secret.is_none() {
        return Either::Right(Either::Right(view! { <KeyRegistered created=created/> }));
    }
    let mcp_url = first_server(&created);
    let CreatedCredential {
        client_id,
        client_secret,
        name,
        scopes,
        issuer,
        servers,
        rotated,
        ..
    } = created;
    let client_secret = client_secret.unwrap_or_default();
    let token_url = format!("{issuer}/mcp/oauth/token");
    let resource = if servers.len() > 1 {
        format!(" \\\n  -d resource='{mcp_url}'")
    } else {
        String::new()
    };
    let scope = scopes.join(" ");
    let env = format!(
        "export CLAVIS_CLIENT_ID='{client_id}'\nexport CLAVIS_CLIENT_SECRET='{client_secret}'\nexport CLAVIS_TOKEN_URL='{token_url}'"
    );
    let curl = format!(
        "curl -s -X POST \"$CLAVIS_TOKEN_URL\" \\\n  -u \"$CLAVIS_CLIENT_ID:$CLAVIS_CLIENT_SECRET\" \\\n  -d grant_type=client_credentials -d scope='{scope}'{resource}"
    );
    let python = format!(
        "import os, httpx\n\ntoken = httpx.post(\n    os.environ[\"CLAVIS_TOKEN_URL\"],\n    auth=(os.environ[\"CLAVIS_CLIENT_ID\"], os.environ[\"CLAVIS_CLIENT_SECRET\"]),\n    data={{\"grant_type\": \"client_credentials\", \"scope\": \"{scope}\"}},\n).raise_for_status().json()[\"access_token\"]"
    );
    let typescript = format!(
        "const basic = btoa(`${{process.env.CLAVIS_CLIENT_ID}}:${{process.env.CLAVIS_CLIENT_SECRET}}`);\nconst response = await fetch(process.env.CLAVIS_TOKEN_URL!, {{\n  method: \"POST\",\n  headers: {{\n    Authorization: `Basic ${{basic}}`,\n    \"Content-Type\": \"application/x-www-form-urlencoded\",\n  }},\n  body: new URLSearchParams({{ grant_type: \"client_credentials\", scope: \"{scope}\" }}),\n}});\nconst {{ access_token }} = await response.json();"
    );
    let mcp = format!(
        "MCP server URL:  {mcp_url}\nHeader:          Authorization: Bearer <access_token>\n\nClients configured with a URL and headers:\n{{\n  \"mcpServers\": {{\n    \"clavis\": {{\n      \"type\": \"http\",\n      \"url\": \"{mcp_url}\",\n      \"headers\": {{ \"Authorization\": \"Bearer ${{CLAVIS_ACCESS_TOKEN}}\" }}\n    }}\n  }}\n}}\n\nSDKs that do the client-credentials flow themselves (TypeScript\nClientCredentialsProvider, Python ClientCredentialsOAuthProvider) need only:\n  server URL     {mcp_url}\n  client_id      {client_id}\n  client_secret  (the secret above)"
    );
    let granted = servers
        .iter()
        .map(|(name, url)| format!("{name}: {url}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mcp = if servers.len() > 1 {
        format!(
            "{mcp}\n\nEvery MCP server this credential may call (a token is for one of them:\nask for it with resource=<URL>; the SDKs do that from the server URL):\n{granted}"
        )
    } else {
        mcp
    };
    let snippets = [
        ("Environment variables", "Copy environment variables", env),
        ("curl: get an access token", "Copy curl command", curl),
        ("Python (httpx)", "Copy Python snippet", python),
        ("TypeScript (fetch)", "Copy TypeScript snippet", typescript),
        ("Use with MCP clients", "Copy MCP client settings", mcp),
    ];
    let heading = focus_on_mount();
    Either::Left(view! {
        <section class="one-time" aria-labelledby="created-title">
            // Focused when it appears, so screen readers announce the heading and the
            // warning it is described by, and the keyboard starts at the secret.
            <h1 id="created-title" tabindex="-1" aria-describedby="created-warning" node_ref=heading>
                {if rotated {
                    format!("New secret for “{name}”")
                } else {
                    format!("Credential “{name}” created")
                }}
            </h1>
            <p class="warning" id="created-warning">
                <strong>"Copy the client secret now."</strong>
                " You will not see this secret again: Clavis keeps only a one-way hash of it. "
                {if rotated {
                    "The client ID is unchanged. If you lose the secret, rotate it again."
                } else {
                    "If you lose it, rotate the secret or revoke this credential and create a new one."
                }}
            </p>
            <dl class="secret-values">
                <div>
                    <dt>"Client ID"</dt>
                    <dd>
                        <code data-testid="client-id">{client_id.clone()}</code>
                        <CopyButton text=client_id label="Copy"/>
                    </dd>
                </div>
                <div>
                    <dt>"Client secret"</dt>
                    <dd>
                        <code data-testid="client-secret">{client_secret.clone()}</code>
                        <CopyButton text=client_secret label="Copy"/>
                    </dd>
                </div>
            </dl>
            <h2>"Use it"</h2>
            {snippets
                .into_iter()
                .map(|(title, copy_label, code)| {
                    view! {
                        <figure class="snippet">
                            <figcaption>
                                <span>{title}</span>
                                <CopyButton text=code.clone() label=copy_label/>
                            </figcaption>
                            <pre><code>{code}</code></pre>
                        </figure>
                    }
                })
                .collect_view()}
            <p>
                <A href="/credentials" attr:class="button">
                    "Done"
                </A>
            </p>
        </section>
    })
}

/// A heading that takes the focus once it is in the page (in the browser: the one-time
/// view replaces the form without a page load, which screen readers would not notice).
fn focus_on_mount() -> NodeRef<leptos::html::H1> {
    let heading = NodeRef::<leptos::html::H1>::new();
    Effect::new(move |_| {
        if let Some(heading) = heading.get() {
            let _ = heading.focus();
        }
    });
    heading
}

/// The view of a new credential without a secret or keys (SPEC §18): nothing is secret,
/// so it shows the client ID and how a job or pod trades its platform's token for one.
#[component]
fn WorkloadOnly(created: CreatedCredential) -> impl IntoView {
    let mcp_url = first_server(&created);
    let CreatedCredential {
        client_id,
        name,
        issuer,
        servers,
        ..
    } = created;
    let resource = if servers.len() > 1 {
        format!(" \\\n  -d resource='{mcp_url}'")
    } else {
        String::new()
    };
    let usage = format!(
        "# WORKLOAD_TOKEN: the job's or pod's token from its platform, for the rule's audience\ncurl -s -X POST '{issuer}/mcp/oauth/token' \\\n  -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer \\\n  -d client_id='{client_id}' \\\n  --data-urlencode assertion=\"$WORKLOAD_TOKEN\"{resource}\n\nMCP server URL:  {mcp_url}\nHeader:          Authorization: Bearer <access_token>"
    );
    view! {
        <NoSecretView
            title=format!("Credential “{name}” created")
            intro="This credential has no secret: jobs and pods get its tokens with the token their platform signs for them, when it matches the federation rule. There is nothing to store."
            client_id=client_id
            caption="Token request with a workload token"
            copy_label="Copy command"
            usage=usage
        />
    }
}

/// The one-time view of a `private_key_jwt` credential (or its new keys): no secret
/// exists, so it shows the client ID and how programs use their private key.
#[component]
fn KeyRegistered(created: CreatedCredential) -> impl IntoView {
    let mcp_url = first_server(&created);
    let CreatedCredential {
        client_id,
        name,
        issuer,
        rotated,
        ..
    } = created;
    let usage = format!(
        "Token endpoint:   {issuer}/mcp/oauth/token\nClient ID:        {client_id}\nAuthentication:   private_key_jwt (RFC 7523): a JWT signed with your private key,\n                  iss = sub = the client ID, aud = {issuer}, a unique jti,\n                  exp at most 1 hour after iat\nMCP server URL:   {mcp_url}\n\nSDKs that do this themselves need only the server URL, the client ID and the\nprivate key: TypeScript PrivateKeyJwtProvider, Python PrivateKeyJWTOAuthProvider,\nrmcp ClientCredentialsConfig::PrivateKeyJwt."
    );
    let title = if rotated {
        format!("New key for “{name}”")
    } else {
        format!("Credential “{name}” created")
    };
    view! {
        <NoSecretView
            title=title
            intro="This credential has no secret: programs prove who they are with the private key that matches the public key you registered. Keep that private key with them."
            client_id=client_id
            caption="Token requests with private_key_jwt"
            copy_label="Copy settings"
            usage=usage
        />
    }
}

/// The URL MCP clients are given: the first server granted (the built-in one by default).
fn first_server(created: &CreatedCredential) -> String {
    created
        .servers
        .first()
        .map_or_else(|| format!("{}/mcp", created.issuer), |(_, url)| url.clone())
}

/// A new credential without a secret: the heading, why there is no secret, the client
/// ID and how to use it.
#[component]
fn NoSecretView(
    title: String,
    intro: &'static str,
    client_id: String,
    caption: &'static str,
    copy_label: &'static str,
    usage: String,
) -> impl IntoView {
    let heading = focus_on_mount();
    view! {
        <section class="one-time" aria-labelledby="created-title">
            <h1 id="created-title" tabindex="-1" node_ref=heading>
                {title}
            </h1>
            <p>{intro}</p>
            <dl class="secret-values">
                <div>
                    <dt>"Client ID"</dt>
                    <dd>
                        <code data-testid="client-id">{client_id.clone()}</code>
                        <CopyButton text=client_id label="Copy"/>
                    </dd>
                </div>
            </dl>
            <h2>"Use it"</h2>
            <figure class="snippet">
                <figcaption>
                    <span>{caption}</span>
                    <CopyButton text=usage.clone() label=copy_label/>
                </figcaption>
                <pre><code>{usage}</code></pre>
            </figure>
            <p>
                <A href="/credentials" attr:class="button">
                    "Done"
                </A>
            </p>
        </section>
    }
}
