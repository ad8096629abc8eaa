//! The plugin's configuration (`[sync.config]` in the user's file). Doc comments become the JSON
//! schema's descriptions.

use std::collections::BTreeMap;

use dotdigital_shared::{ChannelEnum, IdentifierKind};
use dotsync_plugin_sdk::PluginError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Most contacts in one bulk import.
pub const MAX_IMPORT_SIZE: u32 = 50_000;

/// Keep Dotdigital contacts (identifiers, data fields, channel status, list membership) in step
/// with a table, through the contacts v3 bulk import.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example_config())]
pub struct ContactsConfig {
    /// `upsert` creates contacts that do not exist yet and updates the others; `update` only
    /// updates existing contacts: rows whose contact does not exist are reported skipped with the
    /// code `ContactNotFound`, never created.
    #[serde(default)]
    pub mode: Mode,

    /// Which identifier matches a row to a contact. Its source column (in `identifiers`) is the
    /// sync's key: null or duplicate values are rejected.
    #[serde(default)]
    pub key: KeyKind,

    /// The source column holding each identifier. The key's column is required; the others are
    /// sent along when not null (and must be valid).
    #[serde(default)]
    pub identifiers: Identifiers,

    /// Data fields to set: Dotdigital data-field name (matched without regard to case) to source
    /// column. Every field must exist in the account, and its column must fit the field's type.
    #[serde(default)]
    #[schemars(example = example_data_fields())]
    pub data_fields: BTreeMap<String, String>,

    /// Email channel status (`subscribed`, `unsubscribed`, `suppressed`): a fixed value or a column.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"value": "subscribed"}))]
    pub email_status: Option<ValueSource>,

    /// Email opt-in type (`unknown`, `single`, `double`, `verifiedDouble`): a fixed value or a column.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"value": "single"}))]
    pub email_opt_in_type: Option<ValueSource>,

    /// Preferred email format (`html`, `plainText`): a fixed value or a column.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"value": "html"}))]
    pub email_type: Option<ValueSource>,

    /// SMS channel status (`noSubscription`, `subscribed`, `unsubscribed`, `suppressed`): a fixed
    /// value or a column.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"column": "sms_status"}))]
    pub sms_status: Option<ValueSource>,

    /// List (address book) ids every contact is added to (1 to 100 ids). Contacts are never
    /// removed from lists by this sync.
    #[serde(default)]
    #[schemars(example = vec![345_579u64])]
    pub lists: Vec<u64>,

    /// When false (the default) a null value leaves the contact's data field as it is; when true a
    /// null data field is sent as JSON null, which clears the field.
    #[serde(default)]
    pub clear_nulls: bool,

    /// How imported values merge with the contact's current ones: `overwrite`,
    /// `overwrite_if_not_empty` (only non-empty incoming values are written) or
    /// `overwrite_if_empty` (only fields that are empty on the contact are filled).
    #[serde(default)]
    pub merge_option: MergeOption,

    /// Contacts per bulk import (request bodies also stay under 45 MB).
    #[serde(default = "default_import_size")]
    #[schemars(range(min = 1, max = 50_000), example = 10_000)]
    pub import_size: u32,

    /// First wait, in milliseconds, before polling an import's status; it grows 1.5× per
    /// unfinished poll, up to 10 seconds.
    #[serde(default = "default_poll_interval_ms")]
    #[schemars(range(min = 10, max = 600_000), example = 1_000)]
    pub poll_interval_ms: u64,
}

fn default_import_size() -> u32 {
    10_000
}

fn default_poll_interval_ms() -> u64 {
    1_000
}

fn example_data_fields() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("FIRSTNAME".to_owned(), "first_name".to_owned()),
        ("LASTNAME".to_owned(), "last_name".to_owned()),
    ])
}

fn example_config() -> serde_json::Value {
    serde_json::json!({
        "mode": "upsert",
        "key": "email",
        "identifiers": {"email": "email", "mobile_number": "phone"},
        "data_fields": {"FIRSTNAME": "first_name", "LASTNAME": "last_name"},
        "email_status": {"value": "subscribed"},
        "lists": [345579]
    })
}

/// Whether new contacts are created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Create missing contacts, update existing ones.
    #[default]
    Upsert,
    /// Update existing contacts only; rows of unknown contacts are skipped (`ContactNotFound`).
    Update,
}

/// The identifier that matches rows to contacts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Email address (matched without regard to case).
    #[default]
    Email,
    /// Mobile number in E.164 (`+` optional).
    MobileNumber,
    /// Dotdigital's numeric contact id: matches existing contacts only, never creates.
    ContactId,
}

impl KeyKind {
    pub fn identifier(self) -> IdentifierKind {
        match self {
            KeyKind::Email => IdentifierKind::Email,
            KeyKind::MobileNumber => IdentifierKind::MobileNumber,
            KeyKind::ContactId => IdentifierKind::ContactId,
        }
    }
}

/// Source columns of the contact identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identifiers {
    /// Column holding the email address.
    #[serde(default)]
    #[schemars(example = &"email")]
    pub email: Option<String>,
    /// Column holding the mobile number (E.164, `+` optional).
    #[serde(default)]
    #[schemars(example = &"phone")]
    pub mobile_number: Option<String>,
    /// Column holding Dotdigital's contact id.
    #[serde(default)]
    #[schemars(example = &"dotdigital_id")]
    pub contact_id: Option<String>,
}

impl Default for Identifiers {
    fn default() -> Self {
        Identifiers {
            email: Some("email".to_owned()),
            mobile_number: None,
            contact_id: None,
        }
    }
}

impl Identifiers {
    pub fn column(&self, kind: IdentifierKind) -> Option<&str> {
        match kind {
            IdentifierKind::Email => self.email.as_deref(),
            IdentifierKind::MobileNumber => self.mobile_number.as_deref(),
            IdentifierKind::ContactId => self.contact_id.as_deref(),
        }
    }
}

/// A value for every row, or a column to read it from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ValueSource {
    /// The same value for every contact.
    Value(String),
    /// A source column holding the value per row (null leaves the contact's value as it is).
    Column(String),
}

/// How imported values merge with existing ones (`mergeOption` of the import body).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeOption {
    /// Incoming values replace current ones.
    #[default]
    Overwrite,
    /// Only non-empty incoming values are written.
    OverwriteIfNotEmpty,
    /// Only fields empty on the contact are filled.
    OverwriteIfEmpty,
}

impl MergeOption {
    /// The body spelling.
    pub fn api_name(self) -> &'static str {
        match self {
            MergeOption::Overwrite => "overwrite",
            MergeOption::OverwriteIfNotEmpty => "overwriteIfNotEmpty",
            MergeOption::OverwriteIfEmpty => "overwriteIfEmpty",
        }
    }
}

/// A channel property after validation: a fixed API value or a column read per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelSetting {
    Fixed(&'static str),
    Column(String),
}

impl ContactsConfig {
    /// Checks what the schema cannot: the key's column is named, sizes are in range, fixed enum
    /// values are valid. Returns the channel settings in a fixed order.
    pub fn validate(&self) -> Result<Vec<(ChannelEnum, ChannelSetting)>, PluginError> {
        let key = self.key.identifier();
        if self.identifiers.column(key).is_none_or(str::is_empty) {
            let name = match self.key {
                KeyKind::Email => "email",
                KeyKind::MobileNumber => "mobile_number",
                KeyKind::ContactId => "contact_id",
            };
            return Err(PluginError::config(format!(
                "`key` is `{name}`, so `identifiers.{name}` must name the source column holding it"
            )));
        }
        if self.import_size == 0 || self.import_size > MAX_IMPORT_SIZE {
            return Err(PluginError::config(format!(
                "`import_size` is {}; it must be between 1 and {MAX_IMPORT_SIZE}",
                self.import_size
            )));
        }
        if self.poll_interval_ms == 0 {
            return Err(PluginError::config("`poll_interval_ms` must be positive"));
        }
        if self.lists.len() > 100 {
            return Err(PluginError::config(format!(
                "`lists` names {} lists; a contact can be added to at most 100 at once",
                self.lists.len()
            )));
        }
        if let Some(list) = self.lists.iter().find(|id| **id == 0) {
            return Err(PluginError::config(format!(
                "`lists` contains {list}; list ids are positive"
            )));
        }
        for (name, column) in &self.data_fields {
            if name.trim().is_empty() || column.trim().is_empty() {
                return Err(PluginError::config(format!(
                    "`data_fields` maps `{name}` to `{column}`: both the field name and the column must be non-empty"
                )));
            }
        }
        let mut settings = Vec::new();
        for (path, kind, source) in [
            ("email_status", ChannelEnum::EmailStatus, &self.email_status),
            (
                "email_opt_in_type",
                ChannelEnum::EmailOptInType,
                &self.email_opt_in_type,
            ),
            ("email_type", ChannelEnum::EmailType, &self.email_type),
            ("sms_status", ChannelEnum::SmsStatus, &self.sms_status),
        ] {
            match source {
                None => {}
                Some(ValueSource::Value(value)) => {
                    let value = kind
                        .parse_or_reason(value)
                        .map_err(|reason| PluginError::config(format!("`{path}.value`: {reason}")))?;
                    settings.push((kind, ChannelSetting::Fixed(value)));
                }
                Some(ValueSource::Column(column)) if column.trim().is_empty() => {
                    return Err(PluginError::config(format!(
                        "`{path}.column` must name a source column"
                    )));
                }
                Some(ValueSource::Column(column)) => settings.push((kind, ChannelSetting::Column(column.clone()))),
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<ContactsConfig, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn defaults() {
        let config = parse(serde_json::json!({})).unwrap();
        assert_eq!(config.mode, Mode::Upsert);
        assert_eq!(config.key, KeyKind::Email);
        assert_eq!(config.identifiers.email.as_deref(), Some("email"));
        assert_eq!(config.import_size, 10_000);
        assert_eq!(config.poll_interval_ms, 1_000);
        assert_eq!(config.merge_option.api_name(), "overwrite");
        assert!(config.validate().unwrap().is_empty());
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        assert!(parse(serde_json::json!({"modes": "upsert"})).is_err());
        assert!(parse(serde_json::json!({"email_status": {"value": "x", "column": "y"}})).is_err());
        let config = parse(serde_json::json!({"email_status": {"value": "Gone"}})).unwrap();
        assert_eq!(
            config.validate().unwrap_err().message,
            "`email_status.value`: `Gone` is not a valid email status; expected one of: subscribed, unsubscribed, suppressed"
        );
        let config = parse(serde_json::json!({"key": "mobile_number"})).unwrap();
        assert_eq!(
            config.validate().unwrap_err().message,
            "`key` is `mobile_number`, so `identifiers.mobile_number` must name the source column holding it"
        );
        let config = parse(serde_json::json!({"import_size": 60000})).unwrap();
        assert!(config.validate().is_err());
    }

    #[test]
    fn channel_settings_in_api_spelling() {
        let config = parse(serde_json::json!({
            "email_opt_in_type": {"value": "VerifiedDouble"},
            "sms_status": {"column": "sms"},
            "merge_option": "overwrite_if_not_empty"
        }))
        .unwrap();
        assert_eq!(
            config.validate().unwrap(),
            vec![
                (ChannelEnum::EmailOptInType, ChannelSetting::Fixed("verifiedDouble")),
                (ChannelEnum::SmsStatus, ChannelSetting::Column("sms".into())),
            ]
        );
        assert_eq!(config.merge_option.api_name(), "overwriteIfNotEmpty");
    }
}
