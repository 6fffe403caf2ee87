//! The **Federation** fieldset of the credential forms (SPEC §18): one rule — a trusted
//! issuer, the audience and the claim conditions, one `CLAIM=PATTERN` per line — whose
//! workload tokens get the credential's tokens. With JavaScript, presets fill in the
//! claim names of GitHub Actions, GitLab CI and Kubernetes; without it the hint lists
//! them.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::server_fns::issuers::{IssuerList, list_issuers};

/// What the fieldset starts with (a re-shown form, or the rule being edited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFields {
    /// The trusted issuer's name; empty: no rule.
    pub issuer: String,
    pub audience: String,
    /// One `CLAIM=PATTERN` per line.
    pub claims: String,
    pub single_use: bool,
}

/// A platform's ready-made conditions.
struct Preset {
    label: &'static str,
    /// The issuer URL its tokens carry, to choose that issuer when it is trusted.
    issuer: Option<&'static str>,
    claims: &'static str,
    single_use: bool,
}

static PRESETS: [Preset; 3] = [
    Preset {
        label: "GitHub Actions",
        issuer: Some("https://token.actions.githubusercontent.com"),
        claims: "repository=OWNER/REPO\nref=refs/heads/main\nenvironment=production\nworkflow_ref=OWNER/REPO/.github/workflows/*@refs/heads/main",
        single_use: true,
    },
    Preset {
        label: "GitLab CI",
        issuer: Some("https://gitlab.com"),
        claims: "project_path=GROUP/PROJECT\nref=main\nenvironment=production",
        single_use: true,
    },
    Preset {
        label: "Kubernetes",
        issuer: None,
        claims: "sub=system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT",
        single_use: false,
    },
];

/// The fieldset, its fields named `federate_issuer`, `federate_audience`, `claims`,
/// `single_use` and, with `offer_no_secret`, `no_secret` (checked when `no_secret`).
#[component]
pub fn FederationFields(
    chosen: RuleFields,
    /// Whether to offer **No secret** (creating only: a credential keeps its kind).
    #[prop(optional)]
    offer_no_secret: bool,
    #[prop(optional)] no_secret: bool,
    /// The trusted issuers, when the page made the resource (before its sign-in gate).
    #[prop(optional)]
    issuers: Option<Resource<Result<IssuerList, crate::UiError>>>,
) -> impl IntoView {
    let issuers = issuers.unwrap_or_else(|| Resource::new(|| (), |()| list_issuers()));
    let select = NodeRef::<leptos::html::Select>::new();
    let claims = NodeRef::<leptos::html::Textarea>::new();
    let single_use = NodeRef::<leptos::html::Input>::new();
    // Presets need the browser; without JavaScript the hint says what they would fill.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let apply = move |preset: &Preset| {
        if let Some(claims) = claims.get_untracked() {
            claims.set_value(preset.claims);
        }
        if let Some(single_use) = single_use.get_untracked() {
            single_use.set_checked(preset.single_use);
        }
        let trusted = preset.issuer.and_then(|url| {
            issuers
                .get_untracked()
                .and_then(Result::ok)?
                .issuers
                .into_iter()
                .find(|i| i.issuer.trim_end_matches('/') == url)
                .map(|i| i.name)
        });
        if let (Some(name), Some(select)) = (trusted, select.get_untracked()) {
            select.set_value(&name);
        }
    };
    let RuleFields {
        issuer: chosen_issuer,
        audience,
        claims: chosen_claims,
        single_use: chosen_single_use,
    } = chosen;
    view! {
        <fieldset>
            <legend>"Federation"</legend>
            <p class="hint">
                "Let CI jobs and pods get tokens with the token their platform gives them, instead of a secret. "
                "Issuers are listed on " <A href="/issuers">"Trusted issuers"</A> "."
            </p>
            <label>
                "Trusted issuer"
                <Suspense fallback=|| view! { <select name="federate_issuer" disabled=true></select> }>
                    {
                        let chosen_issuer = chosen_issuer.clone();
                        move || {
                            let chosen_issuer = chosen_issuer.clone();
                            Suspend::new(async move {
                                let names = issuers
                                    .await
                                    .map(|list| list.issuers.into_iter().map(|i| i.name).collect::<Vec<_>>())
                                    .unwrap_or_default();
                                view! {
                                    <select name="federate_issuer" node_ref=select>
                                        <option value="" selected=chosen_issuer.is_empty()>
                                            "None"
                                        </option>
                                        {names
                                            .into_iter()
                                            .map(|name| {
                                                let selected = name == chosen_issuer;
                                                let label = name.clone();
                                                view! {
                                                    <option value=name selected=selected>
                                                        {label}
                                                    </option>
                                                }
                                            })
                                            .collect_view()}
                                    </select>
                                }
                            })
                        }
                    }
                </Suspense>
            </label>
            {move || {
                hydrated
                    .get()
                    .then(|| {
                        view! {
                            <div class="actions presets" role="group" aria-label="Presets">
                                {PRESETS
                                    .iter()
                                    .map(|preset| {
                                        view! {
                                            <button type="button" class="secondary" on:click=move |_| apply(preset)>
                                                {preset.label}
                                            </button>
                                        }
                                    })
                                    .collect_view()}
                            </div>
                        }
                    })
            }}
            <label>
                "Audience"
                <input
                    type="text"
                    name="federate_audience"
                    value=audience
                    autocomplete="off"
                    spellcheck="false"
                    aria-describedby="audience-hint"
                />
            </label>
            <p id="audience-hint" class="hint">
                "The aud the workload token must carry. Empty: this server's URL (ask your platform for a token with that audience)."
            </p>
            <label>
                "Claims"
                <textarea name="claims" rows="4" spellcheck="false" aria-describedby="claims-hint" node_ref=claims>
                    {chosen_claims}
                </textarea>
            </label>
            <p id="claims-hint" class="hint">
                "One CLAIM=PATTERN per line, all of which must hold; * matches anything, a dotted name reaches a nested claim. "
                "GitHub Actions: repository, ref, environment, workflow_ref. GitLab CI: project_path, ref, environment. "
                "Kubernetes: sub=system:serviceaccount:NAMESPACE:NAME."
            </p>
            <label class="check">
                <input type="checkbox" name="single_use" value="on" checked=chosen_single_use node_ref=single_use/>
                "Single use"
            </label>
            <p class="hint">
                "Accept each token once (its jti), for tokens minted per request as in CI. Leave it off for "
                "service-account tokens a pod presents again and again."
            </p>
            {offer_no_secret
                .then(|| {
                    view! {
                        <label class="check">
                            <input type="checkbox" name="no_secret" value="on" checked=no_secret/>
                            "No secret"
                        </label>
                        <p class="hint">"Make no client secret: only workload tokens matching the rule get tokens."</p>
                    }
                })}
        </fieldset>
    }
}
