//! Responses that stay open (the live feed, a followed log) end once their caller may no
//! longer have them: signed out, session expired, token revoked, account disabled, a role or
//! team changed. A client that reconnects is then answered by the gate as it stands.

use futures_util::stream::{self, Stream, StreamExt};
use std::future::Future;
use std::time::Duration;

/// How often an open response asks again.
pub const RECHECK: Duration = Duration::from_secs(5);

/// `inner` until `allowed` says no (asked every [`RECHECK`]) or `inner` ends.
pub fn while_allowed<S, F, Fut>(inner: S, allowed: F) -> impl Stream<Item = S::Item> + Send
where
    S: Stream + Send + 'static,
    S::Item: Send,
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stream::unfold((Box::pin(inner), tick, allowed), |(mut inner, mut tick, mut allowed)| async move {
        loop {
            tokio::select! {
                item = inner.next() => return item.map(|item| (item, (inner, tick, allowed))),
                _ = tick.tick() => if !allowed().await {
                    return None;
                },
            }
        }
    })
}
