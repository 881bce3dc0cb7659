//! The sandbox's limits, and the machinery that enforces them on one export.
//!
//! Every limit is per export call and starts from zero for the next one, because each export
//! gets a fresh store. What each protects against:
//!
//! - **CPU time** ([`Limits::cpu`]): a plugin that loops would hold a worker forever. Counted in
//!   epoch ticks observed while the guest's own code runs; a host query that takes a while costs
//!   the guest at most one tick, so a slow database does not fail honest plugins.
//! - **Wall time** ([`Limits::wall`]): the backstop for what CPU time cannot see, such as a plugin
//!   that keeps the host's database busy on its behalf.
//! - **Memory** ([`Limits::memory_bytes`]): the sum of all of an instance's linear memories. A
//!   plugin that allocates without end gets a failed allocation, which Rust guests turn into a
//!   trap that the host then reports as out of memory.
//! - **Output** ([`Limits::output_bytes`]): the largest document accepted for storage.
//! - **Log lines** ([`Limits::log_lines`]): lines past the cap are dropped and counted so a
//!   chatty plugin cannot flood the operator's log.

use std::time::Duration;

use crate::config::PluginConfig;

/// How often the engine's epoch advances. CPU time is measured in these ticks.
pub const TICK: Duration = Duration::from_millis(10);

/// The longest log line kept; longer lines are cut at a character boundary.
pub const MAX_LOG_LINE_BYTES: usize = 2048;

/// The most a plugin's standard error may hold per export (panic messages land there).
pub const MAX_STDERR_BYTES: usize = 16 * 1024;

/// Tables (function references) an instance may grow to. Generous for any Rust guest.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Plugin instances the pooling allocator keeps slots for: every export running at once (at most
/// 64, `exports.concurrency`'s ceiling) plus check runs, metadata calls and headroom. An export
/// that finds no free slot fails as a trap, so this is generous; each slot only reserves
/// address space until it is used.
pub const POOL_INSTANCES: u32 = 160;

/// Core instances and tables a pooled plugin may have. A Rust component has its own module
/// plus a few small adapter modules.
pub const POOL_CORE_INSTANCES_PER_PLUGIN: u32 = 16;

/// Linear memories a pooled plugin may have. A Rust component has one; an adapter may add one.
pub const POOL_MEMORIES_PER_PLUGIN: u32 = 2;

/// CPU time a check run may take at most.
pub const CHECK_RUN_CPU: Duration = Duration::from_secs(2);

/// Wall-clock time a check run may take at most.
pub const CHECK_RUN_WALL: Duration = Duration::from_secs(10);

/// The limits one export runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU time in the guest's own code.
    pub cpu: Duration,
    /// Wall-clock time for the whole call.
    pub wall: Duration,
    /// Linear memory across the instance.
    pub memory_bytes: usize,
    /// Largest accepted document.
    pub output_bytes: usize,
    /// Log lines kept.
    pub log_lines: u32,
    /// Rows per page, whatever the plugin asks for.
    pub page_size: u32,
}

impl Limits {
    /// Limits from the configuration.
    pub fn from_config(config: &PluginConfig, page_size: u32) -> Limits {
        let mib =
            |value: u64| usize::try_from(value.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        Limits {
            cpu: Duration::from_millis(config.cpu_ms),
            wall: Duration::from_secs(config.wall_seconds),
            memory_bytes: mib(config.memory_mib),
            output_bytes: mib(config.output_mib),
            log_lines: config.log_lines,
            page_size,
        }
    }

    /// The tighter limits of a check run against the sample user, whose export is tiny: at most
    /// [`CHECK_RUN_CPU`] of CPU and [`CHECK_RUN_WALL`] in all, so a plugin that loops is
    /// refused within seconds rather than after a real export's allowance.
    pub fn for_check_run(self) -> Limits {
        Limits {
            cpu: self.cpu.min(CHECK_RUN_CPU),
            wall: self.wall.min(CHECK_RUN_WALL),
            ..self
        }
    }

    /// The CPU limit in ticks, at least one.
    pub fn cpu_ticks(&self) -> u64 {
        let ticks = self.cpu.as_millis() / TICK.as_millis().max(1);
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_config(&PluginConfig::default(), 500)
    }
}

/// Tracks an instance's memory and refuses growth past the limit, remembering that it did so.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: usize,
    used: usize,
    /// Set when a growth was refused, so a following trap can be classified as out of memory.
    pub hit: bool,
}

impl MemoryLimiter {
    /// A limiter for `limit` bytes across every memory of the instance.
    pub fn new(limit: usize) -> Self {
        MemoryLimiter {
            limit,
            used: 0,
            hit: false,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    // The same caps as the pool's, so a host that fell back to on-demand allocation holds
    // plugins to them too.
    fn instances(&self) -> usize {
        usize::try_from(POOL_CORE_INSTANCES_PER_PLUGIN).unwrap_or(usize::MAX)
    }

    fn tables(&self) -> usize {
        usize::try_from(POOL_CORE_INSTANCES_PER_PLUGIN).unwrap_or(usize::MAX)
    }

    fn memories(&self) -> usize {
        usize::try_from(POOL_MEMORIES_PER_PLUGIN).unwrap_or(usize::MAX)
    }

    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.used.saturating_add(growth);
        if total > self.limit {
            self.hit = true;
            return Ok(false);
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memory_is_counted_across_memories_and_refusal_is_remembered() {
        let mut limiter = MemoryLimiter::new(100);
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(limiter.memory_growing(0, 40, None).unwrap());
        assert!(!limiter.hit);
        assert!(!limiter.memory_growing(40, 41, None).unwrap());
        assert!(limiter.hit);
    }

    #[test]
    fn default_cpu_budget_is_a_thousand_ticks() {
        // 10 s of CPU in 10 ms ticks.
        assert_eq!(Limits::default().cpu_ticks(), 1000);
    }
}
