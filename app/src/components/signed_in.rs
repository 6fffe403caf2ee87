//! The gate in front of every signed-in page.

use leptos::{either::EitherOf3, prelude::*};
use leptos_router::{components::Redirect, hooks::use_location};

use crate::{components::header::SiteHeader, server_fns::auth::current_user};

/// Renders `children` under the site header for a signed-in person, and redirects
/// anyone else to `/login?next=<this page>`. The user is fetched afresh each time a
/// page mounts, so a sign-in or sign-out elsewhere is never seen stale.
#[component]
pub fn SignedIn(children: ChildrenFn) -> impl IntoView {
    let user = Resource::new(|| (), |()| current_user());
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match user.await {
                        Ok(Some(user)) => {
                            EitherOf3::A(
                                view! {
                                    <SiteHeader user=Some(user)/>
                                    <main>{children()}</main>
                                },
                            )
                        }
                        Ok(None) => {
                            let here = format!(
                                "{}{}",
                                location.pathname.get_untracked(),
                                location.search.get_untracked(),
                            );
                            let target = format!("/login?next={}", encode_query_value(&here));
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

/// Percent-encodes a query-string value (RFC 3986 unreserved characters kept).
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
