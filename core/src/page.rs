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

/// Most reads [`fill`] makes for one page.
pub const FILL_READS: usize = 50;

/// A page for a caller who may see only some rows: reads pages of everything, each asking for
/// as many rows as are still missing, and keeps those `keep` allows, until the page is full or
/// nothing is left. So a team's services show on the first page however many of another
/// team's sort before them, and a page never holds more than `limit`. After [`FILL_READS`]
/// reads it comes back short, with the token that goes on from there.
pub async fn fill<T, Fut>(page: Page, mut read: impl FnMut(Page) -> Fut, keep: impl Fn(&T) -> bool) -> Result<Paged<T>, WharfError>
where
    Fut: std::future::Future<Output = Result<Paged<T>, WharfError>>,
{
    let mut items = Vec::new();
    let mut after = page.after;
    for _ in 0..FILL_READS {
        let got = read(Page { limit: page.limit - items.len() as i64, after: after.take() }).await?;
        items.extend(got.items.into_iter().filter(|i| keep(i)));
        match got.next_token {
            Some(token) if (items.len() as i64) < page.limit => after = decode_token(&token),
            next_token => return Ok(Paged { items, next_token }),
        }
        if after.is_none() {
            break;
        }
    }
    Ok(Paged { next_token: after.map(|key| encode_token(&key)), items })
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

    /// Rows 0..n as a store would page them (by key, `limit + 1` read).
    async fn rows(n: u32, page: Page) -> Result<Paged<u32>, WharfError> {
        let from = page.after.map_or(0, |k| k.parse::<u32>().unwrap() + 1);
        let got: Vec<u32> = (from..n).take(page.limit as usize + 1).collect();
        Ok(Paged::from_rows(got, page.limit, |r| format!("{r:05}")))
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    #[test]
    fn a_filled_page_holds_what_the_caller_may_see_up_to_its_limit() {
        // Every tenth row is the caller's: pages come full and in order, none twice, none lost.
        let mine = |r: &u32| r % 10 == 9;
        let (mut seen, mut after, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = block_on(fill(Page { limit: 3, after }, |p| rows(100, p), mine)).unwrap();
            pages += 1;
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().copied());
            match page.next_token {
                Some(t) => after = decode_token(&t),
                None => break,
            }
        }
        assert_eq!(seen, (0..100).filter(mine).collect::<Vec<_>>());
        assert!(pages <= 5, "{pages} pages for 10 rows by 3");
        // Nothing of the caller's: one answer, empty, with no token.
        let none = block_on(fill(Page { limit: 5, after: None }, |p| rows(40, p), |_| false)).unwrap();
        assert!(none.items.is_empty() && none.next_token.is_none());
        // Reads are bounded: what is not found in them is left for the next page.
        let far = block_on(fill(Page { limit: 1, after: None }, |p| rows(10_000, p), |r| *r == 9_999)).unwrap();
        assert!(far.items.is_empty() && far.next_token.is_some(), "stops after {FILL_READS} reads");
    }

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
