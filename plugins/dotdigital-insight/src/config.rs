//! The plugin's configuration (`[sync.config]` in the user's file). Doc comments become the JSON
//! schema's descriptions.

use std::collections::BTreeMap;

use dotdigital_shared::IdentifierKind;
use dotdigital_shared::datafield::DataFieldType;
use dotsync_plugin_sdk::PluginError;
use schemars::JsonSchema;
use serde::Deserialize;

/// Largest import body: under the API's 50 MB with room to spare.
pub const MAX_BODY_BYTES: usize = 45_000_000;
/// Most records in one import.
pub const MAX_IMPORT_SIZE: u32 = 50_000;
/// The collection types the API documents.
pub const COLLECTION_TYPES: [&str; 10] = [
    "custom",
    "orders",
    "catalog",
    "cartInsight",
    "consentInsight",
    "productCategories",
    "webInsight",
    "wishList",
    "easyEditorExtensions",
    "nostoEmailCampaigns",
];

/// Insert and update the records of a Dotdigital Insight data collection from a table; in mode
/// `mirror`, also delete the records whose key left the source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = example_config())]
pub struct InsightConfig {
    /// The collection's name (letters, digits, `-` and `_`, not starting with a digit).
    #[schemars(example = &"orders")]
    pub collection: String,

    /// `contact`: each record belongs to a contact (orders, carts); `account`: records belong to
    /// the account (a catalog, stores).
    pub scope: Scope,

    /// The collection's type, used when creating it: `custom` (the default), `orders`,
    /// `catalog`, `cartInsight`, `consentInsight`, `productCategories`, `webInsight`, `wishList`,
    /// `easyEditorExtensions` or `nostoEmailCampaigns`.
    #[serde(default = "default_collection_type")]
    #[schemars(example = &"orders")]
    pub collection_type: String,

    /// When the collection does not exist: create it (true) or stop with a configuration error
    /// before any write (false, the default).
    #[serde(default)]
    pub create_collection_if_missing: bool,

    /// The source column holding each record's key (unique per collection; null, blank and
    /// duplicate keys are rejected).
    #[schemars(example = &"order_id")]
    pub key_column: String,

    /// Contact scope only: the contact each record belongs to.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"identifier": "email", "column": "email"}))]
    pub contact: Option<ContactColumn>,

    /// The record document: target property name to source column. A dotted name (`customer.name`)
    /// builds nested objects; a struct column becomes an object and a list column an array. Dates
    /// and timestamps become ISO 8601 UTC strings, numbers and booleans stay numbers and booleans;
    /// null values are left out. A column of text (every CSV column) is sent as text unless its
    /// entry gives a type: `{ column = "total", type = "number" }` converts each value, and a
    /// value that does not convert rejects its row with `InvalidValue`.
    #[schemars(example = example_fields())]
    pub fields: BTreeMap<String, FieldSource>,

    /// `upsert` inserts and updates records; `mirror` also deletes the records whose key left the
    /// source (the host hands those keys over from its sync state).
    #[serde(default)]
    pub mode: Mode,

    /// Records per import (request bodies also stay under 45 MB).
    #[serde(default = "default_import_size")]
    #[schemars(range(min = 1, max = 50_000), example = 5_000)]
    pub import_size: u32,

    /// Largest record document accepted, in bytes of JSON; larger records are rejected with
    /// `RecordTooLarge`. Dotdigital's per-record allowance depends on the account; the default is
    /// what one import body can carry.
    #[serde(default = "default_max_record_bytes")]
    #[schemars(range(min = 2, max = 45_000_000), example = 100_000)]
    pub max_record_bytes: usize,

    /// First wait, in milliseconds, before polling an import's status; it grows 1.5× per
    /// unfinished poll, up to 10 seconds.
    #[serde(default = "default_poll_interval_ms")]
    #[schemars(range(min = 10, max = 600_000), example = 1_000)]
    pub poll_interval_ms: u64,
}

/// Where a property's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FieldSource {
    /// A source column, sent with its own type.
    Column(String),
    /// A source column converted to a JSON type.
    Typed {
        /// The source column.
        column: String,
        /// The JSON type each value is converted to.
        #[serde(rename = "type")]
        value_type: ValueType,
    },
}

impl FieldSource {
    /// The source column.
    pub fn column(&self) -> &str {
        match self {
            FieldSource::Column(column) | FieldSource::Typed { column, .. } => column,
        }
    }

    /// The type values are converted to, if one is given.
    pub fn value_type(&self) -> Option<ValueType> {
        match self {
            FieldSource::Column(_) => None,
            FieldSource::Typed { value_type, .. } => Some(*value_type),
        }
    }
}

/// A JSON type a property's values are converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// A JSON number; text is parsed (`12.50`, `-3`, `1e3`).
    Number,
    /// `true` or `false`; text may say true/false, yes/no or 1/0, integers 1/0.
    Boolean,
    /// An ISO 8601 UTC date-time string; text may hold a date or a date-time with an offset.
    Date,
}

impl ValueType {
    /// The data-field conversion that produces this JSON type.
    pub fn conversion(self) -> DataFieldType {
        match self {
            ValueType::Number => DataFieldType::Numeric,
            ValueType::Boolean => DataFieldType::Boolean,
            ValueType::Date => DataFieldType::Date,
        }
    }
}

/// Who owns a collection's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Each record belongs to a contact.
    Contact,
    /// Records belong to the account.
    Account,
}

impl Scope {
    /// The API's spelling.
    pub fn api_name(self) -> &'static str {
        match self {
            Scope::Contact => "contact",
            Scope::Account => "account",
        }
    }
}

/// The column naming a record's contact.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactColumn {
    /// Which identifier the column holds: `email`, `mobile_number` or `contact_id`.
    pub identifier: ContactIdentifier,
    /// The source column.
    pub column: String,
}

/// A contact identifier kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactIdentifier {
    /// Email address.
    Email,
    /// Mobile number in E.164 (`+` optional).
    MobileNumber,
    /// Dotdigital's numeric contact id.
    ContactId,
}

impl ContactIdentifier {
    pub fn kind(self) -> IdentifierKind {
        match self {
            ContactIdentifier::Email => IdentifierKind::Email,
            ContactIdentifier::MobileNumber => IdentifierKind::MobileNumber,
            ContactIdentifier::ContactId => IdentifierKind::ContactId,
        }
    }
}

/// What happens to records whose key left the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Nothing: records are only inserted and updated.
    #[default]
    Upsert,
    /// They are deleted.
    Mirror,
}

fn default_collection_type() -> String {
    "custom".to_owned()
}

fn default_import_size() -> u32 {
    5_000
}

fn default_max_record_bytes() -> usize {
    MAX_BODY_BYTES
}

fn default_poll_interval_ms() -> u64 {
    1_000
}

fn example_fields() -> serde_json::Value {
    serde_json::json!({
        "orderTotal": {"column": "total", "type": "number"},
        "purchaseDate": {"column": "purchased_at", "type": "date"},
        "customer.name": "customer_name",
        "products": "items"
    })
}

fn example_config() -> serde_json::Value {
    serde_json::json!({
        "collection": "orders",
        "scope": "contact",
        "collection_type": "orders",
        "key_column": "order_id",
        "contact": {"identifier": "email", "column": "email"},
        "fields": {"orderTotal": "total", "purchaseDate": "purchased_at", "products": "items"},
        "mode": "upsert"
    })
}

/// The collection-name rule of the API: `^[-A-Za-z_][-A-Za-z0-9_]{1,255}$`.
pub fn valid_collection_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '-' || ch == '_');
    first_ok && (2..=256).contains(&name.len()) && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

impl InsightConfig {
    /// Checks what the schema cannot.
    pub fn validate(&self) -> Result<(), PluginError> {
        if !valid_collection_name(&self.collection) {
            return Err(PluginError::config(format!(
                "`collection` `{}` is not a valid collection name: 2 to 256 letters, digits, `-` or `_`, not starting with a digit",
                self.collection
            )));
        }
        if !COLLECTION_TYPES.contains(&self.collection_type.as_str()) {
            return Err(PluginError::config(format!(
                "`collection_type` `{}` is not one of: {}",
                self.collection_type,
                COLLECTION_TYPES.join(", ")
            )));
        }
        if self.key_column.trim().is_empty() {
            return Err(PluginError::config("`key_column` must name a source column"));
        }
        match (self.scope, &self.contact) {
            (Scope::Contact, None) => {
                return Err(PluginError::config(
                    "`scope` is `contact`, so `contact` must name the column of each record's contact",
                ));
            }
            (Scope::Account, Some(_)) => {
                return Err(PluginError::config(
                    "`scope` is `account`: records belong to no contact, so leave `contact` out",
                ));
            }
            (_, Some(contact)) if contact.column.trim().is_empty() => {
                return Err(PluginError::config("`contact.column` must name a source column"));
            }
            _ => {}
        }
        if self.fields.is_empty() {
            return Err(PluginError::config(
                "`fields` must map at least one property to a column",
            ));
        }
        if self.import_size == 0 || self.import_size > MAX_IMPORT_SIZE {
            return Err(PluginError::config(format!(
                "`import_size` is {}; it must be between 1 and {MAX_IMPORT_SIZE}",
                self.import_size
            )));
        }
        if !(2..=MAX_BODY_BYTES).contains(&self.max_record_bytes) {
            return Err(PluginError::config(format!(
                "`max_record_bytes` is {}; it must be between 2 and {MAX_BODY_BYTES}",
                self.max_record_bytes
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

    #[test]
    fn names_and_scopes() {
        assert!(valid_collection_name("orders"));
        assert!(valid_collection_name("_my-data_2"));
        assert!(!valid_collection_name("2orders"));
        assert!(!valid_collection_name("o"));
        assert!(!valid_collection_name("has space"));
        let config: InsightConfig = serde_json::from_value(serde_json::json!({
            "collection": "stores", "scope": "account", "key_column": "id", "fields": {"name": "name"},
            "contact": {"identifier": "email", "column": "email"}
        }))
        .unwrap();
        assert!(config.validate().unwrap_err().message.contains("leave `contact` out"));
    }
}
