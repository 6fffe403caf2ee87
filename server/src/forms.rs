//! Forms posted by browsers without JavaScript that must be answered with a page rather
//! than a redirect: creating a credential and rotating its secret show the secret once,
//! in the response. Also the audit log's export (`GET /audit/export`), a download rather
//! than a page.

use app::{
    SessionUser, UiError,
    routes::{credential_new::NoJsCreate, credential_rotate::NoJsRotate},
    server_fns::credentials::{
        CreateCredential,
        ssr::{create_for, rotate_for},
    },
    shell_without_hydration,
    ssr::{WORKSPACE_KEY, signed_in, workspace_of},
};
use axum::{
    body::{Body, Bytes},
    extract::{FromRequest, Request, State},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use clavis::{audit::Who, authz::Workspace, throttle::ClientAddress};
use leptos::prelude::provide_context;
use tower_sessions::Session;

use crate::AppState;

/// `POST /credentials/new`: creates the credential and renders the new-credential page
/// with the outcome (the one-time view, or the form with its error and the values sent).
pub async fn create_credential(State(state): State<AppState>, request: Request) -> Response {
    let Some((user, who, workspace)) = person(&state, &request).await else {
        return Redirect::to("/login?next=/credentials/new").into_response();
    };
    let (parts, form) = read_form(&state, request).await;
    let (input, result) = match form {
        Some(pairs) => {
            // Form encoding with a `server` field per server checked.
            let input = CreateCredential::from_pairs(pairs);
            let result = create_for(&state.server, &user, &who, workspace, input.clone()).await;
            (input, result)
        }
        None => (empty_form(), Err(UiError::BadRequest)),
    };
    let status = status(&result);
    render(&state, parts, status, NoJsCreate { input, result }).await
}

/// `POST /credentials/rotate?client_id=…`: rotates the secret and renders the rotate
/// page with the outcome (the one-time view, or the form with its error).
pub async fn rotate_secret(State(state): State<AppState>, request: Request) -> Response {
    let Some((user, who, _)) = person(&state, &request).await else {
        let back = request
            .uri()
            .query()
            .map_or_else(String::new, |q| format!("?{q}"));
        let next =
            url::form_urlencoded::byte_serialize(format!("/credentials/rotate{back}").as_bytes())
                .collect::<String>();
        return Redirect::to(&format!("/login?next={next}")).into_response();
    };
    let (parts, form) = read_form(&state, request).await;
    let result = match form {
        Some(pairs) => {
            rotate_for(
                &state.server,
                &user,
                &who,
                &app::forms::field(&pairs, "client_id"),
                &app::forms::field(&pairs, "old_secret_valid"),
                pairs
                    .iter()
                    .any(|(k, _)| k == "public_key")
                    .then(|| app::forms::field(&pairs, "public_key"))
                    .as_deref(),
            )
            .await
        }
        None => Err(UiError::BadRequest),
    };
    let status = status(&result);
    render(&state, parts, status, NoJsRotate(result)).await
}

/// The signed-in person of a request whose account is enabled, as an audit actor (with
/// the client address), and their current workspace.
fn person(
    state: &AppState,
    request: &Request,
) -> impl Future<Output = Option<(SessionUser, Who, Workspace)>> + use<> {
    // Cloned out first: a borrowed request is not `Send`.
    let session = request.extensions().get::<Session>().cloned();
    let address = request
        .extensions()
        .get::<ClientAddress>()
        .map(|a| a.0.to_string());
    let ctx = state.server.clone();
    async move {
        let session = session?;
        let user = signed_in(&ctx.services, &session).await.ok().flatten()?;
        let team = session.get::<i64>(WORKSPACE_KEY).await.ok().flatten();
        let workspace = workspace_of(&ctx, &user, team).await.ok()?;
        let who = Who::person(user.id, &user.email, address);
        Some((user, who, workspace))
    }
}

/// The request's parts (for rendering the answer) and its form fields, in order.
async fn read_form(state: &AppState, request: Request) -> (Parts, Option<Vec<(String, String)>>) {
    let (parts, body) = request.into_parts();
    let form = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
        .await
        .ok()
        .map(|bytes| {
            url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        });
    (parts, form)
}

/// `GET /audit/export?action=…`: the events the person may read (of that action, or
/// all), oldest first, as JSON Lines.
pub async fn export_audit(
    State(state): State<AppState>,
    axum::extract::Query(filter): axum::extract::Query<ExportFilter>,
    request: Request,
) -> Response {
    let Some((user, who, _)) = person(&state, &request).await else {
        return Redirect::to("/login?next=/audit").into_response();
    };
    let ctx = &state.server;
    let caller = clavis::service::Caller::person(user.id, who);
    let readable = match clavis::service::audit::scope(&ctx.services, &caller).await {
        Ok(readable) => readable,
        Err(e) => {
            let e = UiError::from(e);
            return (crate::middleware::status_of(&e), e.to_string()).into_response();
        }
    };
    let mut lines = Vec::new();
    let mut before = 0;
    loop {
        let query = app::server_fns::audit::ssr::query(
            filter.action.as_deref().unwrap_or_default(),
            None,
            before,
            EXPORT_PAGE,
        );
        let Ok(page) = clavis::service::audit::read(&ctx.services, &readable, &query).await else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        before = page.last().map_or(0, |e| e.id);
        let done = page.len() < EXPORT_PAGE as usize;
        lines.extend(page.iter().map(clavis::audit::json_line));
        if done {
            break;
        }
    }
    lines.reverse();
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "application/jsonl; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.jsonl\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Events read per query while exporting.
const EXPORT_PAGE: u32 = 5_000;

/// The export's filter.
#[derive(Debug, serde::Deserialize)]
pub struct ExportFilter {
    action: Option<String>,
}

fn status<T>(result: &Result<T, UiError>) -> StatusCode {
    match result {
        Ok(_) => StatusCode::OK,
        Err(e) => crate::middleware::status_of(e),
    }
}

/// Renders the page at the request's URL with `outcome` in its context, without the
/// hydration scripts (the browser has no JavaScript), never cached.
async fn render<T: Clone + Send + Sync + 'static>(
    state: &AppState,
    parts: Parts,
    status: StatusCode,
    outcome: T,
) -> Response {
    let context = state.server.clone();
    let options = state.leptos_options.clone();
    let render = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(context.clone());
            provide_context(outcome.clone());
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
