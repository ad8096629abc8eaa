//! Engage audience membership: which contact enters or leaves which audience, read from the
//! events Segment Engage sends to event destinations. The rule is documented on
//! [`audience_changes`].

use serde_json::{Map, Value};

use crate::error::AudienceError;
use crate::event::{Event, EventType};

/// The track event Engage sends when a user enters an audience.
pub const AUDIENCE_ENTERED: &str = "Audience Entered";
/// The track event Engage sends when a user leaves an audience.
pub const AUDIENCE_EXITED: &str = "Audience Exited";

/// Who an audience change is about: an email address when the event carries one (Dotdigital
/// lists hold contacts by email), otherwise the Segment user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// From `traits.email`, `context.traits.email` or `properties.email`, the first that is a
    /// non-empty string.
    Email(String),
    /// From `userId`.
    UserId(String),
}

/// One contact entering (`member = true`) or leaving (`member = false`) one audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceChange {
    /// The audience key, e.g. `first_time_shopper`.
    pub audience: String,
    /// Who enters or leaves.
    pub contact: Contact,
    /// `true`: add the contact to the audience's list; `false`: remove it.
    pub member: bool,
    /// The event's line in the input.
    pub line: u64,
}

/// The audience changes an event carries; empty when it carries none.
///
/// The rule, after Segment's "Using Engage Data" (an audience is sent to event destinations
/// as a boolean named by the audience key, `true` on entry and `false` on exit):
///
/// * **track `Audience Entered` / `Audience Exited`**: the membership is the event name
///   (entered = add, exited = remove). The audience is `properties.audience_key` when it is a
///   string; without it (Journeys steps send none), every property whose name is snake_case
///   ([`is_snake_case`]: `^[a-z][a-z0-9_]*$`) and whose value is `true`/`false` (or the strings
///   `"true"`/`"false"`) is an audience. The property named by `audience_key`, when present,
///   must be such a boolean ([`AudienceError::NotBoolean`]) and agree with the event name
///   ([`AudienceError::Contradiction`]).
/// * **identify**: when `context.personas.computation_class` is present and is not
///   `"audience"` (a computed trait), none. When `context.personas.computation_key` is a string,
///   only the trait of that name counts, and it must be boolean ([`AudienceError::NotBoolean`]);
///   otherwise every snake_case trait with a boolean value (as above) is an audience. The
///   value is the membership. So outside Engage streams any boolean trait (`vip: true`) reads
///   as an audience: select Engage's events with a trigger first, e.g.
///   `context.personas.computation_class = "audience"`.
/// * **every other event**: none.
///
/// The contact is an email ([`Contact::Email`]) or else the `userId`; an event with audience
/// changes but neither is an error ([`AudienceError::NoContact`]).
pub fn audience_changes(event: &Event) -> Result<Vec<AudienceChange>, AudienceError> {
    let fields = event.as_json();
    let memberships = match event.event_type() {
        EventType::Track => track_memberships(event)?,
        EventType::Identify => identify_memberships(event)?,
        EventType::Page | EventType::Screen | EventType::Group | EventType::Alias => Vec::new(),
    };
    let Some((first_audience, _)) = memberships.first() else {
        return Ok(Vec::new());
    };
    let email = ["traits", "context", "properties"].iter().find_map(|&key| {
        let owner = if key == "context" {
            fields.get("context").and_then(|context| context.get("traits"))
        } else {
            fields.get(key)
        };
        owner
            .and_then(|owner| owner.get("email"))
            .and_then(Value::as_str)
            .filter(|email| !email.is_empty())
    });
    let contact = match (email, event.text("userId")) {
        (Some(email), _) => Contact::Email(email.to_string()),
        (None, Some(user_id)) => Contact::UserId(user_id.to_string()),
        (None, None) => {
            return Err(AudienceError::NoContact {
                line: event.line(),
                audience: first_audience.clone(),
            });
        }
    };
    Ok(memberships
        .into_iter()
        .map(|(audience, member)| AudienceChange {
            audience,
            contact: contact.clone(),
            member,
            line: event.line(),
        })
        .collect())
}

fn track_memberships(event: &Event) -> Result<Vec<(String, bool)>, AudienceError> {
    let member = match event.text("event") {
        Some(AUDIENCE_ENTERED) => true,
        Some(AUDIENCE_EXITED) => false,
        _ => return Ok(Vec::new()),
    };
    let empty = Map::new();
    let properties = event
        .as_json()
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(audience) = properties.get("audience_key").and_then(Value::as_str) {
        if let Some(value) = properties.get(audience) {
            let stated = boolean(value).ok_or_else(|| not_boolean(event, audience, value))?;
            if stated != member {
                return Err(AudienceError::Contradiction {
                    line: event.line(),
                    audience: audience.to_string(),
                    event: event.text("event").unwrap_or_default().to_string(),
                    member: stated,
                });
            }
        }
        return Ok(vec![(audience.to_string(), member)]);
    }
    Ok(boolean_snake_case(properties)
        .map(|(audience, _)| (audience, member))
        .collect())
}

fn identify_memberships(event: &Event) -> Result<Vec<(String, bool)>, AudienceError> {
    let fields = event.as_json();
    let personas = fields.get("context").and_then(|context| context.get("personas"));
    let class = personas.and_then(|p| p.get("computation_class"));
    if class.is_some_and(|class| class.as_str() != Some("audience")) {
        return Ok(Vec::new());
    }
    let empty = Map::new();
    let traits = fields.get("traits").and_then(Value::as_object).unwrap_or(&empty);
    if let Some(key) = personas.and_then(|p| p.get("computation_key")).and_then(Value::as_str) {
        return match traits.get(key) {
            None => Ok(Vec::new()),
            Some(value) => {
                let member = boolean(value).ok_or_else(|| not_boolean(event, key, value))?;
                Ok(vec![(key.to_string(), member)])
            }
        };
    }
    Ok(boolean_snake_case(traits).collect())
}

/// The snake_case keys of `fields` whose values are booleans, with the values.
fn boolean_snake_case(fields: &Map<String, Value>) -> impl Iterator<Item = (String, bool)> + '_ {
    fields.iter().filter_map(|(key, value)| {
        let member = boolean(value)?;
        is_snake_case(key).then(|| (key.clone(), member))
    })
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text == "true" => Some(true),
        Value::String(text) if text == "false" => Some(false),
        _ => None,
    }
}

fn not_boolean(event: &Event, audience: &str, value: &Value) -> AudienceError {
    AudienceError::NotBoolean {
        line: event.line(),
        audience: audience.to_string(),
        value: value.to_string(),
    }
}

/// `^[a-z][a-z0-9_]*$`: what Engage allows in an audience key. Double underscores are allowed
/// because Journeys step keys have them (`j_o_first_purchase__opened_email_dje83h`).
pub fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
