//! The rules of time tracking, written once.
//!
//! The host applies them when people check in and out; every export plugin applies them when it
//! turns stored rows into minutes and statistics. Keeping them in one crate that builds both for
//! the host and for `wasm32-wasip2` is what makes a CSV export and the JSON export agree to the
//! minute.
//!
//! - [`time`]: instants as whole UTC seconds and their one textual form.
//! - [`figures`]: minutes of sessions and breaks, and the statistics over them.
//! - [`tracking`]: what may happen next to a user's sessions (check-in, check-out, breaks,
//!   auto-close), as pure decisions over rows the caller has read.
//! - [`names`]: how a Discord username is shown.
//! - `zone` (feature `tz`): IANA time-zone names and local wall-clock times.
//!
//! Nothing here does I/O or reads a clock: the caller passes "now" in.

pub mod figures;
pub mod names;
pub mod time;
pub mod tracking;
#[cfg(feature = "tz")]
pub mod zone;

pub use figures::{BreakFigures, SessionFigures, Statistics, StatisticsBuilder, Status};
pub use time::Timestamp;
