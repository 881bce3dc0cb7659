//! The operator command line.
//!
//! `clocky serve` runs the Discord bot (when a token is configured), the download server and the
//! export workers. The other commands act on the
//! same database directly, for corrections, backfills, tests and the demo. Everything a Discord
//! user can do goes through the same [`Tracker`](crate::tracking::Tracker) and
//! [`Exporter`](crate::export::Exporter) as here.

mod plugins;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDateTime};
use clap::{Args, Parser, Subcommand, ValueEnum};
use clocky_rules::Timestamp;
use clocky_rules::zone::local_to_utc;
use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

use crate::app::App;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::export::{Requested, human_time};
use crate::ids::{ServerId, UserId};
use crate::tracking::Member;

/// Clocky: time tracking for Discord, with your data always yours to take.
#[derive(Debug, Parser)]
#[command(name = "clocky", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./clocky.toml if it exists.
    #[arg(long, short, global = true, env = "CLOCKY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Discord bot (given a token), the download server, the export workers and the
    /// sweeps until interrupted.
    Serve,
    /// Record time for a user, as the Discord commands would (for corrections and backfills).
    Track {
        /// What to record.
        #[arg(value_enum)]
        action: TrackAction,
        /// Who and when.
        #[command(flatten)]
        args: TrackArgs,
    },
    /// Change a user's preferences, or erase them.
    User {
        /// What to change.
        #[command(subcommand)]
        action: UserAction,
    },
    /// Export a user's data through the same pipeline as /data-export and print the message.
    Export {
        /// The user's Discord id.
        #[arg(long)]
        user: UserId,
        /// Also write the document to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The export format (plugin name). Default: data-export.
        #[arg(long)]
        format: Option<String>,
    },
    /// Turn /server-export on or off for a server, or list where it is on.
    ServerExport {
        /// What to do.
        #[command(subcommand)]
        action: ServerExportAction,
    },
    /// Inspect, check, reload and roll back plugins.
    Plugins {
        /// The running host's admin endpoint. Default: http://<admin.listen>/.
        #[arg(long, value_name = "URL", global = true)]
        admin: Option<url::Url>,
        /// What to do.
        #[command(subcommand)]
        action: plugins::PluginsAction,
    },
    /// Create a realistic history for a demo user, export it, and serve the link.
    Demo {
        /// Print the message and exit instead of serving the link.
        #[arg(long)]
        no_serve: bool,
    },
}

/// Tracking actions.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TrackAction {
    /// Start a work session.
    Checkin,
    /// End the work session (and a running break).
    Checkout,
    /// Start a break.
    BreakStart,
    /// End the break.
    BreakEnd,
}

/// Who, where and when.
#[derive(Debug, Args)]
pub struct TrackArgs {
    /// The user's Discord id.
    #[arg(long)]
    pub user: UserId,
    /// The server's Discord id.
    #[arg(long)]
    pub server: ServerId,
    /// When: RFC 3339 with an offset (2025-01-15T09:00:00+01:00), or "YYYY-MM-DD HH:MM" in the
    /// user's time zone. Default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// The user's current username: name, or name#1234 for accounts with a discriminator.
    #[arg(long)]
    pub username: Option<String>,
    /// The server's current name.
    #[arg(long)]
    pub server_name: Option<String>,
}

/// Preference changes.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Set the IANA time zone used for local times (e.g. Europe/Berlin).
    SetTimezone {
        /// The user's Discord id.
        #[arg(long)]
        user: UserId,
        /// An IANA zone name.
        zone: String,
    },
    /// Show or hide the user on server leaderboards.
    SetLeaderboard {
        /// The user's Discord id.
        #[arg(long)]
        user: UserId,
        /// on or off.
        #[arg(value_enum)]
        visibility: Toggle,
    },
    /// Erase a user: every session, break, export file and record about them.
    Delete {
        /// The user's Discord id.
        #[arg(long)]
        user: UserId,
    },
}

/// Switching server-wide exports.
#[derive(Debug, Subcommand)]
pub enum ServerExportAction {
    /// Let the server's members with Manage Server run /server-export.
    Enable {
        /// The server's Discord id.
        server: ServerId,
    },
    /// Stop /server-export in the server. Exports already made stay downloadable until they
    /// expire.
    Disable {
        /// The server's Discord id.
        server: ServerId,
    },
    /// List the servers where /server-export is on.
    List,
}

/// on or off.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Toggle {
    /// Visible.
    On,
    /// Hidden.
    Off,
}

/// Parses the command line, sets up logging and runs the command.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // The server reports what it does; one-shot commands only warn, so their output stays the
    // message the operator asked for. RUST_LOG overrides both.
    let default_filter = match cli.command {
        Command::Serve => "warn,clocky=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = Config::load(cli.config.as_deref()).context("failed to load the configuration")?;
    let runtime = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    runtime.block_on(run(cli.command, config, Arc::new(SystemClock)))
}

/// Runs one command against a host built from `config`.
pub async fn run(command: Command, config: Config, clock: SharedClock) -> anyhow::Result<ExitCode> {
    // Plugin commands talk to the running host, or check a file on their own.
    let command = match command {
        Command::Plugins { admin, action } => {
            plugins::run(action, admin, config).await?;
            return Ok(ExitCode::SUCCESS);
        }
        other => other,
    };
    let app = App::open(config, clock).await?;
    match command {
        Command::Serve => serve(&app, false).await?,
        Command::Track { action, args } => track(&app, action, &args).await?,
        Command::User { action } => user(&app, action).await?,
        Command::ServerExport { action } => server_export(&app, action).await?,
        Command::Export { user, out, format } => {
            let message = export(&app, user, format.as_deref(), out.as_deref()).await?;
            println!("{}", message.to_text());
            println!(
                "\nThe link is served by `clocky serve` at {}.",
                app.config.server.listen
            );
        }
        Command::Demo { no_serve } => {
            let message = crate::demo::run(&app).await?;
            println!("\n{}", message.to_text());
            if !no_serve {
                serve(&app, true).await?;
            }
        }
        Command::Plugins { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(app: &App, demo: bool) -> anyhow::Result<()> {
    let listen = app.config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("failed to listen on {listen}"))?;
    if demo {
        println!(
            "\nServing the link at {}. Press Ctrl-C to stop.",
            app.config.server.public_url
        );
    } else {
        tracing::info!(%listen, public_url = %app.config.server.public_url, "download server listening");
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    app.serve(listener, shutdown).await
}

async fn track(app: &App, action: TrackAction, args: &TrackArgs) -> anyhow::Result<()> {
    let zone = app.tracker.timezone_of(args.user).await?;
    let at = args
        .at
        .as_deref()
        .map(|text| parse_at(text, zone))
        .transpose()?;
    let username = args.username.as_deref().map(parse_username).transpose()?;
    let member = Member {
        user: args.user,
        username,
        server: args.server,
        server_name: args
            .server_name
            .as_deref()
            .map(parse_server_name)
            .transpose()?,
    };
    let when = |at: Option<Timestamp>| local(at.unwrap_or_else(|| app.clock.now()), zone);
    match action {
        TrackAction::Checkin => {
            let session = app.tracker.check_in(member, at).await?;
            println!("Checked in at {} (session {session}).", when(at));
        }
        TrackAction::Checkout => {
            let done = app.tracker.check_out(member, at).await?;
            let figures = done.figures;
            println!(
                "Checked out at {}{}: {} min worked, {} min of breaks.",
                when(at),
                if done.ended_break {
                    ", ending your break"
                } else {
                    ""
                },
                figures.net_worked_minutes.unwrap_or(0),
                figures.break_duration_minutes,
            );
        }
        TrackAction::BreakStart => {
            app.tracker.start_break(member, at).await?;
            println!("Break started at {}.", when(at));
        }
        TrackAction::BreakEnd => {
            let minutes = app.tracker.end_break(member, at).await?;
            println!("Break ended at {} after {minutes} min.", when(at));
        }
    }
    Ok(())
}

async fn user(app: &App, action: UserAction) -> anyhow::Result<()> {
    match action {
        UserAction::SetTimezone { user, zone } => {
            let zone = app.tracker.set_timezone(user, None, &zone).await?;
            println!("Time zone set to {}.", zone.name());
        }
        UserAction::SetLeaderboard { user, visibility } => {
            let public = matches!(visibility, Toggle::On);
            app.tracker.set_leaderboard(user, None, public).await?;
            println!(
                "Leaderboard visibility {}.",
                if public { "on" } else { "off" }
            );
        }
        UserAction::Delete { user } => {
            if app.exporter.forget_user(user).await? {
                println!("Erased user {user} and everything Clocky kept about them.");
            } else {
                println!("Clocky has nothing about user {user}.");
            }
        }
    }
    Ok(())
}

async fn server_export(app: &App, action: ServerExportAction) -> anyhow::Result<()> {
    match action {
        ServerExportAction::Enable { server } => {
            let changed = app.exporter.set_server_export(server, true).await?;
            let already = if changed { "" } else { " (it already was)" };
            println!("/server-export is enabled for server {server}{already}.");
        }
        ServerExportAction::Disable { server } => {
            let changed = app.exporter.set_server_export(server, false).await?;
            let already = if changed { "" } else { " (it already was)" };
            println!("/server-export is disabled for server {server}{already}.");
        }
        ServerExportAction::List => {
            let mut conn = app.db.pool().acquire().await?;
            let servers = crate::db::exports::server_exports_enabled(&mut conn).await?;
            if servers.is_empty() {
                println!("/server-export is not enabled for any server.");
            }
            for (server, enabled_at, name) in servers {
                let name = name.map_or_else(
                    || "(name not seen yet)".to_owned(),
                    |name| plugins::printable(&name),
                );
                let since = DateTime::from_timestamp(enabled_at, 0)
                    .map_or_else(|| enabled_at.to_string(), |at| at.to_rfc3339());
                println!("{server}  {name}  enabled {since}");
            }
        }
    }
    Ok(())
}

/// Runs an export to the end and issues its link, showing progress while the plugin works.
pub async fn export(
    app: &App,
    user: UserId,
    format: Option<&str>,
    out: Option<&std::path::Path>,
) -> anyhow::Result<crate::export::DeliveryMessage> {
    // An operator's typo must not create a record about somebody Clocky never saw.
    if !app.tracker.knows(user).await? {
        bail!("Clocky has no record of user {user}; nothing to export");
    }
    // Claimed at creation, so a `clocky serve` on the same database cannot take it first.
    let job = match app.exporter.request_claimed(user, None, format).await? {
        Requested::Queued(job) => job,
        Requested::AlreadyInProgress(job) => bail!(
            "an export for user {user} is already {} (job {}); wait for it to finish",
            job.state.as_str(),
            job.job_id
        ),
    };
    let spinner = ProgressBar::new_spinner()
        .with_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        )
        .with_message("Generating your data export…");
    spinner.enable_steady_tick(Duration::from_millis(100));
    let ran = app.exporter.run_claimed(job.job_id).await;
    spinner.finish_and_clear();
    let ready = match ran {
        Ok(ready) => ready,
        Err(error) => {
            eprintln!("{}", error.user_message());
            return Err(error.into());
        }
    };
    let message = app.exporter.issue_link(ready.job_id).await?;
    if let Some(path) = out {
        let bytes = app.exporter.document(&ready).await?;
        std::fs::write(path, &bytes)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    Ok(message)
}

/// The earliest instant Clocky records: 2015-01-01T00:00:00Z, the start of Discord's snowflake
/// epoch. Nothing tracked on Discord can be older, and a year-0001 typo is caught here instead
/// of turning into a session nobody can read back.
pub const EARLIEST: Timestamp = 1_420_070_400;

/// Reads `--at`: RFC 3339 with an offset, or a wall-clock time in the user's zone.
pub fn parse_at(text: &str, zone: chrono_tz::Tz) -> anyhow::Result<Timestamp> {
    let at = parse_instant(text, zone)?;
    if at < EARLIEST {
        bail!("{text:?} is before 2015, when Discord began; Clocky records nothing that early");
    }
    Ok(at)
}

fn parse_instant(text: &str, zone: chrono_tz::Tz) -> anyhow::Result<Timestamp> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.timestamp());
    }
    let Ok(local) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M") else {
        bail!(
            "could not read the time {text:?}: use RFC 3339 with an offset \
             (2025-01-15T09:00:00+01:00) or \"YYYY-MM-DD HH:MM\" in the user's time zone ({})",
            zone.name()
        );
    };
    Ok(local_to_utc(zone, local)?)
}

/// Reads `name` or `name#1234`.
pub fn parse_username(text: &str) -> anyhow::Result<(&str, u16)> {
    let text = text.trim();
    let (name, discriminator) = match text.rsplit_once('#') {
        Some((name, digits)) if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            (name, digits.parse::<u16>()?)
        }
        _ => (text, 0),
    };
    if !is_display_name(name) {
        bail!(
            "a username must be 1 to 100 characters without control characters, optionally \
             followed by #1234"
        );
    }
    Ok((name, discriminator))
}

/// Reads `--server-name`: what Discord allows for a server name, 1 to 100 characters.
pub fn parse_server_name(text: &str) -> anyhow::Result<&str> {
    let text = text.trim();
    if !is_display_name(text) {
        bail!("a server name must be 1 to 100 characters without control characters");
    }
    Ok(text)
}

/// 1 to 100 characters, none of them control characters (which would break log lines and
/// terminal output) or bidirectional overrides (which can make a name display as another).
fn is_display_name(text: &str) -> bool {
    let length = text.chars().count();
    (1..=100).contains(&length)
        && !text
            .chars()
            .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))
}

fn local(at: Timestamp, zone: chrono_tz::Tz) -> String {
    match DateTime::from_timestamp(at, 0) {
        Some(time) => format!(
            "{} ({})",
            time.with_timezone(&zone).format("%Y-%m-%d %H:%M"),
            zone.name()
        ),
        None => human_time(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_accepts_offsets_and_local_times() {
        let berlin = chrono_tz::Europe::Berlin;
        // 2025-01-15T09:00:00+01:00 is 08:00Z = 1736928000.
        assert_eq!(
            parse_at("2025-01-15T09:00:00+01:00", berlin).unwrap(),
            1_736_928_000
        );
        assert_eq!(parse_at("2025-01-15 09:00", berlin).unwrap(), 1_736_928_000);
        let error = parse_at("2025-03-30 02:30", berlin)
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not exist"), "{error}");
        let error = parse_at("yesterday", berlin).unwrap_err().to_string();
        assert!(error.contains("RFC 3339"), "{error}");
    }

    #[test]
    fn usernames_keep_their_discriminator() {
        assert_eq!(parse_username("alice#1234").unwrap(), ("alice", 1234));
        assert_eq!(parse_username("alice").unwrap(), ("alice", 0));
        assert_eq!(parse_username("we#ird").unwrap(), ("we#ird", 0));
        assert!(parse_username("").is_err());
        assert!(parse_username("evil\nname").is_err());
        assert!(parse_username("\u{202e}txt.exe").is_err());
        assert!(parse_username(&"x".repeat(101)).is_err());
        assert_eq!(
            parse_server_name(" Side Project 🚀 ").unwrap(),
            "Side Project 🚀"
        );
        assert!(parse_server_name("").is_err());
    }

    #[test]
    fn times_before_discord_existed_are_refused() {
        let error = parse_at("0001-01-01T00:00:00Z", chrono_tz::UTC)
            .unwrap_err()
            .to_string();
        assert!(error.contains("before 2015"), "{error}");
        assert_eq!(
            parse_at("2015-01-01T00:00:00Z", chrono_tz::UTC).unwrap(),
            EARLIEST
        );
    }
}
