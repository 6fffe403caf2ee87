//! A release build with `embed-assets` holds `target/site`: rebuild it when the site does.
fn main() {
    let embeds = std::env::var_os("CARGO_FEATURE_EMBED_ASSETS").is_some()
        && std::env::var("PROFILE").is_ok_and(|profile| profile == "release");
    if embeds {
        println!("cargo::rerun-if-changed=../target/site");
    } else {
        println!("cargo::rerun-if-changed=build.rs");
    }
}
