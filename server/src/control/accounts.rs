/*!
Accounts: the first admin, sign-in and sessions, API tokens, and who a credential is. The
commands an account may only run through the [`Gate`] (users, teams, tokens, sharing) are
in [`super::teams`].
*/

use super::Control;
use super::gate::{Caller, Presented};
use crate::auth::secrets;
use crate::store::{self, StoreError, accounts, credentials};
use wharf_app::backend::Result;
use wharf_core::access::{Grant, Membership, Role, Subject};
use wharf_core::account::{ApiToken, Credentials, User};
use wharf_core::{ErrorKind, WharfError};

/// A session ends after this long without a request, and after [`SESSION_ABSOLUTE`] in any case.
pub const SESSION_IDLE: chrono::Duration = chrono::Duration::hours(2);
pub const SESSION_ABSOLUTE: chrono::Duration = chrono::Duration::hours(12);
/// Failed sign-ins allowed per account, and per address, in [`THROTTLE_WINDOW`].
const FAILURES_PER_ACCOUNT: i64 = 5;
const FAILURES_PER_ADDRESS: i64 = 20;
const THROTTLE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// The clear secret of a new session, for the cookie, with its CSRF token.
pub struct NewSession {
    pub secret: String,
    pub csrf_token: String,
    pub subject: Subject,
}

fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Hashing a password takes tens of milliseconds of CPU: off the async workers.
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || secrets::hash_password(&password)).await.map_err(|_| WharfError::internal())
}

async fn verify_password(stored: String, password: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || secrets::verify_password(&stored, &password)).await.map_err(|_| WharfError::internal())
}

fn token_view(t: credentials::TokenRow, now: &str) -> ApiToken {
    let status = match (&t.revoked_at, &t.expires_at) {
        (Some(_), _) => "REVOKED",
        (None, Some(e)) if e.as_str() <= now => "EXPIRED",
        _ => "ACTIVE",
    };
    ApiToken {
        id: t.id,
        name: t.name,
        username: t.username,
        team: t.team,
        role: t.role,
        created_by: t.created_by,
        created_at: t.created_at,
        status: status.into(),
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
    }
}

pub(crate) fn tokens_view(rows: Vec<credentials::TokenRow>) -> Vec<ApiToken> {
    let now = store::now();
    rows.into_iter().map(|t| token_view(t, &now)).collect()
}

impl Control {
    /// Whether anyone can sign in yet (until then the API only takes the first admin).
    pub async fn accounts_exist(&self) -> Result<bool> {
        Ok(accounts::user_count(&mut *self.read().await?).await? > 0)
    }

    /// The subject a user acts as, with their teams; None for a disabled or unknown account.
    pub(crate) async fn subject_of(&self, conn: &mut sqlx::AnyConnection, username: &str) -> Result<Option<Subject>> {
        let Some(user) = accounts::user(conn, username).await? else { return Ok(None) };
        if user.disabled {
            return Ok(None);
        }
        let teams = accounts::memberships(conn, username).await?;
        Ok(Some(Subject { username: user.username, admin: user.admin, every_team: None, teams }))
    }

    /// The subject of an account that just proved who it is.
    pub async fn session_subject_of(&self, username: &str) -> Result<Subject> {
        self.subject_of(&mut *self.read().await?, username).await?.ok_or_else(|| WharfError::unauthorized("username", "the account is disabled"))
    }

    pub async fn user_view(&self, username: &str) -> Result<User> {
        let mut conn = self.read().await?;
        let user = accounts::user(&mut conn, username).await?.ok_or_else(|| WharfError::not_found(format!("no user named '{username}'")))?;
        let teams = accounts::memberships(&mut conn, username).await?;
        Ok(User { username: user.username, admin: user.admin, disabled: user.disabled, created_at: user.created_at, teams })
    }

    /// Creates an account (an admin when `admin`); `first_only` refuses once any account
    /// exists, in the same transaction, so two first visitors cannot both become admin.
    pub async fn create_account(&self, input: &Credentials, admin: bool, first_only: bool) -> Result<User> {
        input.validate_new()?;
        let hash = hash_password(input.password.clone()).await?;
        let mut w = self.store.write().await?;
        if first_only && accounts::user_count(w.conn()).await? > 0 {
            return Err(WharfError::conflict("Wharf has its first admin already; sign in"));
        }
        accounts::insert_user(w.conn(), &input.username, &hash, admin, &store::now()).await.map_err(|e| match e {
            StoreError::Duplicate => WharfError::invalid_field("username", format!("'{}' is taken", input.username)),
            other => other.into(),
        })?;
        w.commit().await?;
        self.user_view(&input.username).await
    }

    /// A new session for a user who just proved who they are (a new id every time).
    pub async fn open_session(&self, subject: Subject) -> Result<NewSession> {
        let secret = secrets::random_hex(32);
        let csrf_token = secrets::random_hex(16);
        let now = chrono::Utc::now();
        let mut w = self.store.write().await?;
        credentials::insert_session(w.conn(), &secrets::hash(&secret), &subject.username, &csrf_token, &at(now), &at(now + SESSION_ABSOLUTE)).await?;
        w.commit().await?;
        Ok(NewSession { secret, csrf_token, subject })
    }

    /// Checks a username and password, throttled per account and address, and per address.
    /// Every attempt counts as a failure until it succeeds, in one transaction with the count,
    /// so a burst of parallel guesses is counted whole; an account is throttled from the
    /// address that guesses, not from everywhere (no one locks the admin out from afar).
    pub async fn sign_in(&self, input: &Credentials, caller: &Caller) -> Result<NewSession> {
        let now = chrono::Utc::now();
        let since = at(now - THROTTLE_WINDOW);
        let (by_account, by_addr) = (format!("user:{}@{}", input.username, caller.source), format!("addr:{}", caller.source));
        {
            let mut w = self.store.write().await?;
            credentials::record_login_failure(w.conn(), &by_account, &at(now)).await?;
            credentials::record_login_failure(w.conn(), &by_addr, &at(now)).await?;
            let account_tries = credentials::login_failures_since(w.conn(), &by_account, &since).await?;
            let addr_tries = credentials::login_failures_since(w.conn(), &by_addr, &since).await?;
            w.commit().await?;
            if account_tries > FAILURES_PER_ACCOUNT || addr_tries > FAILURES_PER_ADDRESS {
                return Err(WharfError::new(ErrorKind::Throttled, "too many failed sign-ins; wait 15 minutes and try again"));
            }
        }
        let stored = accounts::user(&mut *self.read().await?, &input.username).await?;
        let hash = stored.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| secrets::dummy_hash().to_string());
        let matches = verify_password(hash, input.password.clone()).await? && stored.is_some();
        let subject = match (matches, stored) {
            (true, Some(user)) if !user.disabled => self.subject_of(&mut *self.read().await?, &user.username).await?,
            _ => None,
        };
        let Some(subject) = subject else {
            return Err(WharfError::unauthorized("password", "wrong username or password, or the account is disabled"));
        };
        // Proven: this account's attempts from here no longer count.
        let mut w = self.store.write().await?;
        credentials::forget_login_failures(w.conn(), &by_account, &since).await?;
        credentials::forget_attempt(w.conn(), &by_addr, &at(now)).await?;
        w.commit().await?;
        self.open_session(subject).await
    }

    pub async fn sign_out(&self, session_secret: &str) -> Result<()> {
        let mut w = self.store.write().await?;
        credentials::revoke_session(w.conn(), &secrets::hash(session_secret), &store::now()).await?;
        Ok(w.commit().await?)
    }

    /// The subject of a live session and its CSRF token; sessions idle too long end here.
    pub async fn session(&self, secret: &str) -> Result<Option<(Subject, String)>> {
        self.find_session(secret, true).await
    }

    /// The subject an API token acts as: its user capped at its role, or its team.
    pub async fn token_subject(&self, token: &str) -> Result<Option<Subject>> {
        self.find_token(token, true).await
    }

    /// Who the credentials a request came with stand for now, if anyone: for responses that
    /// stay open. Looking does not count as use (an open page does not keep a session alive).
    pub async fn presented_subject(&self, presented: &Presented) -> Result<Option<Subject>> {
        match presented {
            Presented::Token(token) => self.find_token(token, false).await,
            Presented::Session(secret) => Ok(self.find_session(secret, false).await?.map(|(subject, _)| subject)),
        }
    }

    async fn find_session(&self, secret: &str, touch: bool) -> Result<Option<(Subject, String)>> {
        let id_hash = secrets::hash(secret);
        let now = chrono::Utc::now();
        let mut conn = self.read().await?;
        let Some(row) = credentials::session(&mut conn, &id_hash, &at(now)).await? else { return Ok(None) };
        let idle_since = at(now - SESSION_IDLE);
        if row.last_seen_at < idle_since {
            return Ok(None);
        }
        let Some(subject) = self.subject_of(&mut conn, &row.username).await? else { return Ok(None) };
        drop(conn);
        // Seen at most once a minute: a busy page does not write on every request.
        if touch && row.last_seen_at < at(now - chrono::Duration::minutes(1)) {
            let mut w = self.store.write().await?;
            credentials::touch_session(w.conn(), &id_hash, &at(now)).await?;
            w.commit().await?;
        }
        Ok(Some((subject, row.csrf_token)))
    }

    async fn find_token(&self, token: &str, touch: bool) -> Result<Option<Subject>> {
        let now = chrono::Utc::now();
        let mut conn = self.read().await?;
        let Some(row) = credentials::live_token(&mut conn, &secrets::hash(token), &at(now)).await? else { return Ok(None) };
        let grant = Grant::parse(&row.role).ok_or_else(WharfError::internal)?;
        let subject = match (&row.username, &row.team, grant) {
            (_, Some(team), Grant::Team(role)) => Some(Subject { username: format!("team:{team}"), admin: false, every_team: None, teams: vec![Membership { team: team.clone(), role }] }),
            (Some(user), None, grant) => self.subject_of(&mut conn, user).await?.map(|s| cap(s, grant)),
            _ => None,
        };
        drop(conn);
        if touch && subject.is_some() && row.last_used_at.as_deref().is_none_or(|t| t < at(now - chrono::Duration::minutes(1)).as_str()) {
            let mut w = self.store.write().await?;
            credentials::touch_token(w.conn(), &row.id, &at(now), &at(now - chrono::Duration::minutes(1))).await?;
            w.commit().await?;
        }
        Ok(subject)
    }

    /// Stores a new token; the clear token is returned here and never again.
    pub async fn issue_token(&self, row: credentials::TokenRow) -> Result<(ApiToken, String)> {
        let token = format!("wht_{}", secrets::random_hex(32));
        let mut w = self.store.write().await?;
        credentials::insert_token(w.conn(), &row, &secrets::hash(&token)).await?;
        w.commit().await?;
        Ok((token_view(row, &store::now()), token))
    }

    /// A user's token for the command line (`wharf-server token create`): no caller to check,
    /// the operator has the database.
    pub async fn issue_user_token(&self, username: &str, role: Option<Grant>, expires_in: Option<i64>, created_by: &str) -> Result<(ApiToken, String)> {
        let user = accounts::user(&mut *self.read().await?, username).await?.ok_or_else(|| WharfError::invalid_field("username", format!("no user named '{username}'")))?;
        let role = role.unwrap_or(if user.admin { Grant::Admin } else { Grant::Team(Role::Maintainer) });
        if role == Grant::Admin && !user.admin {
            return Err(WharfError::invalid_field("role", format!("{username} is not an admin")));
        }
        let now = chrono::Utc::now();
        self.issue_token(credentials::TokenRow {
            id: secrets::random_hex(8),
            name: String::new(),
            username: Some(username.to_string()),
            team: None,
            role: role.as_str().into(),
            created_by: created_by.into(),
            created_at: at(now),
            expires_at: expires_in.map(|s| at(now + chrono::Duration::seconds(s))),
            revoked_at: None,
            last_used_at: None,
        })
        .await
    }
}

/// A user's subject as a token with `grant` may use it: never more than the user has.
fn cap(mut s: Subject, grant: Grant) -> Subject {
    match grant {
        Grant::Admin => s,
        Grant::Team(role) => {
            if s.admin {
                s.admin = false;
                s.every_team = Some(role);
            }
            for m in &mut s.teams {
                m.role = m.role.min(role);
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_carries_more_than_its_user_has() {
        let user = Subject { username: "ann".into(), admin: false, every_team: None, teams: vec![Membership { team: "a".into(), role: Role::Deployer }] };
        assert_eq!(cap(user.clone(), Grant::Team(Role::Maintainer)).teams[0].role, Role::Deployer);
        assert_eq!(cap(user.clone(), Grant::Team(Role::Viewer)).teams[0].role, Role::Viewer);
        assert!(!cap(user, Grant::Admin).admin);
        let admin = Subject { username: "root".into(), admin: true, every_team: None, teams: vec![] };
        let capped = cap(admin, Grant::Team(Role::Viewer));
        assert!(!capped.admin);
        assert_eq!(capped.every_team, Some(Role::Viewer));
    }
}
