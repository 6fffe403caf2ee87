//! A destructive action behind a question. With JavaScript the question opens in place;
//! without it, the button is a `GET` form leading to the action's own confirmation page
//! ([`ConfirmPage`]).

use leptos::{either::Either, prelude::*};
use leptos_router::components::A;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    UiError,
    components::alert::{ActionError, PageError},
};

/// **`button`**, then `question` with the caller's confirming form (`children`: an
/// `ActionForm` with its hidden field and danger button) and **Cancel**. Without
/// JavaScript the button goes to `page?field=value`.
#[component]
pub fn InlineConfirm(
    /// The no-JavaScript confirmation page, e.g. `/credentials/revoke`.
    page: &'static str,
    /// The query field naming what is acted on, and its value.
    field: &'static str,
    value: String,
    /// The first button's label, e.g. "Revoke".
    button: &'static str,
    /// The question group's accessible name, e.g. "Confirm revocation".
    label: &'static str,
    question: String,
    children: ChildrenFn,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let value = StoredValue::new(value);
    // The keyboard follows the question: Cancel (the harmless choice) takes the focus
    // when it opens, and the first button gets it back when it is cancelled.
    let cancel = NodeRef::<leptos::html::Button>::new();
    let first = NodeRef::<leptos::html::Button>::new();
    let cancelled = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(cancel) = cancel.get() {
            let _ = cancel.focus();
        }
    });
    Effect::new(move |_| {
        if cancelled.get()
            && let Some(first) = first.get()
        {
            let _ = first.focus();
        }
    });
    let ask = move || {
        view! {
            <form
                method="get"
                action=page
                class="revoke"
                on:submit=move |ev| {
                    ev.prevent_default();
                    confirming.set(true);
                }
            >
                <input type="hidden" name=field value=value.get_value()/>
                <button type="submit" class="secondary" node_ref=first>
                    {button}
                </button>
            </form>
        }
    };
    view! {
        <Show when=move || confirming.get() fallback=ask>
            <div class="confirm" role="group" aria-label=label>
                <p>{question.clone()}</p>
                <div class="actions">
                    {children()}
                    <button
                        type="button"
                        class="secondary"
                        node_ref=cancel
                        on:click=move |_| {
                            cancelled.set(true);
                            confirming.set(false);
                        }
                    >
                        "Cancel"
                    </button>
                </div>
            </div>
        </Show>
    }
}

/// The page of a destructive action's confirmation, for browsers without JavaScript
/// (with it, [`InlineConfirm`] asks in place): `title`, the action's error, then for
/// what `found` loads the `question` and the confirming `form` beside **Cancel**, or
/// why it cannot be loaded beside a way `back`.
#[component]
pub fn ConfirmPage<T, I, Q, F, V>(
    title: &'static str,
    /// The action the form dispatches (its error is shown).
    action: ServerAction<I>,
    /// What is about to be acted on.
    found: Resource<Result<T, UiError>>,
    /// Where Cancel and the way back lead, and the way back's label.
    back: &'static str,
    back_label: &'static str,
    /// The question about what was found.
    question: Q,
    /// The confirming form (an `ActionForm` of `action` with its danger button).
    form: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    I: leptos::server_fn::ServerFn<Output = (), Error = UiError> + Clone + Send + Sync + 'static,
    Q: Fn(&T) -> String + Send + Sync + Copy + 'static,
    F: Fn(T) -> V + Send + Sync + Copy + 'static,
    V: IntoView + 'static,
{
    view! {
        <div class="narrow-block">
            <h1>{title}</h1>
            <ActionError action=action/>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match found.await {
                        Ok(found) => Either::Left(view! {
                            <p>{question(&found)}</p>
                            <div class="actions">
                                {form(found)}
                                <A href=back>"Cancel"</A>
                            </div>
                        }),
                        Err(error) => Either::Right(view! {
                            <PageError error=error/>
                            <A href=back>{back_label}</A>
                        }),
                    }
                })}
            </Suspense>
        </div>
    }
}
