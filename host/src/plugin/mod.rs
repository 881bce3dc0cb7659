//! The plugin sandbox.
//!
//! Plugins are WebAssembly components of the `exporter-plugin` world in `wit/` (one user's
//! data) or of its `server-exporter-plugin` world (one server's sessions, [`Scope::Server`]). This module owns
//! the one wasmtime [`Engine`] of the process, compiles each plugin once, and runs every export in
//! a fresh [`Store`]: a new instance with its own memory, so nothing one user's export leaves
//! behind can be read by the next, and every limit starts from zero.
//!
//! Secure defaults, all set in [`PluginRuntime::new`] and [`PluginRuntime::store`]:
//!
//! - **no filesystem**: the WASI context has no preopened directories;
//! - **no network**: TCP, UDP and name lookups are refused and no address is allowed;
//! - **no environment**: no variables, no arguments, stdin closed, stdout discarded;
//! - standard error is captured (up to [`limits::MAX_STDERR_BYTES`]) and logged, because that is
//!   where a Rust guest's panic message goes;
//! - **CPU time** through epoch interruption: a ticker thread advances the engine's epoch every
//!   [`limits::TICK`] and each store counts the ticks its guest code runs through. Epochs rather
//!   than fuel because fuel slows every guest instruction, while an epoch check is one load and
//!   compare at loop heads, and because ticks measure time, which is what a worker runs out of;
//! - **wall time**, **memory**, **output size** and **log volume** as in [`limits`];
//! - a trap, a timeout or memory exhaustion comes back as a [`PluginError`], never as a panic or
//!   an abort of the host.
//!
//! The WASI imports are linked (with everything denied) because Rust's standard library for
//! `wasm32-wasip2` imports a few of them even when a plugin never touches a file.

mod capability;
pub mod check;
pub mod folder;
pub mod limits;
pub mod registry;
pub mod sample;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use capability::Capability;
pub use limits::Limits;
use limits::{MAX_STDERR_BYTES, MemoryLimiter, TICK};
pub use registry::{PluginRegistry, PluginReport, Probation};

/// Bindings generated from `wit/` for the host side: the current contract version,
/// [`WORLD_VERSION`].
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "exporter-plugin",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq],
    });
}

/// Bindings for server-wide plugins (`server-exporter-plugin`), of the current version. The
/// records and the log are [`bindings`]' own; only `server-data` is linked from here.
pub mod bindings_server {
    wasmtime::component::bindgen!({
        world: "server-exporter-plugin",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "clocky:plugin/types": super::bindings::clocky::plugin::types,
            "clocky:plugin/log": super::bindings::clocky::plugin::log,
        },
    });
}

/// Bindings for plugins built for `clocky:plugin@1.1.0` (`wit/versions/1.1.0`). The records
/// are shared with [`bindings`], so the host answers every version with one implementation;
/// only the exporter's own types are converted.
pub mod bindings_1_1 {
    wasmtime::component::bindgen!({
        world: "exporter-plugin",
        path: "../wit/versions/1.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "clocky:plugin/types": super::bindings::clocky::plugin::types },
    });
}

/// Bindings for plugins built for `clocky:plugin@1.0.0` (`wit/versions/1.0.0`), sharing the
/// records like [`bindings_1_1`].
pub mod bindings_1_0 {
    wasmtime::component::bindgen!({
        world: "exporter-plugin",
        path: "../wit/versions/1.0.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "clocky:plugin/types": super::bindings::clocky::plugin::types },
    });
}

use bindings::exports::clocky::plugin::exporter::{self, ExportRequest};
use bindings::{ExporterPlugin, ExporterPluginPre};

/// The WIT package version this host implements. Plugins built for any earlier 1.x version
/// are served too, each through its own bindings.
pub const WORLD_VERSION: &str = "1.2.0";

/// Whose data a plugin reads, decided by the capability it imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One user's own data (`user-data`): `/data-export` and `clocky export`.
    User,
    /// One server's sessions (`server-data`): `/server-export`.
    Server,
}

impl Scope {
    /// The word operators see.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Server => "server",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a plugin could not be loaded or did not produce a document.
#[derive(Debug, Error)]
pub enum PluginError {
    /// The bytes are not a WebAssembly component wasmtime can compile.
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// The component does not fit the `exporter-plugin` world: a missing export, an import the
    /// host does not provide, or a type that differs.
    #[error("does not fit Clocky's plugin contract (clocky:plugin@{WORLD_VERSION}): {0}")]
    Contract(String),
    /// The component was built for a version of the contract this host does not serve.
    #[error(
        "was built for clocky:plugin@{plugin}, but this host serves clocky:plugin@{host} and \
         earlier {major}.x versions; rebuild it against this host's wit/ folder, or upgrade the host",
        major = check::host_version().major
    )]
    WorldVersion {
        /// The version the plugin was built for.
        plugin: String,
        /// The host's version.
        host: String,
    },
    /// The component imports an interface plugins may not use.
    #[error("imports `{interface}`, which is not allowed: {reason}")]
    ForbiddenImport {
        /// The interface, as the component names it.
        interface: String,
        /// Why it is refused.
        reason: String,
    },
    /// Another file in the plugin folder already provides a plugin of this name.
    #[error(
        "provides the plugin {name:?}, which {file} already provides; replace that file \
         (write the new version beside the folder and rename it over that file) instead of \
         adding another"
    )]
    NameTaken {
        /// The plugin's name.
        name: String,
        /// The file that provides it.
        file: String,
    },
    /// The plugin has the name of one that serves the other scope.
    #[error(
        "is a {new} plugin called {name:?}, but {name:?} serves as a {serving} plugin; a name \
         keeps its scope, so that /data-export and /server-export formats do not change under \
         their users: give this plugin another name"
    )]
    ScopeChanged {
        /// The plugin's name.
        name: String,
        /// The scope of the version serving under that name.
        serving: Scope,
        /// The scope of the refused one.
        new: Scope,
    },
    /// The plugin failed its export of the sample user.
    #[error("failed its check run against the sample user `{user}`: {0}", user = sample::SAMPLE_USERNAME)]
    CheckRun(String),
    /// The metadata the plugin reports cannot be used.
    #[error("invalid metadata: {0}")]
    Metadata(String),
    /// The guest used up its CPU time.
    #[error("ran out of CPU time after {limit_ms} ms")]
    Timeout {
        /// The limit in force.
        limit_ms: u128,
    },
    /// The whole call ran past the wall-clock limit.
    #[error("did not finish within {limit_s} s")]
    WallTimeout {
        /// The limit in force.
        limit_s: u64,
    },
    /// The guest asked for more memory than allowed.
    #[error("ran out of memory (limit {limit} bytes)")]
    OutOfMemory {
        /// The limit in force.
        limit: usize,
    },
    /// The document is larger than allowed.
    #[error("returned {size} bytes, more than the limit of {limit}")]
    OutputTooLarge {
        /// What the plugin returned.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The guest trapped (a panic, an unreachable, an out-of-bounds access...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The plugin reported a failure of its own through the WIT `export-error`.
    #[error("reported an error: {0}")]
    Guest(String),
}

impl PluginError {
    /// A short word for the job record and the metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Invalid(_)
            | PluginError::Contract(_)
            | PluginError::WorldVersion { .. }
            | PluginError::ForbiddenImport { .. }
            | PluginError::Metadata(_)
            | PluginError::NameTaken { .. }
            | PluginError::ScopeChanged { .. }
            | PluginError::CheckRun(_) => "invalid-plugin",
            PluginError::Timeout { .. } | PluginError::WallTimeout { .. } => "timeout",
            PluginError::OutOfMemory { .. } => "out-of-memory",
            PluginError::OutputTooLarge { .. } => "output-too-large",
            PluginError::Trap(_) => "trap",
            PluginError::Guest(_) => "plugin-error",
        }
    }
}

/// What a plugin says about itself, checked when it is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Machine name, such as `data-export`.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// Media type of its documents.
    pub media_type: String,
    /// File extension of its documents, without a dot.
    pub file_extension: String,
    /// One sentence for people.
    pub description: String,
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Embedded in the host binary.
    Builtin,
    /// A file in the plugin folder.
    File(PathBuf),
    /// Bytes handed over some other way (a check, a test, a benchmark).
    Bytes,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin => f.write_str("built-in"),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Bytes => f.write_str("bytes"),
        }
    }
}

/// Exports a plugin version finished and failed, counted since it was loaded.
#[derive(Debug, Default)]
pub struct Stats {
    served: AtomicU64,
    failed: AtomicU64,
}

impl Stats {
    /// Exports finished.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Exports failed.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Counts one export and returns the counts after it, as (served, failed).
    fn count(&self, succeeded: bool) -> (u64, u64) {
        if succeeded {
            (
                self.served.fetch_add(1, Ordering::Relaxed) + 1,
                self.failed(),
            )
        } else {
            (
                self.served(),
                self.failed.fetch_add(1, Ordering::Relaxed) + 1,
            )
        }
    }
}

/// A compiled, checked plugin, ready to run any number of exports.
pub struct Plugin {
    /// What it says about itself.
    pub metadata: Metadata,
    /// Hex SHA-256 of the component's bytes.
    pub sha256: String,
    /// The contract version it was built for.
    pub world_version: semver::Version,
    /// Whose data it reads.
    pub scope: Scope,
    /// Where it came from; set by whoever loaded it.
    pub origin: Origin,
    /// When it was loaded, in whole UTC seconds.
    pub loaded_at: i64,
    /// How long loading took, from bytes to a passed check run.
    pub load_time: Duration,
    /// Its exports so far.
    pub stats: Stats,
    /// The interfaces it imports, all of them allowed.
    pub imports: Vec<String>,
    /// What its check run produced.
    pub check_run: CheckRunSummary,
    pre: Pre,
}

/// A plugin pre-instantiated through the bindings of the contract version and world it was
/// built for.
enum Pre {
    /// Built for [`WORLD_VERSION`].
    Current(ExporterPluginPre<GuestState>),
    /// Built for 1.1.0.
    V1_1(bindings_1_1::ExporterPluginPre<GuestState>),
    /// Built for 1.0.0.
    V1_0(bindings_1_0::ExporterPluginPre<GuestState>),
    /// A server-wide plugin, built for [`WORLD_VERSION`].
    Server(bindings_server::ServerExporterPluginPre<GuestState>),
}

/// Asks an instance made through other bindings than [`bindings`] for its metadata, converting
/// the answer to the current types (the records are the same, the Rust types are not).
macro_rules! metadata_through {
    ($pre:expr, $store:expr) => {{
        let instance = $pre.instantiate_async(&mut *$store).await?;
        let old = instance
            .clocky_plugin_exporter()
            .call_metadata($store)
            .await?;
        Ok(exporter::PluginMetadata {
            name: old.name,
            version: old.version,
            media_type: old.media_type,
            file_extension: old.file_extension,
            description: old.description,
        })
    }};
}

/// Runs one export through other bindings than [`bindings`]; `$($module)::+` names their
/// `exporter` module. The request and the answer are converted field by field.
macro_rules! export_through {
    ($pre:expr, $store:expr, $request:expr, $($module:ident)::+) => {{
        use $($module)::+ as old;
        let instance = $pre.instantiate_async(&mut *$store).await?;
        let request = old::ExportRequest {
            generated_at: $request.generated_at,
        };
        let result = instance
            .clocky_plugin_exporter()
            .call_export($store, request)
            .await?;
        Ok(match result {
            Ok(document) => Ok(exporter::Document {
                bytes: document.bytes,
                sessions_included: document.sessions_included,
                servers_included: document.servers_included,
            }),
            Err(old::ExportError::QueryFailed(error)) => {
                Err(exporter::ExportError::QueryFailed(error))
            }
            Err(old::ExportError::InvalidData(text)) => {
                Err(exporter::ExportError::InvalidData(text))
            }
            Err(old::ExportError::Internal(text)) => Err(exporter::ExportError::Internal(text)),
        })
    }};
}

impl Pre {
    /// Pre-instantiates `instance_pre` with the bindings of `version` and `scope`, which
    /// [`check::world_version`] and [`check::scope`] have already accepted.
    fn new(
        instance_pre: wasmtime::component::InstancePre<GuestState>,
        version: &semver::Version,
        scope: Scope,
    ) -> wasmtime::Result<Pre> {
        Ok(match (scope, version.major, version.minor) {
            (Scope::Server, _, _) => {
                Pre::Server(bindings_server::ServerExporterPluginPre::new(instance_pre)?)
            }
            (Scope::User, 1, 0) => Pre::V1_0(bindings_1_0::ExporterPluginPre::new(instance_pre)?),
            (Scope::User, 1, 1) => Pre::V1_1(bindings_1_1::ExporterPluginPre::new(instance_pre)?),
            (Scope::User, _, _) => Pre::Current(ExporterPluginPre::new(instance_pre)?),
        })
    }

    /// Instantiates the plugin in `store` and drops the instance.
    async fn instantiate(&self, store: &mut Store<GuestState>) -> wasmtime::Result<()> {
        match self {
            Pre::Current(pre) => pre.instantiate_async(store).await.map(drop),
            Pre::V1_1(pre) => pre.instantiate_async(store).await.map(drop),
            Pre::V1_0(pre) => pre.instantiate_async(store).await.map(drop),
            Pre::Server(pre) => pre.instantiate_async(store).await.map(drop),
        }
    }

    /// Instantiates the plugin in `store` and asks for its metadata.
    async fn metadata(
        &self,
        store: &mut Store<GuestState>,
    ) -> wasmtime::Result<exporter::PluginMetadata> {
        match self {
            Pre::Current(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance.clocky_plugin_exporter().call_metadata(store).await
            }
            Pre::V1_1(pre) => metadata_through!(pre, store),
            Pre::V1_0(pre) => metadata_through!(pre, store),
            Pre::Server(pre) => metadata_through!(pre, store),
        }
    }

    /// Instantiates the plugin in `store` and runs one export.
    async fn export(
        &self,
        store: &mut Store<GuestState>,
        request: ExportRequest,
    ) -> wasmtime::Result<Result<exporter::Document, exporter::ExportError>> {
        match self {
            Pre::Current(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .clocky_plugin_exporter()
                    .call_export(store, request)
                    .await
            }
            Pre::V1_1(pre) => export_through!(
                pre,
                store,
                request,
                bindings_1_1::exports::clocky::plugin::exporter
            ),
            Pre::V1_0(pre) => export_through!(
                pre,
                store,
                request,
                bindings_1_0::exports::clocky::plugin::exporter
            ),
            Pre::Server(pre) => export_through!(
                pre,
                store,
                request,
                bindings_server::exports::clocky::plugin::exporter
            ),
        }
    }
}

/// What a plugin's check run against the sample user produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckRunSummary {
    /// The document's size in bytes.
    pub bytes: usize,
    /// Sessions the plugin said it included (the sample has 4).
    pub sessions_included: u64,
    /// Servers the plugin said it included (the sample has 2).
    pub servers_included: u64,
    /// Host queries it made.
    pub queries: u64,
    /// CPU time in its own code, in milliseconds, to the engine's tick.
    pub cpu_ms: u64,
    /// Wall-clock time of the whole run.
    pub elapsed: Duration,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("metadata", &self.metadata)
            .field("sha256", &self.sha256)
            .field("world_version", &self.world_version)
            .field("scope", &self.scope)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// A finished document and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Sessions in the document, as the plugin counted them.
    pub sessions_included: u64,
    /// Servers in the document, as the plugin counted them.
    pub servers_included: u64,
    /// Host queries the plugin made.
    pub queries: u64,
    /// CPU ticks the guest used.
    pub cpu_ticks: u64,
    /// Log lines the plugin wrote that were kept.
    pub log_lines_written: u32,
    /// Log lines dropped because the plugin wrote more than [`Limits::log_lines`].
    pub log_lines_dropped: u32,
}

/// Per-store state: the WASI context, the limits' bookkeeping and the bound capability.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    limits: Limits,
    /// The data this export may read; none for metadata calls and load-time checks.
    bound: Option<Capability>,
    /// `name@version`, for log lines.
    label: String,
    cpu_ticks: u64,
    cpu_exceeded: bool,
    log_lines_written: u32,
    log_lines_dropped: u32,
    stderr: MemoryOutputPipe,
}

impl fmt::Debug for GuestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestState")
            .field("label", &self.label)
            .field("cpu_ticks", &self.cpu_ticks)
            .finish_non_exhaustive()
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The engine, the linker and the limits every export runs under.
#[derive(Clone)]
pub struct PluginRuntime {
    engine: Engine,
    linker: Arc<Linker<GuestState>>,
    limits: Limits,
    /// The sample user's database for check runs, opened on the first load.
    sample: Arc<tokio::sync::OnceCell<crate::db::Db>>,
    /// Whether the engine uses the pooling allocator.
    pooled: bool,
}

impl fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PluginRuntime {
    /// Builds the engine and starts its epoch ticker. With `cache_dir`, compiled plugins are
    /// kept there, keyed by their content and the engine's settings, so a restart does not
    /// compile the same plugin again.
    ///
    /// Instances come from wasmtime's pooling allocator when the machine lets it reserve the
    /// address space (see [`limits::POOL_INSTANCES`]): memory slots are reserved once and
    /// reused, so starting an export costs microseconds. Where the reservation fails (a
    /// `ulimit -v`, a 32-bit host), the engine falls back to allocating each instance on
    /// demand, which works everywhere and is slower to start, and says so in the log.
    pub fn new(limits: Limits, cache_dir: Option<&Path>) -> Result<Self, PluginError> {
        Self::with_pooling(limits, cache_dir, true)
    }

    /// Like [`PluginRuntime::new`], choosing whether to try the pooling allocator at all; the
    /// benchmarks compare the two.
    pub fn with_pooling(
        limits: Limits,
        cache_dir: Option<&Path>,
        pooling: bool,
    ) -> Result<Self, PluginError> {
        let cache = cache_dir.and_then(|dir| {
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(dir);
            wasmtime::Cache::new(cache_config)
                .inspect_err(|error| tracing::warn!(%error, "plugin compilation cache disabled"))
                .ok()
        });
        let on_demand = |cache| {
            Engine::new(&engine_config(cache, None))
                .map_err(|error| PluginError::Invalid(format!("{error:#}")))
        };
        let (engine, pooled) = if pooling {
            match Engine::new(&engine_config(cache.clone(), Some(&limits))) {
                Ok(engine) => (engine, true),
                Err(error) => {
                    tracing::warn!(
                        error = %format!("{error:#}"),
                        "the pooling allocator is unavailable; plugin instances are allocated on demand"
                    );
                    (on_demand(cache)?, false)
                }
            }
        } else {
            (on_demand(cache)?, false)
        };
        start_ticker(&engine);

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|error| PluginError::Contract(format!("{error:#}")))?;
        // Every supported version's imports, each answered by the same implementation.
        ExporterPlugin::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |state| {
            state
        })
        .map_err(|error| PluginError::Contract(format!("{error:#}")))?;
        bindings_1_1::ExporterPlugin::add_to_linker::<GuestState, HasSelf<GuestState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|error| PluginError::Contract(format!("{error:#}")))?;
        bindings_1_0::ExporterPlugin::add_to_linker::<GuestState, HasSelf<GuestState>>(
            &mut linker,
            |state| state,
        )
        .map_err(|error| PluginError::Contract(format!("{error:#}")))?;
        // The server world shares `log` with the user world, already linked above; only its
        // own capability is added.
        bindings_server::clocky::plugin::server_data::add_to_linker::<
            GuestState,
            HasSelf<GuestState>,
        >(&mut linker, |state| state)
        .map_err(|error| PluginError::Contract(format!("{error:#}")))?;
        Ok(PluginRuntime {
            engine,
            linker: Arc::new(linker),
            limits,
            sample: Arc::new(tokio::sync::OnceCell::new()),
            pooled,
        })
    }

    /// Whether instances come from the pooling allocator.
    pub fn pooled(&self) -> bool {
        self.pooled
    }

    /// Instantiates `plugin` in a fresh store with every limit armed, and drops it: what each
    /// export pays before the plugin's first instruction. For benchmarks.
    pub async fn instantiate(&self, plugin: &Plugin) -> Result<(), PluginError> {
        let mut store = self.store(None, String::new(), self.limits);
        plugin
            .pre
            .instantiate(&mut store)
            .await
            .map_err(|error| PluginError::Trap(format!("{error:#}")))
    }

    /// The limits exports run under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles and checks a component, in this order: it must compile (or be found compiled
    /// in the cache), be built for a contract version this host serves, import nothing outside
    /// the allow-list ([`check`]), link against the `exporter-plugin` world, report usable
    /// metadata, and export the sample user's data successfully under the check run's limits
    /// ([`sample`]). Compilation runs on a blocking thread. The plugin's [`Origin`] is
    /// [`Origin::Bytes`] until the caller says otherwise.
    #[tracing::instrument(name = "plugin.load", skip_all, fields(bytes = bytes.len()))]
    pub async fn load(&self, bytes: Vec<u8>) -> Result<Plugin, PluginError> {
        let started = Instant::now();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let engine = self.engine.clone();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &bytes))
            .await
            .map_err(|error| PluginError::Invalid(format!("compilation did not finish: {error}")))?
            .map_err(|error| {
                let mut text = one_line(&format!("{error:#}"));
                if text.contains("component parser") {
                    text.push_str(
                        " (this is a core WebAssembly module; build the plugin for the \
                         wasm32-wasip2 target, which makes a component)",
                    );
                }
                PluginError::Invalid(text)
            })?;
        let world_version = check::world_version(&component, &self.engine)?;
        let imports = check::imports(&component, &self.engine)?;
        let scope = check::scope(&imports, &world_version)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|error| PluginError::Contract(format!("{error:#}")))?;
        let pre = Pre::new(instance_pre, &world_version, scope)
            .map_err(|error| PluginError::Contract(format!("{error:#}")))?;

        let label = format!("sha256:{}", &sha256[..12]);
        let metadata = self
            .call(None, label, self.limits.for_check_run(), async |store| {
                pre.metadata(store).await
            })
            .await?
            .0;
        let metadata = check_metadata(metadata)?;
        let mut plugin = Plugin {
            metadata,
            sha256,
            world_version,
            scope,
            origin: Origin::Bytes,
            loaded_at: chrono::Utc::now().timestamp(),
            load_time: Duration::ZERO,
            stats: Stats::default(),
            imports,
            check_run: CheckRunSummary::default(),
            pre,
        };
        plugin.check_run = self.check_run(&plugin).await?;
        plugin.load_time = started.elapsed();
        tracing::info!(
            plugin = %plugin.metadata.name,
            version = %plugin.metadata.version,
            sha256 = %plugin.sha256,
            world_version = %plugin.world_version,
            scope = %plugin.scope,
            load_ms = plugin.load_time.as_millis(),
            "plugin loaded"
        );
        Ok(plugin)
    }

    /// Exports the sample user with `plugin` under the check run's limits, and checks the
    /// document against the plugin's media type.
    #[tracing::instrument(name = "plugin.check_run", skip_all)]
    async fn check_run(&self, plugin: &Plugin) -> Result<CheckRunSummary, PluginError> {
        let started = Instant::now();
        let db = self.sample.get_or_try_init(sample::database).await?;
        let owner = sample::owner(plugin.scope)?;
        let tx = db.read().await.map_err(|error| {
            PluginError::CheckRun(format!("the sample data is unreadable: {error}"))
        })?;
        let request = ExportRequest {
            generated_at: sample::SAMPLE_NOW,
        };
        let output = self
            .export_within(
                plugin,
                Capability::new(owner, tx),
                request,
                self.limits.for_check_run(),
            )
            .await
            .map_err(|error| PluginError::CheckRun(error.to_string()))?;
        sample::check_document(&plugin.metadata.media_type, &output.bytes)
            .map_err(PluginError::CheckRun)?;
        let tick_ms = u64::try_from(TICK.as_millis()).unwrap_or(u64::MAX);
        Ok(CheckRunSummary {
            bytes: output.bytes.len(),
            sessions_included: output.sessions_included,
            servers_included: output.servers_included,
            queries: output.queries,
            cpu_ms: output.cpu_ticks.saturating_mul(tick_ms),
            elapsed: started.elapsed(),
        })
    }

    /// Runs one export of `plugin` with `capability` bound.
    #[tracing::instrument(
        name = "plugin.call",
        skip_all,
        fields(plugin = %plugin.metadata.name, version = %plugin.metadata.version)
    )]
    pub async fn export(
        &self,
        plugin: &Plugin,
        capability: Capability,
        request: ExportRequest,
    ) -> Result<Output, PluginError> {
        self.export_within(plugin, capability, request, self.limits)
            .await
    }

    async fn export_within(
        &self,
        plugin: &Plugin,
        capability: Capability,
        request: ExportRequest,
        limits: Limits,
    ) -> Result<Output, PluginError> {
        let label = format!("{}@{}", plugin.metadata.name, plugin.metadata.version);
        let started = Instant::now();
        let (result, state) = self
            .call(Some(capability), label, limits, async move |store| {
                plugin.pre.export(store, request).await
            })
            .await?;
        let document = result.map_err(|error| PluginError::Guest(describe_guest_error(&error)))?;
        if document.bytes.len() > limits.output_bytes {
            return Err(PluginError::OutputTooLarge {
                size: document.bytes.len(),
                limit: limits.output_bytes,
            });
        }
        let queries = state
            .bound
            .as_ref()
            .map_or(0, |capability| capability.queries);
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis(),
            cpu_ticks = state.cpu_ticks,
            queries,
            "plugin call finished"
        );
        Ok(Output {
            bytes: document.bytes,
            sessions_included: document.sessions_included,
            servers_included: document.servers_included,
            queries,
            cpu_ticks: state.cpu_ticks,
            log_lines_written: state.log_lines_written,
            log_lines_dropped: state.log_lines_dropped,
        })
    }

    /// A fresh store with every limit in `limits` armed.
    fn store(&self, bound: Option<Capability>, label: String, limits: Limits) -> Store<GuestState> {
        let stderr = MemoryOutputPipe::new(MAX_STDERR_BYTES);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = GuestState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory_bytes),
            limits,
            bound,
            label,
            cpu_ticks: 0,
            cpu_exceeded: false,
            log_lines_written: 0,
            log_lines_dropped: 0,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let budget = limits.cpu_ticks();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut context| {
            let state = context.data_mut();
            state.cpu_ticks += 1;
            if state.cpu_ticks > budget {
                state.cpu_exceeded = true;
                return Err(wasmtime::Error::msg("CPU time limit reached"));
            }
            // Yielding lets other tasks on this worker thread run between slices of guest code.
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// Runs `call` (which instantiates the plugin) in a fresh store under every limit, turning
    /// whatever went wrong into a [`PluginError`].
    async fn call<R>(
        &self,
        bound: Option<Capability>,
        label: String,
        limits: Limits,
        call: impl AsyncFnOnce(&mut Store<GuestState>) -> wasmtime::Result<R>,
    ) -> Result<(R, GuestState), PluginError> {
        let mut store = self.store(bound, label, limits);
        let run = call(&mut store);
        let outcome = tokio::time::timeout(limits.wall, run).await;
        let state = store.into_data();
        report_guest_output(&state);
        match outcome {
            Err(_) => Err(PluginError::WallTimeout {
                limit_s: limits.wall.as_secs(),
            }),
            Ok(Ok(value)) => Ok((value, state)),
            Ok(Err(error)) => Err(classify(&error, &state, &limits)),
        }
    }
}

/// Joins a multi-line message (wasmparser prints byte lists one per line) into one line, for
/// logs and the operator's list.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The engine's settings; with `pooled`, instances come from a pool sized for those limits.
fn engine_config(cache: Option<wasmtime::Cache>, pooled: Option<&Limits>) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config.cache(cache);
    if let Some(limits) = pooled {
        let slots = limits::POOL_INSTANCES;
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(limits::POOL_CORE_INSTANCES_PER_PLUGIN))
            .total_memories(slots.saturating_mul(limits::POOL_MEMORIES_PER_PLUGIN))
            .total_tables(slots.saturating_mul(limits::POOL_CORE_INSTANCES_PER_PLUGIN))
            .total_stacks(slots)
            .max_memory_size(limits.memory_bytes)
            .max_memories_per_component(limits::POOL_MEMORIES_PER_PLUGIN)
            // Without this cap one plugin could take every core instance slot of the pool
            // and make other plugins' exports fail.
            .max_core_instances_per_component(limits::POOL_CORE_INSTANCES_PER_PLUGIN)
            .max_tables_per_component(limits::POOL_CORE_INSTANCES_PER_PLUGIN);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Logs what the guest wrote to standard error and how many log lines were dropped.
fn report_guest_output(state: &GuestState) {
    let stderr = state.stderr.contents();
    if !stderr.is_empty() {
        let text = String::from_utf8_lossy(&stderr);
        tracing::warn!(plugin = %state.label, stderr = %text.trim_end(), "plugin wrote to standard error");
    }
    if state.log_lines_dropped > 0 {
        tracing::warn!(
            plugin = %state.label,
            dropped = state.log_lines_dropped,
            "plugin log lines over the limit were dropped"
        );
    }
}

/// Sorts a failed call into timeout, out of memory or trap.
fn classify(error: &wasmtime::Error, state: &GuestState, limits: &Limits) -> PluginError {
    if state.cpu_exceeded {
        return PluginError::Timeout {
            limit_ms: limits.cpu.as_millis(),
        };
    }
    if state.limiter.hit {
        return PluginError::OutOfMemory {
            limit: limits.memory_bytes,
        };
    }
    PluginError::Trap(format!("{error:#}"))
}

fn describe_guest_error(error: &exporter::ExportError) -> String {
    use bindings::clocky::plugin::types::QueryError;
    match error {
        exporter::ExportError::QueryFailed(QueryError::InvalidCursor) => {
            "a query was given a cursor the host did not hand out".to_owned()
        }
        exporter::ExportError::QueryFailed(QueryError::InvalidArgument(text)) => {
            format!("a query had an invalid argument: {text}")
        }
        exporter::ExportError::QueryFailed(QueryError::Unavailable) => {
            "the host's storage was unavailable".to_owned()
        }
        exporter::ExportError::InvalidData(text) => format!("invalid data: {text}"),
        exporter::ExportError::Internal(text) => format!("internal error: {text}"),
    }
}

/// Checks the metadata a plugin reports; every field ends up in file names, logs or messages.
fn check_metadata(metadata: exporter::PluginMetadata) -> Result<Metadata, PluginError> {
    let bad = |text: String| Err(PluginError::Metadata(text));
    let name_ok = |text: &str, max: usize| {
        !text.is_empty()
            && text.len() <= max
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
    };
    if !name_ok(&metadata.name, 40) {
        return bad(format!(
            "name {:?} must be 1 to 40 lowercase letters, digits and dashes",
            metadata.name
        ));
    }
    if metadata.version.is_empty()
        || metadata.version.len() > 40
        || !metadata
            .version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+".contains(&b))
    {
        return bad(format!(
            "version {:?} must look like 1.2.3",
            metadata.version
        ));
    }
    if !name_ok(&metadata.file_extension, 10) || metadata.file_extension.contains('-') {
        return bad(format!(
            "file extension {:?} must be 1 to 10 lowercase letters or digits",
            metadata.file_extension
        ));
    }
    let media_ok = metadata.media_type.len() <= 100
        && metadata
            .media_type
            .split_once('/')
            .is_some_and(|(kind, sub)| {
                !kind.is_empty()
                    && !sub.is_empty()
                    && metadata
                        .media_type
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && b != b';')
            });
    if !media_ok {
        return bad(format!(
            "media type {:?} must look like application/json",
            metadata.media_type
        ));
    }
    if metadata.description.chars().count() > 300 {
        return bad("description must be at most 300 characters".to_owned());
    }
    Ok(Metadata {
        name: metadata.name,
        version: metadata.version,
        media_type: metadata.media_type,
        file_extension: metadata.file_extension,
        description: metadata.description,
    })
}

/// Advances the engine's epoch every tick until the engine is dropped. The thread holds only a
/// weak handle, so it never keeps an engine alive.
fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("clocky-epoch".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(error) = spawned {
        // Without the ticker no guest could ever be interrupted; refuse to run rather than run
        // unprotected. The panic is caught nowhere on purpose: it happens at start-up.
        panic!("failed to start the plugin epoch ticker: {error}");
    }
}
