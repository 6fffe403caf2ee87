//! `/audit`: the audit events the person may read, newest first, 50 a page, with a
//! filter by action and an **Export** of the current filter as JSON Lines.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    components::{alert::PageError, signed_in::SignedIn},
    server_fns::audit::{AuditEvents, audit_page},
};

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || query.read().get("action").unwrap_or_default();
    let before = move || {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let events = Resource::new(
        move || (filter(), before()),
        |(action, before)| audit_page(action, before),
    );
    view! {
        <Title text="Audit log"/>
        <SignedIn>
            <div class="page-head">
                <h1>"Audit log"</h1>
            </div>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(events) => Either::Left(view! { <Events events=events filter=filter()/> }),
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
fn Events(events: AuditEvents, filter: String) -> impl IntoView {
    let AuditEvents {
        entries,
        next,
        actions,
    } = events;
    let export = format!("/audit/export?action={filter}");
    let older = next.map(|before| {
        view! {
            <nav class="pager" aria-label="Pages">
                <A href=format!("/audit?action={filter}&before={before}")>"Older →"</A>
            </nav>
        }
    });
    view! {
        <form method="get" action="/audit" class="inline">
            <label>
                "Action"
                <select name="action">
                    <option value="" selected=filter.is_empty()>"All actions"</option>
                    {actions
                        .into_iter()
                        .map(|action| {
                            let selected = action == filter;
                            view! { <option value=action.clone() selected=selected>{action.clone()}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <button type="submit" class="secondary">"Filter"</button>
            " "
            <a href=export rel="external" download="audit.jsonl">"Export"</a>
        </form>
        {if entries.is_empty() {
            Either::Left(view! { <p>"No events."</p> })
        } else {
            Either::Right(view! {
                <table class="data">
                    <thead>
                        <tr>
                            <th scope="col">"Time (UTC)"</th>
                            <th scope="col">"Actor"</th>
                            <th scope="col">"Action"</th>
                            <th scope="col">"Target"</th>
                            <th scope="col">"Address"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {entries
                            .into_iter()
                            .map(|e| {
                                view! {
                                    <tr data-testid="audit-row">
                                        <td>{e.at}</td>
                                        <td>{e.actor}</td>
                                        <td>
                                            <code>{e.action}</code>
                                        </td>
                                        <td>{e.target}</td>
                                        <td>{e.address}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            })
        }}
        {older}
    }
}
