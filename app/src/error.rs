/*!
The portal's error: the API's [`WharfError`] carried through server functions, so a form can
mark the fields a validation error names, and the one template every data region falls back to.
*/

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use serde::{Deserialize, Serialize};
use std::fmt;
use wharf_core::{ErrorKind, FieldError, WharfError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalError(pub WharfError);

impl fmt::Display for PortalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for PortalError {}

impl From<WharfError> for PortalError {
    /// On the server this also sets the server function's HTTP status (400, 404, 409…), so
    /// logs and metrics count a user's mistake as a 4xx, not as a fault of Wharf.
    fn from(e: WharfError) -> Self {
        #[cfg(feature = "ssr")]
        crate::ssr::set_status(e.error);
        Self(e)
    }
}

impl FromServerFnError for PortalError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let message = match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => {
                "Wharf could not be reached; check the connection and try again".to_string()
            }
            // An answer the page cannot read is, in practice, a server built apart from this
            // page's code (another build, or an upgrade since the page loaded).
            ServerFnErrorErr::Deserialization(_) => {
                "This page and the Wharf server do not match (the server was upgraded, or the portal was built separately); reload the page. If it persists, build the portal and the server from the same source.".to_string()
            }
            other => other.to_string(),
        };
        Self(WharfError::new(ErrorKind::Internal, message))
    }
}

impl PortalError {
    pub fn field_errors(&self) -> &[FieldError] {
        &self.0.errors
    }

    pub fn is_not_found(&self) -> bool {
        self.0.error == ErrorKind::NotFound
    }
}

pub type PortalResult<T> = Result<T, PortalError>;

/// What every data region shows when its request failed.
#[component]
pub fn ErrorTemplate(errors: ArcRwSignal<Errors>) -> impl IntoView {
    let messages = move || {
        errors
            .get()
            .into_iter()
            .map(|(_, e)| e.to_string())
            .collect::<Vec<_>>()
    };
    view! {
        <div class="notice notice-error" role="alert">
            <strong>"Something is wrong. "</strong>
            <For each=messages key=|m| m.clone() let:message>
                <span>{message}</span>
            </For>
        </div>
    }
}

/// The list of field problems under a form, each naming its field.
#[component]
pub fn FieldErrorList(#[prop(into)] errors: Signal<Vec<FieldError>>) -> impl IntoView {
    view! {
        <Show when=move || !errors.read().is_empty()>
            <ul class="field-errors" role="alert">
                <For each=move || errors.get() key=|e| (e.field.clone(), e.message.clone()) let:e>
                    <li data-field=e.field.clone()>
                        <code>{if e.field.is_empty() { "document".to_string() } else { e.field.clone() }}</code>
                        " "
                        {e.message.clone()}
                    </li>
                </For>
            </ul>
        </Show>
    }
}

/// The field errors of an action's last answer (one unnamed error for a failure without fields).
pub fn errors_of<T>(value: Option<Result<T, PortalError>>) -> Vec<FieldError> {
    match value {
        Some(Err(e)) if e.field_errors().is_empty() => vec![FieldError { field: String::new(), message: e.to_string() }],
        Some(Err(e)) => e.field_errors().to_vec(),
        _ => Vec::new(),
    }
}
