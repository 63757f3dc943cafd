/*! The dashboard: where things stand, and the next step for a newcomer. */

use crate::clusters::list_clusters;
use crate::components::{DataRegion, PageHeader};
use crate::error::PortalError;
use crate::task_definitions::list_families;
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn HomePage() -> impl IntoView {
    let data = Resource::new(|| (), |_| async { Ok::<_, PortalError>((list_clusters().await?, list_families().await?)) });
    view! {
        <PageHeader title="Dashboard".to_string()/>
        <DataRegion>
            {move || Suspend::new(async move {
                let (clusters, families) = data.await?;
                let services: i64 = clusters.iter().map(|c| c.active_services_count).sum();
                let instances: i64 = clusters.iter().map(|c| c.registered_container_instances_count).sum();
                let running: i64 = clusters.iter().map(|c| c.running_tasks_count).sum();
                let steps = [
                    (!families.is_empty(), "Register a task definition", "/task-definitions/new", "the containers a task runs"),
                    (!clusters.is_empty(), "Create a cluster", "/clusters", "a group of hosts"),
                    (services > 0, "Create a service", "/clusters", "keep tasks of a revision running"),
                    (instances > 0, "Add a host with wharf-agent", "/clusters", "hosts run the tasks"),
                ];
                Ok::<_, PortalError>(view! {
                    <div class="stats">
                        <div class="stat"><div class="stat-value">{clusters.len()}</div><div class="stat-label">"Clusters"</div></div>
                        <div class="stat"><div class="stat-value">{families.len()}</div><div class="stat-label">"Task definition families"</div></div>
                        <div class="stat"><div class="stat-value">{services}</div><div class="stat-label">"Active services"</div></div>
                        <div class="stat"><div class="stat-value">{instances}</div><div class="stat-label">"Container instances"</div></div>
                        <div class="stat"><div class="stat-value">{running}</div><div class="stat-label">"Running tasks"</div></div>
                    </div>
                    <section class="card">
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
                })
            })}
        </DataRegion>
    }
}
