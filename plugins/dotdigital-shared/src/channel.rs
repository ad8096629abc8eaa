//! The request enums of contact channel properties (dotdigital-api.md §4): accepted in any case,
//! written in the API's request spelling.

use std::fmt;

/// One enumerated contact property that a request may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelEnum {
    /// `channelProperties.email.status`.
    EmailStatus,
    /// `channelProperties.email.optInType`.
    EmailOptInType,
    /// `channelProperties.email.emailType`.
    EmailType,
    /// `channelProperties.sms.status`.
    SmsStatus,
}

impl ChannelEnum {
    /// The values a request may carry, in the API's spelling.
    pub fn values(self) -> &'static [&'static str] {
        match self {
            ChannelEnum::EmailStatus => &["subscribed", "unsubscribed", "suppressed"],
            ChannelEnum::EmailOptInType => &["unknown", "single", "double", "verifiedDouble"],
            ChannelEnum::EmailType => &["html", "plainText"],
            ChannelEnum::SmsStatus => &["noSubscription", "subscribed", "unsubscribed", "suppressed"],
        }
    }

    /// The channel (`email` or `sms`) and the property name inside it.
    pub fn json_path(self) -> (&'static str, &'static str) {
        match self {
            ChannelEnum::EmailStatus => ("email", "status"),
            ChannelEnum::EmailOptInType => ("email", "optInType"),
            ChannelEnum::EmailType => ("email", "emailType"),
            ChannelEnum::SmsStatus => ("sms", "status"),
        }
    }

    /// The API spelling of `text`, compared without regard to case or surrounding whitespace.
    pub fn parse(self, text: &str) -> Option<&'static str> {
        // Most sources already spell the values as the API does.
        if let Some(exact) = self.values().iter().copied().find(|value| *value == text) {
            return Some(exact);
        }
        let text = text.trim();
        self.values()
            .iter()
            .copied()
            .find(|value| value.eq_ignore_ascii_case(text))
    }

    /// Like [`parse`](Self::parse), with the reason when the value is not allowed.
    pub fn parse_or_reason(self, text: &str) -> Result<&'static str, String> {
        self.parse(text).ok_or_else(|| {
            format!(
                "`{}` is not a valid {self}; expected one of: {}",
                crate::error::shorten(text, 60),
                self.values().join(", ")
            )
        })
    }
}

impl fmt::Display for ChannelEnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (channel, property) = self.json_path();
        write!(f, "{channel} {property}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case_into_api_spelling() {
        assert_eq!(ChannelEnum::EmailStatus.parse(" Subscribed "), Some("subscribed"));
        assert_eq!(
            ChannelEnum::EmailOptInType.parse("VERIFIEDDOUBLE"),
            Some("verifiedDouble")
        );
        assert_eq!(ChannelEnum::EmailType.parse("plaintext"), Some("plainText"));
        assert_eq!(ChannelEnum::SmsStatus.parse("nosubscription"), Some("noSubscription"));
        assert_eq!(
            ChannelEnum::EmailStatus.parse_or_reason("gone"),
            Err("`gone` is not a valid email status; expected one of: subscribed, unsubscribed, suppressed".into())
        );
    }
}
