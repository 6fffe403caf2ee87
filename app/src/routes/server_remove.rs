//! `/servers/remove?slug=…`: the removal confirmation, as a page of its own for browsers
//! without JavaScript (with it, the list confirms in place).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    UiError,
    components::{confirm::ConfirmPage, signed_in::SignedIn},
    server_fns::servers::{RemoveServer, ServerDetail, get_server},
};

#[component]
pub fn RemoveServerPage() -> impl IntoView {
    // Created before the sign-in gate, which may build the page again while rendering
    // on the server (see `ServersPage`).
    let query = use_query_map();
    let slug = move || query.read().get("slug").unwrap_or_default();
    let remove = ServerAction::<RemoveServer>::new();
    let found = Resource::new(slug, get_server);
    view! {
        <Title text="Remove server"/>
        <SignedIn>
            <Confirm remove=remove found=found/>
        </SignedIn>
    }
}

#[component]
fn Confirm(
    remove: ServerAction<RemoveServer>,
    found: Resource<Result<ServerDetail, UiError>>,
) -> impl IntoView {
    view! {
        <ConfirmPage
            title="Remove server"
            action=remove
            found=found
            back="/servers"
            back_label="Back to MCP servers"
            question=|detail: &ServerDetail| {
                format!(
                    "Remove “{}” ({})? Its tokens stop working at the gateway at once.",
                    detail.server.name,
                    detail.server.resource,
                )
            }
            form=move |detail: ServerDetail| {
                view! {
                    <ActionForm action=remove>
                        <input type="hidden" name="slug" value=detail.server.slug/>
                        <button type="submit" class="danger">
                            "Remove server"
                        </button>
                    </ActionForm>
                }
            }
        />
    }
}
