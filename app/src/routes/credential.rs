//! `/credentials/<client_id>`: one credential and its usage — tokens issued per UTC day
//! for the last 30 days as a server-rendered SVG chart (with a text alternative) and a
//! table, gateway calls per server and tool, and when and from where it was last used.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    components::{alert::PageError, signed_in::SignedIn},
    server_fns::credentials::{DayUsage, RuleView, UsageReport, credential_usage},
};

#[component]
pub fn CredentialPage() -> impl IntoView {
    let params = use_params_map();
    let client_id = move || params.read().get("client_id").unwrap_or_default();
    let usage = Resource::new(client_id, credential_usage);
    view! {
        <Title text="Credential"/>
        <SignedIn>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match usage.await {
                        Ok(usage) => Either::Left(view! { <Report usage=usage/> }),
                        Err(error) => {
                            Either::Right(
                                view! {
                                    <PageError error=error/>
                                    <A href="/credentials">"Back to credentials"</A>
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
fn Report(usage: UsageReport) -> impl IntoView {
    let UsageReport {
        credential,
        days,
        tools,
        last_used_address,
        limits,
    } = usage;
    let total: i64 = days.iter().map(|d| d.tokens).sum();
    let tools = if tools.is_empty() {
        Either::Left(view! { <p>"No calls through the gateway yet."</p> })
    } else {
        Either::Right(view! {
            <table class="data">
                <thead>
                    <tr>
                        <th scope="col">"Server"</th>
                        <th scope="col">"Tool"</th>
                        <th scope="col">"Calls"</th>
                        <th scope="col">"Errors"</th>
                    </tr>
                </thead>
                <tbody>
                    {tools
                        .into_iter()
                        .map(|t| {
                            view! {
                                <tr data-testid="tool-usage">
                                    <td>{t.server}</td>
                                    <td>
                                        {if t.tool.is_empty() { "(other requests)".to_owned() } else { t.tool }}
                                    </td>
                                    <td>{t.calls}</td>
                                    <td>{t.errors}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        })
    };
    view! {
        <div class="page-head">
            <h1>{credential.name.clone()}</h1>
            <span class="status">{credential.status.label()}</span>
        </div>
        <dl class="facts">
            <div>
                <dt>"Client ID"</dt>
                <dd>
                    <code>{credential.client_id.clone()}</code>
                </dd>
            </div>
            <div>
                <dt>"Created by"</dt>
                <dd>{credential.created_by.clone()}</dd>
            </div>
            <div>
                <dt>"Last used"</dt>
                <dd data-testid="last-used">{credential.last_used.clone()}</dd>
            </div>
            <div>
                <dt>"Last address"</dt>
                <dd data-testid="last-address">{last_used_address.unwrap_or_else(|| "—".to_owned())}</dd>
            </div>
            <div>
                <dt>"Tokens issued"</dt>
                <dd>{credential.tokens_issued}</dd>
            </div>
            <div>
                <dt>"Authentication"</dt>
                <dd>{credential.authentication.clone()}</dd>
            </div>
            <div>
                <dt>"Tokens"</dt>
                <dd data-testid="token-binding">
                    {if credential.require_dpop { "DPoP-bound (DPoP required)" } else { "Bearer, or DPoP-bound when the program sends a proof" }}
                </dd>
            </div>
            {(!credential.federation.is_empty())
                .then(|| {
                    view! {
                        <div>
                            <dt>"Last workload"</dt>
                            <dd data-testid="last-workload-subject">
                                {credential.last_workload_subject.clone().unwrap_or_else(|| "—".to_owned())}
                            </dd>
                        </div>
                    }
                })}
        </dl>
        {federation(&credential.federation)}
        <h2>"Tokens per day"</h2>
        <p class="aside">{format!("{total} tokens in the last 30 days (UTC).")}</p>
        {chart(&days)}
        <details>
            <summary>"Table"</summary>
            <table class="data" data-testid="usage-table">
                <thead>
                    <tr>
                        <th scope="col">"Day"</th>
                        <th scope="col">"Tokens"</th>
                    </tr>
                </thead>
                <tbody>
                    {days
                        .iter()
                        .rev()
                        .map(|d| view! { <tr><td>{d.date.clone()}</td><td>{d.tokens}</td></tr> })
                        .collect_view()}
                </tbody>
            </table>
        </details>
        <h2>"Gateway calls"</h2>
        {tools}
        {call_limits(&limits)}
        <p>
            <A href="/credentials">"Back to credentials"</A>
        </p>
    }
}

/// The credential's calls-per-minute limits (SPEC §20) and this minute's use, if any.
fn call_limits(limits: &[(String, u32)]) -> impl IntoView + use<> {
    (!limits.is_empty()).then(|| {
        let rows = limits
            .iter()
            .map(|(written, used)| {
                let limit = written.rsplit_once('=').map_or("", |(_, n)| n).to_owned();
                let target = written.rsplit_once('=').map_or(written.as_str(), |(t, _)| t);
                let (server, tool) = target.split_once(':').unwrap_or((target, "all tools"));
                view! {
                    <tr data-testid="call-limit">
                        <td>{server.to_owned()}</td>
                        <td>{tool.to_owned()}</td>
                        <td>{limit}</td>
                        <td>{*used}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <h2>"Calls per minute"</h2>
            <table class="data">
                <thead>
                    <tr>
                        <th scope="col">"Server"</th>
                        <th scope="col">"Tool"</th>
                        <th scope="col">"Limit"</th>
                        <th scope="col">"This minute"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <p class="hint">"Counted by each Clavis instance on its own: with several, each allows the limit."</p>
        }
    })
}

/// The credential's federation rules (SPEC §18), if any.
fn federation(rules: &[RuleView]) -> impl IntoView + use<> {
    (!rules.is_empty()).then(|| {
        let rules = rules
            .iter()
            .map(|rule| {
                view! {
                    <li data-testid="federation-rule">
                        <p>
                            {format!(
                                "Tokens of {} for {}{}",
                                rule.issuer,
                                rule.audience,
                                if rule.single_use { ", each accepted once" } else { "" },
                            )}
                        </p>
                        <ul>
                            {rule
                                .conditions
                                .iter()
                                .map(|c| view! { <li><code>{c.clone()}</code></li> })
                                .collect_view()}
                        </ul>
                    </li>
                }
            })
            .collect_view();
        view! {
            <h2>"Federation"</h2>
            <ul class="rules">{rules}</ul>
        }
    })
}

/// The bar chart: one bar per day, scaled to the busiest day, with a text alternative
/// that states the figures (total, busiest day, today).
fn chart(days: &[DayUsage]) -> impl IntoView + use<> {
    const WIDTH: usize = 600;
    const HEIGHT: i64 = 160;
    let max = days.iter().map(|d| d.tokens).max().unwrap_or(0).max(1);
    let total: i64 = days.iter().map(|d| d.tokens).sum();
    let busiest = days
        .iter()
        .max_by_key(|d| d.tokens)
        .filter(|d| d.tokens > 0)
        .map_or_else(String::new, |d| {
            format!(", most on {} ({})", d.date, d.tokens)
        });
    let (first, last) = (
        days.first().map(|d| d.date.clone()).unwrap_or_default(),
        days.last().map(|d| d.date.clone()).unwrap_or_default(),
    );
    let label = format!(
        "Tokens issued per day from {first} to {last}: {total} in all{busiest}; today {}.",
        days.last().map_or(0, |d| d.tokens)
    );
    let title = label.clone();
    let slot = WIDTH / days.len().max(1);
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let h = d.tokens * (HEIGHT - 10) / max;
            view! {
                <rect
                    x=(i * slot + 1).to_string()
                    y=(HEIGHT - h).to_string()
                    width=(slot.saturating_sub(2)).to_string()
                    height=h.to_string()
                    class="bar"
                >
                    <title>{format!("{}: {}", d.date, d.tokens)}</title>
                </rect>
            }
        })
        .collect_view();
    view! {
        <svg
            class="chart"
            role="img"
            aria-label=label
            data-testid="usage-chart"
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            preserveAspectRatio="none"
        >
            <title>{title}</title>
            <line x1="0" y1=HEIGHT.to_string() x2=WIDTH.to_string() y2=HEIGHT.to_string() class="axis"></line>
            {bars}
        </svg>
    }
}
