//! Scaffolds a plugin crate by copying the example plugin, which is a workspace member and so
//! builds and passes its compliance tests in every CI run: a scaffold can never rot.

use std::fs;
use std::path::Path;

use crate::workspace_root;

const TEMPLATE: &str = "example-webhook";

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

fn camel_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Replaces the template's names (kebab, snake and camel case) with the new plugin's.
fn rename(text: &str, name: &str) -> String {
    text.replace(TEMPLATE, name)
        .replace(&TEMPLATE.replace('-', "_"), &name.replace('-', "_"))
        .replace(&camel_case(TEMPLATE), &camel_case(name))
}

fn copy_renamed(from: &Path, to: &Path, name: &str) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|error| format!("cannot create {}: {error}", to.display()))?;
    let entries = fs::read_dir(from).map_err(|error| format!("cannot read {}: {error}", from.display()))?;
    for entry in entries.flatten() {
        let source = entry.path();
        let target = to.join(rename(&entry.file_name().to_string_lossy(), name));
        if source.is_dir() {
            copy_renamed(&source, &target, name)?;
        } else {
            let text =
                fs::read_to_string(&source).map_err(|error| format!("cannot read {}: {error}", source.display()))?;
            fs::write(&target, rename(&text, name))
                .map_err(|error| format!("cannot write {}: {error}", target.display()))?;
        }
    }
    Ok(())
}

pub fn run(name: &str) -> Result<(), String> {
    if !is_valid_name(name) {
        return Err(format!(
            "`{name}` is not a valid plugin name: use lowercase letters, digits and dashes, starting with a letter"
        ));
    }
    let root = workspace_root();
    let target = root.join("plugins").join(name);
    if target.exists() {
        return Err(format!("{} already exists", target.display()));
    }
    copy_renamed(&root.join("plugins").join(TEMPLATE), &target, name)?;
    println!("created plugins/{name}");
    println!("next: cargo test -p {name}   (the compliance tests pass as generated)");
    println!("then: cargo xtask codegen && cargo xtask build-plugins");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_renamed_in_every_case() {
        let text = "example-webhook example_webhook ExampleWebhookPlanner";
        assert_eq!(rename(text, "acme-crm"), "acme-crm acme_crm AcmeCrmPlanner");
    }

    /// Removes a scaffolded crate and restores the lock file, also when the test fails.
    struct Scaffold {
        dir: std::path::PathBuf,
        lock: std::path::PathBuf,
        lock_before: Vec<u8>,
    }

    impl Drop for Scaffold {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
            let _ = fs::write(&self.lock, &self.lock_before);
        }
    }

    /// What `new-plugin` promises: the generated crate builds and passes its compliance tests as
    /// generated. It is scaffolded into the workspace, tested with the workspace's cargo and
    /// target folder (so only the new crate compiles), then removed.
    #[test]
    fn a_scaffolded_plugin_builds_and_passes_its_tests() {
        let name = "scaffold-probe";
        let root = workspace_root();
        let lock = root.join("Cargo.lock");
        let _scaffold = Scaffold {
            dir: root.join("plugins").join(name),
            lock_before: fs::read(&lock).expect("read Cargo.lock"),
            lock,
        };
        run(name).expect("scaffold");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = std::process::Command::new(cargo)
            .current_dir(&root)
            .args(["test", "-p", name])
            .output()
            .expect("run cargo test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "the scaffolded plugin's tests fail:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("passes_the_compliance_checks ... ok"), "{stdout}");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(is_valid_name("acme-crm2"));
        for bad in ["", "Acme", "2acme", "acme_crm", "acme-", "acme crm"] {
            assert!(!is_valid_name(bad), "{bad} should be refused");
        }
    }
}
