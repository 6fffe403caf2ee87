//! The error message of a failed form submission.

use leptos::prelude::*;

use crate::UiError;

/// Shows the error of the last submission of `action`, if it failed, in an element with
/// `role="alert"` (announced by screen readers, found by tests). Renders nothing otherwise.
#[component]
pub fn ActionError<I>(action: ServerAction<I>) -> impl IntoView
where
    I: leptos::server_fn::ServerFn<Output = (), Error = UiError> + Clone + Send + Sync + 'static,
{
    move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|error| view! { <p class="alert" role="alert">{error.to_string()}</p> })
    }
}
