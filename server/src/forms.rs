//! Forms posted by browsers without JavaScript that must be answered with a page rather
//! than a redirect: creating a credential shows its secret once, in the response.

use app::{
    SessionUser, UiError,
    routes::credential_new::NoJsCreate,
    server_fns::credentials::{CreateCredential, ssr::create_for},
    shell_without_hydration,
    ssr::USER_KEY,
};
use axum::{
    body::{Body, Bytes},
    extract::{FromRequest, Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use leptos::prelude::provide_context;
use tower_sessions::Session;

use crate::AppState;

/// `POST /credentials/new`: creates the credential and renders the new-credential page
/// with the outcome (the one-time view, or the form with its error and the values sent).
pub async fn create_credential(State(state): State<AppState>, request: Request) -> Response {
    let user = match request.extensions().get::<Session>() {
        Some(session) => session.get::<SessionUser>(USER_KEY).await.ok().flatten(),
        None => None,
    };
    let Some(user) = user else {
        return Redirect::to("/login?next=/credentials/new").into_response();
    };
    let (parts, body) = request.into_parts();
    let form = Bytes::from_request(Request::from_parts(parts.clone(), body), &state).await;
    let (input, result) = match form {
        Ok(bytes) => {
            // Form encoding with a `server` field per server checked.
            let input = CreateCredential::from_pairs(
                url::form_urlencoded::parse(&bytes).map(|(k, v)| (k, v.into_owned())),
            );
            let result = create_for(&state.server, &user, input.clone()).await;
            (input, result)
        }
        Err(_) => (empty_form(), Err(UiError::BadRequest)),
    };
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(e) => crate::middleware::status_of(e),
    };
    let context = state.server.clone();
    let submitted = NoJsCreate { input, result };
    let options = state.leptos_options.clone();
    let render = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(context.clone());
            provide_context(submitted.clone());
        },
        move || shell_without_hydration(options.clone()),
    );
    let mut response = render(Request::from_parts(parts, Body::empty()))
        .await
        .into_response();
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn empty_form() -> CreateCredential {
    CreateCredential {
        mcp: Some("on".into()),
        servers: None,
        ..CreateCredential::from_pairs::<&str>([])
    }
}
