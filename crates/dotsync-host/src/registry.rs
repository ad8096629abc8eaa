//! The plugin registry: plugins compiled into the host (static) and plugin libraries loaded from
//! folders (dynamic), by name. Both kinds are [`LoadedPlugin`]s and run through one code path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dotsync_plugin_sdk::abi::{self, PluginDescriptor};
use dotsync_plugin_sdk::{LoadError, LoadedPlugin, PluginOrigin};

/// Environment variable with extra plugin folders, colon-separated.
pub const PLUGIN_PATH_ENV: &str = "DOTSYNC_PLUGIN_PATH";

/// Why a plugin could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A library or static descriptor failed the ABI checks (it names the file).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A plugin folder cannot be listed.
    #[error("{}: cannot read plugin folder: {source}", .path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One registered plugin, as `dotsync plugins` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    /// `major.minor` of the plugin ABI it was built for.
    pub abi_version: String,
    /// `static`, or the library's path.
    pub origin: String,
}

/// A file in a plugin folder that was skipped because it is not a dotsync plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: String,
}

/// Plugins by name.
#[derive(Debug, Default, Clone)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, LoadedPlugin>,
}

impl PluginRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a plugin compiled into the host (e.g. `dotdigital_contacts::plugin_descriptor()`).
    /// A plugin of the same name registered before is replaced.
    pub fn register_static(&mut self, descriptor: &'static PluginDescriptor) -> Result<&LoadedPlugin, RegistryError> {
        let plugin = LoadedPlugin::from_static(descriptor)?;
        Ok(self.insert(plugin))
    }

    /// Adds an already checked plugin. A dynamic plugin replaces a static one of the same name
    /// (logged); any other same-name plugin is replaced by the later one (logged).
    pub fn insert(&mut self, plugin: LoadedPlugin) -> &LoadedPlugin {
        let name = plugin.name().to_owned();
        if let Some(previous) = self.plugins.get(&name) {
            tracing::info!(
                plugin = %name,
                replaced = %origin_text(previous.origin()),
                by = %origin_text(plugin.origin()),
                "plugin {name} from {} replaces the one from {}",
                origin_text(plugin.origin()),
                origin_text(previous.origin())
            );
        }
        self.plugins.insert(name.clone(), plugin);
        &self.plugins[&name]
    }

    /// Loads every `*.so`, `*.dylib` and `*.dll` in `dir` (not recursively), in name order.
    /// A library that is not a dotsync plugin is skipped with a warning (and returned); a plugin
    /// built for another ABI is an error naming the file. Returns the names of loaded plugins.
    pub fn load_dir(&mut self, dir: &Path) -> Result<(Vec<String>, Vec<SkippedFile>), RegistryError> {
        let entries = std::fs::read_dir(dir).map_err(|source| RegistryError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| RegistryError::Dir {
                path: dir.to_owned(),
                source,
            })?;
            let path = entry.path();
            let is_library = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "so" | "dylib" | "dll"));
            if is_library && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut loaded = Vec::new();
        let mut skipped = Vec::new();
        for path in files {
            tracing::info!(path = %path.display(), "loading plugin library {}", path.display());
            match LoadedPlugin::load(&path) {
                Ok(plugin) => {
                    tracing::info!(
                        plugin = plugin.name(),
                        version = plugin.version(),
                        path = %path.display(),
                        "loaded plugin {} {} from {}",
                        plugin.name(),
                        plugin.version(),
                        path.display()
                    );
                    loaded.push(self.insert(plugin).name().to_owned());
                }
                Err(
                    error @ (LoadError::Open { .. } | LoadError::NoEntry { .. } | LoadError::NullDescriptor { .. }),
                ) => {
                    tracing::warn!(path = %path.display(), "skipping {}: {error}", path.display());
                    skipped.push(SkippedFile {
                        path,
                        reason: error.to_string(),
                    });
                }
                Err(error) => return Err(RegistryError::Load(error)),
            }
        }
        Ok((loaded, skipped))
    }

    /// The registry hosts use: `statics` first, then the folders of `DOTSYNC_PLUGIN_PATH` (folders
    /// that do not exist are skipped with a warning), then `dirs` (config `plugin_dirs` and
    /// `--plugin-dir`; these must exist).
    pub fn from_env_and_dirs(statics: &[&'static PluginDescriptor], dirs: &[PathBuf]) -> Result<Self, RegistryError> {
        let env_path = std::env::var_os(PLUGIN_PATH_ENV);
        Self::from_path_and_dirs(statics, env_path.as_deref().and_then(|p| p.to_str()), dirs)
    }

    /// [`PluginRegistry::from_env_and_dirs`] with the plugin path given.
    pub fn from_path_and_dirs(
        statics: &[&'static PluginDescriptor],
        plugin_path: Option<&str>,
        dirs: &[PathBuf],
    ) -> Result<Self, RegistryError> {
        let mut registry = PluginRegistry::new();
        for descriptor in statics {
            registry.register_static(descriptor)?;
        }
        for dir in plugin_path.unwrap_or("").split(':').filter(|d| !d.is_empty()) {
            let dir = Path::new(dir);
            if !dir.is_dir() {
                tracing::warn!(
                    "{PLUGIN_PATH_ENV} names {}, which is not a folder; skipped",
                    dir.display()
                );
                continue;
            }
            registry.load_dir(dir)?;
        }
        for dir in dirs {
            registry.load_dir(dir)?;
        }
        Ok(registry)
    }

    pub fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.plugins.get(name)
    }

    /// Names of all plugins, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.plugins.keys().map(String::as_str).collect()
    }

    /// Every plugin, sorted by name.
    pub fn list(&self) -> Vec<PluginInfo> {
        self.plugins
            .values()
            .map(|plugin| PluginInfo {
                name: plugin.name().to_owned(),
                version: plugin.version().to_owned(),
                abi_version: format!(
                    "{}.{}",
                    abi::abi_major(plugin.abi_version()),
                    abi::abi_minor(plugin.abi_version())
                ),
                origin: origin_text(plugin.origin()),
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    pub fn len(&self) -> usize {
        self.plugins.len()
    }
}

fn origin_text(origin: &PluginOrigin) -> String {
    match origin {
        PluginOrigin::Static => "static".to_owned(),
        PluginOrigin::Dynamic(path) => path.display().to_string(),
    }
}
