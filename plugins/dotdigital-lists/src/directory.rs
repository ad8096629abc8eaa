//! What the planner knows about contacts in Dotdigital, read page by page from `GET
//! /contacts/v3` before any row is planned: the list's current members (email → contact id, for
//! removals and to skip contacts already in the list) and, when contacts must not be created, the
//! emails of every contact in the account.

use dotdigital_shared::contact_page::{ContactPage, page_path};
use dotdigital_shared::{IdentifierKind, PrehashedMap, PrehashedSet};
use xxhash_rust::xxh3::xxh3_64;

pub type EmailMap<V> = PrehashedMap<V>;
pub type EmailSet = PrehashedSet;

/// The hash an email is known by: of its match form (trimmed, lower-cased), so `Ann@X.com` and
/// `ann@x.com` are one contact, as in Dotdigital.
pub fn email_hash(email: &str) -> u64 {
    let mut form = String::with_capacity(email.len());
    IdentifierKind::Email.match_form_into(email.trim(), &mut form);
    xxh3_64(form.as_bytes())
}

/// A list member: its contact id, and whether a source row named it this run.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub contact_id: u64,
    pub seen: bool,
}

/// A walk over the pages of a contact listing, collecting what it finds.
#[derive(Debug)]
pub struct ContactWalk {
    list: Option<u64>,
    marker: Option<String>,
    pub found: EmailMap<u64>,
}

impl ContactWalk {
    /// Every contact of the account (`list` = None) or of one list.
    pub fn new(list: Option<u64>) -> Self {
        ContactWalk {
            list,
            marker: None,
            found: EmailMap::default(),
        }
    }

    pub fn next_path(&self) -> String {
        page_path(self.list, self.marker.as_deref())
    }

    /// Takes in one page; returns whether another page follows.
    pub fn read_page(&mut self, body: &[u8]) -> Result<bool, serde_json::Error> {
        let page = ContactPage::parse(body)?;
        for (contact_id, email) in page.contacts(IdentifierKind::Email) {
            self.found.insert(email_hash(&email), contact_id);
        }
        self.marker = page.next_marker(self.marker.as_deref());
        Ok(self.marker.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_pages_and_matches_emails_without_case() {
        let mut walk = ContactWalk::new(Some(3));
        assert_eq!(walk.next_path(), "/contacts/v3?limit=5000&~listId=3");
        let more = walk
            .read_page(br#"{"_items":[{"contactId":10,"identifiers":{"email":"Ann@Example.com"}}],"_links":{"next":{"marker":"10"}}}"#)
            .unwrap();
        assert!(more);
        assert_eq!(walk.next_path(), "/contacts/v3?limit=5000&~listId=3&marker=10");
        assert!(!walk.read_page(br#"{"_items":[],"_links":{}}"#).unwrap());
        assert_eq!(walk.found.get(&email_hash(" ann@example.COM")), Some(&10));
    }
}
