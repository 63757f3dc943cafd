/*!
A cluster's settings, for admins: its task policy (what its tasks may do on the hosts) and
the attributes placement takes only from join tokens. Checked as typed with the rules the
server applies, so a mistake is named by its field before anything is sent.
*/

use crate::components::{PageHeader, settled};
use crate::error::{FieldErrorList, PortalError, PortalResult, errors_of};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::hooks::{use_navigate, use_params_map};
use wharf_core::cluster::{Cluster, UpdateClusterInput};
use wharf_core::task_policy::{PolicyLevel, TaskPolicy};

#[server(input = Json)]
pub async fn describe_cluster(name: String) -> PortalResult<Cluster> {
    Ok(crate::ssr::backend()?.describe_cluster(&name).await?)
}

#[server(input = Json)]
pub async fn update_cluster(name: String, input: UpdateClusterInput) -> PortalResult<Cluster> {
    Ok(crate::ssr::backend()?.update_cluster(&name, input).await?)
}

const LEVELS: [(&str, &str); 3] = [
    ("restricted", "restricted — no privileged tasks, host network, host paths, added capabilities or devices"),
    ("baseline", "baseline — as restricted, except the host paths listed below"),
    ("privileged", "privileged — anything a definition says, as root on the host"),
];

/// One entry per line or comma, blanks left out.
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

fn level_name(level: PolicyLevel) -> &'static str {
    match level {
        PolicyLevel::Restricted => "restricted",
        PolicyLevel::Baseline => "baseline",
        PolicyLevel::Privileged => "privileged",
    }
}

#[component]
pub fn ClusterSettingsPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("cluster").unwrap_or_default();
    let cluster = crate::components::resource(name, describe_cluster);
    view! {
        <PageHeader
            title=Signal::derive(move || format!("Settings of {}", name()))
            crumbs=vec![("Clusters".into(), "/clusters".into()), (name(), format!("/clusters/{}", name()))]
        />
        <crate::account::IfAllowed
            check=|a| a.admin
            fallback=|| view! { <p class="notice" id="not-allowed">"Only an admin changes a cluster's settings."</p> }
        >
            <crate::components::DataRegion>
                {move || Suspend::new(async move {
                    let cluster = settled(cluster).await?;
                    Ok::<_, PortalError>(view! { <SettingsForm cluster/> })
                })}
            </crate::components::DataRegion>
        </crate::account::IfAllowed>
    }
}

#[component]
fn SettingsForm(cluster: Cluster) -> impl IntoView {
    let save = ServerAction::<UpdateCluster>::new();
    let name = cluster.cluster_name.clone();
    let level = RwSignal::new(level_name(cluster.task_policy.level).to_string());
    let paths = RwSignal::new(cluster.task_policy.allowed_host_paths.join("\n"));
    let trusted = RwSignal::new(cluster.trusted_attributes.join(", "));
    // The server's own rules, applied as typed; its answer replaces them once sent.
    let typed = Memo::new(move |_| {
        let input = input_of(&level.get(), &paths.get(), &trusted.get());
        input.validate().err().map(|e| e.errors).unwrap_or_default()
    });
    let errors = Signal::derive(move || match save.value().get() {
        Some(Err(e)) => errors_of(Some(Err::<Cluster, _>(e))),
        _ => typed.get(),
    });
    let navigate = use_navigate();
    let back = format!("/clusters/{name}");
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            navigate(&back, Default::default());
        }
    });
    let baseline = move || level.get() == "baseline";
    let submit = {
        let name = name.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if typed.get_untracked().is_empty() {
                let input = input_of(&level.get_untracked(), &paths.get_untracked(), &trusted.get_untracked());
                save.dispatch(UpdateCluster { name: name.clone(), input });
            }
        }
    };
    view! {
        <section class="card">
            <h2>"Task policy"</h2>
            <p class="lead">
                "What this cluster's tasks may do on its hosts. It is checked when a task definition is run or a service created, again when tasks are placed, and by each host's agent before it starts one. Tasks already running are not stopped."
            </p>
            <form class="form-grid" id="cluster-settings" on:submit=submit>
                <label for="policy-level" class="wide">
                    "Level"
                    <select id="policy-level" bind:value=level>
                        {LEVELS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                    </select>
                </label>
                <label for="allowed-host-paths" class="wide">
                    "Host paths tasks may mount"
                    <small>"Baseline only: absolute paths, one per line; a task may mount these and what lies under them."</small>
                    <textarea id="allowed-host-paths" rows="4" prop:disabled=move || !baseline() bind:value=paths placeholder="/srv/data"></textarea>
                </label>
                <Show when=move || level.get() == "privileged">
                    <p class="notice notice-error wide" id="privileged-warning" role="status">
                        "Privileged: any team that may run tasks here can take root on every host of this cluster."
                    </p>
                </Show>
                <label for="trusted-attributes-input" class="wide">
                    "Attributes placement takes only from join tokens"
                    <small>"Names, by comma. A host's own claim of one is left out; give it on the join token instead (the zone field does so for ecs.availability-zone)."</small>
                    <input id="trusted-attributes-input" bind:value=trusted autocomplete="off" placeholder="ecs.availability-zone"/>
                </label>
                <div class="wide form-actions">
                    <button type="submit" class="primary" id="save-settings" disabled=move || save.pending().get() || !typed.read().is_empty()>
                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                    </button>
                </div>
            </form>
            <FieldErrorList errors/>
        </section>
    }
}
