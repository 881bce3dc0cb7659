//! The figures operators watch, as Prometheus metrics.
//!
//! Every counter and histogram goes through the `metrics` facade into one
//! `metrics-exporter-prometheus` recorder per process, installed by [`install`] when the first
//! [`App`](crate::app::App) opens. The admin endpoint renders it at `GET /metrics`, after
//! [`set_queue`] has filled in the queue's gauges from the database, so those are as fresh as
//! the scrape.
//!
//! | Metric | Kind | Labels | What it counts |
//! |---|---|---|---|
//! | `clocky_exports_requested_total` | counter | `scope` | export jobs queued (`user` or `server`) |
//! | `clocky_exports_finished_total` | counter | `outcome`, `reason` | jobs that ended `ready`, or `failed` with their kind (`timeout`, `out-of-memory`, `output-too-large`, `trap`, `plugin-error`, `storage`, `no-plugin`, `internal`) |
//! | `clocky_exports_running` | gauge | | jobs a worker of this process is running |
//! | `clocky_plugin_calls_total` | counter | `plugin`, `version`, `outcome` | plugin export calls, `ok` or the failure kind |
//! | `clocky_plugin_call_seconds` | histogram | `plugin`, `version` | wall time of each call |
//! | `clocky_dm_deliveries_total` | counter | `outcome` | delivery attempts: `sent`, `closed`, `failed`, `unknown`, `retried` |
//! | `clocky_export_queue_depth` | gauge | | jobs waiting for a worker |
//! | `clocky_export_oldest_queued_seconds` | gauge | | age of the oldest of them; 0 when none waits |
//!
//! Labels hold plugin names and versions (checked when loaded: short, lowercase) and fixed
//! words, never ids or names of people, so their number stays small.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::plugin::Scope;

const REQUESTED: &str = "clocky_exports_requested_total";
const FINISHED: &str = "clocky_exports_finished_total";
const RUNNING: &str = "clocky_exports_running";
const PLUGIN_CALLS: &str = "clocky_plugin_calls_total";
const PLUGIN_SECONDS: &str = "clocky_plugin_call_seconds";
const DELIVERIES: &str = "clocky_dm_deliveries_total";
const QUEUE_DEPTH: &str = "clocky_export_queue_depth";
const QUEUE_OLDEST: &str = "clocky_export_oldest_queued_seconds";

/// Histogram buckets for plugin calls, in seconds: from a small user's export (milliseconds)
/// to the wall-time limit's neighbourhood.
const CALL_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder the first time it is called and returns the handle that
/// renders it; later calls return the same handle. None if another recorder was installed
/// first (an embedding program's), in which case Clocky's figures go to that one.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(PLUGIN_SECONDS.to_owned()), &CALL_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics are not recorded by Clocky's own recorder");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    describe_counter!(REQUESTED, "Export jobs queued, by scope (user or server).");
    describe_counter!(
        FINISHED,
        "Export jobs finished, by outcome and failure reason."
    );
    describe_gauge!(RUNNING, "Export jobs this process is running now.");
    describe_counter!(
        PLUGIN_CALLS,
        "Plugin export calls, by plugin, version and outcome."
    );
    describe_histogram!(
        PLUGIN_SECONDS,
        Unit::Seconds,
        "Wall time of plugin export calls."
    );
    describe_counter!(DELIVERIES, "Direct-message delivery attempts, by outcome.");
    describe_gauge!(QUEUE_DEPTH, "Export jobs waiting for a worker.");
    describe_gauge!(
        QUEUE_OLDEST,
        Unit::Seconds,
        "Age of the oldest waiting export job."
    );
}

/// The Prometheus text of every metric, after the recorder's periodic upkeep.
pub fn render(handle: &PrometheusHandle) -> String {
    handle.run_upkeep();
    handle.render()
}

/// An export job was queued.
pub fn export_requested(scope: Scope) {
    counter!(REQUESTED, "scope" => scope.as_str()).increment(1);
}

/// An export job ended: `Ok` ready, or `Err` with its failure kind.
pub fn export_finished(outcome: Result<(), &str>) {
    let (outcome, reason) = match outcome {
        Ok(()) => ("ready", String::new()),
        Err(kind) => ("failed", kind.to_owned()),
    };
    counter!(FINISHED, "outcome" => outcome, "reason" => reason).increment(1);
}

/// Counts a job as running for as long as it lives.
#[derive(Debug)]
pub struct Running(());

impl Running {
    /// Starts counting.
    pub fn start() -> Running {
        gauge!(RUNNING).increment(1.0);
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        gauge!(RUNNING).decrement(1.0);
    }
}

/// One plugin export call: `Ok`, or `Err` with the failure kind, and how long it took.
pub fn plugin_call(plugin: &str, version: &str, outcome: Result<(), &str>, took: Duration) {
    let (plugin, version) = (plugin.to_owned(), version.to_owned());
    let outcome = outcome.err().unwrap_or("ok").to_owned();
    counter!(PLUGIN_CALLS, "plugin" => plugin.clone(), "version" => version.clone(), "outcome" => outcome)
        .increment(1);
    histogram!(PLUGIN_SECONDS, "plugin" => plugin, "version" => version).record(took.as_secs_f64());
}

/// A delivery attempt ended with `outcome`.
pub fn delivery(outcome: &'static str) {
    counter!(DELIVERIES, "outcome" => outcome).increment(1);
}

/// The queue as the database has it now: how many jobs wait, and for how long the oldest has.
/// Both saturate at `u32::MAX`, which no queue reaches.
pub fn set_queue(depth: u64, oldest_seconds: u64) {
    let float = |value: u64| f64::from(u32::try_from(value).unwrap_or(u32::MAX));
    gauge!(QUEUE_DEPTH).set(float(depth));
    gauge!(QUEUE_OLDEST).set(float(oldest_seconds));
}
