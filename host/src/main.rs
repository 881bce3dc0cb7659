//! The `clocky` command. Everything happens in [`clocky::cli`]; this only reports how it ended.

use std::process::ExitCode;

fn main() -> ExitCode {
    match clocky::cli::main() {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the whole chain: "failed to open the database: permission denied".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
