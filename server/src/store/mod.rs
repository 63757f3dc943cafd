/*!
The store: every durable fact of Wharf, behind sqlx's `Any` driver so the same SQL runs on a
SQLite file (the default) and on PostgreSQL (for several servers).

Each submodule owns the SQL of one resource and works on a connection it is handed; the
control layer decides what goes into one transaction. Write transactions are serialised
in-process on both databases. SQLite allows one writer, and a deferred transaction that reads
and then writes would otherwise fail with SQLITE_BUSY instead of waiting. On PostgreSQL the
lock is what makes a booking safe: a path that reads what an instance has left, decides, and
inserts tasks (RunTask, StartTask, a scheduling pass) sees every other path's bookings,
which READ COMMITTED alone would not give two concurrent transactions. One server per
database is enforced at start (see [`lease`]).
*/

pub mod accounts;
pub mod clusters;
pub mod credentials;
pub mod lease;
pub mod retention;
pub mod run_tokens;
pub mod scaling;
pub mod instances;
pub mod join_tokens;
pub mod load_balancing;
pub mod scheduling;
pub mod secrets;
pub mod services;
pub mod task_definitions;
pub mod tasks;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique constraint refused the write: the object exists already.
    #[error("already exists")]
    Duplicate,
    /// A stored document no longer parses; a bug or a hand-edited database.
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("database URL scheme '{0}' is not supported; use postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    #[error("cannot prepare {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Maps unique-constraint violations to [`StoreError::Duplicate`].
pub(crate) fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
        _ => StoreError::Database(e),
    }
}

pub(crate) fn corrupt(what: &'static str) -> impl Fn(serde_json::Error) -> StoreError {
    move |e| StoreError::Corrupt { what, detail: e.to_string() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The database URL it was opened with, for connections outside the pool.
    url: String,
    writer: Arc<Mutex<()>>,
    generations: Generations,
    _checkpointer: Option<Arc<Checkpointer>>,
}

/// Per cluster, how many committed transactions changed its live tasks other than through
/// the scheduling pass: the pass keeps a copy of live tasks and reloads it when this moved.
/// Bumped after the commit, before the writer lock is released, so a pass (which holds the
/// lock) never misses a booking committed before it began.
type Generations = Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>;

/// Copies SQLite's write-ahead log into the database file every so often, on a connection of
/// its own: a passive checkpoint never blocks the writer, so under a storm of writes commits
/// stay short and the copying runs on another core. Stops with the last handle of the store.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    const EVERY: Duration = Duration::from_millis(500);

    fn spawn(pool: AnyPool) -> Self {
        Self(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Self::EVERY).await;
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                    tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                }
            }
        }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A write transaction, holding the in-process writer lock until it ends.
pub struct WriteTx {
    pub tx: Transaction<'static, Any>,
    touched: Vec<String>,
    generations: Generations,
    _writer: OwnedMutexGuard<()>,
}

impl Store {
    /// Opens (and creates, for SQLite) the database and applies migrations.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Self> {
        let store = Self::connect(database_url, data_dir).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations this build carries.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// Opens (and creates, for SQLite) the database without migrating it.
    pub async fn connect(database_url: Option<&str>, data_dir: &Path) -> Result<Self> {
        install_default_drivers();
        let (url, backend) = match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => (url.to_string(), Backend::Postgres),
            Some(url) if url.starts_with("sqlite:") => (url.to_string(), Backend::Sqlite),
            Some(url) => {
                let scheme = url.split(':').next().unwrap_or_default();
                return Err(StoreError::UnsupportedUrl(scheme.to_string()));
            }
            None => {
                std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir { path: data_dir.display().to_string(), source })?;
                let file = data_dir.join("wharf.db");
                (format!("sqlite://{}?mode=rwc", file.display()), Backend::Sqlite)
            }
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let opened = url.clone();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; NORMAL sync is safe with WAL.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                        // 16 MiB of page cache per connection: a cluster's live tasks stay in
                        // memory instead of being re-read from the file on every batch.
                        sqlx::query("PRAGMA cache_size = -16384").execute(&mut *conn).await?;
                        // Checkpoints run beside the writer (see `Checkpointer`), not inside
                        // whichever commit happens to cross the WAL's size limit.
                        sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let checkpointer = (backend == Backend::Sqlite).then(|| Arc::new(Checkpointer::spawn(pool.clone())));
        Ok(Self { pool, backend, url: opened, writer: Arc::new(Mutex::new(())), generations: Default::default(), _checkpointer: checkpointer })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction.
    pub async fn write(&self) -> Result<WriteTx> {
        let writer = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx, touched: Vec::new(), generations: self.generations.clone(), _writer: writer })
    }

    /// How often the cluster's live tasks changed outside the scheduling pass (see
    /// [`WriteTx::touch_live_tasks`]).
    pub fn live_tasks_generation(&self, cluster: &str) -> u64 {
        self.generations.lock().unwrap_or_else(|e| e.into_inner()).get(cluster).copied().unwrap_or(0)
    }

    /// At start no agent is connected to this server, whatever the store says.
    pub async fn disconnect_all_agents(&self) -> Result<()> {
        let mut w = self.write().await?;
        instances::disconnect_all(w.conn()).await?;
        w.commit().await
    }

    /// Pings the database, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

impl WriteTx {
    /// The connection to run statements on.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// Says that this transaction adds or stops live tasks of the cluster outside the
    /// scheduling pass; counted once it commits.
    pub fn touch_live_tasks(&mut self, cluster: &str) {
        if !self.touched.iter().any(|c| c == cluster) {
            self.touched.push(cluster.to_string());
        }
    }

    /// Commits, then releases the writer lock.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        if !self.touched.is_empty() {
            let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
            for cluster in &self.touched {
                *generations.entry(cluster.clone()).or_default() += 1;
            }
        }
        Ok(())
    }
}

/// The rows of a JSON array bound as `$1`, as a table `e` with one column `value`: one
/// statement then carries thousands of rows in one parameter. Each row is itself an array,
/// read with `e.value ->> N` (text, or NULL) on both databases.
pub(crate) fn json_rows(conn: &sqlx::AnyConnection) -> &'static str {
    if conn.backend_name() == "PostgreSQL" { "jsonb_array_elements($1::jsonb) AS e(value)" } else { "json_each($1) AS e" }
}

/// Rows for [`json_rows`]: plain strings and numbers, whose serialising cannot fail.
pub(crate) fn json_param<T: serde::Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).unwrap_or_default()
}

/// A select list folding all rows into one JSON array of arrays (text; NULL for no rows on
/// PostgreSQL): one value crosses from the driver instead of thousands of rows.
pub(crate) fn json_agg(conn: &sqlx::AnyConnection, columns: &str) -> String {
    if conn.backend_name() == "PostgreSQL" {
        format!("json_agg(json_build_array({columns}))::text")
    } else {
        format!("json_group_array(json_array({columns}))")
    }
}

/// Current time as the store writes it: RFC 3339, UTC, milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// [`now`] less some seconds, in the same format.
pub fn before_seconds(seconds: i64) -> String {
    after_seconds(seconds.saturating_neg())
}

/// [`now`] plus some seconds, in the same format (so the two compare as text).
pub fn after_seconds(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
