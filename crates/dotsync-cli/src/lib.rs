//! The pieces of the `dotsync` command-line tool that other tools reuse: the list of built-in
//! plugins (also used by `cargo xtask codegen`) and the in-process emulator set-up.
//!
//! The binary (`src/main.rs`) parses arguments, prints, and maps errors to exit codes; the work
//! itself is `dotsync-host`'s. This crate does not contain sync logic.

use dotsync_plugin_sdk::abi::PluginDescriptor;

/// Descriptors of the plugins compiled into the `dotsync` binary.
pub fn builtin_plugin_descriptors() -> Vec<&'static PluginDescriptor> {
    vec![
        dotdigital_contacts::plugin_descriptor(),
        dotdigital_lists::plugin_descriptor(),
        dotdigital_programs::plugin_descriptor(),
        dotdigital_insight::plugin_descriptor(),
        dotdigital_messaging::plugin_descriptor(),
    ]
}

/// The built-in plugins, checked for ABI compatibility. A descriptor compiled into this binary
/// always matches its ABI, so a failure here is a build error, reported as such.
pub fn builtin_plugins() -> Vec<dotsync_plugin_sdk::LoadedPlugin> {
    builtin_plugin_descriptors()
        .into_iter()
        .filter_map(
            |descriptor| match dotsync_plugin_sdk::LoadedPlugin::from_static(descriptor) {
                Ok(plugin) => Some(plugin),
                Err(error) => {
                    tracing::error!("built-in plugin refused: {error}");
                    None
                }
            },
        )
        .collect()
}
