//! The database: connection, migrations and every query Clocky runs.
//!
//! SQLite is the embedded default: the file is created on first run and the migrations in
//! `migrations/sqlite` are applied before anything else touches it. Queries live in submodules by
//! subject and take an executor, so a caller decides what runs in one transaction.
//!
//! Writers open transactions with `BEGIN IMMEDIATE`: SQLite then takes the write lock at the
//! start, so two writers queue on the busy timeout instead of one failing half-way when it
//! tries to upgrade a read lock.

pub mod deliveries;
pub mod exports;
pub mod history;
pub mod tracking;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use thiserror::Error;

use crate::ids::IdError;

/// A transaction on Clocky's database.
pub type Tx = Transaction<'static, Sqlite>;

/// How long a writer waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the database could not do what was asked.
#[derive(Debug, Error)]
pub enum DbError {
    /// The database could not be opened or created.
    #[error("failed to open the database at {url}")]
    Open {
        /// The URL tried, which holds no secrets for SQLite.
        url: String,
        /// What went wrong.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed; the database is left at the last one that succeeded.
    #[error("failed to apply database migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
    /// A stored value breaks an invariant Clocky keeps when writing.
    #[error("the database holds a value Clocky never writes: {0}")]
    Corrupt(String),
}

impl From<IdError> for DbError {
    fn from(error: IdError) -> Self {
        DbError::Corrupt(error.to_string())
    }
}

/// A handle on the database, cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        let open_error = |source| DbError::Open {
            url: url.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_error)?
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|error| open_error(sqlx::Error::Io(error)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Db { pool })
    }

    /// Opens a new, empty database in memory, migrated. It lives as long as this handle: the
    /// pool keeps its one connection open for good, because an in-memory database disappears
    /// with its last connection.
    pub async fn in_memory() -> Result<Db, DbError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|source| DbError::Open {
                url: "sqlite::memory:".to_owned(),
                source,
            })?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| DbError::Open {
                url: "sqlite::memory:".to_owned(),
                source,
            })?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Db { pool })
    }

    /// The connection pool, for single statements.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a transaction that will write.
    pub async fn write(&self) -> Result<Tx, DbError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Starts a transaction that only reads: every query in it sees the same snapshot.
    pub async fn read(&self) -> Result<Tx, DbError> {
        Ok(self.pool.begin().await?)
    }
}

/// Reads a boolean stored as 0 or 1.
pub(crate) fn flag(value: i64) -> bool {
    value != 0
}
