/*! Task definitions: families, a family's revisions, and one revision. */

use crate::components::{DataRegion, EmptyState, PageHeader, StatusBadge, short_time, settled};
use crate::error::PortalResult;
use crate::account::IfAllowed;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};
use wharf_core::task_definition::{TaskDefinition, TaskDefinitionFamily};

#[server(input = Json)]
pub async fn list_families() -> PortalResult<Vec<TaskDefinitionFamily>> {
    let page = wharf_core::page::Page { limit: wharf_core::page::LIMIT_MAX_RESULTS, after: None };
    Ok(crate::ssr::backend()?.list_task_definition_families(None, None, page).await?.items)
}

#[server(input = Json)]
pub async fn list_revisions(family: String) -> PortalResult<Vec<TaskDefinition>> {
    let page = wharf_core::page::Page { limit: wharf_core::page::LIMIT_MAX_RESULTS, after: None };
    let filter = crate::backend::RevisionFilter { family: Some(family.clone()), ..Default::default() };
    let mut items = crate::ssr::backend()?.list_task_definitions(filter, page).await?.items;
    if items.is_empty() {
        return Err(wharf_core::WharfError::not_found(format!("no task definition family named '{family}'")).into());
    }
    items.reverse();
    Ok(items)
}

#[server(input = Json)]
pub async fn get_revision(reference: String) -> PortalResult<TaskDefinition> {
    Ok(crate::ssr::backend()?.describe_task_definition(&reference).await?)
}

#[server(input = Json)]
pub async fn deregister(reference: String) -> PortalResult<TaskDefinition> {
    Ok(crate::ssr::backend()?.deregister_task_definition(&reference).await?)
}

#[component]
pub fn FamiliesPage() -> impl IntoView {
    let live = crate::live::use_live_where(String::new, |kind, _| kind == "taskDefinition");
    let families = crate::components::resource(move || live.version.get(), |_| list_families());
    view! {
        <PageHeader title="Task definitions".to_string()>
            <crate::live::LiveBadge live/>
            <IfAllowed check=|a| a.deploy_anywhere>
                <A href="/task-definitions/new" attr:class="button primary">"Register task definition"</A>
            </IfAllowed>
        </PageHeader>
        <DataRegion>
            {move || Suspend::new(async move {
                let families = settled(families).await?;
                Ok::<_, crate::error::PortalError>(if families.is_empty() {
                    view! {
                        <EmptyState
                            title="No task definitions yet"
                            body="A task definition is the blueprint of a task: its containers, images, CPU and memory, ports. Paste one from ECS or fill in a short form."
                        >
                            <A href="/task-definitions/new" attr:class="button primary">"Register your first task definition"</A>
                        </EmptyState>
                    }
                    .into_any()
                } else {
                    view! {
                        <table class="table" id="families">
                            <thead>
                                <tr>
                                    <th>"Family"</th>
                                    <th class="num">"Latest revision"</th>
                                    <th class="num">"Active revisions"</th>
                                    <th>"Status"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {families
                                    .into_iter()
                                    .map(|f| {
                                        let status = if f.active_revisions > 0 { "ACTIVE" } else { "INACTIVE" };
                                        view! {
                                            <tr>
                                                <td class="name"><A href=format!("/task-definitions/{}", f.family)>{f.family.clone()}</A></td>
                                                <td class="num">{f.latest_revision}</td>
                                                <td class="num">{f.active_revisions}</td>
                                                <td><StatusBadge status=status/></td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    }
                    .into_any()
                })
            })}
        </DataRegion>
    }
}

#[component]
pub fn FamilyPage() -> impl IntoView {
    let params = use_params_map();
    let family = move || params.read().get("family").unwrap_or_default();
    let live = crate::live::use_live_where(String::new, |kind, _| kind == "taskDefinition");
    let revisions = crate::components::resource(move || (family(), live.version.get()), |(f, _)| list_revisions(f));
    view! {
        <PageHeader title=Signal::derive(family) crumbs=vec![("/task-definitions".into(), "Task definitions".into())]>
            <crate::live::LiveBadge live/>
            <A href=move || format!("/task-definitions/new?from={}", family()) attr:class="button primary">
                "Create new revision"
            </A>
        </PageHeader>
        <DataRegion>
            {move || Suspend::new(async move {
                let revisions = settled(revisions).await?;
                Ok::<_, crate::error::PortalError>(view! {
                    <table class="table" id="revisions">
                        <thead>
                            <tr>
                                <th>"Revision"</th>
                                <th>"Status"</th>
                                <th>"Containers"</th>
                                <th>"Registered"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {revisions
                                .into_iter()
                                .map(|td| {
                                    let images = td
                                        .containers()
                                        .iter()
                                        .map(|c| format!("{} ({})", c.name.clone().unwrap_or_default(), c.image.clone().unwrap_or_default()))
                                        .collect::<Vec<_>>()
                                        .join(", ");
                                    let label = td.name();
                                    view! {
                                        <tr>
                                            <td class="name">
                                                <A href=format!("/task-definitions/{}/{}", td.family(), td.revision)>{label}</A>
                                            </td>
                                            <td><StatusBadge status=td.status.as_str()/></td>
                                            <td class="wrap">{images}</td>
                                            <td>{short_time(&td.registered_at)}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                })
            })}
        </DataRegion>
    }
}

#[component]
pub fn RevisionPage() -> impl IntoView {
    let params = use_params_map();
    let reference = move || {
        let p = params.read();
        format!("{}:{}", p.get("family").unwrap_or_default(), p.get("revision").unwrap_or_default())
    };
    let deregister = ServerAction::<Deregister>::new();
    let revision = crate::components::resource(move || (reference(), deregister.version().get()), |(r, _)| get_revision(r));
    let family = move || params.read().get("family").unwrap_or_default();
    let query = use_query_map();
    view! {
        <PageHeader
            title=Signal::derive(reference)
            crumbs=vec![("/task-definitions".into(), "Task definitions".into())]
        >
            <IfAllowed family=Signal::derive(move || Some(family())) check=|a| a.deploy>
                <A href=move || format!("/task-definitions/new?from={}", reference()) attr:class="button">"Create new revision"</A>
            </IfAllowed>
            <IfAllowed family=Signal::derive(move || Some(family())) check=|a| a.maintain>
                <button class="danger" on:click=move |_| { deregister.dispatch(Deregister { reference: reference() }); }>
                    "Deregister"
                </button>
            </IfAllowed>
        </PageHeader>
        <p class="crumb-extra"><A href=move || format!("/task-definitions/{}", family())>"All revisions of this family"</A></p>
        {move || {
            query.read().get("ignored").filter(|i| !i.is_empty()).map(|ignored| view! {
                <div class="notice notice-info" id="ignored-fields">
                    "Registered. These read-only fields of the pasted document were ignored: " <code>{ignored.replace(',', ", ")}</code>
                </div>
            })
        }}
        <DataRegion>
            {move || Suspend::new(async move {
                let td = settled(revision).await?;
                let json = serde_json::to_string_pretty(&td).unwrap_or_default();
                Ok::<_, crate::error::PortalError>(view! {
                    <section class="card">
                        <dl class="facts">
                            <dt>"Status"</dt><dd><StatusBadge status=td.status.as_str()/></dd>
                            <dt>"Network mode"</dt><dd>{td.spec.network_mode.clone().unwrap_or_else(|| "bridge".into())}</dd>
                            <dt>"Task CPU"</dt><dd>{td.spec.cpu.clone().unwrap_or_else(|| "—".into())}</dd>
                            <dt>"Task memory"</dt><dd>{td.spec.memory.clone().map(|m| format!("{m} MiB")).unwrap_or_else(|| "—".into())}</dd>
                            <dt>"Registered"</dt><dd>{short_time(&td.registered_at)}</dd>
                            <dt>"ARN"</dt><dd><code>{td.task_definition_arn.clone()}</code></dd>
                        </dl>
                    </section>
                    <section class="card">
                        <h2>"Containers"</h2>
                        <table class="table">
                            <thead>
                                <tr>
                                    <th>"Name"</th><th>"Image"</th><th class="num">"CPU"</th>
                                    <th class="num">"Memory (MiB)"</th><th>"Ports"</th><th>"Essential"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {td.containers().iter().map(|c| {
                                    let ports = c.port_mappings.iter().flatten().map(|p| {
                                        let host = match p.host_port { Some(0) | None => "dynamic".to_string(), Some(h) => h.to_string() };
                                        format!("{}→{}/{}", host, p.container_port.unwrap_or(0), p.protocol.clone().unwrap_or_else(|| "tcp".into()))
                                    }).collect::<Vec<_>>().join(", ");
                                    let memory = match (c.memory, c.memory_reservation) {
                                        (Some(m), Some(r)) => format!("{r}–{m}"),
                                        (Some(m), None) => m.to_string(),
                                        (None, Some(r)) => format!("{r} (soft)"),
                                        (None, None) => "—".into(),
                                    };
                                    view! {
                                        <tr>
                                            <td class="name">{c.name.clone().unwrap_or_default()}</td>
                                            <td><code>{c.image.clone().unwrap_or_default()}</code></td>
                                            <td class="num">{c.cpu.map(|v| v.to_string()).unwrap_or_else(|| "—".into())}</td>
                                            <td class="num">{memory}</td>
                                            <td>{if ports.is_empty() { "—".to_string() } else { ports }}</td>
                                            <td>{if c.is_essential() { "yes" } else { "no" }}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </section>
                    <section class="card">
                        <h2>"JSON"</h2>
                        <pre class="json">{json}</pre>
                    </section>
                })
            })}
        </DataRegion>
    }
}
