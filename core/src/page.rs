/*! Pagination in ECS's style: `maxResults` in, `nextToken` out. */

use crate::{FieldErrors, WharfError};
use serde::{Deserialize, Serialize};

pub const DEFAULT_MAX_RESULTS: i64 = 100;
pub const LIMIT_MAX_RESULTS: i64 = 1000;

/// A page request, as the list routes take it in their query string.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageRequest {
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

/// Checked page bounds: how many, and the key to start after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn validate(&self) -> Result<Page, WharfError> {
        let mut errors = FieldErrors::new();
        let limit = self.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
        if !(1..=LIMIT_MAX_RESULTS).contains(&limit) {
            errors.push("maxResults", format!("{limit} is out of range (1 to {LIMIT_MAX_RESULTS})"));
        }
        let after = match self.next_token.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => match decode_token(token) {
                Some(key) => Some(key),
                None => {
                    errors.push("nextToken", "this token was not issued by a previous page; start without one");
                    None
                }
            },
        };
        errors.finish(Page { limit, after })
    }
}

/// A page of results; `nextToken` is present when there is more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

impl<T> Paged<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_token = if more { rows.last().map(|r| encode_token(&key(r))) } else { None };
        Self { items: rows, next_token }
    }
}

/// Tokens are opaque to clients: the hex of the last key seen.
pub fn encode_token(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn decode_token(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) || token.len() > 2048 {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..token.len()).step_by(2).map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_token(&encode_token("web:12")).as_deref(), Some("web:12"));
        assert_eq!(decode_token("zz"), None);
        let page = Paged::from_rows(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_token.as_deref().and_then(decode_token).as_deref(), Some("2"));
        assert!(PageRequest { max_results: Some(0), next_token: None }.validate().is_err());
    }
}
