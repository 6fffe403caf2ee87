//! A release build with `embed-assets` holds `target/site`: rebuild it when the site
//! does, and refuse to build from a site that is missing or not finished.
//!
//! `cargo leptos build --release` without `--precompress` builds the server at the same
//! time as the wasm bundle (after emptying `target/site`), so the server could embed an
//! empty or half-written site. With `--precompress` it builds the bundle first, then
//! writes `.br`/`.gz` copies, then the server: so a complete site whose every bundle file
//! has a brotli copy at least as new as itself was finished before this build began.
use std::{path::Path, time::SystemTime};

fn main() {
    let embeds = std::env::var_os("CARGO_FEATURE_EMBED_ASSETS").is_some()
        && std::env::var("PROFILE").is_ok_and(|profile| profile == "release");
    if !embeds {
        println!("cargo::rerun-if-changed=build.rs");
        return;
    }
    println!("cargo::rerun-if-changed=../target/site");
    let name = std::env::var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|_| "clavis".to_owned());
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/site/pkg");
    for file in [".wasm", ".js", ".css"].map(|ext| pkg.join(format!("{name}{ext}"))) {
        println!("cargo::rerun-if-changed={}", file.display());
        if let Err(problem) = finished(&file) {
            println!(
                "cargo::error=the release binary embeds target/site, but {problem}. \
                 Build it with `cargo leptos build --release --precompress` (or \
                 ./scripts/run.sh): a plain `cargo leptos build --release` builds the \
                 server while the bundle is still being written."
            );
            return;
        }
    }
}

/// Whether `file` exists with a brotli copy written after it.
fn finished(file: &Path) -> Result<(), String> {
    let modified = |path: &Path| -> Option<SystemTime> { path.metadata().ok()?.modified().ok() };
    let Some(original) = modified(file) else {
        return Err(format!("{} is missing", file.display()));
    };
    let mut compressed = file.as_os_str().to_owned();
    compressed.push(".br");
    match modified(Path::new(&compressed)) {
        Some(copy) if copy >= original => Ok(()),
        Some(_) => Err(format!("{} is newer than its .br copy", file.display())),
        None => Err(format!("{} has no .br copy", file.display())),
    }
}
