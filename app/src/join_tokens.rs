/*! A cluster's join tokens: create one (its secret is shown once), list, revoke. */

use crate::components::{Loading, StatusBadge, short_time, settled};
use crate::error::{ErrorTemplate, FieldErrorList, PortalError, PortalResult, errors_of};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use wharf_core::join_token::{CreateJoinTokenInput, JoinToken};
use wharf_core::task_definition::Attribute;

#[server(input = Json)]
pub async fn list_join_tokens(cluster: String) -> PortalResult<Vec<JoinToken>> {
    Ok(crate::ssr::backend()?.list_join_tokens(&cluster).await?)
}

/// A token just created: its clear secret and the command that adds a host with it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewJoinToken {
    pub token: JoinToken,
    pub secret: String,
    pub command: String,
}

#[server(input = Json)]
pub async fn create_join_token(cluster: String, input: CreateJoinTokenInput) -> PortalResult<NewJoinToken> {
    let backend = crate::ssr::backend()?;
    let (token, secret) = backend.create_join_token(&cluster, input).await?;
    let command = backend.agent_install_command(&cluster, &secret);
    Ok(NewJoinToken { token, secret, command })
}

#[server(input = Json)]
pub async fn revoke_join_token(cluster: String, id: String, deregister_instances: bool) -> PortalResult<JoinToken> {
    Ok(crate::ssr::backend()?.revoke_join_token(&cluster, &id, deregister_instances).await?.0)
}

const ZONE: &str = "ecs.availability-zone";

/// Lifetimes offered by the form, in seconds (empty = no expiry).
const LIFETIMES: [(&str, &str); 4] = [("86400", "1 day"), ("3600", "1 hour"), ("604800", "7 days"), ("2592000", "30 days")];

#[component]
pub fn JoinTokens(#[prop(into)] cluster: Signal<String>) -> impl IntoView {
    let create = ServerAction::<CreateJoinToken>::new();
    let revoke = ServerAction::<RevokeJoinToken>::new();
    let tokens = crate::components::resource(
        move || (cluster.get(), create.version().get(), revoke.version().get()),
        |(c, _, _)| list_join_tokens(c),
    );
    let description = RwSignal::new(String::new());
    let lifetime = RwSignal::new("86400".to_string());
    let max_uses = RwSignal::new(String::new());
    let zone = RwSignal::new(String::new());
    let errors = Signal::derive(move || errors_of(create.value().get()));
    view! {
        <section class="card" id="join-tokens">
            <h2>"Join tokens"</h2>
            <p class="lead">
                "A host joins by running wharf-agent with a join token: create a token and the portal shows the one command to run on the host. Each host uses it once, then its own credential; limit how many hosts may join with it, and revoke it to stop more (or to remove the hosts that joined with it)."
            </p>
            <form
                class="inline-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    let input = CreateJoinTokenInput {
                        description: Some(description.get_untracked()).filter(|d| !d.trim().is_empty()),
                        expires_in_seconds: lifetime.get_untracked().parse().ok(),
                        // A number the rules refuse (0, -1) is sent as typed and answered by name.
                        max_uses: max_uses.get_untracked().trim().parse().ok(),
                        // The zone placement trusts: given here, not by the host.
                        attributes: Some(zone.get_untracked().trim().to_string()).filter(|z| !z.is_empty()).map(|z| vec![Attribute { name: ZONE.into(), value: Some(z) }]),
                    };
                    create.dispatch(CreateJoinToken { cluster: cluster.get_untracked(), input });
                }
            >
                <input id="jt-description" placeholder="What is it for? (optional)" bind:value=description autocomplete="off"/>
                <select id="jt-lifetime" aria-label="Lifetime" bind:value=lifetime>
                    {LIFETIMES.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
                <input id="jt-max-uses" type="number" inputmode="numeric" placeholder="Hosts (any number)" aria-label="How many hosts may join with it" bind:value=max_uses/>
                <input id="jt-zone" placeholder="Zone (optional)" aria-label="Availability zone of its hosts" title="ecs.availability-zone of the hosts that join with it, which placement trusts" bind:value=zone autocomplete="off"/>
                <button type="submit" class="primary" id="jt-create" disabled=move || create.pending().get()>"Create token"</button>
            </form>
            <FieldErrorList errors/>
            {move || {
                create.value().get().and_then(|r| r.ok()).map(|new| view! {
                    <div class="notice notice-info" role="status">
                        <p>"To add a host, run this on it (Linux with systemd; Docker is used when present):"</p>
                        <pre class="command" id="install-command">{new.command}</pre>
                        <p>"The token alone, for other setups — copy it now, it is not shown again:"</p>
                        <pre class="json" id="new-token">{new.secret}</pre>
                    </div>
                })
            }}
            <Transition fallback=Loading>
                <ErrorBoundary fallback=|errors| view! { <ErrorTemplate errors/> }>
                    {move || Suspend::new(async move {
                        let tokens = settled(tokens).await?;
                        Ok::<_, PortalError>(if tokens.is_empty() {
                            view! { <p class="muted">"No join tokens yet. Create one to add a host."</p> }.into_any()
                        } else {
                            view! { <TokenTable tokens revoke cluster/> }.into_any()
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

#[component]
fn TokenTable(tokens: Vec<JoinToken>, revoke: ServerAction<RevokeJoinToken>, cluster: Signal<String>) -> impl IntoView {
    view! {
        <table class="table" id="join-token-list">
            <thead>
                <tr>
                    <th>"Token"</th><th>"Description"</th><th>"Status"</th><th>"Created"</th>
                    <th>"Expires"</th><th>"Hosts joined"</th><th>"Last used"</th><th></th>
                </tr>
            </thead>
            <tbody>
                {tokens.into_iter().map(|t| {
                    let id = t.id.clone();
                    let active = t.status == "ACTIVE";
                    view! {
                        <tr>
                            <td><code>{format!("wjt_{}_…", t.id)}</code></td>
                            <td>
                                {t.description.clone()}
                                {t.attributes.iter().map(|a| view! { " " <span class="tag trusted-attribute">{format!("{} = {}", a.name, a.value.clone().unwrap_or_default())}</span> }).collect_view()}
                            </td>
                            <td><StatusBadge status=t.status.clone()/></td>
                            <td>{short_time(&t.created_at)}</td>
                            <td>{t.expires_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                            <td class="num">{match t.max_uses { Some(m) => format!("{} of {m}", t.uses), None => t.uses.to_string() }}</td>
                            <td>{t.last_used_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                            <td>
                                {(active || t.status == "USED_UP").then(|| {
                                    let again = id.clone();
                                    view! {
                                        <button class="danger revoke" disabled=!active on:click=move |_| {
                                            revoke.dispatch(RevokeJoinToken { cluster: cluster.get_untracked(), id: id.clone(), deregister_instances: false });
                                        }>"Revoke"</button>
                                        " "
                                        <button class="danger revoke-hosts" title="Revoke it and deregister the hosts that joined with it (their tasks stop)" on:click=move |_| {
                                            revoke.dispatch(RevokeJoinToken { cluster: cluster.get_untracked(), id: again.clone(), deregister_instances: true });
                                        }>"Revoke and remove its hosts"</button>
                                    }
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
