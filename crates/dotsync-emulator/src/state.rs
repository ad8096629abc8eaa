//! Emulator state: accounts with their contacts, data fields, address books, insight collections,
//! programs, enrolments, campaigns, imports (jobs) and outbox; the request log; seeds; and the
//! read-only [`StateView`] tests use.

use crate::Region;
use crate::bulk::{BVal, ContactImportReport, ContactIn, FailedRow, ImportBytes, JobResult};
use crate::limits::RateScheme;
use crate::server::App;
use crate::util::{self, FastMap, FastSet, lock, map_get_ci, normalize_mobile, valid_email};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// Public state types (read through StateView)
// ---------------------------------------------------------------------------------------------

/// Data field type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldType {
    /// Text (max 255 characters here).
    String,
    /// A number.
    Numeric,
    /// An ISO-8601 date or date-time (stored as `YYYY-MM-DDTHH:MM:SSZ`).
    Date,
    /// `true`/`false`.
    Boolean,
}

impl FieldType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "string" => Some(Self::String),
            "numeric" => Some(Self::Numeric),
            "date" => Some(Self::Date),
            "boolean" => Some(Self::Boolean),
            _ => None,
        }
    }
}

/// A contact data field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataField {
    /// Name (matched case-insensitively). Shared with every contact's value of the field.
    pub name: Arc<str>,
    /// Type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// `Private` or `Public`.
    pub visibility: String,
    /// Default value or null.
    pub default_value: Value,
}

/// A contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Emulator-assigned id.
    pub contact_id: u64,
    /// E-mail identifier as last written.
    pub email: Option<String>,
    /// Mobile number, digits only.
    pub mobile_number: Option<String>,
    /// Data field values by canonical field name (unset fields are absent). The names are the
    /// account's [`DataField::name`]s, shared rather than copied into each of a million contacts.
    pub data_fields: BTreeMap<Arc<str>, Value>,
    /// Email channel status (v3 spelling, e.g. `subscribed`). The statuses and types below are
    /// from small fixed sets: borrowed, not allocated per contact (owned only when read back
    /// from a saved state).
    pub email_status: Cow<'static, str>,
    /// `Html` or `PlainText`.
    pub email_type: Cow<'static, str>,
    /// `Unknown`, `Single`, `Double` or `VerifiedDouble`.
    pub opt_in_type: Cow<'static, str>,
    /// SMS channel status (v3 spelling).
    pub sms_status: Cow<'static, str>,
    /// Address book ids the contact is a member of.
    pub lists: BTreeSet<u64>,
    /// Creation time (ms since epoch).
    pub created_ms: i64,
    /// Last update (ms since epoch).
    pub updated_ms: i64,
}

/// An address book (list).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressBook {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// `Private` or `Public`.
    pub visibility: String,
    /// Member contact ids.
    pub members: BTreeSet<u64>,
}

/// An insight data record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InsightRecord {
    /// Record key.
    pub key: String,
    /// Owning contact (contact-scoped collections).
    pub contact_id: Option<u64>,
    /// The record JSON.
    pub json: Value,
}

/// An insight data collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    /// Name.
    pub name: String,
    /// `contact` or `account`.
    pub scope: String,
    /// Collection type (`custom`, `orders`, ...).
    pub collection_type: String,
    /// Records by key.
    pub records: BTreeMap<String, InsightRecord>,
    /// Inferred schema: JSON path -> type.
    pub schema: BTreeMap<String, String>,
}

/// A program (automation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Program {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// `Active`, `Draft`, `Deactivated` or `ReadOnly`.
    pub status: String,
    /// Creation date.
    pub date_created: String,
}

/// A program enrolment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrolment {
    /// Id (GUID).
    pub id: String,
    /// Program.
    pub program_id: u64,
    /// `Processing` or `Finished`.
    pub status: String,
    /// Creation time.
    pub date_created: String,
    /// Contact ids as requested.
    pub contacts: Vec<u64>,
    /// Address book ids as requested.
    pub address_books: Vec<u64>,
    /// Contacts actually enrolled (once processed).
    pub enrolled: Vec<u64>,
    /// Contacts not enrolled, with a reason.
    pub faults: Vec<(u64, String)>,
}

/// A campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Campaign {
    pub id: u64,
    pub name: String,
    pub subject: String,
    pub from_name: String,
    pub html_content: String,
    pub plain_text_content: String,
}

/// A campaign send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CampaignSend {
    pub id: String,
    pub campaign_id: u64,
    pub contact_ids: Vec<u64>,
    pub address_book_ids: Vec<u64>,
    pub send_date: String,
    pub status: String,
    pub split_test_options: Option<Value>,
    pub send_time_optimised: bool,
}

/// A message the emulator "sent" (every accepted campaign send, transactional email, SMS).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// Unique id.
    pub id: String,
    /// API user that sent it.
    pub account: String,
    /// `campaign`, `campaignSendTimeOptimised`, `email`, `triggeredCampaign`, `sms`, `cpaas`.
    pub kind: String,
    /// Recipients (e-mail addresses or phone numbers).
    pub to: Vec<String>,
    /// Cc.
    pub cc: Vec<String>,
    /// Bcc.
    pub bcc: Vec<String>,
    /// From address or SMS sender.
    pub from: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// HTML body.
    pub html: Option<String>,
    /// Plain text body / SMS text.
    pub text: Option<String>,
    /// Campaign, for campaign sends.
    pub campaign_id: Option<u64>,
    /// Send id (campaign sends), message id (CPaaS).
    pub send_id: Option<String>,
    /// When it is (to be) sent, ISO-8601.
    pub send_date: String,
    /// SMS parts.
    pub parts: Option<u32>,
    /// `Sent`, `Scheduled` or `Dropped`.
    pub status: String,
    /// Why it was dropped.
    pub reason: Option<String>,
    /// Transactional e-mail metadata.
    pub metadata: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

/// Seed for several accounts (`POST /_emulator/seed`, `--seed FILE`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seed {
    /// Accounts to create, or to add data to when the username already exists.
    #[serde(default)]
    pub accounts: Vec<AccountSeed>,
}

/// One API user / account and its seed data.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSeed {
    /// API user name (e-mail shaped).
    pub username: String,
    /// Password.
    pub password: String,
    /// Region the account lives in.
    #[serde(default)]
    pub region: Region,
    /// Account id (assigned if absent).
    #[serde(default)]
    pub id: Option<u64>,
    /// Account name.
    #[serde(default)]
    pub name: Option<String>,
    /// Account owner's e-mail.
    #[serde(default)]
    pub main_email: Option<String>,
    /// API locale, default `en-GB`.
    #[serde(default)]
    pub locale: Option<String>,
    /// Rate limiting scheme.
    #[serde(default)]
    pub rate_scheme: RateScheme,
    /// Data fields.
    #[serde(default)]
    pub data_fields: Vec<DataFieldSeed>,
    /// Address books.
    #[serde(default)]
    pub lists: Vec<ListSeed>,
    /// Programs.
    #[serde(default)]
    pub programs: Vec<ProgramSeed>,
    /// Campaigns.
    #[serde(default)]
    pub campaigns: Vec<CampaignSeed>,
    /// Insight collections.
    #[serde(default)]
    pub collections: Vec<CollectionSeed>,
    /// Contacts.
    #[serde(default)]
    pub contacts: Vec<ContactSeed>,
}

/// Seed data field.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataFieldSeed {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Visibility, default `Private`.
    #[serde(default)]
    pub visibility: Option<String>,
    /// Default value.
    #[serde(default)]
    pub default_value: Option<Value>,
}

/// Seed address book.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListSeed {
    /// Id (assigned if absent).
    #[serde(default)]
    pub id: Option<u64>,
    /// Name.
    pub name: String,
    /// Visibility, default `Private`.
    #[serde(default)]
    pub visibility: Option<String>,
}

/// Seed program.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramSeed {
    /// Id (assigned if absent).
    #[serde(default)]
    pub id: Option<u64>,
    /// Name.
    pub name: String,
    /// `Active`, `Draft`, `Deactivated` or `ReadOnly`.
    pub status: String,
}

/// Seed campaign.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignSeed {
    /// Id (assigned if absent).
    #[serde(default)]
    pub id: Option<u64>,
    /// Name.
    pub name: String,
    /// Subject line.
    #[serde(default)]
    pub subject: String,
    /// From name.
    #[serde(default)]
    pub from_name: String,
    /// HTML content.
    #[serde(default)]
    pub html_content: String,
    /// Plain text content.
    #[serde(default)]
    pub plain_text_content: String,
}

/// Seed insight collection.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectionSeed {
    /// Name.
    pub name: String,
    /// `contact` or `account`.
    pub scope: String,
    /// Type, default `custom`.
    #[serde(default)]
    pub collection_type: Option<String>,
    /// Records.
    #[serde(default)]
    pub records: Vec<InsightRecordSeed>,
}

/// Seed insight record.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InsightRecordSeed {
    /// Key.
    pub key: String,
    /// Owner's e-mail (contact scope).
    #[serde(default)]
    pub contact_email: Option<String>,
    /// JSON.
    pub json: Value,
}

/// Seed contact.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactSeed {
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Mobile number.
    #[serde(default)]
    pub mobile_number: Option<String>,
    /// Data fields (type-checked).
    #[serde(default)]
    pub data_fields: Map<String, Value>,
    /// List ids.
    #[serde(default)]
    pub lists: Vec<u64>,
    /// Email status (v3 spelling), default `subscribed`.
    #[serde(default)]
    pub email_status: Option<String>,
    /// SMS status, default `noSubscription`.
    #[serde(default)]
    pub sms_status: Option<String>,
}

impl AccountSeed {
    /// A bare account.
    pub fn new(username: impl Into<String>, password: impl Into<String>, region: Region) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            region,
            ..Self::default()
        }
    }

    /// The demo account (see [`crate::EmulatorConfig::demo`]).
    pub fn demo() -> Self {
        let f = |name: &str, t: FieldType| DataFieldSeed {
            name: name.to_string(),
            field_type: t,
            visibility: Some("Private".into()),
            default_value: None,
        };
        let contact = |email: &str, first: &str, last: &str, extra: Value, lists: Vec<u64>| {
            let mut data = Map::new();
            data.insert("FIRSTNAME".into(), json!(first));
            data.insert("LASTNAME".into(), json!(last));
            data.insert("FULLNAME".into(), json!(format!("{first} {last}")));
            if let Value::Object(m) = extra {
                data.extend(m);
            }
            ContactSeed {
                email: Some(email.into()),
                data_fields: data,
                lists,
                ..ContactSeed::default()
            }
        };
        let mut bob = contact(
            "bob@example.com",
            "Bob",
            "Jones",
            json!({"GENDER": "Male", "LTV": 42.0, "LASTPURCHASE": "2024-04-02T15:30:00Z"}),
            vec![345579],
        );
        bob.mobile_number = Some("447700900123".into());
        bob.sms_status = Some("subscribed".into());
        let mut dan = contact("dan@example.com", "Dan", "Brown", json!({}), vec![]);
        dan.email_status = Some("unsubscribed".into());
        Self {
            username: crate::DEMO_USERNAME.into(),
            password: crate::DEMO_PASSWORD.into(),
            region: Region::R1,
            id: Some(100_001),
            name: Some("Demo Ltd".into()),
            main_email: Some("owner@demo.example".into()),
            locale: Some("en-GB".into()),
            rate_scheme: RateScheme::Tiered,
            data_fields: vec![
                f("FIRSTNAME", FieldType::String),
                f("LASTNAME", FieldType::String),
                f("FULLNAME", FieldType::String),
                f("GENDER", FieldType::String),
                f("POSTCODE", FieldType::String),
                f("LTV", FieldType::Numeric),
                f("BIRTHDAY", FieldType::Date),
                f("LASTPURCHASE", FieldType::Date),
                f("VIP", FieldType::Boolean),
            ],
            lists: vec![
                ListSeed {
                    id: Some(345579),
                    name: "Newsletter".into(),
                    visibility: Some("Public".into()),
                },
                ListSeed {
                    id: Some(345580),
                    name: "VIP customers".into(),
                    visibility: Some("Private".into()),
                },
                ListSeed {
                    id: Some(345581),
                    name: "Trial users".into(),
                    visibility: Some("Private".into()),
                },
            ],
            programs: vec![
                ProgramSeed {
                    id: Some(77),
                    name: "Welcome".into(),
                    status: "Active".into(),
                },
                ProgramSeed {
                    id: Some(78),
                    name: "Win-back".into(),
                    status: "Draft".into(),
                },
            ],
            campaigns: vec![
                CampaignSeed {
                    id: Some(1001),
                    name: "Spring sale".into(),
                    subject: "Spring sale: 20% off".into(),
                    from_name: "Demo Shop".into(),
                    html_content: "<p>Hello @FIRSTNAME@, our spring sale is on.</p>".into(),
                    plain_text_content: "Hello @FIRSTNAME@, our spring sale is on.".into(),
                },
                CampaignSeed {
                    id: Some(1002),
                    name: "Order confirmation".into(),
                    subject: "Thanks for your order".into(),
                    from_name: "Demo Shop".into(),
                    html_content: "<p>Thanks for your order.</p>".into(),
                    plain_text_content: "Thanks for your order.".into(),
                },
            ],
            collections: vec![
                CollectionSeed {
                    name: "orders".into(),
                    scope: "contact".into(),
                    collection_type: Some("orders".into()),
                    records: vec![InsightRecordSeed {
                        key: "ORD-1000".into(),
                        contact_email: Some("ann@example.com".into()),
                        json: json!({"orderTotal": 59.9, "currency": "GBP", "purchaseDate": "2024-03-01T12:00:00Z",
                                     "products": [{"sku": "A1", "qty": 2}]}),
                    }],
                },
                CollectionSeed {
                    name: "stores".into(),
                    scope: "account".into(),
                    collection_type: Some("custom".into()),
                    records: vec![InsightRecordSeed {
                        key: "LDN-1".into(),
                        contact_email: None,
                        json: json!({"name": "London", "postcode": "EC1A 1BB", "open": true}),
                    }],
                },
            ],
            contacts: vec![
                contact(
                    "ann@example.com",
                    "Ann",
                    "Smith",
                    json!({"GENDER": "Female", "POSTCODE": "EC1A 1BB", "LTV": 120.5, "BIRTHDAY": "1990-04-01T00:00:00Z", "VIP": true}),
                    vec![345579, 345580],
                ),
                bob,
                contact(
                    "cara@example.com",
                    "Cara",
                    "White",
                    json!({"POSTCODE": "M1 1AE", "VIP": false}),
                    vec![345579],
                ),
                dan,
                contact("eve@example.com", "Eve", "Green", json!({"LTV": 0}), vec![345581]),
            ],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Internal model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Merge {
    Overwrite,
    IfNotEmpty,
    IfEmpty,
}

impl Merge {
    /// PATCH query spelling: `overwrite|overwrite-if-not-empty|overwrite-if-empty`.
    pub fn from_query(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "overwrite" => Some(Self::Overwrite),
            "overwrite-if-not-empty" => Some(Self::IfNotEmpty),
            "overwrite-if-empty" => Some(Self::IfEmpty),
            _ => None,
        }
    }
    /// Import body spelling: `overwrite|overwriteIfNotEmpty|overwriteIfEmpty`.
    pub fn from_body(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "overwrite" => Some(Self::Overwrite),
            "overwriteifnotempty" => Some(Self::IfNotEmpty),
            "overwriteifempty" => Some(Self::IfEmpty),
            _ => None,
        }
    }
    /// v2 path spelling: `Overwrite|OnlyOverwriteIfNotEmpty|OnlyOverwriteIfContactDataNotPopulated`.
    pub fn from_v2(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "overwrite" => Some(Self::Overwrite),
            "onlyoverwriteifnotempty" => Some(Self::IfNotEmpty),
            "onlyoverwriteifcontactdatanotpopulated" => Some(Self::IfEmpty),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdentKind {
    ContactId,
    Email,
    Mobile,
}

impl IdentKind {
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("email") {
            Some(Self::Email)
        } else if s.eq_ignore_ascii_case("contactid") {
            Some(Self::ContactId)
        } else if s.eq_ignore_ascii_case("mobilenumber") || s.eq_ignore_ascii_case("mobile-number") {
            Some(Self::Mobile)
        } else {
            None
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            Self::ContactId => "contactId",
            Self::Email => "email",
            Self::Mobile => "mobileNumber",
        }
    }
}

/// A per-contact failure (v3 import failure entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Failure {
    pub failure_code: String,
    pub description: String,
}

pub(crate) fn failure(code: &str, description: impl Into<String>) -> Failure {
    Failure {
        failure_code: code.to_string(),
        description: description.into(),
    }
}

/// Why a value does not fit its data field.
pub(crate) enum ValueError {
    Invalid(String),
    Overflow(String),
}

impl ValueError {
    pub fn text(&self) -> &str {
        match self {
            Self::Invalid(s) | Self::Overflow(s) => s,
        }
    }
}

pub(crate) const MAX_STRING_FIELD: usize = 255;

/// Type-checks a value for a data field. `Ok(None)` = null (clear); `Ok(Some(""))` = empty.
pub(crate) fn coerce(field: &DataField, v: &Value) -> Result<Option<Value>, ValueError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => coerce_b(field, &BVal::Str(s.as_str().into())),
        Value::Bool(b) => coerce_b(field, &BVal::Bool(*b)),
        Value::Number(n) => coerce_b(field, &BVal::Num(n.clone())),
        other => coerce_b(field, &BVal::from_value(other)),
    }
}

/// [`coerce`] for a borrowed value.
pub(crate) fn coerce_b(field: &DataField, v: &BVal<'_>) -> Result<Option<Value>, ValueError> {
    let name = &field.name;
    let bad = |what: &str| ValueError::Invalid(format!("Value {v} is not a valid {what} for data field '{name}'"));
    match v {
        BVal::Null => return Ok(None),
        BVal::Str(s) if s.trim().is_empty() => return Ok(Some(Value::String(String::new()))),
        _ => {}
    }
    match field.field_type {
        FieldType::String => {
            let s = match v {
                BVal::Str(s) => {
                    // Byte length bounds the character count: only count when it could matter.
                    if s.len() > MAX_STRING_FIELD && s.chars().count() > MAX_STRING_FIELD {
                        return Err(overflow(name));
                    }
                    return Ok(Some(Value::String(s.to_string())));
                }
                BVal::Num(n) => n.to_string(),
                BVal::Bool(b) => b.to_string(),
                _ => return Err(bad("String")),
            };
            if s.chars().count() > MAX_STRING_FIELD {
                return Err(overflow(name));
            }
            Ok(Some(Value::String(s)))
        }
        FieldType::Numeric => match v {
            BVal::Num(n) => Ok(Some(Value::Number(n.clone()))),
            BVal::Str(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Some(
                    serde_json::Number::from_f64(f)
                        .map(Value::Number)
                        .unwrap_or(Value::Null),
                )),
                _ => Err(bad("Numeric")),
            },
            _ => Err(bad("Numeric")),
        },
        FieldType::Date => match v {
            BVal::Str(s) => util::parse_date(s)
                .map(|d| Some(Value::String(d)))
                .ok_or_else(|| bad("Date")),
            _ => Err(bad("Date")),
        },
        FieldType::Boolean => match v {
            BVal::Bool(b) => Ok(Some(Value::Bool(*b))),
            BVal::Str(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            BVal::Str(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            _ => Err(bad("Boolean")),
        },
    }
}

fn overflow(name: &str) -> ValueError {
    ValueError::Overflow(format!(
        "Value for data field '{name}' is longer than {MAX_STRING_FIELD} characters"
    ))
}

/// Validated contact changes.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub fields: Vec<(Arc<str>, Option<Value>)>,
    pub email_status: Option<&'static str>,
    pub email_type: Option<&'static str>,
    pub opt_in: Option<&'static str>,
    pub sms_status: Option<&'static str>,
    pub lists: Vec<u64>,
    /// Unknown list ids (partial failure).
    pub bad_lists: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum JobKind {
    ContactImport,
    ContactDelete,
    V2Import,
    InsightImport,
    Enrolment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum JobStatus {
    Pending,
    Finished,
    Failed,
}

pub(crate) type RowFailures = HashMap<String, (Option<String>, u64)>;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Payload {
    ContactImport {
        merge: Merge,
        contacts: ImportBytes,
        row_failures: RowFailures,
    },
    ContactDelete {
        items: Vec<Value>,
    },
    V2Import {
        book: Option<u64>,
        merge: Merge,
        csv: String,
        row_failures: RowFailures,
    },
    InsightImport {
        collection: String,
        scope: String,
        ctype: String,
        records: Vec<Value>,
        row_failures: RowFailures,
    },
    Enrolment {
        enrolment_id: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Job {
    pub id: String,
    pub seq: u64,
    pub kind: JobKind,
    pub status: JobStatus,
    #[serde(skip)]
    pub ready_at: Option<Instant>,
    pub fail: bool,
    pub payload: Option<Payload>,
    /// Finished report (shape depends on kind).
    pub result: Option<JobResult>,
    /// v2 CSV import: rejected rows as CSV.
    #[serde(default)]
    pub faults_csv: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Account {
    pub id: u64,
    pub username: String,
    pub password: String,
    pub region: Region,
    pub name: String,
    pub main_email: String,
    pub locale: String,
    pub rate_scheme: RateScheme,
    pub data_fields: Vec<DataField>,
    pub contacts: BTreeMap<u64, Contact>,
    #[serde(skip)]
    pub by_email: FastMap<String, u64>,
    #[serde(skip)]
    pub by_mobile: FastMap<String, u64>,
    pub lists: BTreeMap<u64, AddressBook>,
    pub collections: BTreeMap<String, Collection>,
    pub programs: BTreeMap<u64, Program>,
    pub enrolments: Vec<Enrolment>,
    pub campaigns: BTreeMap<u64, Campaign>,
    pub campaign_sends: Vec<CampaignSend>,
    pub jobs: HashMap<String, Job>,
    pub pending: Vec<(u64, String)>,
    pub outbox: Vec<SentMessage>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Ids {
    pub account: u64,
    pub contact: u64,
    pub list: u64,
    pub program: u64,
    pub campaign: u64,
    pub seq: u64,
}

impl Default for Ids {
    fn default() -> Self {
        Self {
            account: 100_000,
            contact: 35_212_300,
            list: 345_600,
            program: 100,
            campaign: 2000,
            seq: 0,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct World {
    pub accounts: Vec<Account>,
    pub ids: Ids,
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Lower-cases without allocating when the text already is lower case.
pub(crate) fn lower_cow(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// The key a match identifier is de-duplicated by within one import.
fn normalized(kind: IdentKind, v: &str) -> Cow<'_, str> {
    match kind {
        IdentKind::Email => lower_cow(v.trim()),
        IdentKind::Mobile => Cow::Owned(normalize_mobile(v.trim()).unwrap_or_default()),
        IdentKind::ContactId => Cow::Borrowed(v.trim()),
    }
}

pub(crate) fn email_status_v3(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "subscribed" => Some("subscribed"),
        "unsubscribed" => Some("unsubscribed"),
        "suppressed" => Some("suppressed"),
        _ => None,
    }
}

fn sms_status_v3(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "nosubscription" => Some("noSubscription"),
        "subscribed" => Some("subscribed"),
        "unsubscribed" => Some("unsubscribed"),
        "suppressed" => Some("suppressed"),
        _ => None,
    }
}

/// Email type, accepting request (`html`, `plainText`) and response (`Html`, `PlainText`) spellings.
pub(crate) fn email_type(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "html" => Some("Html"),
        "plaintext" => Some("PlainText"),
        _ => None,
    }
}

/// Opt-in type, any case in, PascalCase out.
pub(crate) fn opt_in_type(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "unknown" => Some("Unknown"),
        "single" => Some("Single"),
        "double" => Some("Double"),
        "verifieddouble" => Some("VerifiedDouble"),
        _ => None,
    }
}

fn pascal(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn country_code(mobile: &str) -> Option<&'static str> {
    const CODES: [(&str, &str); 10] = [
        ("44", "GB"),
        ("353", "IE"),
        ("61", "AU"),
        ("64", "NZ"),
        ("33", "FR"),
        ("49", "DE"),
        ("34", "ES"),
        ("39", "IT"),
        ("65", "SG"),
        ("1", "US"),
    ];
    CODES.iter().find(|(p, _)| mobile.starts_with(p)).map(|(_, c)| *c)
}

/// Which parts of a contact a v3 response includes.
pub(crate) struct Include {
    pub lists: bool,
    pub channels: bool,
    pub fields: Option<Vec<String>>,
}

impl Include {
    pub fn all() -> Self {
        Self {
            lists: true,
            channels: true,
            fields: None,
        }
    }
}

impl Account {
    fn new(id: u64, seed: &AccountSeed) -> Self {
        Self {
            id,
            username: seed.username.clone(),
            password: seed.password.clone(),
            region: seed.region,
            name: seed.name.clone().unwrap_or_else(|| format!("Account {id}")),
            main_email: seed.main_email.clone().unwrap_or_else(|| seed.username.clone()),
            locale: seed.locale.clone().unwrap_or_else(|| "en-GB".into()),
            rate_scheme: seed.rate_scheme.clone(),
            data_fields: Vec::new(),
            contacts: BTreeMap::new(),
            by_email: FastMap::default(),
            by_mobile: FastMap::default(),
            lists: BTreeMap::new(),
            collections: BTreeMap::new(),
            programs: BTreeMap::new(),
            enrolments: Vec::new(),
            campaigns: BTreeMap::new(),
            campaign_sends: Vec::new(),
            jobs: HashMap::new(),
            pending: Vec::new(),
            outbox: Vec::new(),
        }
    }

    pub fn rebuild_indexes(&mut self) {
        self.by_email.clear();
        self.by_mobile.clear();
        for c in self.contacts.values() {
            if let Some(e) = &c.email {
                self.by_email.insert(lower(e), c.contact_id);
            }
            if let Some(m) = &c.mobile_number {
                self.by_mobile.insert(m.clone(), c.contact_id);
            }
        }
    }

    pub fn field(&self, name: &str) -> Option<&DataField> {
        // Names are usually sent in their canonical (upper) case: try the exact match first.
        self.data_fields
            .iter()
            .find(|f| &*f.name == name)
            .or_else(|| self.data_fields.iter().find(|f| f.name.eq_ignore_ascii_case(name)))
    }

    pub fn list_by_name(&self, name: &str) -> Option<&AddressBook> {
        self.lists.values().find(|b| b.name.eq_ignore_ascii_case(name.trim()))
    }

    /// Finds a contact by identifier; `Err` when the value is not valid for the identifier.
    pub fn find(&self, kind: IdentKind, raw: &str) -> Result<Option<u64>, Failure> {
        match kind {
            IdentKind::Email => {
                if !valid_email(raw.trim()) {
                    return Err(failure("InvalidEmail", format!("Invalid value for 'email': '{raw}'")));
                }
                Ok(self.by_email.get(lower_cow(raw.trim()).as_ref()).copied())
            }
            IdentKind::Mobile => match normalize_mobile(raw.trim()) {
                Some(m) => Ok(self.by_mobile.get(&m).copied()),
                None => Err(failure(
                    "InvalidPhoneNumber",
                    format!("Invalid value for 'mobileNumber': '{raw}'"),
                )),
            },
            IdentKind::ContactId => match raw.trim().parse::<u64>() {
                Ok(id) => Ok(self.contacts.contains_key(&id).then_some(id)),
                Err(_) => Err(failure(
                    "InvalidContactId",
                    format!("Invalid value for 'contactId': '{raw}'"),
                )),
            },
        }
    }

    /// [`Account::prepare`] for a `serde_json::Value` body.
    pub fn prepare_value(
        &self,
        identifiers: Option<&Value>,
        data_fields: Option<&Value>,
        channels: Option<&Value>,
        lists: Option<&Value>,
    ) -> Result<Changes, Vec<Failure>> {
        self.prepare(
            identifiers.map(BVal::from_value).as_ref(),
            data_fields.map(BVal::from_value).as_ref(),
            channels.map(BVal::from_value).as_ref(),
            lists.map(BVal::from_value).as_ref(),
        )
    }

    /// Validates identifiers, data fields, channel properties and lists of a v3 contact body.
    pub fn prepare(
        &self,
        identifiers: Option<&BVal<'_>>,
        data_fields: Option<&BVal<'_>>,
        channels: Option<&BVal<'_>>,
        lists: Option<&BVal<'_>>,
    ) -> Result<Changes, Vec<Failure>> {
        let mut ch = Changes::default();
        let mut fails = Vec::new();
        match identifiers {
            None | Some(BVal::Null) => {}
            Some(BVal::Obj(ids)) => {
                for (k, v) in ids {
                    let Some(kind) = IdentKind::parse(k) else {
                        fails.push(failure("ApiSchemaViolation", format!("Unknown identifier '{k}'")));
                        continue;
                    };
                    let num;
                    let s = match v {
                        BVal::Str(s) => s.trim(),
                        BVal::Num(n) if kind == IdentKind::ContactId => {
                            num = n.to_string();
                            num.as_str()
                        }
                        BVal::Null => continue,
                        _ => {
                            fails.push(failure(
                                "ApiSchemaViolation",
                                format!("Identifier '{k}' must be a string"),
                            ));
                            continue;
                        }
                    };
                    match kind {
                        IdentKind::Email if valid_email(s) => ch.email = Some(s.to_string()),
                        IdentKind::Email => {
                            fails.push(failure("InvalidEmail", format!("Invalid value for 'email': '{s}'")))
                        }
                        IdentKind::Mobile => match normalize_mobile(s) {
                            Some(m) => ch.mobile = Some(m),
                            None => fails.push(failure(
                                "InvalidPhoneNumber",
                                format!("Invalid value for 'mobileNumber': '{s}'"),
                            )),
                        },
                        IdentKind::ContactId => {
                            if s.parse::<u64>().is_err() {
                                fails.push(failure(
                                    "InvalidContactId",
                                    format!("Invalid value for 'contactId': '{s}'"),
                                ));
                            }
                        }
                    }
                }
            }
            Some(_) => fails.push(failure("ApiSchemaViolation", "'identifiers' must be an object")),
        }
        match data_fields {
            None | Some(BVal::Null) => {}
            Some(BVal::Obj(m)) => {
                ch.fields.reserve(m.len());
                for (k, v) in m {
                    match self.field(k) {
                        None => fails.push(failure("ApiSchemaViolation", format!("Unknown data field '{k}'"))),
                        Some(f) => match coerce_b(f, v) {
                            Ok(val) => ch.fields.push((f.name.clone(), val)),
                            Err(e) => fails.push(failure("ApiSchemaViolation", e.text())),
                        },
                    }
                }
            }
            Some(_) => fails.push(failure("ApiSchemaViolation", "'dataFields' must be an object")),
        }
        match channels {
            None | Some(BVal::Null) => {}
            Some(m @ BVal::Obj(_)) => {
                if let Some(email) = m.get_ci("email").filter(|v| !v.is_null()) {
                    if let Some(s) = email.get_ci("status").filter(|v| !v.is_null()) {
                        match s.as_str().and_then(email_status_v3) {
                            Some(st) => ch.email_status = Some(st),
                            None => fails.push(failure("InvalidContactStatus", format!("Invalid email status {s}"))),
                        }
                    }
                    if let Some(s) = email.get_ci("emailType").filter(|v| !v.is_null()) {
                        match s.as_str().and_then(email_type) {
                            Some(t) => ch.email_type = Some(t),
                            None => fails.push(failure("ApiSchemaViolation", format!("Invalid emailType {s}"))),
                        }
                    }
                    if let Some(s) = email.get_ci("optInType").filter(|v| !v.is_null()) {
                        match s.as_str().and_then(opt_in_type) {
                            Some(t) => ch.opt_in = Some(t),
                            None => fails.push(failure("ApiSchemaViolation", format!("Invalid optInType {s}"))),
                        }
                    }
                }
                if let Some(sms) = m.get_ci("sms").filter(|v| !v.is_null())
                    && let Some(s) = sms.get_ci("status").filter(|v| !v.is_null())
                {
                    match s.as_str().and_then(sms_status_v3) {
                        Some(st) => ch.sms_status = Some(st),
                        None => fails.push(failure("InvalidContactStatus", format!("Invalid sms status {s}"))),
                    }
                }
            }
            Some(_) => fails.push(failure("ApiSchemaViolation", "'channelProperties' must be an object")),
        }
        match lists {
            None | Some(BVal::Null) => {}
            Some(BVal::Arr(items)) => {
                for x in items {
                    match x.as_id() {
                        Some(id) if self.lists.contains_key(&id) => ch.lists.push(id),
                        Some(id) => ch.bad_lists.push(id),
                        None => {
                            fails.push(failure("ApiSchemaViolation", format!("Invalid list id {x}")));
                            break;
                        }
                    }
                }
            }
            Some(other) => fails.push(failure("ApiSchemaViolation", format!("Invalid list id {other}"))),
        }
        if fails.is_empty() { Ok(ch) } else { Err(fails) }
    }

    /// Applies changes to `target` (update) or a new contact (create). Returns (id, created).
    pub fn apply(
        &mut self,
        ids: &mut Ids,
        target: Option<u64>,
        ch: Changes,
        merge: Merge,
        replace: bool,
        now_ms: i64,
    ) -> Result<(u64, bool), Failure> {
        if let Some(e) = &ch.email
            && let Some(&other) = self.by_email.get(lower_cow(e).as_ref())
            && Some(other) != target
        {
            return Err(failure(
                "Duplicate",
                format!("email '{e}' already belongs to contact {other}"),
            ));
        }
        if let Some(m) = &ch.mobile
            && let Some(&other) = self.by_mobile.get(m)
            && Some(other) != target
        {
            return Err(failure(
                "Duplicate",
                format!("mobileNumber '{m}' already belongs to contact {other}"),
            ));
        }
        let (id, created) = match target {
            Some(id) if self.contacts.contains_key(&id) => (id, false),
            Some(id) => return Err(failure("InvalidContactId", format!("Contact {id} does not exist"))),
            None => {
                if ch.email.is_none() && ch.mobile.is_none() {
                    return Err(failure(
                        "NoValidIdentifiers",
                        "A new contact needs an email or mobileNumber",
                    ));
                }
                ids.contact += 1;
                let id = ids.contact;
                self.contacts.insert(
                    id,
                    Contact {
                        contact_id: id,
                        email: None,
                        mobile_number: None,
                        data_fields: BTreeMap::new(),
                        email_status: if ch.email.is_some() {
                            "subscribed"
                        } else {
                            "noSubscription"
                        }
                        .into(),
                        email_type: "Html".into(),
                        opt_in_type: "Unknown".into(),
                        sms_status: "noSubscription".into(),
                        lists: BTreeSet::new(),
                        created_ms: now_ms,
                        updated_ms: now_ms,
                    },
                );
                (id, true)
            }
        };
        let Some(c) = self.contacts.get_mut(&id) else {
            return Err(failure("InvalidContactId", format!("Contact {id} does not exist")));
        };
        if let Some(e) = ch.email
            && c.email.as_deref() != Some(e.as_str())
        {
            if let Some(old) = c.email.take() {
                self.by_email.remove(lower_cow(&old).as_ref());
            }
            let key = match lower_cow(&e) {
                Cow::Borrowed(_) => e.clone(),
                Cow::Owned(k) => k,
            };
            self.by_email.insert(key, id);
            c.email = Some(e);
        }
        if let Some(m) = ch.mobile
            && c.mobile_number.as_deref() != Some(m.as_str())
        {
            if let Some(old) = c.mobile_number.take() {
                self.by_mobile.remove(&old);
            }
            self.by_mobile.insert(m.clone(), id);
            c.mobile_number = Some(m);
        }
        if replace {
            let keep: HashSet<&str> = ch.fields.iter().map(|(k, _)| &**k).collect();
            c.data_fields.retain(|k, _| keep.contains(&**k));
        }
        for (name, v) in ch.fields {
            let empty = match &v {
                None => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(_) => false,
            };
            match merge {
                Merge::Overwrite => {
                    if empty {
                        c.data_fields.remove(&name);
                    } else if let Some(v) = v {
                        c.data_fields.insert(name, v);
                    }
                }
                Merge::IfNotEmpty => {
                    if let (false, Some(v)) = (empty, v) {
                        c.data_fields.insert(name, v);
                    }
                }
                Merge::IfEmpty => {
                    if !c.data_fields.contains_key(&name)
                        && let (false, Some(v)) = (empty, v)
                    {
                        c.data_fields.insert(name, v);
                    }
                }
            }
        }
        if let Some(s) = ch.email_status {
            c.email_status = Cow::Borrowed(s);
        }
        if let Some(t) = ch.email_type {
            c.email_type = Cow::Borrowed(t);
        }
        if let Some(t) = ch.opt_in {
            c.opt_in_type = Cow::Borrowed(t);
        }
        if let Some(s) = ch.sms_status {
            c.sms_status = Cow::Borrowed(s);
        }
        for l in ch.lists {
            c.lists.insert(l);
            if let Some(b) = self.lists.get_mut(&l) {
                b.members.insert(id);
            }
        }
        c.updated_ms = now_ms;
        Ok((id, created))
    }

    pub fn delete_contact(&mut self, id: u64) -> bool {
        let Some(c) = self.contacts.remove(&id) else {
            return false;
        };
        if let Some(e) = &c.email {
            self.by_email.remove(&lower(e));
        }
        if let Some(m) = &c.mobile_number {
            self.by_mobile.remove(m);
        }
        for l in &c.lists {
            if let Some(b) = self.lists.get_mut(l) {
                b.members.remove(&id);
            }
        }
        for col in self.collections.values_mut() {
            if col.scope == "contact" {
                col.records.retain(|_, r| r.contact_id != Some(id));
            }
        }
        true
    }

    pub fn remove_from_list(&mut self, list: u64, contact: u64) -> bool {
        let removed = self.lists.get_mut(&list).is_some_and(|b| b.members.remove(&contact));
        if let Some(c) = self.contacts.get_mut(&contact) {
            c.lists.remove(&list);
        }
        removed
    }

    pub fn contact_status(c: &Contact) -> &str {
        if c.email.is_some() {
            &c.email_status
        } else {
            &c.sms_status
        }
    }

    /// v3 contact JSON.
    pub fn contact_v3(&self, c: &Contact, inc: &Include) -> Value {
        let mut ids = Map::new();
        if let Some(e) = &c.email {
            ids.insert("email".into(), json!(e));
        }
        if let Some(m) = &c.mobile_number {
            ids.insert("mobileNumber".into(), json!(m));
        }
        let mut fields = Map::new();
        for f in &self.data_fields {
            if let Some(only) = &inc.fields
                && !only.iter().any(|o| o.eq_ignore_ascii_case(&f.name))
            {
                continue;
            }
            fields.insert(
                f.name.to_string(),
                c.data_fields.get(&f.name).cloned().unwrap_or(Value::Null),
            );
        }
        let mut o = Map::new();
        o.insert("contactId".into(), json!(c.contact_id));
        o.insert("status".into(), json!(Self::contact_status(c)));
        o.insert("created".into(), json!(util::iso(c.created_ms)));
        o.insert("updated".into(), json!(util::iso(c.updated_ms)));
        o.insert("identifiers".into(), Value::Object(ids));
        o.insert("dataFields".into(), Value::Object(fields));
        if inc.channels {
            let mut sms = json!({"status": c.sms_status});
            if let Some(cc) = c.mobile_number.as_deref().and_then(country_code) {
                sms["countryCode"] = json!(cc);
            }
            o.insert(
                "channelProperties".into(),
                json!({
                    "email": {"status": c.email_status, "emailType": c.email_type, "optInType": c.opt_in_type},
                    "sms": sms,
                }),
            );
        }
        if inc.lists {
            let lists: Vec<Value> = c
                .lists
                .iter()
                .filter_map(|l| self.lists.get(l))
                .map(|b| json!({"id": b.id, "name": b.name, "status": "subscribed"}))
                .collect();
            o.insert("lists".into(), Value::Array(lists));
        }
        Value::Object(o)
    }

    /// v2 contact JSON.
    pub fn contact_v2(&self, c: &Contact, full: bool) -> Value {
        let fields: Vec<Value> = if full {
            self.data_fields
                .iter()
                .map(|f| json!({"key": f.name, "value": c.data_fields.get(&f.name).cloned().unwrap_or(Value::Null)}))
                .collect()
        } else {
            Vec::new()
        };
        json!({
            "id": c.contact_id,
            "email": c.email,
            "optInType": c.opt_in_type,
            "emailType": c.email_type,
            "dataFields": if full { Value::Array(fields) } else { Value::Null },
            "status": pascal(&c.email_status),
        })
    }

    pub fn active_jobs(&self, insight: bool) -> usize {
        self.pending
            .iter()
            .filter_map(|(_, id)| self.jobs.get(id))
            .filter(|j| match j.kind {
                JobKind::InsightImport => insight,
                JobKind::ContactImport | JobKind::V2Import => !insight,
                _ => false,
            })
            .count()
    }

    /// Adds a job; returns its id.
    pub fn add_job(&mut self, ids: &mut Ids, kind: JobKind, payload: Payload, ready_at: Instant, fail: bool) -> String {
        ids.seq += 1;
        let id = uuid::Uuid::new_v4().to_string();
        self.jobs.insert(
            id.clone(),
            Job {
                id: id.clone(),
                seq: ids.seq,
                kind,
                status: JobStatus::Pending,
                ready_at: Some(ready_at),
                fail,
                payload: Some(payload),
                result: None,
                faults_csv: None,
            },
        );
        self.pending.push((ids.seq, id.clone()));
        id
    }

    /// Adds a job that already finished (applied when it was submitted); returns its id.
    pub fn add_finished_job(&mut self, ids: &mut Ids, kind: JobKind, result: JobResult) -> String {
        ids.seq += 1;
        let id = uuid::Uuid::new_v4().to_string();
        self.jobs.insert(
            id.clone(),
            Job {
                id: id.clone(),
                seq: ids.seq,
                kind,
                status: JobStatus::Finished,
                ready_at: None,
                fail: false,
                payload: None,
                result: Some(result),
                faults_csv: None,
            },
        );
        id
    }

    /// Runs every due job in submission order. Returns row-failure rule ids used.
    pub fn process_due(&mut self, ids: &mut Ids, now: Instant, used: &mut Vec<u64>) {
        if self.pending.is_empty() {
            return;
        }
        let mut due: Vec<(u64, String)> = self
            .pending
            .iter()
            .filter(|(_, id)| self.jobs.get(id).is_none_or(|j| j.ready_at.is_none_or(|t| now >= t)))
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        due.sort();
        let due_ids: HashSet<&String> = due.iter().map(|(_, id)| id).collect();
        self.pending.retain(|(_, id)| !due_ids.contains(id));
        for (_, id) in due {
            let Some(job) = self.jobs.get_mut(&id) else { continue };
            let payload = job.payload.take();
            if job.fail {
                job.status = JobStatus::Failed;
                if let Some(Payload::Enrolment { enrolment_id }) = &payload
                    && let Some(e) = self.enrolments.iter_mut().find(|e| &e.id == enrolment_id)
                {
                    e.status = "Failed".into();
                }
                continue;
            }
            let now_ms = util::now_ms();
            let (result, csv) = match payload {
                Some(Payload::ContactImport {
                    merge,
                    contacts,
                    row_failures,
                }) => {
                    let rows = contacts.contacts();
                    let report = self.run_contact_import(ids, merge, &rows, &row_failures, used, now_ms);
                    (JobResult::ContactImport(Box::new(report)), None)
                }
                Some(Payload::ContactDelete { items }) => (JobResult::Json(self.run_contact_delete(&items)), None),
                Some(Payload::V2Import {
                    book,
                    merge,
                    csv,
                    row_failures,
                }) => {
                    let (r, c) = self.run_v2_import(ids, book, merge, &csv, &row_failures, used, now_ms);
                    (JobResult::Json(r), Some(c))
                }
                Some(Payload::InsightImport {
                    collection,
                    scope,
                    ctype,
                    records,
                    row_failures,
                }) => (
                    JobResult::Json(self.run_insight_import(&collection, &scope, &ctype, records, &row_failures, used)),
                    None,
                ),
                Some(Payload::Enrolment { enrolment_id }) => {
                    self.run_enrolment(&enrolment_id);
                    (JobResult::Json(Value::Null), None)
                }
                None => (JobResult::Json(Value::Null), None),
            };
            if let Some(job) = self.jobs.get_mut(&id) {
                job.status = JobStatus::Finished;
                job.result = Some(result);
                job.faults_csv = csv;
            }
        }
    }

    fn row_failure(row_failures: &RowFailures, values: &[&str], default: &str, used: &mut Vec<u64>) -> Option<Failure> {
        if row_failures.is_empty() {
            return None;
        }
        for v in values {
            if let Some((code, rule)) = row_failures.get(&lower(v)) {
                used.push(*rule);
                let code = code.as_deref().unwrap_or(default);
                return Some(failure(code, format!("Rejected by emulator fault rule {rule}")));
            }
        }
        None
    }

    /// Applies a v3 contact import in one pass and builds its report.
    pub fn run_contact_import(
        &mut self,
        ids: &mut Ids,
        merge: Merge,
        contacts: &[ContactIn<'_>],
        row_failures: &RowFailures,
        used: &mut Vec<u64>,
        now_ms: i64,
    ) -> ContactImportReport {
        let mut report = ContactImportReport::with_capacity(contacts.len());
        // Grow the email index once rather than rehashing repeatedly during the import.
        self.by_email.reserve(contacts.len());
        let mut seen: FastSet<Cow<'_, str>> = FastSet::with_capacity_and_hasher(contacts.len(), Default::default());
        let fail_row = |c: &ContactIn<'_>, fs: Vec<Failure>| FailedRow {
            match_identifier: c.match_identifier.as_ref().map_or(Value::Null, BVal::to_value),
            identifiers: c.identifiers.as_ref().map_or(Value::Null, BVal::to_value),
            failures: fs,
        };
        for c in contacts {
            let fail = |fs: Vec<Failure>, report: &mut ContactImportReport| {
                report.invalid += 1;
                report.failures.push(fail_row(c, fs));
            };
            let Some(kind) = c
                .match_identifier
                .as_ref()
                .and_then(BVal::as_str)
                .and_then(IdentKind::parse)
            else {
                fail(
                    vec![failure(
                        "InvalidMatchIdentifier",
                        "matchIdentifier is missing or not a known identifier",
                    )],
                    &mut report,
                );
                continue;
            };
            let match_val: Cow<'_, str> = match c.identifiers.as_ref().and_then(|i| i.get_ci(kind.key())) {
                Some(BVal::Str(s)) => Cow::Borrowed(s.as_ref()),
                Some(BVal::Num(n)) => Cow::Owned(n.to_string()),
                _ => {
                    fail(
                        vec![failure(
                            "InvalidMatchIdentifier",
                            format!("identifiers has no value for matchIdentifier '{}'", kind.key()),
                        )],
                        &mut report,
                    );
                    continue;
                }
            };
            let target = match self.find(kind, &match_val) {
                Ok(t) => t,
                Err(f) => {
                    fail(vec![f], &mut report);
                    continue;
                }
            };
            let norm = match &match_val {
                Cow::Borrowed(b) => normalized(kind, b),
                Cow::Owned(o) => Cow::Owned(normalized(kind, o).into_owned()),
            };
            if seen.contains(norm.as_ref()) {
                report.duplicates += 1;
                report.failures.push(fail_row(
                    c,
                    vec![failure(
                        "Duplicate",
                        format!("{} '{}' appears more than once in this import", kind.key(), match_val),
                    )],
                ));
                continue;
            }
            let blocked = Self::row_failure(row_failures, &[&norm], "Blocker", used);
            seen.insert(norm);
            if let Some(f) = blocked {
                fail(vec![f], &mut report);
                continue;
            }
            if kind == IdentKind::ContactId && target.is_none() {
                fail(
                    vec![failure(
                        "InvalidContactId",
                        format!("Contact {match_val} does not exist"),
                    )],
                    &mut report,
                );
                continue;
            }
            let mut ch = match self.prepare(
                c.identifiers.as_ref(),
                c.data_fields.as_ref(),
                c.channel_properties.as_ref(),
                c.lists.as_ref(),
            ) {
                Ok(ch) => ch,
                Err(fs) => {
                    fail(fs, &mut report);
                    continue;
                }
            };
            let bad_lists = std::mem::take(&mut ch.bad_lists);
            match self.apply(ids, target, ch, merge, false, now_ms) {
                Ok((id, is_new)) => {
                    let cur = self.contacts.get(&id);
                    report.written(
                        is_new,
                        id,
                        cur.and_then(|c| c.email.as_deref()),
                        cur.and_then(|c| c.mobile_number.as_deref()),
                    );
                    if !bad_lists.is_empty() {
                        report.failures.push(fail_row(
                            c,
                            vec![failure(
                                "InvalidAddressBookIds",
                                format!("Unknown list ids {bad_lists:?}"),
                            )],
                        ));
                    }
                }
                Err(f) => fail(vec![f], &mut report),
            }
        }
        report
    }

    fn run_contact_delete(&mut self, items: &[Value]) -> Value {
        let (mut deleted, mut failures) = (Vec::new(), Vec::new());
        let (mut unknown, mut invalid) = (0u64, 0u64);
        for item in items {
            let found = item.as_object().and_then(|o| {
                o.iter().find_map(|(k, v)| {
                    let kind = IdentKind::parse(k)?;
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => return Some(Err(failure("InvalidContact", "identifier value must be a string"))),
                    };
                    Some(self.find(kind, &s))
                })
            });
            match found {
                None => {
                    invalid += 1;
                    failures.push(
                        json!({"identifier": item, "failures": [failure("NoValidIdentifiers", "No identifier")]}),
                    );
                }
                Some(Err(f)) => {
                    invalid += 1;
                    failures.push(json!({"identifier": item, "failures": [f]}));
                }
                Some(Ok(None)) => {
                    unknown += 1;
                    failures.push(
                        json!({"identifier": item, "failures": [failure("ContactNotFound", "Contact not found")]}),
                    );
                }
                Some(Ok(Some(id))) => {
                    self.delete_contact(id);
                    deleted.push(json!({"contactId": id, "identifier": item}));
                }
            }
        }
        json!({
            "summary": {"requestedContacts": items.len(), "deletedContacts": deleted.len(), "unknownContacts": unknown, "invalidEntries": invalid},
            "deleted": deleted,
            "failures": failures,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn run_v2_import(
        &mut self,
        ids: &mut Ids,
        book: Option<u64>,
        merge: Merge,
        csv: &str,
        row_failures: &RowFailures,
        used: &mut Vec<u64>,
        now_ms: i64,
    ) -> (Value, String) {
        let rows = util::parse_csv(csv);
        let mut faults = String::new();
        let mut report = json!({"newContacts": 0, "updatedContacts": 0, "globallySuppressed": 0, "invalidEntries": 0,
            "duplicateEmails": 0, "blocked": 0, "unsubscribed": 0, "hardBounced": 0, "softBounced": 0, "ispComplaints": 0,
            "mailBlocked": 0, "domainSuppressed": 0, "pendingDoubleOptin": 0, "failures": 0, "suppressedContacts": 0});
        let Some((header, body)) = rows.split_first() else {
            return (json!({"status": "InvalidFileFormat"}), faults);
        };
        let Some(email_col) = header.iter().position(|h| h.trim().eq_ignore_ascii_case("email")) else {
            return (json!({"status": "InvalidFileFormat"}), faults);
        };
        faults.push_str("Reason");
        for h in header {
            faults.push(',');
            faults.push_str(&util::csv_field(h));
        }
        faults.push('\n');
        let cols: Vec<Option<Arc<str>>> = header
            .iter()
            .enumerate()
            .map(|(i, h)| {
                if i == email_col {
                    None
                } else {
                    self.field(h.trim()).map(|f| f.name.clone())
                }
            })
            .collect();
        let mut seen = HashSet::new();
        let bump = |k: &str, report: &mut Value| {
            if let Some(n) = report.get_mut(k) {
                *n = json!(n.as_u64().unwrap_or(0) + 1);
            }
        };
        for row in body {
            let email = row.get(email_col).map(|s| s.trim().to_string()).unwrap_or_default();
            let reject = |reason: &str, faults: &mut String| {
                faults.push_str(&util::csv_field(reason));
                for v in row {
                    faults.push(',');
                    faults.push_str(&util::csv_field(v));
                }
                faults.push('\n');
            };
            if !valid_email(&email) {
                bump("invalidEntries", &mut report);
                reject("InvalidEmail", &mut faults);
                continue;
            }
            if !seen.insert(lower(&email)) {
                bump("duplicateEmails", &mut report);
                reject("DuplicateEmail", &mut faults);
                continue;
            }
            if let Some(f) = Self::row_failure(row_failures, &[&email], "Blocked", used) {
                bump("blocked", &mut report);
                reject(&f.failure_code, &mut faults);
                continue;
            }
            let mut ch = Changes {
                email: Some(email.clone()),
                ..Changes::default()
            };
            let mut bad = None;
            for (i, name) in cols.iter().enumerate() {
                let (Some(name), Some(v)) = (name, row.get(i)) else {
                    continue;
                };
                let Some(f) = self.field(name) else { continue };
                match coerce(f, &Value::String(v.clone())) {
                    Ok(val) => ch.fields.push((name.clone(), val)),
                    Err(e) => bad = Some(e.text().to_string()),
                }
            }
            if let Some(reason) = bad {
                bump("invalidEntries", &mut report);
                reject(&format!("InvalidDataField: {reason}"), &mut faults);
                continue;
            }
            if let Some(b) = book {
                ch.lists.push(b);
            }
            let target = self.by_email.get(&lower(&email)).copied();
            if let Some(t) = target
                && self.contacts.get(&t).is_some_and(|c| c.email_status == "suppressed")
            {
                bump("suppressedContacts", &mut report);
                reject("Suppressed", &mut faults);
                continue;
            }
            match self.apply(ids, target, ch, merge, false, now_ms) {
                Ok((_, true)) => bump("newContacts", &mut report),
                Ok((_, false)) => bump("updatedContacts", &mut report),
                Err(f) => {
                    bump("failures", &mut report);
                    reject(&f.failure_code, &mut faults);
                }
            }
        }
        (report, faults)
    }

    fn run_enrolment(&mut self, enrolment_id: &str) {
        let Some(pos) = self.enrolments.iter().position(|e| e.id == enrolment_id) else {
            return;
        };
        let (contacts, books) = (
            self.enrolments[pos].contacts.clone(),
            self.enrolments[pos].address_books.clone(),
        );
        let mut enrolled = Vec::new();
        let mut faults = Vec::new();
        let mut seen = HashSet::new();
        let mut consider = |id: u64, this: &Self, enrolled: &mut Vec<u64>, faults: &mut Vec<(u64, String)>| {
            if !seen.insert(id) {
                return;
            }
            match this.contacts.get(&id) {
                None => faults.push((id, "ContactNotFound".into())),
                Some(c) if c.email.is_some() && c.email_status != "subscribed" && c.sms_status != "subscribed" => {
                    faults.push((id, format!("ContactNotSubscribed ({})", c.email_status)))
                }
                Some(_) => enrolled.push(id),
            }
        };
        for id in contacts {
            consider(id, self, &mut enrolled, &mut faults);
        }
        for b in books {
            match self.lists.get(&b) {
                Some(book) => {
                    for id in book.members.clone() {
                        consider(id, self, &mut enrolled, &mut faults);
                    }
                }
                None => faults.push((b, "AddressBookNotFound".into())),
            }
        }
        let e = &mut self.enrolments[pos];
        e.enrolled = enrolled;
        e.faults = faults;
        e.status = "Finished".into();
    }

    /// Validates and stores one insight record. `Err(failureReason)`.
    pub fn put_insight_record(
        &mut self,
        collection: &str,
        key: &str,
        contact: Option<u64>,
        json: Value,
        batch_keys: Option<&mut HashSet<String>>,
    ) -> Result<bool, &'static str> {
        self.insert_insight_record(collection, key, contact, json, batch_keys)
            .map_err(|(reason, _)| reason)
    }

    /// [`Account::put_insight_record`] that hands the JSON back when the record is rejected.
    fn insert_insight_record(
        &mut self,
        collection: &str,
        key: &str,
        contact: Option<u64>,
        json: Value,
        batch_keys: Option<&mut HashSet<String>>,
    ) -> Result<bool, (&'static str, Value)> {
        match self.check_insight_record(collection, key, contact, &json, batch_keys) {
            Ok(new_types) => {
                let Some(col) = self.collections.get_mut(&lower(collection)) else {
                    return Err(("MissingCollection", json));
                };
                for (p, t) in new_types {
                    col.schema.entry(p).or_insert(t);
                }
                let created = col
                    .records
                    .insert(
                        key.to_string(),
                        InsightRecord {
                            key: key.to_string(),
                            contact_id: contact,
                            json,
                        },
                    )
                    .is_none();
                Ok(created)
            }
            Err(reason) => Err((reason, json)),
        }
    }

    /// Validates an insight record; returns the schema paths it adds.
    fn check_insight_record(
        &self,
        collection: &str,
        key: &str,
        contact: Option<u64>,
        json: &Value,
        batch_keys: Option<&mut HashSet<String>>,
    ) -> Result<Vec<(String, String)>, &'static str> {
        if key.is_empty() || key.chars().count() > 255 || key.chars().any(char::is_control) {
            return Err("InvalidClientKey");
        }
        if let Some(seen) = batch_keys
            && !seen.insert(key.to_string())
        {
            return Err("DuplicateKey");
        }
        let Some(col) = self.collections.get(&lower(collection)) else {
            return Err("MissingCollection");
        };
        if !json.is_object() {
            return Err("InvalidJson");
        }
        let mut new_types = Vec::new();
        check_json(json, "", &col.schema, &mut new_types)?;
        if let Some(existing) = col.records.get(key)
            && existing.contact_id != contact
        {
            return Err("KeyExistingForDifferentContact");
        }
        Ok(new_types)
    }

    pub fn ensure_collection(&mut self, name: &str, scope: &str, ctype: &str) {
        self.collections.entry(lower(name)).or_insert_with(|| Collection {
            name: name.to_string(),
            scope: scope.to_string(),
            collection_type: ctype.to_string(),
            records: BTreeMap::new(),
            schema: BTreeMap::new(),
        });
    }

    fn run_insight_import(
        &mut self,
        collection: &str,
        scope: &str,
        ctype: &str,
        records: Vec<Value>,
        row_failures: &RowFailures,
        used: &mut Vec<u64>,
    ) -> Value {
        self.ensure_collection(collection, scope, ctype);
        let col_scope = self
            .collections
            .get(&lower(collection))
            .map(|c| c.scope.clone())
            .unwrap_or_default();
        let total = records.len();
        let mut failures = Vec::new();
        let mut seen = HashSet::new();
        let mut imported = 0u64;
        for mut rec in records {
            // The record's JSON is moved out of the request tree, never copied.
            let json_in = rec.as_object_mut().and_then(|o| o.remove("json"));
            let key = rec.get("key").map(|k| match k {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            });
            let identity = rec.get("contactIdentity");
            let mut fail = |reason: &str, json: Option<Value>| {
                let mut owner = json!({"ownerType": col_scope});
                if let Some(ci) = identity {
                    owner["contactIdentity"] = ci.clone();
                }
                failures.push(json!({"key": rec.get("key").cloned().unwrap_or(Value::Null),
                    "json": json.unwrap_or_else(|| json!({})), "failureReason": reason, "collectionOwner": owner}));
            };
            let Some(key) = key else {
                fail("InvalidClientKey", json_in);
                continue;
            };
            if let Some(f) = Self::row_failure(row_failures, &[&key], "Unknown", used) {
                fail(&f.failure_code, json_in);
                continue;
            }
            let owner = if col_scope == "contact" {
                match self.resolve_identity(identity) {
                    Ok(id) => Some(id),
                    Err(reason) => {
                        if !key.is_empty() {
                            seen.insert(key.clone());
                        }
                        fail(reason, json_in);
                        continue;
                    }
                }
            } else {
                None
            };
            // `json` given as a string is parsed; a rejected record echoes what was sent.
            let absent = json_in.is_none();
            let (json, sent_text) = match json_in {
                Some(Value::String(s)) => (serde_json::from_str(&s).unwrap_or(Value::Null), Some(s)),
                Some(v) => (v, None),
                None => (Value::Null, None),
            };
            match self.insert_insight_record(collection, &key, owner, json, Some(&mut seen)) {
                Ok(_) => imported += 1,
                Err((reason, json)) => {
                    let echo = match sent_text {
                        Some(s) => Some(Value::String(s)),
                        None if absent => None,
                        None => Some(json),
                    };
                    fail(reason, echo)
                }
            }
        }
        json!({"collectionName": collection, "summary": {"totalRecords": total, "totalImported": imported, "totalRejected": failures.len()}, "failures": failures})
    }

    /// Resolves an insight `contactIdentity` (`{identifier, value}` or `{"email": ...}`).
    pub fn resolve_identity(&self, identity: Option<&Value>) -> Result<u64, &'static str> {
        let Some(Value::Object(o)) = identity else {
            return Err("InvalidContactIdentifier");
        };
        let (kind_raw, value) = if let (Some(i), Some(v)) = (map_get_ci(o, "identifier"), map_get_ci(o, "value")) {
            (i.as_str().unwrap_or("").to_string(), v.clone())
        } else if let Some((k, v)) = o.iter().next() {
            (k.clone(), v.clone())
        } else {
            return Err("InvalidContactIdentifier");
        };
        let Some(kind) = IdentKind::parse(&kind_raw) else {
            return Err("InvalidContactIdentifierType");
        };
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return Err("InvalidContactIdentifier"),
        };
        match self.find(kind, &value) {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(match kind {
                IdentKind::Email => "ContactEmailDoesNotExist",
                IdentKind::Mobile => "ContactPhoneNumberDoesNotExist",
                IdentKind::ContactId => "ContactIdDoesNotExist",
            }),
            Err(_) => Err("InvalidContactIdentifier"),
        }
    }
}

pub(crate) const MAX_JSON_KEY: usize = 100;
pub(crate) const MAX_JSON_STRING: usize = 4000;

fn json_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some("boolean"),
        Value::Number(_) => Some("number"),
        Value::String(_) => Some("string"),
        Value::Array(_) => Some("array"),
        Value::Object(_) => Some("object"),
    }
}

/// Validates insight JSON against the naming rules and the collection's inferred schema.
fn check_json(
    v: &Value,
    path: &str,
    schema: &BTreeMap<String, String>,
    new: &mut Vec<(String, String)>,
) -> Result<(), &'static str> {
    let note = |p: String, t: &'static str, new: &mut Vec<(String, String)>| -> Result<(), &'static str> {
        if let Some(existing) = schema
            .get(&p)
            .or_else(|| new.iter().find(|(k, _)| *k == p).map(|(_, t)| t))
            && existing != t
        {
            return Err("InconsistentTypes");
        }
        if !new.iter().any(|(k, _)| *k == p) {
            new.push((p, t.to_string()));
        }
        Ok(())
    };
    match v {
        Value::Object(m) => {
            let mut norm = HashSet::new();
            for (k, child) in m {
                if k.chars().count() > MAX_JSON_KEY {
                    return Err("JsonKeyTooLong");
                }
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    return Err("JsonKeyInvalidCharacters");
                }
                if !norm.insert(k.replace('-', "_").to_ascii_lowercase()) {
                    return Err("JsonContainsDashUnderscoreClash");
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Some(t) = json_type(child) {
                    note(p.clone(), t, new)?;
                }
                check_json(child, &p, schema, new)?;
            }
        }
        Value::Array(a) => {
            let p = format!("{path}[]");
            for x in a {
                if x.is_array() {
                    return Err("JsonContainsNestedArray");
                }
                if let Some(t) = json_type(x) {
                    note(p.clone(), t, new)?;
                }
                check_json(x, &p, schema, new)?;
            }
        }
        Value::String(s) if s.chars().count() > MAX_JSON_STRING => return Err("JsonValueTooLong"),
        Value::Number(n) if n.as_f64().is_some_and(|f| f.abs() > 7.9e28) => return Err("JsonNumberValueTooLarge"),
        _ => {}
    }
    Ok(())
}

impl World {
    pub fn account(&self, username: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.username == username)
    }

    pub fn rebuild(&mut self) {
        for a in &mut self.accounts {
            a.rebuild_indexes();
            for j in a.jobs.values_mut() {
                j.ready_at = None;
            }
        }
    }

    /// Runs due jobs of every account; returns row-failure rule ids used.
    pub fn process_due(&mut self, now: Instant) -> Vec<u64> {
        let mut used = Vec::new();
        let ids = &mut self.ids;
        for a in &mut self.accounts {
            a.process_due(ids, now, &mut used);
        }
        used
    }

    /// Adds seed data (creates accounts or adds to existing ones with the same username).
    pub fn apply_seed(&mut self, seed: &[AccountSeed]) -> Result<(), String> {
        let now = util::now_ms();
        for s in seed {
            if s.username.trim().is_empty() {
                return Err("account username must not be empty".into());
            }
            let idx = match self.accounts.iter().position(|a| a.username == s.username) {
                Some(i) => {
                    let a = &mut self.accounts[i];
                    a.password = s.password.clone();
                    a.region = s.region;
                    a.rate_scheme = s.rate_scheme.clone();
                    i
                }
                None => {
                    let id = match s.id {
                        Some(id) => {
                            self.ids.account = self.ids.account.max(id);
                            id
                        }
                        None => {
                            self.ids.account += 1;
                            self.ids.account
                        }
                    };
                    self.accounts.push(Account::new(id, s));
                    self.accounts.len() - 1
                }
            };
            let ids = &mut self.ids;
            let a = &mut self.accounts[idx];
            for f in &s.data_fields {
                if a.field(&f.name).is_none() {
                    a.data_fields.push(DataField {
                        name: f.name.to_ascii_uppercase().into(),
                        field_type: f.field_type,
                        visibility: f.visibility.clone().unwrap_or_else(|| "Private".into()),
                        default_value: f.default_value.clone().unwrap_or(Value::Null),
                    });
                }
            }
            for l in &s.lists {
                if a.list_by_name(&l.name).is_some() {
                    continue;
                }
                let id = match l.id {
                    Some(id) => {
                        ids.list = ids.list.max(id);
                        id
                    }
                    None => {
                        ids.list += 1;
                        ids.list
                    }
                };
                a.lists.insert(
                    id,
                    AddressBook {
                        id,
                        name: l.name.clone(),
                        visibility: l.visibility.clone().unwrap_or_else(|| "Private".into()),
                        members: BTreeSet::new(),
                    },
                );
            }
            for p in &s.programs {
                let id = match p.id {
                    Some(id) => {
                        ids.program = ids.program.max(id);
                        id
                    }
                    None => {
                        ids.program += 1;
                        ids.program
                    }
                };
                a.programs.insert(
                    id,
                    Program {
                        id,
                        name: p.name.clone(),
                        status: pascal(&p.status),
                        date_created: util::iso(now),
                    },
                );
            }
            for c in &s.campaigns {
                let id = match c.id {
                    Some(id) => {
                        ids.campaign = ids.campaign.max(id);
                        id
                    }
                    None => {
                        ids.campaign += 1;
                        ids.campaign
                    }
                };
                a.campaigns.insert(
                    id,
                    Campaign {
                        id,
                        name: c.name.clone(),
                        subject: c.subject.clone(),
                        from_name: c.from_name.clone(),
                        html_content: c.html_content.clone(),
                        plain_text_content: c.plain_text_content.clone(),
                    },
                );
            }
            for c in &s.contacts {
                let mut idents = Map::new();
                if let Some(e) = &c.email {
                    idents.insert("email".into(), json!(e));
                }
                if let Some(m) = &c.mobile_number {
                    idents.insert("mobileNumber".into(), json!(m));
                }
                let mut channels = json!({});
                if let Some(st) = &c.email_status {
                    channels["email"] = json!({"status": st});
                }
                if let Some(st) = &c.sms_status {
                    channels["sms"] = json!({"status": st});
                }
                let idv = Value::Object(idents);
                let fields = Value::Object(c.data_fields.clone());
                let lists = json!(c.lists);
                let ch = a
                    .prepare_value(Some(&idv), Some(&fields), Some(&channels), Some(&lists))
                    .map_err(|fs| {
                        format!(
                            "contact {:?}: {}",
                            c.email.as_ref().or(c.mobile_number.as_ref()),
                            fs[0].description
                        )
                    })?;
                if !ch.bad_lists.is_empty() {
                    return Err(format!("contact {:?}: unknown list ids {:?}", c.email, ch.bad_lists));
                }
                let target = match (&ch.email, &ch.mobile) {
                    (Some(e), _) => a.by_email.get(&lower(e)).copied(),
                    (None, Some(m)) => a.by_mobile.get(m).copied(),
                    _ => None,
                };
                a.apply(ids, target, ch, Merge::Overwrite, false, now)
                    .map_err(|f| f.description)?;
            }
            for col in &s.collections {
                let scope = col.scope.to_ascii_lowercase();
                if scope != "contact" && scope != "account" {
                    return Err(format!("collection {}: scope must be contact or account", col.name));
                }
                a.ensure_collection(&col.name, &scope, col.collection_type.as_deref().unwrap_or("custom"));
                for r in &col.records {
                    let owner = if scope == "contact" {
                        let email = r.contact_email.clone().unwrap_or_default();
                        Some(
                            a.resolve_identity(Some(&json!({"email": email})))
                                .map_err(|e| format!("record {}: {e}", r.key))?,
                        )
                    } else {
                        None
                    };
                    a.put_insight_record(&col.name, &r.key, owner, r.json.clone(), None)
                        .map_err(|e| format!("record {}: {e}", r.key))?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Request log
// ---------------------------------------------------------------------------------------------

/// One logged request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Sequence number.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Route pattern, e.g. `/contacts/v3/{identifier}/{value}` (or the raw path if unknown).
    pub route: String,
    /// Path as requested (region prefix included).
    pub path: String,
    /// Region the request addressed.
    pub region: String,
    /// API user, when authenticated.
    pub account: Option<String>,
    /// Response status (0 when the connection was dropped).
    pub status: u16,
}

/// The request log: the most recent entries and complete counts per `"METHOD route"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLogSnapshot {
    /// Most recent requests (bounded by `request_log_capacity`).
    pub entries: Vec<RequestRecord>,
    /// Count per `"METHOD route"` key.
    pub counts: BTreeMap<String, u64>,
    /// Total number of requests.
    pub total: u64,
}

impl RequestLogSnapshot {
    /// Count for one method and route pattern.
    pub fn count(&self, method: &str, route: &str) -> u64 {
        self.counts
            .get(&format!("{} {}", method.to_ascii_uppercase(), route))
            .copied()
            .unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    pub entries: VecDeque<RequestRecord>,
    pub counts: BTreeMap<String, u64>,
    pub total: u64,
    pub capacity: usize,
}

impl RequestLog {
    pub fn push(&mut self, mut r: RequestRecord) {
        self.total += 1;
        r.seq = self.total;
        *self.counts.entry(format!("{} {}", r.method, r.route)).or_default() += 1;
        if self.capacity > 0 {
            if self.entries.len() >= self.capacity {
                self.entries.pop_front();
            }
            self.entries.push_back(r);
        }
    }

    pub fn snapshot(&self) -> RequestLogSnapshot {
        RequestLogSnapshot {
            entries: self.entries.iter().cloned().collect(),
            counts: self.counts.clone(),
            total: self.total,
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.counts.clear();
        self.total = 0;
    }
}

// ---------------------------------------------------------------------------------------------
// StateView
// ---------------------------------------------------------------------------------------------

/// Read access to the emulator's state for tests. Every call first applies imports that are due.
#[derive(Clone)]
pub struct StateView {
    pub(crate) app: Arc<App>,
}

impl StateView {
    fn with<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        self.app.process_due();
        let w = lock(&self.app.world);
        f(&w)
    }

    fn acct<R: Default>(&self, user: &str, f: impl FnOnce(&Account) -> R) -> R {
        self.with(|w| w.account(user).map(f).unwrap_or_default())
    }

    /// Usernames of all accounts.
    pub fn accounts(&self) -> Vec<String> {
        self.with(|w| w.accounts.iter().map(|a| a.username.clone()).collect())
    }

    /// All contacts of an account, by contact id.
    pub fn contacts(&self, user: &str) -> Vec<Contact> {
        self.acct(user, |a| a.contacts.values().cloned().collect())
    }

    /// Number of contacts.
    pub fn contact_count(&self, user: &str) -> usize {
        self.acct(user, |a| a.contacts.len())
    }

    /// One contact by e-mail (case-insensitive).
    pub fn contact_by_email(&self, user: &str, email: &str) -> Option<Contact> {
        self.acct(user, |a| {
            a.by_email.get(&lower(email)).and_then(|id| a.contacts.get(id)).cloned()
        })
    }

    /// One contact by mobile number (with or without `+`).
    pub fn contact_by_mobile(&self, user: &str, mobile: &str) -> Option<Contact> {
        let m = mobile.trim_start_matches('+').to_string();
        self.acct(user, |a| a.by_mobile.get(&m).and_then(|id| a.contacts.get(id)).cloned())
    }

    /// One contact by id.
    pub fn contact(&self, user: &str, id: u64) -> Option<Contact> {
        self.acct(user, |a| a.contacts.get(&id).cloned())
    }

    /// Data fields.
    pub fn data_fields(&self, user: &str) -> Vec<DataField> {
        self.acct(user, |a| a.data_fields.clone())
    }

    /// Address books (with members).
    pub fn lists(&self, user: &str) -> Vec<AddressBook> {
        self.acct(user, |a| a.lists.values().cloned().collect())
    }

    /// Member contact ids of a list.
    pub fn list_members(&self, user: &str, list_id: u64) -> Vec<u64> {
        self.acct(user, |a| {
            a.lists
                .get(&list_id)
                .map(|b| b.members.iter().copied().collect())
                .unwrap_or_default()
        })
    }

    /// A list by name (case-insensitive).
    pub fn list_by_name(&self, user: &str, name: &str) -> Option<AddressBook> {
        self.acct(user, |a| a.list_by_name(name).cloned())
    }

    /// Insight collections (with records).
    pub fn collections(&self, user: &str) -> Vec<Collection> {
        self.acct(user, |a| a.collections.values().cloned().collect())
    }

    /// Records of one collection (by key).
    pub fn insight_records(&self, user: &str, collection: &str) -> Vec<InsightRecord> {
        self.acct(user, |a| {
            a.collections
                .get(&lower(collection))
                .map(|c| c.records.values().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// Program enrolments, oldest first.
    pub fn enrolments(&self, user: &str) -> Vec<Enrolment> {
        self.acct(user, |a| a.enrolments.clone())
    }

    /// Every message sent by any account, oldest first.
    pub fn outbox(&self) -> Vec<SentMessage> {
        self.with(|w| w.accounts.iter().flat_map(|a| a.outbox.iter().cloned()).collect())
    }

    /// The request log.
    pub fn requests(&self) -> RequestLogSnapshot {
        lock(&self.app.log).snapshot()
    }

    /// Requests counted for one method and route pattern (e.g. `("PUT", "/contacts/v3/import")`).
    pub fn request_count(&self, method: &str, route: &str) -> u64 {
        lock(&self.app.log).snapshot().count(method, route)
    }

    /// Clears the request log.
    pub fn clear_requests(&self) {
        lock(&self.app.log).clear()
    }

    /// The whole state as JSON (same as `GET /_emulator/state`).
    pub fn snapshot_json(&self) -> Value {
        self.with(|w| serde_json::to_value(w).unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(t: FieldType) -> DataField {
        DataField {
            name: "F".into(),
            field_type: t,
            visibility: "Private".into(),
            default_value: Value::Null,
        }
    }

    #[test]
    fn coercion_rules() {
        assert_eq!(
            coerce(&field(FieldType::Numeric), &json!("12.5")).ok().flatten(),
            Some(json!(12.5))
        );
        assert!(coerce(&field(FieldType::Numeric), &json!("abc")).is_err());
        assert!(coerce(&field(FieldType::Boolean), &json!("maybe")).is_err());
        assert_eq!(
            coerce(&field(FieldType::Boolean), &json!("TRUE")).ok().flatten(),
            Some(json!(true))
        );
        assert!(coerce(&field(FieldType::Date), &json!("soon")).is_err());
        assert!(coerce(&field(FieldType::String), &json!({"a": 1})).is_err());
        assert!(matches!(
            coerce(&field(FieldType::String), &json!("x".repeat(256))),
            Err(ValueError::Overflow(_))
        ));
        assert_eq!(coerce(&field(FieldType::Date), &Value::Null).ok(), Some(None));
    }

    #[test]
    fn json_rules() {
        let s = BTreeMap::new();
        let mut n = Vec::new();
        assert_eq!(
            check_json(&json!({"a": [[1]]}), "", &s, &mut n),
            Err("JsonContainsNestedArray")
        );
        assert_eq!(
            check_json(&json!({"a-b": 1, "a_b": 2}), "", &s, &mut Vec::new()),
            Err("JsonContainsDashUnderscoreClash")
        );
        assert_eq!(
            check_json(&json!({"a b": 1}), "", &s, &mut Vec::new()),
            Err("JsonKeyInvalidCharacters")
        );
        assert_eq!(
            check_json(&json!({"a": [1, "x"]}), "", &s, &mut Vec::new()),
            Err("InconsistentTypes")
        );
        let mut schema = BTreeMap::new();
        schema.insert("total".to_string(), "number".to_string());
        assert_eq!(
            check_json(&json!({"total": "10"}), "", &schema, &mut Vec::new()),
            Err("InconsistentTypes")
        );
        assert_eq!(
            check_json(&json!({"total": null}), "", &schema, &mut Vec::new()),
            Ok(())
        );
    }

    #[test]
    fn demo_seed_applies() {
        let mut w = World::default();
        w.apply_seed(&[AccountSeed::demo()]).unwrap();
        let a = &w.accounts[0];
        assert_eq!(a.contacts.len(), 5);
        assert_eq!(a.lists[&345579].members.len(), 3);
        assert_eq!(a.collections["orders"].records.len(), 1);
    }
}
