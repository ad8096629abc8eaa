//! Paging through contacts with `GET /contacts/v3?limit&marker[&~listId]` (dotdigital-api.md §4,
//! §12): the path of each page, and what a page says — each contact's id and identifiers, and the
//! marker of the next page.

use std::collections::HashMap;

use serde::Deserialize;

use crate::identifier::{IdentifierKind, encode_query_component};

/// Contacts per page: the v3 maximum.
pub const PAGE_LIMIT: usize = 5000;

/// The path of one page of contacts, of the whole account or only of the members of `list`.
pub fn page_path(list: Option<u64>, marker: Option<&str>) -> String {
    let mut path = format!("/contacts/v3?limit={PAGE_LIMIT}");
    if let Some(list) = list {
        path.push_str(&format!("&~listId={list}"));
    }
    if let Some(marker) = marker {
        path.push_str("&marker=");
        path.push_str(&encode_query_component(marker));
    }
    path
}

/// One page of a contact listing.
#[derive(Debug, Deserialize)]
pub struct ContactPage {
    #[serde(rename = "_items", default)]
    items: Vec<ListedContact>,
    #[serde(rename = "_links", default)]
    links: Option<PageLinks>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedContact {
    contact_id: Option<serde_json::Value>,
    #[serde(default)]
    identifiers: HashMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct PageLinks {
    next: Option<PageLink>,
}

#[derive(Debug, Deserialize)]
struct PageLink {
    marker: Option<String>,
}

impl ContactPage {
    pub fn parse(body: &[u8]) -> Result<ContactPage, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// Each contact's id and its identifier of `kind` (as the API wrote it), when it has both.
    pub fn contacts(&self, kind: IdentifierKind) -> impl Iterator<Item = (u64, String)> + '_ {
        self.items.iter().filter_map(move |item| {
            let id = item.contact_id.as_ref().and_then(number)?;
            let value = match kind {
                IdentifierKind::ContactId => id.to_string(),
                other => scalar_text(item.identifiers.get(other.api_name())?)?,
            };
            Some((id, value))
        })
    }

    /// The marker of the next page; `None` on the last page. A page that names itself as next,
    /// or an empty page, ends the walk too, so a misbehaving server cannot loop it forever.
    pub fn next_marker(&self, current: Option<&str>) -> Option<String> {
        if self.items.is_empty() {
            return None;
        }
        self.links
            .as_ref()?
            .next
            .as_ref()?
            .marker
            .clone()
            .filter(|next| !next.is_empty() && Some(next.as_str()) != current)
    }
}

/// A JSON number or numeric string as a positive integer id.
pub fn number(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(number) => number.as_u64(),
        serde_json::Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

/// A JSON string or number as text.
pub fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(page_path(None, None), "/contacts/v3?limit=5000");
        assert_eq!(
            page_path(Some(7), Some("a+b")),
            "/contacts/v3?limit=5000&~listId=7&marker=a%2Bb"
        );
    }

    #[test]
    fn reads_ids_identifiers_and_the_next_marker() {
        let page = ContactPage::parse(
            br#"{"_items":[{"contactId":5,"identifiers":{"email":"a@x.com","mobileNumber":"447700900123"}},
                           {"contactId":"6","identifiers":{"email":"b@x.com"}}, {"identifiers":{"email":"c@x.com"}}],
                 "_links":{"self":{"marker":"m1"},"next":{"link":"...","marker":"m2"}}}"#,
        )
        .unwrap();
        let emails: Vec<(u64, String)> = page.contacts(IdentifierKind::Email).collect();
        assert_eq!(emails, vec![(5, "a@x.com".into()), (6, "b@x.com".into())]);
        let mobiles: Vec<(u64, String)> = page.contacts(IdentifierKind::MobileNumber).collect();
        assert_eq!(mobiles, vec![(5, "447700900123".into())]);
        assert_eq!(page.next_marker(Some("m1")), Some("m2".into()));
        assert_eq!(page.next_marker(Some("m2")), None, "a page naming itself ends the walk");
        let last = ContactPage::parse(br#"{"_items":[],"_links":{"next":{"marker":"m3"}}}"#).unwrap();
        assert_eq!(last.next_marker(None), None);
    }
}
