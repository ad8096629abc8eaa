//! The lists planner: a sans-IO state machine from audience rows to list imports and removals.
//!
//! Life of a run:
//! 1. **Preparation**, before any row is read (`can_accept_batch` is false until it is done):
//!    find the list (by id, or page through lists by name), create it when allowed and missing,
//!    check the mapped data fields, read the list's current members (email → contact id) and,
//!    when contacts must not be created, every email of the account. `check` stops here.
//! 2. **Rows**: each row's contact either should be in the list or not (audience rows always
//!    should; with a membership column, its value says). Already as it should be → delivered;
//!    entering → written into the current CSV import file; leaving → its contact id joins the
//!    current removal. Delete batches (keys that left the source) are leaving contacts.
//! 3. **Unlisted members**: with `remove_unlisted_members`, members no source row named are
//!    removed too (they have no row, so no outcome).
//! 4. **Requests**: `POST /v2/address-books/{id}/contacts/import` per file (slot
//!    `contact-import`), `GET /v2/contacts/import/{id}` until finished, then its
//!    `report-faults` CSV, whose rows are rejected; `POST /v2/address-books/{id}/contacts/delete`
//!    per [`REMOVE_CHUNK`] contact ids.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use dotdigital_shared::csv::reason_code;
use dotdigital_shared::datafield::{check_column_types, null_array, parse_data_fields, resolve_mapping};
use dotdigital_shared::identifier::validate_email;
use dotdigital_shared::planning::{
    codes, error_status, failure_detail, failure_outcome, flag_column, refused, text_column,
};
use dotdigital_shared::polling::{NextStep, Submitted, read_fault_report, read_submission};
use dotdigital_shared::{
    ApiError, Jobs, LookupStep, MappedField, NamedLookup, Outcomes, Requests, ResourceRef, ValueColumn, rate,
};
use dotsync_plugin_sdk::{
    BatchId, BatchKind, DEPARTED_KEYS_DELETE, DEPARTED_KEYS_METADATA, DestinationPlanner, Failure, FailureKind,
    KEY_COLUMNS_METADATA, Method, Millis, OutcomeStatus, PluginContext, PluginError, Poll, RequestId, RequestSpec,
    ResponseView, RunMode,
};
use serde::Deserialize;

use crate::config::ListsConfig;
use crate::directory::{ContactWalk, EmailMap, EmailSet, Member, email_hash};
use crate::import::{AddedRow, ImportFile, parse_faults};

/// Contact ids per bulk removal.
pub const REMOVE_CHUNK: usize = 5000;
/// Imports this planner keeps active at once (of the account's 25).
pub const MAX_ACTIVE_IMPORTS: usize = 5;

/// Outcome codes of this plugin besides the shared ones.
pub mod outcome_codes {
    pub const INVALID_EMAIL: &str = "InvalidEmail";
    pub const NULL_MEMBERSHIP: &str = "NullMembership";
    pub const INVALID_DATA_FIELD_VALUE: &str = "InvalidDataFieldValue";
    pub const FAULT_REPORT_UNAVAILABLE: &str = "FaultReportUnavailable";
}

/// Where preparation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    FindList,
    CreateList,
    DataFields,
    Members,
    Account,
    Ready,
}

/// What a request was sent for.
#[derive(Debug)]
enum Purpose {
    Setup(Stage),
    Import,
    ImportStatus(u64),
    ImportFaults(u64),
    Remove(Vec<RowRef>),
}

#[derive(Debug, Clone, Copy)]
struct RowRef {
    batch_id: BatchId,
    row: u32,
}

/// Contact ids to remove, with the rows that asked for it.
#[derive(Debug, Default)]
struct Removal {
    contact_ids: Vec<u64>,
    rows: Vec<RowRef>,
}

/// The lists destination. See the crate docs for the configuration and the requests it makes.
pub struct ListsPlanner {
    config: ListsConfig,
    run_mode: RunMode,
    contract: SchemaRef,
    requests: Requests<Purpose>,
    outcomes: Outcomes,
    error: Option<PluginError>,

    stage: Stage,
    setup_in_flight: bool,
    lookup: NamedLookup,
    /// `None` once prepared only in a dry run that would have created the list.
    list_id: Option<u64>,
    fields: Vec<MappedField>,
    types_checked: bool,
    walk: Option<ContactWalk>,
    members: EmailMap<Member>,
    /// Every email of the account; read only when contacts must not be created.
    account: EmailSet,

    input: VecDeque<(BatchId, BatchKind, RecordBatch)>,
    finished: bool,
    absent_planned: bool,
    seen: EmailSet,

    file: ImportFile,
    ready_imports: VecDeque<ImportFile>,
    /// Imports sent and not settled, with the rows each adds.
    imports: Jobs<AddedRow>,
    removal: Removal,
    ready_removals: VecDeque<Removal>,
    /// Requests planned in reaction to a response, sent first.
    outgoing: VecDeque<RequestSpec>,
    released: VecDeque<RequestId>,
}

impl ListsPlanner {
    fn fail(&mut self, error: PluginError) -> PluginError {
        self.error = Some(error.clone());
        error
    }

    fn report_rows(&mut self, rows: &[RowRef], status: OutcomeStatus, code: &str, message: &str) {
        for row in rows {
            self.outcomes.report(row.batch_id, row.row, status, code, message);
        }
    }

    fn report_added(&mut self, rows: &[AddedRow], status: OutcomeStatus, code: &str, message: &str) {
        for row in rows {
            self.outcomes.report(row.batch_id, row.row, status, code, message);
        }
    }

    // ---- preparation -------------------------------------------------------------------

    /// The request of the current preparation stage.
    fn setup_request(&mut self) -> RequestSpec {
        let stage = self.stage;
        let id = self.requests.issue(Purpose::Setup(stage));
        match stage {
            Stage::FindList => RequestSpec::get(id, self.lookup.path(), rate::HIGH),
            Stage::CreateList => {
                let name = match self.lookup.target() {
                    ResourceRef::Name(name) => name.trim().to_owned(),
                    ResourceRef::Id(id) => id.to_string(),
                };
                let body = serde_json::json!({"name": name, "visibility": self.config.visibility.api_name()});
                // Creating twice would fail with a duplicate name: never resend blindly.
                RequestSpec::write(
                    id,
                    Method::Post,
                    "/v2/address-books",
                    body.to_string().into_bytes(),
                    rate::MEDIUM,
                )
                .not_idempotent()
            }
            Stage::DataFields => RequestSpec::get(id, "/v2/data-fields", rate::MEDIUM),
            Stage::Members | Stage::Account => {
                let path = self.walk.as_ref().map(ContactWalk::next_path).unwrap_or_default();
                RequestSpec::get(id, path, rate::LOW)
            }
            Stage::Ready => unreachable!("no request prepares a ready planner"),
        }
    }

    /// Moves to the next stage that has work, starting its walk when it is one.
    fn advance_from(&mut self, done: Stage) {
        let check = self.run_mode == RunMode::Check;
        let mut next = match done {
            Stage::FindList | Stage::CreateList => Stage::DataFields,
            Stage::DataFields => Stage::Members,
            Stage::Members => Stage::Account,
            Stage::Account | Stage::Ready => Stage::Ready,
        };
        loop {
            let skip = match next {
                Stage::DataFields => self.config.data_fields.is_empty(),
                Stage::Members => check || self.list_id.is_none(),
                Stage::Account => check || self.config.create_contacts,
                _ => false,
            };
            if !skip {
                break;
            }
            next = match next {
                Stage::DataFields => Stage::Members,
                Stage::Members => Stage::Account,
                _ => Stage::Ready,
            };
        }
        self.walk = match next {
            Stage::Members => Some(ContactWalk::new(self.list_id)),
            Stage::Account => Some(ContactWalk::new(None)),
            _ => None,
        };
        if next == Stage::Ready {
            tracing::info!(
                list = ?self.list_id,
                members = self.members.len(),
                "list prepared"
            );
        }
        self.stage = next;
    }

    fn on_setup(&mut self, stage: Stage, response: &ResponseView<'_>) -> Result<(), PluginError> {
        self.setup_in_flight = false;
        let what = match stage {
            Stage::FindList => "the list lookup",
            Stage::CreateList => "the list creation",
            Stage::DataFields => "the data-field read",
            _ => "the contact listing",
        };
        if let Some(error) = refused(response, what) {
            return Err(error);
        }
        let invalid = |error: serde_json::Error| PluginError::fatal(format!("{what} answered invalid JSON: {error}"));
        if stage == Stage::FindList && response.status == 404 {
            return self.list_missing();
        }
        if !response.is_success() {
            let error = ApiError::from_response(response.status, response.body);
            return Err(if stage == Stage::CreateList {
                PluginError::config(format!(
                    "the list {} could not be created: {error}",
                    self.lookup.target()
                ))
            } else {
                PluginError::fatal(format!("{what} failed: {error}"))
            });
        }
        match stage {
            Stage::FindList => match self.lookup.on_success(response.body).map_err(invalid)? {
                LookupStep::Found(list) => {
                    tracing::info!(list = list.id, name = %list.name, "list found");
                    self.list_id = Some(list.id);
                    self.advance_from(stage);
                }
                LookupStep::NextPage => {}
                LookupStep::Missing => self.list_missing()?,
            },
            Stage::CreateList => {
                let created: Created = serde_json::from_slice(response.body).map_err(invalid)?;
                let id = created.id.as_ref().and_then(dotdigital_shared::contact_page::number);
                let id = id.ok_or_else(|| PluginError::fatal("the created list has no id in the answer"))?;
                tracing::info!(list = id, "list created");
                self.list_id = Some(id);
                self.advance_from(stage);
            }
            Stage::DataFields => {
                let fields = parse_data_fields(response.body).map_err(invalid)?;
                self.fields = resolve_mapping(&self.config.data_fields, &fields).map_err(PluginError::config)?;
                self.file = ImportFile::new(&self.fields);
                self.advance_from(stage);
            }
            Stage::Members | Stage::Account => {
                let walk = self
                    .walk
                    .as_mut()
                    .ok_or_else(|| PluginError::fatal("no contact walk"))?;
                if !walk.read_page(response.body).map_err(invalid)? {
                    let found = self.walk.take().map(|walk| walk.found).unwrap_or_default();
                    if stage == Stage::Members {
                        self.members = found
                            .into_iter()
                            .map(|(email, contact_id)| {
                                (
                                    email,
                                    Member {
                                        contact_id,
                                        seen: false,
                                    },
                                )
                            })
                            .collect();
                    } else {
                        self.account = found.into_keys().collect();
                    }
                    self.advance_from(stage);
                }
            }
            Stage::Ready => {}
        }
        Ok(())
    }

    fn list_missing(&mut self) -> Result<(), PluginError> {
        let target = self.lookup.target().clone();
        match target {
            ResourceRef::Name(_) if self.config.create_if_missing => {
                self.stage = Stage::CreateList;
                Ok(())
            }
            ResourceRef::Name(name) => Err(PluginError::config(format!(
                "no list is named `{name}` in the Dotdigital account; set `create_if_missing = true` to create it"
            ))),
            ResourceRef::Id(id) => Err(PluginError::config(format!(
                "the list with id {id} does not exist in the Dotdigital account"
            ))),
        }
    }

    // ---- rows ----------------------------------------------------------------------------

    fn plan_input(&mut self) -> Result<(), PluginError> {
        while let Some((batch_id, kind, batch)) = self.input.pop_front() {
            if !self.types_checked {
                check_column_types(&self.fields, &batch.schema()).map_err(PluginError::config)?;
                self.types_checked = true;
            }
            self.plan_batch(batch_id, kind, &batch)?;
        }
        if self.finished {
            self.plan_absent_members();
            self.seal_file();
            self.seal_removal();
        }
        Ok(())
    }

    fn plan_batch(&mut self, batch_id: BatchId, kind: BatchKind, batch: &RecordBatch) -> Result<(), PluginError> {
        let emails = text_column(batch, &self.config.email_column)?;
        let membership = match (&self.config.membership_column, kind) {
            (Some(column), BatchKind::Upsert) => Some(flag_column(batch, column)?),
            _ => None,
        };
        let values = if kind == BatchKind::Upsert {
            self.fields
                .iter()
                .map(|field| {
                    let array = batch
                        .column_by_name(&field.column)
                        .cloned()
                        .unwrap_or_else(|| null_array(batch.num_rows()));
                    ValueColumn::new(field.field_type, &array)
                        .map_err(|error| PluginError::config(format!("column `{}`: {error}", field.column)))
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        for row in 0..batch.num_rows() {
            let at = RowRef {
                batch_id,
                row: row as u32,
            };
            let raw = (!emails.is_null(row))
                .then(|| emails.value(row))
                .filter(|e| !e.trim().is_empty());
            let Some(raw) = raw else {
                let message = format!("column `{}` is empty: the email is the key", self.config.email_column);
                self.outcomes
                    .report(batch_id, at.row, OutcomeStatus::Rejected, codes::NULL_KEY, &message);
                continue;
            };
            let email = match validate_email(raw) {
                Ok(email) => email,
                Err(reason) => {
                    let message = format!("email `{}` {reason}", dotdigital_shared::error::shorten(raw, 80));
                    self.outcomes.report(
                        batch_id,
                        at.row,
                        OutcomeStatus::Rejected,
                        outcome_codes::INVALID_EMAIL,
                        &message,
                    );
                    continue;
                }
            };
            let hash = email_hash(email);
            if !self.seen.insert(hash) {
                let message = format!("`{email}` was already seen earlier in this run; only its first row counts");
                self.outcomes.report(
                    batch_id,
                    at.row,
                    OutcomeStatus::Rejected,
                    codes::DUPLICATE_KEY,
                    &message,
                );
                continue;
            }
            let wants = match &membership {
                None => kind == BatchKind::Upsert,
                Some(flags) if flags.is_null(row) => {
                    let column = self.config.membership_column.as_deref().unwrap_or_default();
                    let message = format!("column `{column}` is null: membership unknown, the list is left as it is");
                    self.outcomes.report(
                        batch_id,
                        at.row,
                        OutcomeStatus::Skipped,
                        outcome_codes::NULL_MEMBERSHIP,
                        &message,
                    );
                    continue;
                }
                Some(flags) => flags.value(row),
            };
            let member = self.members.get_mut(&hash).map(|member| {
                member.seen = true;
                member.contact_id
            });
            match (wants, member) {
                (true, Some(_)) | (false, None) => self.outcomes.delivered(batch_id, at.row),
                (false, Some(contact_id)) => self.plan_removal(at, contact_id),
                (true, None) => self.plan_add(at, hash, email, &values, row),
            }
        }
        Ok(())
    }

    fn plan_add(&mut self, at: RowRef, hash: u64, email: &str, values: &[ValueColumn], row: usize) {
        if self.list_id.is_none() {
            let message = "dry run: the list does not exist yet and would be created first";
            self.outcomes
                .report(at.batch_id, at.row, OutcomeStatus::Skipped, codes::DRY_RUN, message);
            return;
        }
        if !self.config.create_contacts && !self.account.contains(&hash) {
            let message = format!("no contact has the email `{email}`; `create_contacts` is false");
            self.outcomes.report(
                at.batch_id,
                at.row,
                OutcomeStatus::Skipped,
                codes::CONTACT_NOT_FOUND,
                &message,
            );
            return;
        }
        let added = AddedRow {
            batch_id: at.batch_id,
            row: at.row,
            email: hash,
        };
        if let Err(error) = self.file.push(added, email, values, row) {
            self.outcomes.report(
                at.batch_id,
                at.row,
                OutcomeStatus::Rejected,
                outcome_codes::INVALID_DATA_FIELD_VALUE,
                &error.reason,
            );
            return;
        }
        if self.file.is_full(self.config.import_size as usize) {
            self.seal_file();
        }
    }

    fn plan_removal(&mut self, at: RowRef, contact_id: u64) {
        self.removal.contact_ids.push(contact_id);
        self.removal.rows.push(at);
        if self.removal.contact_ids.len() >= REMOVE_CHUNK {
            self.seal_removal();
        }
    }

    /// With `remove_unlisted_members` the rows are the whole audience: members no row named are
    /// not in it.
    fn plan_absent_members(&mut self) {
        if self.absent_planned || !self.config.remove_unlisted_members {
            return;
        }
        self.absent_planned = true;
        let mut absent: Vec<u64> = self
            .members
            .values()
            .filter(|member| !member.seen)
            .map(|member| member.contact_id)
            .collect();
        // Hash-map order is arbitrary; requests should not be.
        absent.sort_unstable();
        if !absent.is_empty() {
            tracing::info!(
                members = absent.len(),
                "removing list members the audience no longer has"
            );
        }
        for contact_id in absent {
            self.removal.contact_ids.push(contact_id);
            if self.removal.contact_ids.len() >= REMOVE_CHUNK {
                self.seal_removal();
            }
        }
    }

    fn seal_file(&mut self) {
        if !self.file.is_empty() {
            let file = std::mem::replace(&mut self.file, ImportFile::new(&self.fields));
            self.ready_imports.push_back(file);
        }
    }

    fn seal_removal(&mut self) {
        if !self.removal.contact_ids.is_empty() {
            self.ready_removals.push_back(std::mem::take(&mut self.removal));
        }
    }

    // ---- imports and removals ------------------------------------------------------------

    /// Ends an import: reports every row and frees its slot.
    fn end_import(&mut self, seq: u64, status: OutcomeStatus, code: &str, message: &str) {
        if let Some(import) = self.imports.remove(seq) {
            self.report_added(&import.rows, status, code, message);
            self.released.push_back(import.request);
        }
    }

    fn on_import(&mut self, seq: u64, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        match read_submission(response, "the list import")? {
            Submitted::Accepted(job) => {
                tracing::info!(import_id = %job, "list import accepted");
                self.imports.accept(seq, job, now, self.config.poll_interval_ms);
            }
            Submitted::Ended(end) => self.end_import(seq, end.status, &end.code, &end.message),
        }
        Ok(())
    }

    fn on_import_status(&mut self, seq: u64, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        let step = self.imports.on_status(
            seq,
            response,
            now,
            "the list import",
            OutcomeStatus::Failed,
            codes::INVALID_RESPONSE,
        )?;
        match step {
            NextStep::Wait => {}
            NextStep::ReadFaults(job) => {
                let id = self.requests.issue(Purpose::ImportFaults(seq));
                let path = format!("/v2/contacts/import/{job}/report-faults");
                self.outgoing.push_back(RequestSpec::get(id, path, rate::MEDIUM));
            }
            NextStep::End(end) => self.end_import(seq, end.status, &end.code, &end.message),
        }
        Ok(())
    }

    fn on_import_faults(&mut self, seq: u64, response: &ResponseView<'_>) -> Result<(), PluginError> {
        let report = match read_fault_report(
            response,
            "import",
            OutcomeStatus::Failed,
            outcome_codes::FAULT_REPORT_UNAVAILABLE,
        )? {
            Ok(report) => report,
            Err(end) => {
                self.end_import(seq, end.status, &end.code, &end.message);
                return Ok(());
            }
        };
        let Some(import) = self.imports.remove(seq) else {
            return Ok(());
        };
        self.released.push_back(import.request);
        let (faults, unmatched) = parse_faults(&report);
        let mut rejected = 0;
        for row in &import.rows {
            match faults.get(&row.email) {
                Some(reason) => {
                    rejected += 1;
                    self.outcomes.report(
                        row.batch_id,
                        row.row,
                        OutcomeStatus::Rejected,
                        reason_code(reason, "ImportFault"),
                        reason,
                    );
                }
                None => self.outcomes.delivered(row.batch_id, row.row),
            }
        }
        tracing::info!(
            added = import.rows.len() - rejected,
            rejected,
            unmatched_faults = unmatched,
            "list import finished"
        );
        Ok(())
    }

    fn on_remove(&mut self, rows: &[RowRef], response: &ResponseView<'_>) -> Result<(), PluginError> {
        if let Some(error) = refused(response, "the list removal") {
            return Err(error);
        }
        if response.is_success() {
            for row in rows {
                self.outcomes.delivered(row.batch_id, row.row);
            }
        } else {
            let error = ApiError::from_response(response.status, response.body);
            let message = format!("removing contacts from the list failed: {error}");
            self.report_rows(rows, error_status(&error), &error.code, &message);
        }
        Ok(())
    }

    /// The next request of a ready planner, if one is due.
    fn next_request(&mut self, now: Millis) -> Option<RequestSpec> {
        if let Some(spec) = self.outgoing.pop_front() {
            return Some(spec);
        }
        let list = self.list_id?;
        if let Some((seq, job)) = self.imports.next_due(now) {
            let id = self.requests.issue(Purpose::ImportStatus(seq));
            return Some(RequestSpec::get(id, format!("/v2/contacts/import/{job}"), rate::MEDIUM));
        }
        if let Some(removal) = self.ready_removals.pop_front() {
            let body = serde_json::to_vec(&removal.contact_ids).unwrap_or_default();
            let id = self.requests.issue(Purpose::Remove(removal.rows));
            let path = format!("/v2/address-books/{list}/contacts/delete");
            return Some(RequestSpec::write(id, Method::Post, path, body, rate::LOW));
        }
        if self.imports.len() < MAX_ACTIVE_IMPORTS
            && let Some(file) = self.ready_imports.pop_front()
        {
            let id = self.requests.issue(Purpose::Import);
            let rows = file.rows.clone();
            let body = file.into_body(&format!("dotsync-{id}.csv"));
            tracing::debug!(contacts = rows.len(), bytes = body.len(), "sending list import");
            self.imports.start(id, rows);
            let path = format!("/v2/address-books/{list}/contacts/import");
            return Some(RequestSpec::write(id, Method::Post, path, body, rate::LOW).with_slot(rate::CONTACT_IMPORT));
        }
        None
    }

    fn is_done(&self) -> bool {
        self.stage == Stage::Ready
            && self.finished
            && self.input.is_empty()
            && self.file.is_empty()
            && self.ready_imports.is_empty()
            && self.imports.is_empty()
            && self.removal.contact_ids.is_empty()
            && self.ready_removals.is_empty()
            && self.outgoing.is_empty()
            && self.requests.is_empty()
    }
}

impl DestinationPlanner for ListsPlanner {
    type Config = ListsConfig;

    fn new(config: ListsConfig, context: PluginContext) -> Result<Self, PluginError> {
        config.validate()?;
        let mut fields = vec![Field::new(&config.email_column, DataType::Utf8, true)];
        if let Some(column) = &config.membership_column {
            fields.push(Field::new(column, DataType::Boolean, true));
        }
        for column in config.data_fields.values() {
            if !fields.iter().any(|field| field.name() == column) {
                fields.push(Field::new(column, DataType::Null, true));
            }
        }
        let contract = Arc::new(Schema::new_with_metadata(
            fields,
            HashMap::from([
                (KEY_COLUMNS_METADATA.to_owned(), config.email_column.clone()),
                // Contacts whose key left the source are removed from the list.
                (DEPARTED_KEYS_METADATA.to_owned(), DEPARTED_KEYS_DELETE.to_owned()),
            ]),
        ));
        tracing::debug!(sync = %context.sync_name, run_mode = ?context.mode, list = %config.list, "lists planner created");
        Ok(ListsPlanner {
            run_mode: context.mode,
            contract,
            requests: Requests::default(),
            outcomes: Outcomes::default(),
            error: None,
            stage: Stage::FindList,
            setup_in_flight: false,
            lookup: NamedLookup::new("/v2/address-books", config.list.clone()),
            list_id: None,
            fields: Vec::new(),
            types_checked: false,
            walk: None,
            members: EmailMap::default(),
            account: EmailSet::default(),
            input: VecDeque::new(),
            finished: false,
            absent_planned: false,
            seen: EmailSet::default(),
            file: ImportFile::new(&[]),
            ready_imports: VecDeque::new(),
            imports: Jobs::default(),
            removal: Removal::default(),
            ready_removals: VecDeque::new(),
            outgoing: VecDeque::new(),
            released: VecDeque::new(),
            config,
        })
    }

    fn input_contract(&self) -> SchemaRef {
        self.contract.clone()
    }

    fn can_accept_batch(&self) -> bool {
        self.error.is_none()
            && self.stage == Stage::Ready
            && !self.finished
            && self.ready_imports.len() < 2
            && self.ready_removals.len() < 2
    }

    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
        self.outcomes.expect(batch.num_rows());
        if batch.num_rows() > 0 {
            self.input.push_back((id, kind, batch));
        }
        // Rows are planned as they come, so accepting the next batch depends only on the
        // requests waiting to be sent.
        if self.stage == Stage::Ready {
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
        if self.stage != Stage::Ready {
            if self.setup_in_flight {
                return Ok(Poll::Pending);
            }
            self.setup_in_flight = true;
            return Ok(Poll::Ready(self.setup_request()));
        }
        self.plan_input().map_err(|error| self.fail(error))?;
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
            Purpose::Setup(stage) => self.on_setup(stage, response),
            Purpose::Import => match self.imports.by_request(id).map(|job| job.seq) {
                Some(seq) => self.on_import(seq, response, now),
                None => Ok(()),
            },
            Purpose::ImportStatus(seq) => self.on_import_status(seq, response, now),
            Purpose::ImportFaults(seq) => self.on_import_faults(seq, response),
            Purpose::Remove(rows) => self.on_remove(&rows, response),
        };
        result.map_err(|error| self.fail(error))
    }

    /// The one write that is not idempotent, creating the list, carries no rows: there is no
    /// row to protect from a second send (list imports and removals may be repeated).
    fn request_rows(&self, _id: RequestId) -> Option<Vec<(BatchId, u32)>> {
        Some(Vec::new())
    }

    fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, _now: Millis) -> Result<(), PluginError> {
        let Some(purpose) = self.requests.take(id) else {
            return Ok(());
        };
        let detail = failure_detail(failure);
        let (status, code) = failure_outcome(failure.kind);
        match purpose {
            Purpose::Setup(Stage::CreateList) if failure.kind == FailureKind::DryRun => {
                tracing::info!(list = %self.config.list, "dry run: the list would be created");
                self.setup_in_flight = false;
                self.advance_from(Stage::CreateList);
            }
            Purpose::Setup(stage) => {
                return Err(self.fail(PluginError::fatal(format!(
                    "preparing the list sync failed ({stage:?}): {detail}"
                ))));
            }
            Purpose::Import | Purpose::ImportStatus(_) | Purpose::ImportFaults(_) => {
                let seq = match purpose {
                    Purpose::ImportStatus(seq) | Purpose::ImportFaults(seq) => Some(seq),
                    _ => self.imports.by_request(id).map(|job| job.seq),
                };
                if let Some(seq) = seq {
                    let message = format!("the list import was not completed: {detail}");
                    self.end_import(seq, status, code, &message);
                }
            }
            Purpose::Remove(rows) => {
                let message = format!("removing contacts from the list was not completed: {detail}");
                self.report_rows(&rows, status, code, &message);
            }
        }
        Ok(())
    }

    fn poll_outcomes(&mut self) -> Option<RecordBatch> {
        self.outcomes.take_batch()
    }

    fn poll_released_slot(&mut self) -> Option<RequestId> {
        self.released.pop_front()
    }

    fn poll_timeout(&self) -> Option<Millis> {
        self.imports.next_timeout()
    }
}

/// `{"id": ...}`: a created list.
#[derive(Deserialize)]
struct Created {
    #[serde(alias = "Id")]
    id: Option<serde_json::Value>,
}
