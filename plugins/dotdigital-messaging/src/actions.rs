//! Per action: which columns a row is read from, and what one row becomes — a contact to look up
//! before a campaign send, or the request that sends its message — or why it cannot be sent.

use arrow_array::{Array, RecordBatch, StringArray};
use dotdigital_shared::IdentifierKind;
use dotdigital_shared::identifier::encode_path_segment;
use dotdigital_shared::planning::text_column;
use dotsync_plugin_sdk::PluginError;

use crate::columns::{AddressColumn, DateColumn, SendDate, TextInput};
use crate::config::{ActionConfig, TransactionalSmsConfig};
use crate::message::{RowError, SmsText, check_recipients, normalize_phone, parse_from_address};
use crate::outcome_codes;

/// What one row becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// A campaign recipient: its contact id is looked up, then it joins a send.
    Contact { email: String, date: Option<SendDate> },
    /// A message of its own: `POST path` with this JSON body.
    Message { path: String, body: Vec<u8> },
}

/// The columns of one batch that the configured action reads.
pub enum BatchInputs<'a> {
    CampaignEmail {
        emails: StringArray,
        email_column: &'a str,
        dates: Option<DateColumn>,
    },
    TransactionalEmail(Box<EmailInputs>),
    Sms {
        to: StringArray,
        to_column: &'a str,
        message: TextInput,
    },
    TransactionalSms {
        config: &'a TransactionalSmsConfig,
        to: StringArray,
        from: Option<TextInput>,
        message: TextInput,
    },
}

/// The columns of a transactional email.
pub struct EmailInputs {
    from: Option<TextInput>,
    to: AddressColumn,
    cc: Option<AddressColumn>,
    bcc: Option<AddressColumn>,
    subject: TextInput,
    html: TextInput,
    plain_text: Option<TextInput>,
}

impl<'a> BatchInputs<'a> {
    pub fn read(action: ActionConfig<'a>, batch: &RecordBatch) -> Result<Self, PluginError> {
        let text = |setting| TextInput::read(setting, batch);
        Ok(match action {
            ActionConfig::CampaignEmail(config) => BatchInputs::CampaignEmail {
                emails: text_column(batch, &config.email_column)?,
                email_column: &config.email_column,
                dates: match &config.send_date_column {
                    Some(column) => Some(DateColumn::read(batch, column)?),
                    None => None,
                },
            },
            ActionConfig::TransactionalEmail(config) => {
                let addresses = |column: &Option<String>| {
                    column
                        .as_deref()
                        .map(|name| AddressColumn::read(batch, name))
                        .transpose()
                };
                BatchInputs::TransactionalEmail(Box::new(EmailInputs {
                    from: config.from.as_ref().map(text).transpose()?,
                    to: AddressColumn::read(batch, &config.to_column)?,
                    cc: addresses(&config.cc_column)?,
                    bcc: addresses(&config.bcc_column)?,
                    subject: text(&config.subject)?,
                    html: text(&config.html_content)?,
                    plain_text: config.plain_text_content.as_ref().map(text).transpose()?,
                }))
            }
            ActionConfig::Sms(config) => BatchInputs::Sms {
                to: text_column(batch, &config.to_column)?,
                to_column: &config.to_column,
                message: text(&config.message)?,
            },
            ActionConfig::TransactionalSms(config) => BatchInputs::TransactionalSms {
                config,
                to: text_column(batch, &config.to_column)?,
                from: config.from.as_ref().map(text).transpose()?,
                message: text(&config.message)?,
            },
        })
    }

    /// What `row` becomes. `wall_now_ms` is the destination's clock (milliseconds since the
    /// epoch), against which send dates are checked; it is known whenever dates are read.
    pub fn plan(&self, row: usize, wall_now_ms: Option<i64>) -> Result<Planned, RowError> {
        match self {
            BatchInputs::CampaignEmail {
                emails,
                email_column,
                dates,
            } => {
                let raw = required_column(emails, row, email_column, "email address")?;
                let mut email = String::new();
                IdentifierKind::Email
                    .normalize_into(raw, &mut email)
                    .map_err(|invalid| {
                        RowError::new(
                            invalid.code,
                            format!("email `{}` {invalid}", dotdigital_shared::error::shorten(raw, 80)),
                        )
                    })?;
                let date = match dates {
                    Some(dates) => send_date(dates, row, wall_now_ms)?,
                    None => None,
                };
                Ok(Planned::Contact { email, date })
            }
            BatchInputs::TransactionalEmail(email) => {
                let EmailInputs {
                    from,
                    to,
                    cc,
                    bcc,
                    subject,
                    html,
                    plain_text,
                } = email.as_ref();
                let to_addresses = check_recipients("to", to.addresses(row))?;
                if to_addresses.is_empty() {
                    return Err(RowError::new(
                        outcome_codes::MISSING_VALUE,
                        "has no to address: an email needs at least one recipient",
                    ));
                }
                let recipients = |column: &Option<AddressColumn>, role| match column {
                    Some(column) => check_recipients(role, column.addresses(row)),
                    None => Ok(Vec::new()),
                };
                let cc_addresses = recipients(cc, "CC")?;
                let bcc_addresses = recipients(bcc, "BCC")?;
                let mut body = serde_json::json!({
                    "toAddresses": to_addresses,
                    "ccAddresses": cc_addresses,
                    "bccAddresses": bcc_addresses,
                    "subject": required(subject, row, "subject")?,
                    "htmlContent": required(html, row, "HTML content")?,
                });
                if let Some(from) = from.as_ref().and_then(|from| from.get(row)) {
                    let address = parse_from_address(from).map_err(|error| {
                        RowError::new(outcome_codes::INVALID_EMAIL, format!("from address {error}"))
                    })?;
                    body["fromAddress"] = address.into();
                }
                if let Some(text) = plain_text.as_ref().and_then(|text| text.get(row)) {
                    body["plainTextContent"] = text.into();
                }
                Ok(Planned::Message {
                    path: "/v2/email".to_owned(),
                    body: body.to_string().into_bytes(),
                })
            }
            BatchInputs::Sms { to, to_column, message } => {
                let number = phone_number(to, row, to_column)?;
                let body = serde_json::json!({"message": required(message, row, "message")?});
                Ok(Planned::Message {
                    path: format!("/v2/sms-messages/send-to/{}", encode_path_segment(&number)),
                    body: body.to_string().into_bytes(),
                })
            }
            BatchInputs::TransactionalSms {
                config,
                to,
                from,
                message,
            } => {
                let number = phone_number(to, row, &config.to_column)?;
                let text = required(message, row, "message")?;
                SmsText::check(text, config.allow_unicode)
                    .map_err(|error| RowError::new(error.code(), format!("the message {error}")))?;
                let mut sms_options = serde_json::json!({"allowUnicode": config.allow_unicode});
                if let Some(from) = from.as_ref().and_then(|from| from.get(row)) {
                    sms_options["from"] = from.trim().into();
                }
                let body = serde_json::json!({
                    "to": {"phoneNumber": number},
                    "body": text,
                    "rules": ["sms"],
                    "channelOptions": {"sms": sms_options},
                    "shortenLinks": if config.shorten_links { "on" } else { "off" },
                });
                Ok(Planned::Message {
                    path: "/cpaas/messages".to_owned(),
                    body: body.to_string().into_bytes(),
                })
            }
        }
    }
}

fn required_column<'v>(values: &'v StringArray, row: usize, column: &str, what: &str) -> Result<&'v str, RowError> {
    let value = (!values.is_null(row))
        .then(|| values.value(row))
        .filter(|value| !value.trim().is_empty());
    value.ok_or_else(|| {
        RowError::new(
            outcome_codes::MISSING_VALUE,
            format!("the {what} is empty (column `{column}`)"),
        )
    })
}

fn required<'v>(text: &'v TextInput, row: usize, what: &str) -> Result<&'v str, RowError> {
    text.get(row).ok_or_else(|| {
        RowError::new(
            outcome_codes::MISSING_VALUE,
            format!("the {what} is empty ({})", text.source()),
        )
    })
}

fn phone_number(values: &StringArray, row: usize, column: &str) -> Result<String, RowError> {
    let raw = required_column(values, row, column, "mobile number")?;
    let mut number = String::new();
    normalize_phone(raw, &mut number)?;
    Ok(number)
}

fn send_date(dates: &DateColumn, row: usize, wall_now_ms: Option<i64>) -> Result<Option<SendDate>, RowError> {
    let date = dates
        .get(row)
        .map_err(|error| RowError::new(outcome_codes::INVALID_SEND_DATE, format!("the send date {error}")))?;
    if let (Some(date), Some(now_ms)) = (&date, wall_now_ms)
        && date.seconds.saturating_mul(1000) < now_ms
    {
        return Err(RowError::new(
            outcome_codes::SEND_DATE_IN_PAST,
            format!(
                "the send date {} is in the past (Dotdigital's clock says {}); leave it blank to send at once",
                date.iso,
                iso_of_millis(now_ms)
            ),
        ));
    }
    Ok(date)
}

fn iso_of_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|instant| instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms after 1970"))
}
