//! `clocky plugins`: the operator's view of plugins.
//!
//! `list`, `reload` and `rollback` ask the running host through its admin endpoint
//! (`admin.listen`, with `admin.token` when set), because only it knows which version serves
//! and how its exports went. When no host answers, `list` says so and shows what a host started
//! now would load. `check` needs no running host: it loads a file through every step a hot swap
//! takes, the check run included, and reports each without activating anything.

use std::path::Path;

use anyhow::{Context, bail};
use clap::Subcommand;
use url::Url;

use crate::admin::{ErrorBody, FileOutcome, RollbackOutcome};
use crate::config::Config;
use crate::plugin::{Limits, PluginReport, PluginRuntime};

/// What to do with plugins.
#[derive(Debug, Subcommand)]
pub enum PluginsAction {
    /// List every plugin version and refused file of the running host: name, version, hash,
    /// contract version, state, load time, exports served and failed.
    List,
    /// Run every check a plugin file must pass before it may serve, the check run included,
    /// without activating it, and report the outcome.
    Check {
        /// The component (`.wasm`) to check.
        file: std::path::PathBuf,
    },
    /// Read the plugin folder again now, as the watcher does when files change.
    Reload,
    /// Take the active version of a plugin out of service and bring back the one before it.
    Rollback {
        /// The plugin's name, such as `data-export`.
        name: String,
    },
}

/// Runs a `clocky plugins` command.
pub async fn run(action: PluginsAction, admin: Option<Url>, config: Config) -> anyhow::Result<()> {
    if let PluginsAction::Check { file } = &action {
        return check(file, &config).await;
    }
    let base = match admin {
        Some(url) => url,
        None => Url::parse(&format!("http://{}/", config.admin.listen))
            .context("failed to build the admin URL")?,
    };
    let client = AdminClient {
        http: reqwest::Client::new(),
        base,
        token: config.admin.token.clone(),
    };
    match action {
        PluginsAction::List => match client.get::<Vec<PluginReport>>("plugins").await {
            Ok(reports) => print!("{}", table(&reports)),
            Err(Failure::Unreachable(error)) => {
                println!(
                    "No running host answered at {} ({error}).\nThis is what `clocky serve` \
                     would load now:\n",
                    client.base
                );
                let app =
                    crate::app::App::open(config, std::sync::Arc::new(crate::clock::SystemClock))
                        .await?;
                print!("{}", table(&app.plugins.report()));
            }
            Err(Failure::Refused(error)) => return Err(error),
        },
        PluginsAction::Reload => {
            let outcomes: Vec<FileOutcome> = client
                .post("plugins/reload")
                .await
                .map_err(Failure::into_error)?;
            if outcomes.is_empty() {
                println!("The plugin folder holds no plugin files.");
            }
            for outcome in outcomes {
                let plugin = outcome
                    .plugin
                    .map(|name| format!(" ({name})"))
                    .unwrap_or_default();
                let line = format!("{}: {}{plugin}", outcome.file, outcome.outcome);
                println!("{}", printable(&line));
                if let Some(reason) = outcome.reason {
                    println!("    {}", printable(&reason));
                }
            }
        }
        PluginsAction::Rollback { name } => {
            let path = format!("plugins/{name}/rollback");
            let done: RollbackOutcome = client.post(&path).await.map_err(Failure::into_error)?;
            println!(
                "{}: {} is out of service; {} serves again.",
                done.name, done.from, done.to
            );
        }
        PluginsAction::Check { .. } => {}
    }
    Ok(())
}

/// Loads `file` through every step and prints the report; fails when the plugin would be
/// refused.
async fn check(file: &Path, config: &Config) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    let limits = Limits::from_config(&config.plugins, config.exports.page_size);
    let runtime = PluginRuntime::new(limits, None).context("failed to start the plugin sandbox")?;
    match runtime.load(bytes).await {
        Ok(plugin) => {
            let summary = plugin.check_run;
            println!("{}: would be accepted", file.display());
            println!("  name            {}", printable(&plugin.metadata.name));
            println!("  version         {}", printable(&plugin.metadata.version));
            println!("  contract        clocky:plugin@{}", plugin.world_version);
            println!(
                "  reads           {}",
                match plugin.scope {
                    crate::plugin::Scope::User => "one user's data (/data-export)",
                    crate::plugin::Scope::Server => "one server's sessions (/server-export)",
                }
            );
            println!("  sha256          {}", plugin.sha256);
            println!(
                "  document        {} (.{})",
                printable(&plugin.metadata.media_type),
                printable(&plugin.metadata.file_extension)
            );
            println!(
                "  description     {}",
                printable(&plugin.metadata.description)
            );
            println!(
                "  imports         {}",
                printable(&plugin.imports.join(", "))
            );
            // What the sample holds for the plugin's scope, to compare its counts with.
            let expected = match plugin.scope {
                crate::plugin::Scope::User => "the sample user has 4 sessions in 2 servers",
                crate::plugin::Scope::Server => "the sample server has 4 sessions of 2 members",
            };
            println!(
                "  check run       {} bytes, {} sessions and {} server(s) included ({expected}), \
                 {} host queries, {} ms CPU, {} ms in all",
                summary.bytes,
                summary.sessions_included,
                summary.servers_included,
                summary.queries,
                summary.cpu_ms,
                summary.elapsed.as_millis()
            );
            println!("  load time       {} ms", plugin.load_time.as_millis());
            Ok(())
        }
        Err(error) => {
            bail!(
                "{} would be refused at the step \"{}\": {}",
                file.display(),
                step_of(&error),
                printable(&error.to_string())
            )
        }
    }
}

/// `text` with control characters written as escapes: names, descriptions and reasons come from
/// plugins, and must not move the cursor or retitle the operator's terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The step of the load a refusal comes from, for plugin authors.
fn step_of(error: &crate::plugin::PluginError) -> &'static str {
    use crate::plugin::PluginError;
    match error {
        PluginError::Invalid(_) => "compiling the component",
        PluginError::WorldVersion { .. } => "contract version",
        PluginError::ForbiddenImport { .. } => "imports",
        PluginError::Contract(_) => "linking against the plugin worlds",
        PluginError::Metadata(_) => "metadata",
        PluginError::CheckRun(_) => "check run against the sample user",
        _ => "running the plugin",
    }
}

/// Renders reports as a table, refusals and rollbacks with their reasons below it.
pub fn table(reports: &[PluginReport]) -> String {
    let rows: Vec<[String; 10]> = reports
        .iter()
        .map(|report| {
            [
                printable(&report.name),
                report
                    .version
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), printable),
                report.state.clone(),
                report.scope.clone().unwrap_or_else(|| "-".to_owned()),
                report
                    .world_version
                    .clone()
                    .unwrap_or_else(|| "-".to_owned()),
                report
                    .sha256
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |sha| sha.chars().take(12).collect()),
                report
                    .load_ms
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms")),
                report.served.to_string(),
                report.failed.to_string(),
                printable(&report.origin),
            ]
        })
        .collect();
    let header = [
        "NAME", "VERSION", "STATE", "SCOPE", "CONTRACT", "SHA256", "LOAD", "SERVED", "FAILED",
        "ORIGIN",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    for report in reports {
        if let Some(reason) = &report.reason {
            let line = format!("{} ({}): {reason}", report.name, report.state);
            out.push_str(&format!("\n{}\n", printable(&line)));
        }
    }
    out
}

/// Why a request to the admin endpoint did not give an answer.
enum Failure {
    /// Nothing answered.
    Unreachable(reqwest::Error),
    /// The host answered with an error.
    Refused(anyhow::Error),
}

impl Failure {
    fn into_error(self) -> anyhow::Error {
        match self {
            Failure::Unreachable(error) => anyhow::anyhow!(
                "no running host answered ({error}); is `clocky serve` running, and is \
                 admin.listen the address it listens on?"
            ),
            Failure::Refused(error) => error,
        }
    }
}

struct AdminClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl AdminClient {
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(self.http.get(self.url(path)?)).await
    }

    async fn post<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(self.http.post(self.url(path)?)).await
    }

    fn url(&self, path: &str) -> Result<Url, Failure> {
        self.base
            .join(path)
            .map_err(|error| Failure::Refused(anyhow::anyhow!("bad admin URL: {error}")))
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request
            .timeout(std::time::Duration::from_secs(120))
            .send()
            .await
            .map_err(|error| {
                if error.is_timeout() {
                    Failure::Refused(anyhow::anyhow!(
                        "the running host did not answer within 120 s; its log says what it is \
                         doing"
                    ))
                } else {
                    Failure::Unreachable(error)
                }
            })?;
        let status = response.status();
        if status.is_success() {
            return response.json::<T>().await.map_err(|error| {
                Failure::Refused(anyhow::anyhow!(
                    "the admin endpoint's answer is unreadable: {error}"
                ))
            });
        }
        let text = match response.json::<ErrorBody>().await {
            Ok(body) => body.error,
            Err(_) => format!("the admin endpoint answered {status}"),
        };
        Err(Failure::Refused(anyhow::anyhow!(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_plugins_are_escaped() {
        let hostile = "ok\n\u{1b}[2K\u{1b}]0;title\u{7}done";
        assert_eq!(
            printable(hostile),
            "ok\\n\\u{1b}[2K\\u{1b}]0;title\\u{7}done"
        );
        assert_eq!(printable("🚀 plain, text"), "🚀 plain, text");
    }
}
