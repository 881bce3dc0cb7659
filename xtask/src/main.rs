//! Project tasks, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! - `setup`: installs what a fresh machine lacks (the `wasm32-wasip2` target).
//! - `demo`: setup, then builds Clocky and runs `clocky demo`.
//! - `serve`: setup, then builds Clocky and runs `clocky serve` (the bot, when a token is
//!   configured, and the download server).
//! - `test`: setup, then every check CI runs: formatting, lints, the whole test suite, and a
//!   quick run of the benchmark (in the test profile) so it cannot rot.

use std::process::Command;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

/// Clocky's project tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install the wasm32-wasip2 target the plugins are built for.
    Setup,
    /// Set up, build, and run the demo (serves the download link until Ctrl-C).
    Demo {
        /// Extra arguments for `clocky demo`, such as --no-serve.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Set up, build, and run `clocky serve` until Ctrl-C.
    Serve {
        /// Extra arguments for `clocky serve`, such as --config FILE.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Set up, then run formatting and lint checks and the whole test suite.
    Test,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Setup => setup(),
        Task::Demo { args } => {
            setup()?;
            let mut command = cargo(&["run", "--release", "--package", "clocky", "--", "demo"]);
            command.args(args);
            run(command)
        }
        Task::Serve { args } => {
            setup()?;
            let mut command = cargo(&["run", "--release", "--package", "clocky", "--", "serve"]);
            command.args(args);
            run(command)
        }
        Task::Test => {
            setup()?;
            run(cargo(&["fmt", "--all", "--check"]))?;
            run(cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))?;
            run(cargo(&[
                "test",
                "--workspace",
                "--lib",
                "--bins",
                "--tests",
            ]))?;
            run(cargo(&["test", "--workspace", "--doc"]))?;
            // The benchmark in its quick mode, built like the tests: it proves the benchmark
            // still runs without a second, release-profile build of wasmtime. Figures worth
            // reading come from `cargo bench` (see BENCHMARKS.md).
            run(cargo(&[
                "test",
                "--package",
                "clocky",
                "--bench",
                "pipeline",
                "--",
                "--quick",
            ]))?;
            run(cargo(&[
                "test",
                "--package",
                "clocky",
                "--bench",
                "plugins",
                "--",
                "--quick",
            ]))
        }
    }
}

/// Adds the plugin target to the toolchain `rust-toolchain.toml` selects.
fn setup() -> anyhow::Result<()> {
    let mut command = Command::new("rustup");
    command.args(["target", "add", "wasm32-wasip2"]);
    run(command).context(
        "could not install the wasm32-wasip2 target; Clocky's plugins cannot be built without it",
    )
}

fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.args(args);
    command
}

fn run(mut command: Command) -> anyhow::Result<()> {
    eprintln!("$ {command:?}");
    let status = command
        .status()
        .with_context(|| format!("failed to start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
