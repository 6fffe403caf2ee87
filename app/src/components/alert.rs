//! Error messages: of a failed form submission, and of a page whose data cannot be shown.

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

/// What a page shows when its own data cannot be loaded (not found, not allowed, signed
/// out, …): the alert, and on the server the error's status for the whole page, so a
/// plain HTTP client or a monitor sees `403`/`404` rather than `200`. Pages rendered
/// with `SsrMode::Async` (all of Clavis's) send their status after their data resolved.
/// (Signed out is left to [`SignedIn`](super::signed_in::SignedIn)'s redirect.)
#[component]
pub fn PageError(error: UiError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if !matches!(error, UiError::SignedOut)
        && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(status) = axum::http::StatusCode::from_u16(error.status())
    {
        response.set_status(status);
    }
    view! { <p class="alert" role="alert">{error.to_string()}</p> }
}
