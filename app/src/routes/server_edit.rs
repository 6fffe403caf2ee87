//! `/servers/<slug>/edit`: change a server's name, URL and upstream header
//! (administrators only). The header value is never shown: left empty, it stays, unless
//! the upstream URL changes (then it must be given again).

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    components::{access::AccessFields, alert::ActionError, signed_in::SignedIn},
    server_fns::servers::{EditServer, ServerView, TeamChoice, get_server},
};

#[component]
pub fn EditServerPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let detail = Resource::new(slug, get_server);
    let edit = ServerAction::<EditServer>::new();
    view! {
        <Title text="Edit MCP server"/>
        <SignedIn>
            <div class="narrow-block">
                <h1>"Edit MCP server"</h1>
                <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let refusal = match detail.await {
                            Ok(detail) if detail.server.editable => {
                                return Either::Left(view! { <EditForm server=detail.server teams=detail.teams edit=edit/> });
                            }
                            Ok(_) => "Only administrators can change MCP servers.".to_owned(),
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
        </SignedIn>
    }
}

#[component]
fn EditForm(
    server: ServerView,
    teams: Vec<TeamChoice>,
    edit: ServerAction<EditServer>,
) -> impl IntoView {
    let gateway = server.mode == "Gateway";
    let (access, shared) = (server.access.clone(), server.teams.clone());
    let has_header = server.header_name.is_some();
    view! {
        <ActionForm action=edit attr:class="stack">
            <ActionError action=edit/>
            <input type="hidden" name="slug" value=server.slug.clone()/>
            <p class="hint">{format!("{} server “{}” ({})", server.mode, server.slug, server.resource)}</p>
            <label>
                "Name" <input type="text" name="name" value=server.name autocomplete="off"/>
            </label>
            {if gateway {
                Either::Left(view! {
                    <label>
                        "Upstream URL"
                        <input type="url" name="upstream_url" value=server.upstream_url.unwrap_or_default() autocomplete="off"/>
                    </label>
                    <label>
                        "Upstream header name"
                        <input type="text" name="header_name" value=server.header_name.unwrap_or_default() autocomplete="off"/>
                    </label>
                    <label>
                        "Upstream header value"
                        <input
                            type="password"
                            name="header_value"
                            autocomplete="new-password"
                            placeholder=if has_header { "•••••••• (unchanged)" } else { "" }
                        />
                    </label>
                    <p class="hint">
                        "Leave the value empty to keep the stored one; clear the name to remove the header."
                    </p>
                })
            } else {
                Either::Right(view! {
                    <label>
                        "Resource URL" <input type="url" name="resource_url" value=server.resource autocomplete="off"/>
                    </label>
                })
            }}
            <AccessFields teams=teams access=access shared=shared/>
            <div class="actions">
                <button type="submit" disabled=move || edit.pending().get()>
                    "Save server"
                </button>
                <A href="/servers">"Cancel"</A>
            </div>
        </ActionForm>
    }
}
