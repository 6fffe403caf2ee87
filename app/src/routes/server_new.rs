//! `/servers/new`: register an MCP server (administrators only; the server function
//! checks that again for hand-crafted requests).

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    UiError,
    components::{access::AccessFields, alert::ActionError, signed_in::SignedIn},
    server_fns::servers::{AddServer, ServerList, TeamChoice, list_servers},
};

#[component]
pub fn NewServerPage() -> impl IntoView {
    // Before the sign-in gate (see `ServersPage`).
    let add = ServerAction::<AddServer>::new();
    let viewer = Resource::new(|| (), |()| list_servers());
    view! {
        <Title text="Add MCP server"/>
        <SignedIn>
            <Add add=add viewer=viewer/>
        </SignedIn>
    }
}

#[component]
fn Add(
    add: ServerAction<AddServer>,
    viewer: Resource<Result<ServerList, UiError>>,
) -> impl IntoView {
    view! {
        <div class="narrow-block">
            <h1>"Add MCP server"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let refusal = match viewer.await {
                        Ok(list) if list.is_admin => {
                            return Either::Left(view! { <ServerForm add=add teams=list.teams/> });
                        }
                        Ok(_) => "Only administrators can add MCP servers.".to_owned(),
                        Err(error) => error.to_string(),
                    };
                    Either::Right(
                        view! {
                            <p class="alert" role="alert">{refusal}</p>
                            <A href="/servers">"Back to MCP servers"</A>
                        },
                    )
                })}
            </Suspense>
        </div>
    }
}

#[component]
fn ServerForm(add: ServerAction<AddServer>, teams: Vec<TeamChoice>) -> impl IntoView {
    view! {
        <ActionForm action=add attr:class="stack">
            <ActionError action=add/>
            <label>
                "Name" <input type="text" name="name" autocomplete="off"/>
            </label>
            <label>
                "Slug" <input type="text" name="slug" autocomplete="off" aria-describedby="slug-hint"/>
            </label>
            <p id="slug-hint" class="hint">
                "Lower-case letters, digits and dashes; a gateway server is served at /mcp/<slug>."
            </p>
            <label>
                "Mode"
                <select name="mode">
                    <option value="gateway" selected>"Gateway"</option>
                    <option value="external">"External"</option>
                </select>
            </label>
            <p class="hint">
                "Gateway: programs call Clavis, which checks their token and forwards to the upstream URL. "
                "External: the server checks Clavis tokens itself; Clavis only issues them."
            </p>
            <fieldset>
                <legend>"Gateway"</legend>
                <label>
                    "Upstream URL" <input type="url" name="upstream_url" autocomplete="off" placeholder="http://10.0.0.5:8000/mcp"/>
                </label>
                <label>
                    "Upstream header name" <input type="text" name="header_name" autocomplete="off" placeholder="X-Api-Key"/>
                </label>
                <label>
                    "Upstream header value" <input type="password" name="header_value" autocomplete="new-password"/>
                </label>
                <p class="hint">
                    "Optional: added to every forwarded request (an upstream API key, say). Stored encrypted and never shown again."
                </p>
            </fieldset>
            <fieldset>
                <legend>"External"</legend>
                <label>
                    "Resource URL" <input type="url" name="resource_url" autocomplete="off" placeholder="https://mcp.example.com/mcp"/>
                </label>
                <p class="hint">"The server's own URL: its tokens carry it as their audience."</p>
            </fieldset>
            <AccessFields teams=teams access="chosen-teams".to_owned() shared=Vec::new()/>
            <div class="actions">
                <button type="submit" disabled=move || add.pending().get()>
                    "Save server"
                </button>
                <A href="/servers">"Cancel"</A>
            </div>
        </ActionForm>
    }
}
