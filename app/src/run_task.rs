/*!
"Run task" on a cluster, a page of its own as in ECS's console: ECS RunTask from the portal. The scheduler places the tasks; what it
could not place comes back with the reason, per rule and with counts, shown as is.
*/

use crate::components::{Checkbox, PageHeader};
use crate::error::{PortalError, PortalResult};
use crate::services::{PlacementInputs, RevisionSelect, active_revisions, chosen_strategies, constraints_of};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use wharf_core::task_input::{RunTaskInput, TasksStarted};

#[server(input = Json)]
pub async fn run_task(cluster: String, input: RunTaskInput) -> PortalResult<TasksStarted> {
    Ok(crate::ssr::backend()?.run_task(&cluster, input).await?)
}

#[component]
pub fn RunTaskPage() -> impl IntoView {
    let params = use_params_map();
    let cluster = Signal::derive(move || params.read().get("cluster").unwrap_or_default());
    view! {
        <PageHeader
            title="Run task"
            crumbs=vec![("/clusters".into(), "Clusters".into()), (format!("/clusters/{}", cluster.get_untracked()), cluster.get_untracked())]
        />
        <crate::account::IfAllowed
            check=|a| a.deploy_anywhere
            fallback=|| view! { <p class="notice" id="not-allowed">"Running tasks needs the deployer or maintainer role in a team."</p> }
        >
            <RunTaskForm cluster/>
        </crate::account::IfAllowed>
    }
}

#[component]
fn RunTaskForm(cluster: Signal<String>) -> impl IntoView {
    let revisions = crate::components::resource(|| (), |_| active_revisions());
    let task_definition = RwSignal::new(String::new());
    let count = RwSignal::new("1".to_string());
    let strategy = RwSignal::new(String::new());
    let custom = RwSignal::new(String::new());
    let expression = RwSignal::new(String::new());
    let distinct = RwSignal::new(false);
    let run = ServerAction::<RunTask>::new();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = RunTaskInput {
            task_definition: Some(task_definition.get_untracked()).filter(|t| !t.is_empty()),
            count: Some(count.get_untracked().trim().parse::<i64>().unwrap_or(0)),
            placement_strategy: chosen_strategies(&strategy.get_untracked(), &custom.get_untracked()),
            placement_constraints: constraints_of(distinct.get_untracked(), &expression.get_untracked()),
            started_by: None,
            group: None,
            client_token: None,
        };
        run.dispatch(RunTask { cluster: cluster.get_untracked(), input });
    };
    view! {
        <section class="card">
            <h2>"What to run, and where"</h2>
            <form class="form-grid" on:submit=submit id="run-task">
                <label for="r-td">"Task definition"<RevisionSelect id="r-td" value=task_definition revisions/></label>
                <label for="r-count">"Tasks"<input id="r-count" type="number" min="1" max="10" bind:value=count/></label>
                <PlacementInputs ids=("r-strategy", "r-expr") strategy custom expression/>
                <Checkbox id="r-distinct" checked=distinct label="Each task on a different instance (distinctInstance)"/>
                <div class="wide">
                    <button type="submit" class="primary" id="run" disabled=move || run.pending().get()>
                        {move || if run.pending().get() { "Placing…" } else { "Run task" }}
                    </button>
                </div>
            </form>
            {move || run.value().get().map(|result| match result {
                Ok(done) => view! { <RunResult cluster=cluster.get_untracked() done/> }.into_any(),
                Err(e) => view! { <RunError error=e/> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn RunResult(cluster: String, done: TasksStarted) -> impl IntoView {
    let started = done.tasks.len();
    let links: Vec<(String, String)> =
        done.tasks.iter().map(|t| (format!("/clusters/{cluster}/tasks/{}", t.id), t.id[..8.min(t.id.len())].to_string())).collect();
    let failures: Vec<(String, String)> = done.failures.iter().map(|f| (f.reason.clone(), f.detail.clone())).collect();
    view! {
        <div id="run-result">
            {(started > 0).then(|| view! {
                <p class="notice">
                    {format!("Started {started} task{}: ", if started == 1 { "" } else { "s" })}
                    {links.into_iter().map(|(href, short)| view! { <A href=href><code>{short}</code></A>" " }).collect_view()}
                </p>
            })}
            {(!failures.is_empty()).then(|| view! {
                <div class="notice notice-error" role="alert" id="run-failures">
                    <strong>"Why tasks could not be placed"</strong>
                    <ul>
                        {failures.into_iter().map(|(reason, detail)| view! { <li><code>{reason}</code>" "{detail}</li> }).collect_view()}
                    </ul>
                </div>
            })}
        </div>
    }
}

#[component]
fn RunError(error: PortalError) -> impl IntoView {
    let fields = error.field_errors().to_vec();
    view! {
        <div class="notice notice-error" role="alert" id="run-error">
            {error.to_string()}
            <ul>{fields.into_iter().map(|f| view! { <li><code>{f.field}</code>" "{f.message}</li> }).collect_view()}</ul>
        </div>
    }
}
