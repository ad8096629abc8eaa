//! The messaging planner: a sans-IO state machine from rows to message sends.
//!
//! Life of a run:
//! 1. **Campaign check** (`campaign_email` only), before any row is read: the campaign by id
//!    (`GET /v2/campaigns/{id}`) or by name (pages of `GET /v2/campaigns`); a missing campaign is
//!    a configuration error, so nothing is sent. The answer's `Date` header sets the clock send
//!    dates are checked against. `check` stops here.
//! 2. **Rows**, planned when the host polls (planners get the time only then): the send key must
//!    be present and new in this run, the action's values valid. A bad row is rejected with its
//!    reason and nothing is sent for it.
//! 3. **Sends**: each row's message is one request (`POST /v2/email`, the SMS endpoints). Campaign
//!    recipients' contact ids are looked up first (`GET /contacts/v3/email/{email}`; an unknown
//!    contact rejects the row), then grouped by send date into as few `POST /v2/campaigns/send`
//!    calls as `send_size` allows.
//!
//! Every send is a write that must not repeat: it is marked not idempotent (the host journals
//! its rows, named by [`DestinationPlanner::request_rows`], before it leaves, and never resends
//! it), and a send whose answer is lost or is a server error is reported uncertain.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use dotdigital_shared::contact_page::number;
use dotdigital_shared::planning::{codes, error_status, failure_detail, failure_outcome, refused, text_column};
use dotdigital_shared::{ApiError, IdentifierKind, LookupStep, NamedLookup, Outcomes, Requests, rate};
use dotsync_plugin_sdk::{
    BatchId, BatchKind, DestinationPlanner, Failure, FailureKind, KEY_COLUMNS_METADATA, Method, Millis, OutcomeStatus,
    PluginContext, PluginError, Poll, RequestId, RequestSpec, ResponseView, RunMode, SEND_ONCE_METADATA,
    SEND_ONCE_PER_KEY,
};
use serde::Deserialize;

use crate::actions::{BatchInputs, Planned};
use crate::columns::SendDate;
use crate::config::{ActionConfig, CampaignEmailConfig, MessagingConfig, Text};
use crate::message::RowError;
use crate::outcome_codes;

/// Contact lookups out at once.
pub const MAX_LOOKUPS_IN_FLIGHT: usize = 64;

/// Sends out at once.
pub const MAX_SENDS_IN_FLIGHT: usize = 64;

/// Rows waiting for a lookup or a send before the planner takes no more batches.
const QUEUE_LIMIT: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowRef {
    batch_id: BatchId,
    row: u32,
}

/// A campaign recipient waiting for its contact id.
#[derive(Debug)]
struct Recipient {
    at: RowRef,
    email: String,
    date: Option<SendDate>,
}

/// What a request was sent for.
#[derive(Debug)]
enum Purpose {
    Campaign,
    Contact(Recipient),
    Send,
}

/// A send ready to go.
#[derive(Debug)]
struct Send {
    path: String,
    body: Vec<u8>,
    rate_class: &'static str,
    rows: Vec<RowRef>,
}

/// The campaign of a `campaign_email` sync.
struct Campaign {
    lookup: NamedLookup,
    in_flight: bool,
    id: Option<u64>,
}

/// Campaign recipients collected per send date until a send fills up.
#[derive(Default)]
struct Groups {
    open: BTreeMap<Option<i64>, Group>,
    held: usize,
}

#[derive(Default)]
struct Group {
    date: Option<SendDate>,
    contacts: HashSet<u64>,
    rows: Vec<(RowRef, u64)>,
}

impl Groups {
    /// Adds a recipient; returns the groups it sealed. A contact already in its date's group
    /// seals that group first: each row is its own send, and one call would mail it once.
    fn add(&mut self, at: RowRef, contact: u64, date: Option<SendDate>, send_size: usize) -> Vec<Group> {
        let key = date.as_ref().map(|date| date.seconds);
        let mut sealed = Vec::new();
        if self
            .open
            .get(&key)
            .is_some_and(|group| group.contacts.contains(&contact))
        {
            sealed.extend(self.take(key));
        }
        let group = self.open.entry(key).or_insert_with(|| Group {
            date,
            ..Group::default()
        });
        group.contacts.insert(contact);
        group.rows.push((at, contact));
        self.held += 1;
        if group.rows.len() >= send_size {
            sealed.extend(self.take(key));
        }
        // Bounded memory: never hold more than one send's worth of recipients.
        if self.held >= send_size {
            sealed.extend(self.take_all());
        }
        sealed
    }

    fn take(&mut self, key: Option<i64>) -> Option<Group> {
        let group = self.open.remove(&key)?;
        self.held -= group.rows.len();
        Some(group)
    }

    fn take_all(&mut self) -> Vec<Group> {
        self.held = 0;
        std::mem::take(&mut self.open).into_values().collect()
    }

    fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// The messaging destination. See the crate docs for the configuration and the requests it
/// makes.
pub struct MessagingPlanner {
    config: MessagingConfig,
    run_mode: RunMode,
    contract: SchemaRef,
    requests: Requests<Purpose>,
    outcomes: Outcomes,
    error: Option<PluginError>,

    campaign: Option<Campaign>,
    /// Dotdigital's clock from its last `Date` header (milliseconds since the epoch), and our
    /// monotonic `now` when it was read.
    server_clock: Option<(i64, Millis)>,

    input: VecDeque<(BatchId, BatchKind, RecordBatch)>,
    finished: bool,
    seen_keys: HashSet<String>,
    to_resolve: VecDeque<Recipient>,
    resolving: usize,
    groups: Groups,
    ready: VecDeque<Send>,
    /// Sends out, with the rows each carries.
    sending: HashMap<RequestId, Vec<RowRef>>,
}

impl MessagingPlanner {
    fn fail(&mut self, error: PluginError) -> PluginError {
        self.error = Some(error.clone());
        error
    }

    /// The campaign settings, when the action sends a campaign (`validate` refuses the table
    /// with any other action).
    fn campaign_config(&self) -> Option<&CampaignEmailConfig> {
        self.config.campaign_email.as_ref()
    }

    /// Whether rows can be planned: the campaign, if any, is known.
    fn can_plan(&self) -> bool {
        self.campaign.as_ref().is_none_or(|campaign| campaign.id.is_some())
    }

    fn wall_now_ms(&self, now: Millis) -> Option<i64> {
        self.server_clock
            .map(|(server_ms, seen_at)| server_ms.saturating_add(now.saturating_sub(seen_at) as i64))
    }

    // ---- the campaign ---------------------------------------------------------------------

    fn on_campaign(&mut self, response: &ResponseView<'_>) -> Result<(), PluginError> {
        let Some(campaign) = self.campaign.as_mut() else {
            return Ok(());
        };
        campaign.in_flight = false;
        match campaign.lookup.on_answer(response, "the campaign lookup")? {
            LookupStep::NextPage => Ok(()),
            LookupStep::Missing => Err(PluginError::config(format!(
                "no campaign with {} exists in the Dotdigital account; nothing was sent",
                campaign.lookup.target()
            ))),
            LookupStep::Found(found) => {
                tracing::info!(campaign = found.id, name = %found.name, "campaign found");
                campaign.id = Some(found.id);
                let dated = self
                    .campaign_config()
                    .is_some_and(|config| config.send_date_column.is_some());
                if dated && self.server_clock.is_none() {
                    return Err(PluginError::fatal(
                        "Dotdigital's answer carried no readable `Date` header, so send dates cannot be checked \
                         against its clock; nothing was sent",
                    ));
                }
                Ok(())
            }
        }
    }

    // ---- rows -----------------------------------------------------------------------------

    fn plan_input(&mut self, now: Millis) -> Result<(), PluginError> {
        while let Some((batch_id, kind, batch)) = self.input.pop_front() {
            if kind == BatchKind::Delete {
                // Not asked for (the contract requests no departed keys): a message cannot be unsent.
                for row in 0..batch.num_rows() {
                    let message = "a message cannot be unsent; departed keys are ignored";
                    self.outcomes.report(
                        batch_id,
                        row as u32,
                        OutcomeStatus::Skipped,
                        codes::DELETE_NOT_SUPPORTED,
                        message,
                    );
                }
                continue;
            }
            self.plan_batch(batch_id, &batch, now)?;
        }
        if self.finished && self.input.is_empty() && self.to_resolve.is_empty() && self.resolving == 0 {
            let groups = self.groups.take_all();
            self.seal(groups);
        }
        Ok(())
    }

    fn plan_batch(&mut self, batch_id: BatchId, batch: &RecordBatch, now: Millis) -> Result<(), PluginError> {
        let keys = text_column(batch, &self.config.send_key_column)?;
        let wall_now_ms = self.wall_now_ms(now);
        // The inputs borrow the config; plan every row first, then record what became of each.
        let planned: Vec<(RowRef, Result<Planned, RowError>)> = {
            let inputs = BatchInputs::read(self.config.action_config()?, batch)?;
            let mut planned = Vec::with_capacity(batch.num_rows());
            for row in 0..batch.num_rows() {
                let at = RowRef {
                    batch_id,
                    row: row as u32,
                };
                let key = (!keys.is_null(row))
                    .then(|| keys.value(row).trim())
                    .filter(|key| !key.is_empty());
                let result = match key {
                    None => Err(RowError::new(
                        codes::NULL_KEY,
                        format!("column `{}` is empty: it is the send key", self.config.send_key_column),
                    )),
                    Some(key) if !self.seen_keys.insert(key.to_owned()) => Err(RowError::new(
                        codes::DUPLICATE_KEY,
                        format!("send key `{key}` was already seen earlier in this run; only its first row is sent"),
                    )),
                    Some(_) => inputs.plan(row, wall_now_ms),
                };
                planned.push((at, result));
            }
            planned
        };
        for (at, result) in planned {
            match result {
                Err(error) => {
                    self.outcomes
                        .report(at.batch_id, at.row, OutcomeStatus::Rejected, error.code, &error.message)
                }
                Ok(Planned::Contact { email, date }) => self.to_resolve.push_back(Recipient { at, email, date }),
                Ok(Planned::Message { path, body }) => self.ready.push_back(Send {
                    path,
                    body,
                    rate_class: rate::UNLIMITED,
                    rows: vec![at],
                }),
            }
        }
        Ok(())
    }

    fn lookup_request(&mut self, recipient: Recipient) -> RequestSpec {
        let path = IdentifierKind::Email.contact_path(&recipient.email);
        self.resolving += 1;
        let id = self.requests.issue(Purpose::Contact(recipient));
        RequestSpec::get(id, path, rate::HIGH)
    }

    fn on_contact(&mut self, recipient: Recipient, response: &ResponseView<'_>) -> Result<(), PluginError> {
        self.resolving -= 1;
        let at = recipient.at;
        if let Some(error) = refused(response, "the contact lookup") {
            return Err(error);
        }
        if response.status == 404 {
            let message = format!(
                "no contact has email `{}`: a campaign is sent only to existing contacts, so nothing was sent",
                recipient.email
            );
            self.outcomes.report(
                at.batch_id,
                at.row,
                OutcomeStatus::Rejected,
                codes::CONTACT_NOT_FOUND,
                &message,
            );
            return Ok(());
        }
        if !response.is_success() {
            let error = ApiError::from_response(response.status, response.body);
            let message = format!("looking up the contact failed: {error}");
            self.outcomes
                .report(at.batch_id, at.row, error_status(&error), &error.code, &message);
            return Ok(());
        }
        let contact_id = serde_json::from_slice::<ContactBody>(response.body)
            .ok()
            .and_then(|contact| contact.contact_id)
            .as_ref()
            .and_then(number);
        let Some(contact_id) = contact_id else {
            let message = format!("the contact answer for `{}` has no contactId", recipient.email);
            self.outcomes.report(
                at.batch_id,
                at.row,
                OutcomeStatus::Failed,
                codes::INVALID_RESPONSE,
                &message,
            );
            return Ok(());
        };
        let send_size = self.campaign_config().map_or(1, |config| config.send_size as usize);
        let sealed = self.groups.add(at, contact_id, recipient.date, send_size);
        self.seal(sealed);
        Ok(())
    }

    /// Turns full campaign groups into sends.
    fn seal(&mut self, groups: Vec<Group>) {
        let (Some(config), Some(campaign_id)) = (
            self.campaign_config(),
            self.campaign.as_ref().and_then(|campaign| campaign.id),
        ) else {
            return;
        };
        let path = if config.send_time_optimised {
            "/v2/campaigns/send-time-optimised"
        } else {
            "/v2/campaigns/send"
        };
        for group in groups.into_iter().filter(|group| !group.rows.is_empty()) {
            let contacts: Vec<u64> = group.rows.iter().map(|(_, contact)| *contact).collect();
            let mut body = serde_json::json!({"campaignId": campaign_id, "contactIds": contacts});
            if let Some(date) = &group.date {
                body["sendDate"] = date.iso.clone().into();
            }
            self.ready.push_back(Send {
                path: path.to_owned(),
                body: body.to_string().into_bytes(),
                rate_class: rate::MEDIUM,
                rows: group.rows.into_iter().map(|(at, _)| at).collect(),
            });
        }
    }

    // ---- sends ----------------------------------------------------------------------------

    fn report_rows(&mut self, rows: &[RowRef], status: OutcomeStatus, code: &str, message: &str) {
        for at in rows {
            self.outcomes.report(at.batch_id, at.row, status, code, message);
        }
    }

    fn on_send(&mut self, rows: Vec<RowRef>, response: &ResponseView<'_>) -> Result<(), PluginError> {
        if response.is_success() {
            for at in &rows {
                self.outcomes.delivered(at.batch_id, at.row);
            }
            return Ok(());
        }
        let error = ApiError::from_response(response.status, response.body);
        if error.code == "ERROR_FEATURENOTACTIVE" {
            let message = format!("Dotdigital refused the send: {error}");
            self.report_rows(&rows, OutcomeStatus::Failed, &error.code, &message);
            return Err(PluginError::config(format!(
                "the Dotdigital account cannot send `{}` messages: the feature is not enabled ({error})",
                self.config.action.name()
            )));
        }
        if let Some(error) = refused(response, "the send") {
            return Err(error);
        }
        if response.status >= 500 {
            // A server error may come after the message went out: never resend it.
            let message = format!(
                "Dotdigital answered a server error after the send reached it, so it may have been sent and is not resent: {error}"
            );
            self.report_rows(&rows, OutcomeStatus::Uncertain, outcome_codes::UNCERTAIN, &message);
            return Ok(());
        }
        let message = format!("Dotdigital refused the send: {error}");
        // "Not permitted at this time" is no verdict on the row: a later run may send it.
        let status = if error.code == "ERROR_CAMPAIGN_SENDNOTPERMITTED" {
            OutcomeStatus::Failed
        } else {
            error_status(&error)
        };
        self.report_rows(&rows, status, &error.code, &message);
        Ok(())
    }

    fn on_send_failure(&mut self, rows: Vec<RowRef>, failure: &Failure<'_>) {
        let detail = failure_detail(failure);
        // An exhausted server error may have been processed by the server, like a lost answer.
        let uncertain =
            failure.kind == FailureKind::Uncertain || (failure.kind == FailureKind::Exhausted && failure.status >= 500);
        if uncertain {
            let message = format!("the send may have reached Dotdigital, so it is not resent: {detail}");
            self.report_rows(&rows, OutcomeStatus::Uncertain, outcome_codes::UNCERTAIN, &message);
        } else {
            let (status, code) = failure_outcome(failure.kind);
            let message = format!("the send was not made: {detail}");
            self.report_rows(&rows, status, code, &message);
        }
    }

    fn next_request(&mut self) -> Option<RequestSpec> {
        if self.resolving < MAX_LOOKUPS_IN_FLIGHT
            && let Some(recipient) = self.to_resolve.pop_front()
        {
            return Some(self.lookup_request(recipient));
        }
        if self.sending.len() < MAX_SENDS_IN_FLIGHT
            && let Some(send) = self.ready.pop_front()
        {
            let id = self.requests.issue(Purpose::Send);
            tracing::debug!(path = %send.path, rows = send.rows.len(), "sending");
            self.sending.insert(id, send.rows);
            // A message sent twice arrives twice: the host must never resend it blindly.
            return Some(RequestSpec::write(id, Method::Post, send.path, send.body, send.rate_class).not_idempotent());
        }
        None
    }

    fn is_done(&self) -> bool {
        self.can_plan()
            && self.finished
            && self.input.is_empty()
            && self.to_resolve.is_empty()
            && self.resolving == 0
            && self.groups.is_empty()
            && self.ready.is_empty()
            && self.sending.is_empty()
            && self.requests.is_empty()
    }
}

/// A v3 contact answer: only its id matters here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactBody {
    contact_id: Option<serde_json::Value>,
}

/// Milliseconds since the epoch of an HTTP `Date` header (`Tue, 15 Nov 1994 08:12:31 GMT`).
fn parse_http_date(value: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|instant| instant.timestamp_millis())
}

fn column_of(setting: Option<&Text>) -> Option<&str> {
    setting.and_then(Text::column)
}

/// The columns the configured action reads: the send key first, then text columns (cast to
/// text by the host), then columns taken as they are (address lists, send dates). A column
/// named twice is read once, as its first use wants it.
fn input_fields(config: &MessagingConfig, action: ActionConfig<'_>) -> Vec<Field> {
    let mut text: Vec<&str> = vec![&config.send_key_column];
    let mut as_is: Vec<&str> = Vec::new();
    match action {
        ActionConfig::CampaignEmail(config) => {
            text.push(&config.email_column);
            as_is.extend(config.send_date_column.as_deref());
        }
        ActionConfig::TransactionalEmail(config) => {
            text.extend(column_of(config.from.as_ref()));
            text.extend(column_of(Some(&config.subject)));
            text.extend(column_of(Some(&config.html_content)));
            text.extend(column_of(config.plain_text_content.as_ref()));
            as_is.push(&config.to_column);
            as_is.extend(config.cc_column.as_deref());
            as_is.extend(config.bcc_column.as_deref());
        }
        ActionConfig::Sms(config) => {
            text.push(&config.to_column);
            text.extend(column_of(Some(&config.message)));
        }
        ActionConfig::TransactionalSms(config) => {
            text.push(&config.to_column);
            text.extend(column_of(config.from.as_ref()));
            text.extend(column_of(Some(&config.message)));
        }
    }
    let mut seen = HashSet::new();
    let typed = text
        .into_iter()
        .map(|name| (name, DataType::Utf8))
        .chain(as_is.into_iter().map(|name| (name, DataType::Null)));
    typed
        .filter(|(name, _)| seen.insert(*name))
        .map(|(name, data_type)| Field::new(name, data_type, true))
        .collect()
}

impl DestinationPlanner for MessagingPlanner {
    type Config = MessagingConfig;

    fn new(config: MessagingConfig, context: PluginContext) -> Result<Self, PluginError> {
        config.validate()?;
        let action = config.action_config()?;
        let metadata = HashMap::from([
            (KEY_COLUMNS_METADATA.to_owned(), config.send_key_column.clone()),
            (SEND_ONCE_METADATA.to_owned(), SEND_ONCE_PER_KEY.to_owned()),
        ]);
        let contract = Arc::new(Schema::new_with_metadata(input_fields(&config, action), metadata));
        let campaign = match action {
            ActionConfig::CampaignEmail(config) => Some(Campaign {
                lookup: NamedLookup::new("/v2/campaigns", config.campaign.clone()),
                in_flight: false,
                id: None,
            }),
            _ => None,
        };
        tracing::debug!(sync = %context.sync_name, run_mode = ?context.mode, action = config.action.name(), "messaging planner created");
        Ok(MessagingPlanner {
            run_mode: context.mode,
            contract,
            requests: Requests::default(),
            outcomes: Outcomes::default(),
            error: None,
            campaign,
            server_clock: None,
            input: VecDeque::new(),
            finished: false,
            seen_keys: HashSet::new(),
            to_resolve: VecDeque::new(),
            resolving: 0,
            groups: Groups::default(),
            ready: VecDeque::new(),
            sending: HashMap::new(),
            config,
        })
    }

    fn input_contract(&self) -> SchemaRef {
        self.contract.clone()
    }

    fn can_accept_batch(&self) -> bool {
        self.error.is_none()
            && self.can_plan()
            && !self.finished
            && self.input.is_empty()
            && self.to_resolve.len() < QUEUE_LIMIT
            && self.ready.len() < QUEUE_LIMIT
    }

    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
        self.outcomes.expect(batch.num_rows());
        // Planned at the next poll, which brings the time send dates are checked at.
        if batch.num_rows() > 0 {
            self.input.push_back((id, kind, batch));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        self.finished = true;
        Ok(())
    }

    fn poll_request(&mut self, now: Millis) -> Result<Poll<RequestSpec>, PluginError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if let Some(campaign) = self.campaign.as_mut()
            && campaign.id.is_none()
        {
            if campaign.in_flight {
                return Ok(Poll::Pending);
            }
            campaign.in_flight = true;
            let path = campaign.lookup.path();
            let id = self.requests.issue(Purpose::Campaign);
            return Ok(Poll::Ready(RequestSpec::get(id, path, rate::HIGH)));
        }
        if self.run_mode != RunMode::Check {
            self.plan_input(now).map_err(|error| self.fail(error))?;
        }
        if let Some(spec) = self.next_request() {
            return Ok(Poll::Ready(spec));
        }
        if self.is_done() {
            debug_assert!(self.outcomes.all_reported(), "every row has one outcome");
            return Ok(Poll::Done);
        }
        Ok(Poll::Pending)
    }

    fn handle_response(&mut self, id: RequestId, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        let Some(purpose) = self.requests.take(id) else {
            return Ok(());
        };
        if let Some(server_ms) = response.header("Date").and_then(parse_http_date) {
            self.server_clock = Some((server_ms, now));
        }
        let result = match purpose {
            Purpose::Campaign => self.on_campaign(response),
            Purpose::Contact(recipient) => self.on_contact(recipient, response),
            Purpose::Send => match self.sending.remove(&id) {
                Some(rows) => self.on_send(rows, response),
                None => Ok(()),
            },
        };
        result.map_err(|error| self.fail(error))
    }

    fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, _now: Millis) -> Result<(), PluginError> {
        let Some(purpose) = self.requests.take(id) else {
            return Ok(());
        };
        match purpose {
            Purpose::Campaign => {
                let detail = failure_detail(failure);
                return Err(self.fail(PluginError::fatal(format!("could not look the campaign up: {detail}"))));
            }
            Purpose::Contact(recipient) => {
                self.resolving -= 1;
                let (status, code) = failure_outcome(failure.kind);
                let code = if status == OutcomeStatus::Failed {
                    outcome_codes::CONTACT_LOOKUP_FAILED
                } else {
                    code
                };
                let message = format!("looking up the contact failed: {}", failure_detail(failure));
                let at = recipient.at;
                self.outcomes.report(at.batch_id, at.row, status, code, &message);
            }
            Purpose::Send => {
                if let Some(rows) = self.sending.remove(&id) {
                    self.on_send_failure(rows, failure);
                }
            }
        }
        Ok(())
    }

    fn poll_outcomes(&mut self) -> Option<RecordBatch> {
        self.outcomes.take_batch()
    }

    /// The rows a send carries, so the host journals each before it leaves and never sends a
    /// row's message twice, also after a crash.
    fn request_rows(&self, id: RequestId) -> Option<Vec<(BatchId, u32)>> {
        let rows = self.sending.get(&id)?;
        Some(rows.iter().map(|at| (at.batch_id, at.row)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(row: u32) -> RowRef {
        RowRef { batch_id: 1, row }
    }

    #[test]
    fn groups_split_on_repeated_contacts_and_size() {
        let mut groups = Groups::default();
        assert!(groups.add(at(0), 11, None, 3).is_empty());
        let sealed = groups.add(at(1), 11, None, 3);
        assert_eq!(sealed.len(), 1, "the same contact twice seals the first group");
        assert_eq!(sealed[0].rows, vec![(at(0), 11)]);
        let date = SendDate {
            seconds: 1_900_000_000,
            iso: "2030-03-17T17:46:40Z".into(),
        };
        assert!(groups.add(at(2), 12, Some(date), 3).is_empty());
        let sealed = groups.add(at(3), 13, None, 3);
        assert_eq!(sealed.len(), 2, "three held: everything is sealed");
        assert!(groups.is_empty());
        assert_eq!(groups.held, 0);
    }

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777_000));
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
