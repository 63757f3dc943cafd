/*! Tasks: the table other pages embed, and a task's page with containers, logs and Stop. */

use crate::components::{DataRegion, PageHeader, StatusBadge, short_time, settled};
use crate::error::{PortalError, PortalResult};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use wharf_core::task::Task;

#[server(input = Json)]
pub async fn task_detail(cluster: String, id: String) -> PortalResult<Task> {
    Ok(crate::ssr::backend()?.describe_task(&cluster, &id).await?)
}

#[server(input = Json)]
pub async fn stop_task(cluster: String, id: String, reason: String) -> PortalResult<Task> {
    let input = wharf_core::task_input::StopTaskInput { reason: Some(reason).filter(|r| !r.trim().is_empty()) };
    Ok(crate::ssr::backend()?.stop_task(&cluster, &id, input).await?)
}

/// The definition's name from its ARN (`…:task-definition/web:3` → `web:3`).
pub fn definition_name(arn: &str) -> String {
    arn.rsplit_once("task-definition/").map(|(_, n)| n.to_string()).unwrap_or_else(|| arn.to_string())
}

fn instance_id(task: &Task) -> Option<String> {
    task.container_instance_arn.as_deref().and_then(|a| a.rsplit('/').next()).map(str::to_string)
}

#[component]
pub fn TaskTable(cluster: String, tasks: Vec<Task>, #[prop(optional)] id: Option<&'static str>) -> impl IntoView {
    view! {
        <table class="table" id=id.unwrap_or("tasks")>
            <thead>
                <tr>
                    <th>"Task"</th>
                    <th>"Task definition"</th>
                    <th>"Last status"</th>
                    <th>"Desired"</th>
                    <th>"Instance"</th>
                    <th>"Started"</th>
                    <th>"Stopped reason"</th>
                </tr>
            </thead>
            <tbody>
                {tasks
                    .into_iter()
                    .map(|t| {
                        let instance = instance_id(&t);
                        view! {
                            <tr>
                                <td class="name"><A href=format!("/clusters/{cluster}/tasks/{}", t.id)><code class="task-id">{t.id.clone()}</code></A></td>
                                <td>{definition_name(&t.task_definition_arn)}</td>
                                <td><StatusBadge status=t.last_status.clone()/></td>
                                <td>{t.desired_status.clone()}</td>
                                <td>
                                    {instance.map(|i| view! {
                                        <A href=format!("/clusters/{cluster}/instances/{i}")>{i.chars().take(12).collect::<String>()}</A>
                                    })}
                                </td>
                                <td>{t.started_at.as_deref().map(short_time).unwrap_or_else(|| "—".into())}</td>
                                <td class="wrap">{t.stopped_reason.clone().unwrap_or_default()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn TaskPage() -> impl IntoView {
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let id = move || params.read().get("id").unwrap_or_default();
    let stop = ServerAction::<StopTask>::new();
    let refresh = RwSignal::new(0u32);
    // Only this task's changes (or a burst that may include it) re-read the task.
    let this = move || params.read_untracked().get("id").unwrap_or_default();
    let live = crate::live::use_live_where(cluster, move |kind, data| kind == "tasks" || data["taskId"].as_str() == Some(this().as_str()));
    let task = crate::components::resource(move || (cluster(), id(), stop.version().get(), refresh.get(), live.version.get()), |(c, i, ..)| task_detail(c, i));
    // The logs panel reads the task once: its containers never change, and a panel that is
    // following a log keeps it through the task's changes, its stop included.
    let first = crate::components::resource(move || (cluster(), id()), |(c, i)| task_detail(c, i));
    let reason = RwSignal::new(String::new());
    view! {
        <PageHeader
            title=Signal::derive(move || format!("Task {}", id()))
            crumbs=vec![("/clusters".into(), "Clusters".into()), (format!("/clusters/{}", cluster()), cluster())]
        >
            <crate::live::LiveBadge live/>
            <button id="refresh" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
        </PageHeader>
        {move || stop.value().get().and_then(|r| r.err()).map(|e| view! { <div class="notice notice-error" role="alert">{e.to_string()}</div> })}
        <DataRegion>
            {move || Suspend::new(async move {
                let t = settled(task).await?;
                let live = t.last_status != "STOPPED";
                let stopping = t.desired_status == "STOPPED" && live;
                let instance = instance_id(&t);
                Ok::<_, PortalError>(view! {
                    <section class="card">
                        <div class="detail-head">
                            <h2>{definition_name(&t.task_definition_arn)}</h2>
                            <StatusBadge status=t.last_status.clone()/>
                            {stopping.then(|| view! { <span class="muted">"stopping…"</span> })}
                        </div>
                        <dl class="facts">
                            <dt>"Task id"</dt><dd><code id="task-id">{t.id.clone()}</code></dd>
                            <dt>"Desired status"</dt><dd>{t.desired_status.clone()}</dd>
                            <dt>"Instance"</dt>
                            <dd>{instance.map(|i| view! { <A href=format!("/clusters/{}/instances/{i}", cluster())>{i.clone()}</A> })}</dd>
                            <dt>"Created"</dt><dd>{short_time(&t.created_at)}</dd>
                            <dt>"Started"</dt><dd>{t.started_at.as_deref().map(short_time).unwrap_or_else(|| "—".into())}</dd>
                            <dt>"Stopped"</dt><dd>{t.stopped_at.as_deref().map(short_time).unwrap_or_else(|| "—".into())}</dd>
                            {t.started_by.clone().map(|s| view! { <dt>"Started by"</dt><dd>{s}</dd> })}
                            {t.group.clone().map(|g| view! { <dt>"Group"</dt><dd>{g}</dd> })}
                        </dl>
                        {t.stopped_reason.clone().map(|r| view! { <div class="notice" id="stopped-reason"><strong>"Stopped reason: "</strong>{r}</div> })}
                        {(live && !stopping).then(|| view! {
                            <crate::account::IfAllowed family=Signal::stored(Some(wharf_core::task_definition::family_of(&t.task_definition_arn).to_string())) check=|a| a.deploy>
                                <form class="inline-form" on:submit=move |ev| {
                                    ev.prevent_default();
                                    stop.dispatch(StopTask { cluster: cluster(), id: id(), reason: reason.get_untracked() });
                                }>
                                    <input id="stop-reason" placeholder="Reason (optional)" bind:value=reason autocomplete="off"/>
                                    <button type="submit" class="danger" id="stop" disabled=move || stop.pending().get()>"Stop task"</button>
                                </form>
                            </crate::account::IfAllowed>
                        })}
                    </section>
                    <section class="card">
                        <h2>"Containers"</h2>
                        <table class="table" id="containers">
                            <thead>
                                <tr><th>"Name"</th><th>"Image"</th><th>"Status"</th><th>"Health"</th><th class="num">"Exit code"</th><th>"Ports"</th><th>"Reason"</th></tr>
                            </thead>
                            <tbody>
                                {t.containers.iter().map(|c| {
                                    let ports: Vec<String> = c.network_bindings.iter()
                                        .map(|b| format!("{}→{}/{}", b.host_port, b.container_port, b.protocol)).collect();
                                    view! {
                                        <tr>
                                            <td class="name">{c.name.clone()}</td>
                                            <td><code>{c.image.clone()}</code></td>
                                            <td><StatusBadge status=c.last_status.clone()/></td>
                                            <td>{c.health_status.clone().map(|h| view! { <StatusBadge status=h/> })}</td>
                                            <td class="num">{c.exit_code.map(|e| e.to_string()).unwrap_or_else(|| "—".into())}</td>
                                            <td>{if ports.is_empty() { "—".into() } else { ports.join(", ") }}</td>
                                            <td class="wrap">{c.reason.clone().unwrap_or_default()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </section>
                })
            })}
        </DataRegion>
        <Suspense>
            {move || Suspend::new(async move {
                let t = settled(first).await.ok()?;
                let containers: Vec<String> = t.containers.iter().map(|c| c.name.clone()).collect();
                Some(view! { <crate::logs::Logs cluster=cluster() id=id() containers/> })
            })}
        </Suspense>
    }
}
