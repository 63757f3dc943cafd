/*!
A cluster's settings, edited on its page by admins: its task policy (what its tasks may do on the hosts) and
the attributes placement takes only from join tokens. A mistake is answered by its field.
*/

use crate::error::{FieldErrorList, PortalResult, errors_of};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use wharf_core::cluster::{Cluster, UpdateClusterInput};
use wharf_core::task_policy::{PolicyLevel, TaskPolicy};

#[server(input = Json)]
pub async fn update_cluster(name: String, input: UpdateClusterInput) -> PortalResult<Cluster> {
    Ok(crate::ssr::backend()?.update_cluster(&name, input).await?)
}

const LEVELS: [(&str, &str); 3] = [
    ("restricted", "restricted — no privileged tasks, host network, host paths, added capabilities or devices"),
    ("baseline", "baseline — as restricted, except the host paths listed below"),
    ("privileged", "privileged — anything a definition says: any team that may run tasks here can take root on its hosts"),
];

/// One entry per comma (or line), blanks left out.
fn entries(text: &str) -> Vec<String> {
    text.split(['\n', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The change the form describes.
fn input_of(level: &str, paths: &str, trusted: &str) -> UpdateClusterInput {
    let level = match level {
        "baseline" => PolicyLevel::Baseline,
        "privileged" => PolicyLevel::Privileged,
        _ => PolicyLevel::Restricted,
    };
    // Host paths mean something to a baseline policy only; other levels keep none.
    let allowed_host_paths = if level == PolicyLevel::Baseline { entries(paths) } else { Vec::new() };
    UpdateClusterInput { task_policy: Some(TaskPolicy { level, allowed_host_paths }), trusted_attributes: Some(entries(trusted)) }
}

/// The form, on the cluster's page, which reloads its data and closes the form once `save`
/// succeeds (its Settings button closes it too).
#[component]
pub fn SettingsForm(cluster: Cluster, save: ServerAction<UpdateCluster>) -> impl IntoView {
    let name = cluster.cluster_name.clone();
    let level = RwSignal::new(crate::clusters::policy_level(&cluster.task_policy).to_string());
    let paths = RwSignal::new(cluster.task_policy.allowed_host_paths.join(", "));
    let trusted = RwSignal::new(cluster.trusted_attributes.join(", "));
    let errors = Signal::derive(move || errors_of(save.value().get()));
    let baseline = move || level.get() == "baseline";
    let submit = {
        let name = name.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let input = input_of(&level.get_untracked(), &paths.get_untracked(), &trusted.get_untracked());
            save.dispatch(UpdateCluster { name: name.clone(), input });
        }
    };
    view! {
        <section class="card" id="settings">
            <h2>"Settings"</h2>
            <p class="lead">"What this cluster's tasks may do on its hosts: checked when tasks are run or placed, and by each host's agent. Running tasks are not stopped."</p>
            <form class="form-grid" id="cluster-settings" on:submit=submit>
                <label for="policy-level" class="wide">
                    "Level"
                    <select id="policy-level" bind:value=level>
                        {LEVELS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                    </select>
                </label>
                <label for="allowed-host-paths" class="wide">
                    "Host paths tasks may mount"
                    <small>"Baseline only: absolute paths, by comma; a task may mount these and what lies under them."</small>
                    <input id="allowed-host-paths" prop:disabled=move || !baseline() bind:value=paths placeholder="/srv/data" autocomplete="off"/>
                </label>
                <label for="trusted-attributes-input" class="wide">
                    "Attributes placement takes only from join tokens"
                    <small>"Names, by comma. A host's own claim of one is left out; give it on the join token instead (the zone field does so for ecs.availability-zone)."</small>
                    <input id="trusted-attributes-input" bind:value=trusted autocomplete="off" placeholder="ecs.availability-zone"/>
                </label>
                <div class="wide form-actions">
                    <button type="submit" class="primary" id="save-settings" disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                    </button>
                </div>
            </form>
            <FieldErrorList errors/>
        </section>
    }
}
