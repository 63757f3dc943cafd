/*!
The audit log: every change and every refused attempt, newest first, for admins (all of it)
and maintainers (their teams'). Filters by team and result, and exports as JSON lines.
*/

use crate::components::{DataRegion, EmptyState, PageHeader, short_time, settled};
use crate::error::{PortalError, PortalResult};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::hooks::{use_navigate, use_query_map};
use wharf_core::account::AuditEntry;

/// Entries on one page of the log.
const PAGE: i64 = 100;

#[server(input = Json)]
pub async fn audit_log(team: Option<String>, before: Option<i64>) -> PortalResult<Vec<AuditEntry>> {
    let b = crate::ssr::backend()?;
    Ok(crate::teams::accounts(&b)?.audit_log(team.as_deref(), before, PAGE).await?)
}

/// The query string of the page for a team, a result and an older page.
fn query(team: &str, result: &str, before: Option<i64>) -> String {
    let mut parts = Vec::new();
    if !team.is_empty() {
        parts.push(format!("team={team}"));
    }
    if !result.is_empty() {
        parts.push(format!("result={result}"));
    }
    if let Some(b) = before {
        parts.push(format!("before={b}"));
    }
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let q = use_query_map();
    let team = move || q.read().get("team").unwrap_or_default();
    let result = move || q.read().get("result").unwrap_or_default();
    let before = move || q.read().get("before").and_then(|b| b.parse::<i64>().ok());
    let entries = crate::components::resource(move || (team(), before()), |(t, b)| audit_log(Some(t).filter(|t| !t.is_empty()), b));
    let teams = crate::components::resource(|| (), |_| crate::teams::list_teams());
    let navigate = use_navigate();
    let go = move |team: String, result: String| navigate(&format!("/audit{}", query(&team, &result, None)), Default::default());
    let go_team = go.clone();
    let export = move || {
        let t = team();
        if t.is_empty() { "/api/v1/audit?format=jsonl".to_string() } else { format!("/api/v1/audit?format=jsonl&team={t}") }
    };
    view! {
        <PageHeader title="Audit log">
            <a class="button" id="audit-export" href=export download="wharf-audit.jsonl">"Export JSON lines"</a>
        </PageHeader>
        <form class="inline-form filters" on:submit=|ev| ev.prevent_default()>
            <label for="audit-team">"Team"</label>
            <select id="audit-team" prop:value=team on:change=move |ev| go_team(event_target_value(&ev), result())>
                <option value="">"All I may see"</option>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        settled(teams).await.unwrap_or_default().into_iter().map(|t| {
                            let name = t.team_name;
                            view! { <option value=name.clone() selected=name == team()>{name.clone()}</option> }
                        }).collect_view()
                    })}
                </Transition>
            </select>
            <label for="audit-result">"Result"</label>
            <select id="audit-result" prop:value=result on:change=move |ev| go(team(), event_target_value(&ev))>
                {[("", "Any"), ("allowed", "Allowed"), ("denied", "Denied"), ("failed", "Failed")].into_iter().map(|(v, l)| {
                    view! { <option value=v selected=move || result() == v>{l}</option> }
                }).collect_view()}
            </select>
        </form>
        <DataRegion>
            {move || Suspend::new(async move {
                let all = settled(entries).await?;
                let last = (all.len() as i64 == PAGE).then(|| all.last().map(|e| e.seq)).flatten();
                let wanted = result();
                let shown: Vec<AuditEntry> = all.into_iter().filter(|e| wanted.is_empty() || e.result == wanted).collect();
                let older = last.map(|seq| format!("/audit{}", query(&team(), &wanted, Some(seq))));
                let later_page = before().is_some();
                Ok::<_, PortalError>(view! {
                    {if shown.is_empty() {
                        view! { <EmptyState title="Nothing recorded here" body="Changes and refused attempts appear here as they happen. Try another team or result."/> }.into_any()
                    } else {
                        view! { <AuditTable entries=shown/> }.into_any()
                    }}
                    {(older.is_some() || later_page).then(|| view! {
                        <nav class="pager" aria-label="Pages of the audit log">
                            {later_page.then(|| view! { <a class="button" href=format!("/audit{}", query(&team(), &wanted, None))>"← Newest"</a> })}
                            {older.map(|href| view! { <a class="button" href=href id="audit-older">"Older →"</a> })}
                        </nav>
                    })}
                })
            })}
        </DataRegion>
    }
}

#[component]
fn AuditTable(entries: Vec<AuditEntry>) -> impl IntoView {
    view! {
        <section class="card table-scroll">
            <table class="table" id="audit">
                <thead>
                    <tr><th>"When"</th><th>"Who"</th><th>"Team"</th><th>"Action"</th><th>"Target"</th><th>"From"</th><th>"Result"</th><th>"Detail"</th></tr>
                </thead>
                <tbody>
                    {entries.into_iter().map(|e| {
                        let tone = match e.result.as_str() { "allowed" => "ok", "denied" => "bad", _ => "busy" };
                        view! {
                            <tr>
                                <td>{short_time(&e.at)}</td>
                                <td>{e.actor}</td>
                                <td>{e.team.unwrap_or_else(|| "—".into())}</td>
                                <td><code>{e.action}</code></td>
                                <td><code>{e.target}</code></td>
                                <td>{e.source}</td>
                                <td><span class=format!("badge badge-{tone}")>{e.result}</span></td>
                                <td class="detail">{e.detail}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
