/*!
Errors that cross layers: a list of field problems for bad input, and the few kinds of
failure every caller (HTTP API, portal, agent) needs to tell apart.
*/

use serde::{Deserialize, Serialize};
use std::fmt;

/// One problem with one field of a request, e.g.
/// `containerDefinitions[0].image`: "a container needs an image".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Path of the field in the request body, in `a.b[0].c` form; empty for the whole body.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Collects every problem of a document so the caller hears about all of them at once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok(value)` when nothing was recorded, else the invalid-parameter error.
    pub fn finish<T>(self, value: T) -> Result<T, WharfError> {
        if self.0.is_empty() { Ok(value) } else { Err(WharfError::invalid(self.0)) }
    }
}

/// What went wrong, in the words of the HTTP API's `error` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorKind {
    /// The request is malformed or breaks a rule; `errors` says where.
    InvalidParameter,
    /// No credentials, or wrong, expired or revoked ones.
    Unauthorized,
    /// Known, but not allowed to do this (or the request came from where it may not).
    AccessDenied,
    /// The named object does not exist.
    NotFound,
    /// The request conflicts with the current state (e.g. deleting a cluster with services).
    Conflict,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The body is not in a form the route takes (the API takes `application/json`).
    UnsupportedMediaType,
    /// Too many attempts (failed sign-ins); try again later.
    Throttled,
    /// A fault of Wharf itself; details are logged, not returned.
    Internal,
}

impl ErrorKind {
    /// The HTTP status that carries this kind of error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidParameter => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::AccessDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Throttled => 429,
            ErrorKind::Internal => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidParameter => "InvalidParameter",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::AccessDenied => "AccessDenied",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::PayloadTooLarge => "PayloadTooLarge",
            ErrorKind::UnsupportedMediaType => "UnsupportedMediaType",
            ErrorKind::Throttled => "Throttled",
            ErrorKind::Internal => "Internal",
        }
    }
}

/// The error shape of the API and of the portal's server functions:
/// `{"error": "InvalidParameter", "message": "…", "errors": [{"field", "message"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{message}")]
pub struct WharfError {
    pub error: ErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl WharfError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { error: kind, message: message.into(), errors: Vec::new() }
    }

    /// Invalid input; the message repeats the first problem so a one-line client still
    /// shows something useful.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [] => "the request is invalid".to_string(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
        };
        Self { error: ErrorKind::InvalidParameter, message, errors }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError { field: field.into(), message: message.into() }])
    }

    /// Bad credentials; `field` names where they were given.
    pub fn unauthorized(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let errors = vec![FieldError { field: field.into(), message: message.clone() }];
        Self { error: ErrorKind::Unauthorized, message, errors }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn internal() -> Self {
        Self::new(ErrorKind::Internal, "Something went wrong")
    }
}

impl From<crate::access::Denied> for WharfError {
    fn from(d: crate::access::Denied) -> Self {
        WharfError::new(ErrorKind::AccessDenied, d.0)
    }
}
