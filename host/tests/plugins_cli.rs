//! `clocky plugins` and `clocky server-export` as an operator runs them: the real binary,
//! against a real `clocky serve` for `plugins list` and `rollback`, and on its own otherwise.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const CLOCKY: &str = env!("CARGO_BIN_EXE_clocky");
const DATA_EXPORT_WASM: &str = env!("BUILTIN_DATA_EXPORT_WASM");

fn clocky(config: &Path, args: &[&str]) -> Output {
    Command::new(CLOCKY)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the clocky binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Writes a configuration for a host in `dir` and returns its path.
fn config(dir: &Path, admin_port: u16) -> std::path::PathBuf {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let path = dir.join("clocky.toml");
    let server_port = free_port();
    std::fs::write(
        &path,
        format!(
            "data_dir = {data:?}\n\
             [server]\nlisten = \"127.0.0.1:{server_port}\"\n\
             public_url = \"http://127.0.0.1:{server_port}/\"\n\
             [plugins]\ndir = {plugins:?}\n\
             [admin]\nlisten = \"127.0.0.1:{admin_port}\"\n",
            data = dir.join("data"),
        ),
    )
    .unwrap();
    path
}

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn check_reports_a_good_plugin_and_refuses_a_bad_file_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), free_port());

    let output = clocky(&config, &["plugins", "check", DATA_EXPORT_WASM]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains(": would be accepted"), "{stdout}");
    assert!(
        stdout.contains("  name            data-export\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  contract        clocky:plugin@1.2.0\n"),
        "{stdout}"
    );
    // The sample user has four sessions in two servers, and the JSON export includes them all.
    assert!(
        stdout.contains(
            "4 sessions and 2 server(s) included (the sample user has 4 sessions in 2 servers)"
        ),
        "{stdout}"
    );

    let bad = dir.path().join("notes.wasm");
    std::fs::write(&bad, "not a component").unwrap();
    let output = clocky(&config, &["plugins", "check", bad.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(
            "notes.wasm would be refused at the step \"compiling the component\": not a valid \
             WebAssembly component: failed to parse WebAssembly module: magic header not \
             detected: bad magic number"
        ),
        "{stderr}"
    );
}

#[test]
fn list_and_rollback_ask_the_running_host() {
    let dir = tempfile::tempdir().unwrap();
    let admin_port = free_port();
    let config = config(dir.path(), admin_port);

    // Nobody answers yet: list says so and shows what a host would load.
    let output = clocky(&config, &["plugins", "list"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.starts_with("No running host answered at"),
        "{stdout}"
    );
    assert!(stdout.contains("\ndata-export "), "{stdout}");

    let _serving = Serving(
        Command::new(CLOCKY)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let listed = loop {
        let output = clocky(&config, &["plugins", "list"]);
        let stdout = text(&output.stdout);
        if output.status.success() && stdout.starts_with("NAME") {
            break stdout;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve never answered: {stdout}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let data_export = listed
        .lines()
        .find(|line| line.starts_with("data-export "))
        .unwrap_or_else(|| panic!("{listed}"));
    let cells: Vec<&str> = data_export.split_whitespace().collect();
    // NAME VERSION STATE SCOPE CONTRACT SHA256 LOAD ms SERVED FAILED ORIGIN
    assert_eq!(cells[2], "active", "{data_export}");
    assert_eq!(cells[3], "user", "{data_export}");
    assert_eq!(cells[4], "1.2.0", "{data_export}");
    assert_eq!(cells[5].len(), 12, "{data_export}");
    assert_eq!(&cells[8..], ["0", "0", "built-in"], "{data_export}");

    let output = clocky(&config, &["plugins", "rollback", "data-export"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("\"data-export\" has no earlier version to go back to"),
        "{stderr}"
    );
}

#[test]
fn server_export_is_switched_per_server_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), free_port());
    let run = |args: &[&str]| {
        let output = clocky(&config, args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    };

    assert_eq!(
        run(&["server-export", "list"]),
        "/server-export is not enabled for any server.\n"
    );
    assert_eq!(
        run(&["server-export", "enable", "345678901234567890"]),
        "/server-export is enabled for server 345678901234567890.\n"
    );
    assert_eq!(
        run(&["server-export", "enable", "345678901234567890"]),
        "/server-export is enabled for server 345678901234567890 (it already was).\n"
    );
    let listed = run(&["server-export", "list"]);
    assert!(
        listed.starts_with("345678901234567890  (name not seen yet)  enabled 20"),
        "{listed}"
    );
    assert_eq!(
        run(&["server-export", "disable", "345678901234567890"]),
        "/server-export is disabled for server 345678901234567890.\n"
    );
    assert_eq!(
        run(&["server-export", "list"]),
        "/server-export is not enabled for any server.\n"
    );

    // An id Discord never issues is refused by the parser, with the reason.
    let output = clocky(&config, &["server-export", "enable", "0"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("invalid value '0'"),
        "{}",
        text(&output.stderr)
    );
}
