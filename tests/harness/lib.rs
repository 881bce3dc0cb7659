//! Clocky's test harness: a whole host in a temporary folder, driven by a clock the test moves.
//!
//! A test asks [`TestHost::builder`] for the configuration it cares about (page size, session
//! maximum, plugin limits, extra plugin components) and gets a [`TestHost`]: a real
//! [`App`] with its own SQLite database, export folder and plugin folder inside a
//! [`TempDir`], and a [`ManualClock`] that stands still until the test moves it. Nothing is
//! mocked: tracking goes through the real tracker, exports through the real sandbox and plugin,
//! downloads through the real router (called with `oneshot`, without a socket).
//!
//! The harness deliberately offers no way to read figures back from the code under test and
//! assert on them: it hands the test the stored document and the HTTP answers, and the test
//! compares them with values it worked out itself.
//!
//! - [`discord`]: a fake Discord (REST and gateway) for the real serenity client.
//! - [`fixtures`]: paths of the misbehaving plugin components built by `build.rs`.
//! - [`http`]: calling the download router.
//! - [`json`]: checks on the document's text (key order, instant format) and its JSON schema.

pub mod discord;
pub mod http;
pub mod json;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::DateTime;
use clocky::app::App;
use clocky::clock::{ManualClock, SharedClock};
use clocky::config::Config;
use clocky::db::exports::JobRow;
use clocky::export::{DeliveryMessage, Requested};
use clocky::ids::{ServerId, SessionId, UserId};
use clocky::tracking::Member;
use clocky_rules::Timestamp;
use serde_json::Value;
use sqlx::SqlitePool;
use tempfile::TempDir;

/// The plugin components the end-to-end tests load besides the built-in data export. Each one's
/// README (under `tests/plugins/`) says how it misbehaves.
pub mod fixtures {
    /// Passes the check run, then on real data reads one page of sessions and traps.
    pub const TRAPPER_WASM: &str = env!("FIXTURE_TRAPPER_WASM");
    /// Loops forever without calling the host, so it fails its check run.
    pub const LOOPER_WASM: &str = env!("FIXTURE_LOOPER_WASM");
    /// Hits the sandbox limit the exporting user's name asks for (`hog-slow`, `hog-oom`,
    /// `hog-big`, `hog-chatty`, `hog-panic`); anyone else gets a small document.
    pub const HOG_WASM: &str = env!("FIXTURE_HOG_WASM");
    /// Imports WASI's file system interfaces, which plugins may not.
    pub const SNOOPER_WASM: &str = env!("FIXTURE_SNOOPER_WASM");
    /// Built for `clocky:plugin@2.0.0`, a contract version this host does not serve.
    pub const FUTURE_WASM: &str = env!("FIXTURE_FUTURE_WASM");
    /// Built for `clocky:plugin@1.0.0`, an earlier version this host still serves; counts the
    /// user's sessions and servers.
    pub const ELDER_WASM: &str = env!("FIXTURE_ELDER_WASM");
    /// Built for `clocky:plugin@1.1.0`, the version before this host's; counts the user's
    /// sessions and servers like `ELDER_WASM`, and asks `log.enabled`.
    pub const MIDDLE_WASM: &str = env!("FIXTURE_MIDDLE_WASM");
    /// The plugin template of `plugins/template` (`hours-by-server`), as a plugin author
    /// starts from it.
    pub const TEMPLATE_WASM: &str = env!("FIXTURE_TEMPLATE_WASM");
}

/// Where a host's clock starts unless the test says otherwise: 2025-01-15T15:45:00Z, the
/// guide's example export time.
pub const DEFAULT_START: &str = "2025-01-15T15:45:00Z";

/// Parses an RFC 3339 instant such as `2025-01-15T09:00:00Z` into Clocky's whole seconds.
///
/// # Panics
///
/// When the text is not RFC 3339: a typo in a test should stop it, not become some other time.
pub fn at(text: &str) -> Timestamp {
    match DateTime::parse_from_rfc3339(text) {
        Ok(instant) => instant.timestamp(),
        Err(error) => panic!("the test wrote an instant that is not RFC 3339, {text:?}: {error}"),
    }
}

/// A Discord user id. Panics on 0 or a value above `i64::MAX`, which no test should use.
pub fn user(id: u64) -> UserId {
    UserId::new(id).expect("tests use valid Discord user ids")
}

/// A Discord server id. Panics like [`user`].
pub fn server(id: u64) -> ServerId {
    ServerId::new(id).expect("tests use valid Discord server ids")
}

/// The component with a custom section appended: the same plugin, other bytes, so another
/// SHA-256. Custom sections may appear anywhere in a component and change nothing it does.
pub fn variant(component: &[u8], tag: &str) -> Vec<u8> {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = u8::try_from(value & 0x7f).expect("seven bits fit a byte");
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"clocky-test-variant";
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(tag.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0);
    leb128(body.len(), &mut bytes);
    bytes.extend_from_slice(&body);
    bytes
}

/// Configures a [`TestHost`]. Every option left alone keeps Clocky's default.
#[derive(Debug, Clone)]
pub struct TestHostBuilder {
    configure: Vec<fn(&mut Config)>,
    start: Timestamp,
    page_size: Option<u32>,
    max_session_hours: Option<u32>,
    cpu_ms: Option<u64>,
    plugins: Vec<PathBuf>,
    discord: Option<String>,
    discord_token: Option<String>,
    free_exports: Option<u32>,
}

impl TestHostBuilder {
    /// Where the clock starts (RFC 3339). Default: [`DEFAULT_START`].
    pub fn now(mut self, rfc3339: &str) -> Self {
        self.start = at(rfc3339);
        self
    }

    /// `exports.page_size`: the most rows the host hands a plugin per page.
    pub fn page_size(mut self, rows: u32) -> Self {
        self.page_size = Some(rows);
        self
    }

    /// `tracking.max_session_hours`: when forgotten sessions are auto-closed.
    pub fn max_session_hours(mut self, hours: u32) -> Self {
        self.max_session_hours = Some(hours);
        self
    }

    /// `plugins.cpu_ms`: the CPU time one export may spend in plugin code.
    pub fn cpu_ms(mut self, milliseconds: u64) -> Self {
        self.cpu_ms = Some(milliseconds);
        self
    }

    /// Changes any other setting; applied after the options above.
    pub fn configure(mut self, change: fn(&mut Config)) -> Self {
        self.configure.push(change);
        self
    }

    /// Loads another plugin component (a `.wasm` file) from the host's plugin folder.
    pub fn plugin(mut self, wasm: impl Into<PathBuf>) -> Self {
        self.plugins.push(wasm.into());
        self
    }

    /// Connects the host's bot to a fake Discord at `api_base` (see [`discord::FakeDiscord`])
    /// with the fake's token, once [`TestHost::serve`] starts it.
    pub fn discord(mut self, api_base: String) -> Self {
        self.discord = Some(api_base);
        self
    }

    /// The bot token the host presents to the fake Discord, instead of the one it accepts.
    pub fn discord_token(mut self, token: &str) -> Self {
        self.discord_token = Some(token.to_owned());
        self
    }

    /// `exports.free_exports`: how many exports a user gets free in the period.
    pub fn free_exports(mut self, exports: u32) -> Self {
        self.free_exports = Some(exports);
        self
    }

    /// Builds the folder, the configuration and the host.
    ///
    /// # Panics
    ///
    /// When any of it fails; a test cannot do anything useful without its host.
    pub async fn start(self) -> TestHost {
        let dir = tempfile::Builder::new()
            .prefix("clocky-e2e-")
            .tempdir()
            .expect("a temporary folder for the host");

        let mut config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        // Every host compiles the same built-in components; one cache shared by all tests (and
        // keyed by the components' contents) saves compiling them again for each test.
        config.plugins.cache_dir = Some(std::env::temp_dir().join("clocky-tests-plugin-cache"));
        // Hosts run side by side; a test that wants the admin endpoint calls its router.
        config.admin.enabled = false;
        if let Some(rows) = self.page_size {
            config.exports.page_size = rows;
        }
        if let Some(hours) = self.max_session_hours {
            config.tracking.max_session_hours = hours;
        }
        if let Some(milliseconds) = self.cpu_ms {
            config.plugins.cpu_ms = milliseconds;
        }
        if let Some(exports) = self.free_exports {
            config.exports.free_exports = exports;
        }
        if let Some(api_base) = self.discord {
            let token = self.discord_token.as_deref().unwrap_or(discord::BOT_TOKEN);
            config.discord.token = Some(token.to_owned());
            config.discord.api_base =
                Some(url::Url::parse(&api_base).expect("the fake Discord's base is a URL"));
        }

        // The App loads every `*.wasm` in `plugins.dir` when it opens, exactly as in production,
        // so extra plugins are copied there rather than handed to it some other way.
        if !self.plugins.is_empty() {
            let plugin_dir = dir.path().join("plugins");
            std::fs::create_dir_all(&plugin_dir).expect("the plugin folder");
            for wasm in &self.plugins {
                let name = wasm.file_name().expect("a plugin path names a file");
                std::fs::copy(wasm, plugin_dir.join(name))
                    .unwrap_or_else(|error| panic!("copying {}: {error}", wasm.display()));
            }
            config.plugins.dir = Some(plugin_dir);
        }
        for change in &self.configure {
            change(&mut config);
        }
        config
            .validate()
            .expect("the test asked for a configuration Clocky accepts");

        let clock = ManualClock::new(self.start);
        let shared: SharedClock = Arc::new(clock.clone());
        let app = App::open(config.clone(), shared)
            .await
            .expect("the host opens on a fresh folder");
        TestHost {
            dir,
            config,
            clock,
            app,
        }
    }
}

/// A whole Clocky host in a temporary folder. The folder is deleted when this is dropped.
#[derive(Debug)]
pub struct TestHost {
    /// Holds the database, export files, plugin cache and plugin folder.
    pub dir: TempDir,
    /// The configuration the host was built from.
    pub config: Config,
    /// The host's clock; move it with [`TestHost::set_now`] or [`ManualClock::advance`].
    pub clock: ManualClock,
    /// The host.
    pub app: App,
}

/// A host started by [`TestHost::serve`].
#[derive(Debug)]
pub struct Serving {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Serving {
    /// Signals shutdown and waits for `serve` to return what it returned.
    ///
    /// # Panics
    ///
    /// When the serving task panicked.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stop.take());
        let task = self.task.take().expect("a serving host has its task");
        task.await.expect("the serving task did not panic")
    }

    /// Whether `serve` has returned on its own (an error, such as a refused bot token).
    pub fn has_stopped(&self) -> bool {
        self.task
            .as_ref()
            .is_none_or(tokio::task::JoinHandle::is_finished)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        // The sender's drop is the shutdown signal; the task finishes on its own.
        drop(self.stop.take());
    }
}

/// What [`TestHost::export`] produced: the job, the message the user would get, and the stored
/// file both as bytes and parsed.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The job, as stored after it became ready.
    pub job: JobRow,
    /// The delivery message with its download link.
    pub message: DeliveryMessage,
    /// The stored file, byte for byte.
    pub bytes: Vec<u8>,
    /// The stored file parsed as JSON, or `Value::Null` for a format that is not JSON.
    pub document: Value,
}

impl TestHost {
    /// Starts configuring a host.
    pub fn builder() -> TestHostBuilder {
        TestHostBuilder {
            start: at(DEFAULT_START),
            page_size: None,
            max_session_hours: None,
            cpu_ms: None,
            plugins: Vec::new(),
            configure: Vec::new(),
            discord: None,
            discord_token: None,
            free_exports: None,
        }
    }

    /// Runs `clocky serve` for this host on a free loopback port: the download server, the
    /// export workers, the sweep and, when configured with [`TestHostBuilder::discord`], the
    /// bot. It stops when the returned handle is stopped or dropped.
    pub async fn serve(&self) -> Serving {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1 for the download server");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = self.app.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                // A dropped sender stops the host as well as a sent signal.
                let _ = stopped.await;
            };
            app.serve(listener, shutdown).await
        });
        Serving {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Moves the clock to an RFC 3339 instant.
    pub fn set_now(&self, rfc3339: &str) {
        self.clock.set(at(rfc3339));
    }

    /// The database pool, for counting and inserting rows directly.
    pub fn pool(&self) -> &SqlitePool {
        self.app.db.pool()
    }

    /// The folder export files are stored under.
    pub fn storage_dir(&self) -> PathBuf {
        self.config.storage_path()
    }

    /// Where a ready job's file lies on disk (the storage key under the storage folder).
    pub fn file_path(&self, job: &JobRow) -> PathBuf {
        let key = job.file_key.as_deref().expect("a ready job has a file key");
        self.storage_dir().join(Path::new(key))
    }

    /// A member acting in a server, with no names given (the host keeps what it knows).
    pub fn member(&self, user_id: u64, server_id: u64) -> Member<'static> {
        Member {
            user: user(user_id),
            username: None,
            server: server(server_id),
            server_name: None,
        }
    }

    /// Records a whole session from `from` to `to` (RFC 3339) through the tracker.
    pub async fn session(&self, who: Member<'_>, from: &str, to: &str) -> SessionId {
        let id = self
            .app
            .tracker
            .check_in(who, Some(at(from)))
            .await
            .unwrap_or_else(|error| panic!("check-in at {from}: {error}"));
        self.app
            .tracker
            .check_out(who, Some(at(to)))
            .await
            .unwrap_or_else(|error| panic!("check-out at {to}: {error}"));
        id
    }

    /// Records a whole break from `from` to `to` (RFC 3339) in the member's active session.
    pub async fn pause(&self, who: Member<'_>, from: &str, to: &str) {
        self.app
            .tracker
            .start_break(who, Some(at(from)))
            .await
            .unwrap_or_else(|error| panic!("break start at {from}: {error}"));
        self.app
            .tracker
            .end_break(who, Some(at(to)))
            .await
            .unwrap_or_else(|error| panic!("break end at {to}: {error}"));
    }

    /// Exports `user_id`'s data in the default format, as `/data-export` would: request, run,
    /// issue a link, and read the stored document back.
    pub async fn export(&self, user_id: u64) -> Exported {
        self.export_as(user_id, None).await
    }

    /// Like [`TestHost::export`], in a named format.
    pub async fn export_as(&self, user_id: u64, format: Option<&str>) -> Exported {
        let exporter = &self.app.exporter;
        let job = match exporter.request(user(user_id), None, format).await {
            Ok(Requested::Queued(job)) => job,
            other => panic!("an export request for {user_id} was not queued: {other:?}"),
        };
        let job = exporter
            .run(job.job_id)
            .await
            .unwrap_or_else(|error| panic!("export job {} failed: {error}", job.job_id));
        let message = exporter
            .issue_link(job.job_id)
            .await
            .unwrap_or_else(|error| panic!("no link for job {}: {error}", job.job_id));
        let bytes = exporter
            .document(&job)
            .await
            .unwrap_or_else(|error| panic!("no document for job {}: {error}", job.job_id))
            .to_vec();
        let document = if job.media_type.as_deref() == Some("application/json") {
            serde_json::from_slice(&bytes).expect("a JSON export parses")
        } else {
            Value::Null
        };
        Exported {
            job,
            message,
            bytes,
            document,
        }
    }

    /// How many rows of `table` belong to `user_id`.
    pub async fn count_rows(&self, table: PersonalTable, user_id: u64) -> i64 {
        sqlx::query_scalar(table.count_query())
            .bind(user(user_id).sql())
            .fetch_one(self.pool())
            .await
            .unwrap_or_else(|error| panic!("counting {table:?}: {error}"))
    }
}

/// The tables that hold rows about a user, each with a `user_id` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalTable {
    /// `users`: the profile.
    Users,
    /// `sessions`.
    Sessions,
    /// `breaks`.
    Breaks,
    /// `export_jobs`.
    ExportJobs,
}

impl PersonalTable {
    /// Every personal table, for checks that nothing is left.
    pub const ALL: [PersonalTable; 4] = [
        PersonalTable::Users,
        PersonalTable::Sessions,
        PersonalTable::Breaks,
        PersonalTable::ExportJobs,
    ];

    /// A fixed query per table rather than one built from a name, so no SQL is assembled at run
    /// time.
    fn count_query(self) -> &'static str {
        match self {
            PersonalTable::Users => "SELECT COUNT(*) FROM users WHERE user_id = ?1",
            PersonalTable::Sessions => "SELECT COUNT(*) FROM sessions WHERE user_id = ?1",
            PersonalTable::Breaks => "SELECT COUNT(*) FROM breaks WHERE user_id = ?1",
            PersonalTable::ExportJobs => "SELECT COUNT(*) FROM export_jobs WHERE user_id = ?1",
        }
    }
}
