//! The configuration types: where events come from, and what one action takes and produces.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::action::EventAction;
use crate::audience::is_snake_case;
use crate::error::{ConfigError, ReadError};
use crate::expr::{Trigger, default_trigger};
use crate::mapping::{Mapping, MappingsConfig};
use crate::reader::{self, EventReader};

/// A reader over a file or standard input, as [`EventSourceConfig::open`] returns it.
pub type BoxedEventReader = EventReader<Box<dyn BufRead + Send>>;

/// Where events come from and which rows a sync makes of them: the `events` table of a sync's
/// source. Either an action (`event` or `trigger`, and `mappings`) or an `audience`.
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
    /// Take the track events of this name, e.g. "Send SMS" (Segment's default trigger for the
    /// action of that name). Give `event` or `trigger`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = "Send SMS")]
    pub event: Option<String>,
    /// Take the events this expression matches, in the trigger language, e.g.
    /// `type = "track" and event = "Order Completed" and properties.email exists`. With
    /// `audience`: only the events it matches are read for audience changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The rows' columns: name = path (text), name = { path, type }, or a constant name = {
    /// value, type }; type one of text, number, integer, boolean, json. Default: Segment's
    /// common fields (type, event, userId, anonymousId, messageId, timestamp as text;
    /// properties, traits, context as JSON text). Not with `audience`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mappings: Option<MappingsConfig>,
    /// Read Segment Engage changes of this audience (its snake_case key) instead: one row per
    /// contact with the columns `email`, `user_id` and `member` (true: entered, false: exited),
    /// the contact's last change in the input winning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"cart_abandoners")]
    pub audience: Option<String>,
}

/// What a sync takes from the events, compiled from an [`EventSourceConfig`].
#[derive(Debug, Clone)]
pub enum EventSelection {
    /// The events a trigger matches, mapped to columns.
    Action(EventAction),
    /// The changes of one Engage audience, among the events the trigger (if any) matches.
    Audience {
        /// The audience key.
        audience: String,
        /// Only these events are read for changes.
        trigger: Option<Trigger>,
    },
}

fn default_batch_size() -> usize {
    EventSourceConfig::DEFAULT_BATCH_SIZE
}

impl EventSourceConfig {
    /// The batch size when none is configured. Smaller than the file sources' because an event
    /// is a whole JSON document in memory, not a row of a few columns.
    pub const DEFAULT_BATCH_SIZE: usize = 1000;

    /// A config reading `path` with the default batch size, selecting nothing yet.
    pub fn new(path: impl Into<PathBuf>) -> EventSourceConfig {
        EventSourceConfig {
            path: path.into(),
            batch_size: Self::DEFAULT_BATCH_SIZE,
            event: None,
            trigger: None,
            mappings: None,
            audience: None,
        }
    }

    /// Checks that the fields make one selection and compiles it: the trigger and paths parsed,
    /// the constants checked.
    pub fn compile(&self) -> Result<EventSelection, ConfigError> {
        if let Some(audience) = &self.audience {
            if !is_snake_case(audience) {
                return Err(ConfigError::Selection(format!(
                    "`audience` is an Engage audience key in snake_case (such as \"cart_abandoners\"), got {audience:?}"
                )));
            }
            if self.mappings.is_some() || self.event.is_some() {
                return Err(ConfigError::Selection(
                    "an `audience` source has fixed columns (email, user_id, member): leave out `mappings` and `event` \
                     (a `trigger` may narrow the events read)"
                        .into(),
                ));
            }
            let trigger = self
                .trigger
                .as_deref()
                .map(Trigger::parse)
                .transpose()
                .map_err(|error| ConfigError::Trigger {
                    action: String::new(),
                    error,
                })?;
            return Ok(EventSelection::Audience {
                audience: audience.clone(),
                trigger,
            });
        }
        let mappings = self.mappings.clone().unwrap_or_else(MappingsConfig::common_fields);
        let action = match (&self.event, &self.trigger) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Selection(
                    "give `event` or `trigger`, not both: `event = \"X\"` is short for the trigger \
                     `type = \"track\" and event = \"X\"`"
                        .into(),
                ));
            }
            (None, None) => {
                return Err(ConfigError::Selection(
                    "say which events the sync takes: `event = \"Send SMS\"` (track events of that name) or a `trigger`"
                        .into(),
                ));
            }
            (Some(event), None) => EventActionConfig {
                name: event.clone(),
                trigger: None,
                mappings,
            },
            (None, Some(trigger)) => EventActionConfig {
                name: String::new(),
                trigger: Some(trigger.clone()),
                mappings,
            },
        };
        action.compile().map(EventSelection::Action)
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
