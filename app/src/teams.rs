/*!
Teams and people: an admin creates teams and accounts and shares clusters with teams; a team's
maintainers add and remove its members. Every form goes through the same checked and recorded
commands as the API.
*/

use crate::components::{DataRegion, EmptyState, PageHeader, StatusBadge, short_time, settled};
use crate::error::{FieldErrorList, PortalError, PortalResult, errors_of};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use wharf_core::access::{Role, Subject};
use wharf_core::account::{CreateUserInput, Team, User};

/// The backend's accounts, for the server functions here and in the audit page.
#[cfg(feature = "ssr")]
pub(crate) fn accounts(backend: &crate::backend::SharedBackend) -> PortalResult<&dyn crate::backend::Accounts> {
    backend.accounts().ok_or_else(|| PortalError(wharf_core::WharfError::internal()))
}

#[server(input = Json)]
pub async fn list_teams() -> PortalResult<Vec<Team>> {
    let b = crate::ssr::backend()?;
    Ok(accounts(&b)?.list_teams().await?)
}

#[server(input = Json)]
pub async fn describe_team(team: String) -> PortalResult<Team> {
    let b = crate::ssr::backend()?;
    Ok(accounts(&b)?.describe_team(&team).await?)
}

#[server(input = Json)]
pub async fn create_team(team_name: String) -> PortalResult<Team> {
    let b = crate::ssr::backend()?;
    Ok(accounts(&b)?.create_team(wharf_core::account::CreateTeamInput { team_name }).await?)
}

#[server(input = Json)]
pub async fn set_member(team: String, username: String, role: String) -> PortalResult<Team> {
    let b = crate::ssr::backend()?;
    Ok(accounts(&b)?.set_member(&team, username.trim(), wharf_core::account::SetMemberInput { role }).await?)
}

#[server(input = Json)]
pub async fn remove_member(team: String, username: String) -> PortalResult<Team> {
    let b = crate::ssr::backend()?;
    Ok(accounts(&b)?.remove_member(&team, &username).await?)
}

#[server(input = Json)]
pub async fn share_cluster(cluster: String, team: String, share: bool) -> PortalResult<Vec<String>> {
    let b = crate::ssr::backend()?;
    Ok(accounts(&b)?.share_cluster(&cluster, &team, share).await?)
}

#[server(input = Json)]
pub async fn list_users() -> PortalResult<Vec<User>> {
    let b = crate::ssr::backend()?;
    Ok(accounts(&b)?.list_users().await?)
}

#[server(input = Json)]
pub async fn create_user(input: CreateUserInput) -> PortalResult<User> {
    let b = crate::ssr::backend()?;
    Ok(accounts(&b)?.create_user(input).await?)
}

#[server(input = Json)]
pub async fn set_user_disabled(username: String, disabled: bool) -> PortalResult<User> {
    let input = wharf_core::account::UpdateUserInput { disabled: Some(disabled), password: None };
    let b = crate::ssr::backend()?;
    Ok(accounts(&b)?.update_user(&username, input).await?)
}

/// The signed-in subject, for the pages that decide per team what to offer.
fn use_subject() -> crate::components::Data<PortalResult<Option<Subject>>> {
    crate::components::resource(|| (), |_| crate::account::whoami())
}

fn may_maintain(subject: &Option<Subject>, team: &str) -> bool {
    subject.as_ref().is_some_and(|s| s.admin || s.role_in(team) == Some(Role::Maintainer))
}

#[component]
pub fn TeamsPage() -> impl IntoView {
    let create = ServerAction::<CreateTeam>::new();
    let teams = crate::components::resource(move || create.version().get(), |_| list_teams());
    let name = RwSignal::new(String::new());
    let errors = Signal::derive(move || errors_of(create.value().get()));
    view! {
        <PageHeader title="Teams"/>
        <crate::account::IfAllowed check=|a| a.admin>
            <section class="card">
                <h2>"New team"</h2>
                <form class="inline-form" on:submit=move |ev| {
                    ev.prevent_default();
                    create.dispatch(CreateTeam { team_name: name.get_untracked() });
                }>
                    <input id="team-name" placeholder="Team name, e.g. payments" aria-label="Team name" bind:value=name autocomplete="off" required/>
                    <button type="submit" class="primary" id="create-team" disabled=move || create.pending().get()>"Create team"</button>
                </form>
                <FieldErrorList errors/>
            </section>
        </crate::account::IfAllowed>
        <DataRegion>
            {move || Suspend::new(async move {
                let teams = settled(teams).await?;
                Ok::<_, PortalError>(if teams.is_empty() {
                    view! {
                        <EmptyState title="No teams" body="Teams own task definitions and services. An admin creates a team, adds people to it and shares a cluster with it."/>
                    }.into_any()
                } else {
                    view! { <TeamTable teams/> }.into_any()
                })
            })}
        </DataRegion>
        <crate::account::IfAllowed check=|a| a.admin>
            <People/>
        </crate::account::IfAllowed>
    }
}

#[component]
fn TeamTable(teams: Vec<Team>) -> impl IntoView {
    view! {
        <section class="card">
            <table class="table" id="teams">
                <thead><tr><th>"Team"</th><th>"Members"</th><th>"Clusters"</th><th>"Created"</th></tr></thead>
                <tbody>
                    {teams.into_iter().map(|t| {
                        let members = t.members.iter().map(|m| format!("{} ({})", m.username, m.role.as_str())).collect::<Vec<_>>().join(", ");
                        view! {
                            <tr>
                                <td><A href=format!("/teams/{}", t.team_name)>{t.team_name.clone()}</A></td>
                                <td>{if members.is_empty() { "none yet".to_string() } else { members }}</td>
                                <td>{if t.clusters.is_empty() { "none".to_string() } else { t.clusters.join(", ") }}</td>
                                <td>{short_time(&t.created_at)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// Accounts, for an admin: create one, disable or enable it.
#[component]
fn People() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let users = crate::components::resource(move || (create.version().get(), disable.version().get()), |_| list_users());
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let admin = RwSignal::new(false);
    let errors = Signal::derive(move || {
        let mut e = errors_of(create.value().get());
        e.extend(errors_of(disable.value().get()));
        e
    });
    view! {
        <section class="card" id="people">
            <h2>"People"</h2>
            <form class="inline-form" on:submit=move |ev| {
                ev.prevent_default();
                let input = CreateUserInput { username: username.get_untracked(), password: password.get_untracked(), admin: admin.get_untracked() };
                create.dispatch(CreateUser { input });
                password.set(String::new());
            }>
                <input id="user-name" placeholder="Username" aria-label="Username" bind:value=username autocomplete="off" required/>
                <input id="user-password" type="password" placeholder="First password (10+ characters)" aria-label="First password" bind:value=password autocomplete="new-password" required/>
                <crate::components::Checkbox id="user-admin" checked=admin label="Admin"/>
                <button type="submit" class="primary" id="create-user" disabled=move || create.pending().get()>"Add person"</button>
            </form>
            <FieldErrorList errors/>
            <DataRegion>
                {move || Suspend::new(async move {
                    let users = settled(users).await?;
                    Ok::<_, PortalError>(view! {
                        <table class="table" id="users">
                            <thead><tr><th>"Username"</th><th>"Teams"</th><th>"Status"</th><th>"Created"</th><th></th></tr></thead>
                            <tbody>
                                {users.into_iter().map(|u| {
                                    let teams = if u.admin { "admin".to_string() } else {
                                        u.teams.iter().map(|m| format!("{} ({})", m.team, m.role.as_str())).collect::<Vec<_>>().join(", ")
                                    };
                                    let name = u.username.clone();
                                    let disabled = u.disabled;
                                    view! {
                                        <tr>
                                            <td>{u.username.clone()}</td>
                                            <td>{teams}</td>
                                            <td><StatusBadge status=if disabled { "DISABLED" } else { "ACTIVE" }/></td>
                                            <td>{short_time(&u.created_at)}</td>
                                            <td>
                                                <button class=if disabled { "" } else { "danger" } on:click=move |_| {
                                                    disable.dispatch(SetUserDisabled { username: name.clone(), disabled: !disabled });
                                                }>{if disabled { "Enable" } else { "Disable" }}</button>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    })
                })}
            </DataRegion>
        </section>
    }
}

#[component]
pub fn TeamPage() -> impl IntoView {
    let params = use_params_map();
    let team = move || params.read().get("team").unwrap_or_default();
    let set = ServerAction::<SetMember>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let share = ServerAction::<ShareCluster>::new();
    let subject = use_subject();
    let detail = crate::components::resource(
        move || (team(), set.version().get(), remove.version().get(), share.version().get()),
        |(t, _, _, _)| describe_team(t),
    );
    let clusters = crate::components::resource(|| (), |_| crate::clusters::list_clusters());
    let username = RwSignal::new(String::new());
    let role = RwSignal::new("deployer".to_string());
    let cluster = RwSignal::new(String::new());
    let errors = Signal::derive(move || {
        let mut e = errors_of(set.value().get());
        e.extend(errors_of(remove.value().get()));
        e.extend(errors_of(share.value().get()));
        e
    });
    view! {
        <PageHeader title=Signal::derive(team) crumbs=vec![("/teams".into(), "Teams".into())]/>
        <DataRegion>
            {move || Suspend::new(async move {
                let t = settled(detail).await?;
                let me = settled(subject).await.ok().flatten();
                let maintain = may_maintain(&me, &t.team_name);
                let admin = me.as_ref().is_some_and(|s| s.admin);
                let shared = t.clusters.clone();
                let offered: Vec<String> = settled(clusters).await.unwrap_or_default().into_iter().map(|c| c.cluster_name).filter(|c| !shared.contains(c)).collect();
                Ok::<_, PortalError>(view! {
                    <section class="card">
                        <h2>"Members"</h2>
                        {if t.members.is_empty() {
                            view! { <p class="muted">"No members yet."</p> }.into_any()
                        } else {
                            view! {
                                <table class="table" id="members">
                                    <thead><tr><th>"Username"</th><th>"Role"</th><th></th></tr></thead>
                                    <tbody>
                                        {t.members.iter().map(|m| {
                                            let who = m.username.clone();
                                            view! {
                                                <tr>
                                                    <td>{m.username.clone()}</td>
                                                    <td>{m.role.as_str()}</td>
                                                    <td>{maintain.then(|| view! {
                                                        <button class="danger" on:click=move |_| {
                                                            remove.dispatch(RemoveMember { team: team(), username: who.clone() });
                                                        }>"Remove"</button>
                                                    })}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                        {maintain.then(|| view! {
                            <form class="inline-form" id="add-member" on:submit=move |ev| {
                                ev.prevent_default();
                                set.dispatch(SetMember { team: team(), username: username.get_untracked(), role: role.get_untracked() });
                            }>
                                <input id="member-name" placeholder="Username" aria-label="Username" bind:value=username autocomplete="off" required/>
                                <select id="member-role" aria-label="Role" bind:value=role>
                                    {Role::ALL.iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
                                </select>
                                <button type="submit" class="primary" id="set-member">"Add or change role"</button>
                            </form>
                            <p class="hint">"Viewers read; deployers register revisions, deploy and run tasks; maintainers also create and delete services and manage members."</p>
                        })}
                    </section>
                    <section class="card">
                        <h2>"Clusters shared with this team"</h2>
                        {if shared.is_empty() {
                            view! { <p class="muted">"None yet: the team can run nothing until an admin shares a cluster with it."</p> }.into_any()
                        } else {
                            view! {
                                <ul class="plain-list" id="team-clusters">
                                    {shared.into_iter().map(|c| {
                                        let name = c.clone();
                                        view! {
                                            <li>
                                                <A href=format!("/clusters/{c}")>{c}</A>
                                                {admin.then(|| view! {
                                                    " "
                                                    <button on:click=move |_| {
                                                        share.dispatch(ShareCluster { cluster: name.clone(), team: team(), share: false });
                                                    }>"Stop sharing"</button>
                                                })}
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                        {(admin && !offered.is_empty()).then(|| view! {
                            <form class="inline-form" id="share-cluster" on:submit=move |ev| {
                                ev.prevent_default();
                                share.dispatch(ShareCluster { cluster: cluster.get_untracked(), team: team(), share: true });
                                cluster.set(String::new());
                            }>
                                <select id="share-cluster-name" aria-label="Cluster" bind:value=cluster required>
                                    <option value="">"Choose a cluster"</option>
                                    {offered.iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
                                </select>
                                <button type="submit" class="primary" id="share">"Share cluster"</button>
                            </form>
                        })}
                    </section>
                })
            })}
        </DataRegion>
        <FieldErrorList errors/>
    }
}
