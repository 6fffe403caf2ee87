//! `/servers`: the MCP servers Clavis protects. Everyone signed in sees them;
//! administrators add, change and remove them.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    UiError,
    components::{
        alert::{ActionError, PageError},
        confirm::InlineConfirm,
        signed_in::SignedIn,
    },
    server_fns::servers::{RemoveServer, ServerList, ServerView, list_servers},
};

#[component]
pub fn ServersPage() -> impl IntoView {
    // Created before the sign-in gate, which may build its page more than once while
    // rendering on the server: a resource made inside it could then be sent to the
    // browser with another build's data than the HTML shows, and hydration fails.
    let remove = ServerAction::<RemoveServer>::new();
    let list = Resource::new(move || remove.version().get(), |_| list_servers());
    view! {
        <Title text="MCP servers"/>
        <SignedIn>
            <Servers remove=remove list=list/>
        </SignedIn>
    }
}

#[component]
fn Servers(
    remove: ServerAction<RemoveServer>,
    list: Resource<Result<ServerList, UiError>>,
) -> impl IntoView {
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(list) => Either::Left(view! { <Listing list=list remove=remove/> }),
                    Err(error) => {
                        Either::Right(view! { <PageError error=error/> })
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn Listing(list: ServerList, remove: ServerAction<RemoveServer>) -> impl IntoView {
    let ServerList {
        is_admin, servers, ..
    } = list;
    view! {
        <div class="page-head">
            <h1>"MCP servers"</h1>
            {is_admin
                .then(|| {
                    view! {
                        <A href="/servers/new" attr:class="button">
                            "Add server"
                        </A>
                    }
                })}
        </div>
        <ActionError action=remove/>
        {if servers.is_empty() {
            Either::Left(view! {
                <div class="empty-state">
                    <p>
                        "Clavis can protect your own MCP servers: as a gateway in front of them "
                        "(programs call Clavis, Clavis forwards), or by issuing tokens that an "
                        "external server checks itself."
                    </p>
                    <p>
                        {if is_admin {
                            "None is registered yet. Add one."
                        } else {
                            "None is registered yet; an administrator can add them."
                        }}
                    </p>
                </div>
            })
        } else {
            Either::Right(view! {
                <ul class="credentials">
                    {servers
                        .into_iter()
                        .map(|server| view! { <Row server=server is_admin=is_admin remove=remove/> })
                        .collect_view()}
                </ul>
            })
        }}
    }
}

#[component]
fn Row(server: ServerView, is_admin: bool, remove: ServerAction<RemoveServer>) -> impl IntoView {
    let ServerView {
        slug,
        name,
        mode,
        resource,
        upstream_url,
        header_name,
        access,
        ..
    } = server;
    let access_label = if access == "everyone" {
        "Everyone signed in".to_owned()
    } else {
        "Administrators and chosen teams".to_owned()
    };
    let control = is_admin.then(|| {
        let slug = slug.clone();
        view! {
            <div class="actions">
                <A href=format!("/servers/{slug}/edit") attr:class="secondary-link">
                    "Edit"
                </A>
                <InlineConfirm
                    page="/servers/remove"
                    field="slug"
                    value=slug.clone()
                    button="Remove"
                    label="Confirm removal"
                    question=format!(
                        "Remove “{name}”? Its tokens stop working at the gateway at once, and credentials lose access to it.",
                    )
                >
                    {
                        let slug = slug.clone();
                        view! {
                            <ActionForm action=remove>
                                <input type="hidden" name="slug" value=slug/>
                                <button type="submit" class="danger">
                                    "Remove server"
                                </button>
                            </ActionForm>
                        }
                    }
                </InlineConfirm>
            </div>
        }
    });
    view! {
        <li data-testid="server-row" class="credential">
            <div class="credential-head">
                <h2 class="credential-name">
                    <A href=format!("/servers/{slug}")>{name}</A>
                </h2>
                <span class="status">{mode}</span>
            </div>
            <dl class="facts">
                <div>
                    <dt>"Resource (token audience)"</dt>
                    <dd>
                        <code data-testid="resource-url">{resource}</code>
                    </dd>
                </div>
                <div>
                    <dt>"Access"</dt>
                    <dd>
                        <span>{access_label}</span>
                    </dd>
                </div>
                {upstream_url
                    .map(|url| {
                        view! {
                            <div>
                                <dt>"Upstream URL"</dt>
                                <dd>
                                    <code>{url}</code>
                                </dd>
                            </div>
                        }
                    })}
                {header_name
                    .map(|header| {
                        view! {
                            <div>
                                <dt>"Upstream header"</dt>
                                <dd>
                                    <code>{format!("{header}: ••••••••")}</code>
                                </dd>
                            </div>
                        }
                    })}
            </dl>
            {control}
        </li>
    }
}
