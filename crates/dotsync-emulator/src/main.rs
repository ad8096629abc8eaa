//! `dotsync-emulator`: runs the Dotdigital emulator standalone until Ctrl-C.

use clap::Parser;
use dotsync_emulator::{Region, StandaloneOptions, run_standalone};
use std::path::PathBuf;

/// A local fake of the Dotdigital API (v2 + v3) for development and tests.
#[derive(Parser, Debug)]
#[command(name = "dotsync-emulator", version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// API username of the (first) account.
    #[arg(long)]
    username: Option<String>,
    /// API password of the (first) account.
    #[arg(long)]
    password: Option<String>,
    /// Region of the (first) account: r1, r2 or r3.
    #[arg(long)]
    region: Option<Region>,
    /// Seed file (JSON {"accounts": [...]}) used instead of the demo account.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// State file: loaded at start if present, saved on exit.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Disable rate limits.
    #[arg(long)]
    no_limits: bool,
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let opts = StandaloneOptions {
        port: a.port,
        username: a.username,
        password: a.password,
        region: a.region,
        seed: a.seed,
        state: a.state,
        limits: !a.no_limits,
    };
    if let Err(e) = run_standalone(opts).await {
        eprintln!("dotsync-emulator: {e}");
        std::process::exit(1);
    }
}
