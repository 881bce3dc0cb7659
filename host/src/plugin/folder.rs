//! The operator's plugin folder, loaded at start-up and, while the server runs, watched.
//!
//! Each `*.wasm` file in `plugins.dir` is a plugin. Loading one means reading it, hashing it,
//! compiling it (the engine's cache skips that for contents it has compiled before), checking
//! its contract version and imports, linking it against the `exporter-plugin` world, asking for
//! its metadata and exporting the sample user once, all in [`PluginRuntime::load`]. Only a
//! plugin that passes every step is made active, by [`PluginRegistry::activate`](super::PluginRegistry::activate) under one
//! write lock: the swap is atomic, and an export that already took the previous version keeps
//! its `Arc` and finishes on it.
//!
//! A file that fails any step changes nothing: the version already serving keeps serving, and
//! the reason is logged with the file's path and kept for `clocky plugins list`. Removing a
//! file removes its plugin, bringing back the built-in plugin of that name if there is one.
//!
//! The watcher and the admin endpoint's reload share one [`PluginFolder`] behind a mutex, so
//! files are never loaded by both at once.
//!
//! Operators should write a new version elsewhere and rename it into the folder, which is
//! atomic. A file copied in place is seen while it is being written; the watcher waits for the
//! folder to be quiet for [`QUIET`] first, and if it still reads a partial file, compiling that
//! fails harmlessly and the last write's event loads the whole one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, new_debouncer};

use super::registry::RegistryError;
use super::{Origin, Plugin, PluginError, PluginRuntime};
use crate::export::PluginSet;

/// A plugin folder shared by its watcher and the admin endpoint.
pub type SharedFolder = Arc<tokio::sync::Mutex<PluginFolder>>;

/// How long the folder must be quiet before changed files are read.
pub const QUIET: Duration = Duration::from_millis(300);

/// The largest plugin file read. The built-in plugins are 0.2 to 1.1 MiB; anything near this
/// is not a plugin, and reading it whole would cost the host that much memory.
pub const MAX_PLUGIN_BYTES: u64 = 64 * 1024 * 1024;

/// What the watcher last saw of a file: device, inode, length and modification time. A read
/// (which the watcher also reports) leaves it alone; a rename-in or a write changes it.
type Fingerprint = (u64, u64, u64, Option<std::time::SystemTime>);

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path).ok()?;
    Some((
        metadata.dev(),
        metadata.ino(),
        metadata.len(),
        metadata.modified().ok(),
    ))
}

/// Reads a plugin file: a regular file (symbolic links followed) of at most
/// [`MAX_PLUGIN_BYTES`], on a blocking thread, so that a named pipe or a device in the folder
/// cannot stall the host.
async fn read_plugin(path: &Path) -> std::io::Result<Vec<u8>> {
    let path = path.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        let metadata = std::fs::metadata(&path)?;
        if !metadata.is_file() {
            return Err(std::io::Error::other("it is not a regular file"));
        }
        if metadata.len() > MAX_PLUGIN_BYTES {
            return Err(std::io::Error::other(format!(
                "it is {} bytes, more than the {MAX_PLUGIN_BYTES} a plugin may be",
                metadata.len()
            )));
        }
        std::fs::read(&path)
    });
    read.await.map_err(std::io::Error::other)?
}

/// What happened to one file.
#[derive(Debug)]
pub enum Change {
    /// The plugin became active (new, or replacing another version).
    Activated {
        /// Its name.
        name: String,
        /// Hex SHA-256 of the component.
        sha256: String,
    },
    /// The file holds exactly what is already active under its name.
    Unchanged,
    /// The file was refused; whatever served before still serves.
    Refused(PluginError),
    /// The file holds a version that was rolled back; whatever serves now keeps serving.
    RolledBackBefore(RegistryError),
    /// The file could not be read.
    Unreadable(std::io::Error),
    /// The file is gone and its plugin with it (or the built-in one is back).
    Removed {
        /// The plugin's name.
        name: String,
    },
    /// Not a plugin file, or a file removed that had not loaded.
    Ignored,
}

/// The folder's plugins and where each came from.
#[derive(Debug)]
pub struct PluginFolder {
    dir: PathBuf,
    runtime: PluginRuntime,
    plugins: PluginSet,
    builtins: BTreeMap<String, Arc<Plugin>>,
    /// Which plugin each loaded file provides.
    loaded_from: HashMap<PathBuf, String>,
    /// What the watcher last saw of each file, so that reading a file does not make it read
    /// again.
    seen: HashMap<PathBuf, Option<Fingerprint>>,
}

impl PluginFolder {
    /// A folder whose plugins go into `plugins`, over the `builtins` already there.
    pub fn new(
        dir: PathBuf,
        runtime: PluginRuntime,
        plugins: PluginSet,
        builtins: BTreeMap<String, Arc<Plugin>>,
    ) -> PluginFolder {
        PluginFolder {
            dir,
            runtime,
            plugins,
            builtins,
            loaded_from: HashMap::new(),
            seen: HashMap::new(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads every `*.wasm` in the folder, in name order, and forgets files that are gone.
    /// Returns what happened to each file.
    pub async fn load_all(&mut self) -> std::io::Result<Vec<(PathBuf, Change)>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .flatten()
            .map(|entry| entry.path())
            .collect();
        // A file removed while nobody watched is noticed here.
        paths.extend(
            self.loaded_from
                .keys()
                .filter(|path| !path.exists())
                .cloned(),
        );
        paths.sort();
        paths.dedup();
        let mut changes = Vec::new();
        for path in &paths {
            let change = self.refresh(path).await;
            if !matches!(change, Change::Ignored) {
                changes.push((path.clone(), change));
            }
        }
        // A refused file that is gone is no longer worth listing.
        self.plugins
            .retain_refusals(|path| paths.iter().any(|seen| seen == path) && path.exists());
        Ok(changes)
    }

    /// Like [`PluginFolder::refresh`], but only when the file differs from what this folder last
    /// saw of it. The watcher uses this: it is told about reads too, including its own.
    pub async fn refresh_if_changed(&mut self, path: &Path) -> Option<Change> {
        let now = fingerprint(path);
        if self.seen.get(path) == Some(&now) {
            return None;
        }
        Some(self.refresh(path).await)
    }

    /// Brings the plugin set in line with the file at `path`, and logs what happened.
    pub async fn refresh(&mut self, path: &Path) -> Change {
        if path.extension().is_none_or(|ext| ext != "wasm") {
            return Change::Ignored;
        }
        self.seen.insert(path.to_owned(), fingerprint(path));
        let change = match read_plugin(path).await {
            Ok(bytes) => self.load(path, bytes).await,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                self.seen.remove(path);
                self.remove(path)
            }
            Err(error) => Change::Unreadable(error),
        };
        let file = path.display();
        match &change {
            Change::Refused(error) => {
                self.plugins
                    .refused(path, error.to_string(), chrono::Utc::now().timestamp());
            }
            Change::RolledBackBefore(error) => {
                self.plugins
                    .refused(path, error.to_string(), chrono::Utc::now().timestamp());
            }
            Change::Unreadable(error) => {
                let reason = format!("the file could not be read: {error}");
                self.plugins
                    .refused(path, reason, chrono::Utc::now().timestamp());
            }
            Change::Activated { .. }
            | Change::Unchanged
            | Change::Removed { .. }
            | Change::Ignored => {
                self.plugins.forget_refusal(path);
            }
        }
        match &change {
            Change::Activated { name, sha256 } => {
                tracing::info!(path = %file, plugin = %name, %sha256, "plugin activated");
            }
            Change::Refused(error) => tracing::error!(
                path = %file,
                error = %error,
                "plugin refused; the version already active keeps serving"
            ),
            Change::RolledBackBefore(error) => tracing::warn!(
                path = %file,
                error = %error,
                "plugin file not activated again"
            ),
            Change::Unreadable(error) => {
                tracing::error!(path = %file, %error, "plugin file unreadable");
            }
            Change::Removed { name } => {
                tracing::info!(path = %file, plugin = %name, "plugin removed");
            }
            Change::Unchanged | Change::Ignored => {}
        }
        change
    }

    async fn load(&mut self, path: &Path, bytes: Vec<u8>) -> Change {
        let mut plugin = match self.runtime.load(bytes).await {
            Ok(plugin) => plugin,
            Err(error) => return Change::Refused(error),
        };
        plugin.origin = Origin::File(path.to_owned());
        let name = plugin.metadata.name.clone();
        // Two files providing one plugin would leave which serves to the order they are read
        // in; the second is refused, and the operator replaces the first instead.
        if let Some((other, _)) = self
            .loaded_from
            .iter()
            .find(|(other, provided)| **provided == name && other.as_path() != path)
        {
            return Change::Refused(PluginError::NameTaken {
                name,
                file: other.display().to_string(),
            });
        }
        // A name keeps its scope: a server-wide plugin replacing `data-export` would take the
        // default format away from every /data-export.
        let serving = self
            .plugins
            .get(&name)
            .or_else(|| self.builtins.get(&name).cloned());
        if let Some(serving) = serving
            && serving.scope != plugin.scope
        {
            return Change::Refused(PluginError::ScopeChanged {
                name,
                serving: serving.scope,
                new: plugin.scope,
            });
        }
        let sha256 = plugin.sha256.clone();
        let unchanged = match self.plugins.activate(Arc::new(plugin)) {
            Ok(activation) => activation == super::registry::Activation::Unchanged,
            Err(error) => return Change::RolledBackBefore(error),
        };
        // Recorded even when unchanged: the file provides the plugin, so removing the file
        // must remove it. A file rewritten to provide another plugin no longer provides its
        // old one.
        if let Some(previous) = self.loaded_from.insert(path.to_owned(), name.clone())
            && previous != name
        {
            self.restore(&previous);
        }
        if unchanged {
            Change::Unchanged
        } else {
            Change::Activated { name, sha256 }
        }
    }

    fn remove(&mut self, path: &Path) -> Change {
        match self.loaded_from.remove(path) {
            Some(name) => {
                self.restore(&name);
                Change::Removed { name }
            }
            None => Change::Ignored,
        }
    }

    /// Puts back the built-in plugin called `name`, or drops the name, unless another file
    /// in the folder still provides it.
    fn restore(&mut self, name: &str) {
        if self.loaded_from.values().any(|provided| provided == name) {
            return;
        }
        self.plugins.replace(name, self.builtins.get(name).cloned());
    }

    /// Watches the folder until the task is dropped, refreshing each file that changes.
    /// Returns an error when the folder cannot be watched at all.
    ///
    /// The folder is read again once the watch is in place, so that a file that arrived since
    /// start-up is picked up, and the watch learns which file provides which plugin. Reading it
    /// before watching would miss a file renamed in between.
    pub async fn watch(folder: SharedFolder) -> Result<(), notify_debouncer_mini::notify::Error> {
        let (sender, mut changes) = tokio::sync::mpsc::unbounded_channel::<DebounceEventResult>();
        let mut debouncer = new_debouncer(QUIET, move |event| {
            // The receiver is gone only when this task stopped.
            let _ = sender.send(event);
        })?;
        let dir = folder.lock().await.dir.clone();
        debouncer
            .watcher()
            .watch(&dir, RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %dir.display(), "watching the plugin folder");
        if let Err(error) = folder.lock().await.load_all().await {
            tracing::error!(dir = %dir.display(), %error, "cannot read the plugin folder");
        }

        while let Some(batch) = changes.recv().await {
            match batch {
                Ok(events) => {
                    let mut paths: Vec<PathBuf> = events.into_iter().map(|e| e.path).collect();
                    paths.sort();
                    paths.dedup();
                    let mut folder = folder.lock().await;
                    for path in paths {
                        folder.refresh_if_changed(&path).await;
                    }
                }
                Err(error) => tracing::warn!(%error, "the plugin folder watcher reported an error"),
            }
        }
        Ok(())
    }
}
