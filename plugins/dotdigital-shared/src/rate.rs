//! Names of Dotdigital's call-rate tiers and scarce server-side slots (dotdigital-api.md §2), as
//! used in `RequestSpec::rate_class` and `RequestSpec::slot_class`. The host keeps one limiter per
//! account and name, so every plugin must spell them the same way: use these constants.

/// Calls that import or return a lot of data: bulk imports, exports, large pages.
pub const LOW: &str = "low";
/// Lightweight reads: import status polls, list and data-field reads.
pub const MEDIUM: &str = "medium";
/// Single-record calls: get, patch or delete one contact.
pub const HIGH: &str = "high";

/// Message sends (transactional email, SMS): outside the tiers; the API does not limit them
/// per minute (§2), so only a self-imposed quota applies, if any.
pub const UNLIMITED: &str = "unlimited";

/// Program enrolment creation (`POST /v2/programs/enrolments`): its own class because the API
/// allows only [`ENROLMENTS_PER_HOUR`] such calls per account, across all programs (§2).
pub const ENROLMENT: &str = "enrolment";
/// Enrolment calls an account may make per hour (`ERROR_ENROLMENT_ALLOWANCE_EXCEEDED` beyond).
pub const ENROLMENTS_PER_HOUR: u32 = 20;

/// Slot: one active contact import (v2 CSV/JSON bulk or v3 contact import).
pub const CONTACT_IMPORT: &str = "contact-import";
/// How many contact imports an account may have active at once.
pub const CONTACT_IMPORT_LIMIT: u32 = 25;
/// Slot: one active insight data import.
pub const INSIGHT_IMPORT: &str = "insight-import";
/// How many insight imports an account may have active at once.
pub const INSIGHT_IMPORT_LIMIT: u32 = 5;

/// The account-wide limit of a slot class, for hosts configuring their slot pools.
pub fn slot_limit(slot_class: &str) -> Option<u32> {
    match slot_class {
        CONTACT_IMPORT => Some(CONTACT_IMPORT_LIMIT),
        INSIGHT_IMPORT => Some(INSIGHT_IMPORT_LIMIT),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slot_limits() {
        assert_eq!(super::slot_limit(super::CONTACT_IMPORT), Some(25));
        assert_eq!(super::slot_limit(super::INSIGHT_IMPORT), Some(5));
        assert_eq!(super::slot_limit("other"), None);
    }
}
