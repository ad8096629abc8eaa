//! The programs planner: a sans-IO state machine from audience rows to enrolments.
//!
//! Life of a run:
//! 1. **Program check**, before any row is read: find the program (by id, or page through
//!    programs by name); anything but an `Active` program is a configuration error, so nothing is
//!    written. `check` stops here.
//! 2. **Rows**: rows in the audience need their contact id. A `contact_id` key is one already;
//!    emails and mobile numbers are looked up (`GET /contacts/v3/{identifier}/{value}`) or, with
//!    `create_contacts`, upserted (`PATCH` of the same path, which answers the id of the contact
//!    it found or created). Rows out of the audience, and Delete batches, enrol nobody.
//! 3. **Enrolment**: `POST /v2/programs/enrolments` with up to `enrolment_size` contact ids (never
//!    resent: not idempotent), then `GET /v2/programs/enrolments/{id}` until `Finished`, then its
//!    `report-faults` CSV, whose contacts are rejected; the others are delivered.
//!
//! Re-enrolment rides on the host's sync state: only delivered rows are remembered. A row that
//! left the audience is delivered when `reenrol_after_leave` (the state forgets it, so coming
//! back is new and enrols again) and skipped otherwise (the state keeps the enrolled row, so
//! coming back unchanged is not new).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use dotdigital_shared::contact_page::number;
use dotdigital_shared::csv::{self, reason_code};
use dotdigital_shared::planning::{codes, failure_detail, failure_outcome, flag_column, refused, text_column};
use dotdigital_shared::polling::{NextStep, accepted_job_id, read_fault_report};
use dotdigital_shared::{ApiError, IdentifierKind, Jobs, LookupStep, NamedLookup, Outcomes, Requests, rate};
use dotsync_plugin_sdk::{
    BatchId, BatchKind, DEPARTED_KEYS_DELETE, DEPARTED_KEYS_METADATA, DestinationPlanner, Failure, FailureKind,
    KEY_COLUMNS_METADATA, Method, Millis, OutcomeStatus, PluginContext, PluginError, Poll, RequestId, RequestSpec,
    ResponseView, RunMode,
};
use serde::Deserialize;

use crate::config::ProgramsConfig;

/// Contact lookups (or upserts) out at once.
pub const MAX_LOOKUPS_IN_FLIGHT: usize = 64;

/// Outcome codes of this plugin besides the shared ones.
pub mod outcome_codes {
    pub const LEFT_AUDIENCE: &str = "LeftAudience";
    pub const NULL_MEMBERSHIP: &str = "NullMembership";
    pub const CONTACT_LOOKUP_FAILED: &str = "ContactLookupFailed";
    pub const ENROLMENT_FAULT: &str = "EnrolmentFault";
    pub const ENROLMENT_STATUS_UNKNOWN: &str = "EnrolmentStatusUnknown";
}

#[derive(Debug, Clone, Copy)]
struct RowRef {
    batch_id: BatchId,
    row: u32,
}

/// What a request was sent for.
#[derive(Debug)]
enum Purpose {
    Program,
    Lookup(RowRef, String),
    Enrol,
    EnrolmentStatus(u64),
    EnrolmentFaults(u64),
}

/// The programs destination. See the crate docs for the configuration and the requests it makes.
pub struct ProgramsPlanner {
    config: ProgramsConfig,
    run_mode: RunMode,
    contract: SchemaRef,
    requests: Requests<Purpose>,
    outcomes: Outcomes,
    error: Option<PluginError>,

    lookup: NamedLookup,
    lookup_in_flight: bool,
    program_id: Option<u64>,

    input: VecDeque<(BatchId, BatchKind, RecordBatch)>,
    finished: bool,
    seen: HashSet<String>,
    to_resolve: VecDeque<(RowRef, String)>,
    resolving: usize,
    group: Vec<(RowRef, u64)>,
    ready: VecDeque<Vec<(RowRef, u64)>>,
    /// Enrolment calls sent and not settled, with the rows (and contact ids) each carries.
    enrolments: Jobs<(RowRef, u64)>,
    outgoing: VecDeque<RequestSpec>,
}

impl ProgramsPlanner {
    fn fail(&mut self, error: PluginError) -> PluginError {
        self.error = Some(error.clone());
        error
    }

    fn key(&self) -> IdentifierKind {
        self.config.key.identifier()
    }

    // ---- the program ---------------------------------------------------------------------

    fn on_program(&mut self, response: &ResponseView<'_>) -> Result<(), PluginError> {
        self.lookup_in_flight = false;
        match self.lookup.on_answer(response, "the program lookup")? {
            LookupStep::NextPage => Ok(()),
            LookupStep::Missing => Err(PluginError::config(format!(
                "no program with {} exists in the Dotdigital account",
                self.lookup.target()
            ))),
            LookupStep::Found(program) => {
                let status = program.status.unwrap_or_default();
                if !status.eq_ignore_ascii_case("Active") {
                    return Err(PluginError::config(format!(
                        "program {} `{}` is {}; only an Active program accepts enrolments — activate it in Dotdigital first",
                        program.id,
                        program.name,
                        if status.is_empty() {
                            "of unknown status"
                        } else {
                            &status
                        }
                    )));
                }
                tracing::info!(program = program.id, name = %program.name, "program found and active");
                self.program_id = Some(program.id);
                Ok(())
            }
        }
    }

    // ---- rows ----------------------------------------------------------------------------

    fn plan_input(&mut self) -> Result<(), PluginError> {
        while let Some((batch_id, kind, batch)) = self.input.pop_front() {
            self.plan_batch(batch_id, kind, &batch)?;
        }
        if self.finished && self.to_resolve.is_empty() && self.resolving == 0 {
            self.seal_group();
        }
        Ok(())
    }

    fn plan_batch(&mut self, batch_id: BatchId, kind: BatchKind, batch: &RecordBatch) -> Result<(), PluginError> {
        let keys = text_column(batch, &self.config.key_column)?;
        let membership = match (&self.config.membership_column, kind) {
            (Some(column), BatchKind::Upsert) => Some(flag_column(batch, column)?),
            _ => None,
        };
        let kind_of_key = self.key();
        let mut normalized = String::new();
        let mut match_form = String::new();
        for row in 0..batch.num_rows() {
            let at = RowRef {
                batch_id,
                row: row as u32,
            };
            let raw = (!keys.is_null(row))
                .then(|| keys.value(row))
                .filter(|k| !k.trim().is_empty());
            let Some(raw) = raw else {
                let message = format!("column `{}` is empty: it is the key", self.config.key_column);
                self.outcomes
                    .report(batch_id, at.row, OutcomeStatus::Rejected, codes::NULL_KEY, &message);
                continue;
            };
            if let Err(invalid) = kind_of_key.normalize_into(raw, &mut normalized) {
                let message = format!(
                    "{} `{}` {invalid}",
                    kind_of_key.api_name(),
                    dotdigital_shared::error::shorten(raw, 80)
                );
                self.outcomes
                    .report(batch_id, at.row, OutcomeStatus::Rejected, invalid.code, &message);
                continue;
            }
            kind_of_key.match_form_into(&normalized, &mut match_form);
            if !self.seen.insert(match_form.clone()) {
                let message = format!("`{normalized}` was already seen earlier in this run; only its first row counts");
                self.outcomes.report(
                    batch_id,
                    at.row,
                    OutcomeStatus::Rejected,
                    codes::DUPLICATE_KEY,
                    &message,
                );
                continue;
            }
            let in_audience = match &membership {
                None => kind == BatchKind::Upsert,
                Some(flags) if flags.is_null(row) => {
                    let message = "membership is null: nobody is enrolled for this row";
                    self.outcomes.report(
                        batch_id,
                        at.row,
                        OutcomeStatus::Skipped,
                        outcome_codes::NULL_MEMBERSHIP,
                        message,
                    );
                    continue;
                }
                Some(flags) => flags.value(row),
            };
            if !in_audience {
                self.report_out_of_audience(at);
            } else if kind_of_key == IdentifierKind::ContactId {
                let id = normalized.parse::<u64>().unwrap_or_default();
                self.add_to_group(at, id);
            } else {
                self.to_resolve.push_back((at, normalized.clone()));
            }
        }
        Ok(())
    }

    /// A row out of the audience enrols nobody; its outcome tells the host's state whether the
    /// contact may be enrolled again when it comes back (see the module docs).
    fn report_out_of_audience(&mut self, at: RowRef) {
        if self.config.reenrol_after_leave {
            self.outcomes.delivered(at.batch_id, at.row);
        } else {
            let message = "out of the audience; `reenrol_after_leave` is false, so it will not be enrolled again";
            self.outcomes.report(
                at.batch_id,
                at.row,
                OutcomeStatus::Skipped,
                outcome_codes::LEFT_AUDIENCE,
                message,
            );
        }
    }

    fn add_to_group(&mut self, at: RowRef, contact_id: u64) {
        self.group.push((at, contact_id));
        if self.group.len() >= self.config.enrolment_size as usize {
            self.seal_group();
        }
    }

    fn seal_group(&mut self) {
        if !self.group.is_empty() {
            self.ready.push_back(std::mem::take(&mut self.group));
        }
    }

    fn lookup_request(&mut self, at: RowRef, value: String) -> RequestSpec {
        let path = self.key().contact_path(&value);
        let create = self.config.create_contacts;
        let body = create.then(|| {
            serde_json::json!({"identifiers": {self.key().api_name(): value}})
                .to_string()
                .into_bytes()
        });
        let id = self.requests.issue(Purpose::Lookup(at, value));
        self.resolving += 1;
        match body {
            Some(body) => RequestSpec::write(id, Method::Patch, path, body, rate::MEDIUM),
            None => RequestSpec::get(id, path, rate::HIGH),
        }
    }

    fn on_lookup(&mut self, at: RowRef, value: &str, response: &ResponseView<'_>) -> Result<(), PluginError> {
        self.resolving -= 1;
        if let Some(error) = refused(response, "the contact lookup") {
            return Err(error);
        }
        if response.status == 404 {
            let message = format!(
                "no contact has {} `{value}`; `create_contacts` is false",
                self.key().api_name()
            );
            self.outcomes.report(
                at.batch_id,
                at.row,
                OutcomeStatus::Skipped,
                codes::CONTACT_NOT_FOUND,
                &message,
            );
            return Ok(());
        }
        if !response.is_success() {
            let error = ApiError::from_response(response.status, response.body);
            let status = if response.status == 400 && !error.is_throttling() {
                OutcomeStatus::Rejected
            } else {
                OutcomeStatus::Failed
            };
            let message = format!("looking up the contact failed: {error}");
            self.outcomes.report(at.batch_id, at.row, status, &error.code, &message);
            return Ok(());
        }
        let contact_id = serde_json::from_slice::<ContactBody>(response.body)
            .ok()
            .and_then(|contact| contact.contact_id)
            .as_ref()
            .and_then(number);
        match contact_id {
            Some(contact_id) => self.add_to_group(at, contact_id),
            None => {
                let message = format!("the contact answer for `{value}` has no contactId");
                self.outcomes.report(
                    at.batch_id,
                    at.row,
                    OutcomeStatus::Failed,
                    codes::INVALID_RESPONSE,
                    &message,
                );
            }
        }
        Ok(())
    }

    // ---- enrolments ----------------------------------------------------------------------

    fn end_enrolment(&mut self, seq: u64, status: OutcomeStatus, code: &str, message: &str) {
        if let Some(enrolment) = self.enrolments.remove(seq) {
            for (at, _) in enrolment.rows {
                self.outcomes.report(at.batch_id, at.row, status, code, message);
            }
        }
    }

    fn on_enrol(&mut self, seq: u64, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        if let Some(error) = refused(response, "the enrolment") {
            return Err(error);
        }
        if !response.is_success() {
            // The enrolment was refused as a whole, so nobody was enrolled: the next run may
            // try again (the hourly allowance, an inactive program).
            let error = ApiError::from_response(response.status, response.body);
            let message = format!("the enrolment was refused: {error}");
            self.end_enrolment(seq, OutcomeStatus::Failed, &error.code, &message);
            return Ok(());
        }
        match accepted_job_id(response.body) {
            Some(job) => {
                tracing::info!(enrolment = %job, "enrolment accepted");
                self.enrolments.accept(seq, job, now, self.config.poll_interval_ms);
            }
            None => {
                let message = "the enrolment was accepted but its answer has no id: its result cannot be read";
                self.end_enrolment(
                    seq,
                    OutcomeStatus::Uncertain,
                    outcome_codes::ENROLMENT_STATUS_UNKNOWN,
                    message,
                );
            }
        }
        Ok(())
    }

    fn on_enrolment_status(&mut self, seq: u64, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        // Unreadable: the enrolment was accepted, so its contacts may be enrolled already.
        let step = self.enrolments.on_status(
            seq,
            response,
            now,
            "the enrolment",
            OutcomeStatus::Uncertain,
            outcome_codes::ENROLMENT_STATUS_UNKNOWN,
        )?;
        match step {
            NextStep::Wait => {}
            NextStep::ReadFaults(job) => {
                let id = self.requests.issue(Purpose::EnrolmentFaults(seq));
                let path = format!("/v2/programs/enrolments/{job}/report-faults");
                self.outgoing.push_back(RequestSpec::get(id, path, rate::MEDIUM));
            }
            NextStep::End(end) => self.end_enrolment(seq, end.status, &end.code, &end.message),
        }
        Ok(())
    }

    fn on_enrolment_faults(&mut self, seq: u64, response: &ResponseView<'_>) -> Result<(), PluginError> {
        let report = match read_fault_report(
            response,
            "enrolment",
            OutcomeStatus::Uncertain,
            outcome_codes::ENROLMENT_STATUS_UNKNOWN,
        )? {
            Ok(report) => report,
            Err(end) => {
                self.end_enrolment(seq, end.status, &end.code, &end.message);
                return Ok(());
            }
        };
        let Some(enrolment) = self.enrolments.remove(seq) else {
            return Ok(());
        };
        let faults = parse_enrolment_faults(&report);
        let mut rejected = 0;
        for (at, contact_id) in &enrolment.rows {
            match faults.get(contact_id) {
                Some(reason) => {
                    rejected += 1;
                    let code = reason_code(reason, outcome_codes::ENROLMENT_FAULT);
                    self.outcomes
                        .report(at.batch_id, at.row, OutcomeStatus::Rejected, code, reason);
                }
                None => self.outcomes.delivered(at.batch_id, at.row),
            }
        }
        tracing::info!(
            enrolled = enrolment.rows.len() - rejected,
            rejected,
            "enrolment finished"
        );
        Ok(())
    }

    fn next_request(&mut self, now: Millis) -> Option<RequestSpec> {
        if let Some(spec) = self.outgoing.pop_front() {
            return Some(spec);
        }
        let program = self.program_id?;
        if let Some((seq, job)) = self.enrolments.next_due(now) {
            let id = self.requests.issue(Purpose::EnrolmentStatus(seq));
            return Some(RequestSpec::get(
                id,
                format!("/v2/programs/enrolments/{job}"),
                rate::MEDIUM,
            ));
        }
        if self.resolving < MAX_LOOKUPS_IN_FLIGHT
            && let Some((at, value)) = self.to_resolve.pop_front()
        {
            return Some(self.lookup_request(at, value));
        }
        if let Some(rows) = self.ready.pop_front() {
            let mut contacts: Vec<u64> = rows.iter().map(|(_, id)| *id).collect();
            contacts.dedup();
            let body = serde_json::json!({"programId": program, "contacts": contacts});
            let id = self.requests.issue(Purpose::Enrol);
            tracing::debug!(contacts = rows.len(), "sending enrolment");
            self.enrolments.start(id, rows);
            // An enrolment sent twice enrols twice: the host must never resend it blindly.
            return Some(
                RequestSpec::write(
                    id,
                    Method::Post,
                    "/v2/programs/enrolments",
                    body.to_string().into_bytes(),
                    rate::ENROLMENT,
                )
                .not_idempotent(),
            );
        }
        None
    }

    fn is_done(&self) -> bool {
        self.program_id.is_some()
            && self.finished
            && self.input.is_empty()
            && self.to_resolve.is_empty()
            && self.resolving == 0
            && self.group.is_empty()
            && self.ready.is_empty()
            && self.enrolments.is_empty()
            && self.outgoing.is_empty()
            && self.requests.is_empty()
    }
}

/// Reads an enrolment fault report (`ContactId,Reason` CSV) into contact id → reason.
pub fn parse_enrolment_faults(text: &str) -> HashMap<u64, String> {
    let mut records = csv::parse(text).into_iter();
    let Some(header) = records.next() else {
        return HashMap::new();
    };
    let (Some(id_at), reason_at) = (
        csv::column_index(&header, "contactid"),
        csv::column_index(&header, "reason"),
    ) else {
        return HashMap::new();
    };
    records
        .filter_map(|record| {
            let id = record.get(id_at)?.trim().parse::<u64>().ok()?;
            let reason = reason_at
                .and_then(|at| record.get(at))
                .map(|reason| reason.trim().to_owned())
                .filter(|reason| !reason.is_empty())
                .unwrap_or_else(|| "the program refused this contact".to_owned());
            Some((id, reason))
        })
        .collect()
}

/// The key column and, when a contact that leaves may be enrolled again, the request for
/// departed keys: delivering them lets the host forget the enrolled row, so a return is new.
fn contract_metadata(config: &ProgramsConfig) -> HashMap<String, String> {
    let mut metadata = HashMap::from([(KEY_COLUMNS_METADATA.to_owned(), config.key_column.clone())]);
    if config.reenrol_after_leave {
        metadata.insert(DEPARTED_KEYS_METADATA.to_owned(), DEPARTED_KEYS_DELETE.to_owned());
    }
    metadata
}

/// A v3 contact answer: only its id matters here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactBody {
    contact_id: Option<serde_json::Value>,
}

impl DestinationPlanner for ProgramsPlanner {
    type Config = ProgramsConfig;

    fn new(config: ProgramsConfig, context: PluginContext) -> Result<Self, PluginError> {
        config.validate()?;
        let mut fields = vec![Field::new(&config.key_column, DataType::Utf8, true)];
        if let Some(column) = &config.membership_column {
            fields.push(Field::new(column, DataType::Boolean, true));
        }
        let contract = Arc::new(Schema::new_with_metadata(fields, contract_metadata(&config)));
        tracing::debug!(sync = %context.sync_name, run_mode = ?context.mode, program = %config.program, "programs planner created");
        Ok(ProgramsPlanner {
            run_mode: context.mode,
            contract,
            requests: Requests::default(),
            outcomes: Outcomes::default(),
            error: None,
            lookup: NamedLookup::new("/v2/programs", config.program.clone()),
            lookup_in_flight: false,
            program_id: None,
            input: VecDeque::new(),
            finished: false,
            seen: HashSet::new(),
            to_resolve: VecDeque::new(),
            resolving: 0,
            group: Vec::new(),
            ready: VecDeque::new(),
            enrolments: Jobs::default(),
            outgoing: VecDeque::new(),
            config,
        })
    }

    fn input_contract(&self) -> SchemaRef {
        self.contract.clone()
    }

    fn can_accept_batch(&self) -> bool {
        self.error.is_none()
            && self.program_id.is_some()
            && !self.finished
            && self.to_resolve.len() < self.config.enrolment_size as usize
            && self.ready.len() < 2
    }

    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
        self.outcomes.expect(batch.num_rows());
        if batch.num_rows() > 0 {
            self.input.push_back((id, kind, batch));
        }
        // Rows are planned as they come, so accepting the next batch depends only on the
        // requests waiting to be sent.
        if self.program_id.is_some() && self.run_mode != RunMode::Check {
            self.plan_input().map_err(|error| self.fail(error))?;
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
        if self.program_id.is_none() {
            if self.lookup_in_flight {
                return Ok(Poll::Pending);
            }
            self.lookup_in_flight = true;
            let id = self.requests.issue(Purpose::Program);
            return Ok(Poll::Ready(RequestSpec::get(id, self.lookup.path(), rate::HIGH)));
        }
        if self.run_mode != RunMode::Check {
            self.plan_input().map_err(|error| self.fail(error))?;
        }
        if let Some(spec) = self.next_request(now) {
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
        let result = match purpose {
            Purpose::Program => self.on_program(response),
            Purpose::Lookup(at, value) => self.on_lookup(at, &value, response),
            Purpose::Enrol => match self.enrolments.by_request(id).map(|job| job.seq) {
                Some(seq) => self.on_enrol(seq, response, now),
                None => Ok(()),
            },
            Purpose::EnrolmentStatus(seq) => self.on_enrolment_status(seq, response, now),
            Purpose::EnrolmentFaults(seq) => self.on_enrolment_faults(seq, response),
        };
        result.map_err(|error| self.fail(error))
    }

    fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, _now: Millis) -> Result<(), PluginError> {
        let Some(purpose) = self.requests.take(id) else {
            return Ok(());
        };
        let detail = failure_detail(failure);
        let (status, code) = failure_outcome(failure.kind);
        match purpose {
            Purpose::Program => {
                return Err(self.fail(PluginError::fatal(format!("could not look the program up: {detail}"))));
            }
            Purpose::Lookup(at, _) => {
                self.resolving -= 1;
                let code = if status == OutcomeStatus::Failed {
                    outcome_codes::CONTACT_LOOKUP_FAILED
                } else {
                    code
                };
                let message = format!("looking up the contact failed: {detail}");
                self.outcomes.report(at.batch_id, at.row, status, code, &message);
            }
            Purpose::Enrol => {
                if let Some(seq) = self.enrolments.by_request(id).map(|job| job.seq) {
                    // A send whose fate is unknown may have enrolled: report it, never resend it.
                    let status = if failure.kind == FailureKind::Uncertain {
                        OutcomeStatus::Uncertain
                    } else {
                        status
                    };
                    let message = format!("the enrolment was not completed: {detail}");
                    self.end_enrolment(seq, status, code, &message);
                }
            }
            Purpose::EnrolmentStatus(seq) | Purpose::EnrolmentFaults(seq) => {
                let message = format!("the enrolment was sent but its result could not be read: {detail}");
                self.end_enrolment(
                    seq,
                    OutcomeStatus::Uncertain,
                    outcome_codes::ENROLMENT_STATUS_UNKNOWN,
                    &message,
                );
            }
        }
        Ok(())
    }

    fn poll_outcomes(&mut self) -> Option<RecordBatch> {
        self.outcomes.take_batch()
    }

    /// The rows an enrolment carries, so the host journals each before it leaves and never
    /// enrols a row twice after a crash.
    fn request_rows(&self, id: RequestId) -> Option<Vec<(BatchId, u32)>> {
        let enrolment = self.enrolments.by_request(id)?;
        Some(enrolment.rows.iter().map(|(at, _)| (at.batch_id, at.row)).collect())
    }

    fn poll_timeout(&self) -> Option<Millis> {
        self.enrolments.next_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_reports_map_contact_ids_to_reasons() {
        let faults =
            parse_enrolment_faults("ContactId,Reason\n12,ContactNotSubscribed\n13,\"Not found, sorry\"\nx,y\n");
        assert_eq!(faults.get(&12).map(String::as_str), Some("ContactNotSubscribed"));
        assert_eq!(faults.get(&13).map(String::as_str), Some("Not found, sorry"));
        assert_eq!(faults.len(), 2);
        assert!(parse_enrolment_faults("").is_empty());
    }
}
