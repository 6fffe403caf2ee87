//! `/teams`: the teams the person belongs to, and **New team**.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    components::{
        alert::{ActionError, PageError},
        signed_in::SignedIn,
    },
    server_fns::teams::{CreateTeam, list_teams},
};

#[component]
pub fn TeamsPage() -> impl IntoView {
    let create = ServerAction::<CreateTeam>::new();
    let teams = Resource::new(move || create.version().get(), |_| list_teams());
    view! {
        <Title text="Teams"/>
        <SignedIn>
            <div class="page-head">
                <h1>"Teams"</h1>
            </div>
            <p class="aside">
                "A team shares credentials: every member sees them and creates new ones; "
                "admins and owners revoke, rotate and edit any of them."
            </p>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match teams.await {
                        Ok(teams) if teams.is_empty() => {
                            Either::Left(Either::Left(view! { <p>"You belong to no team yet."</p> }))
                        }
                        Ok(teams) => {
                            Either::Left(
                                Either::Right(
                                    view! {
                                        <ul class="plain-list">
                                            {teams
                                                .into_iter()
                                                .map(|team| {
                                                    view! {
                                                        <li data-testid="team-row">
                                                            <A href=format!("/teams/{}", team.id)>{team.name}</A>
                                                            " "
                                                            <span class="status">{team.role}</span>
                                                        </li>
                                                    }
                                                })
                                                .collect_view()}
                                        </ul>
                                    },
                                ),
                            )
                        }
                        Err(error) => {
                            Either::Right(
                                view! { <PageError error=error/> },
                            )
                        }
                    }
                })}
            </Transition>
            <h2>"New team"</h2>
            <ActionError action=create/>
            <ActionForm action=create attr:class="stack">
                <label>
                    "Team name" <input type="text" name="name" required/>
                </label>
                <button type="submit">"Create team"</button>
            </ActionForm>
        </SignedIn>
    }
}
