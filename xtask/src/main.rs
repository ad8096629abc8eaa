//! `cargo xtask`: the project's automation, in Rust so that it runs wherever cargo does.
//!
//! - `build-plugins [--debug]`: builds every plugin under `plugins/` as a loadable library (with
//!   its `cdylib` feature, which exports the C entry symbol, and `panic = "unwind"`) into
//!   `target/plugins/`.
//! - `codegen [--check]`: writes the JSON schemas under `schemas/` (config file, run report, each
//!   built-in plugin's config); `--check` fails when a checked-in file is stale.
//! - `new-plugin NAME`: copies the example plugin into `plugins/NAME` under the new name; it builds
//!   and passes the compliance tests as it is.
//! - `bench [--quick] [--only N,N]`: the performance benchmarks (see `bench/mod.rs`).

mod bench;
mod build_plugins;
mod codegen;
mod new_plugin;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  build-plugins [--debug]   build every plugin as a loadable library into target/plugins/
  codegen [--check]         write schemas/ (--check: fail when they are stale)
  new-plugin NAME           scaffold plugins/NAME from the example plugin
  bench [--quick] [--only N,N]
                            run the benchmarks; write target/bench/report.md and report.json
                            (--quick: small sizes, dev binaries, targets not judged)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["build-plugins"] => build_plugins::run(Profile::Release).map(|_| ()),
        ["build-plugins", "--debug"] => build_plugins::run(Profile::Debug).map(|_| ()),
        ["codegen"] => codegen::run(false),
        ["codegen", "--check"] => codegen::run(true),
        ["new-plugin", name] => new_plugin::run(name),
        ["bench", rest @ ..] => bench::run(rest),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// The folder under the target directory that cargo builds this profile into.
    pub fn folder(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The workspace root (the folder above `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."))
}
