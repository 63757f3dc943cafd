/*!
Load balancing in the portal: a cluster's target groups and listeners (created here), the
load balancer fields of the new-service form, and the card on a service's page with its
listener's address and each target's health and traffic, live.
*/

use crate::components::{DataRegion, EmptyState, PageHeader, StatusBadge, settled};
use crate::error::{FieldErrorList, PortalError, PortalResult, errors_of};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use wharf_core::load_balancing::{
    CreateListenerInput, CreateRuleInput, CreateTargetGroupInput, Listener, ListenerAction, RuleCondition, ServiceBalancing,
    ServiceLoadBalancer, TargetGroup, TargetGroupSettings,
};

#[cfg(feature = "ssr")]
fn balancing(backend: &crate::backend::SharedBackend) -> PortalResult<&dyn crate::backend::LoadBalancing> {
    backend.load_balancing().ok_or_else(|| PortalError(wharf_core::WharfError::internal()))
}

#[server(input = Json)]
pub async fn balancing_of_service(cluster: String, service: String) -> PortalResult<ServiceBalancing> {
    let b = crate::ssr::backend()?;
    Ok(balancing(&b)?.service_balancing(&cluster, &service).await?)
}

#[server(input = Json)]
pub async fn list_target_groups(cluster: String) -> PortalResult<Vec<TargetGroup>> {
    let b = crate::ssr::backend()?;
    Ok(balancing(&b)?.list_target_groups(&cluster).await?)
}

/// The cluster's target groups as (ARN, name): what the new-service form offers, without the
/// rest of each group (the form's page stays small).
#[server(input = Json)]
pub async fn target_group_choices(cluster: String) -> PortalResult<Vec<(String, String)>> {
    let b = crate::ssr::backend()?;
    Ok(balancing(&b)?.list_target_groups(&cluster).await?.into_iter().map(|g| (g.target_group_arn, g.target_group_name)).collect())
}

#[server(input = Json)]
pub async fn create_target_group(cluster: String, input: CreateTargetGroupInput) -> PortalResult<TargetGroup> {
    let b = crate::ssr::backend()?;
    Ok(balancing(&b)?.create_target_group(&cluster, input).await?)
}

#[server(input = Json)]
pub async fn list_listeners(cluster: String) -> PortalResult<Vec<Listener>> {
    let b = crate::ssr::backend()?;
    Ok(balancing(&b)?.list_listeners(&cluster).await?)
}

#[server(input = Json)]
pub async fn create_listener(cluster: String, input: CreateListenerInput) -> PortalResult<Listener> {
    let b = crate::ssr::backend()?;
    Ok(balancing(&b)?.create_listener(&cluster, input).await?)
}

#[server(input = Json)]
pub async fn create_rule(cluster: String, port: i64, input: CreateRuleInput) -> PortalResult<Listener> {
    let b = crate::ssr::backend()?;
    Ok(balancing(&b)?.create_rule(&cluster, port, input).await?)
}

#[server(input = Json)]
pub async fn delete_rule(cluster: String, port: i64, priority: i64) -> PortalResult<Listener> {
    let b = crate::ssr::backend()?;
    Ok(balancing(&b)?.delete_rule(&cluster, port, priority).await?)
}

/// A service's load balancing: where to reach it, and each target's health and traffic. Shows
/// nothing for a service without load balancers.
#[component]
pub fn ServiceBalancingCard(cluster: String, service: String, version: ReadSignal<u64>) -> impl IntoView {
    let tasks = format!("/clusters/{cluster}/tasks");
    let data = crate::components::resource(move || (cluster.clone(), service.clone(), version.get()), |(c, s, _)| balancing_of_service(c, s));
    view! {
        <DataRegion>
            {move || { let tasks = tasks.clone(); Suspend::new(async move {
                let b = settled(data).await?;
                Ok::<_, PortalError>(b.entries.into_iter().map(|e| { let tasks = tasks.clone(); view! {
                    <section class="card" id="load-balancing">
                        <h2>{format!("Load balancing: {} → {}:{}", e.target_group_name, e.container_name, e.container_port)}</h2>
                        <p id="listener-urls">
                            {if e.listener_urls.is_empty() {
                                view! { <span class="muted">"No listener forwards to this target group yet."</span> }.into_any()
                            } else {
                                e.listener_urls.into_iter().map(|u| view! { <a class="listener-url" href=u.clone() target="_blank" rel="noopener">{u.clone()}</a>" " }).collect_view().into_any()
                            }}
                        </p>
                        {if e.targets.is_empty() {
                            view! { <p class="muted">"No target yet: tasks join once RUNNING."</p> }.into_any()
                        } else {
                            view! {
                                <table class="table" id="targets">
                                    <thead><tr><th>"Task"</th><th>"Target"</th><th>"Health"</th><th>"Reason"</th>
                                        <th class="num">"Requests/s"</th><th class="num">"p99"</th><th class="num">"Requests"</th></tr></thead>
                                    <tbody>
                                        {e.targets.into_iter().map(|t| { let href = format!("{tasks}/{}", t.task_id); let id = t.task_id.clone(); view! {
                                            <tr data-task=t.task_id.clone() data-state=t.state.clone()>
                                                <td><A href=href><code>{id}</code></A></td>
                                                <td><code>{t.address.clone()}</code></td>
                                                <td><StatusBadge status=t.state.to_uppercase()/></td>
                                                <td>{t.description.clone().or(t.reason.clone()).unwrap_or_default()}</td>
                                                <td class="num">{format!("{:.1}", t.requests_per_second)}</td>
                                                <td class="num">{t.p99_ms.map(|p| format!("{p} ms")).unwrap_or_else(|| "—".into())}</td>
                                                <td class="num">{t.requests}</td>
                                            </tr>
                                        }}).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                    </section>
                }}).collect_view())
            })}}
        </DataRegion>
    }
}

/// The new-service form's load balancer fields: a target group of the cluster, and the
/// container port it reaches. Empty when no target group is chosen.
#[component]
pub fn LoadBalancerInputs(cluster: String, target_group: RwSignal<String>, container: RwSignal<String>, port: RwSignal<String>) -> impl IntoView {
    let groups = crate::components::resource(move || cluster.clone(), target_group_choices);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let groups = groups.await.unwrap_or_default();
                view! { <LoadBalancerFields groups target_group container port/> }
            })}
        </Suspense>
    }
}

/// The same fields with the cluster's target groups already read (a page that reads them with
/// its other data).
#[component]
pub fn LoadBalancerFields(groups: Vec<(String, String)>, target_group: RwSignal<String>, container: RwSignal<String>, port: RwSignal<String>) -> impl IntoView {
    view! {
        <label for="s-target-group">
            "Load balancer target group"
            <select id="s-target-group" bind:value=target_group>
                <option value="">"none"</option>
                {groups.into_iter().map(|(arn, name)| view! { <option value=arn>{name}</option> }).collect_view()}
            </select>
            <small>"its listeners send requests to this service's tasks"</small>
        </label>
        <Show when=move || !target_group.get().is_empty()>
            <label for="s-lb-container">"Container" <input id="s-lb-container" bind:value=container autocomplete="off" placeholder="e.g. web"/></label>
            <label for="s-lb-port">"Container port" <input id="s-lb-port" type="number" min="1" max="65535" bind:value=port placeholder="e.g. 8080"/></label>
        </Show>
    }
}

/// The `loadBalancers` the form's fields ask for.
pub fn chosen_load_balancers(target_group: &str, container: &str, port: &str) -> Option<Vec<ServiceLoadBalancer>> {
    (!target_group.is_empty()).then(|| {
        vec![ServiceLoadBalancer {
            target_group_arn: Some(target_group.to_string()),
            container_name: Some(container.trim().to_string()),
            container_port: Some(port.trim().parse().unwrap_or(0)),
            load_balancer_name: None,
        }]
    })
}

/// A cluster's target groups and listeners.
#[component]
pub fn LoadBalancingPage() -> impl IntoView {
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let live = crate::live::use_live(cluster);
    let create_group = ServerAction::<CreateTargetGroup>::new();
    let create_listener = ServerAction::<CreateListener>::new();
    let create_rule = ServerAction::<CreateRule>::new();
    let delete_rule = ServerAction::<DeleteRule>::new();
    let data = crate::components::resource(
        move || (cluster(), live.version.get(), create_group.version().get(), create_listener.version().get(), create_rule.version().get(), delete_rule.version().get()),
        |(c, ..)| async move { Ok::<_, PortalError>((list_target_groups(c.clone()).await?, list_listeners(c).await?)) },
    );
    view! {
        <PageHeader title="Load balancing".to_string() crumbs=vec![("/clusters".into(), "Clusters".into()), (format!("/clusters/{}", cluster()), cluster())]>
            <crate::live::LiveBadge live/>
        </PageHeader>
        <p class="lead">
            "A listener is a port of this server; its rules send requests by host and path to target groups, whose targets are the RUNNING, healthy tasks of the services that name them."
        </p>
        <crate::account::IfAllowed check=|a| a.maintain_anywhere>
            <NewTargetGroup cluster=cluster() create=create_group/>
        </crate::account::IfAllowed>
        <DataRegion>
            {move || Suspend::new(async move {
                let (groups, listeners) = settled(data).await?;
                let options: Vec<(String, String)> = groups.iter().map(|g| (g.target_group_arn.clone(), g.target_group_name.clone())).collect();
                let choices = options.clone();
                let rule_groups = options.clone();
                let name_of = move |arn: &str| choices.iter().find(|(a, _)| a == arn).map_or_else(|| arn.to_string(), |(_, n)| n.clone());
                Ok::<_, PortalError>(view! {
                    <section class="card">
                        <h2>"Target groups"</h2>
                        {if groups.is_empty() {
                            view! { <EmptyState title="No target groups" body="Create one, then name it in a service's load balancer."/> }.into_any()
                        } else {
                            view! {
                                <table class="table" id="target-groups">
                                    <thead><tr><th>"Name"</th><th>"Team"</th><th>"Health check"</th><th>"Deregistration delay"</th><th>"Services"</th><th>"Listeners"</th></tr></thead>
                                    <tbody>
                                        {groups.into_iter().map(|g| view! {
                                            <tr data-target-group=g.target_group_name.clone()>
                                                <td><code>{g.target_group_name.clone()}</code></td>
                                                <td>{g.team_name.clone().unwrap_or_else(|| "none (admins)".into())}</td>
                                                <td>{format!("GET {} every {} s, healthy after {}", g.config.health_check_path, g.config.health_check_interval_seconds, g.config.healthy_threshold_count)}</td>
                                                <td>{format!("{} s", g.config.deregistration_delay_seconds)}</td>
                                                <td>{g.service_names.join(", ")}</td>
                                                <td>{g.listener_ports.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                    </section>
                    <crate::account::IfAllowed check=|a| a.admin>
                        <NewListener cluster=cluster() groups=options.clone() create=create_listener/>
                    </crate::account::IfAllowed>
                    <section class="card">
                        <h2>"Listeners"</h2>
                        {if listeners.is_empty() {
                            view! { <EmptyState title="No listeners" body="An admin opens a port here; its default action sends requests to a target group."/> }.into_any()
                        } else {
                            view! {
                                <table class="table" id="listeners">
                                    <thead><tr><th>"Port"</th><th>"State"</th><th>"Default"</th><th class="num">"Rules"</th></tr></thead>
                                    <tbody>
                                        {listeners.iter().map(|l| view! {
                                            <tr data-port=l.port.to_string()>
                                                <td>{match l.url.clone() {
                                                    Some(url) => view! { <a class="listener-url" href=url target="_blank" rel="noopener"><code>{l.port}</code></a> }.into_any(),
                                                    None => view! { <code>{l.port}</code> }.into_any(),
                                                }}</td>
                                                <td><StatusBadge status=l.state.clone()/>" "{l.state_reason.clone().unwrap_or_default()}</td>
                                                <td>{l.default_actions.first().and_then(|a| a.target_group_arn.as_deref()).map(&name_of).unwrap_or_else(|| "404".into())}</td>
                                                <td class="num">{l.rules.len()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                    </section>
                    <Rules cluster=cluster() listeners=listeners groups=rule_groups name_of=name_of.clone() create=create_rule delete=delete_rule/>
                })
            })}
        </DataRegion>
    }
}

/// Every listener's rules the caller may read, and the form that adds one (a team's
/// maintainers, to their own target groups).
#[component]
fn Rules(
    cluster: String,
    listeners: Vec<Listener>,
    groups: Vec<(String, String)>,
    name_of: impl Fn(&str) -> String + Clone + Send + Sync + 'static,
    create: ServerAction<CreateRule>,
    delete: ServerAction<DeleteRule>,
) -> impl IntoView {
    let rules: Vec<(i64, wharf_core::load_balancing::ListenerRule)> = listeners.iter().flat_map(|l| l.rules.iter().map(move |r| (l.port, r.clone()))).collect();
    let ports: Vec<i64> = listeners.iter().map(|l| l.port).collect();
    let delete_errors = Signal::derive(move || errors_of(delete.value().get()));
    let cluster_for_delete = cluster.clone();
    view! {
        <section class="card">
            <h2>"Rules"</h2>
            {if rules.is_empty() {
                view! { <EmptyState title="No rules" body="A rule sends a listener's requests for some hosts or paths to a target group; the lowest priority that matches wins."/> }.into_any()
            } else {
                view! {
                    <table class="table" id="rules">
                        <thead><tr><th>"Listener"</th><th class="num">"Priority"</th><th>"Hosts"</th><th>"Paths"</th><th>"Forward to"</th><th>"Team"</th><th></th></tr></thead>
                        <tbody>
                            {rules.into_iter().map(|(port, r)| {
                                let cluster = cluster_for_delete.clone();
                                let priority = r.priority;
                                let any = |v: Vec<String>| if v.is_empty() { "any".to_string() } else { v.join(", ") };
                                view! {
                                    <tr data-rule=format!("{port}/{priority}")>
                                        <td><code>{port}</code></td>
                                        <td class="num">{priority}</td>
                                        <td>{any(r.values("host-header"))}</td>
                                        <td>{any(r.values("path-pattern"))}</td>
                                        <td>{name_of(r.target_group_arn())}</td>
                                        <td>{r.team_name.clone().unwrap_or_else(|| "none (admins)".into())}</td>
                                        <td>
                                            <crate::account::IfAllowed check=|a| a.maintain_anywhere>
                                                <button type="button" class="danger small" aria-label=format!("Delete rule {priority} of listener {port}")
                                                    disabled=move || delete.pending().get()
                                                    on:click={ let cluster = cluster.clone(); move |_| { delete.dispatch(DeleteRule { cluster: cluster.clone(), port, priority }); } }>
                                                    "Delete"
                                                </button>
                                            </crate::account::IfAllowed>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <FieldErrorList errors=delete_errors/>
            {(!ports.is_empty() && !groups.is_empty()).then(|| view! {
                <crate::account::IfAllowed check=|a| a.maintain_anywhere>
                    <h3>"New rule"</h3>
                    <NewRule cluster=cluster.clone() ports=ports.clone() groups=groups.clone() create/>
                </crate::account::IfAllowed>
            })}
        </section>
    }
}

/// Comma- or space-separated patterns.
fn patterns(text: &str) -> Vec<String> {
    text.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

#[component]
fn NewRule(cluster: String, ports: Vec<i64>, groups: Vec<(String, String)>, create: ServerAction<CreateRule>) -> impl IntoView {
    let port = RwSignal::new(ports.first().map(i64::to_string).unwrap_or_default());
    let priority = RwSignal::new(String::new());
    let hosts = RwSignal::new(String::new());
    let paths = RwSignal::new(String::new());
    let group = RwSignal::new(groups.first().map(|g| g.0.clone()).unwrap_or_default());
    let errors = Signal::derive(move || errors_of(create.value().get()));
    view! {
        <form class="form-grid" id="new-rule" on:submit=move |ev| {
            ev.prevent_default();
            let mut conditions = Vec::new();
            for (field, text) in [("host-header", hosts.get_untracked()), ("path-pattern", paths.get_untracked())] {
                let values = patterns(&text);
                if !values.is_empty() {
                    conditions.push(RuleCondition { field: Some(field.into()), values: Some(values) });
                }
            }
            let input = CreateRuleInput {
                priority: priority.get_untracked().trim().parse().ok(),
                conditions: Some(conditions),
                actions: Some(vec![ListenerAction { kind: Some("forward".into()), target_group_arn: Some(group.get_untracked()) }]),
            };
            create.dispatch(CreateRule { cluster: cluster.clone(), port: port.get_untracked().parse().unwrap_or(0), input });
        }>
            <label for="rule-port">"Listener"
                <select id="rule-port" bind:value=port>
                    {ports.into_iter().map(|p| view! { <option value=p.to_string()>{p}</option> }).collect_view()}
                </select>
            </label>
            <label for="rule-priority">"Priority" <input id="rule-priority" type="number" min="1" max="50000" bind:value=priority placeholder="e.g. 10"/></label>
            <label for="rule-hosts">"Hosts" <input id="rule-hosts" bind:value=hosts autocomplete="off" placeholder="shop.example, *.shop.example"/></label>
            <label for="rule-paths">"Paths" <input id="rule-paths" bind:value=paths autocomplete="off" placeholder="/api/*"/></label>
            <label for="rule-group">"Forward to"
                <select id="rule-group" bind:value=group>
                    {groups.into_iter().map(|(arn, name)| view! { <option value=arn>{name}</option> }).collect_view()}
                </select>
            </label>
            <div class="wide">
                <FieldErrorList errors/>
                <button type="submit" class="primary" id="create-rule" disabled=move || create.pending().get()>"Add rule"</button>
            </div>
        </form>
    }
}

#[component]
fn NewTargetGroup(cluster: String, create: ServerAction<CreateTargetGroup>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let path = RwSignal::new("/".to_string());
    let interval = RwSignal::new("5".to_string());
    let healthy = RwSignal::new("2".to_string());
    let delay = RwSignal::new("30".to_string());
    let errors = Signal::derive(move || errors_of(create.value().get()));
    let number = |s: String| s.trim().parse::<i64>().ok();
    view! {
        <section class="card">
            <h2>"New target group"</h2>
            <form class="form-grid" id="new-target-group" on:submit=move |ev| {
                ev.prevent_default();
                let interval = number(interval.get_untracked());
                let input = CreateTargetGroupInput {
                    target_group_name: Some(name.get_untracked().trim().to_string()),
                    settings: TargetGroupSettings {
                        health_check_path: Some(path.get_untracked()),
                        health_check_interval_seconds: interval,
                        // ALB's 5 s timeout would not fit a shorter interval.
                        health_check_timeout_seconds: interval.map(|i| (i - 1).clamp(1, 5)),
                        healthy_threshold_count: number(healthy.get_untracked()),
                        deregistration_delay_seconds: number(delay.get_untracked()),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                create.dispatch(CreateTargetGroup { cluster: cluster.clone(), input });
            }>
                <label for="tg-name">"Name" <input id="tg-name" bind:value=name autocomplete="off" placeholder="e.g. web"/></label>
                <label for="tg-path">"Health check path" <input id="tg-path" bind:value=path/></label>
                <label for="tg-interval">"Check every (s)" <input id="tg-interval" type="number" min="2" max="300" bind:value=interval/></label>
                <label for="tg-healthy">"Healthy after (passes)" <input id="tg-healthy" type="number" min="1" max="10" bind:value=healthy/></label>
                <label for="tg-delay">"Deregistration delay (s)" <input id="tg-delay" type="number" min="0" max="3600" bind:value=delay/></label>
                <div class="wide">
                    <FieldErrorList errors/>
                    <button type="submit" class="primary" id="create-target-group" disabled=move || create.pending().get()>"Create target group"</button>
                </div>
            </form>
        </section>
    }
}

#[component]
fn NewListener(cluster: String, groups: Vec<(String, String)>, create: ServerAction<CreateListener>) -> impl IntoView {
    let port = RwSignal::new(String::new());
    let default = RwSignal::new(groups.first().map(|g| g.0.clone()).unwrap_or_default());
    let errors = Signal::derive(move || errors_of(create.value().get()));
    view! {
        <section class="card">
            <h2>"New listener"</h2>
            <form class="inline-form filters" id="new-listener" on:submit=move |ev| {
                ev.prevent_default();
                let chosen = default.get_untracked();
                let input = CreateListenerInput {
                    port: Some(port.get_untracked().trim().parse().unwrap_or(0)),
                    protocol: None,
                    default_actions: (!chosen.is_empty()).then(|| vec![ListenerAction { kind: Some("forward".into()), target_group_arn: Some(chosen) }]),
                };
                create.dispatch(CreateListener { cluster: cluster.clone(), input });
            }>
                <label for="l-port">"Port"</label>
                <input id="l-port" type="number" min="1" max="65535" bind:value=port placeholder="e.g. 8080"/>
                <label for="l-default">"Forward to"</label>
                <select id="l-default" bind:value=default>
                    <option value="">"nothing (404)"</option>
                    {groups.into_iter().map(|(arn, name)| view! { <option value=arn>{name}</option> }).collect_view()}
                </select>
                <button type="submit" class="primary" id="create-listener" disabled=move || create.pending().get()>"Open listener"</button>
            </form>
            <FieldErrorList errors/>
        </section>
    }
}
