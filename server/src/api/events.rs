//! `GET /api/v1/events`: the live feed as Server-Sent Events.

use super::Gated;
use super::error::ApiResult;
use crate::events::{Event, Subscription};
use super::error::Query;
use axum::http::HeaderMap;
use axum::response::sse::{self, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this cluster's changes (and `reset`).
    cluster: Option<String>,
    /// For clients that cannot set the `Last-Event-ID` header: the last id received.
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
}

/// Every committed state change, as it happens. Event names: `task`, `tasks` (many of one
/// cluster's tasks at once: reload them), `instance`, `service`, `cluster`, `taskDefinition`,
/// and `reset` (changes were missed: reload everything). Reconnect with `Last-Event-ID` to
/// receive what was missed, none twice.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, description = "text/event-stream of changes", content_type = "text/event-stream")))]
pub async fn stream(gate: Gated, Query(query): Query<EventsQuery>, headers: HeaderMap) -> ApiResult<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>> {
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string).or(query.last_event_id);
    let gate = Arc::new(gate.0);
    let visible = visible_clusters(&gate).await?;
    let events = gate.control().events().clone();
    let Subscription { missed, live } = events.subscribe(last.as_deref());
    let cluster = query.cluster;
    let restricted = visible.is_some();
    let shown_to = visible.clone();
    let wanted = move |e: &Event| {
        let shown = match (&shown_to, &e.cluster) {
            (Some(v), Some(c)) => v.contains(c),
            _ => true,
        };
        shown && (e.kind == "reset" || cluster.is_none() || e.cluster.is_none() || e.cluster == cluster)
    };
    let live = stream::unfold((live, events), |(mut live, events)| async move {
        let next = match live.recv().await {
            Ok(e) => e,
            // This client read too slowly and lost events: it must reload.
            Err(RecvError::Lagged(_)) => events.reset(0),
            Err(RecvError::Closed) => return None,
        };
        Some((next, (live, events)))
    });
    let all = stream::iter(missed).chain(live).filter(move |e| std::future::ready(wanted(e))).map(move |e| Ok(to_sse(&if restricted { redact(&e) } else { e })));
    // The feed ends when the caller changes or a cluster is shared or unshared with them;
    // the browser reconnects with Last-Event-ID and is answered as things now stand.
    let allowed = move || {
        let (gate, visible) = (gate.clone(), visible.clone());
        async move { gate.still_the_same_caller().await && visible_clusters(&gate).await.ok() == Some(visible) }
    };
    Ok(Sse::new(super::live::while_allowed(all, allowed)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// None for those who see everything; else the clusters shared with the caller's teams, whose
/// events they get as ids and states only: the names of another team's services and families
/// are theirs (the portal reloads what an event touches through the gate anyway).
async fn visible_clusters(gate: &crate::control::gate::Gate) -> ApiResult<Option<Vec<String>>> {
    if gate.who()?.sees_everything() {
        return Ok(None);
    }
    let clusters = wharf_app::backend::Backend::list_clusters(gate, wharf_core::page::Page { after: None, limit: 1000 }).await?;
    Ok(Some(clusters.items.into_iter().map(|c| c.cluster_name).collect()))
}

/// An event without the names in it (services, groups, families, messages).
fn redact(e: &Arc<Event>) -> Arc<Event> {
    let mut e = (**e).clone();
    if let serde_json::Value::Object(map) = &mut e.data {
        for name in ["serviceName", "group", "message", "taskDefinition", "targetGroupArn", "address", "reason"] {
            map.remove(name);
        }
    }
    Arc::new(e)
}

fn to_sse(e: &Arc<Event>) -> sse::Event {
    let data = serde_json::to_string(&**e).unwrap_or_else(|_| "{}".into());
    let out = sse::Event::default().event(e.kind).data(data);
    // A lagging client's reset carries no id: it must not skip what it will reload anyway.
    if e.kind == "reset" && e.seq == 0 { out } else { out.id(e.id.clone()) }
}
