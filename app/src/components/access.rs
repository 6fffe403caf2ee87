//! The **Access** select and **Teams** group of the server forms (SPEC §10): who may
//! grant an MCP server to a credential.

use leptos::prelude::*;

use crate::server_fns::servers::TeamChoice;

/// `access` is the current setting (`everyone` or `chosen-teams`), `shared` the teams
/// it is shared with now.
#[component]
pub fn AccessFields(teams: Vec<TeamChoice>, access: String, shared: Vec<i64>) -> impl IntoView {
    let everyone = access == "everyone";
    let none = teams.is_empty();
    let boxes = teams
        .into_iter()
        .enumerate()
        .map(|(i, team)| {
            view! {
                <label class="check">
                    <input
                        type="checkbox"
                        name=format!("teams[{i}]")
                        value=team.id.to_string()
                        checked=shared.contains(&team.id)
                    />
                    <span>{team.name}</span>
                </label>
            }
        })
        .collect_view();
    view! {
        <label>
            "Access"
            <select name="access" aria-describedby="access-hint">
                <option value="chosen-teams" selected=!everyone>
                    "Administrators and chosen teams"
                </option>
                <option value="everyone" selected=everyone>"Everyone signed in"</option>
            </select>
        </label>
        <p id="access-hint" class="hint">
            "Who may grant this server to a credential. With chosen teams: administrators, and credentials of the teams ticked below."
        </p>
        <fieldset>
            <legend>"Teams"</legend>
            {boxes}
            {none.then(|| view! { <p class="hint">"No teams yet."</p> })}
        </fieldset>
    }
}
