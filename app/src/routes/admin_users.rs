//! `/admin/users` (administrators): every account with its role and credential count;
//! **Disable** / **Enable**, **Make administrator**.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::{
    components::{
        alert::{ActionError, PageError},
        signed_in::SignedIn,
    },
    server_fns::admin::{MakeAdmin, SetUserDisabled, UserView, list_users},
};

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let disable = ServerAction::<SetUserDisabled>::new();
    let promote = ServerAction::<MakeAdmin>::new();
    let users = Resource::new(
        move || (disable.version().get(), promote.version().get()),
        |_| list_users(),
    );
    view! {
        <Title text="People"/>
        <SignedIn>
            <div class="page-head">
                <h1>"People"</h1>
            </div>
            <ActionError action=disable/>
            <ActionError action=promote/>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(users) => {
                            Either::Left(
                                view! {
                                    <table class="data">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Email"</th>
                                                <th scope="col">"Role"</th>
                                                <th scope="col">"Credentials"</th>
                                                <th scope="col">"Status"</th>
                                                <th scope="col">"Actions"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {users
                                                .into_iter()
                                                .map(|user| view! { <Person user=user disable=disable promote=promote/> })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                },
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
        </SignedIn>
    }
}

#[component]
fn Person(
    user: UserView,
    disable: ServerAction<SetUserDisabled>,
    promote: ServerAction<MakeAdmin>,
) -> impl IntoView {
    let UserView {
        id,
        email,
        role,
        disabled,
        credentials,
        is_me,
        ..
    } = user;
    let is_admin = role == "Administrator";
    view! {
        <tr data-testid="user-row">
            <td>{email}</td>
            <td>{role}</td>
            <td>{credentials}</td>
            <td>{if disabled { "Disabled" } else { "Active" }}</td>
            <td class="row-actions">
                {(!is_me)
                    .then(|| {
                        view! {
                            <ActionForm action=disable attr:class="inline">
                                <input type="hidden" name="user" value=id/>
                                <input type="hidden" name="disable" value=(!disabled).to_string()/>
                                <button type="submit" class=if disabled { "secondary" } else { "danger" }>
                                    {if disabled { "Enable" } else { "Disable" }}
                                </button>
                            </ActionForm>
                        }
                    })}
                {(!is_admin)
                    .then(|| {
                        view! {
                            <ActionForm action=promote attr:class="inline">
                                <input type="hidden" name="user" value=id/>
                                <button type="submit" class="secondary">"Make administrator"</button>
                            </ActionForm>
                        }
                    })}
            </td>
        </tr>
    }
}
