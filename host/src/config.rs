//! Configuration.
//!
//! Settings come, lowest priority first, from the built-in defaults, a TOML file (`clocky.toml`
//! in the working directory, or the file named by `--config`), and environment variables named
//! `CLOCKY_<SECTION>__<KEY>` (for example `CLOCKY_SERVER__LISTEN=0.0.0.0:8080`). A key Clocky does
//! not know is an error rather than silently ignored, because a misspelt limit that falls back
//! to its default is a limit the operator believes is in force and is not.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use url::Url;

/// Longest link lifetime an operator may set: a month. The guide promises users 24 hours.
const MAX_LINK_HOURS: u32 = 720;

/// Most exports one process may run at once; each holds a plugin instance and a connection.
const MAX_CONCURRENCY: usize = 64;

/// The file read from the working directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "clocky.toml";

/// Why the configuration could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A file or variable could not be read, has an unknown key, or holds a value of the wrong
    /// type. Figment's message names the key and where it came from.
    #[error(transparent)]
    Load(#[from] Box<figment::Error>),
    /// A value has the right type but cannot work.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Everything Clocky can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Folder for the database and export files when they are not set on their own.
    pub data_dir: PathBuf,
    /// Database URL. Default: `sqlite://<data_dir>/clocky.db`, created on first run.
    pub database_url: Option<String>,
    /// The download server.
    pub server: ServerConfig,
    /// Where export files are kept.
    pub storage: StorageConfig,
    /// The export pipeline.
    pub exports: ExportConfig,
    /// Time-tracking rules an operator may tune.
    pub tracking: TrackingConfig,
    /// The plugin sandbox.
    pub plugins: PluginConfig,
    /// The Discord bot.
    pub discord: DiscordConfig,
    /// The operators' admin endpoint.
    pub admin: AdminConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("clocky-data"),
            database_url: None,
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            exports: ExportConfig::default(),
            tracking: TrackingConfig::default(),
            plugins: PluginConfig::default(),
            discord: DiscordConfig::default(),
            admin: AdminConfig::default(),
        }
    }
}

/// The download server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Loopback by default: put a reverse proxy with HTTPS in front (see
    /// the README) rather than exposing plain HTTP.
    pub listen: SocketAddr,
    /// The address users reach the server at, used to build download links.
    pub public_url: Url,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: Url::parse("http://127.0.0.1:8080/").unwrap_or_else(|_| unreachable!()),
        }
    }
}

/// Where export files are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Folder for export files. Default: `<data_dir>/exports`.
    pub path: Option<PathBuf>,
}

/// The export pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// How long a download link works, in hours. The guide promises 24.
    pub link_hours: u32,
    /// The most rows a plugin gets per page, whatever it asks for. Bounds the memory one host
    /// query can take.
    pub page_size: u32,
    /// How often the server deletes expired files and auto-closes overdue sessions, in seconds.
    /// (Idle export workers look for queued jobs twice a second regardless.)
    pub sweep_interval_seconds: u64,
    /// How many exports one process runs at once. Each holds a plugin instance (up to
    /// `plugins.memory_mib`) and a database connection.
    pub concurrency: usize,
    /// Exports a user may request free of charge within `free_period_days`. The guide promises
    /// the first one each year. A further request is only queued after the user has read that
    /// additional exports may incur a reasonable administrative fee and confirmed; failed
    /// exports do not count.
    pub free_exports: u32,
    /// The window, in days, over which `free_exports` is counted.
    pub free_period_days: u32,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            link_hours: 24,
            page_size: 500,
            sweep_interval_seconds: 30,
            concurrency: 2,
            free_exports: 1,
            free_period_days: 365,
        }
    }
}

/// The Discord bot. Without a token `clocky serve` runs the download server and the export
/// workers only.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// The bot token from the Discord developer portal. A secret: prefer the environment
    /// variable `CLOCKY_DISCORD__TOKEN` to writing it in a file.
    pub token: Option<String>,
    /// Register the slash commands in this one server instead of globally. Useful while trying
    /// Clocky out: a server's commands are updated at once.
    pub command_server: Option<u64>,
    /// Where Discord's API is reached, in place of `https://discord.com`. Leave unset in
    /// production. Setting it points every REST call at another server speaking Discord's
    /// protocol (Clocky's tests use one on loopback) and turns off the client's own rate
    /// limiter, which only works against discord.com.
    pub api_base: Option<Url>,
}

impl std::fmt::Debug for DiscordConfig {
    // The token would otherwise reach every log line that prints the configuration.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordConfig")
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("command_server", &self.command_server)
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// The admin endpoint of a running `clocky serve`, which `clocky plugins` talks to: the plugins'
/// state, a reload of the plugin folder, and rollback.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Whether `clocky serve` runs the endpoint at all.
    pub enabled: bool,
    /// Address to listen on. Loopback by default, where only the machine's own users reach
    /// it. Any other address needs `token`.
    pub listen: SocketAddr,
    /// A secret every request must carry as `Authorization: Bearer <token>`; at least 16
    /// characters. Prefer the environment variable `CLOCKY_ADMIN__TOKEN` to a file.
    pub token: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            token: None,
        }
    }
}

impl std::fmt::Debug for AdminConfig {
    // Like the bot token, the admin token must not reach the log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Time-tracking rules an operator may tune.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingConfig {
    /// Sessions open longer than this many hours are closed as `auto-closed` at check-in plus
    /// this maximum.
    pub max_session_hours: u32,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            max_session_hours: 12,
        }
    }
}

/// The plugin sandbox. Every limit applies to one export call and starts afresh for the next.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginConfig {
    /// Extra plugin components (`*.wasm`) to load besides the built-in ones. A plugin here
    /// with the name of a built-in one (`data-export`, say) replaces it.
    pub dir: Option<PathBuf>,
    /// Where compiled plugins are cached, keyed by the component's contents and the engine's
    /// settings; `data_dir/plugin-cache` when unset. Several hosts may share one: compiling a
    /// large component takes long enough to slow every start.
    pub cache_dir: Option<PathBuf>,
    /// Whether `clocky serve` watches `dir` and swaps plugins in and out as files appear,
    /// change or go, without a restart. A file that fails to load changes nothing.
    pub watch: bool,
    /// CPU time a plugin may spend in its own code per export, in milliseconds. Protects the
    /// worker from plugins that loop; time spent waiting on host queries does not count.
    pub cpu_ms: u64,
    /// Wall-clock time per export, in seconds, host queries included. A backstop for the case
    /// the CPU limit cannot see: a plugin that keeps the host busy on its behalf.
    pub wall_seconds: u64,
    /// Linear memory a plugin instance may use, in MiB. Protects the host's memory from plugins
    /// that allocate without end.
    pub memory_mib: u64,
    /// Largest document a plugin may return, in MiB. Protects storage and users' downloads.
    pub output_mib: u64,
    /// Log lines a plugin may write per export; further lines are dropped and counted. Protects
    /// the operator's log.
    pub log_lines: u32,
    /// How many of a new version's first exports are watched for failures. A version that
    /// replaced another and fails too often among these is rolled back by itself.
    pub probation_exports: u64,
    /// How many exports a new version must have finished before its failures are judged, so
    /// one unlucky export does not roll back a good release.
    pub rollback_min_exports: u64,
    /// The share of failed exports, in percent, at which a version on probation is rolled
    /// back to the one before it. Protects users from a bad release between an operator's
    /// swap and their noticing it.
    pub rollback_failure_percent: u64,
}

impl PluginConfig {
    /// The rollback rule these settings describe.
    pub fn probation(&self) -> crate::plugin::Probation {
        crate::plugin::Probation {
            exports: self.probation_exports,
            min_exports: self.rollback_min_exports,
            failure_percent: self.rollback_failure_percent,
        }
    }
}

impl Default for PluginConfig {
    fn default() -> Self {
        PluginConfig {
            dir: None,
            cache_dir: None,
            watch: true,
            cpu_ms: 10_000,
            // The guide tells users that the largest exports may take up to 20 minutes.
            wall_seconds: 1200,
            memory_mib: 512,
            output_mib: 256,
            log_lines: 200,
            probation_exports: 20,
            rollback_min_exports: 4,
            rollback_failure_percent: 50,
        }
    }
}

impl Config {
    /// Reads the defaults, then `file` (or `clocky.toml` if present), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        // `CLOCKY_CONFIG` names the file itself and is read by the command line.
        figment = figment.merge(Env::prefixed("CLOCKY_").split("__").ignore(&["config"]));
        let config: Config = figment.extract().map_err(Box::new)?;
        let config = config.normalise();
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        if self.exports.link_hours == 0 {
            return invalid("exports.link_hours must be at least 1");
        }
        if self.exports.page_size == 0 || self.exports.page_size > 10_000 {
            return invalid("exports.page_size must be between 1 and 10000");
        }
        if self.exports.concurrency == 0 {
            return invalid("exports.concurrency must be at least 1");
        }
        if self.exports.sweep_interval_seconds == 0 {
            return invalid("exports.sweep_interval_seconds must be at least 1");
        }
        if self.tracking.max_session_hours == 0 {
            return invalid("tracking.max_session_hours must be at least 1");
        }
        if self.plugins.cpu_ms == 0 || self.plugins.wall_seconds == 0 {
            return invalid("plugins.cpu_ms and plugins.wall_seconds must be at least 1");
        }
        if self.plugins.memory_mib < 16 || self.plugins.memory_mib > 4096 {
            return invalid("plugins.memory_mib must be between 16 and 4096");
        }
        if self.plugins.output_mib == 0 {
            return invalid("plugins.output_mib must be at least 1");
        }
        if self.plugins.rollback_failure_percent == 0 || self.plugins.rollback_failure_percent > 100
        {
            return invalid("plugins.rollback_failure_percent must be between 1 and 100");
        }
        if self.plugins.rollback_min_exports == 0
            || self.plugins.rollback_min_exports > self.plugins.probation_exports
        {
            return invalid(
                "plugins.rollback_min_exports must be at least 1 and at most plugins.probation_exports",
            );
        }
        if self.exports.link_hours > MAX_LINK_HOURS {
            return invalid("exports.link_hours must be at most 720 (30 days)");
        }
        if self.exports.free_period_days == 0 || self.exports.free_period_days > 3660 {
            return invalid("exports.free_period_days must be between 1 and 3660");
        }
        if let Some(token) = self.discord.token.as_deref() {
            if token.trim().is_empty() || token.contains(char::is_whitespace) {
                return invalid("discord.token must be the bot token, without spaces");
            }
            // Checked here because a malformed token only fails once Discord is reached, and
            // while it cannot be reached the client retries without end.
            if serenity::utils::validate_token(token).is_err() {
                return invalid(
                    "discord.token does not look like a bot token: copy it from the developer \
                     portal's Bot page (three parts separated by dots)",
                );
            }
        }
        if let Some(token) = &self.admin.token
            && (token.chars().count() < 16 || token.contains(char::is_whitespace))
        {
            return invalid("admin.token must be at least 16 characters, without spaces");
        }
        if self.admin.enabled && !self.admin.listen.ip().is_loopback() && self.admin.token.is_none()
        {
            return invalid(
                "admin.listen is not a loopback address, so admin.token must be set: anyone who \
                 reaches the endpoint could roll plugins back",
            );
        }
        if self.exports.concurrency > MAX_CONCURRENCY {
            return invalid("exports.concurrency must be at most 64");
        }
        let public = &self.server.public_url;
        if !matches!(public.scheme(), "http" | "https") {
            return invalid("server.public_url must start with http:// or https://");
        }
        if !public.username().is_empty() || public.password().is_some() {
            // Every download link is built from it: credentials would go to every user.
            return invalid("server.public_url must not contain a user name or password");
        }
        if public.query().is_some() || public.fragment().is_some() {
            return invalid("server.public_url must not have a query or fragment");
        }
        let url = self.database_url();
        if !url.starts_with("sqlite:") {
            return invalid(
                "database_url must be a sqlite: URL; this version supports SQLite only",
            );
        }
        if url.contains(":memory:") || url.contains("mode=memory") {
            return invalid(
                "database_url must name a file: an in-memory database loses every record",
            );
        }
        Ok(())
    }

    /// Makes `server.public_url` end with `/`, so that links built from it keep its path
    /// (`https://example.org/clocky` would otherwise lose `clocky`).
    fn normalise(mut self) -> Config {
        let path = self.server.public_url.path();
        if !path.ends_with('/') {
            let with_slash = format!("{path}/");
            self.server.public_url.set_path(&with_slash);
        }
        self
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("clocky.db").display()),
        }
    }

    /// The export folder in force.
    pub fn storage_path(&self) -> PathBuf {
        self.storage
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("exports"))
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment's Jail fixes the closures' error type"
)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.exports.link_hours, 24);
        assert_eq!(config.tracking.max_session_hours, 12);
        assert_eq!(config.database_url(), "sqlite://clocky-data/clocky.db");
    }

    #[test]
    fn an_admin_endpoint_off_loopback_needs_a_long_token() {
        let mut config = Config::default();
        config.admin.listen = SocketAddr::from(([0, 0, 0, 0], 8081));
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("admin.token must be set"), "{refused}");
        config.admin.token = Some("short".to_owned());
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("at least 16 characters"), "{refused}");
        config.admin.token = Some("sixteen-chars-ok".to_owned());
        config.validate().unwrap();
        // Turned off, the address does not matter.
        config.admin.token = None;
        config.admin.enabled = false;
        config.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[exports]\nlink_hour = 48\n")?;
            let error = Config::load(Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("link_hour"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[exports]\nlink_hours = 48\n")?;
            jail.set_env("CLOCKY_EXPORTS__LINK_HOURS", "12");
            let config = Config::load(Some(Path::new("c.toml"))).unwrap();
            assert_eq!(config.exports.link_hours, 12);
            Ok(())
        });
    }

    #[test]
    fn a_public_url_keeps_its_path_and_refuses_credentials() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "[server]\npublic_url = \"https://ex.org/clocky\"\n",
            )?;
            let config = Config::load(Some(Path::new("c.toml"))).unwrap();
            assert_eq!(config.server.public_url.as_str(), "https://ex.org/clocky/");
            jail.create_file("d.toml", "[server]\npublic_url = \"https://u:p@ex.org/\"\n")?;
            let error = Config::load(Some(Path::new("d.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("user name or password"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn only_sqlite_files_are_accepted_as_databases() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLOCKY_DATABASE_URL", "postgres://x@localhost/db");
            let error = Config::load(None).unwrap_err().to_string();
            assert!(error.contains("SQLite only"), "{error}");
            jail.set_env("CLOCKY_DATABASE_URL", "sqlite::memory:");
            let error = Config::load(None).unwrap_err().to_string();
            assert!(error.contains("in-memory"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_malformed_bot_token_is_refused_before_connecting() {
        for token in ["abc", "a.b", "a..c", "a.b.c.d", "has space.b.c"] {
            let mut config = Config::default();
            config.discord.token = Some(token.to_owned());
            assert!(config.validate().is_err(), "{token:?} was accepted");
        }
        let mut config = Config::default();
        config.discord.token = Some("MTIzNDU2.GhIjKl.mnopqrstuvwxyz".to_owned());
        config.validate().expect("a token of the portal's shape");
    }

    #[test]
    fn the_bot_token_never_reaches_debug_output() {
        let mut config = Config::default();
        config.discord.token = Some("MTIz.secret.token".to_owned());
        let printed = format!("{config:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("<hidden>"), "{printed}");
    }

    #[test]
    fn impossible_values_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[plugins]\nmemory_mib = 1\n")?;
            let error = Config::load(Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("plugins.memory_mib"), "{error}");
            Ok(())
        });
    }
}
