//! The insight planner: a sans-IO state machine from rows to Insight data imports and record
//! deletions.
//!
//! Life of a run:
//! 1. **Collection check**, before any row is read: `GET /insightData/v3/collections`; a missing
//!    collection is created when allowed (`POST /insightData/v3/collections/{name}`), else a
//!    configuration error stops the run before any write. A collection of the other scope is a
//!    configuration error too. `check` stops here.
//! 2. **Rows**: each row's key and (contact scope) contact identifier are checked, its document
//!    written into the current import body; refused rows are rejected with the reason, the rest
//!    of the batch goes on. A body seals at `import_size` records or 45 MB.
//! 3. **Imports**: `PUT /insightData/v3/import` (slot `insight-import`, at most 5 active per
//!    account), then `GET /insightData/v3/import/{id}` until `Complete`; the failures it lists
//!    reject their rows by key, the others are delivered.
//! 4. **Mirror**: each key of a Delete batch is deleted with
//!    `DELETE /insightData/v3/account/{collection}/{key}` or
//!    `DELETE /insightData/v3/contacts/{identifier}/{value}/{collection}/{key}`; a record already
//!    gone counts as deleted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use dotdigital_shared::identifier::encode_path_segment;
use dotdigital_shared::planning::{codes, error_status, failure_detail, failure_outcome, refused, text_column};
use dotdigital_shared::polling::{Polled, Submitted, read_poll, read_submission};
use dotdigital_shared::{ApiError, IdentifierKind, Jobs, Outcomes, Requests, json, rate};
use dotsync_plugin_sdk::{
    BatchId, BatchKind, DEPARTED_KEYS_DELETE, DEPARTED_KEYS_METADATA, DestinationPlanner, Failure, FailureKind,
    KEY_COLUMNS_METADATA, Method, Millis, OutcomeStatus, PluginContext, PluginError, Poll, RequestId, RequestSpec,
    ResponseView, RunMode,
};
use serde::Deserialize;

use crate::config::{InsightConfig, MAX_BODY_BYTES, Mode};
use crate::document::{self, DocumentWriter, RecordError, Shape};

/// Insight imports this planner keeps active at once (the account's limit).
pub const MAX_ACTIVE_IMPORTS: usize = rate::INSIGHT_IMPORT_LIMIT as usize;
/// Record deletions out at once.
pub const MAX_DELETES_IN_FLIGHT: usize = 32;

/// Outcome codes of this plugin besides the shared ones and [`document::codes`].
pub mod outcome_codes {
    pub const INVALID_CLIENT_KEY: &str = "InvalidClientKey";
    pub const NULL_CONTACT: &str = "NullContactIdentifier";
    pub const IMPORT_FAILURE: &str = "ImportFailure";
}

#[derive(Debug, Clone, Copy)]
struct RowRef {
    batch_id: BatchId,
    row: u32,
}

/// What a request was sent for.
#[derive(Debug)]
enum Purpose {
    Collections,
    CreateCollection,
    Import,
    ImportStatus(u64),
    Delete(RowRef),
}

/// An import body being written, with the key of each record in it.
#[derive(Debug, Default)]
struct Body {
    bytes: Vec<u8>,
    rows: Vec<(RowRef, String)>,
}

/// The insight destination. See the crate docs for the configuration and the requests it makes.
pub struct InsightPlanner {
    config: InsightConfig,
    run_mode: RunMode,
    contract: SchemaRef,
    shape: std::collections::BTreeMap<String, Shape>,
    body_prefix: Vec<u8>,
    requests: Requests<Purpose>,
    outcomes: Outcomes,
    error: Option<PluginError>,

    prepared: bool,
    setup_in_flight: bool,
    create_needed: bool,

    input: VecDeque<(BatchId, BatchKind, RecordBatch)>,
    finished: bool,
    seen: HashSet<String>,
    body: Body,
    ready: VecDeque<Body>,
    /// Imports sent and not settled, with the row and key of each record.
    imports: Jobs<(RowRef, String)>,
    deletes: VecDeque<(RowRef, String)>,
    deleting: usize,
    released: VecDeque<RequestId>,
}

impl InsightPlanner {
    fn fail(&mut self, error: PluginError) -> PluginError {
        self.error = Some(error.clone());
        error
    }

    fn contact_kind(&self) -> Option<IdentifierKind> {
        self.config.contact.as_ref().map(|contact| contact.identifier.kind())
    }

    fn new_body(&self) -> Body {
        Body {
            bytes: self.body_prefix.clone(),
            rows: Vec::new(),
        }
    }

    // ---- the collection ------------------------------------------------------------------

    fn on_collections(&mut self, response: &ResponseView<'_>) -> Result<(), PluginError> {
        self.setup_in_flight = false;
        if let Some(error) = refused(response, "the collection listing") {
            return Err(error);
        }
        if !response.is_success() {
            let error = ApiError::from_response(response.status, response.body);
            return Err(PluginError::fatal(format!(
                "listing the Insight collections failed: {error}"
            )));
        }
        let listed = parse_collections(response.body)
            .map_err(|error| PluginError::fatal(format!("the collection listing is not valid JSON: {error}")))?;
        let name = &self.config.collection;
        match listed
            .iter()
            .find(|collection| collection.name.eq_ignore_ascii_case(name))
        {
            Some(found) => {
                if let Some(scope) = &found.scope
                    && !scope.eq_ignore_ascii_case(self.config.scope.api_name())
                {
                    return Err(PluginError::config(format!(
                        "collection `{name}` is {scope}-scoped, but `scope` is `{}`",
                        self.config.scope.api_name()
                    )));
                }
                tracing::info!(collection = %name, "collection found");
                self.prepared = true;
            }
            None if self.config.create_collection_if_missing => self.create_needed = true,
            None => {
                return Err(PluginError::config(format!(
                    "the Insight collection `{name}` does not exist in the Dotdigital account; set `create_collection_if_missing = true` to create it"
                )));
            }
        }
        Ok(())
    }

    fn on_create(&mut self, response: &ResponseView<'_>) -> Result<(), PluginError> {
        self.setup_in_flight = false;
        if let Some(error) = refused(response, "the collection creation") {
            return Err(error);
        }
        if !response.is_success() {
            let error = ApiError::from_response(response.status, response.body);
            return Err(PluginError::config(format!(
                "the Insight collection `{}` could not be created: {error}",
                self.config.collection
            )));
        }
        tracing::info!(collection = %self.config.collection, "collection created");
        self.create_needed = false;
        self.prepared = true;
        Ok(())
    }

    fn create_request(&mut self) -> RequestSpec {
        let id = self.requests.issue(Purpose::CreateCollection);
        let path = format!(
            "/insightData/v3/collections/{}?collectionScope={}&collectionType={}",
            encode_path_segment(&self.config.collection),
            self.config.scope.api_name(),
            self.config.collection_type
        );
        // The API answers 200 when the collection exists already: safe to resend.
        RequestSpec::write(id, Method::Post, path, Vec::new(), rate::MEDIUM)
    }

    // ---- rows ----------------------------------------------------------------------------

    fn plan_input(&mut self) -> Result<(), PluginError> {
        while let Some((batch_id, kind, batch)) = self.input.pop_front() {
            match (kind, self.config.mode) {
                (BatchKind::Upsert, _) => self.plan_records(batch_id, &batch)?,
                (BatchKind::Delete, Mode::Mirror) => self.plan_deletes(batch_id, &batch)?,
                (BatchKind::Delete, Mode::Upsert) => {
                    for row in 0..batch.num_rows() as u32 {
                        self.outcomes.report(
                            batch_id,
                            row,
                            OutcomeStatus::Skipped,
                            codes::DELETE_NOT_SUPPORTED,
                            "mode `upsert` never deletes records; use mode `mirror`",
                        );
                    }
                }
                // Kinds pushed only to plugins that ask for them (the key pre-pass's hint); this
                // one asks for none.
                _ => {}
            }
        }
        if self.finished {
            self.seal();
        }
        Ok(())
    }

    /// The row's record key and contact identifier (normalised), or why the row is refused.
    fn identity(
        &self,
        keys: &StringArray,
        contacts: Option<&StringArray>,
        row: usize,
    ) -> Result<(String, Option<String>), (&'static str, String)> {
        let key = if keys.is_null(row) { "" } else { keys.value(row) };
        if key.trim().is_empty() {
            let message = format!("column `{}` is empty: it is the record key", self.config.key_column);
            return Err((codes::NULL_KEY, message));
        }
        if key.chars().any(char::is_control) {
            let message = format!("the key `{}` contains a control character", key.escape_debug());
            return Err((outcome_codes::INVALID_CLIENT_KEY, message));
        }
        let contact = match (contacts, self.contact_kind()) {
            (Some(values), Some(kind)) => {
                if values.is_null(row) || values.value(row).trim().is_empty() {
                    return Err((outcome_codes::NULL_CONTACT, "the record's contact is empty".to_owned()));
                }
                let mut normalized = String::new();
                kind.normalize_into(values.value(row), &mut normalized)
                    .map_err(|invalid| (invalid.code, format!("{} {invalid}", kind.api_name())))?;
                Some(normalized)
            }
            _ => None,
        };
        Ok((key.to_owned(), contact))
    }

    fn plan_records(&mut self, batch_id: BatchId, batch: &RecordBatch) -> Result<(), PluginError> {
        let keys = text_column(batch, &self.config.key_column)?;
        let contacts = match &self.config.contact {
            Some(contact) => Some(text_column(batch, &contact.column)?),
            None => None,
        };
        let writer = DocumentWriter::new(&self.shape, batch)?;
        let mut record = Vec::new();
        for row in 0..batch.num_rows() {
            let at = RowRef {
                batch_id,
                row: row as u32,
            };
            let (key, contact) = match self.identity(&keys, contacts.as_ref(), row) {
                Ok(identity) => identity,
                Err((code, message)) => {
                    self.outcomes
                        .report(batch_id, at.row, OutcomeStatus::Rejected, code, &message);
                    continue;
                }
            };
            if self.seen.contains(&key) {
                let message = format!("key `{key}` was already seen earlier in this run; only its first row is sent");
                self.outcomes.report(
                    batch_id,
                    at.row,
                    OutcomeStatus::Rejected,
                    codes::DUPLICATE_KEY,
                    &message,
                );
                continue;
            }
            record.clear();
            if let Err(RecordError { code, message }) =
                self.write_record(&writer, row, &key, contact.as_deref(), &mut record)
            {
                self.outcomes
                    .report(batch_id, at.row, OutcomeStatus::Rejected, code, &message);
                continue;
            }
            self.seen.insert(key.clone());
            if self.body.bytes.len() + record.len() > MAX_BODY_BYTES && !self.body.rows.is_empty() {
                self.seal();
            }
            if !self.body.rows.is_empty() {
                self.body.bytes.push(b',');
            }
            self.body.bytes.extend_from_slice(&record);
            self.body.rows.push((at, key));
            if self.body.rows.len() >= self.config.import_size as usize {
                self.seal();
            }
        }
        Ok(())
    }

    /// Writes `{"key": …, "contactIdentity": {…}, "json": {…}}`, refusing a document larger
    /// than `max_record_bytes`.
    fn write_record(
        &self,
        writer: &DocumentWriter,
        row: usize,
        key: &str,
        contact: Option<&str>,
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        out.extend_from_slice(b"{\"key\":");
        json::write_str(out, key);
        if let (Some(value), Some(kind)) = (contact, self.contact_kind()) {
            out.extend_from_slice(b",\"contactIdentity\":{\"identifier\":");
            json::write_str(out, kind.api_name());
            out.extend_from_slice(b",\"value\":");
            json::write_str(out, value);
            out.push(b'}');
        }
        out.extend_from_slice(b",\"json\":");
        let start = out.len();
        writer.write(row, out)?;
        let size = out.len() - start;
        if size > self.config.max_record_bytes {
            return Err(RecordError {
                code: document::codes::RECORD_TOO_LARGE,
                message: format!(
                    "the record is {size} bytes of JSON; `max_record_bytes` allows {}",
                    self.config.max_record_bytes
                ),
            });
        }
        out.push(b'}');
        Ok(())
    }

    fn plan_deletes(&mut self, batch_id: BatchId, batch: &RecordBatch) -> Result<(), PluginError> {
        let keys = text_column(batch, &self.config.key_column)?;
        let contacts = match &self.config.contact {
            Some(contact) => Some(text_column(batch, &contact.column)?),
            None => None,
        };
        for row in 0..batch.num_rows() {
            let at = RowRef {
                batch_id,
                row: row as u32,
            };
            match self.identity(&keys, contacts.as_ref(), row) {
                Ok((key, contact)) => {
                    let path = self.record_path(&key, contact.as_deref());
                    self.deletes.push_back((at, path));
                }
                Err((code, message)) => {
                    self.outcomes
                        .report(batch_id, at.row, OutcomeStatus::Rejected, code, &message);
                }
            }
        }
        Ok(())
    }

    fn record_path(&self, key: &str, contact: Option<&str>) -> String {
        let collection = encode_path_segment(&self.config.collection);
        let key = encode_path_segment(key);
        match (contact, self.contact_kind()) {
            (Some(value), Some(kind)) => format!(
                "/insightData/v3/contacts/{}/{}/{collection}/{key}",
                kind.api_name(),
                encode_path_segment(value)
            ),
            _ => format!("/insightData/v3/account/{collection}/{key}"),
        }
    }

    fn seal(&mut self) {
        if !self.body.rows.is_empty() {
            let fresh = self.new_body();
            let mut body = std::mem::replace(&mut self.body, fresh);
            body.bytes.extend_from_slice(b"]}");
            self.ready.push_back(body);
        }
    }

    // ---- imports and deletions -----------------------------------------------------------

    fn end_import(&mut self, seq: u64, status: OutcomeStatus, code: &str, message: &str) {
        if let Some(import) = self.imports.remove(seq) {
            for (at, _) in &import.rows {
                self.outcomes.report(at.batch_id, at.row, status, code, message);
            }
            self.released.push_back(import.request);
        }
    }

    fn on_import(&mut self, seq: u64, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        match read_submission(response, "the insight import")? {
            Submitted::Accepted(job) => {
                tracing::info!(import_id = %job, "insight import accepted");
                self.imports.accept(seq, job, now, self.config.poll_interval_ms);
            }
            Submitted::Ended(end) => self.end_import(seq, end.status, &end.code, &end.message),
        }
        Ok(())
    }

    fn on_import_status(&mut self, seq: u64, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        self.imports.set_reading(seq, false);
        match read_poll(
            response,
            "the insight import",
            OutcomeStatus::Failed,
            codes::INVALID_RESPONSE,
        )? {
            Polled::Running => self.imports.back_off(seq, now),
            Polled::Ended(end) => self.end_import(seq, end.status, &end.code, &end.message),
            Polled::Done(_) => {
                let failures: HashMap<String, String> = serde_json::from_slice::<ImportReport>(response.body)
                    .map(|report| report.failures)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|failure| Some((failure.key?, failure.failure_reason.unwrap_or_default())))
                    .collect();
                let Some(import) = self.imports.remove(seq) else {
                    return Ok(());
                };
                let mut rejected = 0;
                for (at, key) in &import.rows {
                    match failures.get(key) {
                        Some(reason) => {
                            rejected += 1;
                            let code = if reason.is_empty() {
                                outcome_codes::IMPORT_FAILURE
                            } else {
                                reason.as_str()
                            };
                            let message = format!("Dotdigital refused record `{key}`: {code}");
                            self.outcomes
                                .report(at.batch_id, at.row, OutcomeStatus::Rejected, code, &message);
                        }
                        None => self.outcomes.delivered(at.batch_id, at.row),
                    }
                }
                self.released.push_back(import.request);
                tracing::info!(
                    records = import.rows.len() - rejected,
                    rejected,
                    "insight import complete"
                );
            }
        }
        Ok(())
    }

    fn on_delete(&mut self, at: RowRef, response: &ResponseView<'_>) -> Result<(), PluginError> {
        self.deleting -= 1;
        if let Some(error) = refused(response, "the record deletion") {
            return Err(error);
        }
        // A record that is already gone is as deleted as it gets.
        if response.is_success() || response.status == 404 {
            self.outcomes.delivered(at.batch_id, at.row);
        } else {
            let error = ApiError::from_response(response.status, response.body);
            let message = format!("deleting the record failed: {error}");
            self.outcomes
                .report(at.batch_id, at.row, error_status(&error), &error.code, &message);
        }
        Ok(())
    }

    fn next_request(&mut self, now: Millis) -> Option<RequestSpec> {
        if let Some((seq, job)) = self.imports.next_due(now) {
            let id = self.requests.issue(Purpose::ImportStatus(seq));
            return Some(RequestSpec::get(
                id,
                format!("/insightData/v3/import/{job}"),
                rate::MEDIUM,
            ));
        }
        if self.deleting < MAX_DELETES_IN_FLIGHT
            && let Some((at, path)) = self.deletes.pop_front()
        {
            self.deleting += 1;
            let id = self.requests.issue(Purpose::Delete(at));
            return Some(RequestSpec::write(id, Method::Delete, path, Vec::new(), rate::MEDIUM));
        }
        if self.imports.len() < MAX_ACTIVE_IMPORTS
            && let Some(body) = self.ready.pop_front()
        {
            let id = self.requests.issue(Purpose::Import);
            tracing::debug!(
                records = body.rows.len(),
                bytes = body.bytes.len(),
                "sending insight import"
            );
            self.imports.start(id, body.rows);
            return Some(
                RequestSpec::write(id, Method::Put, "/insightData/v3/import", body.bytes, rate::LOW)
                    .with_slot(rate::INSIGHT_IMPORT),
            );
        }
        None
    }

    fn is_done(&self) -> bool {
        self.prepared
            && self.finished
            && self.input.is_empty()
            && self.body.rows.is_empty()
            && self.ready.is_empty()
            && self.imports.is_empty()
            && self.deletes.is_empty()
            && self.requests.is_empty()
    }
}

/// A collection in the listing. The documented fields are the collection's name and scope; the
/// listing's item shape is not documented, so both `collectionName` and `name` are read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedCollection {
    #[serde(alias = "collectionName")]
    name: String,
    #[serde(default, alias = "collectionScope")]
    scope: Option<String>,
}

/// The collection listing: a bare array, or v3's `{"_items": [...]}`.
fn parse_collections(body: &[u8]) -> Result<Vec<ListedCollection>, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Listing {
        Bare(Vec<ListedCollection>),
        Paged {
            #[serde(rename = "_items")]
            items: Vec<ListedCollection>,
        },
    }
    Ok(match serde_json::from_slice(body)? {
        Listing::Bare(items) | Listing::Paged { items } => items,
    })
}

/// A finished import's failures (its id and status are read by [`job_status`]).
#[derive(Deserialize)]
struct ImportReport {
    #[serde(default)]
    failures: Vec<ImportFailure>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportFailure {
    key: Option<String>,
    failure_reason: Option<String>,
}

impl DestinationPlanner for InsightPlanner {
    type Config = InsightConfig;

    fn new(config: InsightConfig, context: PluginContext) -> Result<Self, PluginError> {
        config.validate()?;
        let shape = document::shape(&config.fields).map_err(PluginError::config)?;
        let mut key_columns = vec![config.key_column.clone()];
        if let Some(contact) = &config.contact {
            // A contact-scoped record is addressed through its contact: deleting a departed key
            // needs both.
            key_columns.push(contact.column.clone());
        }
        let mut fields: Vec<Field> = key_columns
            .iter()
            .map(|column| Field::new(column, DataType::Utf8, true))
            .collect();
        let mut document_columns = Vec::new();
        document::columns(&shape, &mut document_columns);
        for column in document_columns {
            if !fields.iter().any(|field| field.name() == &column) {
                fields.push(Field::new(column, DataType::Null, true));
            }
        }
        let mut metadata = HashMap::from([(KEY_COLUMNS_METADATA.to_owned(), key_columns.join(","))]);
        if config.mode == Mode::Mirror {
            // Mirror deletes the records whose key left the source.
            metadata.insert(DEPARTED_KEYS_METADATA.to_owned(), DEPARTED_KEYS_DELETE.to_owned());
        }
        let contract = Arc::new(Schema::new_with_metadata(fields, metadata));
        let mut body_prefix = b"{\"collectionName\":".to_vec();
        json::write_str(&mut body_prefix, &config.collection);
        body_prefix.extend_from_slice(b",\"collectionScope\":");
        json::write_str(&mut body_prefix, config.scope.api_name());
        body_prefix.extend_from_slice(b",\"collectionType\":");
        json::write_str(&mut body_prefix, &config.collection_type);
        body_prefix.extend_from_slice(b",\"records\":[");
        tracing::debug!(sync = %context.sync_name, run_mode = ?context.mode, collection = %config.collection, "insight planner created");
        let body = Body {
            bytes: body_prefix.clone(),
            rows: Vec::new(),
        };
        Ok(InsightPlanner {
            run_mode: context.mode,
            contract,
            shape,
            body_prefix,
            requests: Requests::default(),
            outcomes: Outcomes::default(),
            error: None,
            prepared: false,
            setup_in_flight: false,
            create_needed: false,
            input: VecDeque::new(),
            finished: false,
            seen: HashSet::new(),
            body,
            ready: VecDeque::new(),
            imports: Jobs::default(),
            deletes: VecDeque::new(),
            deleting: 0,
            released: VecDeque::new(),
            config,
        })
    }

    fn input_contract(&self) -> SchemaRef {
        self.contract.clone()
    }

    fn can_accept_batch(&self) -> bool {
        self.error.is_none()
            && self.prepared
            && !self.finished
            && self.ready.len() < 2
            && self.deletes.len() < self.config.import_size as usize
    }

    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
        self.outcomes.expect(batch.num_rows());
        if batch.num_rows() > 0 {
            self.input.push_back((id, kind, batch));
        }
        // Rows are planned as they come, so accepting the next batch depends only on the
        // requests waiting to be sent.
        if self.prepared && self.run_mode != RunMode::Check {
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
        if !self.prepared {
            if self.setup_in_flight {
                return Ok(Poll::Pending);
            }
            self.setup_in_flight = true;
            if self.create_needed {
                return Ok(Poll::Ready(self.create_request()));
            }
            let id = self.requests.issue(Purpose::Collections);
            return Ok(Poll::Ready(RequestSpec::get(
                id,
                "/insightData/v3/collections",
                rate::MEDIUM,
            )));
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
            Purpose::Collections => self.on_collections(response),
            Purpose::CreateCollection => self.on_create(response),
            Purpose::Import => match self.imports.by_request(id).map(|job| job.seq) {
                Some(seq) => self.on_import(seq, response, now),
                None => Ok(()),
            },
            Purpose::ImportStatus(seq) => self.on_import_status(seq, response, now),
            Purpose::Delete(at) => self.on_delete(at, response),
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
            Purpose::CreateCollection if failure.kind == FailureKind::DryRun => {
                tracing::info!(collection = %self.config.collection, "dry run: the collection would be created");
                self.setup_in_flight = false;
                self.create_needed = false;
                self.prepared = true;
            }
            Purpose::Collections | Purpose::CreateCollection => {
                return Err(self.fail(PluginError::fatal(format!(
                    "could not check the Insight collection: {detail}"
                ))));
            }
            Purpose::Import | Purpose::ImportStatus(_) => {
                let seq = match purpose {
                    Purpose::ImportStatus(seq) => Some(seq),
                    _ => self.imports.by_request(id).map(|job| job.seq),
                };
                if let Some(seq) = seq {
                    let message = format!("the insight import was not completed: {detail}");
                    self.end_import(seq, status, code, &message);
                }
            }
            Purpose::Delete(at) => {
                self.deleting -= 1;
                let message = format!("deleting the record was not completed: {detail}");
                self.outcomes.report(at.batch_id, at.row, status, code, &message);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_listings_in_either_shape() {
        let bare = parse_collections(br#"[{"collectionName":"orders","collectionScope":"contact"}]"#).unwrap();
        assert_eq!(bare[0].name, "orders");
        assert_eq!(bare[0].scope.as_deref(), Some("contact"));
        let paged = parse_collections(br#"{"_items":[{"name":"stores"}]}"#).unwrap();
        assert_eq!(paged[0].name, "stores");
        assert!(paged[0].scope.is_none());
    }
}
