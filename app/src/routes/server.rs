//! `/servers/<slug>`: one MCP server and what it takes to use it. For a gateway server,
//! the URL to give MCP clients; for an external one, what the server needs to verify
//! Clavis tokens (SPEC §10.3), with working examples for the official Python and
//! TypeScript SDKs — the very files the end-to-end tests run.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    components::{alert::PageError, copy::CopyButton, signed_in::SignedIn},
    server_fns::servers::{ServerDetail, get_server},
};

const PYTHON_EXAMPLE: &str = include_str!("../../../end2end/python/external_server.py");
const TYPESCRIPT_EXAMPLE: &str = include_str!("../../../end2end/external/server.mjs");
/// The placeholders those files use.
const EXAMPLE_ISSUER: &str = "https://clavis.example.com";
const EXAMPLE_RESOURCE: &str = "https://mcp.example.com/mcp";

#[component]
pub fn ServerPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let detail = Resource::new(slug, get_server);
    view! {
        <Title text="MCP server"/>
        <SignedIn>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(detail) => Either::Left(view! { <Detail detail=detail/> }),
                        Err(error) => {
                            Either::Right(
                                view! {
                                    <PageError error=error/>
                                    <A href="/servers">"Back to MCP servers"</A>
                                },
                            )
                        }
                    }
                })}
            </Suspense>
        </SignedIn>
    }
}

#[component]
fn Fact(term: &'static str, value: String) -> impl IntoView {
    view! {
        <div>
            <dt>{term}</dt>
            <dd>
                <code>{value}</code>
            </dd>
        </div>
    }
}

#[component]
fn Snippet(title: &'static str, code: String) -> impl IntoView {
    view! {
        <figure class="snippet">
            <figcaption>
                <span>{title}</span>
                <CopyButton text=code.clone() label="Copy"/>
            </figcaption>
            <pre><code>{code}</code></pre>
        </figure>
    }
}

#[component]
fn Detail(detail: ServerDetail) -> impl IntoView {
    let ServerDetail {
        server,
        issuer,
        jwks_uri,
        introspection_endpoint,
        scope,
        ..
    } = detail;
    let resource = server.resource.clone();
    let body = if server.mode == "Gateway" {
        Either::Left(view! {
            <p>
                "Programs call this server through Clavis at the URL below, with a Clavis access token "
                "for it. MCP SDKs that do the client-credentials flow themselves need only this URL, "
                "a client ID and its secret (or private key)."
            </p>
            <dl class="facts">
                <Fact term="MCP server URL" value=resource.clone()/>
                <Fact term="Token audience (resource)" value=resource.clone()/>
                <Fact term="Required scope" value=scope.clone()/>
            </dl>
        })
    } else {
        let fill = |example: &str| {
            example
                .replace(EXAMPLE_ISSUER, &issuer)
                .replace(EXAMPLE_RESOURCE, &resource)
        };
        Either::Right(view! {
            <p>
                "This server checks Clavis access tokens itself. It needs:"
            </p>
            <dl class="facts">
                <Fact term="Issuer" value=issuer.clone()/>
                <Fact term="JWKS URL" value=jwks_uri/>
                <Fact term="Audience" value=resource.clone()/>
                <Fact term="Required scope" value=scope/>
                <Fact term="Signing algorithm" value="EdDSA (typ at+jwt)".to_owned()/>
                <Fact term="Introspection (to see revocations at once)" value=introspection_endpoint/>
            </dl>
            <h2>"Verify tokens with the Python MCP SDK"</h2>
            <Snippet title="external_server.py" code=fill(PYTHON_EXAMPLE)/>
            <h2>"Verify tokens with the TypeScript MCP SDK"</h2>
            <Snippet title="server.mjs" code=fill(TYPESCRIPT_EXAMPLE)/>
        })
    };
    view! {
        <div class="page-head">
            <h1>{server.name}</h1>
            <span class="status">{server.mode}</span>
        </div>
        {body}
        <p>
            <A href="/servers">"Back to MCP servers"</A>
        </p>
    }
}
