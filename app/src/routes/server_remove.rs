//! `/servers/remove?slug=…`: the removal confirmation, as a page of its own for browsers
//! without JavaScript (with it, the list confirms in place).

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    components::{
        alert::{ActionError, PageError},
        signed_in::SignedIn,
    },
    server_fns::servers::{RemoveServer, get_server},
};

#[component]
pub fn RemoveServerPage() -> impl IntoView {
    view! {
        <Title text="Remove server"/>
        <SignedIn>
            <Confirm/>
        </SignedIn>
    }
}

#[component]
fn Confirm() -> impl IntoView {
    let query = use_query_map();
    let slug = move || query.read().get("slug").unwrap_or_default();
    let server = Resource::new(slug, get_server);
    let remove = ServerAction::<RemoveServer>::new();
    view! {
        <div class="narrow-block">
            <h1>"Remove server"</h1>
            <ActionError action=remove/>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match server.await {
                        Ok(detail) => {
                            Either::Left(
                                view! {
                                    <p>
                                        {format!("Remove “{}” ({})? ", detail.server.name, detail.server.resource)}
                                        "Its tokens stop working at the gateway at once."
                                    </p>
                                    <div class="actions">
                                        <ActionForm action=remove>
                                            <input type="hidden" name="slug" value=detail.server.slug/>
                                            <button type="submit" class="danger">
                                                "Remove server"
                                            </button>
                                        </ActionForm>
                                        <A href="/servers">"Cancel"</A>
                                    </div>
                                },
                            )
                        }
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
        </div>
    }
}
