//! The plugin's configuration (`[sync.config]` in the user's file). Doc comments become the JSON
//! schema's descriptions.
//!
//! One sync sends one kind of message (`action`); that action's settings live in the table of
//! the same name, so a config names only what its action uses.

use dotdigital_shared::ResourceRef;
use dotsync_plugin_sdk::PluginError;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::message::{EmailAddressError, SmsText, parse_from_address};

/// Most contacts in one campaign send call (the API documents no maximum; one call per send
/// date is the fewest, this bounds the memory a run holds).
pub const MAX_SEND_SIZE: u32 = 100_000;

/// Send one message per row, at most once per send key: campaign emails to existing contacts,
/// transactional emails, marketing SMS or transactional SMS.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    example = example_campaign_email(),
    example = example_transactional_email(),
    example = example_sms(),
    example = example_transactional_sms()
)]
pub struct MessagingConfig {
    /// What each row sends: `campaign_email`, `transactional_email`, `sms` (marketing SMS) or
    /// `transactional_sms`. The action's settings go in the table of the same name.
    pub action: Action,

    /// The source column naming each send, e.g. an order id. A key is sent at most once, ever:
    /// later runs skip it even when the rest of its row changed. Null and repeated values are
    /// rejected.
    #[schemars(example = &"order_id")]
    pub send_key_column: String,

    // Optional tables and texts are described as their type, not `anyOf [type, null]`: TOML has
    // no null, and the `anyOf` would hide the table's own errors behind "not valid under any of
    // the schemas".
    /// Settings of `action = "campaign_email"`; only with that action.
    #[serde(default)]
    #[schemars(with = "CampaignEmailConfig")]
    pub campaign_email: Option<CampaignEmailConfig>,

    /// Settings of `action = "transactional_email"`; only with that action.
    #[serde(default)]
    #[schemars(with = "TransactionalEmailConfig")]
    pub transactional_email: Option<TransactionalEmailConfig>,

    /// Settings of `action = "sms"`; only with that action.
    #[serde(default)]
    #[schemars(with = "SmsConfig")]
    pub sms: Option<SmsConfig>,

    /// Settings of `action = "transactional_sms"`; only with that action.
    #[serde(default)]
    #[schemars(with = "TransactionalSmsConfig")]
    pub transactional_sms: Option<TransactionalSmsConfig>,
}

/// The kind of message a sync sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// An existing email campaign, to existing contacts (`POST /v2/campaigns/send`).
    CampaignEmail,
    /// An email whose content the row gives (`POST /v2/email`).
    TransactionalEmail,
    /// A marketing SMS (`POST /v2/sms-messages/send-to/{number}`).
    Sms,
    /// A transactional SMS (`POST /cpaas/messages`).
    TransactionalSms,
}

impl Action {
    /// The name of the action, and of its settings table.
    pub fn name(self) -> &'static str {
        match self {
            Action::CampaignEmail => "campaign_email",
            Action::TransactionalEmail => "transactional_email",
            Action::Sms => "sms",
            Action::TransactionalSms => "transactional_sms",
        }
    }
}

/// A text taken from a source column, or the same fixed text for every row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Text {
    /// The source column holding the text.
    Column(String),
    /// The text itself, for every row.
    Value(String),
}

impl Text {
    pub fn column(&self) -> Option<&str> {
        match self {
            Text::Column(column) => Some(column),
            Text::Value(_) => None,
        }
    }
}

/// Sends an existing email campaign to existing contacts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignEmailConfig {
    /// The campaign: `{ id = 1001 }`, or `{ name = "Spring sale" }` (matched without regard to
    /// case). A campaign that does not exist stops the run before anything is sent.
    #[schemars(example = serde_json::json!({"name": "Spring sale"}))]
    pub campaign: ResourceRef,

    /// The source column holding the contact's email address. The contact must exist in
    /// Dotdigital; otherwise the row is rejected (`ContactNotFound`) and nothing is sent.
    #[schemars(example = &"email")]
    pub email_column: String,

    /// A source column holding when to send (an ISO-8601 date or date-time, UTC unless it has an
    /// offset, or a date/timestamp column). Blank sends at once; a date in the past rejects the
    /// row. Not with `send_time_optimised`.
    #[serde(default)]
    #[schemars(example = &"send_at")]
    pub send_date_column: Option<String>,

    /// Let Dotdigital pick each contact's best send time
    /// (`POST /v2/campaigns/send-time-optimised`) instead of sending at once.
    #[serde(default)]
    pub send_time_optimised: bool,

    /// Most contacts in one send call. Rows with the same send date share a call up to this
    /// size.
    #[serde(default = "default_send_size")]
    #[schemars(range(min = 1, max = 100_000), example = 10_000)]
    pub send_size: u32,
}

/// Sends an email whose addresses and content the row gives.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionalEmailConfig {
    /// The sender, `addr@example.com` or `Name <addr@example.com>`. It must be a from-address
    /// configured in Dotdigital, else Dotdigital substitutes the account's default; left out, the
    /// default is used.
    #[serde(default)]
    #[schemars(with = "Text", example = serde_json::json!({"value": "Demo Shop <shop@demo.example>"}))]
    pub from: Option<Text>,

    /// The source column holding the recipients: text with addresses separated by commas, or a
    /// list of texts. 1 to 100 addresses.
    #[schemars(example = &"email")]
    pub to_column: String,

    /// A source column holding CC addresses (comma-separated text or a list), at most 100. More
    /// rejects the row: addresses are never dropped.
    #[serde(default)]
    pub cc_column: Option<String>,

    /// A source column holding BCC addresses (comma-separated text or a list), at most 100. More
    /// rejects the row: addresses are never dropped.
    #[serde(default)]
    pub bcc_column: Option<String>,

    /// The subject line.
    #[schemars(example = serde_json::json!({"value": "Your receipt"}))]
    pub subject: Text,

    /// The HTML body.
    #[schemars(example = serde_json::json!({"column": "html"}))]
    pub html_content: Text,

    /// The plain-text body, for mail clients that do not show HTML.
    #[serde(default)]
    #[schemars(with = "Text")]
    pub plain_text_content: Option<Text>,
}

/// Sends a marketing SMS.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// The source column holding the mobile number in international E.164 form (`+` optional;
    /// spaces and dashes are removed).
    #[schemars(example = &"mobile")]
    pub to_column: String,

    /// The message text.
    #[schemars(example = serde_json::json!({"column": "message"}))]
    pub message: Text,
}

/// Sends a transactional SMS.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionalSmsConfig {
    /// The source column holding the mobile number in international E.164 form (`+` optional;
    /// spaces and dashes are removed).
    #[schemars(example = &"mobile")]
    pub to_column: String,

    /// The sender name or number shown to the recipient; left out, a random number is used (what
    /// is allowed varies by country).
    #[serde(default)]
    #[schemars(with = "Text", example = serde_json::json!({"value": "DemoShop"}))]
    pub from: Option<Text>,

    /// The message text: at most 160 GSM-7 characters (`€`, `^`, `{`, `}`, `[`, `]`, `~`, `|`,
    /// `\` count as two). With `allow_unicode`, a message with other characters may have up to
    /// 70.
    #[schemars(example = serde_json::json!({"column": "message"}))]
    pub message: Text,

    /// Whether messages may hold characters outside the GSM-7 alphabet (emoji, most non-Latin
    /// scripts). When false (the default) such a message is rejected, not sent.
    #[serde(default)]
    pub allow_unicode: bool,

    /// Whether Dotdigital shortens the links in the message.
    #[serde(default)]
    pub shorten_links: bool,
}

fn default_send_size() -> u32 {
    10_000
}

fn example_campaign_email() -> serde_json::Value {
    serde_json::json!({
        "action": "campaign_email",
        "send_key_column": "order_id",
        "campaign_email": {"campaign": {"name": "Spring sale"}, "email_column": "email", "send_date_column": "send_at"}
    })
}

fn example_transactional_email() -> serde_json::Value {
    serde_json::json!({
        "action": "transactional_email",
        "send_key_column": "order_id",
        "transactional_email": {
            "from": {"value": "Demo Shop <shop@demo.example>"},
            "to_column": "email",
            "subject": {"value": "Your receipt"},
            "html_content": {"column": "html"},
            "plain_text_content": {"column": "text"}
        }
    })
}

fn example_sms() -> serde_json::Value {
    serde_json::json!({
        "action": "sms",
        "send_key_column": "order_id",
        "sms": {"to_column": "mobile", "message": {"column": "message"}}
    })
}

fn example_transactional_sms() -> serde_json::Value {
    serde_json::json!({
        "action": "transactional_sms",
        "send_key_column": "order_id",
        "transactional_sms": {"to_column": "mobile", "from": {"value": "DemoShop"}, "message": {"column": "message"}}
    })
}

/// The settings of the configured action.
#[derive(Debug, Clone, Copy)]
pub enum ActionConfig<'a> {
    CampaignEmail(&'a CampaignEmailConfig),
    TransactionalEmail(&'a TransactionalEmailConfig),
    Sms(&'a SmsConfig),
    TransactionalSms(&'a TransactionalSmsConfig),
}

impl MessagingConfig {
    /// The settings of `action`. Call after [`validate`](Self::validate).
    pub fn action_config(&self) -> Result<ActionConfig<'_>, PluginError> {
        let missing = || {
            PluginError::config(format!(
                "`action = \"{0}\"` needs its settings in the table `{0}` ([sync.config.{0}])",
                self.action.name()
            ))
        };
        Ok(match self.action {
            Action::CampaignEmail => ActionConfig::CampaignEmail(self.campaign_email.as_ref().ok_or_else(missing)?),
            Action::TransactionalEmail => {
                ActionConfig::TransactionalEmail(self.transactional_email.as_ref().ok_or_else(missing)?)
            }
            Action::Sms => ActionConfig::Sms(self.sms.as_ref().ok_or_else(missing)?),
            Action::TransactionalSms => {
                ActionConfig::TransactionalSms(self.transactional_sms.as_ref().ok_or_else(missing)?)
            }
        })
    }

    /// Checks what the schema cannot.
    pub fn validate(&self) -> Result<(), PluginError> {
        check_column("send_key_column", &self.send_key_column)?;
        let present = [
            (Action::CampaignEmail, self.campaign_email.is_some()),
            (Action::TransactionalEmail, self.transactional_email.is_some()),
            (Action::Sms, self.sms.is_some()),
            (Action::TransactionalSms, self.transactional_sms.is_some()),
        ];
        if let Some((other, _)) = present.iter().find(|(action, set)| *set && *action != self.action) {
            return Err(PluginError::config(format!(
                "the table `{}` is set but `action` is \"{}\"; a sync sends one kind of message, so only `{}` may be set",
                other.name(),
                self.action.name(),
                self.action.name()
            )));
        }
        match self.action_config()? {
            ActionConfig::CampaignEmail(config) => config.validate(),
            ActionConfig::TransactionalEmail(config) => config.validate(),
            ActionConfig::Sms(config) => {
                check_column("sms.to_column", &config.to_column)?;
                check_text("sms.message", &config.message)
            }
            ActionConfig::TransactionalSms(config) => config.validate(),
        }
    }
}

impl CampaignEmailConfig {
    fn validate(&self) -> Result<(), PluginError> {
        match &self.campaign {
            ResourceRef::Id(0) => {
                return Err(PluginError::config(
                    "`campaign_email.campaign.id` must be a positive campaign id",
                ));
            }
            ResourceRef::Name(name) if name.trim().is_empty() => {
                return Err(PluginError::config("`campaign_email.campaign.name` must not be empty"));
            }
            _ => {}
        }
        check_column("campaign_email.email_column", &self.email_column)?;
        if let Some(column) = &self.send_date_column {
            check_column("campaign_email.send_date_column", column)?;
            if self.send_time_optimised {
                return Err(PluginError::config(
                    "`campaign_email.send_date_column` cannot be used with `send_time_optimised = true`: \
                     Dotdigital picks the send time of a send-time optimised campaign",
                ));
            }
        }
        if self.send_size == 0 || self.send_size > MAX_SEND_SIZE {
            return Err(PluginError::config(format!(
                "`campaign_email.send_size` is {}; it must be between 1 and {MAX_SEND_SIZE}",
                self.send_size
            )));
        }
        Ok(())
    }
}

impl TransactionalEmailConfig {
    fn validate(&self) -> Result<(), PluginError> {
        if let Some(from) = &self.from {
            check_text("transactional_email.from", from)?;
            if let Text::Value(address) = from {
                parse_from_address(address).map_err(|error: EmailAddressError| {
                    PluginError::config(format!("`transactional_email.from.value` {error}"))
                })?;
            }
        }
        check_column("transactional_email.to_column", &self.to_column)?;
        if let Some(column) = &self.cc_column {
            check_column("transactional_email.cc_column", column)?;
        }
        if let Some(column) = &self.bcc_column {
            check_column("transactional_email.bcc_column", column)?;
        }
        check_text("transactional_email.subject", &self.subject)?;
        check_text("transactional_email.html_content", &self.html_content)?;
        if let Some(text) = &self.plain_text_content {
            check_text("transactional_email.plain_text_content", text)?;
        }
        Ok(())
    }
}

impl TransactionalSmsConfig {
    fn validate(&self) -> Result<(), PluginError> {
        check_column("transactional_sms.to_column", &self.to_column)?;
        if let Some(from) = &self.from {
            check_text("transactional_sms.from", from)?;
        }
        check_text("transactional_sms.message", &self.message)?;
        // A fixed message that can never be sent is a config error, not one rejection per row.
        if let Text::Value(message) = &self.message {
            SmsText::check(message, self.allow_unicode)
                .map_err(|error| PluginError::config(format!("`transactional_sms.message.value` {error}")))?;
        }
        Ok(())
    }
}

fn check_column(field: &str, column: &str) -> Result<(), PluginError> {
    if column.trim().is_empty() {
        return Err(PluginError::config(format!("`{field}` must name a source column")));
    }
    Ok(())
}

fn check_text(field: &str, text: &Text) -> Result<(), PluginError> {
    match text {
        Text::Column(column) => check_column(&format!("{field}.column"), column),
        Text::Value(value) if value.trim().is_empty() => {
            Err(PluginError::config(format!("`{field}.value` must not be empty")))
        }
        Text::Value(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> MessagingConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_action_needs_its_table_and_no_other() {
        let config = parse(serde_json::json!({"action": "sms", "send_key_column": "id"}));
        let error = config.validate().unwrap_err();
        assert!(
            error.message.contains("needs its settings in the table `sms`"),
            "{}",
            error.message
        );
        let config = parse(serde_json::json!({
            "action": "sms", "send_key_column": "id",
            "sms": {"to_column": "mobile", "message": {"value": "Hi"}},
            "transactional_sms": {"to_column": "mobile", "message": {"value": "Hi"}}
        }));
        let error = config.validate().unwrap_err();
        assert!(
            error.message.contains("the table `transactional_sms` is set"),
            "{}",
            error.message
        );
    }

    #[test]
    fn campaign_checks() {
        let config = parse(serde_json::json!({
            "action": "campaign_email", "send_key_column": "id",
            "campaign_email": {"campaign": {"id": 1}, "email_column": "email", "send_date_column": "at", "send_time_optimised": true}
        }));
        assert!(config.validate().unwrap_err().message.contains("send_time_optimised"));
        let config = parse(serde_json::json!({
            "action": "campaign_email", "send_key_column": "id",
            "campaign_email": {"campaign": {"id": 1}, "email_column": "email"}
        }));
        assert!(config.validate().is_ok());
        assert_eq!(config.campaign_email.unwrap().send_size, 10_000);
    }

    #[test]
    fn fixed_values_are_checked_up_front() {
        let config = parse(serde_json::json!({
            "action": "transactional_email", "send_key_column": "id",
            "transactional_email": {"from": {"value": "Shop <not-an-address>"}, "to_column": "to",
                                    "subject": {"value": "Hi"}, "html_content": {"value": "<p>Hi</p>"}}
        }));
        let error = config.validate().unwrap_err();
        assert!(
            error.message.starts_with("`transactional_email.from.value`"),
            "{}",
            error.message
        );
        let config = parse(serde_json::json!({
            "action": "transactional_sms", "send_key_column": "id",
            "transactional_sms": {"to_column": "to", "message": {"value": "Grüße 😀"}}
        }));
        let error = config.validate().unwrap_err();
        assert!(error.message.contains("`😀`"), "{}", error.message);
    }
}
