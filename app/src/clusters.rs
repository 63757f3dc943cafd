/*! Clusters: the list with its create form, and a cluster's page with its services. */

use crate::account::IfAllowed;
use crate::components::{DataRegion, EmptyState, PageHeader, StatusBadge, settled};
use crate::error::{FieldErrorList, PortalResult};
use crate::instances::InstanceTable;
use crate::join_tokens::JoinTokens;
use crate::tasks::TaskTable;
use crate::services::ServiceTable;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use serde::{Deserialize, Serialize};
use wharf_core::cluster::Cluster;
use wharf_core::instance::ContainerInstance;
use wharf_core::service::Service;
use wharf_core::task::Task;

#[server(input = Json)]
pub async fn list_clusters() -> PortalResult<Vec<Cluster>> {
    let page = wharf_core::page::Page { limit: wharf_core::page::LIMIT_MAX_RESULTS, after: None };
    Ok(crate::ssr::backend()?.list_clusters(page).await?.items)
}

#[server(input = Json)]
pub async fn create_cluster(cluster_name: String) -> PortalResult<Cluster> {
    let input = wharf_core::cluster::CreateClusterInput { cluster_name: Some(cluster_name), ..Default::default() };
    Ok(crate::ssr::backend()?.create_cluster(input).await?.0)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterDetail {
    pub cluster: Cluster,
    pub services: Vec<Service>,
    /// The first instances by name; the instances page has them all, a page at a time.
    pub instances: Vec<ContainerInstance>,
    /// The most recent tasks, newest first.
    pub tasks: Vec<Task>,
}

/// Instances and tasks a cluster's page shows before linking on.
#[cfg(feature = "ssr")]
const OVERVIEW_ROWS: i64 = 20;

#[server(input = Json)]
pub async fn cluster_overview(name: String) -> PortalResult<ClusterDetail> {
    let backend = crate::ssr::backend()?;
    let page = wharf_core::page::Page { limit: wharf_core::page::LIMIT_MAX_RESULTS, after: None };
    let first = wharf_core::page::Page { limit: OVERVIEW_ROWS, after: None };
    Ok(ClusterDetail {
        cluster: backend.describe_cluster(&name).await?,
        services: backend.list_services(&name, page).await?.items,
        instances: backend.list_container_instances(&name, None, first).await?.items,
        tasks: backend.recent_tasks(&name, OVERVIEW_ROWS).await?,
    })
}

#[server(input = Json)]
pub async fn delete_cluster(name: String) -> PortalResult<Cluster> {
    Ok(crate::ssr::backend()?.delete_cluster(&name).await?)
}

#[component]
pub fn ClustersPage() -> impl IntoView {
    let create = ServerAction::<CreateCluster>::new();
    // Clusters change on cluster events, and their counts with instances and tasks.
    let live = crate::live::use_live(String::new);
    let clusters = crate::components::resource(move || (create.version().get(), live.version.get()), |_| list_clusters());
    let name = RwSignal::new(String::new());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(cluster)) = create.value().get() {
            navigate(&format!("/clusters/{}", cluster.cluster_name), Default::default());
        }
    });
    let errors = Signal::derive(move || match create.value().get() {
        Some(Err(e)) => e.field_errors().to_vec(),
        _ => Vec::new(),
    });
    view! {
        <PageHeader title="Clusters".to_string()><crate::live::LiveBadge live/></PageHeader>
        <IfAllowed check=|a| a.admin>
        <section class="card">
            <form
                class="inline-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    create.dispatch(CreateCluster { cluster_name: name.get_untracked().trim().to_string() });
                }
            >
                <label for="cluster-name">"New cluster"</label>
                <input
                    id="cluster-name"
                    name="clusterName"
                    placeholder="e.g. production"
                    autocomplete="off"
                    bind:value=name
                />
                <button type="submit" class="primary" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create cluster" }}
                </button>
            </form>
            <FieldErrorList errors/>
        </section>
        </IfAllowed>
        <DataRegion>
            {move || Suspend::new(async move {
                let clusters = settled(clusters).await?;
                Ok::<_, crate::error::PortalError>(if clusters.is_empty() {
                    view! {
                        <EmptyState
                            title="No clusters yet"
                            body="A cluster groups the hosts that run your tasks. Name one above (say, production), then register a task definition and create a service in it."
                        />
                    }
                    .into_any()
                } else {
                    view! { <ClusterTable clusters/> }.into_any()
                })
            })}
        </DataRegion>
    }
}

#[component]
fn ClusterTable(clusters: Vec<Cluster>) -> impl IntoView {
    view! {
        <table class="table" id="clusters">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"Status"</th>
                    <th class="num">"Instances"</th>
                    <th class="num">"Services"</th>
                    <th class="num">"Running tasks"</th>
                    <th class="num">"Pending tasks"</th>
                </tr>
            </thead>
            <tbody>
                {clusters
                    .into_iter()
                    .map(|c| {
                        view! {
                            <tr>
                                <td class="name">
                                    <A href=format!("/clusters/{}", c.cluster_name)>{c.cluster_name.clone()}</A>
                                </td>
                                <td><StatusBadge status=c.status.clone()/></td>
                                <td class="num">{c.registered_container_instances_count}</td>
                                <td class="num">{c.active_services_count}</td>
                                <td class="num">{c.running_tasks_count}</td>
                                <td class="num">{c.pending_tasks_count}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn ClusterPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("cluster").unwrap_or_default();
    let delete = ServerAction::<DeleteCluster>::new();
    let save = ServerAction::<crate::cluster_settings::UpdateCluster>::new();
    let editing = RwSignal::new(false);
    let draft = crate::cluster_settings::Draft::default();
    let live = crate::live::use_live(name);
    let overview = crate::components::resource(
        move || (name(), delete.version().get(), save.version().get(), live.version.get()),
        |(n, ..)| cluster_overview(n),
    );
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = delete.value().get() {
            navigate("/clusters", Default::default());
        }
        if let Some(Ok(_)) = save.value().get() {
            editing.set(false);
            draft.clear();
        }
    });
    view! {
        <PageHeader
            title=Signal::derive(name)
            crumbs=vec![("/clusters".into(), "Clusters".into())]
        >
            <crate::live::LiveBadge live/>
            <A href=move || format!("/clusters/{}/diagram", name()) attr:class="button" attr:id="open-diagram">
                "Diagram"
            </A>
            <A href=move || format!("/clusters/{}/load-balancing", name()) attr:class="button" attr:id="open-load-balancing">
                "Load balancing"
            </A>
            <IfAllowed check=|a| a.deploy_anywhere>
                <A href=move || format!("/clusters/{}/run-task", name()) attr:class="button" attr:id="open-run-task">
                    "Run task"
                </A>
            </IfAllowed>
            <IfAllowed check=|a| a.maintain_anywhere>
                <A href=move || format!("/clusters/{}/services/new", name()) attr:class="button primary">
                    "Create service"
                </A>
            </IfAllowed>
            <IfAllowed check=|a| a.admin>
                <button id="open-settings" on:click=move |_| {
                    if editing.get_untracked() {
                        draft.clear();
                    }
                    editing.update(|e| *e = !*e);
                }>
                    "Settings"
                </button>
                <button
                    class="danger"
                    on:click=move |_| {
                        delete.dispatch(DeleteCluster { name: name() });
                    }
                >
                    "Delete cluster"
                </button>
            </IfAllowed>
        </PageHeader>
        {move || {
            delete
                .value()
                .get()
                .and_then(|r| r.err())
                .map(|e| view! { <div class="notice notice-error" role="alert">{e.to_string()}</div> })
        }}
        <DataRegion>
            {move || Suspend::new(async move {
                let o = settled(overview).await?;
                let cluster_name = o.cluster.cluster_name.clone();
                let new_service = format!("/clusters/{cluster_name}/services/new");
                let settings = o.cluster.clone();
                Ok::<_, crate::error::PortalError>(view! {
                    <div class="stats">
                        <Stat label="Container instances" value=o.cluster.registered_container_instances_count/>
                        <Stat label="Active services" value=o.cluster.active_services_count/>
                        <Stat label="Running tasks" value=o.cluster.running_tasks_count/>
                        <Stat label="Pending tasks" value=o.cluster.pending_tasks_count/>
                    </div>
                    {move || editing.get().then(|| {
                        // The page's data is drawn again on every live change; the draft stays.
                        draft.load(&settings);
                        view! { <crate::cluster_settings::SettingsForm name=settings.cluster_name.clone() draft save/> }
                    })}
                    <p class="muted" id="task-policy">
                        "Task policy: "
                        <strong>{policy_level(&o.cluster.task_policy)}</strong>
                        " — "
                        {policy_meaning(&o.cluster.task_policy)}
                        <br/>
                        <span id="trusted-attributes">
                            {if o.cluster.trusted_attributes.is_empty() {
                                "Hosts say their own zone and attributes.".to_string()
                            } else {
                                format!("Taken only from join tokens, not from what hosts say: {}.", o.cluster.trusted_attributes.join(", "))
                            }}
                        </span>
                    </p>
                    <section class="card">
                        <h2>"Services"</h2>
                        {if o.services.is_empty() {
                            view! {
                                <EmptyState
                                    title="No services in this cluster"
                                    body="A service keeps a number of copies of a task definition running. Register a task definition, then create a service from it."
                                >
                                    <A href=new_service attr:class="button primary">
                                        "Create service"
                                    </A>
                                    " "
                                    <A href="/task-definitions/new" attr:class="button">"Register a task definition"</A>
                                </EmptyState>
                            }
                            .into_any()
                        } else {
                            view! { <ServiceTable cluster=cluster_name.clone() services=o.services/> }.into_any()
                        }}
                    </section>
                    <section class="card">
                        <div class="section-head">
                            <h2>"Container instances"</h2>
                            <A href=format!("/clusters/{cluster_name}/instances")>
                                {format!("All {} instances →", o.cluster.registered_container_instances_count)}
                            </A>
                        </div>
                        {if o.instances.is_empty() {
                            view! {
                                <EmptyState
                                    title="No container instances yet"
                                    body="Hosts join this cluster by running wharf-agent with a join token: create a token below and run the command it shows on the host. Until one joins, services wait with their tasks pending."
                                />
                            }
                            .into_any()
                        } else {
                            view! { <InstanceTable cluster=cluster_name.clone() instances=o.instances/> }.into_any()
                        }}
                    </section>
                    <section class="card">
                        <h2>"Newest tasks"</h2>
                        {if o.tasks.is_empty() {
                            view! { <p class="muted">"No tasks yet. Run one, or create a service."</p> }.into_any()
                        } else {
                            view! { <TaskTable cluster=cluster_name.clone() tasks=o.tasks/> }.into_any()
                        }}
                    </section>
                })
            })}
        </DataRegion>
        <IfAllowed check=|a| a.admin>
            <JoinTokens cluster=Signal::derive(name)/>
        </IfAllowed>
    }
}

pub(crate) fn policy_level(policy: &wharf_core::task_policy::TaskPolicy) -> &'static str {
    use wharf_core::task_policy::PolicyLevel;
    match policy.level {
        PolicyLevel::Restricted => "restricted",
        PolicyLevel::Baseline => "baseline",
        PolicyLevel::Privileged => "privileged",
    }
}

/// What the cluster's task policy lets its tasks do, in a sentence.
fn policy_meaning(policy: &wharf_core::task_policy::TaskPolicy) -> String {
    use wharf_core::task_policy::PolicyLevel;
    match policy.level {
        PolicyLevel::Restricted => "tasks may not run privileged, use the host network or host paths, add capabilities or use devices.".into(),
        PolicyLevel::Baseline if policy.allowed_host_paths.is_empty() => "as restricted; no host path is allowed.".into(),
        PolicyLevel::Baseline => format!("as restricted, except host paths under {}.", policy.allowed_host_paths.join(", ")),
        PolicyLevel::Privileged => "tasks may do anything their definition says, as root on the host.".into(),
    }
}

#[component]
fn Stat(#[prop(into)] label: String, value: i64) -> impl IntoView {
    view! {
        <div class="stat">
            <div class="stat-value">{value}</div>
            <div class="stat-label">{label}</div>
        </div>
    }
}
