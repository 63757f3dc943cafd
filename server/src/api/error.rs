/*!
The API's error type and the extractors that own their rejections, so every failure —
bad JSON, a wrong type deep in the body, a body too large — answers in the one error shape.
*/

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use wharf_core::{ErrorKind, WharfError};

/// A [`WharfError`] on its way out as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub WharfError);

impl From<WharfError> for ApiError {
    fn from(e: WharfError) -> Self {
        Self(e)
    }
}

pub fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (status_of(self.0.error), axum::Json(self.0)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The request body as raw bytes, with the size limit answered in the error shape.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> ApiResult<Bytes> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(WharfError::new(
                ErrorKind::PayloadTooLarge,
                format!("the body is larger than the {} KiB this route accepts", crate::api::BODY_LIMIT / 1024),
            ))
        } else {
            ApiError(WharfError::invalid_field("", format!("the body could not be read: {rejection}")))
        }
    })
}

/// A JSON body whose deserialisation errors name the field (`desiredCount: expected a whole number`).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError(WharfError::invalid_field("", "the body is not UTF-8 text")))?;
        let value = wharf_core::task_definition::parse_document(if text.trim().is_empty() { "{}" } else { text })?;
        serde_path_to_error::deserialize(value).map(Body).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            ApiError(WharfError::invalid_field(path, e.inner().to_string()))
        })
    }
}

/// A body kept as JSON (for documents checked further down, like task definitions).
pub struct RawJson(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError(WharfError::invalid_field("", "the body is not UTF-8 text")))?;
        Ok(RawJson(wharf_core::task_definition::parse_document(text)?))
    }
}

/// Query parameters, with bad values reported as InvalidParameter on the parameter's name.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string().replace("invalid digit found in string", "expected a whole number");
            ApiError(WharfError::invalid_field(if path == "." { String::new() } else { path }, message))
        })
    }
}
