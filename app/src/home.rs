/*!
The dashboard: every cluster with its summary strip, deployments in progress with their
progress, the latest service events and the tasks that failed, following the live feed; and the
next step for a newcomer until the basics are in place.
*/

use crate::components::{DataRegion, EmptyState, PageHeader, Progress, short_time, settled};
use crate::diagram::svg::percent;
use crate::error::{PortalError, PortalResult};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};
use wharf_core::service::{Deployment, ServiceEvent};
use wharf_core::task::Task;
use wharf_core::topology::{Capacity, Summary};

/// How many events and failed tasks the dashboard lists.
#[cfg(feature = "ssr")]
const RECENT: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterCard {
    pub name: String,
    pub services: i64,
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub cluster: String,
    pub service: String,
    /// The deployment rolling out (PRIMARY).
    pub deployment: Deployment,
    /// Tasks still running for the deployments it replaces.
    pub old_running: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub clusters: Vec<ClusterCard>,
    pub rollouts: Vec<Rollout>,
    /// (cluster, service, event), newest first.
    pub events: Vec<(String, String, ServiceEvent)>,
    /// (cluster, task), newest first.
    pub failed: Vec<(String, Task)>,
    pub families: usize,
}

#[server(input = Json)]
pub async fn dashboard_data() -> PortalResult<Dashboard> {
    let backend = crate::ssr::backend()?;
    let page = wharf_core::page::Page { limit: wharf_core::page::LIMIT_MAX_RESULTS, after: None };
    let mut out = Dashboard { clusters: Vec::new(), rollouts: Vec::new(), events: Vec::new(), failed: Vec::new(), families: crate::task_definitions::list_families().await?.len() };
    for cluster in backend.list_clusters(page.clone()).await?.items {
        let name = cluster.cluster_name.clone();
        let summary = backend.cluster_summary(&name).await?;
        out.clusters.push(ClusterCard { name: name.clone(), services: cluster.active_services_count, summary });
        for s in backend.list_services(&name, page.clone()).await?.items {
            if let Some(primary) = s.deployments.iter().find(|d| d.status == "PRIMARY" && d.rollout_state == "IN_PROGRESS") {
                let old_running = s.deployments.iter().filter(|d| d.status != "PRIMARY").map(|d| d.running_count).sum();
                out.rollouts.push(Rollout { cluster: name.clone(), service: s.service_name.clone(), deployment: primary.clone(), old_running });
            }
        }
        let events = backend.recent_service_events(&name, RECENT as i64).await?;
        out.events.extend(events.into_iter().map(|(service, e)| (name.clone(), service, e)));
        out.failed.extend(backend.recent_failed_tasks(&name, RECENT as i64).await?.into_iter().map(|t| (name.clone(), t)));
    }
    out.events.sort_by(|a, b| b.2.created_at.cmp(&a.2.created_at));
    out.events.truncate(RECENT);
    out.failed.sort_by(|a, b| b.1.stopped_at.cmp(&a.1.stopped_at));
    out.failed.truncate(RECENT);
    Ok(out)
}

#[component]
pub fn HomePage() -> impl IntoView {
    let live = crate::live::use_live(String::new);
    let data = crate::components::resource(move || live.version.get(), |_| dashboard_data());
    view! {
        <PageHeader title="Dashboard".to_string()>
            <crate::live::LiveBadge live/>
        </PageHeader>
        <DataRegion>
            {move || Suspend::new(async move {
                let o = settled(data).await?;
                Ok::<_, PortalError>(view! {
                    <GettingStarted overview=o.clone()/>
                    <section class="card" id="dash-clusters">
                        <h2>"Clusters"</h2>
                        {if o.clusters.is_empty() {
                            view! { <EmptyState title="No clusters yet" body="A cluster groups the hosts that run your tasks."><A href="/clusters">"Create a cluster"</A></EmptyState> }.into_any()
                        } else {
                            o.clusters.iter().map(|c| view! { <ClusterRow card=c.clone()/> }).collect_view().into_any()
                        }}
                    </section>
                    <div class="dash-grid">
                        <Rollouts rollouts=o.rollouts.clone()/>
                        <Failed failed=o.failed.clone()/>
                    </div>
                    <Events events=o.events.clone()/>
                })
            })}
        </DataRegion>
    }
}

#[component]
fn GettingStarted(overview: Dashboard) -> impl IntoView {
    let services: i64 = overview.clusters.iter().map(|c| c.services).sum();
    let instances: i64 = overview.clusters.iter().map(|c| c.summary.instances).sum();
    let steps = [
        (overview.families > 0, "Register a task definition", "/task-definitions/new", "the containers a task runs"),
        (!overview.clusters.is_empty(), "Create a cluster", "/clusters", "a group of hosts"),
        (instances > 0, "Add a host with wharf-agent", "/clusters", "hosts run the tasks"),
        (services > 0, "Create a service", "/clusters", "keep tasks of a revision running"),
    ];
    let all_done = steps.iter().all(|s| s.0);
    (!all_done).then(|| {
        view! {
            <section class="card" id="getting-started">
                <h2>"Getting started"</h2>
                <ol class="steps">
                    {steps.into_iter().map(|(done, title, href, hint)| view! {
                        <li class:done=done>
                            <span class="tick" aria-hidden="true">{if done { "✓" } else { "○" }}</span>
                            <A href=href>{title}</A>
                            <span class="hint">" — "{hint}</span>
                        </li>
                    }).collect_view()}
                </ol>
            </section>
        }
    })
}

/// One cluster: its name and links, then instances, tasks and capacity as a strip.
#[component]
fn ClusterRow(card: ClusterCard) -> impl IntoView {
    let s = card.summary;
    let (home, diagram, name) = (format!("/clusters/{}", card.name), format!("/clusters/{}/diagram", card.name), card.name);
    let key = name.clone();
    let capacity = |label: &'static str, c: Capacity, unit: &'static str| {
        let used = c.used.map(|u| format!(" · {} used", percent(u, c.registered))).unwrap_or_default();
        view! {
            <div>
                <dt>{label}</dt>
                <dd>
                    <Progress value=c.reserved max=c.registered label=format!("{label} reserved")/>
                    <span class="muted">{format!("{} of {}{unit} reserved{used}", percent(c.reserved, c.registered), c.registered)}</span>
                </dd>
            </div>
        }
    };
    view! {
        <div class="dash-cluster" data-cluster=key>
            <div class="dash-cluster-head">
                <A href=home><strong>{name}</strong></A>
                <A href=diagram>"Diagram"</A>
            </div>
            <dl class="strip">
                <div><dt>"Instances"</dt><dd>{format!("{} ({} connected)", s.instances, s.connected)}</dd></div>
                <div><dt>"Tasks"</dt><dd>{format!("{} running, {} pending", s.tasks_running, s.tasks_pending)}</dd></div>
                <div><dt>"Services"</dt><dd>{card.services}</dd></div>
                {capacity("CPU", s.cpu, "")}
                {capacity("Memory", s.memory, " MiB")}
            </dl>
        </div>
    }
}

/// A dashboard panel: its list, or a line saying what would appear there.
#[component]
fn Panel(id: &'static str, title: &'static str, empty: Option<&'static str>, children: Children) -> impl IntoView {
    view! {
        <section class="card" id=id>
            <h2>{title}</h2>
            {match empty {
                Some(text) => view! { <p class="muted">{text}</p> }.into_any(),
                None => children().into_any(),
            }}
        </section>
    }
}

#[component]
fn Rollouts(rollouts: Vec<Rollout>) -> impl IntoView {
    let empty = rollouts.is_empty().then_some("Nothing is rolling out. Updating a service's task definition or count starts a deployment.");
    view! {
        <Panel id="dash-rollouts" title="Deployments in progress" empty>
            <ul class="rollouts">
                {rollouts.into_iter().map(|r| view! {
                    <li>
                        <div class="rollout-head">
                            <A href=format!("/clusters/{}/services/{}", r.cluster, r.service)>{format!("{} / {}", r.cluster, r.service)}</A>
                            <code>{r.deployment.task_definition.clone()}</code>
                        </div>
                        <Progress value=r.deployment.running_count max=r.deployment.desired_count label=format!("{} deployment", r.service)/>
                        <span class="muted">{format!("{} of {} running, {} pending{}{}", r.deployment.running_count, r.deployment.desired_count,
                            r.deployment.pending_count,
                            if r.old_running > 0 { format!(", {} old still running", r.old_running) } else { String::new() },
                            if r.deployment.failed_tasks > 0 { format!(", {} failed", r.deployment.failed_tasks) } else { String::new() })}</span>
                    </li>
                }).collect_view()}
            </ul>
        </Panel>
    }
}

#[component]
fn Failed(failed: Vec<(String, Task)>) -> impl IntoView {
    let empty = failed.is_empty().then_some("No task has failed lately.");
    view! {
        <Panel id="dash-failed" title="Failing tasks" empty>
            <div class="table-scroll"><table class="table">
                <thead><tr><th>"Task"</th><th>"Why it stopped"</th><th>"Stopped"</th></tr></thead>
                <tbody>
                    {failed.into_iter().map(|(cluster, t)| view! {
                        <tr>
                            <td><A href=format!("/clusters/{cluster}/tasks/{}", t.id)><code class="task-id">{t.id.clone()}</code></A>
                                <div class="muted">{format!("{cluster} · {}", t.group.clone().unwrap_or_default())}</div></td>
                            <td class="wrap">{t.stopped_reason.clone().unwrap_or_default()}
                                {t.containers.iter().filter_map(|c| c.exit_code.map(|x| format!(" · {} exited {x}", c.name))).collect::<String>()}</td>
                            <td>{t.stopped_at.as_deref().map(short_time).unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table></div>
        </Panel>
    }
}

#[component]
fn Events(events: Vec<(String, String, ServiceEvent)>) -> impl IntoView {
    let empty = events.is_empty().then_some("Services report their deployments, scaling and trouble here.");
    view! {
        <Panel id="dash-events" title="Recent service events" empty>
            <ul class="events">
                {events.into_iter().map(|(cluster, service, e)| view! {
                    <li>
                        <time>{short_time(&e.created_at)}</time>
                        <A href=format!("/clusters/{cluster}/services/{service}")>{format!("{cluster} / {service}")}</A>
                        <span>{e.message.clone()}</span>
                    </li>
                }).collect_view()}
            </ul>
        </Panel>
    }
}
