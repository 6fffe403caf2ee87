//! The Clavis dashboard: server-rendered Leptos pages, hydrated in the browser, that
//! also work with JavaScript disabled (every form posts to a server function).
// The create form is one large view type; its async hydration needs more than 128.
#![recursion_limit = "256"]

pub mod components;
pub mod error;
pub mod forms;
pub mod routes;
pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};
use serde::{Deserialize, Serialize};

pub use error::UiError;

/// A secret a form sends (a password, an upstream header value). Server functions'
/// argument structs derive `Debug`; this one prints `[redacted]`, so no log or panic
/// message of a request can show the value.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretInput(pub String);

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The signed-in person, as kept in the session and shown in pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub id: i64,
    pub email: String,
}

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    html_document(options, true)
}

/// The document without the hydration bootstrap: for pages rendered in answer to a
/// form posted without JavaScript, which the browser will not hydrate.
pub fn shell_without_hydration(options: LeptosOptions) -> impl IntoView {
    html_document(options, false)
}

fn html_document(options: LeptosOptions, hydrate: bool) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr_headers::page_headers();
    // `pkg/<version>` when the bundle is embedded in the binary (cached for good).
    let stylesheet = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // `id="leptos"`: where `cargo leptos watch` swaps in a rebuilt stylesheet.
                <link id="leptos" rel="stylesheet" href=stylesheet/>
                // Under `cargo leptos watch` only: the script that reloads the page (or
                // swaps the stylesheet) after a rebuild. Renders nothing otherwise.
                {hydrate
                    .then(|| {
                        view! {
                            <AutoReload options=options.clone()/>
                            <HydrationScripts options/>
                        }
                    })}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: routes, one page per file under `routes/`.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|title: String| format!("{title} · Clavis")/>
        <Router>
            <Routes fallback=routes::not_found::NotFound>
                <Route path=path!("/") view=routes::home::Home ssr=SsrMode::Async/>
                <Route path=path!("/login") view=routes::login::LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/signup") view=routes::signup::SignupPage ssr=SsrMode::Async/>
                <Route
                    path=path!("/credentials")
                    view=routes::credentials::CredentialsPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/credentials/new")
                    view=routes::credential_new::NewCredentialPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/credentials/revoke")
                    view=routes::credential_revoke::RevokeCredentialPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/credentials/edit")
                    view=routes::credential_edit::EditCredentialPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/credentials/rotate")
                    view=routes::credential_rotate::RotateCredentialPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/credentials/:client_id")
                    view=routes::credential::CredentialPage
                    ssr=SsrMode::Async
                />
                <Route path=path!("/teams") view=routes::teams::TeamsPage ssr=SsrMode::Async/>
                <Route path=path!("/teams/:id") view=routes::team::TeamPage ssr=SsrMode::Async/>
                <Route
                    path=path!("/invite/:token")
                    view=routes::invite::InvitePage
                    ssr=SsrMode::Async
                />
                <Route path=path!("/audit") view=routes::audit::AuditPage ssr=SsrMode::Async/>
                <Route
                    path=path!("/admin/users")
                    view=routes::admin_users::AdminUsersPage
                    ssr=SsrMode::Async
                />
                <Route path=path!("/issuers") view=routes::issuers::IssuersPage ssr=SsrMode::Async/>
                <Route
                    path=path!("/identity-providers")
                    view=routes::identity_providers::IdentityProvidersPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/issuers/remove")
                    view=routes::issuer_remove::RemoveIssuerPage
                    ssr=SsrMode::Async
                />
                <Route path=path!("/servers") view=routes::servers::ServersPage ssr=SsrMode::Async/>
                <Route
                    path=path!("/servers/new")
                    view=routes::server_new::NewServerPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/servers/remove")
                    view=routes::server_remove::RemoveServerPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/servers/:slug")
                    view=routes::server::ServerPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/servers/:slug/edit")
                    view=routes::server_edit::EditServerPage
                    ssr=SsrMode::Async
                />
            </Routes>
        </Router>
    }
}

#[cfg(feature = "ssr")]
mod ssr_headers {
    use axum::http::{HeaderValue, header};
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    /// Headers for every rendered page: a Content-Security-Policy whose only inline
    /// scripts are the ones carrying this response's nonce (the hydration bootstrap),
    /// and no caching, since pages show a person's own data.
    pub fn page_headers() {
        let Some(response) = use_context::<ResponseOptions>() else {
            return;
        };
        // `cargo leptos watch` sets LEPTOS_WATCH; its reload script talks over a websocket.
        static WATCH: std::sync::LazyLock<bool> =
            std::sync::LazyLock::new(|| std::env::var_os("LEPTOS_WATCH").is_some());
        let connect = if *WATCH { "'self' ws:" } else { "'self'" };
        if let Some(nonce) = leptos::nonce::use_nonce() {
            let csp = format!(
                "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
                 style-src 'self'; img-src 'self' data:; connect-src {connect}; \
                 object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
            );
            if let Ok(value) = HeaderValue::from_str(&csp) {
                response.insert_header(header::CONTENT_SECURITY_POLICY, value);
            }
        }
        response.insert_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    // A marker for tests (and curious people) that the page is now interactive.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "");
    }
}
