//! The plugin's configuration (`[sync.config]` in the user's file). Doc comments become the JSON
//! schema's descriptions.

use dotdigital_shared::{IdentifierKind, ResourceRef};
use dotsync_plugin_sdk::PluginError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Most contacts in one enrolment call (the API documents no maximum; enrolment calls are scarce,
/// about 20 an hour, so each should carry many contacts).
pub const MAX_ENROLMENT_SIZE: u32 = 100_000;

/// Enrol contacts into an existing, active Dotdigital program when they enter an audience.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example_config())]
pub struct ProgramsConfig {
    /// The program: `{ id = 77 }`, or `{ name = "Welcome" }` (matched without regard to case).
    /// It must be Active; any other status stops the run before any write.
    #[schemars(example = serde_json::json!({"name": "Welcome"}))]
    pub program: ResourceRef,

    /// Which identifier the key column holds: `email` (the default), `mobile_number` (E.164, `+`
    /// optional) or `contact_id` (Dotdigital's numeric id).
    #[serde(default)]
    pub key: ContactKey,

    /// The source column holding the key (null and duplicate values are rejected).
    #[serde(default = "default_key_column")]
    #[schemars(example = &"email")]
    pub key_column: String,

    /// A boolean column saying whether the row's contact is in the audience (true: enrol it).
    /// Without it every row is in the audience.
    #[serde(default)]
    #[schemars(example = &"in_audience")]
    pub membership_column: Option<String>,

    /// Whether contacts that enter and do not exist in Dotdigital yet are created (with just
    /// their key) and then enrolled. When false (the default) they are skipped with the code
    /// `ContactNotFound`. Not possible with `key = "contact_id"`.
    #[serde(default)]
    pub create_contacts: bool,

    /// Whether a contact that left the audience is enrolled again when it re-enters (true, the
    /// default). When false a contact is enrolled once per key, whatever it does later.
    #[serde(default = "default_true")]
    pub reenrol_after_leave: bool,

    /// Contacts per enrolment call. The account allows about 20 enrolment calls an hour across
    /// all programs, so keep this large.
    #[serde(default = "default_enrolment_size")]
    #[schemars(range(min = 1, max = 100_000), example = 10_000)]
    pub enrolment_size: u32,

    /// First wait, in milliseconds, before polling an enrolment's status; it grows 1.5× per
    /// unfinished poll, up to 10 seconds.
    #[serde(default = "default_poll_interval_ms")]
    #[schemars(range(min = 10, max = 600_000), example = 1_000)]
    pub poll_interval_ms: u64,
}

/// The identifier a key column holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactKey {
    /// Email address (matched without regard to case); the contact id is looked up.
    #[default]
    Email,
    /// Mobile number in E.164 (`+` optional); the contact id is looked up.
    MobileNumber,
    /// Dotdigital's contact id, enrolled as it is.
    ContactId,
}

impl ContactKey {
    pub fn identifier(self) -> IdentifierKind {
        match self {
            ContactKey::Email => IdentifierKind::Email,
            ContactKey::MobileNumber => IdentifierKind::MobileNumber,
            ContactKey::ContactId => IdentifierKind::ContactId,
        }
    }
}

fn default_key_column() -> String {
    "email".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_enrolment_size() -> u32 {
    10_000
}

fn default_poll_interval_ms() -> u64 {
    1_000
}

fn example_config() -> serde_json::Value {
    serde_json::json!({
        "program": {"name": "Welcome"},
        "key": "email",
        "key_column": "email",
        "create_contacts": true
    })
}

impl ProgramsConfig {
    /// Checks what the schema cannot.
    pub fn validate(&self) -> Result<(), PluginError> {
        if self.key_column.trim().is_empty() {
            return Err(PluginError::config("`key_column` must name a source column"));
        }
        if self.membership_column.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(PluginError::config(
                "`membership_column` must name a source column (or be left out)",
            ));
        }
        match &self.program {
            ResourceRef::Id(0) => return Err(PluginError::config("`program.id` must be a positive program id")),
            ResourceRef::Name(name) if name.trim().is_empty() => {
                return Err(PluginError::config("`program.name` must not be empty"));
            }
            _ => {}
        }
        if self.create_contacts && self.key == ContactKey::ContactId {
            return Err(PluginError::config(
                "`create_contacts` needs `key = \"email\"` or `\"mobile_number\"`: contacts cannot be created from a contact id",
            ));
        }
        if self.enrolment_size == 0 || self.enrolment_size > MAX_ENROLMENT_SIZE {
            return Err(PluginError::config(format!(
                "`enrolment_size` is {}; it must be between 1 and {MAX_ENROLMENT_SIZE}",
                self.enrolment_size
            )));
        }
        if self.poll_interval_ms == 0 {
            return Err(PluginError::config("`poll_interval_ms` must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> ProgramsConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let config = parse(serde_json::json!({"program": {"id": 77}}));
        assert_eq!(config.key, ContactKey::Email);
        assert!(!config.create_contacts);
        assert!(config.reenrol_after_leave);
        assert!(config.validate().is_ok());
        let by_id = parse(serde_json::json!({"program": {"id": 77}, "key": "contact_id", "create_contacts": true}));
        assert!(by_id.validate().unwrap_err().message.contains("create_contacts"));
        assert!(serde_json::from_value::<ProgramsConfig>(serde_json::json!({"program": "Welcome"})).is_err());
    }
}
