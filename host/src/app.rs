//! A whole host, assembled from configuration: database, sandbox, plugins, storage, tracker and
//! exporter. The command line, the tests and the benchmarks all build hosts through here.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture as _};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt as _;
use tokio::net::TcpListener;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::export::{Exporter, FreeAllowance, PluginSet};
use crate::plugin::folder::{PluginFolder, SharedFolder};
use crate::plugin::{Limits, Origin, Plugin, PluginRegistry, PluginRuntime};
use crate::storage::ExportStorage;
use crate::tracking::Tracker;

/// A running host's parts.
#[derive(Debug, Clone)]
pub struct App {
    /// The configuration it was built from.
    pub config: Config,
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: SharedClock,
    /// Time tracking.
    pub tracker: Tracker,
    /// The export pipeline.
    pub exporter: Arc<Exporter>,
    /// The sandbox.
    pub runtime: PluginRuntime,
    /// Active plugins by name.
    pub plugins: PluginSet,
    /// The plugins embedded in the binary, by name: what a removed folder plugin falls back to.
    pub builtins: BTreeMap<String, Arc<Plugin>>,
    /// The operator's plugin folder, when `plugins.dir` is set.
    pub folder: Option<SharedFolder>,
    /// The process's metrics recorder, rendered by the admin endpoint's `GET /metrics`.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl App {
    /// Opens the database (creating and migrating it), builds the sandbox and loads the plugins:
    /// the built-in plugins, then every `*.wasm` in `plugins.dir`. A plugin that fails to
    /// load is logged and skipped; the others still serve.
    pub async fn open(config: Config, clock: SharedClock) -> anyhow::Result<App> {
        let db = Db::connect(&config.database_url())
            .await
            .context("failed to open the database")?;
        let limits = Limits::from_config(&config.plugins, config.exports.page_size);
        // The compilation cache insists on an absolute folder.
        let cache_dir = match &config.plugins.cache_dir {
            Some(dir) => dir.clone(),
            None => config.data_dir.join("plugin-cache"),
        };
        let cache = std::path::absolute(cache_dir).context("failed to resolve the data folder")?;
        let runtime = PluginRuntime::new(limits, Some(&cache))
            .context("failed to start the plugin sandbox")?;

        let mut builtins: BTreeMap<String, Arc<Plugin>> = BTreeMap::new();
        for component in crate::BUILTIN_PLUGINS {
            let mut builtin = runtime
                .load(component.to_vec())
                .await
                .context("a built-in plugin failed to load")?;
            builtin.origin = Origin::Builtin;
            builtins.insert(builtin.metadata.name.clone(), Arc::new(builtin));
        }
        let plugins: PluginSet = Arc::new(
            PluginRegistry::new(builtins.values().cloned(), config.plugins.probation())
                .with_db(db.clone())
                .await
                .context("failed to read the plugin rollbacks")?,
        );
        let folder = match &config.plugins.dir {
            Some(dir) => {
                // Absolute, because the watcher reports absolute paths, and a file must be
                // known by one path: otherwise it would be taken for a second file providing
                // its own plugin.
                let dir = std::path::absolute(dir).with_context(|| {
                    format!("failed to resolve the plugin folder {}", dir.display())
                })?;
                let mut folder = PluginFolder::new(
                    dir.clone(),
                    runtime.clone(),
                    plugins.clone(),
                    builtins.clone(),
                );
                folder.load_all().await.with_context(|| {
                    format!("failed to read the plugin folder {}", dir.display())
                })?;
                Some(Arc::new(tokio::sync::Mutex::new(folder)))
            }
            None => None,
        };

        let storage = ExportStorage::local(&config.storage_path())
            .context("failed to open export storage")?;
        let tracker = Tracker::new(db.clone(), clock.clone(), config.tracking.max_session_hours);
        let exporter = Arc::new(
            Exporter::new(
                db.clone(),
                runtime.clone(),
                plugins.clone(),
                storage,
                tracker.clone(),
                clock.clone(),
                config.exports.link_hours,
                config.server.public_url.clone(),
            )
            .with_allowance(FreeAllowance {
                exports: config.exports.free_exports,
                period_days: config.exports.free_period_days,
            }),
        );
        Ok(App {
            config,
            db,
            clock,
            tracker,
            exporter,
            runtime,
            plugins,
            builtins,
            folder,
            metrics: crate::signals::install(),
        })
    }

    /// Serves downloads on `listener`, runs the export workers and the sweep, and, when a bot
    /// token is configured, connects to Discord, until `shutdown` completes. A Discord
    /// connection that cannot be made or is refused stops the whole server with its error, so
    /// that an operator who configured a bot does not run one that silently never answers.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Jobs a dead process left `running` go back to the queue; see `requeue_abandoned`
        // for why only those older than any run may last.
        self.exporter.requeue_abandoned().await?;

        let mut background = tokio::task::JoinSet::new();
        for _ in 0..self.config.exports.concurrency {
            background.spawn(work(self.exporter.clone()));
        }
        if let Some(folder) = self.folder.clone()
            && self.config.plugins.watch
        {
            background.spawn(async move {
                if let Err(error) = PluginFolder::watch(folder).await {
                    tracing::error!(%error, "cannot watch the plugin folder; changes need a restart");
                }
            });
        }
        background.spawn(sweep(
            self.tracker.clone(),
            self.exporter.clone(),
            Duration::from_secs(self.config.exports.sweep_interval_seconds),
        ));

        // Both the download server and the bot stop on the same signal.
        let shutdown = shutdown.boxed().shared();
        let bot = match self.config.discord.token.clone() {
            Some(token) => {
                let bot = crate::discord::run(self.clone(), token, shutdown.clone());
                futures::future::Either::Left(bot)
            }
            None => {
                tracing::info!(
                    "no Discord bot token configured (discord.token or CLOCKY_DISCORD__TOKEN): \
                     serving downloads and exports only"
                );
                futures::future::Either::Right(std::future::pending())
            }
        };

        // The admin endpoint is bound before anything is served, so an address already in use
        // stops the start rather than leaving operators without it.
        if self.config.admin.enabled {
            let listen = self.config.admin.listen;
            let admin_listener = TcpListener::bind(listen).await.with_context(|| {
                format!("failed to listen on {listen} for the admin endpoint (admin.listen)")
            })?;
            tracing::info!(%listen, "admin endpoint listening");
            let admin = axum::serve(admin_listener, crate::admin::for_app(self))
                .with_graceful_shutdown(shutdown.clone());
            background.spawn(async move {
                if let Err(error) = admin.await {
                    tracing::error!(%error, "the admin endpoint stopped");
                }
            });
        }

        let router = crate::web::router(self.exporter.clone());
        let server = axum::serve(listener, router).with_graceful_shutdown(shutdown.clone());
        let mut server = std::pin::pin!(server.into_future());
        let outcome = tokio::select! {
            served = &mut server => served.context("the download server stopped"),
            connected = bot => match connected {
                // The bot returns Ok only on shutdown; the server finishes its requests.
                Ok(()) => server.await.context("the download server stopped"),
                Err(error) => Err(error),
            },
        };
        background.shutdown().await;
        outcome
    }
}

/// How long an idle worker waits before looking at the queue again.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Runs queued exports one after another, forever.
async fn work(exporter: Arc<Exporter>) {
    loop {
        match exporter.run_next().await {
            Some(Ok(_)) => {}
            // The pipeline has logged the failure and recorded it on the job.
            Some(Err(_)) => {}
            None => tokio::time::sleep(IDLE_POLL).await,
        }
    }
}

/// Closes overdue sessions and deletes expired exports every `interval`.
async fn sweep(tracker: Tracker, exporter: Arc<Exporter>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        if let Err(error) = tracker.close_overdue(None).await {
            tracing::error!(%error, "the auto-close sweep failed");
        }
        if let Err(error) = exporter.sweep().await {
            tracing::error!(%error, "the expired-export sweep failed");
        }
    }
}
