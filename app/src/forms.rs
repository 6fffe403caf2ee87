//! Reading a submitted form in the browser, for forms that must also work without
//! JavaScript (they post to a page URL then, not to a server function).

/// The submitted form's fields as `(name, value)` pairs, repeated names kept (one
/// `server` per server checked). `None` outside the browser or when the form cannot be
/// read.
#[cfg(feature = "hydrate")]
pub fn form_pairs(ev: &leptos::ev::SubmitEvent) -> Option<Vec<(String, String)>> {
    use wasm_bindgen::JsCast as _;
    use web_sys::js_sys;

    let form = ev.target()?.dyn_into::<web_sys::HtmlFormElement>().ok()?;
    let data = web_sys::FormData::new_with_form(&form).ok()?;
    let mut pairs = Vec::new();
    for entry in data.entries() {
        let entry: js_sys::Array = entry.ok()?.dyn_into().ok()?;
        pairs.push((entry.get(0).as_string()?, entry.get(1).as_string()?));
    }
    Some(pairs)
}

#[cfg(not(feature = "hydrate"))]
pub fn form_pairs(_ev: &leptos::ev::SubmitEvent) -> Option<Vec<(String, String)>> {
    None
}

/// The first value of the field `name` (empty when absent).
#[must_use]
pub fn field(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}
