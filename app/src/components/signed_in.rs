//! The gate in front of every signed-in page.

use leptos::{either::EitherOf3, prelude::*};
use leptos_router::{components::Redirect, hooks::use_location};

use crate::{
    components::header::{SiteHeader, provide_workspace_switch},
    server_fns::{auth::current_user, teams::navigation},
};

/// Renders `children` under the site header for a signed-in person, and redirects
/// anyone else to `/login?next=<this page>`. The user is fetched afresh each time a
/// page mounts, so a sign-in or sign-out elsewhere is never seen stale.
#[component]
pub fn SignedIn(children: ChildrenFn) -> impl IntoView {
    // The header's workspace switch, shared with the page (its list reloads after one).
    let switch = provide_workspace_switch();
    // Both created here, in a fixed order, before any suspense: resources created
    // after an await can be numbered differently on the server and in the browser,
    // which breaks hydration.
    let user = Resource::new(|| (), |()| current_user());
    let nav = Resource::new(move || switch.version().get(), |_| navigation());
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match user.await {
                                Ok(Some(user)) => {
                            let nav = nav.await.ok();
                            EitherOf3::A(
                                view! {
                                    <SiteHeader user=Some(user) nav=nav/>
                                    <main>{children()}</main>
                                },
                            )
                        }
                        Ok(None) => {
                            let target = login_target(
                                &location.pathname.get_untracked(),
                                &location.search.get_untracked(),
                            );
                            EitherOf3::B(view! { <Redirect path=target/> })
                        }
                        Err(error) => {
                            EitherOf3::C(
                                view! {
                                    <SiteHeader user=None/>
                                    <main>
                                        <p class="alert" role="alert">
                                            {error.to_string()}
                                        </p>
                                    </main>
                                },
                            )
                        }
                    }
                })
            }}
        </Suspense>
    }
}

/// `/login?next=<path?query>`. The router's `search` may come without its `?`
/// (a signed-out visit to `/servers/remove?slug=docs` came back to
/// `/servers/removeslug=docs`).
fn login_target(path: &str, search: &str) -> String {
    let search = search.trim_start_matches('?');
    let here = if search.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{search}")
    };
    format!("/login?next={}", encode_query_value(&here))
}

/// `page?next=<next>` (encoded), or `page` when there is nowhere to go back to.
#[must_use]
pub fn with_next(page: &str, next: &str) -> String {
    if next.is_empty() {
        page.to_owned()
    } else {
        format!("{page}?next={}", encode_query_value(next))
    }
}

/// What stays as it is in a query-string value: RFC 3986 unreserved characters, and
/// `/` (readable paths in `next=`).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a query-string value.
fn encode_query_value(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::login_target;

    #[test]
    fn the_way_back_keeps_the_query() {
        assert_eq!(login_target("/credentials", ""), "/login?next=/credentials");
        for search in ["slug=docs", "?slug=docs"] {
            assert_eq!(
                login_target("/servers/remove", search),
                "/login?next=/servers/remove%3Fslug%3Ddocs"
            );
        }
        assert_eq!(
            login_target("/teams/1", "q=a b&é=~x"),
            "/login?next=/teams/1%3Fq%3Da%20b%26%C3%A9%3D~x"
        );
    }
}
