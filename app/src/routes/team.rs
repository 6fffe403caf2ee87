//! `/teams/<id>`: a team's members and roles. Admins and owners invite by one-time link
//! (shown on this page once, after **Invite**) and see and **Withdraw** open
//! invitations; owners change roles, remove members, **Rename** and **Delete** the team;
//! every member may **Leave team**.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use crate::{
    components::{
        alert::{ActionError, PageError},
        copy::CopyButton,
        signed_in::SignedIn,
    },
    server_fns::teams::{
        ChangeRole, DeleteTeam, Invite, LeaveTeam, MemberView, OpenInviteView, RemoveMember,
        RenameTeam, TeamDetail, WithdrawInvite, get_team,
    },
};

#[derive(Clone, Copy)]
struct Actions {
    invite: ServerAction<Invite>,
    role: ServerAction<ChangeRole>,
    remove: ServerAction<RemoveMember>,
    withdraw: ServerAction<WithdrawInvite>,
    leave: ServerAction<LeaveTeam>,
    rename: ServerAction<RenameTeam>,
    delete: ServerAction<DeleteTeam>,
}

#[component]
pub fn TeamPage() -> impl IntoView {
    let params = use_params_map();
    let team = move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or_default()
    };
    let actions = Actions {
        invite: ServerAction::new(),
        role: ServerAction::new(),
        remove: ServerAction::new(),
        withdraw: ServerAction::new(),
        leave: ServerAction::new(),
        rename: ServerAction::new(),
        delete: ServerAction::new(),
    };
    let detail = Resource::new(
        move || {
            (
                team(),
                actions.role.version().get(),
                actions.remove.version().get(),
                actions.withdraw.version().get() + actions.rename.version().get(),
            )
        },
        |(team, _, _, _)| get_team(team),
    );
    view! {
        <Title text="Team"/>
        <SignedIn>
            <ActionError action=actions.invite/>
            <ActionError action=actions.role/>
            <ActionError action=actions.remove/>
            <ActionError action=actions.withdraw/>
            <ActionError action=actions.leave/>
            <ActionError action=actions.rename/>
            <ActionError action=actions.delete/>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Ok(detail) => Either::Left(view! { <Detail detail=detail actions=actions/> }),
                        Err(error) => {
                            Either::Right(
                                view! {
                                    <PageError error=error/>
                                    <A href="/teams">"Back to teams"</A>
                                },
                            )
                        }
                    }
                })}
            </Suspense>
        </SignedIn>
    }
}

#[component]
fn Detail(detail: TeamDetail, actions: Actions) -> impl IntoView {
    let query = use_query_map();
    let TeamDetail {
        id,
        name,
        my_role,
        members,
        invite_roles,
        manages_members,
        issuer,
        invites,
    } = detail;
    let link = move || {
        query.read().get("invite").map(|token| {
            let link = format!("{issuer}/invite/{token}");
            view! {
                <div class="one-time">
                    <p>"Send this link to the person you invite. It works once, for 7 days."</p>
                    <code data-testid="invite-link">{link.clone()}</code>
                    <CopyButton text=link label="Copy"/>
                </div>
            }
        })
    };
    let invite = (!invite_roles.is_empty()).then(|| {
        view! {
            <h2>"Invite"</h2>
            <ActionForm action=actions.invite attr:class="stack">
                <input type="hidden" name="team" value=id/>
                <label>
                    "Role"
                    <select name="role">
                        {invite_roles
                            .into_iter()
                            .map(|(value, label)| view! { <option value=value>{label}</option> })
                            .collect_view()}
                    </select>
                </label>
                <button type="submit">"Invite"</button>
            </ActionForm>
        }
    });
    view! {
        <div class="page-head">
            <h1>{name}</h1>
            <span class="status">{my_role}</span>
        </div>
        {link}
        <h2>"Members"</h2>
        <ul class="plain-list">
            {members
                .into_iter()
                .map(|member| view! { <Member team=id member=member manage=manages_members actions=actions/> })
                .collect_view()}
        </ul>
        {invite}
        {(!invites.is_empty())
            .then(|| {
                view! {
                    <h2>"Open invitations"</h2>
                    <ul class="plain-list">
                        {invites
                            .into_iter()
                            .map(|invite| view! { <OpenInvite team=id invite=invite actions=actions/> })
                            .collect_view()}
                    </ul>
                }
            })}
        {manages_members
            .then(|| {
                view! {
                    <h2>"Team settings"</h2>
                    <ActionForm action=actions.rename attr:class="stack">
                        <input type="hidden" name="team" value=id/>
                        <label>
                            "Team name" <input type="text" name="name" autocomplete="off"/>
                        </label>
                        <button type="submit" class="secondary">"Rename"</button>
                    </ActionForm>
                    <details class="danger-zone">
                        <summary>"Delete team…"</summary>
                        <p>
                            "Deleting the team revokes all its credentials at once and removes its members and invitations. The audit log keeps its events."
                        </p>
                        <ActionForm action=actions.delete>
                            <input type="hidden" name="team" value=id/>
                            <button type="submit" class="danger">"Delete team"</button>
                        </ActionForm>
                    </details>
                }
            })}
        <ActionForm action=actions.leave attr:class="inline">
            <input type="hidden" name="team" value=id/>
            <button type="submit" class="secondary">"Leave team"</button>
        </ActionForm>
    }
}

#[component]
fn OpenInvite(team: i64, invite: OpenInviteView, actions: Actions) -> impl IntoView {
    let OpenInviteView {
        id,
        role,
        made_by,
        expires,
    } = invite;
    view! {
        <li data-testid="invite-row" class="member">
            <span class="status">{role}</span>
            " "
            {format!("made by {made_by}, expires {expires}")}
            <ActionForm action=actions.withdraw attr:class="inline">
                <input type="hidden" name="team" value=team/>
                <input type="hidden" name="invite" value=id/>
                <button type="submit" class="danger">"Withdraw"</button>
            </ActionForm>
        </li>
    }
}

#[component]
fn Member(team: i64, member: MemberView, manage: bool, actions: Actions) -> impl IntoView {
    let MemberView {
        user_id,
        email,
        role,
        is_me,
    } = member;
    let role_label = format!("Role of {email}");
    let controls = manage.then(|| {
        let roles = ["owner", "admin", "member"].map(|value| {
            let label = match value {
                "owner" => "Owner",
                "admin" => "Admin",
                _ => "Member",
            };
            view! { <option value=value selected=label == role>{label}</option> }
        });
        view! {
            <ActionForm action=actions.role attr:class="inline">
                <input type="hidden" name="team" value=team/>
                <input type="hidden" name="member" value=user_id/>
                <label>
                    <span class="visually-hidden">{role_label}</span>
                    <select name="role">{roles.into_iter().collect_view()}</select>
                </label>
                <button type="submit" class="secondary">"Change role"</button>
            </ActionForm>
            <ActionForm action=actions.remove attr:class="inline">
                <input type="hidden" name="team" value=team/>
                <input type="hidden" name="member" value=user_id/>
                <button type="submit" class="danger">"Remove"</button>
            </ActionForm>
        }
    });
    view! {
        <li data-testid="member-row" class="member">
            <span class="email">{email}</span>
            " "
            <span class="status" data-testid="member-role">{role.clone()}</span>
            {is_me.then_some(" (you)")}
            {controls}
        </li>
    }
}
