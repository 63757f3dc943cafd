/*!
Users, teams, members, API tokens, cluster sharing and the audit log, through the [`Gate`]:
each command asks the policy first and is recorded.
*/

use super::accounts::{hash_password, tokens_view};
use super::cluster_not_found;
use super::gate::Gate;
use crate::auth::secrets;
use crate::store::{self, StoreError, accounts, clusters, credentials};
use wharf_app::backend::Result;
use wharf_core::WharfError;
use wharf_core::access::{Action, Denied, Grant, Resource, Role, Subject, decide};
use wharf_core::account::{ApiToken, ChangePasswordInput, CreateTeamInput, CreateTokenInput, CreateUserInput, Credentials, Member, SetMemberInput, Team, UpdateUserInput, User, check_account_name, check_password};
use wharf_core::FieldErrors;

fn team_resource(team: &str) -> Resource<'_> {
    Resource::Team { team, cluster_shared_with: None }
}

impl Gate {
    pub async fn list_users(&self) -> Result<Vec<User>> {
        self.admin_only("ListUsers", "users").await?;
        let rows = accounts::users(&mut *self.control().read().await?).await?;
        let mut out = Vec::with_capacity(rows.len());
        for u in rows {
            out.push(self.control().user_view(&u.username).await?);
        }
        Ok(out)
    }

    pub async fn create_user(&self, input: CreateUserInput) -> Result<User> {
        self.admin_only("CreateUser", &input.username).await?;
        let creds = Credentials { username: input.username.clone(), password: input.password };
        let out = self.control().create_account(&creds, input.admin, false).await;
        self.record("CreateUser", &input.username, None, &out).await;
        out
    }

    /// An admin disables or enables an account, or resets its password; either ends its sessions.
    pub async fn update_user(&self, username: &str, input: UpdateUserInput) -> Result<User> {
        self.admin_only("UpdateUser", username).await?;
        let mut errors = FieldErrors::new();
        if let Some(p) = &input.password {
            check_password("password", p, &mut errors);
        }
        errors.finish(())?;
        if input.disabled == Some(true) && self.who()?.username == username {
            return Err(WharfError::invalid_field("disabled", "you cannot disable your own account"));
        }
        let hash = match input.password.clone() {
            Some(p) => Some(hash_password(p).await?),
            None => None,
        };
        let out = async {
            let mut w = self.control().store().write().await?;
            accounts::user(w.conn(), username).await?.ok_or_else(|| WharfError::not_found(format!("no user named '{username}'")))?;
            let now = store::now();
            if let Some(hash) = &hash {
                accounts::set_password(w.conn(), username, hash, &now).await?;
            }
            if let Some(disabled) = input.disabled {
                accounts::set_disabled(w.conn(), username, disabled).await?;
            }
            credentials::revoke_sessions_of(w.conn(), username, &now).await?;
            w.commit().await?;
            self.control().user_view(username).await
        }
        .await;
        self.record("UpdateUser", username, None, &out).await;
        out
    }

    /// Anyone changes their own password, proving the current one; every session of theirs
    /// ends (this one too: sign in again with the new password).
    pub async fn change_password(&self, input: ChangePasswordInput) -> Result<()> {
        let username = self.who()?.username.clone();
        let mut errors = FieldErrors::new();
        check_password("newPassword", &input.new_password, &mut errors);
        errors.finish(())?;
        let user = accounts::user(&mut *self.control().read().await?, &username).await?.ok_or_else(|| WharfError::invalid_field("", "a team token has no password"))?;
        let (stored, current) = (user.password_hash, input.current_password);
        let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&stored, &current)).await.map_err(|_| WharfError::internal())?;
        if !ok {
            self.audit("ChangePassword", &username, None, "denied", "wrong current password").await;
            return Err(WharfError::invalid_field("currentPassword", "this is not your current password"));
        }
        let hash = hash_password(input.new_password).await?;
        let mut w = self.control().store().write().await?;
        let now = store::now();
        accounts::set_password(w.conn(), &username, &hash, &now).await?;
        credentials::revoke_sessions_of(w.conn(), &username, &now).await?;
        w.commit().await?;
        self.audit("ChangePassword", &username, None, "allowed", "").await;
        Ok(())
    }

    /// Admins see every team; others the teams they belong to.
    pub async fn list_teams(&self) -> Result<Vec<Team>> {
        let who = self.who()?.clone();
        let mut conn = self.control().read().await?;
        let mut out = Vec::new();
        for (name, created_at) in accounts::teams(&mut conn).await? {
            if !who.sees_everything() && who.role_in(&name).is_none() {
                continue;
            }
            out.push(team_view(&mut conn, name, created_at).await?);
        }
        Ok(out)
    }

    pub async fn describe_team(&self, team: &str) -> Result<Team> {
        self.check_on(Action::Read, team, "DescribeTeam", team).await?;
        let mut conn = self.control().read().await?;
        let teams = accounts::teams(&mut conn).await?;
        let (name, created_at) = teams.into_iter().find(|(n, _)| n == team).ok_or_else(|| team_not_found(team))?;
        team_view(&mut conn, name, created_at).await
    }

    pub async fn create_team(&self, input: CreateTeamInput) -> Result<Team> {
        self.admin_only("CreateTeam", &input.team_name).await?;
        let mut errors = FieldErrors::new();
        check_account_name("teamName", &input.team_name, &mut errors);
        errors.finish(())?;
        let out = async {
            let mut w = self.control().store().write().await?;
            accounts::insert_team(w.conn(), &input.team_name, &store::now()).await.map_err(|e| match e {
                StoreError::Duplicate => WharfError::invalid_field("teamName", format!("'{}' is taken", input.team_name)),
                other => other.into(),
            })?;
            w.commit().await?;
            Ok(())
        }
        .await;
        self.record("CreateTeam", &input.team_name, Some(input.team_name.clone()), &out).await;
        out?;
        self.describe_team(&input.team_name).await
    }

    pub async fn delete_team(&self, team: &str) -> Result<()> {
        self.admin_only("DeleteTeam", team).await?;
        let out = async {
            let mut w = self.control().store().write().await?;
            if !accounts::team_exists(w.conn(), team).await? {
                return Err(team_not_found(team));
            }
            accounts::delete_team(w.conn(), team).await?;
            Ok(w.commit().await?)
        }
        .await;
        self.record("DeleteTeam", team, Some(team.into()), &out).await;
        out
    }

    /// A person's own credential: a team token acts for a team, and grants nothing (else
    /// one maintainer's token would outlive their membership through the tokens it made).
    fn person(&self) -> Result<Subject> {
        let who = self.who()?.clone();
        if who.username.starts_with("team:") {
            return Err(Denied("a team token cannot add members or make tokens; a maintainer does, signed in or with their own token".into()).into());
        }
        Ok(who)
    }

    /// Adds a member or changes their role; a maintainer grants up to maintainer, never admin.
    pub async fn set_member(&self, team: &str, username: &str, input: SetMemberInput) -> Result<Team> {
        self.person()?;
        let role = input.role()?;
        let target = format!("{team}/{username}");
        self.check_on(Action::Grant(role), team, "SetTeamMember", &target).await?;
        let out = async {
            let mut w = self.control().store().write().await?;
            if !accounts::team_exists(w.conn(), team).await? {
                return Err(team_not_found(team));
            }
            accounts::user(w.conn(), username).await?.ok_or_else(|| WharfError::invalid_field("username", format!("no user named '{username}'")))?;
            accounts::set_member(w.conn(), team, username, role).await?;
            Ok(w.commit().await?)
        }
        .await;
        self.record("SetTeamMember", &target, Some(team.into()), &out).await;
        out?;
        self.describe_team(team).await
    }

    pub async fn remove_member(&self, team: &str, username: &str) -> Result<Team> {
        self.person()?;
        let target = format!("{team}/{username}");
        self.check_on(Action::Grant(Role::Maintainer), team, "RemoveTeamMember", &target).await?;
        let out = async {
            let mut w = self.control().store().write().await?;
            if !accounts::remove_member(w.conn(), team, username).await? {
                return Err(WharfError::not_found(format!("{username} is not a member of team '{team}'")));
            }
            Ok(w.commit().await?)
        }
        .await;
        self.record("RemoveTeamMember", &target, Some(team.into()), &out).await;
        out?;
        self.describe_team(team).await
    }

    /// A user token (never more than its creator has) or a team token (a maintainer's).
    pub async fn create_token(&self, input: CreateTokenInput) -> Result<(ApiToken, String)> {
        let (grant, expires_in) = input.validate()?;
        let who = self.person()?;
        let target = input.team.clone().unwrap_or_else(|| who.username.clone());
        let grant = match (&input.team, grant) {
            (Some(team), grant) => {
                let role = match grant {
                    Some(Grant::Team(r)) => r,
                    _ => Role::Deployer,
                };
                self.check_on(Action::Grant(role), team, "CreateToken", &target).await?;
                if !accounts::team_exists(&mut *self.control().read().await?, team).await? {
                    return Err(team_not_found(team));
                }
                Grant::Team(role)
            }
            (None, grant) => {
                let highest = if who.admin { Grant::Admin } else { Grant::Team(who.teams.iter().map(|m| m.role).max().or(who.every_team).unwrap_or(Role::Viewer)) };
                let grant = grant.unwrap_or(highest);
                let allowed = match (grant, highest) {
                    (_, Grant::Admin) => true,
                    (Grant::Admin, _) => false,
                    (Grant::Team(want), Grant::Team(have)) => want <= have,
                };
                if !allowed {
                    let reason = format!("{} cannot give a token more than their own role", who.username);
                    self.audit("CreateToken", &target, None, "denied", &reason).await;
                    return Err(Denied(reason).into());
                }
                grant
            }
        };
        let now = chrono::Utc::now();
        let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let row = credentials::TokenRow {
            id: secrets::random_hex(8),
            name: input.name.unwrap_or_default(),
            username: input.team.is_none().then(|| who.username.clone()),
            team: input.team.clone(),
            role: grant.as_str().into(),
            created_by: who.username.clone(),
            created_at: stamp(now),
            expires_at: expires_in.map(|s| stamp(now + chrono::Duration::seconds(s))),
            revoked_at: None,
            last_used_at: None,
        };
        let out = self.control().issue_token(row).await;
        self.record("CreateToken", &target, input.team, &out).await;
        out
    }

    /// One's own tokens, and the tokens of teams one maintains (an admin's: all).
    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let who = self.who()?.clone();
        let mut conn = self.control().read().await?;
        let rows = if who.admin {
            credentials::tokens(&mut conn, None, None).await?
        } else {
            let mut rows = credentials::tokens(&mut conn, Some(&who.username), None).await?;
            for m in who.teams.iter().filter(|m| m.role == Role::Maintainer) {
                rows.extend(credentials::tokens(&mut conn, None, Some(&m.team)).await?);
            }
            rows
        };
        Ok(tokens_view(rows))
    }

    pub async fn revoke_token(&self, id: &str) -> Result<ApiToken> {
        let who = self.who()?.clone();
        let row = credentials::token(&mut *self.control().read().await?, id).await?.ok_or_else(|| WharfError::not_found(format!("no token '{id}'")))?;
        let allowed = match (&row.username, &row.team) {
            (Some(user), _) => who.admin || user == &who.username,
            (None, Some(team)) => decide(&who, Action::Grant(Role::Maintainer), team_resource(team)).is_ok(),
            _ => who.admin,
        };
        if !allowed {
            let reason = format!("the token '{id}' is not {}'s to revoke", who.username);
            self.audit("RevokeToken", id, row.team.clone(), "denied", &reason).await;
            return Err(Denied(reason).into());
        }
        let mut w = self.control().store().write().await?;
        credentials::revoke_token(w.conn(), id, &store::now()).await?;
        w.commit().await?;
        self.audit("RevokeToken", id, row.team.clone(), "allowed", "").await;
        let row = credentials::token(&mut *self.control().read().await?, id).await?.ok_or_else(WharfError::internal)?;
        Ok(tokens_view(vec![row]).remove(0))
    }

    /// Lets a team run on a cluster (`share`) or stops it (existing tasks keep running).
    pub async fn share_cluster(&self, cluster: &str, team: &str, share: bool) -> Result<Vec<String>> {
        let what = if share { "ShareCluster" } else { "UnshareCluster" };
        let target = format!("{cluster}/{team}");
        self.admin_only(what, &target).await?;
        let out = async {
            let mut w = self.control().store().write().await?;
            clusters::get(w.conn(), cluster).await?.ok_or_else(|| cluster_not_found(cluster))?;
            if !accounts::team_exists(w.conn(), team).await? {
                return Err(team_not_found(team));
            }
            if share {
                accounts::share_cluster(w.conn(), cluster, team).await?;
            } else {
                accounts::unshare_cluster(w.conn(), cluster, team).await?;
            }
            let teams = accounts::cluster_teams(w.conn(), cluster).await?;
            w.commit().await?;
            Ok(teams)
        }
        .await;
        self.record(what, &target, Some(team.into()), &out).await;
        out
    }

    /// The teams a cluster is shared with (for anyone who may use the cluster).
    pub async fn cluster_shares(&self, cluster: &str) -> Result<Vec<String>> {
        wharf_app::backend::Backend::describe_cluster(self, cluster).await?;
        Ok(accounts::cluster_teams(&mut *self.control().read().await?, cluster).await?)
    }

    /// Audit entries, newest first: all for an admin; a maintainer's teams' otherwise.
    pub async fn audit_log(&self, team: Option<&str>, before: Option<i64>, limit: i64) -> Result<Vec<credentials::AuditEntry>> {
        let who = self.who()?.clone();
        let teams = match team {
            Some(t) => {
                self.check_on(Action::Audit, t, "ReadAuditLog", t).await?;
                Some(vec![t.to_string()])
            }
            None if who.admin => None,
            None => {
                let mine: Vec<String> = who.teams.iter().filter(|m| m.role == Role::Maintainer).map(|m| m.team.clone()).collect();
                if mine.is_empty() {
                    return Err(Denied(format!("{} maintains no team; the audit log is for admins and maintainers", who.username)).into());
                }
                Some(mine)
            }
        };
        Ok(credentials::audit_entries(&mut *self.control().read().await?, teams.as_deref(), before, limit.clamp(1, 1000)).await?)
    }

    async fn admin_only(&self, what: &str, target: &str) -> Result<()> {
        self.check(Action::ManageAccounts, Resource::System, what, target).await
    }

    async fn check_on(&self, action: Action, team: &str, what: &str, target: &str) -> Result<()> {
        self.check(action, team_resource(team), what, target).await
    }
}

fn team_not_found(team: &str) -> WharfError {
    WharfError::not_found(format!("no team named '{team}'"))
}

async fn team_view(conn: &mut sqlx::AnyConnection, name: String, created_at: String) -> Result<Team> {
    let members = accounts::members(conn, &name).await?.into_iter().map(|m| Member { username: m.team, role: m.role }).collect();
    let clusters = clusters_of(conn, &name).await?;
    Ok(Team { team_name: name, created_at, members, clusters })
}

async fn clusters_of(conn: &mut sqlx::AnyConnection, team: &str) -> Result<Vec<String>> {
    let all = accounts::all_cluster_teams(conn).await?;
    let mut names: Vec<String> = all.into_iter().filter(|(_, teams)| teams.iter().any(|t| t == team)).map(|(c, _)| c).collect();
    names.sort();
    Ok(names)
}
