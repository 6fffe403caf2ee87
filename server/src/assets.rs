//! The dashboard's static files: the wasm bundle, its JavaScript, the stylesheet and
//! the favicon.
//!
//! Built with the `embed-assets` feature (the release build turns it on), the files of
//! `target/site` — with the `.br` and `.gz` copies `cargo leptos build --precompress`
//! writes beside them — are compiled into the binary, so the binary alone is a
//! deployment. Pages then link the bundle under `/pkg/<version>/`, where `<version>`
//! is a digest of the bundle's contents: those URLs change whenever a file does, so
//! they are cached for a year as `immutable`; `/pkg/<file>` keeps answering without
//! the version, revalidated by `ETag` on every use.
//!
//! Without the feature, and in debug builds (tests, `cargo leptos watch`), the same
//! URLs are served from `--site-root` on disk and revalidated on every use, so a
//! rebuilt bundle is picked up at the next reload.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};

/// The URL path segment of the bundle.
const PKG: &str = "pkg";

/// A year: what browsers may keep a versioned file without asking again.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

#[cfg(all(feature = "embed-assets", not(debug_assertions)))]
#[derive(rust_embed::Embed)]
#[folder = "../target/site/"]
struct Site;

/// Where the static files come from.
#[derive(Debug, Clone)]
pub struct Assets {
    /// `pkg` or `pkg/<version>`: the bundle's directory in page links.
    pkg_dir: String,
    /// Whether the files are the binary's own.
    embedded: bool,
    /// Without embedded files: the directory holding `pkg/` (`--site-root`).
    root: std::path::PathBuf,
}

impl Assets {
    /// The embedded files when the binary has them, else `root` on disk.
    #[must_use]
    pub fn new(root: std::path::PathBuf) -> Self {
        // A binary built while `target/site` was empty has nothing embedded: it serves
        // from disk like one built without the feature.
        let version = version();
        Self {
            pkg_dir: version
                .as_ref()
                .map_or_else(|| PKG.to_owned(), |v| format!("{PKG}/{v}")),
            embedded: version.is_some(),
            root,
        }
    }

    /// The bundle's directory as pages link it (`pkg/<version>` when embedded).
    #[must_use]
    pub fn pkg_dir(&self) -> &str {
        &self.pkg_dir
    }

    /// Answers a request for a static file, or `None` when there is no such file.
    pub async fn serve(&self, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
        let path = uri.path().trim_start_matches('/');
        // A versioned URL names exactly this build's bundle: `pkg/<version>/<file>`.
        let (path, cache) = match path.strip_prefix(self.pkg_dir.as_str()) {
            Some(rest) if self.embedded && rest.starts_with('/') => {
                (format!("{PKG}{rest}"), IMMUTABLE)
            }
            _ => (path.to_owned(), REVALIDATE),
        };
        if path.is_empty() || path.ends_with(".br") || path.ends_with(".gz") {
            return None;
        }
        #[cfg(all(feature = "embed-assets", not(debug_assertions)))]
        if self.embedded {
            return embedded_file(&path, cache, headers);
        }
        self.file_on_disk(cache, uri, headers).await
    }

    async fn file_on_disk(
        &self,
        cache: &'static str,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Option<Response> {
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder().uri(uri.clone());
        for name in [
            header::ACCEPT_ENCODING,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
        ] {
            if let Some(value) = headers.get(&name) {
                request = request.header(name, value);
            }
        }
        let request = request.body(Body::empty()).ok()?;
        let response = tower_http::services::ServeDir::new(&self.root)
            .precompressed_br()
            .precompressed_gzip()
            .oneshot(request)
            .await
            .ok()?;
        if !(response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED) {
            return None;
        }
        let mut response = response.into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        Some(response)
    }
}

/// A file compiled into the binary, in the encoding the browser prefers.
#[cfg(all(feature = "embed-assets", not(debug_assertions)))]
fn embedded_file(path: &str, cache: &'static str, headers: &HeaderMap) -> Option<Response> {
    let plain = Site::get(path)?;
    let digest = hex(&plain.metadata.sha256_hash()[..16]);
    let (file, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(encoding, _)| accepts(headers, encoding))
        .find_map(|(encoding, suffix)| {
            Site::get(&format!("{path}{suffix}")).map(|file| (file, Some(encoding)))
        })
        .unwrap_or((plain, None));
    // A strong entity tag per representation (RFC 9110 §8.8.3).
    let etag = match encoding {
        Some(encoding) => format!("\"{digest}-{encoding}\""),
        None => format!("\"{digest}\""),
    };
    let mut response = if not_modified(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Body::from(file.data).into_response();
        if let Some(encoding) = encoding {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    };
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    Some(response)
}

/// The digest of this build's bundle (16 hex digits), or `None` without embedded files.
#[cfg(all(feature = "embed-assets", not(debug_assertions)))]
fn version() -> Option<String> {
    use std::hash::{Hash, Hasher};
    let mut names: Vec<_> = Site::iter()
        .filter(|name| name.starts_with("pkg/") && !name.ends_with(".br") && !name.ends_with(".gz"))
        .collect();
    if names.is_empty() {
        return None;
    }
    names.sort();
    // The files' SHA-256 digests, folded: equal for equal bundles (the same binary
    // everywhere), different as soon as one byte of one file is.
    let mut folded = std::hash::DefaultHasher::new();
    for name in names {
        name.hash(&mut folded);
        Site::get(&name)?.metadata.sha256_hash().hash(&mut folded);
    }
    Some(format!("{:016x}", folded.finish()))
}

#[cfg(not(all(feature = "embed-assets", not(debug_assertions))))]
fn version() -> Option<String> {
    None
}

/// Bytes in lowercase hex.
#[cfg(all(feature = "embed-assets", not(debug_assertions)))]
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// The items of a comma-separated header, over all its lines, trimmed.
#[cfg(all(feature = "embed-assets", not(debug_assertions)))]
fn list_items(headers: &HeaderMap, name: header::HeaderName) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
}

/// Whether `Accept-Encoding` allows `encoding` (present and not `q=0`).
#[cfg(all(feature = "embed-assets", not(debug_assertions)))]
fn accepts(headers: &HeaderMap, encoding: &str) -> bool {
    list_items(headers, header::ACCEPT_ENCODING).any(|item| {
        let mut parts = item.split(';').map(str::trim);
        parts
            .next()
            .is_some_and(|name| name.eq_ignore_ascii_case(encoding))
            && parts.all(|param| {
                param
                    .strip_prefix("q=")
                    .is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0))
            })
    })
}

/// Whether `If-None-Match` names `etag` (or is `*`).
#[cfg(all(feature = "embed-assets", not(debug_assertions)))]
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    list_items(headers, header::IF_NONE_MATCH)
        .map(|tag| tag.trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[cfg(all(feature = "embed-assets", not(debug_assertions)))]
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("wasm") => "application/wasm",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("png") => "image/png",
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}
