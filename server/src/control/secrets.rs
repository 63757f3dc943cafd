/*!
Secrets: kept sealed in the store, checked when a task definition names them, and opened only
on their way to the agent that starts a task of the secret's own team.
*/

use super::Control;
use super::gate::Gate;
use crate::auth::sealing::Sealer;
use crate::store::{self, accounts, secrets};
use sqlx::AnyConnection;
use std::collections::HashMap;
use wharf_app::backend::Result;
use wharf_core::access::{Action, Role};
use wharf_core::protocol::TaskSpec;
use wharf_core::secret::{CreateSecretInput, PutSecretValueInput, Secret, SecretValue, name_of};
use wharf_core::task_definition::{TaskDefinitionSpec, family_of};
use wharf_core::{FieldErrors, WharfError};

fn not_found(name: &str) -> WharfError {
    WharfError::not_found(format!("no secret named '{name}'"))
}

/// Who a team-less object belongs to, in messages.
fn owner_words(team: Option<&str>) -> String {
    team.map_or_else(|| "Wharf's admins (outside any team)".to_string(), |t| format!("team '{t}'"))
}

impl Control {
    fn sealer(&self) -> Result<&Sealer> {
        self.sealer.get().ok_or_else(|| WharfError::conflict("this server was started without a secrets key"))
    }

    pub async fn create_secret(&self, input: CreateSecretInput, team: Option<String>, by: &str) -> Result<Secret> {
        input.validate()?;
        let name = input.name.unwrap_or_default();
        // A team names its secrets under its own name, so no team's name can meet another's
        // (and a refused name would tell what another team keeps).
        if let Some(t) = &team
            && !name.strip_prefix(t.as_str()).is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
        {
            return Err(WharfError::invalid_field("name", format!("a secret of team '{t}' is named '{t}/…' (for example '{t}/db-password')")));
        }
        let sealed = self.sealer()?.seal(&name, input.secret_string.as_deref().unwrap_or_default());
        let mut w = self.store.write().await?;
        if let Some(t) = &team
            && !accounts::team_exists(w.conn(), t).await?
        {
            return Err(WharfError::invalid_field("team", format!("no team named '{t}'")));
        }
        // Names under a team's name are that team's, an admin's secret outside any team too.
        if team.is_none()
            && let Some((prefix, _)) = name.split_once('/')
            && accounts::team_exists(w.conn(), prefix).await?
        {
            return Err(WharfError::invalid_field("name", format!("names under '{prefix}/' are team '{prefix}''s: give the secret to that team, or another name")));
        }
        let new = secrets::NewSecret { name: &name, team: team.as_deref(), description: input.description.as_deref().unwrap_or_default(), sealed_value: &sealed, created_by: by };
        if !secrets::insert(w.conn(), &new, &store::now()).await? {
            return Err(WharfError::conflict(format!("a secret named '{name}' already exists; set a new value with PUT /api/v1/secrets/{name}/value")));
        }
        let secret = secrets::get(w.conn(), &name).await?.ok_or_else(WharfError::internal)?;
        w.commit().await?;
        tracing::info!(secret = %name, "secret created");
        Ok(secret)
    }

    pub async fn describe_secret(&self, name: &str) -> Result<Secret> {
        secrets::get(&mut *self.read().await?, name).await?.ok_or_else(|| not_found(name))
    }

    /// Sets a new value of the secret `name` owned by `team` (the owner the caller was checked
    /// against: one deleted and made again by another team in between is not touched).
    pub async fn put_secret_value(&self, name: &str, team: Option<&str>, input: PutSecretValueInput) -> Result<Secret> {
        input.validate()?;
        let sealed = self.sealer()?.seal(name, input.secret_string.as_deref().unwrap_or_default());
        let mut w = self.store.write().await?;
        if !secrets::put_value(w.conn(), name, team, &sealed, &store::now()).await? {
            return Err(not_found(name));
        }
        let secret = secrets::get(w.conn(), name).await?.ok_or_else(WharfError::internal)?;
        w.commit().await?;
        tracing::info!(secret = %name, version = secret.version, "secret value set");
        Ok(secret)
    }

    /// Deletes the secret `name` owned by `team` (as [`Control::put_secret_value`]).
    pub async fn delete_secret(&self, name: &str, team: Option<&str>) -> Result<Secret> {
        let mut w = self.store.write().await?;
        let secret = secrets::get(w.conn(), name).await?.filter(|s| s.team.as_deref() == team).ok_or_else(|| not_found(name))?;
        secrets::delete(w.conn(), name, team).await?;
        w.commit().await?;
        tracing::info!(secret = %name, "secret deleted");
        Ok(secret)
    }

    /// Fills in the values of a task's secrets as it goes to its agent; `withheld` says why
    /// this agent may be sent none (see [`withheld`]). A secret that cannot be delivered
    /// carries the reason instead, and the agent stops the task with it.
    pub async fn deliver_secrets(&self, spec: &mut TaskSpec, withheld: Option<&str>) {
        if spec.containers.iter().all(|c| c.secrets.is_empty()) {
            return;
        }
        if let Some(reason) = withheld {
            return fail_all(spec, reason);
        }
        let family = family_of(&spec.task_definition).to_string();
        let mut conn = match self.read().await {
            Ok(c) => c,
            Err(e) => return fail_all(spec, &format!("the store is unavailable: {}", e.message)),
        };
        let team = match accounts::family_team(&mut conn, &family).await {
            Ok(t) => t.flatten(),
            Err(e) => return fail_all(spec, &format!("the store is unavailable: {e}")),
        };
        let sealer = self.sealer.get();
        // Each secret opened once, however many variables name it.
        let mut opened: HashMap<String, std::result::Result<String, String>> = HashMap::new();
        let mut total = 0usize;
        for s in spec.containers.iter_mut().flat_map(|c| &mut c.secrets) {
            let name = name_of(&s.value_from).to_string();
            if !opened.contains_key(&name) {
                let value = match (secrets::sealed(&mut conn, &name).await, sealer) {
                    (Ok(Some((owner, sealed))), Some(sealer)) if owner == team => sealer.open(&name, &sealed).map_err(|e| {
                        tracing::error!(secret = %name, error = %e, "a secret does not open");
                        format!("the secret {name} cannot be opened with this server's secrets key")
                    }),
                    (Ok(_), Some(_)) => Err(format!("{} has no secret named '{name}'", owner_words(team.as_deref()))),
                    (Ok(_), None) => Err("the server was started without a secrets key".to_string()),
                    (Err(e), _) => Err(format!("the store is unavailable: {e}")),
                };
                opened.insert(name.clone(), value);
            }
            match &opened[&name] {
                Ok(value) if total + value.len() > MAX_DELIVERED_BYTES => {
                    s.problem = Some(format!("the task's secrets come to more than {} KiB, more than one start message carries", MAX_DELIVERED_BYTES / 1024));
                }
                Ok(value) => {
                    total += value.len();
                    s.value = Some(SecretValue::new(value.clone()));
                }
                Err(problem) => s.problem = Some(problem.clone()),
            }
        }
    }

    /// At start: the key opens the secrets already stored (a key file lost with a data
    /// directory, beside a database that kept its secrets, is found here, not at a task's start).
    pub async fn check_secrets_key(&self) -> Result<()> {
        let Some((name, sealed)) = secrets::any_sealed(&mut *self.read().await?).await? else { return Ok(()) };
        self.sealer()?.open(&name, &sealed).map(|_| ()).map_err(|e| WharfError::conflict(format!("the secrets key does not open the stored secret '{name}' ({e}); start with the key they were sealed with (--secrets-key-file or WHARF_SECRETS_KEY)")))
    }
}

/// What the values of one task's secrets may add up to: a start message stays far below an
/// agent's frame limit (4 MiB).
const MAX_DELIVERED_BYTES: usize = 1024 * 1024;

/// Why an agent's connection may carry no secret: it is neither TLS nor from the server's own
/// host (`secure`), or the agent does not say it sets secrets in the environment.
pub fn withheld(secure: bool, attributes: &[wharf_core::task_definition::Attribute]) -> Option<&'static str> {
    if !secure {
        Some("secrets are sent to agents over TLS only (or to an agent on the server's own host); start the server with --tls-cert and --tls-key, or --tls-self-signed")
    } else if !attributes.iter().any(|a| a.name == wharf_core::secret::CAPABILITY) {
        Some("this agent does not set secrets in containers' environment (it lacks the ecs.capability.secrets.asm.environment-variables attribute); upgrade it to the agent this server serves")
    } else {
        None
    }
}

fn fail_all(spec: &mut TaskSpec, problem: &str) {
    for s in spec.containers.iter_mut().flat_map(|c| &mut c.secrets) {
        s.problem = Some(problem.to_string());
    }
}

/// At registration: every secret a task definition names exists and belongs to the family's
/// team (a team cannot have another team's secret delivered to its tasks).
pub(super) async fn check_references(conn: &mut AnyConnection, spec: &TaskDefinitionSpec, team: Option<&str>) -> Result<()> {
    let mut errors = FieldErrors::new();
    for (i, c) in spec.container_definitions.iter().flatten().enumerate() {
        for (j, s) in c.secrets.iter().flatten().enumerate() {
            let name = name_of(s.value_from.as_deref().unwrap_or_default());
            let owner = secrets::sealed(&mut *conn, name).await?.map(|(owner, _)| owner);
            if owner.as_ref().is_none_or(|o| o.as_deref() != team) {
                errors.push(
                    format!("containerDefinitions[{i}].secrets[{j}].valueFrom"),
                    format!("{} has no secret named '{name}'; create it under Secrets first", owner_words(team)),
                );
            }
        }
    }
    errors.finish(())
}

impl Gate {
    /// Checks `action` on something `team` owns; what belongs to no team is an admin's.
    async fn on_secret(&self, action: Action, secret: &Secret, what: &str) -> Result<()> {
        self.on_owner(action, secret.team.as_deref(), what, &secret.name).await
    }

    pub async fn create_secret(&self, input: CreateSecretInput) -> Result<Secret> {
        input.validate()?;
        let who = self.who()?.clone();
        let name = input.name.clone().unwrap_or_default();
        let team = match input.team.clone() {
            Some(t) => Some(t),
            None if who.admin => None,
            None => Some(who.default_team(Role::Maintainer).map_err(WharfError::from)?),
        };
        self.on_owner(Action::Maintain, team.as_deref(), "CreateSecret", &name).await?;
        self.change("CreateSecret", &name, team.clone(), self.control().create_secret(input, team, &who.username)).await
    }

    pub async fn list_secrets(&self) -> Result<Vec<Secret>> {
        let who = self.who()?;
        let teams = (!who.sees_everything()).then(|| who.team_names());
        Ok(secrets::list(&mut *self.control().read().await?, teams.as_deref()).await?)
    }

    pub async fn describe_secret(&self, name: &str) -> Result<Secret> {
        let secret = self.control().describe_secret(name).await?;
        self.on_secret(Action::Read, &secret, "DescribeSecret").await?;
        Ok(secret)
    }

    pub async fn put_secret_value(&self, name: &str, input: PutSecretValueInput) -> Result<Secret> {
        input.validate()?;
        let secret = self.control().describe_secret(name).await?;
        self.on_secret(Action::Maintain, &secret, "PutSecretValue").await?;
        self.change("PutSecretValue", name, secret.team.clone(), self.control().put_secret_value(name, secret.team.as_deref(), input)).await
    }

    pub async fn delete_secret(&self, name: &str) -> Result<Secret> {
        let secret = self.control().describe_secret(name).await?;
        self.on_secret(Action::Maintain, &secret, "DeleteSecret").await?;
        self.change("DeleteSecret", name, secret.team.clone(), self.control().delete_secret(name, secret.team.as_deref())).await
    }
}

/// The portal's secrets page goes through the same commands as the API's routes.
#[async_trait::async_trait]
impl wharf_app::backend::Secrets for Gate {
    async fn list_secrets(&self) -> Result<Vec<Secret>> {
        Gate::list_secrets(self).await
    }
    async fn create_secret(&self, input: CreateSecretInput) -> Result<Secret> {
        Gate::create_secret(self, input).await
    }
    async fn put_secret_value(&self, name: &str, input: PutSecretValueInput) -> Result<Secret> {
        Gate::put_secret_value(self, name, input).await
    }
    async fn delete_secret(&self, name: &str) -> Result<Secret> {
        Gate::delete_secret(self, name).await
    }
}
