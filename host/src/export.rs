//! The export pipeline.
//!
//! A request becomes an export job (`queued`). A worker claims it (`running`), binds a read
//! capability for the job's user (or, for a server-wide export, for the job's server), runs the
//! export plugin of that scope in the sandbox, stores the document and
//! verifies it, and marks the job `ready` with everything the delivery message shows. Only then
//! can a download link be issued: a random 256-bit token from the operating system's generator,
//! of which only the SHA-256 is stored, valid until the file expires 24 hours after generation.
//! Any failure marks the job `failed` with a short kind and the detail; the user sees a plain
//! sentence and may ask again at once.
//!
//! Delivery (printing the message, or a Discord DM) is the caller's: this module returns a
//! [`DeliveryMessage`] and never talks to Discord.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::DateTime;
use clocky_rules::Timestamp;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use thiserror::Error;
use url::Url;

use crate::clock::SharedClock;
use crate::db::deliveries::{self as dq, DeliveryState, Reply};
use crate::db::exports::{self as q, JobRow, JobState, NewJob, ReadyFile};
use crate::db::history::Owner;
use crate::db::{Db, DbError, tracking as tq};
use crate::ids::{JobId, ServerId, UserId};
use crate::plugin::bindings::exports::clocky::plugin::exporter::ExportRequest;
use crate::plugin::{Capability, Plugin, PluginError, PluginRegistry, PluginRuntime, Scope};
use crate::storage::{ExportStorage, StorageError};
use crate::tracking::Tracker;

/// The format used when none is named.
pub const DEFAULT_FORMAT: &str = "data-export";

/// The format of a server-wide export when none is named.
pub const DEFAULT_SERVER_FORMAT: &str = "server-sessions-csv";

/// Bytes of randomness in a download token: 256 bits.
const TOKEN_BYTES: usize = 32;

/// Why an export could not be requested, run or linked.
#[derive(Debug, Error)]
pub enum ExportError {
    /// No active plugin has that name.
    #[error("there is no export format called {name:?}; available: {}", available.join(", "))]
    UnknownFormat {
        /// What was asked for.
        name: String,
        /// What there is.
        available: Vec<String>,
    },
    /// The format exists, for the other kind of export.
    #[error("{name:?} is a format of {}; pick another", match scope {
        Scope::User => "personal exports (/data-export), not of server exports",
        Scope::Server => "server exports (/server-export), not of personal exports",
    })]
    OtherScope {
        /// What was asked for.
        name: String,
        /// What it serves.
        scope: Scope,
    },
    /// The job does not exist.
    #[error("export job {0} does not exist")]
    NoSuchJob(JobId),
    /// The job is not in a state that allows the action.
    #[error("export job {job} is {state}, not {wanted}")]
    WrongState {
        /// The job.
        job: JobId,
        /// Where it stands.
        state: &'static str,
        /// Where it would need to be.
        wanted: &'static str,
    },
    /// The job's file has expired; a new export is needed.
    #[error("export job {0} has expired; request a new export")]
    Expired(JobId),
    /// The plugin failed; the job is marked failed.
    #[error("export job {job} failed: the plugin {source}")]
    Plugin {
        /// The job.
        job: JobId,
        /// What the plugin did.
        #[source]
        source: PluginError,
    },
    /// Storing the file failed; the job is marked failed.
    #[error("export job {job} failed while storing the file")]
    Storage {
        /// The job.
        job: JobId,
        /// What went wrong.
        #[source]
        source: StorageError,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The operator disabled server-wide exports for the job's server before it ran; the job
    /// is marked failed.
    #[error("export job {0} did not run: server-wide exports were disabled for its server")]
    ServerExportDisabled(JobId),
    /// The job was withdrawn while it ran (a member of the exported server was erased, or its
    /// requester was); the file it made was deleted and nothing links to it.
    #[error("export job {0} was withdrawn while it ran; its file was deleted")]
    Withdrawn(JobId),
    /// The operating system's random generator failed; no link was made.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

impl From<sqlx::Error> for ExportError {
    fn from(error: sqlx::Error) -> Self {
        ExportError::Db(DbError::Query(error))
    }
}

impl ExportError {
    /// A sentence for the person who asked, without internal detail.
    pub fn user_message(&self) -> String {
        match self {
            ExportError::UnknownFormat { .. } | ExportError::OtherScope { .. } => self.to_string(),
            ExportError::Expired(_) => {
                "Your export has expired. Run /data-export again for a new one.".to_owned()
            }
            _ => "Your data export failed. Nothing was lost; please try again in a few minutes."
                .to_owned(),
        }
    }
}

/// What happened to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// A new job was queued.
    Queued(JobRow),
    /// The user already has a job queued or running; this is it.
    AlreadyInProgress(JobRow),
}

/// What a request made on Discord led to. Every variant except `NeedsConfirmation` has been
/// written to the database; the bot only has to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscordRequest {
    /// A new job was queued, with a delivery that waits for it.
    Queued(JobRow),
    /// The user already has a job queued or running; this is it.
    InProgress(JobRow),
    /// The user's export is ready and its direct message is on its way.
    Delivering(JobRow),
    /// The user's ready export never reached them (direct messages closed, or delivery failed);
    /// it is being delivered again, without a new export.
    Redelivering(JobRow),
    /// The free allowance is used up: the user has to confirm, after the fee notice, before a
    /// further export is queued. Nothing was written.
    NeedsConfirmation {
        /// Their newest export that can still be downloaded, if any.
        ready: Option<Box<JobRow>>,
    },
}

/// What a `/server-export` request led to. Every variant but `NotEnabled` and `NotAllowed` has
/// been written to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerRequest {
    /// A new job was queued, with a delivery that waits for it.
    Queued(JobRow),
    /// This person's export of this server is already queued or running; this is it.
    InProgress(JobRow),
    /// The operator has not enabled server-wide exports for this server. Nothing was written.
    NotEnabled,
}

/// How many exports a user gets free of charge, and over which window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeAllowance {
    /// Exports that do not need the fee notice.
    pub exports: u32,
    /// The window they are counted over, in days.
    pub period_days: u32,
}

impl Default for FreeAllowance {
    fn default() -> Self {
        // The guide: the first export per year is free.
        FreeAllowance {
            exports: 1,
            period_days: 365,
        }
    }
}

/// Everything the user is told when their export is ready: the guide's DM, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryMessage {
    /// The job.
    pub job_id: JobId,
    /// When the document was generated.
    pub generated_at: Timestamp,
    /// Its size in bytes.
    pub file_size: u64,
    /// The file name it downloads as.
    pub file_name: String,
    /// Sessions in it.
    pub sessions_included: u64,
    /// Servers in it.
    pub servers_included: u64,
    /// For a server-wide export, the server's name as Clocky last saw it (empty if never);
    /// none for a personal export.
    pub server_name: Option<String>,
    /// The download page. Holds the token: show it only to the user.
    pub url: Url,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

impl DeliveryMessage {
    /// The message as plain text, laid out like the guide's example DM.
    pub fn to_text(&self) -> String {
        let hours = (self.expires_at - self.generated_at).max(0) / 3600;
        format!(
            "📥 Your Data Export is Ready\n\
             Export generated: {}\n\
             File size: {}\n\
             Sessions included: {}\n\
             Servers: {}\n\
             Download Export: {}\n\
             ⚠️ This link expires in {} hours for security ({}).\n\
             Download your data now.",
            human_time(self.generated_at),
            human_size(self.file_size),
            self.sessions_included,
            self.servers_included,
            self.url,
            hours,
            human_time(self.expires_at),
        )
    }
}

/// "January 15, 2025 at 3:45 PM UTC".
pub fn human_time(at: Timestamp) -> String {
    match DateTime::from_timestamp(at, 0) {
        Some(time) => time.format("%B %-d, %Y at %-I:%M %p UTC").to_string(),
        None => clocky_rules::time::format_utc(at),
    }
}

/// "127 KB", in the decimal units people see in their file managers.
pub fn human_size(bytes: u64) -> String {
    humansize::format_size(bytes, humansize::DECIMAL.decimal_places(0))
}

/// A download link as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkLookup {
    /// The link works: its job is ready and it has not expired.
    Valid {
        /// The link's id, for the download count.
        link_id: i64,
        /// The job (boxed: it is large next to the other variants).
        job: Box<JobRow>,
    },
    /// The link existed but has expired.
    Expired,
    /// No such link.
    Unknown,
}

/// The plugins that can serve exports, shared by the exporter, the folder watcher and the
/// admin endpoint.
pub type PluginSet = Arc<PluginRegistry>;

/// Runs exports and issues links.
#[derive(Debug, Clone)]
pub struct Exporter {
    db: Db,
    runtime: PluginRuntime,
    plugins: PluginSet,
    storage: ExportStorage,
    tracker: Tracker,
    clock: SharedClock,
    link_seconds: i64,
    public_url: Url,
    allowance: FreeAllowance,
}

impl Exporter {
    /// An exporter over the given parts.
    #[expect(
        clippy::too_many_arguments,
        reason = "each part is injected so tests can swap it"
    )]
    pub fn new(
        db: Db,
        runtime: PluginRuntime,
        plugins: PluginSet,
        storage: ExportStorage,
        tracker: Tracker,
        clock: SharedClock,
        link_hours: u32,
        public_url: Url,
    ) -> Self {
        Exporter {
            db,
            runtime,
            plugins,
            storage,
            tracker,
            clock,
            link_seconds: i64::from(link_hours) * 3600,
            public_url,
            allowance: FreeAllowance::default(),
        }
    }

    /// The same exporter with another free allowance.
    #[must_use]
    pub fn with_allowance(mut self, allowance: FreeAllowance) -> Self {
        self.allowance = allowance;
        self
    }

    /// The free allowance in force.
    pub fn allowance(&self) -> FreeAllowance {
        self.allowance
    }

    /// How long links work, in hours.
    pub fn link_hours(&self) -> i64 {
        self.link_seconds / 3600
    }

    /// The database, for callers that read job records.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The names of the formats a personal export can be requested in.
    pub fn formats(&self) -> Vec<String> {
        self.plugins.names_of(Scope::User)
    }

    /// The names of the formats a server-wide export can be requested in.
    pub fn server_formats(&self) -> Vec<String> {
        self.plugins.names_of(Scope::Server)
    }

    /// The active plugin called `name`, if it reads data of `scope`: a server-wide plugin is
    /// never run for a personal export, nor a personal one for a server.
    fn plugin(&self, name: &str, scope: Scope) -> Option<Arc<Plugin>> {
        self.plugins
            .get(name)
            .filter(|plugin| plugin.scope == scope)
    }

    fn unknown_format(&self, name: &str, scope: Scope) -> ExportError {
        if let Some(plugin) = self.plugins.get(name) {
            return ExportError::OtherScope {
                name: name.to_owned(),
                scope: plugin.scope,
            };
        }
        ExportError::UnknownFormat {
            name: name.to_owned(),
            available: self.plugins.names_of(scope),
        }
    }

    /// Queues an export for `user` in `format` (default [`DEFAULT_FORMAT`]) for a worker, unless
    /// one is already queued or running. Records the user if Clocky has not seen them.
    #[tracing::instrument(name = "export.request", skip_all, fields(user_id = %user))]
    pub async fn request(
        &self,
        user: UserId,
        username: Option<(&str, u16)>,
        format: Option<&str>,
    ) -> Result<Requested, ExportError> {
        self.create(user, username, format, false).await
    }

    /// Like [`Exporter::request`], but the job is created already claimed by the caller, who
    /// must then [`Exporter::run_claimed`] it: no worker of a running server can take it first.
    #[tracing::instrument(name = "export.request", skip_all, fields(user_id = %user))]
    pub async fn request_claimed(
        &self,
        user: UserId,
        username: Option<(&str, u16)>,
        format: Option<&str>,
    ) -> Result<Requested, ExportError> {
        self.create(user, username, format, true).await
    }

    async fn create(
        &self,
        user: UserId,
        username: Option<(&str, u16)>,
        format: Option<&str>,
        claimed: bool,
    ) -> Result<Requested, ExportError> {
        let format = format.unwrap_or(DEFAULT_FORMAT);
        if self.plugin(format, Scope::User).is_none() {
            return Err(self.unknown_format(format, Scope::User));
        }
        let now = self.clock.now();
        let mut tx = self.db.write().await?;
        tq::touch_user(&mut tx, user, username, now, now).await?;
        let new = NewJob {
            format,
            claimed,
            further_request: false,
            server: None,
        };
        let outcome = q::insert_job(&mut tx, user, new, now).await?;
        tx.commit().await?;
        Ok(match outcome {
            Ok(job) => {
                tracing::info!(job_id = %job.job_id, format, "export requested");
                crate::signals::export_requested(Scope::User);
                Requested::Queued(job)
            }
            Err(existing) => Requested::AlreadyInProgress(existing),
        })
    }

    /// Handles `/data-export` for `user`, whose private reply `reply` will be updated when the
    /// delivery ends. In one transaction, in this order: a job already in progress is reported;
    /// a ready export whose direct message never arrived is delivered again; a request beyond
    /// the free allowance waits for confirmation unless `confirmed` (the user has seen the fee
    /// notice and agreed); otherwise a job is queued with a delivery waiting for it.
    #[tracing::instrument(name = "export.request_on_discord", skip_all, fields(user_id = %user))]
    pub async fn request_on_discord(
        &self,
        user: UserId,
        username: Option<(&str, u16)>,
        format: Option<&str>,
        reply: &Reply,
        confirmed: bool,
    ) -> Result<DiscordRequest, ExportError> {
        let format = format.unwrap_or(DEFAULT_FORMAT);
        if self.plugin(format, Scope::User).is_none() {
            return Err(self.unknown_format(format, Scope::User));
        }
        let now = self.clock.now();
        let mut tx = self.db.write().await?;
        tq::touch_user(&mut tx, user, username, now, now).await?;

        if let Some(job) = q::in_progress(&mut tx, user, None).await? {
            return Ok(DiscordRequest::InProgress(job));
        }

        // Only an export in the format asked for is delivered again.
        let ready = q::newest_ready(&mut tx, user, now)
            .await?
            .filter(|job| job.format == format);
        if let Some(job) = &ready {
            let delivery = dq::delivery(&mut tx, job.job_id).await?;
            match delivery.map(|delivery| delivery.state) {
                Some(DeliveryState::Pending | DeliveryState::Sending) => {
                    return Ok(DiscordRequest::Delivering(job.clone()));
                }
                Some(DeliveryState::Closed | DeliveryState::Failed | DeliveryState::Unknown) => {
                    dq::schedule(&mut tx, job.job_id, Some(reply), now).await?;
                    tx.commit().await?;
                    tracing::info!(job_id = %job.job_id, "ready export delivered again");
                    return Ok(DiscordRequest::Redelivering(job.clone()));
                }
                // Delivered, or made on the command line: a new request is a new export.
                Some(DeliveryState::Sent) | None => {}
            }
        }

        let period = i64::from(self.allowance.period_days) * 86_400;
        let counted = q::counted_since(&mut tx, user, now.saturating_sub(period)).await?;
        let further_request = counted >= self.allowance.exports;
        if further_request && !confirmed {
            return Ok(DiscordRequest::NeedsConfirmation {
                ready: ready.map(Box::new),
            });
        }
        let new = NewJob {
            format,
            claimed: false,
            further_request,
            server: None,
        };
        let job = match q::insert_job(&mut tx, user, new, now).await? {
            Ok(job) => job,
            Err(existing) => return Ok(DiscordRequest::InProgress(existing)),
        };
        dq::schedule(&mut tx, job.job_id, Some(reply), now).await?;
        tx.commit().await?;
        tracing::info!(job_id = %job.job_id, format, further_request, "export requested on Discord");
        crate::signals::export_requested(Scope::User);
        Ok(DiscordRequest::Queued(job))
    }

    /// Handles `/server-export`: queues an export of `server`'s sessions in `format` (default
    /// [`DEFAULT_SERVER_FORMAT`]) for `user`, with a delivery to them that updates `reply`. The
    /// caller has checked that `user` may manage the server; this checks that the operator has
    /// enabled server-wide exports for it. Server-wide exports are a feature the operator turns
    /// on, so they neither count against nor need the personal free allowance.
    #[tracing::instrument(
        name = "export.request_server",
        skip_all,
        fields(user_id = %user, server_id = %server)
    )]
    pub async fn request_server_export(
        &self,
        user: UserId,
        username: Option<(&str, u16)>,
        server: ServerId,
        format: Option<&str>,
        reply: Option<&Reply>,
    ) -> Result<ServerRequest, ExportError> {
        let format = format.unwrap_or(DEFAULT_SERVER_FORMAT);
        let now = self.clock.now();
        let mut tx = self.db.write().await?;
        if !q::server_export_enabled(&mut tx, server).await? {
            return Ok(ServerRequest::NotEnabled);
        }
        if self.plugin(format, Scope::Server).is_none() {
            return Err(self.unknown_format(format, Scope::Server));
        }
        tq::touch_user(&mut tx, user, username, now, now).await?;
        let new = NewJob {
            format,
            claimed: false,
            further_request: false,
            server: Some(server),
        };
        let job = match q::insert_job(&mut tx, user, new, now).await? {
            Ok(job) => job,
            Err(existing) => return Ok(ServerRequest::InProgress(existing)),
        };
        if let Some(reply) = reply {
            dq::schedule(&mut tx, job.job_id, Some(reply), now).await?;
        }
        tx.commit().await?;
        tracing::info!(job_id = %job.job_id, format, "server-wide export requested");
        crate::signals::export_requested(Scope::Server);
        Ok(ServerRequest::Queued(job))
    }

    /// Turns server-wide exports on or off for `server`; true if that changed anything.
    pub async fn set_server_export(&self, server: ServerId, on: bool) -> Result<bool, ExportError> {
        let mut tx = self.db.write().await?;
        let changed = if on {
            q::enable_server_export(&mut tx, server, self.clock.now()).await?
        } else {
            q::disable_server_export(&mut tx, server).await?
        };
        tx.commit().await?;
        if changed {
            tracing::info!(server_id = %server, enabled = on, "server-wide exports switched");
        }
        Ok(changed)
    }

    /// Claims the oldest queued job and runs it. None when the queue is empty.
    pub async fn run_next(&self) -> Option<Result<JobRow, ExportError>> {
        let claimed = async {
            let mut tx = self.db.write().await?;
            let job = q::claim_next(&mut tx, self.clock.now()).await?;
            tx.commit().await?;
            Ok::<_, ExportError>(job)
        };
        match claimed.await {
            Ok(Some(job)) => Some(self.run_claimed(job).await),
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }

    /// Claims a specific queued job and runs it.
    pub async fn run(&self, job: JobId) -> Result<JobRow, ExportError> {
        let mut tx = self.db.write().await?;
        let claimed = q::claim(&mut tx, job, self.clock.now()).await?;
        tx.commit().await?;
        if !claimed {
            let state = self.job(job).await?.state;
            return Err(ExportError::WrongState {
                job,
                state: state.as_str(),
                wanted: "queued",
            });
        }
        self.run_claimed(job).await
    }

    /// Reads a job.
    pub async fn job(&self, job: JobId) -> Result<JobRow, ExportError> {
        let mut conn = self.db.pool().acquire().await?;
        q::job(&mut conn, job)
            .await?
            .ok_or(ExportError::NoSuchJob(job))
    }

    /// Runs a job this process has claimed, to `ready` or `failed`.
    #[tracing::instrument(name = "export.run", skip_all, fields(job_id = %job))]
    pub async fn run_claimed(&self, job: JobId) -> Result<JobRow, ExportError> {
        let _running = crate::signals::Running::start();
        let result = self.run_steps(job).await;
        // Plugin and storage failures are recorded where they happen. Anything else (the
        // database or the random generator failing mid-way) would otherwise leave the job
        // `running` and block the user's next request, so it is recorded here.
        if let Err(
            error @ (ExportError::Db(_) | ExportError::Random(_) | ExportError::NoSuchJob(_)),
        ) = &result
        {
            tracing::error!(%error, "export failed");
            if let Err(also) = self
                .fail(job, None, "internal", &format!("{error:#}"))
                .await
            {
                tracing::error!(error = %also, "could not record the failure either");
            }
        }
        result
    }

    async fn run_steps(&self, job: JobId) -> Result<JobRow, ExportError> {
        let row = self.job(job).await?;
        let (scope, owner) = match row.server_id {
            Some(server) => (Scope::Server, Owner::Server(server)),
            None => (Scope::User, Owner::User(row.user_id)),
        };
        if let Some(server) = row.server_id {
            let mut conn = self.db.pool().acquire().await?;
            if !q::server_export_enabled(&mut conn, server).await? {
                drop(conn);
                let detail = "server-wide exports were disabled for this server before it ran";
                self.fail(job, None, "disabled", detail).await?;
                return Err(ExportError::ServerExportDisabled(job));
            }
        }
        let Some(plugin) = self.plugin(&row.format, scope) else {
            let detail = format!("no active {scope} plugin is called {:?}", row.format);
            self.fail(job, None, "no-plugin", &detail).await?;
            return Err(self.unknown_format(&row.format, scope));
        };
        let identity = (
            plugin.metadata.name.as_str(),
            plugin.metadata.version.as_str(),
        );

        // Sessions that should have been auto-closed are closed before the snapshot is taken,
        // so the export never shows a session as active that the rules have already ended.
        let overdue_of = match owner {
            Owner::User(user) => Some(user),
            Owner::Server(_) => None,
        };
        if let Err(error) = self.tracker.close_overdue(overdue_of).await {
            tracing::warn!(%error, "could not close overdue sessions before the export");
        }

        let generated_at = self.clock.now();
        let capability = Capability::new(owner, self.db.read().await?);
        let started = std::time::Instant::now();
        let outcome = self
            .runtime
            .export(&plugin, capability, ExportRequest { generated_at })
            .await;
        crate::signals::plugin_call(
            identity.0,
            identity.1,
            outcome.as_ref().map(drop).map_err(PluginError::kind),
            started.elapsed(),
        );
        // Counted before anything else can fail: the count is the plugin's record, and a
        // version on probation that fails too often is rolled back here.
        self.plugins.record(&plugin, outcome.is_ok());
        let output = match outcome {
            Ok(output) => output,
            Err(source) => {
                self.fail(job, Some(identity), source.kind(), &source.to_string())
                    .await?;
                tracing::error!(error = %source, kind = source.kind(), "export plugin failed");
                return Err(ExportError::Plugin { job, source });
            }
        };

        let file_name = format!(
            "clocky-{}-{}.{}",
            plugin.metadata.name,
            compact_time(generated_at),
            plugin.metadata.file_extension
        );
        let key = format!("{}/{file_name}", job_folder(job));
        let stored = match self
            .storage
            .put_verified(&key, Bytes::from(output.bytes))
            .await
        {
            Ok(stored) => stored,
            Err(source) => {
                self.fail(job, Some(identity), "storage", &format!("{source:#}"))
                    .await?;
                tracing::error!(error = %source, "storing the export failed");
                return Err(ExportError::Storage { job, source });
            }
        };

        let ready = ReadyFile {
            plugin_name: plugin.metadata.name.clone(),
            plugin_version: plugin.metadata.version.clone(),
            generated_at,
            expires_at: generated_at + self.link_seconds,
            file_key: stored.key,
            file_name,
            media_type: plugin.metadata.media_type.clone(),
            file_size: stored.size,
            file_sha256: stored.sha256,
            sessions_included: output.sessions_included,
            servers_included: output.servers_included,
        };
        let mut tx = self.db.write().await?;
        let marked = q::mark_ready(&mut tx, job, &ready, self.clock.now()).await?;
        tx.commit().await?;
        if !marked {
            tracing::warn!("the export was withdrawn while it ran; deleting its file");
            if let Err(error) = self.storage.delete_prefix(&job_folder(job)).await {
                tracing::error!(%error, "could not delete the file of a withdrawn export");
            }
            return Err(ExportError::Withdrawn(job));
        }
        crate::signals::export_finished(Ok(()));
        tracing::info!(
            bytes = ready.file_size,
            sessions = ready.sessions_included,
            queries = output.queries,
            "export ready"
        );
        self.job(job).await
    }

    async fn fail(
        &self,
        job: JobId,
        plugin: Option<(&str, &str)>,
        kind: &str,
        detail: &str,
    ) -> Result<(), ExportError> {
        let mut tx = self.db.write().await?;
        q::mark_failed(&mut tx, job, plugin, kind, detail, self.clock.now()).await?;
        tx.commit().await?;
        crate::signals::export_finished(Err(kind));
        Ok(())
    }

    /// Issues a new download link for a ready job and returns the message to deliver. Each call
    /// makes a new token; all of a job's links expire with its file.
    #[tracing::instrument(name = "export.link", skip_all, fields(job_id = %job))]
    pub async fn issue_link(&self, job: JobId) -> Result<DeliveryMessage, ExportError> {
        let row = self.job(job).await?;
        if row.state == JobState::Expired {
            return Err(ExportError::Expired(job));
        }
        if row.state != JobState::Ready {
            return Err(ExportError::WrongState {
                job,
                state: row.state.as_str(),
                wanted: "ready",
            });
        }
        let now = self.clock.now();
        let (Some(generated_at), Some(expires_at)) = (row.generated_at, row.expires_at) else {
            return Err(DbError::Corrupt(format!("ready job {job} has no generation time")).into());
        };
        if expires_at <= now {
            return Err(ExportError::Expired(job));
        }

        let token = new_token()?;
        let mut tx = self.db.write().await?;
        q::insert_link(&mut tx, job, &token_hash(&token), now, expires_at).await?;
        let server_name = match row.server_id {
            Some(server) => Some(q::server_name(&mut tx, server).await?.unwrap_or_default()),
            None => None,
        };
        tx.commit().await?;

        let url = self
            .public_url
            .join(&format!("download/{token}"))
            .map_err(|error| DbError::Corrupt(format!("public URL cannot take a path: {error}")))?;
        Ok(DeliveryMessage {
            job_id: job,
            generated_at,
            file_size: row
                .file_size
                .and_then(|size| u64::try_from(size).ok())
                .unwrap_or(0),
            file_name: row.file_name.unwrap_or_default(),
            sessions_included: count(row.sessions_included),
            servers_included: count(row.servers_included),
            server_name,
            url,
            expires_at,
        })
    }

    /// Finds the link a token belongs to. Tokens of the wrong shape are unknown without a query.
    pub async fn lookup(&self, token: &str) -> Result<LinkLookup, ExportError> {
        if !token_is_well_formed(token) {
            return Ok(LinkLookup::Unknown);
        }
        let mut conn = self.db.pool().acquire().await?;
        let Some(link) = q::link_by_hash(&mut conn, &token_hash(token)).await? else {
            return Ok(LinkLookup::Unknown);
        };
        if link.expires_at <= self.clock.now() || link.job.state != JobState::Ready {
            return Ok(LinkLookup::Expired);
        }
        Ok(LinkLookup::Valid {
            link_id: link.link_id,
            job: Box::new(link.job),
        })
    }

    /// Opens a ready job's file for download and counts the download. A file that has gone
    /// missing from storage ends the job as expired: the user is told to export again rather
    /// than to retry a link that can never work.
    pub async fn download(
        &self,
        link_id: i64,
        job: &JobRow,
    ) -> Result<BoxStream<'static, Result<Bytes, object_store::Error>>, ExportError> {
        let key = job.file_key.as_deref().unwrap_or_default();
        let stream = match self.storage.stream(key).await {
            Ok(stream) => stream,
            Err(StorageError::Missing { .. }) => {
                tracing::error!(job_id = %job.job_id, "a ready export's file is missing");
                let mut tx = self.db.write().await?;
                q::mark_expired(&mut tx, job.job_id).await?;
                tx.commit().await?;
                return Err(ExportError::Expired(job.job_id));
            }
            Err(source) => {
                return Err(ExportError::Storage {
                    job: job.job_id,
                    source,
                });
            }
        };
        let mut conn = self.db.pool().acquire().await?;
        q::count_download(&mut conn, link_id).await?;
        Ok(stream)
    }

    /// Reads a ready job's document without counting a download (for `clocky export --out`).
    pub async fn document(&self, job: &JobRow) -> Result<Bytes, ExportError> {
        let key = job.file_key.as_deref().unwrap_or_default();
        self.storage
            .get(key)
            .await
            .map_err(|source| ExportError::Storage {
                job: job.job_id,
                source,
            })
    }

    /// Erases a user: every file under each of their jobs' folders first (including any left by
    /// an interrupted run), then every row about them through the schema's cascades. Server-wide
    /// exports made for others that hold some of the user's sessions are withdrawn too: their
    /// links stop working at once and their files are deleted. Returns whether Clocky knew the
    /// user.
    #[tracing::instrument(name = "export.forget_user", skip_all, fields(user_id = %user))]
    pub async fn forget_user(&self, user: UserId) -> Result<bool, ExportError> {
        let jobs = {
            let mut conn = self.db.pool().acquire().await?;
            q::jobs_of(&mut conn, user).await?
        };
        for job in &jobs {
            self.storage
                .delete_prefix(&job_folder(job.job_id))
                .await
                .map_err(|source| ExportError::Storage {
                    job: job.job_id,
                    source,
                })?;
        }

        // Other people's server exports that hold the user's rows are withdrawn in the
        // erasure's own transaction, while the rows that say which servers they cover still
        // exist: ready ones expire (their links stop working at the commit), and ones still
        // being made fail; a run that finishes anyway finds its job no longer running and
        // deletes its own file.
        let mut tx = self.db.write().await?;
        let in_progress =
            q::withdraw_server_exports_in_progress(&mut tx, user, self.clock.now()).await?;
        let holding = q::ready_server_exports_holding(&mut tx, user).await?;
        for job in &holding {
            q::mark_expired(&mut tx, job.job_id).await?;
        }
        let existed = tq::delete_user(&mut tx, user).await?;
        tx.commit().await?;

        for job in &holding {
            if let Err(error) = self.storage.delete_prefix(&job_folder(job.job_id)).await {
                // No link can reach it any more; the operator learns which folder is left.
                tracing::error!(job_id = %job.job_id, %error, "could not delete a withdrawn server export's file");
            }
        }
        if in_progress > 0 || !holding.is_empty() {
            tracing::info!(
                ready = holding.len(),
                in_progress,
                "server-wide exports holding the erased user's rows withdrawn"
            );
        }
        Ok(existed)
    }

    /// Deletes the files of expired exports and marks their jobs expired, and puts back in the
    /// queue jobs whose runner must have died. Returns how many exports were deleted.
    pub async fn sweep(&self) -> Result<usize, ExportError> {
        let now = self.clock.now();
        self.requeue_abandoned().await?;
        let expired = {
            let mut conn = self.db.pool().acquire().await?;
            q::expired_files(&mut conn, now).await?
        };
        let mut removed = 0;
        for (job, _key) in expired {
            // The job is marked first so no link can serve a file that is about to go.
            let mut tx = self.db.write().await?;
            q::mark_expired(&mut tx, job).await?;
            tx.commit().await?;
            match self.storage.delete_prefix(&job_folder(job)).await {
                Ok(_) => removed += 1,
                Err(error) => {
                    tracing::warn!(job_id = %job, %error, "could not delete an expired export")
                }
            }
        }
        if removed > 0 {
            tracing::info!(removed, "expired exports deleted");
        }
        Ok(removed)
    }

    /// Queues again the jobs that have been `running` for longer than any run may last (the
    /// plugin's wall-time limit plus a margin for storing the file): whoever claimed them, a
    /// worker or a `clocky export`, has died. Jobs still within that time are left alone, since
    /// another live process may be running them.
    pub async fn requeue_abandoned(&self) -> Result<u64, ExportError> {
        let longest_run = i64::try_from(self.runtime.limits().wall.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_add(RUN_MARGIN_SECONDS);
        let mut tx = self.db.write().await?;
        let requeued =
            q::requeue_stale(&mut tx, self.clock.now().saturating_sub(longest_run)).await?;
        tx.commit().await?;
        if requeued > 0 {
            tracing::warn!(requeued, "exports whose runner stopped were queued again");
        }
        Ok(requeued)
    }
}

/// Time allowed beyond the plugin's wall-time limit for storing and verifying a file.
const RUN_MARGIN_SECONDS: i64 = 120;

/// The storage folder of a job's files.
fn job_folder(job: JobId) -> String {
    format!("exports/{job}")
}

fn count(value: Option<i64>) -> u64 {
    value
        .and_then(|value| u64::try_from(value).ok())
        .unwrap_or(0)
}

/// `20250115T154500Z`: sortable and safe in file names on every system.
fn compact_time(at: Timestamp) -> String {
    match DateTime::from_timestamp(at, 0) {
        Some(time) => time.format("%Y%m%dT%H%M%SZ").to_string(),
        None => at.to_string(),
    }
}

/// A fresh token: 256 bits from the operating system, URL-safe base64 without padding.
fn new_token() -> Result<String, ExportError> {
    let mut bytes = [0_u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|error| ExportError::Random(error.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token. Links are found by this hash, so the database never compares a
/// secret byte by byte, and a leaked database holds no usable link.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `token` has the shape of one Clocky makes: 43 URL-safe base64 characters.
pub fn token_is_well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let first = new_token().unwrap();
        let second = new_token().unwrap();
        assert!(token_is_well_formed(&first));
        assert_eq!(URL_SAFE_NO_PAD.decode(&first).unwrap().len(), 32);
        assert_ne!(first, second);
    }

    #[test]
    fn malformed_tokens_are_rejected_before_any_lookup() {
        assert!(!token_is_well_formed(""));
        assert!(!token_is_well_formed(&"a".repeat(42)));
        assert!(!token_is_well_formed(&"a".repeat(44)));
        assert!(!token_is_well_formed(&format!("{}/", "a".repeat(42))));
        assert!(token_is_well_formed(&"a".repeat(43)));
    }

    #[test]
    fn message_figures_read_like_the_guide() {
        // 1736955900 is 2025-01-15T15:45:00Z.
        assert_eq!(human_time(1_736_955_900), "January 15, 2025 at 3:45 PM UTC");
        assert_eq!(human_size(127_000), "127 kB");
        assert_eq!(compact_time(1_736_955_900), "20250115T154500Z");
    }
}
