//! The `plugins` benchmark: what starting a plugin costs each export, and how a new version of a
//! plugin takes over on a running host.
//!
//! Everything runs on a host opened through [`App::open`] on a temporary folder, with the
//! built-in data-export plugin. A "new version" is that component with a custom section
//! appended: other bytes and another hash, the same behaviour, so the engine compiles it anew as
//! it would a real release.
//!
//! 1. **Instantiation.** [`PluginRuntime::instantiate`] from the pre-instantiated component, in a
//!    fresh store with every limit armed, as each export does before the plugin's first
//!    instruction. Timed with the pooling allocator and, as the baseline, with instances
//!    allocated on demand.
//! 2. **Swap.** The host watches its plugin folder; a new version is written beside it and
//!    renamed in, and the time until the registry serves the new hash is taken. This includes
//!    the watcher's quiet period (300 ms), compiling, the checks and the check run.
//! 3. **Exports across a swap.** Two tasks export a 10-session user back to back for a few
//!    seconds while a new version is renamed in half-way. Exports per second before, during
//!    and after, and every export must succeed.
//!
//! ```text
//! cargo bench --package clocky --bench plugins              # full
//! cargo bench --package clocky --bench plugins -- --quick   # fewer rounds, as CI runs it
//! ```
//!
//! Targets are printed beside the figures; a missed one is reported, not turned into a failure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clocky::app::App;
use clocky::clock::ManualClock;
use clocky::config::Config;
use clocky::export::DEFAULT_FORMAT;
use clocky::ids::{ServerId, UserId};
use clocky::plugin::bindings::exports::clocky::plugin::exporter::ExportRequest;
use clocky::plugin::folder::PluginFolder;
use clocky::plugin::{Capability, PluginRuntime};
use clocky::tracking::Member;
use clocky_rules::Timestamp;

/// 2025-06-02T12:00:00Z, where the clock stands.
const NOW: Timestamp = 1_748_865_600;

const USER: u64 = 400_000_000_000_000_001;
const SERVER: u64 = 900_000_000_000_000_001;

const TARGET_INSTANTIATION: Duration = Duration::from_micros(100);
const TARGET_SWAP: Duration = Duration::from_secs(1);

struct Rounds {
    instantiations: usize,
    swaps: usize,
    stream: Duration,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let benched = args.iter().any(|arg| arg == "--bench");
    // A plain `cargo test --all-targets` runs this with neither flag: one short round each.
    let rounds = match (quick, benched) {
        (false, true) => Rounds {
            instantiations: 2_000,
            swaps: 10,
            stream: Duration::from_secs(6),
        },
        (true, _) => Rounds {
            instantiations: 300,
            swaps: 3,
            stream: Duration::from_secs(3),
        },
        (false, false) => Rounds {
            instantiations: 20,
            swaps: 1,
            stream: Duration::from_secs(2),
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(rounds))
}

async fn run(rounds: Rounds) -> anyhow::Result<()> {
    let folder = tempfile::Builder::new()
        .prefix("clocky-bench-plugins-")
        .tempdir()?;
    let app = open(folder.path()).await?;
    seed(&app).await?;
    println!(
        "plugins benchmark ({} rounds of instantiation)",
        rounds.instantiations
    );

    instantiation(&app, folder.path(), rounds.instantiations).await?;
    swaps(&app, rounds.swaps).await?;
    stream(&app, rounds.stream).await?;
    Ok(())
}

async fn open(dir: &Path) -> anyhow::Result<App> {
    let mut config = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    config.plugins.dir = Some(plugins);
    config.plugins.cache_dir = Some(dir.join("cache"));
    config.admin.enabled = false;
    let clock = Arc::new(ManualClock::new(NOW));
    App::open(config, clock).await
}

/// Ten one-hour sessions on the ten days before [`NOW`].
async fn seed(app: &App) -> anyhow::Result<()> {
    let member = Member {
        user: UserId::new(USER)?,
        username: Some(("bench", 0)),
        server: ServerId::new(SERVER)?,
        server_name: Some("Bench"),
    };
    for day in 1..=10 {
        let start = NOW - day * 86_400;
        app.tracker.check_in(member, Some(start)).await?;
        app.tracker.check_out(member, Some(start + 3_600)).await?;
    }
    Ok(())
}

/// The built-in data-export plugin with a custom section naming `tag` appended.
fn new_version(tag: &str) -> Vec<u8> {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = u8::try_from(value & 0x7f).unwrap_or(0);
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"clocky-bench-version";
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(tag.as_bytes());
    let mut bytes = clocky::BUILTIN_DATA_EXPORT.to_vec();
    bytes.push(0);
    leb128(body.len(), &mut bytes);
    bytes.extend_from_slice(&body);
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Writes `bytes` beside the plugin folder and renames it in as `data-export.wasm`.
fn rename_in(app: &App, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let dir = app.config.plugins.dir.clone().context("a plugin folder")?;
    let staging = dir.with_file_name("data-export.wasm.staging");
    std::fs::write(&staging, bytes)?;
    let target = dir.join("data-export.wasm");
    std::fs::rename(&staging, &target)?;
    Ok(target)
}

/// The value at `percent` of the way through `sorted`, by nearest rank.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    sorted[((last * percent + 50) / 100).min(last)]
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

async fn instantiation(app: &App, dir: &Path, rounds: usize) -> anyhow::Result<()> {
    let plugin = app
        .plugins
        .get(DEFAULT_FORMAT)
        .context("data-export is active")?;
    let pooled = app.runtime.clone();
    let on_demand =
        PluginRuntime::with_pooling(app.runtime.limits(), Some(&dir.join("cache")), false)?;
    // The same component compiled by the on-demand engine (from the cache the first one filled).
    let on_demand_plugin = on_demand.load(clocky::BUILTIN_DATA_EXPORT.to_vec()).await?;

    let mut figures = Vec::new();
    for (label, runtime, plugin) in [
        ("pooling allocator", &pooled, &*plugin),
        ("on demand (baseline)", &on_demand, &on_demand_plugin),
    ] {
        // Warm-up: the first instances fault in the pool's pages and the code.
        for _ in 0..20 {
            runtime.instantiate(plugin).await?;
        }
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            runtime.instantiate(plugin).await?;
            times.push(started.elapsed());
        }
        times.sort();
        let median = percentile(&times, 50);
        println!(
            "instantiation, {label:<21} median {:>7.1} µs  p90 {:>7.1} µs  (pooling in use: {})",
            median.as_secs_f64() * 1e6,
            percentile(&times, 90).as_secs_f64() * 1e6,
            runtime.pooled()
        );
        figures.push(median);
    }
    let ratio = figures[1].as_secs_f64() / figures[0].as_secs_f64().max(1e-9);
    println!(
        "instantiation: on demand / pooled = {ratio:.2}; target median < {} µs with pooling: {}",
        TARGET_INSTANTIATION.as_micros(),
        verdict(figures[0] < TARGET_INSTANTIATION)
    );
    Ok(())
}

/// Starts the folder watcher and waits until it has read the folder once.
async fn watch(app: &App) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let folder = app.folder.clone().context("a plugin folder")?;
    let handle = tokio::spawn(async move {
        if let Err(error) = PluginFolder::watch(folder).await {
            eprintln!("the watcher stopped: {error}");
        }
    });
    // The watcher reads the folder under its lock once the watch is in place.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _settled = app.folder.as_ref().context("a plugin folder")?.lock().await;
    Ok(handle)
}

async fn wait_for(app: &App, sha256: &str, limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let serving = app
            .plugins
            .get(DEFAULT_FORMAT)
            .map(|plugin| plugin.sha256.clone());
        if serving.as_deref() == Some(sha256) {
            return Ok(started.elapsed());
        }
        ensure!(
            started.elapsed() < limit,
            "the new version did not serve within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn swaps(app: &App, rounds: usize) -> anyhow::Result<()> {
    let watcher = watch(app).await?;
    let mut times = Vec::new();
    for round in 0..rounds {
        let bytes = new_version(&format!("swap {round}"));
        let sha256 = sha256_hex(&bytes);
        let started = Instant::now();
        rename_in(app, &bytes)?;
        wait_for(app, &sha256, Duration::from_secs(60)).await?;
        times.push(started.elapsed());
        // Let the folder settle so the next rename is a change of its own.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    watcher.abort();
    times.sort();
    let median = percentile(&times, 50);
    let worst = times.last().copied().unwrap_or_default();
    println!(
        "swap, renamed file to serving: median {} ms  worst {} ms over {} swaps; target < {} ms: {}",
        median.as_millis(),
        worst.as_millis(),
        times.len(),
        TARGET_SWAP.as_millis(),
        verdict(worst < TARGET_SWAP)
    );
    Ok(())
}

async fn stream(app: &App, length: Duration) -> anyhow::Result<()> {
    let watcher = watch(app).await?;
    let user = UserId::new(USER)?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let app = app.clone();
        let stop = Arc::clone(&stop);
        workers.push(tokio::spawn(async move {
            // (finished at, hash of the version that ran it)
            let mut finished: Vec<(Duration, String)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let plugin = app
                    .plugins
                    .get(DEFAULT_FORMAT)
                    .context("data-export is active")?;
                let capability = Capability::new(user, app.db.read().await?);
                let request = ExportRequest { generated_at: NOW };
                app.runtime.export(&plugin, capability, request).await?;
                finished.push((started.elapsed(), plugin.sha256.clone()));
            }
            anyhow::Ok(finished)
        }));
    }

    tokio::time::sleep(length / 2).await;
    let bytes = new_version("stream");
    let sha256 = sha256_hex(&bytes);
    let renamed_at = started.elapsed();
    rename_in(app, &bytes)?;
    let took = wait_for(app, &sha256, Duration::from_secs(60)).await?;
    let swapped_at = renamed_at + took;
    tokio::time::sleep(length / 2).await;
    stop.store(true, Ordering::Relaxed);

    let mut finished = Vec::new();
    for worker in workers {
        finished.extend(worker.await??);
    }
    watcher.abort();
    let rate = |from: Duration, to: Duration| {
        let count = finished
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .count();
        let seconds = (to.saturating_sub(from)).as_secs_f64().max(1e-9);
        (
            count,
            f64::from(u32::try_from(count).unwrap_or(u32::MAX)) / seconds,
        )
    };
    let end = finished.iter().map(|(at, _)| *at).max().unwrap_or_default();
    let (before, before_rate) = rate(Duration::ZERO, renamed_at);
    let (during, during_rate) = rate(renamed_at, swapped_at);
    let (after, after_rate) = rate(swapped_at, end);
    let on_new = finished.iter().filter(|(_, sha)| *sha == sha256).count();
    println!(
        "exports across a swap (2 tasks, 10-session user, every export succeeded): \
         {before_rate:.0}/s before ({before}), {during_rate:.0}/s while the new version loaded \
         for {} ms ({during}), {after_rate:.0}/s after ({after}); {on_new} of {} ran on the new \
         version; during/before = {:.2}",
        took.as_millis(),
        finished.len(),
        during_rate / before_rate.max(1e-9)
    );
    Ok(())
}
