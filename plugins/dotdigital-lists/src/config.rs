//! The plugin's configuration (`[sync.config]` in the user's file). Doc comments become the JSON
//! schema's descriptions.

use std::collections::BTreeMap;

use dotdigital_shared::ResourceRef;
use dotsync_plugin_sdk::PluginError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Most contacts in one list import.
pub const MAX_IMPORT_SIZE: u32 = 50_000;

/// Keep a Dotdigital list (address book) equal to an audience: contacts that enter are added
/// (created first when allowed), contacts that leave are removed from the list (never deleted).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example_config())]
pub struct ListsConfig {
    /// The list: `{ id = 345579 }`, or `{ name = "VIP customers" }` (matched without regard to
    /// case).
    #[schemars(example = serde_json::json!({"name": "VIP customers"}))]
    pub list: ResourceRef,

    /// When the list is named by name and no list has that name: create it (true) or stop with a
    /// configuration error before any write (false, the default).
    #[serde(default)]
    pub create_if_missing: bool,

    /// Visibility of a list created by `create_if_missing`: `private` (the default) or `public`.
    #[serde(default)]
    pub visibility: Visibility,

    /// The source column holding each contact's email address: the sync's key (null and
    /// duplicate values are rejected).
    #[serde(default = "default_email_column")]
    #[schemars(example = &"email")]
    pub email_column: String,

    /// A boolean column saying whether the row's contact belongs to the audience (true: add it,
    /// false: remove it), the way Segment Engage sends audience traits. Without it, the source
    /// rows *are* the audience: every row is a member. Either way, contacts whose key left the
    /// source since an earlier run are removed.
    #[serde(default)]
    #[schemars(example = &"in_audience")]
    pub membership_column: Option<String>,

    /// Without `membership_column` only: also remove list members that no source row names (for
    /// example contacts added to an existing list by hand). Only right when every source row
    /// reaches the plugin: the first run of a sync, `dotsync run --full`, or a sync without
    /// state. In an incremental run unchanged rows are not handed over, so they would look
    /// absent: leave it false (the default) there and rely on departed keys.
    #[serde(default)]
    pub remove_unlisted_members: bool,

    /// Whether contacts that enter and do not exist in Dotdigital yet are created (true, the
    /// default). When false they are skipped with the code `ContactNotFound`.
    #[serde(default = "default_true")]
    pub create_contacts: bool,

    /// Data fields to set on contacts added to the list: Dotdigital data-field name (matched
    /// without regard to case) to source column. Every field must exist in the account. Null
    /// values leave the contact's field as it is.
    #[serde(default)]
    #[schemars(example = example_data_fields())]
    pub data_fields: BTreeMap<String, String>,

    /// Contacts per list import (request bodies also stay under 45 MB).
    #[serde(default = "default_import_size")]
    #[schemars(range(min = 1, max = 50_000), example = 10_000)]
    pub import_size: u32,

    /// First wait, in milliseconds, before polling an import's status; it grows 1.5× per
    /// unfinished poll, up to 10 seconds.
    #[serde(default = "default_poll_interval_ms")]
    #[schemars(range(min = 10, max = 600_000), example = 1_000)]
    pub poll_interval_ms: u64,
}

/// Visibility of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only visible inside the account.
    #[default]
    Private,
    /// Offered to contacts on sign-up forms and preference centres.
    Public,
}

impl Visibility {
    /// The API's spelling.
    pub fn api_name(self) -> &'static str {
        match self {
            Visibility::Private => "Private",
            Visibility::Public => "Public",
        }
    }
}

fn default_email_column() -> String {
    "email".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_import_size() -> u32 {
    10_000
}

fn default_poll_interval_ms() -> u64 {
    1_000
}

fn example_data_fields() -> BTreeMap<String, String> {
    BTreeMap::from([("FIRSTNAME".to_owned(), "first_name".to_owned())])
}

fn example_config() -> serde_json::Value {
    serde_json::json!({
        "list": {"name": "VIP customers"},
        "create_if_missing": true,
        "email_column": "email",
        "data_fields": {"FIRSTNAME": "first_name"}
    })
}

impl ListsConfig {
    /// Checks what the schema cannot.
    pub fn validate(&self) -> Result<(), PluginError> {
        if self.email_column.trim().is_empty() {
            return Err(PluginError::config("`email_column` must name a source column"));
        }
        if self.remove_unlisted_members && self.membership_column.is_some() {
            return Err(PluginError::config(
                "`remove_unlisted_members` needs the source rows to be the audience: leave out `membership_column`",
            ));
        }
        if self.membership_column.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(PluginError::config(
                "`membership_column` must name a source column (or be left out)",
            ));
        }
        match &self.list {
            ResourceRef::Id(0) => return Err(PluginError::config("`list.id` must be a positive list id")),
            ResourceRef::Name(name) if name.trim().is_empty() => {
                return Err(PluginError::config("`list.name` must not be empty"));
            }
            ResourceRef::Id(_) if self.create_if_missing => {
                return Err(PluginError::config(
                    "`create_if_missing` needs the list named by `list.name`: a list cannot be created with a given id",
                ));
            }
            _ => {}
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
        if let Some((name, column)) = self
            .data_fields
            .iter()
            .find(|(name, column)| name.trim().is_empty() || column.trim().is_empty())
        {
            return Err(PluginError::config(format!(
                "`data_fields` maps `{name}` to `{column}`: both the field name and the column must be non-empty"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> ListsConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let config = parse(serde_json::json!({"list": {"id": 7}}));
        assert_eq!(config.email_column, "email");
        assert!(config.create_contacts);
        assert_eq!(config.visibility, Visibility::Private);
        assert!(config.validate().is_ok());
        let by_id_create = parse(serde_json::json!({"list": {"id": 7}, "create_if_missing": true}));
        assert!(by_id_create.validate().unwrap_err().message.contains("list.name"));
        assert!(serde_json::from_value::<ListsConfig>(serde_json::json!({"list": {"id": 7, "name": "x"}})).is_err());
        assert!(serde_json::from_value::<ListsConfig>(serde_json::json!({"list": {"id": 7}, "colour": 1})).is_err());
    }
}
