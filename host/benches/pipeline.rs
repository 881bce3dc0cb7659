//! The `pipeline` benchmark: the whole export pipeline for one user with 1,000, 10,000 and
//! 100,000 sessions, beside a native build of the same document.
//!
//! Each size gets its own user in one temporary SQLite database, opened through [`App::open`] like
//! any host. Two things are timed, alternately, with the clock stopped at a fixed instant:
//!
//! - **wasm**: `Exporter::request` → `run` → `issue_link`, which is everything a real export
//!   does: the job records, the auto-close of overdue sessions, the data-export plugin in a fresh
//!   store reading page by page through the capability, the storage write and read-back, and the
//!   link;
//! - **native**: the same document built in this process by `clocky_data_export::document::build`
//!   from the same pages (the same queries in one read transaction), then stored and verified the
//!   same way. wasm/native is therefore what the sandbox costs.
//!
//! Before the timed runs of each size, one warm-up run of each must produce byte-identical
//! documents; a difference is a bug and stops the benchmark. Peak memory is the process's
//! resident high-water mark (`VmHWM`), reset before every measurement through
//! `/proc/self/clear_refs`. The figures and the targets are printed; a missed target is reported,
//! not turned into a failure.
//!
//! ```text
//! cargo bench --package clocky --bench pipeline              # 1k and 10k ×10, 100k ×3
//! cargo bench --package clocky --bench pipeline -- --quick   # 1k and 10k ×3, as CI runs it
//! cargo bench --package clocky --bench pipeline -- --phases  # and where the time goes
//! ```
//!
//! `cargo xtask test` runs the quick mode in the test profile (`cargo test --package clocky
//! --bench pipeline -- --quick`) so the benchmark cannot rot; those figures are not worth reading,
//! as that profile leaves Clocky's own crates unoptimised. Given neither `--bench` nor `--quick`,
//! as by a plain `cargo test --all-targets`, it checks the 1,000-session documents and times one
//! run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use clocky::app::App;
use clocky::clock::ManualClock;
use clocky::config::Config;
use clocky::db::{DbError, Tx, history, tracking as queries};
use clocky::export::{DEFAULT_FORMAT, DeliveryMessage, Requested};
use clocky::ids::{UserId, from_sql};
use clocky::plugin::Capability;
use clocky::plugin::bindings::exports::clocky::plugin::exporter::ExportRequest;
use clocky::storage::ExportStorage;
use clocky_data_export::bindings::clocky::plugin::types::{
    BreakPage, BreakRecord, Profile, QueryError, ServerRecord, SessionPage, SessionRecord,
    SessionStatus,
};
use clocky_data_export::document::{self, UserData};
use clocky_rules::Timestamp;
use clocky_rules::figures::Status;
use clocky_rules::names::display_username;
use tokio::runtime::Runtime;

/// Seconds in a day and an hour, for the seeding arithmetic.
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Midnight UTC of the day the clock stands still in: 2025-06-02.
const TODAY: Timestamp = 20_241 * DAY;

/// The fixed "now", 2025-06-02T12:00:00Z, so every run exports the same document.
const NOW: Timestamp = TODAY + 12 * HOUR;

/// The first benchmark user; the users of larger sizes follow it.
const FIRST_USER: u64 = 300_000_000_000_000_001;

/// The servers the sessions rotate through.
const SERVERS: [(i64, &str); 3] = [
    (900_000_000_000_000_001, "Acme Corp"),
    (900_000_000_000_000_002, "Open Source Guild"),
    (900_000_000_000_000_003, "Night Shift"),
];

/// The targets the figures are held against.
const TARGET_SESSIONS: u32 = 10_000;
const TARGET_END_TO_END: Duration = Duration::from_millis(250);
const TARGET_RATIO: f64 = 2.0;

/// One history size and how many timed runs it gets after its warm-up.
#[derive(Debug, Clone, Copy)]
struct Size {
    sessions: u32,
    iterations: usize,
}

const FULL: &[Size] = &[
    Size {
        sessions: 1_000,
        iterations: 10,
    },
    Size {
        sessions: 10_000,
        iterations: 10,
    },
    Size {
        sessions: 100_000,
        iterations: 3,
    },
];

const QUICK: &[Size] = &[
    Size {
        sessions: 1_000,
        iterations: 3,
    },
    Size {
        sessions: 10_000,
        iterations: 3,
    },
];

const SMOKE: &[Size] = &[Size {
    sessions: 1_000,
    iterations: 1,
}];

/// How much to run, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `cargo bench`: every size, every iteration.
    Full,
    /// `cargo bench -- --quick`: the two smaller sizes, a few iterations.
    Quick,
    /// `cargo test`, which does not pass `--bench`: one small run, as a check.
    Smoke,
}

impl Mode {
    fn sizes(self) -> &'static [Size] {
        match self {
            Mode::Full => FULL,
            Mode::Quick => QUICK,
            Mode::Smoke => SMOKE,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::Smoke => "smoke-test",
        }
    }
}

/// The command line.
#[derive(Debug, Clone, Copy)]
struct Options {
    mode: Mode,
    /// `--phases`: also time the pipeline's parts one by one, to see where the time goes.
    phases: bool,
}

impl Options {
    /// Reads the arguments. Anything else `cargo test` or `cargo bench` passes on (filters,
    /// harness flags) is ignored, as this binary has only the one benchmark.
    fn from_args() -> Options {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let given = |flag: &str| args.iter().any(|arg| arg == flag);
        let mode = if given("--quick") {
            Mode::Quick
        } else if given("--bench") {
            Mode::Full
        } else {
            Mode::Smoke
        };
        Options {
            mode,
            phases: given("--phases"),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::from_args();
    let mode = options.mode;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;

    // A host like any other, in a folder that disappears with the benchmark. The page size is
    // the default, written out because the figures depend on it.
    let data_dir = tempfile::tempdir().context("failed to create a temporary folder")?;
    let mut config = Config {
        data_dir: data_dir.path().to_owned(),
        ..Config::default()
    };
    config.exports.page_size = 500;
    config.validate()?;
    let app = runtime
        .block_on(App::open(config, Arc::new(ManualClock::new(NOW))))
        .context("failed to open the host")?;
    let storage = ExportStorage::local(&app.config.storage_path())?;
    let bench = Bench {
        runtime,
        app,
        storage,
        memory: PeakMemory::new(),
    };

    println!(
        "pipeline benchmark, {} mode, page size {}, load average {}",
        mode.name(),
        bench.app.config.exports.page_size,
        load_average()
    );
    if !bench.memory.resettable {
        println!(
            "note: /proc/self/clear_refs is not writable, so peak memory is the process-wide peak"
        );
    }

    let mut results = Vec::new();
    let mut phases = Vec::new();
    for (index, size) in mode.sizes().iter().enumerate() {
        let user = UserId::new(FIRST_USER + u64::try_from(index)?)?;
        let started = Instant::now();
        bench
            .runtime
            .block_on(seed(&bench.app, user, size.sessions))?;
        eprintln!(
            "seeded {} sessions in {:.1} s; measuring...",
            thousands(size.sessions),
            started.elapsed().as_secs_f64()
        );
        results.push(bench.measure(user, *size)?);
        if options.phases {
            phases.push(bench.phases(user, *size)?);
        }
    }

    print_table(&results);
    if options.phases {
        print_phases(&phases);
    }
    print_targets(&results);
    // Other work on the machine shows in the figures; the load says how much there was.
    println!("load average at the end: {}", load_average());
    Ok(())
}

/// What the measurements share.
struct Bench {
    runtime: Runtime,
    app: App,
    /// A second handle on the host's export folder, for the native documents and clean-up.
    storage: ExportStorage,
    memory: PeakMemory,
}

/// The figures of one size.
#[derive(Debug)]
struct Figures {
    sessions: u32,
    iterations: usize,
    wasm: Vec<Duration>,
    native: Vec<Duration>,
    document_bytes: u64,
    wasm_peak_mib: Option<f64>,
    native_peak_mib: Option<f64>,
}

impl Bench {
    /// Warms up, checks that both documents agree, then times `size.iterations` runs of each.
    fn measure(&self, user: UserId, size: Size) -> anyhow::Result<Figures> {
        let message = self.wasm_export(user)?;
        let wasm_document = self.stored_document(&message)?;
        let native_document = self.native_export(user)?;
        assert_identical(&wasm_document, &native_document, size.sessions);
        drop((wasm_document, native_document));

        let mut figures = Figures {
            sessions: size.sessions,
            iterations: size.iterations,
            wasm: Vec::with_capacity(size.iterations),
            native: Vec::with_capacity(size.iterations),
            document_bytes: message.file_size,
            wasm_peak_mib: None,
            native_peak_mib: None,
        };
        for run in 1..=size.iterations {
            self.memory.reset();
            let started = Instant::now();
            let message = self.wasm_export(user)?;
            figures.wasm.push(started.elapsed());
            figures.wasm_peak_mib = higher(figures.wasm_peak_mib, self.memory.peak_mib());
            self.stored_document(&message)?;

            self.memory.reset();
            let started = Instant::now();
            let document = self.native_export(user)?;
            figures.native.push(started.elapsed());
            figures.native_peak_mib = higher(figures.native_peak_mib, self.memory.peak_mib());
            drop(document);

            // Every run on standard error, so a spread the medians hide can still be seen.
            eprintln!(
                "  {} sessions, run {run}/{}: wasm {}, native {}",
                thousands(size.sessions),
                size.iterations,
                millis(figures.wasm[run - 1]),
                millis(figures.native[run - 1]),
            );
        }
        Ok(figures)
    }

    /// The whole pipeline as a user's request takes it, up to the message they are sent.
    fn wasm_export(&self, user: UserId) -> anyhow::Result<DeliveryMessage> {
        let exporter = &self.app.exporter;
        self.runtime.block_on(async {
            let job = match exporter.request(user, None, None).await? {
                Requested::Queued(job) => job,
                Requested::AlreadyInProgress(job) => {
                    bail!("export job {} is still in progress", job.job_id)
                }
            };
            exporter.run(job.job_id).await?;
            Ok(exporter.issue_link(job.job_id).await?)
        })
    }

    /// Reads back the document a wasm run stored, then removes it so the folder stays small.
    fn stored_document(&self, message: &DeliveryMessage) -> anyhow::Result<Bytes> {
        self.runtime.block_on(async {
            let job = self.app.exporter.job(message.job_id).await?;
            let bytes = self.app.exporter.document(&job).await?;
            self.storage
                .delete(job.file_key.as_deref().unwrap_or_default())
                .await?;
            Ok(bytes)
        })
    }

    /// The native baseline: the same pages, the same document code, the same storage.
    fn native_export(&self, user: UserId) -> anyhow::Result<Bytes> {
        let generated_at = self.app.clock.now();
        let mut source = self.native_source(user)?;
        let document = document::build(&mut source, generated_at)
            .map_err(|error| anyhow::anyhow!("the native build failed: {error:?}"))?;
        // The transaction only read; ending it inside the runtime returns its connection.
        self.runtime.block_on(source.tx.rollback())?;

        let bytes = Bytes::from(document.bytes);
        let key = format!("benchmark/native-{user}.json");
        self.runtime.block_on(async {
            self.storage.put_verified(&key, bytes.clone()).await?;
            self.storage.delete(&key).await?;
            Ok(bytes)
        })
    }
}

/// The medians of the pipeline's parts, each timed on its own.
#[derive(Debug)]
struct Phases {
    sessions: u32,
    /// `Exporter::request`: the user and the job rows.
    request: Vec<Duration>,
    /// `Exporter::run`: auto-close, plugin, storage, job row.
    run: Vec<Duration>,
    /// `Exporter::issue_link`.
    link: Vec<Duration>,
    /// `PluginRuntime::export` alone: a fresh store, the guest and its host queries.
    plugin: Vec<Duration>,
    /// The host queries alone, every page the document reads, without building anything.
    queries: Vec<Duration>,
    /// `document::build` natively, queries included.
    build: Vec<Duration>,
    /// `ExportStorage::put_verified` of the document.
    store: Vec<Duration>,
}

impl Bench {
    /// Times each part of both pipelines `size.iterations` times.
    fn phases(&self, user: UserId, size: Size) -> anyhow::Result<Phases> {
        let exporter = &self.app.exporter;
        let plugin = self
            .app
            .plugins
            .get(DEFAULT_FORMAT)
            .context("the data-export plugin is not loaded")?;
        let generated_at = self.app.clock.now();
        let mut phases = Phases {
            sessions: size.sessions,
            request: Vec::new(),
            run: Vec::new(),
            link: Vec::new(),
            plugin: Vec::new(),
            queries: Vec::new(),
            build: Vec::new(),
            store: Vec::new(),
        };
        for _ in 0..size.iterations {
            // The three steps of the wasm pipeline.
            let message = self.runtime.block_on(async {
                let started = Instant::now();
                let Requested::Queued(job) = exporter.request(user, None, None).await? else {
                    bail!("an export of user {user} is still in progress");
                };
                phases.request.push(started.elapsed());
                let started = Instant::now();
                exporter.run(job.job_id).await?;
                phases.run.push(started.elapsed());
                let started = Instant::now();
                let message = exporter.issue_link(job.job_id).await?;
                phases.link.push(started.elapsed());
                Ok(message)
            })?;
            let document = self.stored_document(&message)?;

            // The plugin call alone, and the storage step alone.
            self.runtime.block_on(async {
                let capability = Capability::new(user, self.app.db.read().await?);
                let started = Instant::now();
                let output = self
                    .app
                    .runtime
                    .export(&plugin, capability, ExportRequest { generated_at })
                    .await?;
                phases.plugin.push(started.elapsed());
                ensure!(output.bytes == document, "the plugin's document changed");

                let key = format!("benchmark/phase-{user}.json");
                let started = Instant::now();
                self.storage.put_verified(&key, document).await?;
                phases.store.push(started.elapsed());
                self.storage.delete(&key).await?;
                Ok(())
            })?;

            // The native side: the pages alone, then the whole document.
            let mut source = self.native_source(user)?;
            let started = Instant::now();
            read_every_page(&mut source)?;
            phases.queries.push(started.elapsed());
            self.runtime.block_on(source.tx.rollback())?;

            let mut source = self.native_source(user)?;
            let started = Instant::now();
            document::build(&mut source, generated_at)
                .map_err(|error| anyhow::anyhow!("the native build failed: {error:?}"))?;
            phases.build.push(started.elapsed());
            self.runtime.block_on(source.tx.rollback())?;
        }
        Ok(phases)
    }

    fn native_source(&self, user: UserId) -> anyhow::Result<NativeSource<'_>> {
        Ok(NativeSource {
            runtime: &self.runtime,
            tx: self.runtime.block_on(self.app.db.read())?,
            user,
            page_size: self.app.config.exports.page_size,
        })
    }
}

/// Reads what `document::build` reads, in the same order and pages, and nothing more.
fn read_every_page(source: &mut impl UserData) -> anyhow::Result<()> {
    let failed = |error: QueryError| anyhow::anyhow!("a query failed: {error:?}");
    source.profile().map_err(failed)?;
    source.servers().map_err(failed)?;
    let mut cursor = None;
    loop {
        let page = source
            .sessions(cursor.as_deref(), document::PAGE_SIZE)
            .map_err(failed)?;
        match page.next {
            Some(next) if !page.sessions.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    let mut cursor = None;
    loop {
        let page = source
            .breaks(cursor.as_deref(), document::PAGE_SIZE)
            .map_err(failed)?;
        match page.next {
            Some(next) if !page.breaks.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    Ok(())
}

/// Stops the benchmark if the two builds disagree, showing where.
fn assert_identical(wasm: &[u8], native: &[u8], sessions: u32) {
    if wasm == native {
        return;
    }
    let at = wasm
        .iter()
        .zip(native)
        .position(|(left, right)| left != right)
        .unwrap_or(wasm.len().min(native.len()));
    let around = |bytes: &[u8]| {
        let start = at.saturating_sub(80);
        let end = (at + 80).min(bytes.len());
        String::from_utf8_lossy(&bytes[start.min(end)..end]).into_owned()
    };
    panic!(
        "BUG: at {} sessions the wasm document ({} bytes) and the native one ({} bytes) differ \
         from byte {at}\n--- wasm ---\n{}\n--- native ---\n{}",
        thousands(sessions),
        wasm.len(),
        native.len(),
        around(wasm),
        around(native),
    );
}

/// Gives one user `sessions` completed sessions of eight hours, one a day until yesterday, in
/// servers taken in turn, each with a lunch break and every other one with an afternoon break.
/// Rows are generated inside SQLite in one transaction, which takes a second for 100,000
/// sessions where inserting them one by one would take far longer.
async fn seed(app: &App, user: UserId, sessions: u32) -> anyhow::Result<()> {
    let first_check_in = TODAY - i64::from(sessions) * DAY + 9 * HOUR;
    let mut tx = app.db.write().await?;

    for (server_id, name) in SERVERS {
        sqlx::query(
            "INSERT OR IGNORE INTO servers (server_id, name, updated_at) VALUES (?1, ?2, ?3)",
        )
        .bind(server_id)
        .bind(name)
        .bind(first_check_in)
        .execute(&mut *tx)
        .await?;
    }

    sqlx::query(
        "INSERT INTO users (user_id, username, discriminator, first_seen_at, timezone,
                            leaderboard_public, updated_at)
         VALUES (?1, ?2, 0, ?3, 'Europe/Berlin', 1, ?3)",
    )
    .bind(user.sql())
    .bind(format!("bench_{sessions}"))
    .bind(first_check_in)
    .execute(&mut *tx)
    .await?;

    // Day n before today, for n from `sessions` down to 1, so ids grow with time as they do in
    // a real database.
    sqlx::query(
        "WITH RECURSIVE day (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM day WHERE n < ?2)
         INSERT INTO sessions (user_id, server_id, checked_in_at, checked_out_at, status,
                               created_at, updated_at)
         SELECT ?1, CASE n % 3 WHEN 0 THEN ?4 WHEN 1 THEN ?5 ELSE ?6 END,
                ?3 - n * 86400, ?3 - n * 86400 + 8 * 3600, 'completed',
                ?3 - n * 86400, ?3 - n * 86400 + 8 * 3600
         FROM day ORDER BY n DESC",
    )
    .bind(user.sql())
    .bind(i64::from(sessions))
    .bind(TODAY + 9 * HOUR)
    .bind(SERVERS[0].0)
    .bind(SERVERS[1].0)
    .bind(SERVERS[2].0)
    .execute(&mut *tx)
    .await?;

    // Lunch from 12:00 to 12:30, and on even session ids a quarter of an hour from 15:00.
    sqlx::query(
        "INSERT INTO breaks (session_id, user_id, started_at, ended_at, created_at, updated_at)
         SELECT session_id, user_id, started_at, ended_at, started_at, ended_at FROM (
             SELECT session_id, user_id, checked_in_at + 3 * 3600 AS started_at,
                    checked_in_at + 3 * 3600 + 30 * 60 AS ended_at
             FROM sessions WHERE user_id = ?1
             UNION ALL
             SELECT session_id, user_id, checked_in_at + 6 * 3600,
                    checked_in_at + 6 * 3600 + 15 * 60
             FROM sessions WHERE user_id = ?1 AND session_id % 2 = 0
         ) ORDER BY started_at",
    )
    .bind(user.sql())
    .execute(&mut *tx)
    .await?;

    tx.commit().await?;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = ?1")
        .bind(user.sql())
        .fetch_one(app.db.pool())
        .await?;
    ensure!(
        stored == i64::from(sessions),
        "seeded {stored} sessions, not {sessions}"
    );
    Ok(())
}

/// The native baseline's [`UserData`]: the queries behind the plugin capability, answered in
/// this process over one read transaction, with the capability's page-size cap and paging rule.
///
/// The document builder is synchronous and the queries are async. This runs on the main thread,
/// outside the runtime, so each page is fetched with [`Runtime::block_on`] when the builder asks
/// for it; nothing is read ahead, as with the plugin.
struct NativeSource<'r> {
    runtime: &'r Runtime,
    tx: Tx,
    user: UserId,
    page_size: u32,
}

impl NativeSource<'_> {
    /// The page size in force, as the capability works it out.
    fn page(&self, limit: u32) -> Result<u32, QueryError> {
        if limit == 0 {
            return Err(QueryError::InvalidArgument(
                "limit must be at least 1".to_owned(),
            ));
        }
        Ok(limit.min(self.page_size))
    }
}

/// A query failure here is a fault in the benchmark or the database, not an outcome to measure.
fn must<T>(result: Result<T, DbError>) -> T {
    result.unwrap_or_else(|error| panic!("a native baseline query failed: {error:#}"))
}

fn id(value: i64) -> u64 {
    must(from_sql(value).map_err(DbError::from))
}

/// The cursor after a full page; the capability's rule, with a format of our own.
fn next_cursor(rows: usize, page: u32, last: Option<(Timestamp, i64)>) -> Option<String> {
    let full = rows == usize::try_from(page).unwrap_or(usize::MAX);
    last.filter(|_| full).map(|(at, id)| format!("{at}.{id}"))
}

fn parse_cursor(cursor: Option<&str>) -> Result<Option<(Timestamp, i64)>, QueryError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let (at, id) = cursor.split_once('.').ok_or(QueryError::InvalidCursor)?;
    match (at.parse(), id.parse()) {
        (Ok(at), Ok(id)) => Ok(Some((at, id))),
        _ => Err(QueryError::InvalidCursor),
    }
}

fn break_record(entry: &history::BreakEntry) -> BreakRecord {
    BreakRecord {
        break_id: id(entry.break_id),
        session_id: id(entry.session_id),
        started_at: entry.started_at,
        ended_at: entry.ended_at,
    }
}

impl UserData for NativeSource<'_> {
    fn profile(&mut self) -> Result<Profile, QueryError> {
        let found = must(
            self.runtime
                .block_on(queries::user(&mut self.tx, self.user)),
        );
        let row = found.ok_or(QueryError::Unavailable)?;
        Ok(Profile {
            user_id: row.user_id.get(),
            username: display_username(&row.username, row.discriminator),
            first_seen_at: row.first_seen_at,
            timezone: row.timezone,
            leaderboard_public: row.leaderboard_public,
        })
    }

    fn sessions(&mut self, after: Option<&str>, limit: u32) -> Result<SessionPage, QueryError> {
        let position = parse_cursor(after)?;
        let page = self.page(limit)?;
        let rows = must(self.runtime.block_on(history::sessions_page(
            &mut self.tx,
            history::Owner::User(self.user),
            position,
            page,
        )));
        let last = rows.last().map(|row| (row.checked_in_at, row.session_id));
        let next = next_cursor(rows.len(), page, last);
        let sessions = rows
            .into_iter()
            .map(|row| SessionRecord {
                session_id: id(row.session_id),
                server_id: row.server_id.get(),
                server_name: row.server_name,
                checked_in_at: row.checked_in_at,
                checked_out_at: row.checked_out_at,
                status: match row.status {
                    Status::Active => SessionStatus::Active,
                    Status::Completed => SessionStatus::Completed,
                    Status::AutoClosed => SessionStatus::AutoClosed,
                },
                created_at: row.created_at,
                updated_at: row.updated_at,
                breaks: row.breaks.iter().map(break_record).collect(),
            })
            .collect();
        Ok(SessionPage { sessions, next })
    }

    fn breaks(&mut self, after: Option<&str>, limit: u32) -> Result<BreakPage, QueryError> {
        let position = parse_cursor(after)?;
        let page = self.page(limit)?;
        let rows = must(self.runtime.block_on(history::breaks_page(
            &mut self.tx,
            self.user,
            position,
            page,
        )));
        let last = rows.last().map(|row| (row.started_at, row.break_id));
        Ok(BreakPage {
            next: next_cursor(rows.len(), page, last),
            breaks: rows.iter().map(break_record).collect(),
        })
    }

    fn servers(&mut self) -> Result<Vec<ServerRecord>, QueryError> {
        let rows = must(
            self.runtime
                .block_on(history::servers(&mut self.tx, self.user)),
        );
        Ok(rows
            .into_iter()
            .map(|row| ServerRecord {
                server_id: row.server_id.get(),
                server_name: row.server_name,
                first_checkin: row.first_checkin,
                last_checkin: row.last_checkin,
                session_count: row.session_count,
            })
            .collect())
    }
}

/// The kernel's record of this process's peak resident memory.
#[derive(Debug)]
struct PeakMemory {
    /// Whether the record can be reset; without that, every reading is the peak since start.
    resettable: bool,
}

impl PeakMemory {
    fn new() -> Self {
        PeakMemory {
            resettable: Self::clear(),
        }
    }

    /// Writing 5 to `clear_refs` sets the high-water mark back to the current resident size.
    fn clear() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    fn reset(&self) {
        if self.resettable {
            Self::clear();
        }
    }

    /// `VmHWM` in MiB, where the system reports it.
    fn peak_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        let kib: u32 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(f64::from(kib) / 1024.0)
    }
}

/// The 1, 5 and 15 minute load averages, where the system reports them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "n/a".to_owned())
}

fn higher(left: Option<f64>, right: Option<f64>) -> Option<f64> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.max(right)),
        (left, right) => left.or(right),
    }
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => Duration::ZERO,
        len if len.is_multiple_of(2) => (sorted[middle - 1] + sorted[middle]) / 2,
        _ => sorted[middle],
    }
}

impl Figures {
    fn wasm_median(&self) -> Duration {
        median(&self.wasm)
    }

    fn ratio(&self) -> f64 {
        self.wasm_median().as_secs_f64() / median(&self.native).as_secs_f64()
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |value| format!("{value:.1} MiB"))
}

/// 10000 as "10,000".
fn thousands(value: u32) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn print_table(results: &[Figures]) {
    println!();
    println!(
        "| {:>8} | {:>4} | {:>11} | {:>10} | {:>13} | {:>11} | {:>10} | {:>12} | {:>14} |",
        "sessions",
        "runs",
        "wasm median",
        "wasm min",
        "native median",
        "wasm/native",
        "document",
        "peak (wasm)",
        "peak (native)",
    );
    println!(
        "|{:-<10}|{:-<6}|{:-<13}|{:-<12}|{:-<15}|{:-<13}|{:-<12}|{:-<14}|{:-<16}|",
        "", "", "", "", "", "", "", "", ""
    );
    for figures in results {
        let document_kib = u32::try_from(figures.document_bytes / 1024).unwrap_or(u32::MAX);
        println!(
            "| {:>8} | {:>4} | {:>11} | {:>10} | {:>13} | {:>11.2} | {:>10} | {:>12} | {:>14} |",
            thousands(figures.sessions),
            figures.iterations,
            millis(figures.wasm_median()),
            millis(figures.wasm.iter().copied().min().unwrap_or_default()),
            millis(median(&figures.native)),
            figures.ratio(),
            mib(Some(f64::from(document_kib) / 1024.0)),
            mib(figures.wasm_peak_mib),
            mib(figures.native_peak_mib),
        );
    }
    println!();
}

fn print_phases(results: &[Phases]) {
    println!("where the time goes (medians; each part timed on its own):");
    println!();
    println!(
        "| {:>8} | {:>9} | {:>9} | {:>10} | {:>11} | {:>12} | {:>12} | {:>9} |",
        "sessions",
        "request",
        "run",
        "issue_link",
        "plugin call",
        "queries only",
        "native build",
        "store",
    );
    println!(
        "|{:-<10}|{:-<11}|{:-<11}|{:-<12}|{:-<13}|{:-<14}|{:-<14}|{:-<11}|",
        "", "", "", "", "", "", "", ""
    );
    for phases in results {
        println!(
            "| {:>8} | {:>9} | {:>9} | {:>10} | {:>11} | {:>12} | {:>12} | {:>9} |",
            thousands(phases.sessions),
            millis(median(&phases.request)),
            millis(median(&phases.run)),
            millis(median(&phases.link)),
            millis(median(&phases.plugin)),
            millis(median(&phases.queries)),
            millis(median(&phases.build)),
            millis(median(&phases.store)),
        );
    }
    println!();
}

fn print_targets(results: &[Figures]) {
    println!(
        "target: {} sessions under {} ms end to end, wasm/native under {}",
        thousands(TARGET_SESSIONS),
        TARGET_END_TO_END.as_millis(),
        TARGET_RATIO
    );
    let verdict = |pass: bool| if pass { "PASS" } else { "MISS" };
    match results
        .iter()
        .find(|figures| figures.sessions == TARGET_SESSIONS)
    {
        Some(figures) => {
            let end_to_end = figures.wasm_median();
            let ratio = figures.ratio();
            println!(
                "  end to end (median): {:>9}  {}",
                millis(end_to_end),
                verdict(end_to_end < TARGET_END_TO_END)
            );
            println!(
                "  wasm/native:         {ratio:>9.2}  {}",
                verdict(ratio < TARGET_RATIO)
            );
        }
        None => println!(
            "  not measured in this mode: run with --bench or --quick for {} sessions",
            thousands(TARGET_SESSIONS)
        ),
    }
}
