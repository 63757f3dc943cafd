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
    ("restricted", "restricted — no privileged tasks, host network or paths, capabilities or devices"),
    ("baseline", "baseline — restricted, but the host paths below"),
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

/// What is being typed, held by the page: the form is drawn again with the page's data on
/// every live change, and must not lose it.
#[derive(Clone, Copy, Default)]
pub struct Draft {
    level: RwSignal<String>,
    paths: RwSignal<String>,
    trusted: RwSignal<String>,
}

impl Draft {
    /// Starts from what the cluster has, unless something is being typed.
    pub fn load(&self, cluster: &Cluster) {
        if !self.level.get_untracked().is_empty() {
            return;
        }
        self.level.set(crate::clusters::policy_level(&cluster.task_policy).to_string());
        self.paths.set(cluster.task_policy.allowed_host_paths.join(", "));
        self.trusted.set(cluster.trusted_attributes.join(", "));
    }

    /// Done with: the next opening starts from the cluster again.
    pub fn clear(&self) {
        self.level.set(String::new());
    }
}

/// The form, on the cluster's page, which reloads its data and closes the form once `save`
/// succeeds (its Settings button closes it too).
#[component]
pub fn SettingsForm(name: String, draft: Draft, save: ServerAction<UpdateCluster>) -> impl IntoView {
    let Draft { level, paths, trusted } = draft;
    let errors = Signal::derive(move || errors_of(save.value().get()));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = input_of(&level.get_untracked(), &paths.get_untracked(), &trusted.get_untracked());
        save.dispatch(UpdateCluster { name: name.clone(), input });
    };
    // Kept lean: this form is on every cluster page's bundle.
    view! {
        <form class="form-grid card" id="cluster-settings" on:submit=submit>
            <label class="wide">
                "Task policy"
                <select id="policy-level" bind:value=level>
                    {LEVELS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
            </label>
            <label class="wide">
                "Host paths tasks may mount (baseline; by comma)"
                <input id="allowed-host-paths" prop:disabled=move || level.get() != "baseline" bind:value=paths placeholder="/srv/data" autocomplete="off"/>
            </label>
            <label class="wide">
                "Attributes taken only from join tokens (by comma)"
                <input id="trusted-attributes-input" bind:value=trusted autocomplete="off" placeholder="ecs.availability-zone"/>
            </label>
            <button type="submit" class="primary" id="save-settings" disabled=move || save.pending().get()>"Save"</button>
            <FieldErrorList errors/>
        </form>
    }
}
