//! Finding a v2 resource that a config names by id or by name — a list (`/v2/address-books`) or
//! a program (`/v2/programs`) — with the reads the API offers (dotdigital-api.md §5, §8, §12): one
//! `GET {collection}/{id}`, or pages of `GET {collection}?select=1000&skip=N` until the name turns
//! up or a short page ends the walk. Names match without regard to case (the API refuses a second
//! list whose name differs only in case).

use dotsync_plugin_sdk::{PluginError, ResponseView};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::ApiError;
use crate::contact_page::number;
use crate::planning::refused;

/// Items per v2 page (the documented default and maximum of `select`).
pub const V2_PAGE_SIZE: usize = 1000;

/// How a config names a list or a program.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ResourceRef {
    /// Its numeric id, as shown in Dotdigital.
    Id(u64),
    /// Its name (matched without regard to case).
    Name(String),
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResourceRef::Id(id) => write!(f, "id {id}"),
            ResourceRef::Name(name) => write!(f, "name `{name}`"),
        }
    }
}

/// A list or program as the v2 API describes it (the fields dotsync reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedResource {
    pub id: u64,
    pub name: String,
    /// Programs: `Active`, `Draft`, `Deactivated`, `ReadOnly`. Lists have none.
    pub status: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(alias = "Id", alias = "ID")]
    id: Option<serde_json::Value>,
    #[serde(default, alias = "Name")]
    name: Option<String>,
    #[serde(default, alias = "Status")]
    status: Option<String>,
}

impl Item {
    fn resource(self) -> Option<NamedResource> {
        Some(NamedResource {
            id: number(self.id.as_ref()?)?,
            name: self.name.unwrap_or_default(),
            status: self.status,
        })
    }
}

/// What one answer of a lookup says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupStep {
    Found(NamedResource),
    /// Not on this page; ask [`NamedLookup::path`] again for the next one.
    NextPage,
    Missing,
}

/// The reads that find one named resource.
#[derive(Debug, Clone)]
pub struct NamedLookup {
    collection: &'static str,
    target: ResourceRef,
    skip: usize,
}

impl NamedLookup {
    /// `collection` is the v2 path of the resource's listing, e.g. `/v2/programs`.
    pub fn new(collection: &'static str, target: ResourceRef) -> Self {
        NamedLookup {
            collection,
            target,
            skip: 0,
        }
    }

    pub fn target(&self) -> &ResourceRef {
        &self.target
    }

    /// The path of the next read.
    pub fn path(&self) -> String {
        match &self.target {
            ResourceRef::Id(id) => format!("{}/{id}", self.collection),
            ResourceRef::Name(_) => format!("{}?select={V2_PAGE_SIZE}&skip={}", self.collection, self.skip),
        }
    }

    /// Reads any answer to the read of `what` (e.g. "the program lookup"): 401/403 is the
    /// authentication error that stops the run, 404 means [`LookupStep::Missing`], another error
    /// status or an unreadable body is a fatal error naming `what`.
    pub fn on_answer(&mut self, response: &ResponseView<'_>, what: &str) -> Result<LookupStep, PluginError> {
        if let Some(error) = refused(response, what) {
            return Err(error);
        }
        if response.status == 404 {
            return Ok(LookupStep::Missing);
        }
        if !response.is_success() {
            let error = ApiError::from_response(response.status, response.body);
            return Err(PluginError::fatal(format!("{what} failed: {error}")));
        }
        self.on_success(response.body)
            .map_err(|error| PluginError::fatal(format!("{what} answered invalid JSON: {error}")))
    }

    /// Reads a successful answer (a 404 to a lookup by id means [`LookupStep::Missing`]; the
    /// caller sees the status first).
    pub fn on_success(&mut self, body: &[u8]) -> Result<LookupStep, serde_json::Error> {
        match &self.target {
            ResourceRef::Id(id) => {
                let item: Item = serde_json::from_slice(body)?;
                Ok(match item.resource() {
                    Some(found) if found.id == *id => LookupStep::Found(found),
                    _ => LookupStep::Missing,
                })
            }
            ResourceRef::Name(name) => {
                let items: Vec<Item> = serde_json::from_slice(body)?;
                let count = items.len();
                let wanted = name.trim();
                let found = items
                    .into_iter()
                    .filter_map(Item::resource)
                    .find(|item| item.name.trim().eq_ignore_ascii_case(wanted));
                Ok(match found {
                    Some(found) => LookupStep::Found(found),
                    None if count >= V2_PAGE_SIZE => {
                        self.skip += count;
                        LookupStep::NextPage
                    }
                    None => LookupStep::Missing,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_id_is_one_read() {
        let mut lookup = NamedLookup::new("/v2/programs", ResourceRef::Id(77));
        assert_eq!(lookup.path(), "/v2/programs/77");
        let step = lookup
            .on_success(br#"{"id":77,"name":"Welcome","status":"Active"}"#)
            .unwrap();
        assert_eq!(
            step,
            LookupStep::Found(NamedResource {
                id: 77,
                name: "Welcome".into(),
                status: Some("Active".into())
            })
        );
    }

    #[test]
    fn by_name_pages_until_found_or_a_short_page() {
        let mut lookup = NamedLookup::new("/v2/address-books", ResourceRef::Name("vip ".into()));
        assert_eq!(lookup.path(), "/v2/address-books?select=1000&skip=0");
        let full: Vec<serde_json::Value> = (1..=1000)
            .map(|id| serde_json::json!({"id": id, "name": format!("list {id}")}))
            .collect();
        let body = serde_json::to_vec(&full).unwrap();
        assert_eq!(lookup.on_success(&body).unwrap(), LookupStep::NextPage);
        assert_eq!(lookup.path(), "/v2/address-books?select=1000&skip=1000");
        let step = lookup.on_success(br#"[{"id":"1001","name":"VIP"}]"#).unwrap();
        assert!(matches!(step, LookupStep::Found(NamedResource { id: 1001, .. })));
        let mut missing = NamedLookup::new("/v2/address-books", ResourceRef::Name("none".into()));
        assert_eq!(missing.on_success(b"[]").unwrap(), LookupStep::Missing);
    }
}
