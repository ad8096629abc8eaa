//! An action: a trigger and a mapping, applied to each batch of events.

use arrow_schema::SchemaRef;

use crate::event::Event;
use crate::expr::Trigger;
use crate::mapping::{MappedBatch, Mapping};

/// A compiled [`EventActionConfig`](crate::EventActionConfig): it picks the events its trigger
/// matches and maps them to its columns.
#[derive(Debug, Clone)]
pub struct EventAction {
    name: String,
    trigger: Trigger,
    mapping: Mapping,
}

impl EventAction {
    /// An action from its parts.
    pub fn new(name: String, trigger: Trigger, mapping: Mapping) -> EventAction {
        EventAction { name, trigger, mapping }
    }

    /// The action's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The trigger.
    pub fn trigger(&self) -> &Trigger {
        &self.trigger
    }

    /// The schema of every batch [`EventAction::apply`] returns.
    pub fn schema(&self) -> &SchemaRef {
        self.mapping.schema()
    }

    /// The events of `events` the trigger matches, in order, mapped to the columns. The batch
    /// has zero rows when none matches.
    pub fn apply(&self, events: &[Event]) -> MappedBatch {
        self.mapping
            .map(events.iter().filter(|event| self.trigger.matches(event)))
    }
}
