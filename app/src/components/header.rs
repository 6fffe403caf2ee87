//! The bar at the top of every page.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::{
    SessionUser,
    server_fns::{
        auth::SignOut,
        teams::{NavigationView, SwitchWorkspace},
    },
};

/// Brand, and for a signed-in person their email and a **Sign out** button.
#[component]
pub fn SiteHeader(
    user: Option<SessionUser>,
    /// The signed-in person's workspaces and links.
    #[prop(optional_no_strip)]
    nav: Option<NavigationView>,
) -> impl IntoView {
    view! {
        <header class="site-header">
            <A href="/" attr:class="brand">
                "Clavis"
            </A>
            {user
                .map(|user| {
                    view! {
                        <Navigation nav=nav.clone()/>
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
/// JavaScript). `nav` is read with the signed-in user (see `SignedIn`), so the header
/// creates no resource of its own.
#[component]
fn Navigation(nav: Option<NavigationView>) -> impl IntoView {
    let switch = workspace_switch();
    let is_admin = nav.as_ref().is_some_and(|n| n.is_admin);
    let workspaces = nav.map(|n| n.workspaces).unwrap_or_default();
    view! {
        <nav class="site-nav" aria-label="Main">
            <A href="/credentials">"Credentials"</A>
            <A href="/servers">"MCP servers"</A>
            <A href="/teams">"Teams"</A>
            <A href="/audit">"Audit log"</A>
            {is_admin.then(|| view! { <A href="/issuers">"Trusted issuers"</A> })}
            {is_admin.then(|| view! { <A href="/identity-providers">"Identity providers"</A> })}
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
}

/// The workspace switch of the signed-in page (see `SignedIn`), or a new one.
#[must_use]
pub fn workspace_switch() -> ServerAction<SwitchWorkspace> {
    use_context::<ServerAction<SwitchWorkspace>>().unwrap_or_default()
}

/// The page's workspace switch, made and shared with the page on first use: by a page
/// whose list reloads after a switch (before its sign-in gate), or by `SignedIn`.
pub fn provide_workspace_switch() -> ServerAction<SwitchWorkspace> {
    use_context::<ServerAction<SwitchWorkspace>>().unwrap_or_else(|| {
        let switch = ServerAction::<SwitchWorkspace>::new();
        provide_context(switch);
        switch
    })
}
