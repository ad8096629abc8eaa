//! Generated files, checked in so that editors and reviewers see them, and checked in CI so that
//! they never go stale.

use std::fs;

use crate::workspace_root;

/// Every generated file: its path under the workspace root and its content.
fn generated_files() -> Vec<(String, String)> {
    let mut files = vec![
        (
            "schemas/dotsync-config.schema.json".to_owned(),
            dotsync_host::config::config_schema_json(),
        ),
        (
            "schemas/run-report.schema.json".to_owned(),
            dotsync_host::report::run_report_schema_json(),
        ),
    ];
    for plugin in dotsync_cli::builtin_plugins() {
        files.push((
            format!("schemas/plugins/{}.schema.json", plugin.name()),
            plugin.config_schema_json().to_owned(),
        ));
    }
    for (_, content) in &mut files {
        if !content.ends_with('\n') {
            content.push('\n');
        }
    }
    files
}

pub fn run(check: bool) -> Result<(), String> {
    let root = workspace_root();
    let mut stale = Vec::new();
    for (relative, content) in generated_files() {
        let path = root.join(&relative);
        let current = fs::read_to_string(&path).ok();
        if current.as_deref() == Some(content.as_str()) {
            continue;
        }
        if check {
            stale.push(relative);
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        fs::write(&path, content).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        println!("wrote {relative}");
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "generated files are stale: {}\nrun `cargo xtask codegen` and commit the result",
            stale.join(", ")
        ))
    }
}
