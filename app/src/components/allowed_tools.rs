//! The credential forms' **Allowed tools** (SPEC §11, §17): the tools the gateway servers
//! the viewer may grant list — asked by Clavis itself, kept a minute — as checkboxes
//! `tools[i]`, and the free-text **Allowed tools** field for tools not listed (yet). The
//! credential may call the ticked tools and the named ones; none at all: every tool.

use leptos::prelude::*;

use crate::server_fns::servers::{ToolChoices, list_server_tools};

/// `chosen` are the tools allowed now (the edit form) or sent (a form shown again).
#[component]
pub fn AllowedToolsFields(
    chosen: Vec<String>,
    /// The tools offered, when the page made the resource (before its sign-in gate).
    #[prop(optional)]
    choices: Option<Resource<Result<ToolChoices, crate::UiError>>>,
) -> impl IntoView {
    let choices = choices.unwrap_or_else(|| Resource::new(|| (), |()| list_server_tools()));
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let chosen = chosen.clone();
                Suspend::new(async move {
                    let choices = choices.await.unwrap_or_default();
                    view! { <Fields choices=choices chosen=chosen/> }
                })
            }}
        </Suspense>
    }
}

#[component]
fn Fields(choices: ToolChoices, chosen: Vec<String>) -> impl IntoView {
    let offered = |name: &String| choices.tools.iter().any(|t| &t.name == name);
    let others: Vec<String> = chosen.iter().filter(|t| !offered(t)).cloned().collect();
    let listed = !choices.tools.is_empty();
    let unavailable = choices.unavailable.join(", ");
    let boxes = choices
        .tools
        .into_iter()
        .enumerate()
        .map(|(i, tool)| {
            let checked = chosen.contains(&tool.name);
            view! {
                <label class="check">
                    <input type="checkbox" name=format!("tools[{i}]") value=tool.name.clone() checked=checked/>
                    <span>{tool.name}</span>
                    <span class="hint">{tool.servers.join(", ")}</span>
                </label>
            }
        })
        .collect_view();
    view! {
        {listed
            .then(|| {
                view! {
                    <fieldset>
                        <legend>"Tools the servers list"</legend>
                        {boxes}
                    </fieldset>
                }
            })}
        {(!unavailable.is_empty())
            .then(|| {
                view! {
                    <p class="hint">
                        <span>{format!("Could not list the tools of: {unavailable}.")}</span>
                    </p>
                }
            })}
        // Sent with the fields: an edit without it leaves the allowed tools as they are.
        <input type="hidden" name="tools_listed" value="on"/>
        <label>
            "Allowed tools"
            <input type="text" name="allowed_tools" value=others.join(", ") autocomplete="off" aria-describedby="tools-hint"/>
        </label>
        <p id="tools-hint" class="hint">
            "Tools this credential may call through the gateway: ticked above or named here, comma-separated. None: every tool."
        </p>
    }
}
