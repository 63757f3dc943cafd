/*! Services: the table a cluster shows, the create form, and a service's page. */

use crate::components::{Checkbox, DataRegion, PageHeader, StatusBadge, short_time, settled};
use crate::error::{FieldErrorList, PortalError, PortalResult, errors_of};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use wharf_core::service::{
    CircuitBreaker, CreateServiceInput, DeploymentConfiguration, PlacementStrategy, SchedulingStrategy, Service,
    UpdateServiceInput,
};
use wharf_core::load_balancing::ServiceLoadBalancer;
use wharf_core::task_definition::PlacementConstraint;

#[server(input = Json)]
pub async fn active_revisions() -> PortalResult<Vec<String>> {
    let page = wharf_core::page::Page { limit: wharf_core::page::LIMIT_MAX_RESULTS, after: None };
    let filter = crate::backend::RevisionFilter { status: Some(wharf_core::task_definition::TaskDefinitionStatus::Active), ..Default::default() };
    let mut names: Vec<(String, i64)> = crate::ssr::backend()?
        .list_task_definitions(filter, page)
        .await?
        .items
        .iter()
        .map(|td| (td.family().to_string(), td.revision))
        .collect();
    // Newest revision of each family first.
    names.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    Ok(names.into_iter().map(|(f, r)| format!("{f}:{r}")).collect())
}

#[server(input = Json)]
pub async fn create_service(cluster: String, input: CreateServiceInput) -> PortalResult<Service> {
    Ok(crate::ssr::backend()?.create_service(&cluster, input).await?)
}

#[server(input = Json)]
pub async fn get_service(cluster: String, name: String) -> PortalResult<Service> {
    Ok(crate::ssr::backend()?.describe_service(&cluster, &name).await?)
}

#[server(input = Json)]
pub async fn update_service(cluster: String, name: String, input: UpdateServiceInput) -> PortalResult<Service> {
    Ok(crate::ssr::backend()?.update_service(&cluster, &name, input).await?)
}

#[server(input = Json)]
pub async fn delete_service(cluster: String, name: String, force: bool) -> PortalResult<Service> {
    Ok(crate::ssr::backend()?.delete_service(&cluster, &name, force).await?)
}

/// A page of the tasks a service wants (desired RUNNING), after `after` (a page token).
#[server(input = Json)]
pub async fn service_tasks(cluster: String, name: String, after: Option<String>) -> PortalResult<wharf_core::page::Paged<wharf_core::task::Task>> {
    let filter = crate::backend::TaskFilter { service_name: Some(name), desired_status: Some("RUNNING".into()), ..Default::default() };
    let after = after.map(|t| wharf_core::page::decode_token(&t).ok_or_else(|| wharf_core::WharfError::invalid_field("after", "not a page token")));
    let page = wharf_core::page::Page { limit: crate::components::PAGE_ROWS, after: after.transpose()? };
    Ok(crate::ssr::backend()?.list_tasks(&cluster, filter, page).await?)
}

#[component]
pub fn ServiceTable(cluster: String, services: Vec<Service>) -> impl IntoView {
    view! {
        <table class="table" id="services">
            <thead>
                <tr>
                    <th>"Service"</th>
                    <th>"Status"</th>
                    <th>"Task definition"</th>
                    <th class="num">"Desired"</th>
                    <th class="num">"Running"</th>
                    <th class="num">"Pending"</th>
                    <th>"Deployment"</th>
                </tr>
            </thead>
            <tbody>
                {services
                    .into_iter()
                    .map(|s| {
                        let rollout = s
                            .deployments
                            .iter()
                            .find(|d| d.status == "PRIMARY")
                            .map(|d| d.rollout_state.clone())
                            .unwrap_or_default();
                        let desired = match s.config.scheduling_strategy {
                            SchedulingStrategy::Daemon => "daemon".to_string(),
                            SchedulingStrategy::Replica => s.config.desired_count.to_string(),
                        };
                        view! {
                            <tr>
                                <td class="name">
                                    <A href=format!("/clusters/{cluster}/services/{}", s.service_name)>{s.service_name.clone()}</A>
                                </td>
                                <td><StatusBadge status=s.status.clone()/></td>
                                <td><code>{s.config.task_definition.clone()}</code></td>
                                <td class="num">{desired}</td>
                                <td class="num">{s.running_count}</td>
                                <td class="num">{s.pending_count}</td>
                                <td><StatusBadge status=rollout/></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// Placement presets offered by the form; the API takes any ECS strategy list.
pub(crate) const STRATEGIES: [(&str, &str); 5] = [
    ("", "Spread across zones, then instances (ECS default)"),
    ("binpack:memory", "Binpack on memory (fewest hosts)"),
    ("binpack:cpu", "Binpack on CPU"),
    ("spread:instanceId", "Spread across instances"),
    ("random", "Random"),
];

/// Strategies written out, ECS console style: `spread(attribute:ecs.availability-zone),
/// binpack(memory)`. Unknown types and fields are passed on for the server to name.
pub(crate) fn parse_strategies(text: &str) -> Option<Vec<PlacementStrategy>> {
    let list: Vec<PlacementStrategy> = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('(') {
            Some((kind, rest)) => PlacementStrategy {
                kind: Some(kind.trim().to_string()),
                field: Some(rest.trim_end_matches(')').trim().to_string()).filter(|f| !f.is_empty()),
            },
            None => PlacementStrategy { kind: Some(item.to_string()), field: None },
        })
        .collect();
    (!list.is_empty()).then_some(list)
}

/// The custom list when one is written, else the preset.
pub(crate) fn chosen_strategies(preset: &str, custom: &str) -> Option<Vec<PlacementStrategy>> {
    parse_strategies(custom).or_else(|| strategy_list(preset))
}

pub(crate) fn strategy_list(preset: &str) -> Option<Vec<PlacementStrategy>> {
    let (kind, field) = match preset.split_once(':') {
        Some((k, f)) => (k, Some(f.to_string())),
        None if preset.is_empty() => return None,
        None => (preset, None),
    };
    Some(vec![PlacementStrategy { kind: Some(kind.to_string()), field }])
}

/// The constraints a placement form asks for: distinctInstance and one memberOf expression.
pub(crate) fn constraints_of(distinct: bool, expression: &str) -> Option<Vec<PlacementConstraint>> {
    let mut constraints = Vec::new();
    if distinct {
        constraints.push(PlacementConstraint { kind: Some("distinctInstance".into()), expression: None });
    }
    if !expression.trim().is_empty() {
        constraints.push(PlacementConstraint { kind: Some("memberOf".into()), expression: Some(expression.to_string()) });
    }
    Some(constraints).filter(|c| !c.is_empty())
}

/// The strategy preset and the memberOf expression, checked as it is typed (the message
/// points at the offending character). `ids` name the two inputs.
#[component]
pub(crate) fn PlacementInputs(
    ids: (&'static str, &'static str),
    strategy: RwSignal<String>,
    /// A written-out list of up to five strategies; overrides the preset when set.
    custom: RwSignal<String>,
    expression: RwSignal<String>,
    #[prop(optional, into)] hide_strategy: Signal<bool>,
) -> impl IntoView {
    let error = Memo::new(move |_| {
        let e = expression.get();
        if e.trim().is_empty() { None } else { wharf_core::expr::parse(&e).err().map(|err| err.to_string()) }
    });
    view! {
        <Show when=move || !hide_strategy.get()>
            <label for=ids.0>
                "Placement strategy"
                <select id=ids.0 bind:value=strategy disabled=move || !custom.get().trim().is_empty()>
                    {STRATEGIES.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
            </label>
            <label for=format!("{}-list", ids.0)>
                "Or a list, applied in order (up to five)"
                <input
                    id=format!("{}-list", ids.0)
                    bind:value=custom
                    autocomplete="off"
                    placeholder="spread(attribute:ecs.availability-zone), binpack(memory)"
                />
            </label>
        </Show>
        <label for=ids.1 class="wide">
            "Placement constraint (memberOf expression, optional)"
            <input id=ids.1 bind:value=expression autocomplete="off" placeholder="attribute:ecs.availability-zone in [a, b]"/>
            {move || error.get().map(|e| view! { <small class="bad">{e}</small> })}
        </label>
    }
}

/// A select of ACTIVE revisions. Starts on `value` when set (kept even if no longer ACTIVE),
/// else on the newest revision of the first family.
#[component]
pub(crate) fn RevisionSelect(id: &'static str, value: RwSignal<String>, revisions: crate::components::Data<PortalResult<Vec<String>>>) -> impl IntoView {
    view! {
        <Transition fallback=|| view! { <select disabled=true><option>"Loading…"</option></select> }>
            {move || Suspend::new(async move {
                let mut names = settled(revisions).await.unwrap_or_default();
                let current = value.get_untracked();
                if current.is_empty() {
                    if let Some(first) = names.first() {
                        value.set(first.clone());
                    }
                } else if !names.contains(&current) {
                    names.insert(0, current);
                }
                let empty = names.is_empty();
                view! {
                    <select id=id bind:value=value>
                        {names.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                    </select>
                    {empty.then(|| view! {
                        <small class="bad">"No ACTIVE task definitions. " <A href="/task-definitions/new">"Register one first."</A></small>
                    })}
                }
            })}
        </Transition>
    }
}

#[component]
pub fn NewServicePage() -> impl IntoView {
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let revisions = crate::components::resource(|| (), |_| active_revisions());
    let name = RwSignal::new(String::new());
    let task_definition = RwSignal::new(String::new());
    let scheduling = RwSignal::new("REPLICA".to_string());
    let desired = RwSignal::new("1".to_string());
    let min_healthy = RwSignal::new(String::new());
    let max_percent = RwSignal::new(String::new());
    let strategy = RwSignal::new(String::new());
    let custom = RwSignal::new(String::new());
    let distinct = RwSignal::new(false);
    let expression = RwSignal::new(String::new());
    let breaker = RwSignal::new(false);
    let rollback = RwSignal::new(false);
    let (target_group, lb_container, lb_port) = (RwSignal::new(String::new()), RwSignal::new(String::new()), RwSignal::new(String::new()));
    let create = ServerAction::<CreateService>::new();
    let errors = Signal::derive(move || errors_of(create.value().get()));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(service)) = create.value().get() {
            navigate(&format!("/clusters/{}/services/{}", cluster(), service.service_name), Default::default());
        }
    });
    let daemon = move || scheduling.get() == "DAEMON";
    let number = |s: String| s.trim().parse::<i64>().ok();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let is_daemon = scheduling.get_untracked() == "DAEMON";
        let input = CreateServiceInput {
            service_name: Some(name.get_untracked().trim().to_string()),
            task_definition: Some(task_definition.get_untracked()).filter(|t| !t.is_empty()),
            desired_count: if is_daemon { None } else { number(desired.get_untracked()).or(Some(-1)) },
            scheduling_strategy: Some(if is_daemon { SchedulingStrategy::Daemon } else { SchedulingStrategy::Replica }),
            deployment_configuration: Some(DeploymentConfiguration {
                minimum_healthy_percent: number(min_healthy.get_untracked()),
                maximum_percent: number(max_percent.get_untracked()),
                deployment_circuit_breaker: Some(CircuitBreaker { enable: breaker.get_untracked(), rollback: rollback.get_untracked() }),
                ..Default::default()
            }),
            placement_strategy: if is_daemon { None } else { chosen_strategies(&strategy.get_untracked(), &custom.get_untracked()) },
            placement_constraints: constraints_of(distinct.get_untracked(), &expression.get_untracked()),
            load_balancers: crate::balancing::chosen_load_balancers(&target_group.get_untracked(), &lb_container.get_untracked(), &lb_port.get_untracked()),
            ..Default::default()
        };
        create.dispatch(CreateService { cluster: cluster(), input });
    };
    view! {
        <PageHeader
            title="Create service".to_string()
            crumbs=vec![("/clusters".into(), "Clusters".into()), (format!("/clusters/{}", cluster()), cluster())]
        />
        <form class="card form-grid" on:submit=submit id="create-service">
            <label for="s-name">
                "Service name"
                <input id="s-name" bind:value=name autocomplete="off" placeholder="e.g. web"/>
            </label>
            <label for="s-td">
                "Task definition"
                <RevisionSelect id="s-td" value=task_definition revisions/>
            </label>
            <label for="s-scheduling">
                "Scheduling strategy"
                <select id="s-scheduling" bind:value=scheduling>
                    <option value="REPLICA">"REPLICA — keep a number of tasks"</option>
                    <option value="DAEMON">"DAEMON — one task on every instance"</option>
                </select>
            </label>
            <Show when=move || !daemon()>
                <label for="s-desired">
                    "Desired tasks"
                    <input id="s-desired" type="number" min="0" bind:value=desired/>
                </label>
            </Show>
            <label for="s-min">
                "Minimum healthy percent"
                <input id="s-min" type="number" min="0" max="100" bind:value=min_healthy placeholder=move || if daemon() { "0" } else { "100" }/>
                <small>"during a deployment, keep at least this share of tasks healthy"</small>
            </label>
            <label for="s-max">
                "Maximum percent"
                <input id="s-max" type="number" min="100" bind:value=max_percent placeholder=move || if daemon() { "100" } else { "200" }/>
                <small>"during a deployment, run at most this share of tasks"</small>
            </label>
            <PlacementInputs ids=("s-strategy", "s-expr") strategy custom expression hide_strategy=Signal::derive(daemon)/>
            <Checkbox id="s-distinct" checked=distinct label="Run each task on a different instance (distinctInstance)"/>
            <Checkbox id="s-breaker" checked=breaker label="Deployment circuit breaker"/>
            <Checkbox id="s-rollback" checked=rollback label="Roll back when the circuit breaker trips"/>
            <crate::balancing::LoadBalancerInputs cluster=cluster() target_group container=lb_container port=lb_port/>
            <div class="wide">
                <FieldErrorList errors/>
                <button type="submit" class="primary" id="create" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create service" }}
                </button>
            </div>
        </form>
    }
}

#[component]
pub fn ServicePage() -> impl IntoView {
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let name = move || params.read().get("service").unwrap_or_default();
    // Live: the page re-reads the service when the cluster's feed says something changed.
    let live = crate::live::use_live(cluster);
    let version = live.version;
    let after = crate::components::use_page_cursor();
    // The service and its tasks as one value: a view awaiting two resources that a live change
    // refetches together can render the first one's older value beside the second one's newer.
    let service = crate::components::resource(
        move || (cluster(), name(), after.get(), live.version.get()),
        |(c, n, a, ..)| async move { Ok::<_, PortalError>((get_service(c.clone(), n.clone()).await?, service_tasks(c, n, a).await?)) },
    );
    view! {
        <PageHeader
            title=Signal::derive(name)
            crumbs=vec![("/clusters".into(), "Clusters".into()), (format!("/clusters/{}", cluster()), cluster())]
        >
            <crate::live::LiveBadge live/>
        </PageHeader>
        <DataRegion>
            {move || Suspend::new(async move {
                let (s, page) = settled(service).await?;
                let later = after.get_untracked().is_some();
                let wanted = page.items;
                let cluster_name = cluster();
                let pending = s.pending_reason.clone();
                let cfg = s.config.clone();
                let dc = cfg.deployment_configuration.clone();
                let strategy = if cfg.placement_strategy.is_empty() {
                    "spread(attribute:ecs.availability-zone), spread(instanceId) — default".to_string()
                } else {
                    cfg.placement_strategy
                        .iter()
                        .map(|p| format!("{}({})", p.kind.clone().unwrap_or_default(), p.field.clone().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let constraints = cfg
                    .placement_constraints
                    .iter()
                    .map(|c| match &c.expression {
                        Some(e) => format!("{} {e}", c.kind.clone().unwrap_or_default()),
                        None => c.kind.clone().unwrap_or_default(),
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let breaker = dc.deployment_circuit_breaker.clone().unwrap_or_default();
                let td_link = cfg.task_definition.replace(':', "/");
                let td_name = cfg.task_definition.clone();
                // Only a service with load balancers has a card for them (read once it is shown).
                let balanced = (!cfg.load_balancers.is_empty()).then(|| view! {
                    <crate::balancing::ServiceBalancingCard cluster=cluster_name.clone() service=s.service_name.clone() version/>
                });
                let scaling = (cfg.scheduling_strategy == wharf_core::service::SchedulingStrategy::Replica && s.status == "ACTIVE").then(|| view! {
                    <crate::scaling::ServiceScalingCard cluster=cluster_name.clone() service=s.service_name.clone()
                        family=wharf_core::task_definition::family_of(&cfg.task_definition).to_string() version/>
                });
                let load = view! { <crate::scaling::ServiceLoadChart cluster=cluster_name.clone() service=s.service_name.clone() version/> };
                let live = s.status == "ACTIVE";
                Ok::<_, PortalError>(view! {
                    <section class="card">
                        <dl class="facts" id="service-config">
                            <dt>"Status"</dt><dd><StatusBadge status=s.status.clone()/></dd>
                            <dt>"Task definition"</dt>
                            <dd><A href=format!("/task-definitions/{td_link}")>{td_name}</A></dd>
                            <dt>"Scheduling"</dt><dd>{cfg.scheduling_strategy.as_str()}</dd>
                            <dt>"Desired / running / pending"</dt>
                            <dd>{format!("{} / {} / {}", cfg.desired_count, s.running_count, s.pending_count)}</dd>
                            <dt>"Deployment"</dt>
                            <dd>{format!("minimum healthy {}%, maximum {}%", cfg.minimum_healthy_percent(), cfg.maximum_percent())}</dd>
                            <dt>"Circuit breaker"</dt>
                            <dd>{match (breaker.enable, breaker.rollback) { (false, _) => "off", (true, false) => "on", (true, true) => "on, with rollback" }}</dd>
                            <dt>"Placement strategy"</dt><dd>{strategy}</dd>
                            <dt>"Placement constraints"</dt><dd>{if constraints.is_empty() { "none".to_string() } else { constraints }}</dd>
                            <dt>"Created"</dt><dd>{short_time(&s.created_at)}</dd>
                        </dl>
                        {live.then(|| {
                            let family = Signal::stored(Some(wharf_core::task_definition::family_of(&s.config.task_definition).to_string()));
                            let href = format!("/clusters/{cluster_name}/services/{}/update", s.service_name);
                            view! {
                                <crate::account::IfAllowed family check=|a| a.deploy>
                                    <div class="actions">
                                        <A href=href.clone() attr:class="button primary" attr:id="open-update">"Update service"</A>
                                    </div>
                                </crate::account::IfAllowed>
                            }
                        })}
                    </section>
                    {pending.map(|reason| view! {
                        <section class="card notice notice-error" id="pending-reason" role="status">
                            <h2>"Why tasks are pending"</h2>
                            <p>{format!("The service {reason}")}</p>
                        </section>
                    })}
                    <section class="card">
                        <h2>"Deployments"</h2>
                        <table class="table" id="deployments">
                            <thead>
                                <tr>
                                    <th>"Deployment"</th><th>"Status"</th><th>"Task definition"</th>
                                    <th class="num">"Desired"</th><th class="num">"Running"</th><th class="num">"Pending"</th>
                                    <th class="num">"Failed"</th><th>"Rollout"</th><th>"Updated"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {s.deployments.iter().map(|d| view! {
                                    <tr>
                                        <td><code>{d.id.clone()}</code></td>
                                        <td><StatusBadge status=d.status.clone()/></td>
                                        <td><code>{d.task_definition.clone()}</code></td>
                                        <td class="num">{d.desired_count}</td>
                                        <td class="num">{d.running_count}
                                            <crate::components::Progress value=d.running_count max=d.desired_count label=format!("deployment {} running", d.id)/></td>
                                        <td class="num">{d.pending_count}</td>
                                        <td class="num">{d.failed_tasks}</td>
                                        <td><StatusBadge status=d.rollout_state.clone()/></td>
                                        <td>{short_time(&d.updated_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </section>
                    <section class="card">
                        <h2>{format!("Tasks ({} running, {} pending)", s.running_count, s.pending_count)}</h2>
                        {if wanted.is_empty() && !later {
                            view! { <p class="muted">"No tasks yet."</p> }.into_any()
                        } else {
                            view! {
                                <crate::tasks::TaskTable cluster=cluster_name tasks=wanted/>
                                <crate::components::Pager next=page.next_token on_later_page=later what="tasks"/>
                            }
                            .into_any()
                        }}
                    </section>
                    {load}
                    {scaling}
                    {balanced}
                    <section class="card">
                        <h2>"Events"</h2>
                        <ul class="events" id="events">
                            {s.events.iter().map(|e| view! {
                                <li><time>{short_time(&e.created_at)}</time>" "{e.message.clone()}</li>
                            }).collect_view()}
                        </ul>
                    </section>
                })
            })}
        </DataRegion>
    }
}

/// "Update service" as a page of its own, as in ECS's console: desired count, revision, load
/// balancer, a new deployment, or deleting the service. Saving goes back to the service, where the deployment shows.
#[component]
pub fn UpdateServicePage() -> impl IntoView {
    let params = use_params_map();
    let cluster = move || params.read().get("cluster").unwrap_or_default();
    let name = move || params.read().get("service").unwrap_or_default();
    let update = ServerAction::<UpdateService>::new();
    let delete = ServerAction::<DeleteService>::new();
    let revisions = crate::components::resource(|| (), |_| active_revisions());
    // Read once: what someone is typing is not replaced by a change made elsewhere meanwhile.
    let service = crate::components::resource(move || (cluster(), name()), |(c, n)| get_service(c, n));
    let groups = crate::components::resource(cluster, crate::balancing::target_group_choices);
    let navigate = use_navigate();
    // Replacing the form in the history: going back does not offer the saved form again.
    Effect::new(move |_| {
        let replace = leptos_router::NavigateOptions { replace: true, ..Default::default() };
        if let Some(Ok(_)) = delete.value().get() {
            navigate(&format!("/clusters/{}", cluster()), replace);
        } else if let Some(Ok(_)) = update.value().get() {
            navigate(&format!("/clusters/{}/services/{}", cluster(), name()), replace);
        }
    });
    let update_errors = Signal::derive(move || errors_of(update.value().get()));
    let delete_errors = Signal::derive(move || errors_of(delete.value().get()));
    view! {
        <PageHeader
            title=Signal::derive(move || format!("Update {}", name()))
            crumbs=vec![
                ("/clusters".into(), "Clusters".into()),
                (format!("/clusters/{}", cluster()), cluster()),
                (format!("/clusters/{}/services/{}", cluster(), name()), name()),
            ]
        />
        <DataRegion>
            {move || Suspend::new(async move {
                let s = settled(service).await?;
                // Without the list the form keeps the service's load balancer as it is.
                let groups = settled(groups).await.unwrap_or_default();
                if s.status != "ACTIVE" {
                    let status = s.status.clone();
                    return Ok(view! { <p class="notice" id="not-active">{format!("This service is {status}: it can no longer be updated.")}</p> }.into_any());
                }
                let family = Signal::stored(Some(wharf_core::task_definition::family_of(&s.config.task_definition).to_string()));
                Ok::<_, PortalError>(view! {
                    <crate::account::IfAllowed
                        family
                        check=|a| a.deploy
                        fallback=|| view! { <p class="notice" id="not-allowed">"Updating this service needs the deployer or maintainer role in its team."</p> }
                    >
                        <UpdateForm service=s.clone() groups=groups.clone() revisions update delete/>
                    </crate::account::IfAllowed>
                }.into_any())
            })}
        </DataRegion>
        <FieldErrorList errors=update_errors/>
        <FieldErrorList errors=delete_errors/>
    }
}

#[component]
fn UpdateForm(service: Service, groups: Vec<(String, String)>, revisions: crate::components::Data<PortalResult<Vec<String>>>, update: ServerAction<UpdateService>, delete: ServerAction<DeleteService>) -> impl IntoView {
    let cluster = service.cluster_arn.rsplit('/').next().unwrap_or_default().to_string();
    let name = service.service_name.clone();
    let replica = service.config.scheduling_strategy == SchedulingStrategy::Replica;
    let desired = RwSignal::new(service.config.desired_count.to_string());
    let revision = RwSignal::new(service.config.task_definition.clone());
    let force = RwSignal::new(false);
    let force_delete = RwSignal::new(false);
    let balanced = service.config.load_balancers.first();
    let target_group = RwSignal::new(balanced.and_then(|l| l.target_group_arn.clone()).unwrap_or_default());
    let lb_container = RwSignal::new(balanced.and_then(|l| l.container_name.clone()).unwrap_or_default());
    let lb_port = RwSignal::new(balanced.and_then(|l| l.container_port).map(|p| p.to_string()).unwrap_or_default());
    let (c1, n1, current) = (cluster.clone(), name.clone(), service.config.clone());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let desired_count = desired.get_untracked().trim().parse::<i64>().ok();
        let rev = revision.get_untracked();
        let input = UpdateServiceInput {
            desired_count: desired_count.filter(|d| replica && *d != current.desired_count),
            task_definition: Some(rev.clone()).filter(|r| *r != current.task_definition && !r.is_empty()),
            force_new_deployment: Some(force.get_untracked()),
            load_balancers: edited_load_balancers(
                &current.load_balancers,
                crate::balancing::chosen_load_balancers(&target_group.get_untracked(), &lb_container.get_untracked(), &lb_port.get_untracked()),
            ),
            ..Default::default()
        };
        update.dispatch(UpdateService { cluster: c1.clone(), name: n1.clone(), input });
    };
    let (c2, n2) = (cluster.clone(), name);
    view! {
        <section class="card">
            <form class="form-grid" on:submit=submit id="update-service">
                {replica.then(|| view! {
                    <label for="u-desired">"Desired tasks"<input id="u-desired" type="number" min="0" bind:value=desired/></label>
                })}
                <label for="u-td">
                    "Task definition"
                    <RevisionSelect id="u-td" value=revision revisions/>
                </label>
                <crate::balancing::LoadBalancerFields groups target_group container=lb_container port=lb_port/>
                <Checkbox id="u-force" checked=force label="Force a new deployment (restart every task on the same revision)"/>
                <div class="wide">
                    <button type="submit" class="primary" disabled=move || update.pending().get()>"Update service"</button>
                </div>
            </form>
            <div class="danger-zone">
                <Checkbox id="d-force" checked=force_delete label="Delete even though tasks are wanted (they are stopped)"/>
                <button
                    class="danger"
                    on:click=move |_| {
                        delete.dispatch(DeleteService { cluster: c2.clone(), name: n2.clone(), force: force_delete.get_untracked() });
                    }
                >
                    "Delete service"
                </button>
            </div>
        </section>
    }
}

/// The service's load balancers after the form: its fields stand for the first one, and the
/// others (set through the API) stay. None when the fields did not change it.
fn edited_load_balancers(current: &[ServiceLoadBalancer], chosen: Option<Vec<ServiceLoadBalancer>>) -> Option<Vec<ServiceLoadBalancer>> {
    let rest = current.iter().skip(1).cloned();
    let next: Vec<ServiceLoadBalancer> = chosen.unwrap_or_default().into_iter().chain(rest).collect();
    (next != current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_form_changes_only_the_load_balancer_it_shows() {
        let lb = |tg: &str| ServiceLoadBalancer { target_group_arn: Some(tg.into()), container_name: Some("web".into()), container_port: Some(80), load_balancer_name: None };
        let current = vec![lb("a"), lb("b")];
        assert_eq!(edited_load_balancers(&current, Some(vec![lb("a")])), None, "unchanged");
        assert_eq!(edited_load_balancers(&current, Some(vec![lb("c")])), Some(vec![lb("c"), lb("b")]));
        assert_eq!(edited_load_balancers(&current, None), Some(vec![lb("b")]), "the first taken away");
        assert_eq!(edited_load_balancers(&[], None), None);
    }

    #[test]
    fn a_written_strategy_list_reads_like_the_ecs_console() {
        let list = chosen_strategies("random", "spread(attribute:ecs.availability-zone), binpack(memory),random").unwrap();
        let shown: Vec<(Option<String>, Option<String>)> = list.into_iter().map(|s| (s.kind, s.field)).collect();
        assert_eq!(
            shown,
            vec![
                (Some("spread".into()), Some("attribute:ecs.availability-zone".into())),
                (Some("binpack".into()), Some("memory".into())),
                (Some("random".into()), None),
            ]
        );
        assert_eq!(chosen_strategies("binpack:cpu", "  ").unwrap()[0].field.as_deref(), Some("cpu"));
        assert!(chosen_strategies("", "").is_none());
    }
}
