//! A button that copies a value to the clipboard (once the page is hydrated).

use leptos::prelude::*;

/// Copies `text`. The visible text is **Copy** (or "Copied"), `label` its accessible name.
#[component]
pub fn CopyButton(text: String, label: &'static str) -> impl IntoView {
    let state = RwSignal::new(None::<bool>);
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                let promise = window().navigator().clipboard().write_text(&text);
                let copied = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
                state.set(Some(copied));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    // The outcome is also said in a live region: a screen reader does not read a
    // button's changed text by itself.
    view! {
        <button type="button" class="copy secondary" aria-label=label on:click=on_click>
            {move || match state.get() {
                None => "Copy",
                Some(true) => "Copied",
                Some(false) => "Select and copy by hand",
            }}
        </button>
        <span class="visually-hidden" role="status">
            {move || match state.get() {
                None => "",
                Some(true) => "Copied to the clipboard",
                Some(false) => "Could not copy: select the text and copy it by hand",
            }}
        </span>
    }
}
