//! The plugin registry: static registration, ABI checks, folders with non-plugins.

use crate::common;

use dotsync_host::PluginRegistry;
use dotsync_plugin_sdk::abi::PluginDescriptor;

#[test]
fn static_plugins_are_listed() {
    let mut registry = PluginRegistry::new();
    registry.register_static(common::descriptor_named("fake")).unwrap();
    let list = registry.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "fake");
    assert_eq!(list[0].abi_version, "1.3");
    assert_eq!(list[0].origin, "static");
    assert!(registry.get("fake").is_some());
    assert!(registry.get("other").is_none());
}

#[test]
fn another_abi_major_is_refused_with_a_clear_message() {
    let base = common::descriptor_named("fake");
    let future: &'static PluginDescriptor = Box::leak(Box::new(PluginDescriptor {
        abi_version: (2 << 16) | 3,
        ..*base
    }));
    let mut registry = PluginRegistry::new();
    let error = registry.register_static(future).unwrap_err();
    assert_eq!(
        error.to_string(),
        "static plugin: plugin was built for plugin ABI 2.3, this host speaks 1.3; rebuild the plugin against a matching dotsync-plugin-sdk"
    );
    assert!(registry.is_empty());
}

#[test]
fn files_that_are_not_plugins_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libnotaplugin.so"), b"not a library").unwrap();
    std::fs::write(dir.path().join("readme.txt"), b"ignored").unwrap();
    let mut registry = PluginRegistry::new();
    let (loaded, skipped) = registry.load_dir(dir.path()).unwrap();
    assert!(loaded.is_empty());
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].reason.contains("libnotaplugin.so"), "{}", skipped[0].reason);
}

#[test]
fn a_missing_plugin_folder_is_an_error_naming_it() {
    let mut registry = PluginRegistry::new();
    let error = registry
        .load_dir(std::path::Path::new("/nonexistent/plugins"))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/plugins: cannot read plugin folder"),
        "{error}"
    );
}

#[test]
fn plugin_path_folders_that_do_not_exist_are_skipped() {
    let registry = PluginRegistry::from_path_and_dirs(
        &[common::descriptor_named("fake")],
        Some("/nonexistent/a::/nonexistent/b"),
        &[],
    )
    .unwrap();
    assert_eq!(registry.names(), vec!["fake"]);
}
