//! Bulk contact import plumbing: a borrowed, lenient JSON value ([`BVal`]) so an import body is
//! parsed once without building `serde_json::Value` trees, the typed import body, the stored
//! request body of a deferred import, and the typed import report (serialised on demand).

use crate::state::Failure;
use axum::body::Bytes;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

// ---------------------------------------------------------------------------------------------
// BVal: a JSON value that borrows its strings from the request body
// ---------------------------------------------------------------------------------------------

/// A JSON value whose strings borrow from the input where possible (only objects and arrays
/// allocate). Objects keep their members in input order; duplicate keys are kept (last wins on
/// lookup, like `serde_json::Map`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum BVal<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    Arr(Vec<BVal<'a>>),
    Obj(Vec<(Cow<'a, str>, BVal<'a>)>),
}

impl<'a> BVal<'a> {
    /// Borrows a `serde_json::Value`.
    pub fn from_value(v: &'a Value) -> Self {
        match v {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Num(n.clone()),
            Value::String(s) => Self::Str(Cow::Borrowed(s)),
            Value::Array(a) => Self::Arr(a.iter().map(Self::from_value).collect()),
            Value::Object(m) => Self::Obj(
                m.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Self::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// An owned `serde_json::Value` (for echoing input in reports).
    pub fn to_value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Num(n) => Value::Number(n.clone()),
            Self::Str(s) => Value::String(s.to_string()),
            Self::Arr(a) => Value::Array(a.iter().map(Self::to_value).collect()),
            Self::Obj(m) => Value::Object(m.iter().map(|(k, v)| (k.to_string(), v.to_value())).collect()),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Object members (`None` for other values).
    pub fn members(&self) -> Option<&[(Cow<'a, str>, BVal<'a>)]> {
        match self {
            Self::Obj(m) => Some(m),
            _ => None,
        }
    }

    /// Property lookup: exact name first (last occurrence), then case-insensitive.
    pub fn get_ci(&self, key: &str) -> Option<&BVal<'a>> {
        let m = self.members()?;
        m.iter()
            .rev()
            .find(|(k, _)| k == key)
            .or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|(_, v)| v)
    }

    /// A numeric id given as a JSON number or a numeric string.
    pub fn as_id(&self) -> Option<u64> {
        match self {
            Self::Num(n) => n.as_u64(),
            Self::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Compact JSON, like `serde_json::Value`'s `Display`.
impl fmt::Display for BVal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl Serialize for BVal<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_unit(),
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Num(n) => n.serialize(s),
            Self::Str(v) => s.serialize_str(v),
            Self::Arr(a) => s.collect_seq(a),
            Self::Obj(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

/// A string that borrows from the input when it has no escapes.
struct BStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = BStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BVal<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = BVal<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(BVal::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(BVal::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                BVal::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(BVal::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(BVal::Num(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(BVal::Num(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Number::from_f64(v).map_or(BVal::Null, BVal::Num))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BVal::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BVal::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BVal::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(BVal::Arr(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(BStr(k)) = map.next_key()? {
                    out.push((k, map.next_value()?));
                }
                Ok(BVal::Obj(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// The import body
// ---------------------------------------------------------------------------------------------

/// `PUT/POST /contacts/v3/import` body, borrowing from the request bytes. `C` is
/// [`ContactIn`] to read the contacts, [`ContactShape`] to only check the body's shape.
#[derive(Deserialize)]
pub(crate) struct ImportBody<'a, C> {
    #[serde(default, rename = "mergeOption", borrow)]
    pub merge_option: Option<BStrField<'a>>,
    // A plain `default` would make serde require `C: Default`.
    #[serde(default = "Option::default")]
    pub contacts: Option<Vec<C>>,
}

/// One element of `contacts`, checked and skipped without building its values: an import that
/// runs later is read in full only then. Accepts exactly what [`ContactIn`] accepts (every
/// field any JSON value), and describes itself like it so that schema errors read the same.
#[derive(Deserialize)]
#[serde(expecting = "struct ContactIn")]
pub(crate) struct ContactShape {
    #[serde(default, rename = "matchIdentifier")]
    _match_identifier: CheckedValue,
    #[serde(default, rename = "identifiers")]
    _identifiers: CheckedValue,
    #[serde(default, rename = "dataFields")]
    _data_fields: CheckedValue,
    #[serde(default, rename = "channelProperties")]
    _channel_properties: CheckedValue,
    #[serde(default, rename = "lists")]
    _lists: CheckedValue,
}

/// Any JSON value, read as [`BVal`] reads it (every string decoded, so a bad escape fails here
/// too, which serde's `IgnoredAny` lets through) and dropped.
#[derive(Default)]
struct CheckedValue;

impl<'de> Deserialize<'de> for CheckedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CheckedValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(CheckedValue)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(CheckedValue)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                CheckedValue::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(CheckedValue)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(CheckedValue)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(CheckedValue)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(CheckedValue)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(CheckedValue)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<CheckedValue>()?.is_some() {}
                Ok(CheckedValue)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<CheckedValue, CheckedValue>()?.is_some() {}
                Ok(CheckedValue)
            }
        }
        d.deserialize_any(V)
    }
}

/// A string field of the import body (kept as a string: anything else is a schema error).
pub(crate) struct BStrField<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BStrField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BStr::deserialize(d).map(|s| BStrField(s.0))
    }
}

/// One element of `contacts` (kept loose so bad parts become per-row failures).
#[derive(Deserialize, Serialize)]
pub(crate) struct ContactIn<'a> {
    #[serde(default, rename = "matchIdentifier", borrow, skip_serializing_if = "Option::is_none")]
    pub match_identifier: Option<BVal<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub identifiers: Option<BVal<'a>>,
    #[serde(default, rename = "dataFields", borrow, skip_serializing_if = "Option::is_none")]
    pub data_fields: Option<BVal<'a>>,
    #[serde(
        default,
        rename = "channelProperties",
        borrow,
        skip_serializing_if = "Option::is_none"
    )]
    pub channel_properties: Option<BVal<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub lists: Option<BVal<'a>>,
}

/// The request body of an import that runs later: the received bytes, shared (no copy).
/// Persisted as the `contacts` array (the format of earlier versions).
#[derive(Clone, Debug)]
pub(crate) struct ImportBytes(pub Bytes);

impl ImportBytes {
    /// Parses the stored body again (it was validated when the import was accepted).
    pub fn contacts(&self) -> Vec<ContactIn<'_>> {
        serde_json::from_slice::<ImportBody<'_, ContactIn<'_>>>(&self.0)
            .ok()
            .and_then(|b| b.contacts)
            .unwrap_or_default()
    }
}

impl Serialize for ImportBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.contacts())
    }
}

impl<'de> Deserialize<'de> for ImportBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let contacts = Value::deserialize(d)?;
        let bytes = serde_json::to_vec(&serde_json::json!({ "contacts": contacts })).map_err(de::Error::custom)?;
        Ok(Self(Bytes::from(bytes)))
    }
}

// ---------------------------------------------------------------------------------------------
// The import report
// ---------------------------------------------------------------------------------------------

/// A `(start, len)` slice of [`ContactImportReport::text`]; `len == u32::MAX` = absent.
#[derive(Clone, Copy, Debug)]
struct Span(u32, u32);

impl Span {
    const NONE: Span = Span(0, u32::MAX);
}

/// A created or updated contact: its id and identifiers at the time of the import.
#[derive(Clone, Debug)]
struct Written {
    contact_id: u64,
    email: Span,
    mobile: Span,
}

/// A row that failed (fully, or partially for unknown lists), echoing the row's identifiers.
#[derive(Clone, Debug)]
pub(crate) struct FailedRow {
    pub match_identifier: Value,
    pub identifiers: Value,
    pub failures: Vec<Failure>,
}

/// A finished v3 contact import's report: created/updated rows keep only the contact id and the
/// identifier text (in one shared buffer); JSON is produced when the status is requested.
#[derive(Clone, Debug, Default)]
pub(crate) struct ContactImportReport {
    pub invalid: u64,
    pub duplicates: u64,
    created: Vec<Written>,
    updated: Vec<Written>,
    pub failures: Vec<FailedRow>,
    text: String,
}

impl ContactImportReport {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            created: Vec::with_capacity(rows),
            text: String::with_capacity(rows * 24),
            ..Self::default()
        }
    }

    fn span(&mut self, s: Option<&str>) -> Span {
        match s {
            None => Span::NONE,
            Some(s) => {
                let start = self.text.len() as u32;
                self.text.push_str(s);
                Span(start, s.len() as u32)
            }
        }
    }

    /// Records a written contact.
    pub fn written(&mut self, created: bool, contact_id: u64, email: Option<&str>, mobile: Option<&str>) {
        let w = Written {
            contact_id,
            email: self.span(email),
            mobile: self.span(mobile),
        };
        if created {
            self.created.push(w)
        } else {
            self.updated.push(w)
        }
    }

    fn text(&self, s: Span) -> Option<&str> {
        (s.1 != u32::MAX).then(|| &self.text[s.0 as usize..(s.0 + s.1) as usize])
    }

    /// Writes `summary`, `created`, `updated` and `failures` into a JSON object being built.
    pub fn write_entries<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry(
            "summary",
            &Summary {
                new_contacts: self.created.len(),
                updated_contacts: self.updated.len(),
                globally_suppressed: 0,
                invalid_entries: self.invalid,
                duplicate_identifiers: self.duplicates,
            },
        )?;
        m.serialize_entry("created", &Rows(self, &self.created))?;
        m.serialize_entry("updated", &Rows(self, &self.updated))?;
        m.serialize_entry("failures", &FailedRows(&self.failures))
    }
}

impl Serialize for ContactImportReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        self.write_entries(&mut m)?;
        m.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    new_contacts: usize,
    updated_contacts: usize,
    globally_suppressed: u64,
    invalid_entries: u64,
    duplicate_identifiers: u64,
}

struct Rows<'r>(&'r ContactImportReport, &'r [Written]);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RowOut<'r> {
    contact_id: u64,
    identifiers: IdentsOut<'r>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdentsOut<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mobile_number: Option<&'r str>,
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        s.collect_seq(self.1.iter().map(|w| RowOut {
            contact_id: w.contact_id,
            identifiers: IdentsOut {
                email: r.text(w.email),
                mobile_number: r.text(w.mobile),
            },
        }))
    }
}

struct FailedRows<'r>(&'r [FailedRow]);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FailedOut<'r> {
    match_identifier: &'r Value,
    identifiers: &'r Value,
    failures: &'r [Failure],
}

impl Serialize for FailedRows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|f| FailedOut {
            match_identifier: &f.match_identifier,
            identifiers: &f.identifiers,
            failures: &f.failures,
        }))
    }
}

/// A finished job's result: a typed contact-import report or a JSON value (other job kinds, and
/// every report loaded from a state file). Both persist as the same JSON object.
#[derive(Clone, Debug)]
pub(crate) enum JobResult {
    Json(Value),
    ContactImport(Box<ContactImportReport>),
}

impl JobResult {
    /// The JSON value, for job kinds whose report is kept as JSON.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            Self::Json(v) => Some(v),
            Self::ContactImport(_) => None,
        }
    }

    /// Writes the report's members into a JSON object being built.
    pub fn write_entries<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        match self {
            Self::Json(Value::Object(o)) => {
                for (k, v) in o {
                    m.serialize_entry(k, v)?;
                }
                Ok(())
            }
            Self::Json(_) => Ok(()),
            Self::ContactImport(r) => r.write_entries(m),
        }
    }
}

impl Serialize for JobResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Json(v) => v.serialize(s),
            Self::ContactImport(r) => r.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for JobResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(Self::Json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shape_check_accepts_and_rejects_what_the_full_read_does() {
        let bodies = [
            r#"{"contacts": [{"matchIdentifier": "email", "identifiers": {"email": "a@example.com"}}]}"#,
            r#"{"mergeOption": "overwriteIfEmpty", "contacts": [{}, {"lists": [1, 2], "dataFields": null}]}"#,
            r#"{"contacts": [{"channelProperties": {"email": {"status": "subscribed"}}, "extra": [1]}]}"#,
            r#"{"contacts": []}"#,
            r#"{}"#,
            r#"{"contacts": null}"#,
            r#"{"contacts": [1, 2]}"#,
            r#"{"contacts": ["a"]}"#,
            r#"{"contacts": [["email", {"email": "a@example.com"}]]}"#,
            r#"{"contacts": {"email": "a@example.com"}}"#,
            r#"{"mergeOption": 3, "contacts": [{}]}"#,
            r#"{"contacts": [{"identifiers": {"email": "a@example.com"}}"#,
            r#"{"contacts": [{"identifiers": {"email": "a\u00e9\x"}}]}"#,
            r#"{"contacts": [{"identifiers": {"email": "\ud800"}}]}"#,
            r#"{"contacts": [{"dataFields": {"\ud800": 1}}]}"#,
            r#"{"contacts": [{"unknown": "\ud800"}]}"#,
            r#"{"contacts": [{"dataFields": {"NAME": "\udc00 \ud83d\ude00"}}]}"#,
            r#"{"contacts": [{"dataFields": {"BIG": 123456789012345678901234567890}}]}"#,
            r#"[]"#,
        ];
        for body in bodies {
            let full = serde_json::from_str::<ImportBody<'_, ContactIn<'_>>>(body)
                .map(|b| (b.merge_option.map(|m| m.0), b.contacts.map(|c| c.len())))
                .map_err(|e| e.to_string());
            let shape = serde_json::from_str::<ImportBody<'_, ContactShape>>(body)
                .map(|b| (b.merge_option.map(|m| m.0), b.contacts.map(|c| c.len())))
                .map_err(|e| e.to_string());
            assert_eq!(shape, full, "{body}");
        }
    }

    #[test]
    fn bval_borrows_and_round_trips() {
        let text = r#"{"a": "plain", "b": "esc\"aped", "c": [1, -2, 2.5, true, null], "d": {"x": {}}}"#;
        let v: BVal<'_> = serde_json::from_str(text).unwrap();
        let Some(m) = v.members() else { panic!("object") };
        assert!(matches!(&m[0].1, BVal::Str(Cow::Borrowed("plain"))));
        assert!(matches!(&m[1].1, BVal::Str(Cow::Owned(s)) if s == "esc\"aped"));
        let expected: Value = serde_json::from_str(text).unwrap();
        assert_eq!(v.to_value(), expected);
        assert_eq!(BVal::from_value(&expected).to_value(), expected);
        assert_eq!(v.get_ci("A").and_then(BVal::as_str), Some("plain"));
        assert_eq!(BVal::Str("x\"y".into()).to_string(), json!("x\"y").to_string());
    }

    #[test]
    fn report_serialises_like_the_json_report() {
        let mut r = ContactImportReport::with_capacity(2);
        r.written(true, 7, Some("a@b.com"), None);
        r.written(false, 8, None, Some("447700900123"));
        r.invalid = 1;
        r.failures.push(FailedRow {
            match_identifier: json!("email"),
            identifiers: json!({"email": "bad"}),
            failures: vec![crate::state::failure("InvalidEmail", "no")],
        });
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"summary": {"newContacts": 1, "updatedContacts": 1, "globallySuppressed": 0,
                               "invalidEntries": 1, "duplicateIdentifiers": 0},
                   "created": [{"contactId": 7, "identifiers": {"email": "a@b.com"}}],
                   "updated": [{"contactId": 8, "identifiers": {"mobileNumber": "447700900123"}}],
                   "failures": [{"matchIdentifier": "email", "identifiers": {"email": "bad"},
                                 "failures": [{"failureCode": "InvalidEmail", "description": "no"}]}]})
        );
    }

    #[test]
    fn stored_import_bytes_persist_as_contacts_array() {
        let body = br#"{"mergeOption": "overwrite", "contacts": [{"matchIdentifier": "email", "identifiers": {"email": "a@b.com"}}]}"#;
        let stored = ImportBytes(Bytes::from_static(body));
        let v = serde_json::to_value(&stored).unwrap();
        assert_eq!(
            v,
            json!([{"matchIdentifier": "email", "identifiers": {"email": "a@b.com"}}])
        );
        let back: ImportBytes = serde_json::from_value(v).unwrap();
        assert_eq!(back.contacts().len(), 1);
    }
}
