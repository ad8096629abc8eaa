//! Sync fingerprints: what defines the meaning of a sync's row hashes, and how to explain a
//! change of it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow_schema::{DataType, Schema};
use serde::{Deserialize, Serialize};

use crate::hasher::stable_type_name;

/// The inputs that define a sync's row hashes: plugin, plugin config, mapped columns.
///
/// [`Fingerprint::text`] is what [`crate::StateStore::sync`] takes. Config values are never
/// stored, only an xxh3 hash of each top-level field, so the text can say *which* field changed
/// without holding its value. Still, leave secret fields out: a hash of a short password can be
/// guessed, and changing a credential should not force every row to be resent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Format version of this JSON.
    pub v: u32,
    /// Plugin name (and version, if the host wants a plugin upgrade to resend everything).
    pub plugin: String,
    /// Top-level config field -> hex xxh3 of its canonical JSON value.
    pub config: BTreeMap<String, String>,
    /// Mapped columns in order: `[name, type]`.
    pub columns: Vec<(String, String)>,
}

impl Fingerprint {
    /// A fingerprint for `plugin`, with no config and no columns yet.
    pub fn new(plugin: &str) -> Fingerprint {
        Fingerprint {
            v: 1,
            plugin: plugin.to_owned(),
            ..Fingerprint::default()
        }
    }

    /// Sets the config. An object contributes one hash per top-level field; any other value
    /// one hash under the name `""`. Key order in the user's file does not matter.
    pub fn config(mut self, config: &serde_json::Value) -> Fingerprint {
        self.config.clear();
        match config {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    self.config.insert(k.clone(), value_hash(v));
                }
            }
            other => {
                self.config.insert(String::new(), value_hash(other));
            }
        }
        self
    }

    /// Appends a mapped column.
    pub fn column(mut self, name: &str, data_type: &DataType) -> Fingerprint {
        self.columns.push((name.to_owned(), stable_type_name(data_type)));
        self
    }

    /// Appends every field of `schema`, in order.
    pub fn schema(mut self, schema: &Schema) -> Fingerprint {
        for f in schema.fields() {
            self = self.column(f.name(), f.data_type());
        }
        self
    }

    /// The canonical JSON text to give to [`crate::StateStore::sync`].
    pub fn text(&self) -> String {
        serde_json::to_string(self).expect("fingerprint serializes")
    }
}

fn value_hash(v: &serde_json::Value) -> String {
    let mut canonical = String::new();
    canonical_json(v, &mut canonical);
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(canonical.as_bytes()))
}

/// JSON with object keys sorted, whatever serde_json's map order is.
fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Explains in words how the fingerprint `new` differs from `old`. Both are normally
/// [`Fingerprint::text`]; any other text gets a generic explanation that does not quote it.
pub fn explain_drift(old: &str, new: &str) -> String {
    let (Ok(old), Ok(new)) = (
        serde_json::from_str::<Fingerprint>(old),
        serde_json::from_str::<Fingerprint>(new),
    ) else {
        return "the sync's definition changed since the last run; every row counts as changed".to_owned();
    };
    let mut parts: Vec<String> = Vec::new();
    if old.plugin != new.plugin {
        parts.push(format!("plugin changed from `{}` to `{}`", old.plugin, new.plugin));
    }
    for (k, v) in &new.config {
        match old.config.get(k) {
            None if k.is_empty() => parts.push("config changed".to_owned()),
            None => parts.push(format!("config field `{k}` added")),
            Some(o) if o != v && k.is_empty() => parts.push("config changed".to_owned()),
            Some(o) if o != v => parts.push(format!("config field `{k}` changed")),
            Some(_) => {}
        }
    }
    for k in old.config.keys() {
        if !new.config.contains_key(k) {
            if k.is_empty() {
                parts.push("config changed".to_owned());
            } else {
                parts.push(format!("config field `{k}` removed"));
            }
        }
    }
    let old_types: BTreeMap<&str, &str> = old.columns.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let new_types: BTreeMap<&str, &str> = new.columns.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    for (name, ty) in &new.columns {
        match old_types.get(name.as_str()) {
            None => parts.push(format!("column `{name}` added ({ty})")),
            Some(old_ty) if old_ty != ty => parts.push(format!("column `{name}` changed type from {old_ty} to {ty}")),
            Some(_) => {}
        }
    }
    for (name, _) in &old.columns {
        if !new_types.contains_key(name.as_str()) {
            parts.push(format!("column `{name}` removed"));
        }
    }
    if parts.is_empty() {
        let old_names: Vec<&str> = old.columns.iter().map(|(n, _)| n.as_str()).collect();
        let new_names: Vec<&str> = new.columns.iter().map(|(n, _)| n.as_str()).collect();
        if old_names != new_names {
            parts.push("column order changed".to_owned());
        } else {
            parts.push("the sync's definition changed".to_owned());
        }
    }
    let mut text = String::from("mapping changed since the last run: ");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        let _ = write!(text, "{p}");
    }
    text.push_str("; every row counts as changed");
    text
}
