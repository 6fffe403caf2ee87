//! `/login`: sign in with email and password, or with an identity provider.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    components::{
        alert::ActionError, header::SiteHeader, signed_in::with_next, sso::ProviderButtons,
    },
    server_fns::{auth::SignIn, identity::sign_in_options},
};

/// The sign-in form. Failures show one message, "Wrong email or password.", whether or
/// not the account exists. `?next=` is carried through to where sign-in lands; a failed
/// single sign-on comes back with `?sso=<code>`, shown as its message. Above the form,
/// a **Sign in with …** button per identity provider.
#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let options = Resource::new(move || query.read().get("sso"), sign_in_options);
    view! {
        <Title text="Sign in"/>
        <SiteHeader user=None/>
        <main class="narrow">
            <h1>"Sign in"</h1>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    options
                        .await
                        .ok()
                        .map(|options| {
                            let failure = options
                                .failure
                                .clone()
                                .map(|message| view! { <p class="alert" role="alert">{message}</p> });
                            view! {
                                {failure}
                                <ProviderButtons options=options next=next()/>
                            }
                        })
                })}
            </Transition>
            <ActionForm action=sign_in attr:class="stack">
                <ActionError action=sign_in/>
                <label>
                    "Email" <input type="email" name="email" autocomplete="username" required/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <input type="hidden" name="next" value=next/>
                <button type="submit" disabled=move || sign_in.pending().get()>
                    "Sign in"
                </button>
            </ActionForm>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let open = options.await.map(|o| o.password_signup).unwrap_or(true);
                    if open {
                        Either::Left(view! {
                            <p class="aside">
                                "No account yet? "
                                <A href=move || with_next("/signup", &next())>"Create one"</A>
                            </p>
                        })
                    } else {
                        Either::Right(())
                    }
                })}
            </Transition>
        </main>
    }
}
