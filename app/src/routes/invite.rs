//! `/invite/<token>`: joining a team by its one-time link. A signed-out visitor is sent
//! to sign in (or up) and comes back here.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    components::{
        alert::{ActionError, PageError},
        signed_in::SignedIn,
    },
    server_fns::teams::{JoinTeam, get_invite},
};

#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let invite = Resource::new(token, get_invite);
    let join = ServerAction::<JoinTeam>::new();
    view! {
        <Title text="Join a team"/>
        <SignedIn>
            <ActionError action=join/>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match invite.await {
                        Ok(invite) => {
                            Either::Left(
                                view! {
                                    <h1>{format!("Join {}", invite.team)}</h1>
                                    <p>
                                        {format!(
                                            "You are invited to the team “{}” as {}.",
                                            invite.team,
                                            invite.role,
                                        )}
                                    </p>
                                    <ActionForm action=join>
                                        <input type="hidden" name="token" value=token()/>
                                        <button type="submit">"Join team"</button>
                                    </ActionForm>
                                },
                            )
                        }
                        Err(error) => {
                            Either::Right(
                                view! {
                                    <PageError error=error/>
                                    <A href="/teams">"Your teams"</A>
                                },
                            )
                        }
                    }
                })}
            </Suspense>
        </SignedIn>
    }
}
