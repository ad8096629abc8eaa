//! Builds every plugin crate under `plugins/` as a loadable library.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Profile, target_dir, workspace_root};

/// Plugin crates: folders under `plugins/` whose manifest declares a `cdylib` feature.
pub fn plugin_crates(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join("plugins");
    let entries = fs::read_dir(&dir).map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        if text.lines().any(|line| line.trim_start().starts_with("cdylib = [")) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// File name of a crate's dynamic library on this platform.
pub fn library_file_name(crate_name: &str) -> String {
    let stem = crate_name.replace('-', "_");
    format!("{}{stem}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
}

/// Builds the plugins and copies them to `target/plugins/`; returns their paths.
pub fn run(profile: Profile) -> Result<Vec<PathBuf>, String> {
    let crates = plugin_crates(&workspace_root())?;
    build_libraries(profile, &crates, &target_dir().join("plugins"))
}

/// Builds `crates` as loadable libraries (each with its `cdylib` feature) and copies them into
/// `out_dir`; returns their paths.
pub fn build_libraries(profile: Profile, crates: &[String], out_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root()).args(["build", "--lib"]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    for name in crates {
        command.args(["-p", name]);
        command.args(["--features", &format!("{name}/cdylib")]);
    }
    // catch_unwind in the shims only works with unwinding panics.
    command.env("CARGO_PROFILE_RELEASE_PANIC", "unwind");
    let status = command.status().map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!("building plugins failed ({status})"));
    }
    let built = target_dir().join(profile.folder());
    fs::create_dir_all(out_dir).map_err(|error| format!("cannot create {}: {error}", out_dir.display()))?;
    let mut paths = Vec::new();
    for name in crates {
        let file = library_file_name(name);
        let from = built.join(&file);
        let to = out_dir.join(&file);
        fs::copy(&from, &to).map_err(|error| format!("cannot copy {} to {}: {error}", from.display(), to.display()))?;
        println!("{}", to.display());
        paths.push(to);
    }
    Ok(paths)
}
