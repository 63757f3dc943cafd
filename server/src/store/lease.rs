/*!
One server per database. Agents' start and stop messages travel over the WebSocket of the
server an agent is connected to, and a starting server marks every agent disconnected; two
servers on one database would each undo the other's view. Until the store carries agent
commands (an outbox) and a fenced leader lease, a second server refuses to start.

The claim must end with its process, however it ends (`kill -9` included), so that a restart
on the same data is never refused: on SQLite it is an OS file lock beside the database file,
on PostgreSQL a session advisory lock on a connection of its own.
*/

use super::{Backend, Store, StoreError};
use sqlx::Connection;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

/// Held for the life of the server; dropping it gives the database up.
pub enum ServerClaim {
    File(#[allow(dead_code)] File),
    /// The connection holding the advisory lock lives in a watchdog task: if it is lost, so is
    /// the claim, and the server stops rather than run beside another.
    Postgres(tokio::task::JoinHandle<()>),
    /// An in-memory SQLite database: nobody else can open it.
    Private,
}

impl Drop for ServerClaim {
    fn drop(&mut self) {
        if let Self::Postgres(watchdog) = self {
            watchdog.abort();
        }
    }
}

/// The advisory lock's key: "wharfsrv" as a big-endian integer, unlikely to meet another
/// application's key in the same database.
const ADVISORY_KEY: i64 = 0x7768_6172_6673_7276;

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "another wharf-server is using this database ({what}). Wharf runs one server per database: stop the other server, or give this one its own --data-dir or --database-url"
    )]
    Taken { what: String },
    #[error("cannot claim the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot claim the database: {0}")]
    Io(#[from] std::io::Error),
}

impl Store {
    /// Claims the database for this server; fails with a clear message when another live
    /// server holds it.
    pub async fn claim_sole_server(&self) -> Result<ServerClaim, ClaimError> {
        match self.backend {
            Backend::Sqlite => {
                let Some(db) = self.sqlite_file() else { return Ok(ServerClaim::Private) };
                let path = PathBuf::from(format!("{}.server-lock", db.display()));
                let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
                match file.try_lock() {
                    Ok(()) => Ok(ServerClaim::File(file)),
                    Err(TryLockError::WouldBlock) => Err(ClaimError::Taken { what: db.display().to_string() }),
                    Err(TryLockError::Error(e)) => Err(e.into()),
                }
            }
            Backend::Postgres => {
                let mut conn = sqlx::AnyConnection::connect(&self.url).await.map_err(StoreError::from)?;
                let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(ADVISORY_KEY)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(StoreError::from)?;
                if !held {
                    let database: String =
                        sqlx::query_scalar("SELECT current_database()::text").fetch_one(&mut conn).await.map_err(StoreError::from)?;
                    return Err(ClaimError::Taken { what: format!("PostgreSQL database {database}") });
                }
                Ok(ServerClaim::Postgres(tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        // A connection that hangs (a half-open socket) is as lost as one that fails.
                        let checked = tokio::time::timeout(std::time::Duration::from_secs(5), sqlx::query("SELECT 1").execute(&mut conn)).await;
                        let lost = match checked {
                            Ok(Ok(_)) => continue,
                            Ok(Err(e)) => e.to_string(),
                            Err(_) => "no answer within 5 s".to_string(),
                        };
                        tracing::error!(error = %lost, "lost the connection that holds this server's claim on the database; stopping");
                        std::process::exit(1);
                    }
                })))
            }
        }
    }

    /// The SQLite database's file, from its URL (`sqlite://PATH?…` or `sqlite:PATH`).
    fn sqlite_file(&self) -> Option<PathBuf> {
        let rest = self.url.strip_prefix("sqlite://").or_else(|| self.url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}
