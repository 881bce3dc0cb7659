//! Which version of each plugin serves, which served before it, and what became of each file.
//!
//! The [`PluginRegistry`] maps each plugin name to its active version. An export takes an `Arc`
//! of the active version when it starts and keeps it to the end, so replacing a version under
//! the registry's write lock is one atomic swap that never interrupts a running export.
//!
//! Beside the active versions it keeps what an operator needs to see and undo a change:
//!
//! - per name, the versions that served before the active one (newest last, at most
//!   [`KEEP_PREVIOUS`]), which `rollback` returns to;
//! - the versions that were rolled back, by hash, so that the file that provided one is not
//!   activated again merely because the folder is read again. With a database attached
//!   ([`PluginRegistry::with_db`]) they are also written to `plugin_rollbacks` and read back at
//!   start-up, so a restart does not bring them back either;
//! - per file, why it was refused, until it loads or goes away.
//!
//! **Probation.** A version that replaced another is watched over its first exports. When, after
//! at least [`Probation::min_exports`] of them, the share that failed reaches
//! [`Probation::failure_percent`], the registry rolls back to the previous version by itself
//! and logs it. A version that has served [`Probation::exports`] exports is trusted.
//!
//! Lock order: `book` before `active`, always.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{Origin, Plugin, Scope};
use crate::db::{Db, DbError};

/// How many earlier versions of a plugin are kept for rollback.
pub const KEEP_PREVIOUS: usize = 4;

/// When a new version is rolled back by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probation {
    /// How many of a new version's first exports are watched.
    pub exports: u64,
    /// How many exports must have finished before the share of failures is judged.
    pub min_exports: u64,
    /// The share of failed exports, in percent, at which the version is rolled back.
    pub failure_percent: u64,
}

/// What [`PluginRegistry::activate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// The version now serves.
    Activated,
    /// Exactly this version already served.
    Unchanged,
}

/// Why a version could not be activated or rolled back.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RegistryError {
    /// The version was rolled back earlier and is not taken again.
    #[error(
        "this version ({version}, sha256 {sha256}) was rolled back ({reason}); publish a new version"
    )]
    RolledBack {
        /// Its version.
        version: String,
        /// Its hash.
        sha256: String,
        /// Why it was rolled back.
        reason: String,
    },
    /// No plugin of that name serves.
    #[error("no plugin called {0:?} is active")]
    NoSuchPlugin(String),
    /// The version to roll back is no longer the one serving.
    #[error("the version of {0:?} to roll back no longer serves")]
    NoLongerActive(String),
    /// Nothing served before the active version.
    #[error("{0:?} has no earlier version to go back to")]
    NothingToRollBackTo(String),
}

/// A version that was rolled back.
#[derive(Debug, Clone)]
struct Retired {
    report: PluginReport,
}

/// A file that could not be loaded.
#[derive(Debug, Clone)]
struct Refusal {
    reason: String,
    at: i64,
}

#[derive(Debug, Default)]
struct Book {
    previous: HashMap<String, Vec<Arc<Plugin>>>,
    retired: Vec<Retired>,
    refused: BTreeMap<PathBuf, Refusal>,
}

/// The state of one plugin version or file, as `clocky plugins list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginReport {
    /// The plugin's name; for a refused file, the file name.
    pub name: String,
    /// Its version, when known.
    pub version: Option<String>,
    /// Hex SHA-256 of the component, when known.
    pub sha256: Option<String>,
    /// The `clocky:plugin` contract version it was built for, when known.
    pub world_version: Option<String>,
    /// Whose data it reads, `user` or `server`, when known.
    #[serde(default)]
    pub scope: Option<String>,
    /// `active`, `standby` (served before; rollback returns to it), `rolled-back` or `refused`.
    pub state: String,
    /// `built-in`, or the file it came from.
    pub origin: String,
    /// When it was loaded or refused, in whole UTC seconds.
    pub loaded_at: i64,
    /// How long loading took, checks and check run included, in milliseconds.
    pub load_ms: Option<u64>,
    /// Exports it finished.
    pub served: u64,
    /// Exports it failed.
    pub failed: u64,
    /// Why it is rolled back or refused.
    pub reason: Option<String>,
}

impl PluginReport {
    fn of(plugin: &Plugin, state: &str) -> PluginReport {
        PluginReport {
            name: plugin.metadata.name.clone(),
            version: Some(plugin.metadata.version.clone()),
            sha256: Some(plugin.sha256.clone()),
            world_version: Some(plugin.world_version.to_string()),
            scope: Some(plugin.scope.to_string()),
            state: state.to_owned(),
            origin: plugin.origin.to_string(),
            loaded_at: plugin.loaded_at,
            load_ms: Some(u64::try_from(plugin.load_time.as_millis()).unwrap_or(u64::MAX)),
            served: plugin.stats.served(),
            failed: plugin.stats.failed(),
            reason: None,
        }
    }
}

/// A rollback that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    /// The plugin.
    pub name: String,
    /// The version taken out of service.
    pub from: String,
    /// The version serving again.
    pub to: String,
}

/// The active plugins and their history. See the module documentation.
#[derive(Debug)]
pub struct PluginRegistry {
    active: RwLock<BTreeMap<String, Arc<Plugin>>>,
    book: Mutex<Book>,
    probation: Probation,
    db: Option<Db>,
}

impl PluginRegistry {
    /// A registry serving `plugins` (normally the built-in ones).
    pub fn new(plugins: impl IntoIterator<Item = Arc<Plugin>>, probation: Probation) -> Self {
        let active = plugins
            .into_iter()
            .map(|plugin| (plugin.metadata.name.clone(), plugin))
            .collect();
        PluginRegistry {
            active: RwLock::new(active),
            book: Mutex::new(Book::default()),
            probation,
            db: None,
        }
    }

    /// The same registry, remembering rollbacks in `db`: those already recorded there are
    /// refused from now on, and every new one is written there.
    pub async fn with_db(mut self, db: Db) -> Result<Self, DbError> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT sha256, name, version, reason, rolled_back_at FROM plugin_rollbacks
             ORDER BY rolled_back_at",
        )
        .fetch_all(db.pool())
        .await?;
        let book = self
            .book
            .get_mut()
            .unwrap_or_else(|poison| poison.into_inner());
        for (sha256, name, version, reason, at) in rows {
            book.retired.push(Retired {
                report: PluginReport {
                    name,
                    version: Some(version),
                    sha256: Some(sha256),
                    world_version: None,
                    scope: None,
                    state: "rolled-back".to_owned(),
                    origin: "an earlier run".to_owned(),
                    loaded_at: at,
                    load_ms: None,
                    served: 0,
                    failed: 0,
                    reason: Some(reason),
                },
            });
        }
        self.db = Some(db);
        Ok(self)
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        // Nothing panics while holding it; if something did, the book is still consistent
        // enough to read, and refusing every export would be worse.
        self.book
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Plugin>>> {
        self.active
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The active version of `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.active
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(name)
            .cloned()
    }

    /// The names of the active plugins, in order.
    pub fn names(&self) -> Vec<String> {
        self.active
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// The names of the active plugins of `scope`, in order: the formats a personal or a
    /// server-wide export can be asked for in.
    pub fn names_of(&self, scope: Scope) -> Vec<String> {
        self.active
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .values()
            .filter(|plugin| plugin.scope == scope)
            .map(|plugin| plugin.metadata.name.clone())
            .collect()
    }

    /// Makes `plugin` the active version of its name, keeping the one it replaces for rollback.
    pub fn activate(&self, plugin: Arc<Plugin>) -> Result<Activation, RegistryError> {
        let mut book = self.book();
        if let Some(retired) = book
            .retired
            .iter()
            .find(|retired| retired.report.sha256.as_deref() == Some(plugin.sha256.as_str()))
        {
            return Err(RegistryError::RolledBack {
                version: plugin.metadata.version.clone(),
                sha256: plugin.sha256.clone(),
                reason: retired.report.reason.clone().unwrap_or_default(),
            });
        }
        let name = plugin.metadata.name.clone();
        let mut active = self.write();
        if active
            .get(&name)
            .is_some_and(|current| current.sha256 == plugin.sha256)
        {
            return Ok(Activation::Unchanged);
        }
        let sha256 = plugin.sha256.clone();
        if let Some(replaced) = active.insert(name.clone(), plugin) {
            let previous = book.previous.entry(name).or_default();
            // A version is either serving or standing by, never both.
            previous.retain(|kept| kept.sha256 != replaced.sha256 && kept.sha256 != sha256);
            previous.push(replaced);
            if previous.len() > KEEP_PREVIOUS {
                previous.remove(0);
            }
        }
        Ok(Activation::Activated)
    }

    /// Puts `fallback` in place of whatever serves as `name` (or takes the name out of service),
    /// forgetting its earlier versions: used when the file that provided it is removed.
    pub fn replace(&self, name: &str, fallback: Option<Arc<Plugin>>) {
        let mut book = self.book();
        book.previous.remove(name);
        let mut active = self.write();
        match fallback {
            Some(plugin) => {
                active.insert(name.to_owned(), plugin);
            }
            None => {
                active.remove(name);
            }
        }
    }

    /// Takes the active version of `name` out of service and brings back the one before it.
    /// The version taken out is not activated again from the same bytes.
    pub fn rollback(&self, name: &str, reason: &str) -> Result<RolledBack, RegistryError> {
        self.rollback_version(name, None, reason)
    }

    /// Rolls `name` back, but only while `expected` (when given) is the version serving, all
    /// under the locks: two exports failing at once must not roll back two versions.
    fn rollback_version(
        &self,
        name: &str,
        expected: Option<&Arc<Plugin>>,
        reason: &str,
    ) -> Result<RolledBack, RegistryError> {
        let mut book = self.book();
        let mut active = self.write();
        let Some(current) = active.get(name).cloned() else {
            return Err(RegistryError::NoSuchPlugin(name.to_owned()));
        };
        if expected.is_some_and(|expected| !Arc::ptr_eq(expected, &current)) {
            return Err(RegistryError::NoLongerActive(name.to_owned()));
        }
        let retired: Vec<String> = book
            .retired
            .iter()
            .filter_map(|retired| retired.report.sha256.clone())
            .collect();
        let previous = book.previous.get_mut(name).and_then(|versions| {
            // Versions retired since they were set aside are not brought back.
            versions.retain(|kept| !retired.contains(&kept.sha256));
            versions.pop()
        });
        let Some(previous) = previous else {
            return Err(RegistryError::NothingToRollBackTo(name.to_owned()));
        };
        let rolled_back = RolledBack {
            name: name.to_owned(),
            from: current.metadata.version.clone(),
            to: previous.metadata.version.clone(),
        };
        active.insert(name.to_owned(), previous);
        drop(active);
        let mut report = PluginReport::of(&current, "rolled-back");
        report.reason = Some(reason.to_owned());
        self.remember(&report);
        book.retired.push(Retired { report });
        tracing::warn!(
            plugin = %name,
            from = %rolled_back.from,
            to = %rolled_back.to,
            sha256 = %current.sha256,
            %reason,
            "plugin rolled back"
        );
        Ok(rolled_back)
    }

    /// Writes a rollback to the database, off the caller's path: rollbacks happen inside an
    /// export, under the registry's locks. A failed write is logged; the rollback itself holds
    /// until the next restart either way.
    fn remember(&self, report: &PluginReport) {
        let (Some(db), Ok(runtime)) = (self.db.clone(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let report = report.clone();
        runtime.spawn(async move {
            let written = sqlx::query(
                "INSERT INTO plugin_rollbacks (sha256, name, version, reason, rolled_back_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(report.sha256.as_deref().unwrap_or_default())
            .bind(&report.name)
            .bind(report.version.as_deref().unwrap_or_default())
            .bind(report.reason.as_deref().unwrap_or_default())
            .bind(chrono::Utc::now().timestamp())
            .execute(db.pool())
            .await;
            if let Err(error) = written {
                tracing::error!(%error, plugin = %report.name, "could not record the rollback; a restart may serve that version again");
            }
        });
    }

    /// Counts one finished export of `plugin`, and rolls the plugin back if it is on probation
    /// and failing too often.
    pub fn record(&self, plugin: &Arc<Plugin>, succeeded: bool) -> Option<RolledBack> {
        let (served, failed) = plugin.stats.count(succeeded);
        let finished = served + failed;
        let probation = self.probation;
        if succeeded
            || finished > probation.exports
            || finished < probation.min_exports
            || failed.saturating_mul(100) < probation.failure_percent.saturating_mul(finished)
        {
            return None;
        }
        // Only the version still serving is rolled back, and only once: another worker may
        // have rolled it back a moment ago, which `rollback_version` checks under the locks.
        let reason = format!(
            "{failed} of its first {finished} exports failed, at or over the {}% threshold",
            probation.failure_percent
        );
        self.rollback_version(&plugin.metadata.name, Some(plugin), &reason)
            .ok()
    }

    /// Records that the file at `path` was refused, and why.
    pub fn refused(&self, path: &Path, reason: String, at: i64) {
        self.book()
            .refused
            .insert(path.to_owned(), Refusal { reason, at });
    }

    /// Keeps only the refusals of files for which `keep` holds.
    pub fn retain_refusals(&self, mut keep: impl FnMut(&Path) -> bool) {
        self.book().refused.retain(|path, _| keep(path));
    }

    /// Forgets a refusal of the file at `path`: it loaded, or it is gone.
    pub fn forget_refusal(&self, path: &Path) {
        self.book().refused.remove(path);
    }

    /// Every version and file the registry knows of: active, standby, rolled back, refused.
    pub fn report(&self) -> Vec<PluginReport> {
        let book = self.book();
        let active = self
            .active
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut reports: Vec<PluginReport> = active
            .values()
            .map(|plugin| PluginReport::of(plugin, "active"))
            .collect();
        for versions in book.previous.values() {
            reports.extend(
                versions
                    .iter()
                    .rev()
                    .map(|plugin| PluginReport::of(plugin, "standby")),
            );
        }
        reports.extend(book.retired.iter().map(|retired| retired.report.clone()));
        reports.extend(book.refused.iter().map(|(path, refusal)| PluginReport {
            name: path.file_name().map_or_else(
                || path.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            ),
            version: None,
            sha256: None,
            world_version: None,
            scope: None,
            state: "refused".to_owned(),
            origin: Origin::File(path.clone()).to_string(),
            loaded_at: refusal.at,
            load_ms: None,
            served: 0,
            failed: 0,
            reason: Some(refusal.reason.clone()),
        }));
        reports.sort_by(|a, b| a.name.cmp(&b.name));
        reports
    }
}
