//! The bar at the top of every page.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::{
    SessionUser,
    server_fns::{
        auth::SignOut,
        teams::{SwitchWorkspace, navigation},
    },
};

/// Brand, and for a signed-in person their email and a **Sign out** button.
#[component]
pub fn SiteHeader(user: Option<SessionUser>) -> impl IntoView {
    view! {
        <header class="site-header">
            <A href="/" attr:class="brand">
                "Clavis"
            </A>
            {user
                .map(|user| {
                    view! {
                        <Navigation/>
                        <SignOutForm email=user.email/>
                    }
                })}
        </header>
    }
}

#[component]
fn SignOutForm(email: String) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <div class="account">
            <span class="email">{email}</span>
            <ActionForm action=sign_out>
                <button type="submit" class="secondary">
                    "Sign out"
                </button>
            </ActionForm>
        </div>
    }
}

/// The signed-in links, and the **Workspace** select (a form, so it works without
/// JavaScript).
#[component]
fn Navigation() -> impl IntoView {
    let switch = workspace_switch();
    let nav = Resource::new(move || switch.version().get(), |_| navigation());
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                let nav = nav.await.ok();
                let is_admin = nav.as_ref().is_some_and(|n| n.is_admin);
                let workspaces = nav.map(|n| n.workspaces).unwrap_or_default();
                view! {
                    <nav class="site-nav" aria-label="Main">
                        <A href="/credentials">"Credentials"</A>
                        <A href="/servers">"MCP servers"</A>
                        <A href="/teams">"Teams"</A>
                        <A href="/audit">"Audit log"</A>
                        {is_admin.then(|| view! { <A href="/admin/users">"People"</A> })}
                    </nav>
                    <ActionForm action=switch attr:class="workspace">
                        <label>
                            "Workspace"
                            <select name="workspace">
                                {workspaces
                                    .into_iter()
                                    .map(|w| {
                                        view! {
                                            <option value=w.value selected=w.current>
                                                {w.label}
                                            </option>
                                        }
                                    })
                                    .collect_view()}
                            </select>
                        </label>
                        <button type="submit" class="secondary">
                            "Switch"
                        </button>
                    </ActionForm>
                }
            })}
        </Suspense>
    }
}

/// The workspace switch of the signed-in page (see `SignedIn`), or a new one.
#[must_use]
pub fn workspace_switch() -> ServerAction<SwitchWorkspace> {
    use_context::<ServerAction<SwitchWorkspace>>().unwrap_or_else(ServerAction::new)
}
