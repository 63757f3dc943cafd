/*!
Container instances: a cluster's hosts with their capacity, and one instance's page with its
tasks, "Start task here", drain and deregister.
*/

use crate::components::{DataRegion, EmptyState, PAGE_ROWS, PageHeader, Pager, StatusBadge, short_time, use_page_cursor, settled};
use crate::error::{PortalError, PortalResult};
use crate::tasks::TaskTable;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use wharf_core::instance::ContainerInstance;
use wharf_core::page::Paged;
use wharf_core::task::Task;
use wharf_core::task_definition::TaskDefinitionFamily;
use wharf_core::task_input::TasksStarted;

/// A page of the cluster's instances, by name (as people look for a host), after `after`
/// (a page token).
#[server(input = Json)]
pub async fn list_instances(cluster: String, after: Option<String>, limit: i64) -> PortalResult<Paged<ContainerInstance>> {
    let after = after.map(|t| wharf_core::page::decode_token(&t).ok_or_else(|| wharf_core::WharfError::invalid_field("after", "not a page token")));
    let page = wharf_core::page::Page { limit: limit.clamp(1, PAGE_ROWS), after: after.transpose()? };
    Ok(crate::ssr::backend()?.list_container_instances(&cluster, None, page).await?)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceOverview {
    pub instance: ContainerInstance,
    /// A page of the tasks it is asked to run (desired RUNNING).
    pub tasks: Paged<Task>,
    /// The tasks that stopped here most recently.
    pub stopped: Vec<Task>,
    /// Families with an ACTIVE revision, for "Start task here".
    pub families: Vec<TaskDefinitionFamily>,
    /// The host's use over the last hour, drawn (none before its first sample).
    pub usage_chart: Option<String>,
}

#[server(input = Json)]
pub async fn instance_detail(cluster: String, id: String, after: Option<String>) -> PortalResult<InstanceOverview> {
    let backend = crate::ssr::backend()?;
    let page = wharf_core::page::Page { limit: wharf_core::page::LIMIT_MAX_RESULTS, after: None };
    let filter = crate::backend::TaskFilter { container_instance: Some(id.clone()), desired_status: Some("RUNNING".into()), ..Default::default() };
    let after = after.map(|t| wharf_core::page::decode_token(&t).ok_or_else(|| wharf_core::WharfError::invalid_field("after", "not a page token")));
    let tasks_page = wharf_core::page::Page { limit: PAGE_ROWS, after: after.transpose()? };
    let active = Some(wharf_core::task_definition::TaskDefinitionStatus::Active);
    let instance = backend.describe_container_instance(&cluster, &id).await?;
    let usage = match backend.scaling() {
        Some(s) => Some(s.instance_metrics(&cluster, &id, 60).await?),
        None => None,
    };
    Ok(InstanceOverview {
        usage_chart: usage.and_then(|m| crate::chart::instance_usage(&instance, &m)),
        instance,
        tasks: backend.list_tasks(&cluster, filter, tasks_page).await?,
        stopped: backend.recently_stopped_on(&cluster, &id, 10).await?,
        families: backend.list_task_definition_families(None, active, page).await?.items,
    })
}

#[server(input = Json)]
pub async fn start_task_here(cluster: String, id: String, task_definition: String) -> PortalResult<TasksStarted> {
    let input = wharf_core::task_input::StartTaskInput {
        task_definition: Some(task_definition),
        container_instances: Some(vec![id]),
        started_by: Some("portal".into()),
        group: None,
    };
    Ok(crate::ssr::backend()?.start_task(&cluster, input).await?)
}

#[server(input = Json)]
pub async fn set_instance_status(cluster: String, id: String, status: String) -> PortalResult<ContainerInstance> {
    let input = wharf_core::task_input::UpdateInstanceInput { status: Some(status) };
    Ok(crate::ssr::backend()?.update_container_instance_state(&cluster, &id, input).await?)
}

#[server(input = Json)]
pub async fn deregister_instance(cluster: String, id: String) -> PortalResult<ContainerInstance> {
    Ok(crate::ssr::backend()?.deregister_container_instance(&cluster, &id).await?)
}

fn integer(resources: &[wharf_core::instance::Resource], name: &str) -> i64 {
    resources.iter().find(|r| r.name == name).and_then(|r| r.integer_value).unwrap_or(0)
}

fn ports(instance: &ContainerInstance) -> Vec<String> {
    let set = |name: &str, proto: &str| {
        instance
            .remaining_resources
            .iter()
            .filter(|r| r.name == name)
            .flat_map(|r| r.string_set_value.clone().unwrap_or_default())
            .map(|p| format!("{p}/{proto}"))
            .collect::<Vec<_>>()
    };
    let mut out = set("PORTS", "tcp");
    out.extend(set("PORTS_UDP", "udp"));
    out
}

/// How much of a resource tasks reserve, as a bar with the numbers beside it.
#[component]
pub fn CapacityBar(label: &'static str, registered: i64, remaining: i64, unit: &'static str) -> impl IntoView {
    let reserved = (registered - remaining).max(0);
    let percent = if registered > 0 { (reserved * 100 / registered).min(100) } else { 0 };
    let tone = match percent {
        90.. => "bad",
        70..=89 => "busy",
        _ => "ok",
    };
    view! {
        <div class="capacity" title=format!("{label}: {reserved} of {registered} {unit} reserved by tasks, {remaining} free")>
            <span class="capacity-label">{label}</span>
            <span class="bar" role="meter" aria-label=format!("{label} reserved") aria-valuemin="0" aria-valuemax=registered aria-valuenow=reserved>
                <span class=format!("bar-fill bar-{tone}") style=format!("width: {percent}%")></span>
            </span>
            <span class="capacity-text">{format!("{reserved} / {registered} {unit}")}</span>
        </div>
    }
}

#[component]
pub fn ConnectionBadge(connected: bool) -> impl IntoView {
    view! {
        <span class=if connected { "conn conn-up" } else { "conn conn-down" }>
            {if connected { "● connected" } else { "○ disconnected" }}
        </span>
    }
}

/// A cluster's instances: status, connection, capacity, ports, attributes, task counts.
#[component]
pub fn InstanceTable(cluster: String, instances: Vec<ContainerInstance>) -> impl IntoView {
    // Eight columns: on a narrow page the table scrolls within its card rather than past it.
    view! {
        <div class="table-scroll">
        <table class="table" id="instances">
            <thead>
                <tr>
                    <th>"Instance"</th>
                    <th>"Status"</th>
                    <th>"Agent"</th>
                    <th>"Capacity reserved"</th>
                    <th>"Ports in use"</th>
                    <th>"Attributes"</th>
                    <th class="num">"Running"</th>
                    <th class="num">"Pending"</th>
                </tr>
            </thead>
            <tbody>
                {instances
                    .into_iter()
                    .map(|i| {
                        let zone = i.attributes.iter().find(|a| a.name == "ecs.availability-zone").and_then(|a| a.value.clone());
                        let custom: Vec<String> = i
                            .attributes
                            .iter()
                            .filter(|a| !a.name.starts_with("ecs."))
                            .map(|a| a.value.as_ref().map_or(a.name.clone(), |v| format!("{}={v}", a.name)))
                            .collect();
                        let ports = ports(&i);
                        view! {
                            <tr>
                                <td class="name">
                                    <A href=format!("/clusters/{cluster}/instances/{}", i.id)>{i.name.clone()}</A>
                                    <div class="sub" title=i.id.clone()>{i.id.chars().take(12).collect::<String>()}</div>
                                </td>
                                <td><StatusBadge status=i.status.clone()/></td>
                                <td><ConnectionBadge connected=i.agent_connected/></td>
                                <td class="capacity-cell">
                                    <CapacityBar label="CPU" registered=integer(&i.registered_resources, "CPU") remaining=integer(&i.remaining_resources, "CPU") unit="units"/>
                                    <CapacityBar label="Memory" registered=integer(&i.registered_resources, "MEMORY") remaining=integer(&i.remaining_resources, "MEMORY") unit="MiB"/>
                                </td>
                                <td>{if ports.is_empty() { "—".to_string() } else { ports.join(", ") }}</td>
                                <td>
                                    {zone.map(|z| view! { <span class="tag">{format!("zone {z}")}</span> })}
                                    {custom.into_iter().map(|c| view! { <span class="tag">{c}</span> }).collect_view()}
                                </td>
                                <td class="num">{i.running_tasks_count}</td>
                                <td class="num">{i.pending_tasks_count}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        </div>
    }
}

#[component]
pub fn InstancesPage() -> impl IntoView {
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let after = use_page_cursor();
    let live = crate::live::use_live(cluster);
    let instances = crate::components::resource(move || (cluster(), after.get(), live.version.get()), |(c, a, _)| list_instances(c, a, PAGE_ROWS));
    view! {
        <PageHeader
            title="Container instances".to_string()
            crumbs=vec![("/clusters".into(), "Clusters".into()), (format!("/clusters/{}", cluster()), cluster())]
        >
            <crate::live::LiveBadge live/>
        </PageHeader>
        <DataRegion>
            {move || Suspend::new(async move {
                let page = settled(instances).await?;
                let later = after.get_untracked().is_some();
                Ok::<_, PortalError>(if page.items.is_empty() && !later {
                    view! {
                        <EmptyState
                            title="No container instances yet"
                            body="Create a join token on the cluster's page; it comes with the one command that adds a host."
                        >
                            <A href=format!("/clusters/{}#join-tokens", cluster()) attr:class="button primary">"Add a host"</A>
                        </EmptyState>
                    }
                    .into_any()
                } else {
                    view! {
                        <InstanceTable cluster=cluster() instances=page.items/>
                        <Pager next=page.next_token on_later_page=later what="instances"/>
                    }
                    .into_any()
                })
            })}
        </DataRegion>
    }
}

#[component]
pub fn InstancePage() -> impl IntoView {
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let id = move || params.read().get("id").unwrap_or_default();
    let start = ServerAction::<StartTaskHere>::new();
    let status = ServerAction::<SetInstanceStatus>::new();
    let deregister = ServerAction::<DeregisterInstance>::new();
    let abilities = crate::components::resource(|| (), |_| crate::account::my_abilities(None));
    let live = crate::live::use_live(cluster);
    let after = use_page_cursor();
    let detail = crate::components::resource(
        move || (cluster(), id(), after.get(), start.version().get(), status.version().get(), deregister.version().get(), live.version.get()),
        |(c, i, a, ..)| instance_detail(c, i, a),
    );
    let chosen = RwSignal::new(String::new());
    let action_error = move || {
        let e = status.value().get().and_then(|r| r.err()).or_else(|| deregister.value().get().and_then(|r| r.err()));
        e.map(|e| view! { <div class="notice notice-error" role="alert">{e.to_string()}</div> })
    };
    view! {
        <PageHeader
            title=Signal::derive(move || format!("Instance {}", id().chars().take(12).collect::<String>()))
            crumbs=vec![
                ("/clusters".into(), "Clusters".into()),
                (format!("/clusters/{}", cluster()), cluster()),
                (format!("/clusters/{}/instances", cluster()), "Instances".into()),
            ]
        >
            <crate::live::LiveBadge live/>
        </PageHeader>
        {action_error}
        <DataRegion>
            {move || Suspend::new(async move {
                let d = settled(detail).await?;
                let i = d.instance.clone();
                let draining = i.status == "DRAINING";
                let inactive = i.status == "INACTIVE";
                let (c, iid) = (cluster(), id());
                let (c2, iid2) = (c.clone(), iid.clone());
                // Draining and deregistering hosts is an admin's.
                let admin = settled(abilities).await.is_ok_and(|a| a.admin);
                Ok::<_, PortalError>(view! {
                    <section class="card">
                        <div class="detail-head">
                            <h2>{i.name.clone()}</h2>
                            <StatusBadge status=i.status.clone()/>
                            <ConnectionBadge connected=i.agent_connected/>
                            <div class="actions">
                                {(admin && !inactive).then(|| {
                                    let (c, iid) = (c.clone(), iid.clone());
                                    view! {
                                        <button id="drain" on:click=move |_| {
                                            let next = if draining { "ACTIVE" } else { "DRAINING" };
                                            status.dispatch(SetInstanceStatus { cluster: c.clone(), id: iid.clone(), status: next.into() });
                                        }>{if draining { "Activate" } else { "Drain" }}</button>
                                    }
                                })}
                                {(admin && !inactive).then(|| {
                                    // Deregistering stops every task on the host: ask once more.
                                    let confirming = RwSignal::new(false);
                                    view! {
                                        <button class="danger" id="deregister" on:click=move |_| {
                                            if confirming.get_untracked() {
                                                deregister.dispatch(DeregisterInstance { cluster: c2.clone(), id: iid2.clone() });
                                            } else {
                                                confirming.set(true);
                                            }
                                        }>{move || if confirming.get() { "Stop its tasks and deregister" } else { "Deregister" }}</button>
                                    }
                                })}
                            </div>
                        </div>
                        <dl class="facts">
                            <dt>"Instance id"</dt><dd><code>{i.id.clone()}</code></dd>
                            <dt>"Registered"</dt><dd>{short_time(&i.registered_at)}</dd>
                            <dt>"Last heartbeat"</dt><dd>{i.last_heartbeat_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</dd>
                            <dt>"Agent"</dt><dd>{i.version_info.agent_version.clone().unwrap_or_default()}</dd>
                            <dt>"Docker"</dt><dd>{i.version_info.docker_version.clone().unwrap_or_else(|| "—".into())}</dd>
                            <dt>"In use on the host"</dt>
                            <dd id="usage">{i.usage.as_ref().map_or_else(
                                || "no sample yet".to_string(),
                                |u| format!("{} CPU units, {} MiB (the agent's latest sample)", u.cpu, u.memory),
                            )}</dd>
                        </dl>
                        <CapacityBar label="CPU" registered=integer(&i.registered_resources, "CPU") remaining=integer(&i.remaining_resources, "CPU") unit="units"/>
                        <CapacityBar label="Memory" registered=integer(&i.registered_resources, "MEMORY") remaining=integer(&i.remaining_resources, "MEMORY") unit="MiB"/>
                        <h3>"Attributes"</h3>
                        <div class="tags" id="attributes">
                            {i.attributes.iter().map(|a| {
                                let text = a.value.as_ref().map_or(a.name.clone(), |v| format!("{} = {v}", a.name));
                                view! { <span class="tag">{text}</span> }
                            }).collect_view()}
                        </div>
                    </section>
                    <section class="card" id="instance-usage">
                        <h2>"Use, last hour"</h2>
                        {match d.usage_chart.clone() {
                            Some(markup) => view! { <div class="chart-frame" inner_html=markup></div> }.into_any(),
                            None => view! { <p class="muted">"No sample yet: the agent reports its host's use every few seconds."</p> }.into_any(),
                        }}
                    </section>
                    {if inactive || draining {
                        let why = if inactive { "This instance is deregistered; it takes no tasks." } else { "This instance is DRAINING; it takes no new tasks until it is activated again." };
                        view! { <section class="card" id="start-task"><h2>"Start task here"</h2><p class="muted">{why}</p></section> }.into_any()
                    } else {
                        view! { <StartTaskForm cluster=cluster() id=id() families=d.families.clone() chosen start/> }.into_any()
                    }}
                    <section class="card">
                        <h2>{format!("Tasks on this instance ({} running, {} pending)", d.instance.running_tasks_count, d.instance.pending_tasks_count)}</h2>
                        {
                            let later = after.get_untracked().is_some();
                            if d.tasks.items.is_empty() && !later {
                                view! { <p class="muted">"No tasks run here now."</p> }.into_any()
                            } else {
                                view! {
                                    <TaskTable cluster=cluster() tasks=d.tasks.items/>
                                    <Pager next=d.tasks.next_token on_later_page=later what="tasks"/>
                                }
                                .into_any()
                            }
                        }
                    </section>
                    <section class="card">
                        <h2>"Recently stopped here"</h2>
                        {if d.stopped.is_empty() {
                            view! { <p class="muted">"No task has stopped here lately."</p> }.into_any()
                        } else {
                            view! { <TaskTable cluster=cluster() tasks=d.stopped id="stopped-tasks"/> }.into_any()
                        }}
                    </section>
                })
            })}
        </DataRegion>
    }
}

#[component]
fn StartTaskForm(
    cluster: String,
    id: String,
    families: Vec<TaskDefinitionFamily>,
    chosen: RwSignal<String>,
    start: ServerAction<StartTaskHere>,
) -> impl IntoView {
    if chosen.get_untracked().is_empty()
        && let Some(f) = families.first() {
            chosen.set(f.family.clone());
        }
    let outcome = move || match start.value().get() {
        Some(Ok(r)) if !r.failures.is_empty() => {
            let f = &r.failures[0];
            Some(view! { <div class="notice notice-error" role="alert">{format!("Not started ({}): {}", f.reason, f.detail)}</div> }.into_any())
        }
        Some(Ok(r)) => r.tasks.into_iter().next().map(|t| {
            let href = format!("/clusters/{}/tasks/{}", cluster_name(&t.cluster_arn), t.id);
            view! {
                <div class="notice notice-info" role="status" id="task-started">
                    "Task started: " <A href=href>{t.id}</A>
                </div>
            }
            .into_any()
        }),
        Some(Err(e)) => Some(view! { <div class="notice notice-error" role="alert">{e.to_string()}</div> }.into_any()),
        None => None,
    };
    view! {
        <section class="card" id="start-task">
            <h2>"Start task here"</h2>
            {if families.is_empty() {
                view! { <p class="muted">"Register a task definition first; then you can start it on this instance."</p> }.into_any()
            } else {
                view! {
                    <form class="inline-form" on:submit=move |ev| {
                        ev.prevent_default();
                        start.dispatch(StartTaskHere { cluster: cluster.clone(), id: id.clone(), task_definition: chosen.get_untracked() });
                    }>
                        <label for="start-family">"Task definition"</label>
                        <select id="start-family" bind:value=chosen>
                            {families.into_iter().map(|f| {
                                let label = format!("{} (latest: revision {})", f.family, f.latest_active_revision.unwrap_or(f.latest_revision));
                                view! { <option value=f.family.clone()>{label}</option> }
                            }).collect_view()}
                        </select>
                        <button type="submit" class="primary" disabled=move || start.pending().get()>
                            {move || if start.pending().get() { "Starting…" } else { "Start task" }}
                        </button>
                    </form>
                }.into_any()
            }}
            {outcome}
        </section>
    }
}

/// `arn:…:cluster/NAME` → NAME.
pub fn cluster_name(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or_default().to_string()
}
