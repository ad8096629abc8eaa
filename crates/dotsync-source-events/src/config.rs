//! The configuration types: where events come from, and what one action takes and produces.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::action::EventAction;
use crate::error::{ConfigError, ReadError};
use crate::expr::{Trigger, default_trigger};
use crate::mapping::{Mapping, MappingsConfig};
use crate::reader::{self, EventReader};

/// A reader over a file or standard input, as [`EventSourceConfig::open`] returns it.
pub type BoxedEventReader = EventReader<Box<dyn BufRead + Send>>;

/// Where events come from: the `source` table of a sync that reads events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSourceConfig {
    /// JSON lines file of Segment-spec events, relative to the config file's folder; "-" reads
    /// standard input.
    #[schemars(example = "events/events.jsonl", example = "-")]
    pub path: PathBuf,
    /// Most events per batch, at least 1.
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1))]
    pub batch_size: usize,
}

fn default_batch_size() -> usize {
    EventSourceConfig::DEFAULT_BATCH_SIZE
}

impl EventSourceConfig {
    /// The batch size when none is configured. Smaller than the file sources' because an event
    /// is a whole JSON document in memory, not a row of a few columns.
    pub const DEFAULT_BATCH_SIZE: usize = 1000;

    /// A config reading `path` with the default batch size.
    pub fn new(path: impl Into<PathBuf>) -> EventSourceConfig {
        EventSourceConfig {
            path: path.into(),
            batch_size: Self::DEFAULT_BATCH_SIZE,
        }
    }

    /// Whether the source is standard input (`path = "-"`).
    pub fn reads_stdin(&self) -> bool {
        self.path == Path::new("-")
    }

    /// The path resolved against `base_dir` (the config file's folder); absolute paths stay.
    pub fn resolve_path(&self, base_dir: &Path) -> PathBuf {
        if self.path.is_absolute() {
            self.path.clone()
        } else {
            base_dir.join(&self.path)
        }
    }

    /// Opens the file (errors name its resolved path) or standard input (errors name it
    /// `stdin`).
    pub fn open(&self, base_dir: &Path) -> Result<BoxedEventReader, ReadError> {
        if self.reads_stdin() {
            reader::stdin(self.batch_size).map(EventReader::boxed)
        } else {
            reader::open_path(&self.resolve_path(base_dir), self.batch_size).map(EventReader::boxed)
        }
    }
}

/// One action fed by events: which events it takes and the columns it makes of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventActionConfig {
    /// The action's name; without `trigger` the action takes track events of this name.
    #[schemars(example = "Add Contact to List")]
    pub name: String,
    /// Which events the action takes, in the trigger language, e.g.
    /// `type = "track" and event = "Order Completed" and properties.email exists`. Default:
    /// `type = "track" and event = "<name>"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Output columns: name = path (text), or name = { path, type } with type one of text,
    /// number, integer, boolean, json.
    pub mappings: MappingsConfig,
}

impl EventActionConfig {
    /// The trigger as configured, or the default for the action's name.
    pub fn trigger_source(&self) -> String {
        self.trigger.clone().unwrap_or_else(|| default_trigger(&self.name))
    }

    /// Parses the trigger and the mapping paths.
    pub fn compile(&self) -> Result<EventAction, ConfigError> {
        let trigger = Trigger::parse(&self.trigger_source()).map_err(|error| ConfigError::Trigger {
            action: self.name.clone(),
            error,
        })?;
        let mapping = Mapping::new(&self.mappings)?;
        Ok(EventAction::new(self.name.clone(), trigger, mapping))
    }
}
