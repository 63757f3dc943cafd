/*!
Secrets: a team's maintainers keep values here that their tasks receive as environment
variables. A value is typed once and never shown again, not even to its owner; a new one
replaces it.
*/

use crate::components::{DataRegion, EmptyState, PageHeader, short_time, settled};
use crate::error::{FieldErrorList, PortalError, PortalResult, errors_of};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use wharf_core::access::Role;
use wharf_core::secret::{CreateSecretInput, Secret};

#[cfg(feature = "ssr")]
fn secrets(backend: &crate::backend::SharedBackend) -> PortalResult<&dyn crate::backend::Secrets> {
    backend.secrets().ok_or_else(|| PortalError(wharf_core::WharfError::internal()))
}

#[server(input = Json)]
pub async fn list_secrets() -> PortalResult<Vec<Secret>> {
    let b = crate::ssr::backend()?;
    Ok(secrets(&b)?.list_secrets().await?)
}

#[server(input = Json)]
pub async fn create_secret(input: CreateSecretInput) -> PortalResult<Secret> {
    let b = crate::ssr::backend()?;
    Ok(secrets(&b)?.create_secret(input).await?)
}

#[server(input = Json)]
pub async fn put_secret_value(name: String, secret_string: String) -> PortalResult<Secret> {
    let b = crate::ssr::backend()?;
    Ok(secrets(&b)?.put_secret_value(&name, wharf_core::secret::PutSecretValueInput { secret_string: Some(secret_string) }).await?)
}

#[server(input = Json)]
pub async fn delete_secret(name: String) -> PortalResult<Secret> {
    let b = crate::ssr::backend()?;
    Ok(secrets(&b)?.delete_secret(&name).await?)
}

#[component]
pub fn SecretsPage() -> impl IntoView {
    let create = ServerAction::<CreateSecret>::new();
    let put = ServerAction::<PutSecretValue>::new();
    let delete = ServerAction::<DeleteSecret>::new();
    let list = crate::components::resource(move || (create.version().get(), put.version().get(), delete.version().get()), |_| list_secrets());
    // The teams a new secret may go to: those the caller maintains (every team for an admin).
    let teams = crate::components::resource(|| (), |_| async move {
        let me = crate::account::whoami().await?;
        let all = crate::teams::list_teams().await?;
        Ok::<_, PortalError>(all.into_iter().map(|t| t.team_name).filter(|t| me.as_ref().is_some_and(|s| s.admin || s.role_in(t) == Some(Role::Maintainer))).collect::<Vec<_>>())
    });
    let errors = Signal::derive(move || {
        let mut e = errors_of(put.value().get());
        e.extend(errors_of(delete.value().get()));
        e
    });
    view! {
        <PageHeader title="Secrets"/>
        <p class="lead">
            "Values your tasks receive as environment variables, sealed at rest and sent only to the host that starts the task. "
            "A value is never shown again once saved. Name a secret in a container definition: "
            <code>"\"secrets\": [{\"name\": \"DB_PASSWORD\", \"valueFrom\": \"<secret name>\"}]"</code>
        </p>
        <DataRegion>
            {move || Suspend::new(async move {
                let teams = settled(teams).await?;
                Ok::<_, PortalError>((!teams.is_empty()).then(|| view! { <NewSecret teams create/> }))
            })}
        </DataRegion>
        <FieldErrorList errors/>
        <DataRegion>
            {move || Suspend::new(async move {
                let list = settled(list).await?;
                let maintained = settled(teams).await.unwrap_or_default();
                Ok::<_, PortalError>(if list.is_empty() {
                    view! {
                        <EmptyState title="No secrets" body="A team's maintainers add secrets here; its task definitions name them in secrets[].valueFrom."/>
                    }.into_any()
                } else {
                    view! { <SecretTable list maintained put delete/> }.into_any()
                })
            })}
        </DataRegion>
    }
}

#[component]
fn NewSecret(teams: Vec<String>, create: ServerAction<CreateSecret>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let team = RwSignal::new(teams.first().cloned().unwrap_or_default());
    let description = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    let errors = Signal::derive(move || errors_of(create.value().get()));
    // The typed value leaves the page with the request and is cleared once it is saved.
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            value.set(String::new());
            name.set(String::new());
            description.set(String::new());
        }
    });
    view! {
        <section class="card">
            <h2>"New secret"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                let input = CreateSecretInput {
                    name: Some(name.get_untracked()),
                    secret_string: Some(value.get_untracked()),
                    description: Some(description.get_untracked()).filter(|d| !d.is_empty()),
                    team: Some(team.get_untracked()),
                };
                create.dispatch(CreateSecret { input });
            }>
                <div class="inline-form filters">
                    <label for="secret-name">"Name"</label>
                    <input id="secret-name" placeholder=move || format!("{}/db-password", team.get()) title="A team's secrets are named under its own name: team/…" bind:value=name autocomplete="off" required/>
                    <label for="secret-team">"Team"</label>
                    <select id="secret-team" on:change=move |ev| team.set(event_target_value(&ev)) prop:value=move || team.get()>
                        {teams.into_iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
                    </select>
                </div>
                <div class="inline-form filters">
                    <label for="secret-description">"Description"</label>
                    <input id="secret-description" placeholder="What it is for (optional)" bind:value=description autocomplete="off"/>
                    <label for="secret-value">"Value"</label>
                    <input id="secret-value" type="password" placeholder="Shown never again" bind:value=value autocomplete="new-password" required/>
                    <button type="submit" class="primary" id="create-secret" disabled=move || create.pending().get()>"Save secret"</button>
                </div>
            </form>
            <FieldErrorList errors/>
        </section>
    }
}

#[component]
fn SecretTable(list: Vec<Secret>, maintained: Vec<String>, put: ServerAction<PutSecretValue>, delete: ServerAction<DeleteSecret>) -> impl IntoView {
    // Changes are offered to the secret's maintainers only; a secret of no team is listed to
    // admins alone.
    let mine = move |s: &Secret| s.team.as_ref().is_none_or(|t| maintained.contains(t));
    let any = list.iter().any(mine.clone());
    view! {
        <section class="card">
            <table class="table" id="secrets">
                <thead><tr><th>"Name"</th><th>"Team"</th><th>"Description"</th><th class="num">"Version"</th><th>"Last changed"</th>{any.then(|| view! { <th>"New value"</th><th></th> })}</tr></thead>
                <tbody>
                    {list.into_iter().map(|s| {
                        let value = RwSignal::new(String::new());
                        let (for_put, for_delete) = (s.name.clone(), s.name.clone());
                        let mine = mine(&s);
                        view! {
                            <tr data-secret=s.name.clone()>
                                <td><code>{s.name.clone()}</code></td>
                                <td>{s.team.clone().unwrap_or_else(|| "none (admins)".into())}</td>
                                <td>{s.description.clone()}</td>
                                <td class="num">{s.version}</td>
                                <td>{short_time(&s.last_changed_date)}</td>
                                {mine.then(|| view! {
                                    <td>
                                        <form class="inline-form" on:submit=move |ev| {
                                            ev.prevent_default();
                                            put.dispatch(PutSecretValue { name: for_put.clone(), secret_string: value.get_untracked() });
                                            value.set(String::new());
                                        }>
                                            <input class="new-value" type="password" aria-label=format!("New value of {}", s.name) bind:value=value autocomplete="new-password" required/>
                                            <button type="submit" class="set-value">"Set"</button>
                                        </form>
                                    </td>
                                    <td>
                                        <button class="danger delete-secret" on:click=move |_| {
                                            delete.dispatch(DeleteSecret { name: for_delete.clone() });
                                        }>"Delete"</button>
                                    </td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
