//! The contacts planner: a sans-IO state machine from Arrow rows to contact imports.
//!
//! Life of a run:
//! 1. **Pre-flight**: `GET /v2/data-fields`; every mapped field must exist and its column must fit
//!    the field's type, otherwise a config error stops the run before any write.
//! 2. **Encoding**: rows are validated and written as import elements into the current chunk's
//!    body, lazily (only while no sealed import waits to be sent), so memory stays bounded even
//!    when a huge batch arrives. A chunk seals at `import_size` rows or 45 MB.
//! 3. **Update mode only**: a sealed chunk's contacts are looked up (per row for chunks of at most
//!    [`SMALL_CHUNK`] rows, else against an index of the account's contacts paged once per run);
//!    unknown contacts are skipped with `ContactNotFound`.
//! 4. **Import**: `PUT /contacts/v3/import` (slot `contact-import`), then `GET
//!    /contacts/v3/import/{id}` on a timer, backing off ×1.5 up to 10 s, until a final status.
//!    The report's failures reject their rows; the others are delivered.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use dotdigital_shared::datafield::{DataField, MappedField, check_column_types, parse_data_fields, resolve_mapping};
use dotdigital_shared::identifier::encode_query_component;
use dotdigital_shared::{ApiError, IdentifierKind, PrehashedMap, json, rate};
use dotsync_plugin_sdk::{
    BatchId, BatchKind, DestinationPlanner, Failure, FailureKind, KEY_COLUMNS_METADATA, KEY_PRE_PASS_METADATA, Method,
    Millis, OutcomeBuilder, OutcomeStatus, PluginContext, PluginError, Poll, REPEATED_KEYS_COLUMN, RequestId,
    RequestSpec, ResponseView,
};
use serde::Deserialize;

use crate::config::{ChannelSetting, ContactsConfig, Mode};
use crate::encode::{BatchEncoder, BlockKeys, FieldSpec, Layout, codes, key_hash, write_json_key};
use crate::key_set::{CompactKeySet, MIN_RECENT, SeenKeys};

/// Largest import body, kept under the API's 50 MB limit with room to spare.
pub const MAX_BODY_BYTES: usize = 45_000_000;
/// Most imports this planner keeps active at once (the account's limit).
pub const MAX_ACTIVE_IMPORTS: usize = rate::CONTACT_IMPORT_LIMIT as usize;
/// Update mode: chunks of at most this many rows look contacts up one by one; larger ones use the
/// account index.
pub const SMALL_CHUNK: usize = 20;
/// Contacts per page when indexing the account (the v3 maximum).
pub const PAGE_LIMIT: usize = 5000;
/// Rows whose keys are read and looked up together before they are encoded: enough for the
/// lookups to overlap, few enough that the set's lines they bring in are still cached when the
/// rows are encoded.
const KEY_BLOCK_ROWS: usize = 256;
/// Longest wait between two status polls of one import.
pub const MAX_POLL_INTERVAL_MS: Millis = 10_000;

/// Outcome codes reported by the planner besides the encoding ones in [`codes`].
pub mod outcome_codes {
    pub const CONTACT_NOT_FOUND: &str = "ContactNotFound";
    pub const DRY_RUN: &str = "DryRun";
    pub const DELETE_NOT_SUPPORTED: &str = "DeleteNotSupported";
    pub const INVALID_RESPONSE: &str = "InvalidResponse";
    pub const CONTACT_LOOKUP_FAILED: &str = "ContactLookupFailed";
}

#[derive(Debug, Clone, Copy)]
struct RowRef {
    batch_id: BatchId,
    row: u32,
    key: u64,
}

/// Import elements being collected.
#[derive(Debug, Default)]
struct Chunk {
    body: Vec<u8>,
    rows: Vec<RowRef>,
    /// Byte range of each element in `body`.
    spans: Vec<(u32, u32)>,
    /// Update mode: the keys as sent, end offsets in `key_ends`.
    keys: String,
    key_ends: Vec<u32>,
}

impl Chunk {
    fn key(&self, index: usize) -> &str {
        let start = if index == 0 {
            0
        } else {
            self.key_ends[index - 1] as usize
        };
        &self.keys[start..self.key_ends[index] as usize]
    }
}

#[derive(Debug)]
enum ImportState {
    /// Sealed, waiting to be sent.
    Queued(Vec<u8>),
    /// The PUT is out.
    Sent,
    /// Accepted; polling its status.
    Polling {
        import_id: String,
        next_at: Millis,
        interval: Millis,
        poll: Option<RequestId>,
    },
}

#[derive(Debug)]
struct Import {
    seq: u64,
    rows: Vec<RowRef>,
    put: RequestId,
    state: ImportState,
}

/// Update mode: whether a row's contact exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existence {
    Unknown,
    Exists,
    Missing,
    /// Its lookup failed and the row is already reported.
    Reported,
}

/// Update mode: a chunk whose contacts are being looked up one by one.
#[derive(Debug)]
struct RowLookup {
    chunk: Chunk,
    states: Vec<Existence>,
    outstanding: usize,
}

#[derive(Debug)]
enum AccountIndex {
    Absent,
    Loading {
        marker: Option<String>,
        keys: CompactKeySet,
    },
    Loaded(CompactKeySet),
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    DataFields,
    Put(u64),
    Poll(u64),
    Lookup(usize),
    Page,
}

struct QueuedBatch {
    id: BatchId,
    batch: RecordBatch,
    next_row: usize,
    encoder: Option<BatchEncoder>,
}

/// The contacts destination. See the crate docs for the configuration and the requests it makes.
pub struct ContactsPlanner {
    config: ContactsConfig,
    contract: SchemaRef,
    channels: Vec<(dotdigital_shared::ChannelEnum, ChannelSetting)>,
    /// Built once the data fields are known.
    layout: Option<Arc<Layout>>,
    body_prefix: Vec<u8>,

    next_request: RequestId,
    requests: HashMap<RequestId, Pending>,
    error: Option<PluginError>,

    preflight_sent: bool,
    types_checked: bool,

    input: VecDeque<QueuedBatch>,
    queued_rows: usize,
    finished: bool,

    chunk: Chunk,
    body_capacity: usize,
    /// [`MAX_BODY_BYTES`]; smaller in tests.
    max_body_bytes: usize,
    seen: SeenKeys,
    /// The keys of the rows being encoded, and whether `seen` holds each.
    block: BlockKeys,
    known: Vec<bool>,

    lookup: Option<RowLookup>,
    awaiting_index: Option<Chunk>,
    index: AccountIndex,
    outgoing: VecDeque<RequestSpec>,

    ready: VecDeque<Import>,
    active: Vec<Import>,
    next_seq: u64,

    outcomes: OutcomeBuilder,
    released: VecDeque<RequestId>,
    pushed_rows: u64,
    reported_rows: u64,
}

impl ContactsPlanner {
    fn request_id(&mut self) -> RequestId {
        self.next_request += 1;
        self.next_request
    }

    fn report(&mut self, row: &RowRef, status: OutcomeStatus, code: &str, message: &str) {
        self.outcomes.push(row.batch_id, row.row, status, code, message);
        self.reported_rows += 1;
    }

    fn report_all(&mut self, rows: &[RowRef], status: OutcomeStatus, code: &str, message: &str) {
        self.outcomes
            .push_rows(rows.iter().map(|row| (row.batch_id, row.row)), status, code, message);
        self.reported_rows += rows.len() as u64;
    }

    fn fail(&mut self, error: PluginError) -> PluginError {
        self.error = Some(error.clone());
        error
    }

    fn rows_waiting(&self) -> usize {
        self.queued_rows
            + self.chunk.rows.len()
            + self.ready.iter().map(|import| import.rows.len()).sum::<usize>()
            + self.lookup.as_ref().map_or(0, |lookup| lookup.chunk.rows.len())
            + self.awaiting_index.as_ref().map_or(0, |chunk| chunk.rows.len())
    }

    fn in_flight(&self) -> usize {
        self.active.len()
    }

    fn new_chunk(&self) -> Chunk {
        let mut body = Vec::with_capacity(self.body_capacity);
        body.extend_from_slice(&self.body_prefix);
        Chunk {
            body,
            ..Chunk::default()
        }
    }

    // ---- pre-flight ------------------------------------------------------------------------

    fn on_data_fields(&mut self, response: &ResponseView<'_>) -> Result<(), PluginError> {
        if response.status == 401 || response.status == 403 {
            let error = ApiError::from_response(response.status, response.body);
            return Err(PluginError::auth(format!(
                "Dotdigital refused the credentials reading the data fields ({error}); check the API user, its password and the region"
            )));
        }
        if !response.is_success() {
            let error = ApiError::from_response(response.status, response.body);
            return Err(PluginError::fatal(format!(
                "reading the account's data fields failed: {error}"
            )));
        }
        let fields = parse_data_fields(response.body).map_err(|error| {
            PluginError::fatal(format!(
                "the data-field list from Dotdigital is not valid JSON: {error}"
            ))
        })?;
        let layout = self.resolve_fields(&fields)?;
        tracing::debug!(fields = layout.fields.len(), "data fields checked");
        self.layout = Some(Arc::new(layout));
        Ok(())
    }

    fn resolve_fields(&self, fields: &[DataField]) -> Result<Layout, PluginError> {
        let specs = resolve_mapping(&self.config.data_fields, fields)
            .map_err(PluginError::config)?
            .into_iter()
            .map(|field| FieldSpec::new(field.name, field.column, field.field_type))
            .collect();
        let key = self.config.key.identifier();
        let mut identifiers = vec![(key, self.config.identifiers.column(key).unwrap_or_default().to_owned())];
        for kind in IdentifierKind::ALL {
            if kind != key
                && let Some(column) = self.config.identifiers.column(kind)
            {
                identifiers.push((kind, column.to_owned()));
            }
        }
        let mut prefix = b"{\"matchIdentifier\":".to_vec();
        json::write_str(&mut prefix, key.api_name());
        prefix.extend_from_slice(b",\"identifiers\":{");
        write_json_key(&mut prefix, key.api_name());
        let mut suffix = Vec::new();
        if !self.config.lists.is_empty() {
            suffix.extend_from_slice(b",\"lists\":[");
            for (index, list) in self.config.lists.iter().enumerate() {
                if index > 0 {
                    suffix.push(b',');
                }
                json::write_u64(&mut suffix, *list);
            }
            suffix.push(b']');
        }
        suffix.push(b'}');
        Ok(Layout {
            key,
            identifiers,
            fields: specs,
            channels: self.channels.clone(),
            clear_nulls: self.config.clear_nulls,
            prefix,
            suffix,
        })
    }

    /// Checks that every data-field column of `schema` fits its field's type.
    fn check_types(&self, layout: &Layout, schema: &Schema) -> Result<(), PluginError> {
        let mapped: Vec<MappedField> = layout
            .fields
            .iter()
            .map(|spec| MappedField {
                name: spec.name.clone(),
                column: spec.column.clone(),
                field_type: spec.field_type,
            })
            .collect();
        check_column_types(&mapped, schema).map_err(PluginError::config)
    }

    // ---- encoding --------------------------------------------------------------------------

    /// Turns queued rows into sealed chunks while nothing sealed waits.
    fn fill(&mut self) -> Result<(), PluginError> {
        let Some(layout) = self.layout.clone() else {
            return Ok(());
        };
        loop {
            if !self.ready.is_empty() || self.lookup.is_some() || self.awaiting_index.is_some() {
                return Ok(());
            }
            let Some(schema) = self.input.front().map(|front| front.batch.schema()) else {
                if self.finished && !self.chunk.rows.is_empty() {
                    self.seal();
                    continue;
                }
                return Ok(());
            };
            if !self.types_checked {
                self.check_types(&layout, &schema)?;
                self.types_checked = true;
            }
            let sealed = self.encode_front(&layout)?;
            if sealed {
                self.seal();
            }
        }
    }

    /// Encodes rows of the first queued batch until a chunk is full or the batch is done.
    /// Returns whether the current chunk must be sealed.
    fn encode_front(&mut self, layout: &Arc<Layout>) -> Result<bool, PluginError> {
        let import_size = self.config.import_size as usize;
        let max_body = self.max_body_bytes;
        let update = self.config.mode == Mode::Update;
        let front = self.input.front_mut().expect("checked by the caller");
        if front.encoder.is_none() {
            front.encoder = Some(BatchEncoder::new(layout.clone(), &front.batch)?);
        }
        let batch_id = front.id;
        let rows = front.batch.num_rows();
        let encoder = front.encoder.as_mut().expect("just set");
        let chunk = &mut self.chunk;
        let block = &mut self.block;
        let mut sealed = false;
        let mut rejected: Vec<(u32, &'static str, String)> = Vec::new();
        let start_row = front.next_row;
        let mut row = start_row;
        // Keys are read and looked up a block at a time (see `CompactKeySet::probe`); when the
        // chunk seals inside a block, the block's other rows are read again with the next chunk.
        while row < rows && !sealed {
            encoder.read_keys(row..rows.min(row + KEY_BLOCK_ROWS), block);
            self.seen.probe(&block.hashes, &mut self.known);
            for (index, (&hash, &known)) in block.rows().zip(block.hashes.iter().zip(&self.known)) {
                row = index + 1;
                let key = match block.key(index) {
                    Ok(key) => key,
                    Err(rejection) => {
                        rejected.push((index as u32, rejection.code, rejection.message.clone()));
                        continue;
                    }
                };
                let mark = chunk.body.len();
                if !chunk.rows.is_empty() {
                    chunk.body.push(b',');
                }
                let start = chunk.body.len();
                if let Err(rejection) = encoder.encode_row(index, key, &mut chunk.body) {
                    chunk.body.truncate(mark);
                    rejected.push((index as u32, rejection.code, rejection.message));
                    continue;
                }
                if known || !self.seen.insert_probed(hash) {
                    chunk.body.truncate(mark);
                    rejected.push((
                        index as u32,
                        codes::DUPLICATE_KEY,
                        format!(
                            "column `{}`: `{}` was already seen earlier in this run; only its first row is sent",
                            layout.key_column(),
                            dotdigital_shared::error::shorten(key, 80)
                        ),
                    ));
                    continue;
                }
                chunk.rows.push(RowRef {
                    batch_id,
                    row: index as u32,
                    key: hash,
                });
                chunk.spans.push((start as u32, chunk.body.len() as u32));
                if update {
                    chunk.keys.push_str(key);
                    chunk.key_ends.push(chunk.keys.len() as u32);
                }
                if chunk.rows.len() >= import_size || chunk.body.len() > max_body {
                    sealed = true;
                    break;
                }
            }
        }
        front.next_row = row;
        self.queued_rows -= row - start_row;
        if row >= rows {
            self.input.pop_front();
        }
        for (index, code, message) in rejected {
            self.report(
                &RowRef {
                    batch_id,
                    row: index,
                    key: 0,
                },
                OutcomeStatus::Rejected,
                code,
                &message,
            );
        }
        Ok(sealed)
    }

    /// Seals the current chunk (moving its last element to a new chunk when the body is too big)
    /// and hands it on: to the import queue, or to the existence check in update mode.
    fn seal(&mut self) {
        let mut chunk = std::mem::take(&mut self.chunk);
        let mut next = self.new_chunk();
        if chunk.body.len() > self.max_body_bytes && chunk.rows.len() > 1 {
            let (start, end) = chunk.spans.pop().expect("more than one row");
            next.body.extend_from_slice(&chunk.body[start as usize..end as usize]);
            let end_in_next = next.body.len() as u32;
            next.spans.push((self.body_prefix.len() as u32, end_in_next));
            next.rows.push(chunk.rows.pop().expect("more than one row"));
            if !chunk.key_ends.is_empty() {
                let key = chunk.key(chunk.key_ends.len() - 1).to_owned();
                chunk.key_ends.pop();
                chunk
                    .keys
                    .truncate(chunk.key_ends.last().copied().unwrap_or(0) as usize);
                next.keys.push_str(&key);
                next.key_ends.push(next.keys.len() as u32);
            }
            // Drop the element and the comma before it.
            chunk.body.truncate(start as usize - 1);
        }
        self.chunk = next;
        self.body_capacity = self
            .body_capacity
            .max(chunk.body.len() + 64)
            .min(self.max_body_bytes + 1024);
        if chunk.rows.is_empty() {
            return;
        }
        if self.config.mode == Mode::Update {
            self.check_existence(chunk);
        } else {
            self.queue_import(chunk.body, chunk.rows);
        }
    }

    fn queue_import(&mut self, mut body: Vec<u8>, rows: Vec<RowRef>) {
        body.extend_from_slice(b"]}");
        self.next_seq += 1;
        let seq = self.next_seq;
        self.ready.push_back(Import {
            seq,
            rows,
            put: 0,
            state: ImportState::Queued(body),
        });
    }

    /// Builds an import from the elements of `chunk` whose contacts exist; reports the missing
    /// ones as skipped (rows already reported are left out).
    fn import_existing(&mut self, chunk: Chunk, states: &[Existence]) {
        let mut body = Vec::with_capacity(chunk.body.len());
        body.extend_from_slice(&self.body_prefix);
        let mut rows = Vec::with_capacity(chunk.rows.len());
        let key = self.config.key.identifier();
        for (index, row) in chunk.rows.iter().enumerate() {
            match states[index] {
                Existence::Exists => {
                    if !rows.is_empty() {
                        body.push(b',');
                    }
                    let (start, end) = chunk.spans[index];
                    body.extend_from_slice(&chunk.body[start as usize..end as usize]);
                    rows.push(*row);
                }
                Existence::Missing | Existence::Unknown => {
                    let message = format!(
                        "no contact with {} `{}` exists; mode `update` does not create contacts",
                        key.api_name(),
                        chunk.key(index)
                    );
                    self.report(row, OutcomeStatus::Skipped, outcome_codes::CONTACT_NOT_FOUND, &message);
                }
                Existence::Reported => {}
            }
        }
        if !rows.is_empty() {
            self.queue_import(body, rows);
        }
    }

    // ---- update mode: which contacts exist -------------------------------------------------

    fn check_existence(&mut self, chunk: Chunk) {
        if let AccountIndex::Loaded(keys) = &self.index {
            let states: Vec<Existence> = chunk
                .rows
                .iter()
                .map(|row| {
                    if keys.contains(row.key) {
                        Existence::Exists
                    } else {
                        Existence::Missing
                    }
                })
                .collect();
            self.import_existing(chunk, &states);
            return;
        }
        if let AccountIndex::Failed(message) = &self.index {
            let message = format!("could not check which contacts exist: {message}");
            self.report_all(
                &chunk.rows,
                OutcomeStatus::Failed,
                outcome_codes::CONTACT_LOOKUP_FAILED,
                &message,
            );
            return;
        }
        if chunk.rows.len() <= SMALL_CHUNK {
            let key = self.config.key.identifier();
            for index in 0..chunk.rows.len() {
                let id = self.request_id();
                self.requests.insert(id, Pending::Lookup(index));
                self.outgoing
                    .push_back(RequestSpec::get(id, key.contact_path(chunk.key(index)), rate::HIGH));
            }
            self.lookup = Some(RowLookup {
                states: vec![Existence::Unknown; chunk.rows.len()],
                outstanding: chunk.rows.len(),
                chunk,
            });
            return;
        }
        if matches!(self.index, AccountIndex::Absent) {
            tracing::info!("update mode: indexing the account's contacts to find which exist");
            self.index = AccountIndex::Loading {
                marker: None,
                keys: CompactKeySet::new(),
            };
            self.request_page(None);
        }
        self.awaiting_index = Some(chunk);
    }

    fn request_page(&mut self, marker: Option<&str>) {
        let id = self.request_id();
        let mut path = format!("/contacts/v3?limit={PAGE_LIMIT}");
        if let Some(marker) = marker {
            path.push_str("&marker=");
            path.push_str(&encode_query_component(marker));
        }
        self.requests.insert(id, Pending::Page);
        self.outgoing.push_back(RequestSpec::get(id, path, rate::LOW));
    }

    fn on_lookup(&mut self, index: usize, status: Result<bool, (OutcomeStatus, String, String)>) {
        let Some(lookup) = self.lookup.as_mut() else {
            return;
        };
        lookup.outstanding -= 1;
        match status {
            Ok(true) => lookup.states[index] = Existence::Exists,
            Ok(false) => lookup.states[index] = Existence::Missing,
            Err((status, code, message)) => {
                lookup.states[index] = Existence::Reported;
                let row = lookup.chunk.rows[index];
                self.report(&row, status, &code, &message);
            }
        }
        if self.lookup.as_ref().is_some_and(|lookup| lookup.outstanding == 0) {
            let lookup = self.lookup.take().expect("checked");
            self.import_existing(lookup.chunk, &lookup.states);
        }
    }

    fn on_page(&mut self, response: &ResponseView<'_>) -> Result<(), PluginError> {
        if response.status == 401 || response.status == 403 {
            return Err(PluginError::auth(format!(
                "Dotdigital refused the credentials listing contacts ({})",
                ApiError::from_response(response.status, response.body)
            )));
        }
        if !response.is_success() {
            let error = ApiError::from_response(response.status, response.body);
            self.index_failed(error.to_string());
            return Ok(());
        }
        let page: ContactPage = match serde_json::from_slice(response.body) {
            Ok(page) => page,
            Err(error) => {
                self.index_failed(format!("the contact list page is not valid JSON: {error}"));
                return Ok(());
            }
        };
        let kind = self.config.key.identifier();
        let AccountIndex::Loading { marker, keys } = &mut self.index else {
            return Ok(());
        };
        let mut form = String::new();
        let mut text = String::new();
        for item in &page.items {
            let value = match kind {
                IdentifierKind::ContactId => item.contact_id.as_ref(),
                other => item.identifiers.as_ref().and_then(|ids| ids.get(other.api_name())),
            };
            if let Some(value) = value.and_then(scalar_text) {
                text.clear();
                text.push_str(&value);
                kind.match_form_into(text.trim(), &mut form);
                keys.insert(key_hash(&form));
            }
        }
        let next = page
            .links
            .and_then(|links| links.next)
            .and_then(|next| next.marker)
            .filter(|next| !next.is_empty() && Some(next) != marker.as_ref());
        match next {
            Some(next) if !page.items.is_empty() => {
                *marker = Some(next.clone());
                self.request_page(Some(&next));
            }
            _ => {
                let AccountIndex::Loading { keys, .. } = std::mem::replace(&mut self.index, AccountIndex::Absent)
                else {
                    unreachable!("matched above");
                };
                tracing::info!(contacts = keys.len(), "account contacts indexed");
                self.index = AccountIndex::Loaded(keys);
                if let Some(chunk) = self.awaiting_index.take() {
                    self.check_existence(chunk);
                }
            }
        }
        Ok(())
    }

    fn index_failed(&mut self, message: String) {
        tracing::info!(error = %message, "listing the account's contacts failed");
        self.index = AccountIndex::Failed(message);
        if let Some(chunk) = self.awaiting_index.take() {
            self.check_existence(chunk);
        }
    }

    // ---- imports ---------------------------------------------------------------------------

    fn active_index(&self, seq: u64) -> Option<usize> {
        self.active.iter().position(|import| import.seq == seq)
    }

    /// Ends an import: reports its rows and releases its slot.
    fn end_import(&mut self, index: usize, status: OutcomeStatus, code: &str, message: &str) {
        let import = self.active.swap_remove(index);
        self.report_all(&import.rows, status, code, message);
        self.released.push_back(import.put);
    }

    fn on_put(&mut self, seq: u64, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        let Some(index) = self.active_index(seq) else {
            return Ok(());
        };
        if response.status == 401 || response.status == 403 {
            return Err(PluginError::auth(format!(
                "Dotdigital refused the contact import ({})",
                ApiError::from_response(response.status, response.body)
            )));
        }
        if response.is_success() {
            let accepted: Result<ImportAccepted, _> = serde_json::from_slice(response.body);
            match accepted
                .ok()
                .and_then(|accepted| accepted.import_id)
                .and_then(|id| scalar_text(&id))
            {
                Some(import_id) => {
                    let interval = self.config.poll_interval_ms;
                    let import = &mut self.active[index];
                    tracing::info!(import_id = %import_id, contacts = import.rows.len(), "contact import accepted");
                    import.state = ImportState::Polling {
                        import_id,
                        next_at: now.saturating_add(interval),
                        interval,
                        poll: None,
                    };
                }
                None => {
                    let message = format!(
                        "the import was answered with HTTP {} but no importId: {}",
                        response.status,
                        dotdigital_shared::error::shorten(&String::from_utf8_lossy(response.body), 200)
                    );
                    self.end_import(index, OutcomeStatus::Failed, outcome_codes::INVALID_RESPONSE, &message);
                }
            }
            return Ok(());
        }
        let error = ApiError::from_response(response.status, response.body);
        let status = if response.status == 400 && !error.is_throttling() {
            OutcomeStatus::Rejected
        } else {
            OutcomeStatus::Failed
        };
        tracing::info!(status = response.status, code = %error.code, "contact import refused");
        self.end_import(index, status, &error.code, &error.to_string());
        Ok(())
    }

    fn on_poll(&mut self, seq: u64, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        let Some(index) = self.active_index(seq) else {
            return Ok(());
        };
        if response.status == 401 || response.status == 403 {
            return Err(PluginError::auth(format!(
                "Dotdigital refused the import status request ({})",
                ApiError::from_response(response.status, response.body)
            )));
        }
        let import_id = match &self.active[index].state {
            ImportState::Polling { import_id, .. } => import_id.clone(),
            _ => String::new(),
        };
        if !response.is_success() {
            let error = ApiError::from_response(response.status, response.body);
            let message = format!("the status of import {import_id} could not be read: {error}");
            self.end_import(index, OutcomeStatus::Failed, &error.code, &message);
            return Ok(());
        }
        let report: ImportReport = match serde_json::from_slice(response.body) {
            Ok(report) => report,
            Err(error) => {
                let message = format!("the status of import {import_id} is not valid JSON: {error}");
                self.end_import(index, OutcomeStatus::Failed, outcome_codes::INVALID_RESPONSE, &message);
                return Ok(());
            }
        };
        let status = report.status.as_deref().unwrap_or("");
        if ["NotFinished", "NotStarted", "Processing", "InProgress"]
            .iter()
            .any(|pending| pending.eq_ignore_ascii_case(status))
        {
            let ceiling = MAX_POLL_INTERVAL_MS.max(self.config.poll_interval_ms);
            if let ImportState::Polling {
                next_at,
                interval,
                poll,
                ..
            } = &mut self.active[index].state
            {
                *interval = (*interval + *interval / 2).min(ceiling);
                *next_at = now.saturating_add(*interval);
                *poll = None;
                tracing::debug!(import_id = %import_id, next_poll_in_ms = *interval, "import not finished");
            }
            return Ok(());
        }
        if status.eq_ignore_ascii_case("Finished") {
            self.finish_import(index, &import_id, &report);
            return Ok(());
        }
        let code = if status.is_empty() {
            "UnknownImportStatus"
        } else {
            status
        };
        tracing::info!(import_id = %import_id, status = code, "contact import failed");
        let message = format!("import {import_id} ended with status {code}");
        self.end_import(index, OutcomeStatus::Failed, code, &message);
        Ok(())
    }

    fn finish_import(&mut self, index: usize, import_id: &str, report: &ImportReport) {
        let kind = self.config.key.identifier();
        let mut failures: PrehashedMap<(String, String)> = PrehashedMap::default();
        let mut form = String::new();
        let mut unmatched = 0usize;
        for failure in &report.failures {
            let match_kind = failure
                .match_identifier
                .as_deref()
                .and_then(IdentifierKind::from_api_name)
                .unwrap_or(kind);
            let value = failure
                .identifiers
                .as_ref()
                .and_then(|ids| ids.get(match_kind.api_name()).or_else(|| ids.get(kind.api_name())))
                .and_then(scalar_text);
            let Some(value) = value else {
                unmatched += 1;
                continue;
            };
            kind.match_form_into(value.trim(), &mut form);
            let code = failure
                .failures
                .first()
                .and_then(|detail| detail.failure_code.clone())
                .unwrap_or_else(|| "ImportFailure".to_owned());
            let message = failure
                .failures
                .iter()
                .map(|detail| {
                    let code = detail.failure_code.as_deref().unwrap_or("ImportFailure");
                    match detail.description.as_deref() {
                        Some(description) if !description.is_empty() => format!("{code}: {description}"),
                        _ => code.to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            let message = if message.is_empty() { code.clone() } else { message };
            failures.entry(key_hash(&form)).or_insert((code, message));
        }
        let import = self.active.swap_remove(index);
        let mut rejected = 0usize;
        for row in &import.rows {
            match failures.get(&row.key) {
                Some((code, message)) => {
                    rejected += 1;
                    self.outcomes
                        .push(row.batch_id, row.row, OutcomeStatus::Rejected, code, message);
                }
                None => self
                    .outcomes
                    .push(row.batch_id, row.row, OutcomeStatus::Delivered, "", ""),
            }
        }
        self.reported_rows += import.rows.len() as u64;
        self.released.push_back(import.put);
        tracing::info!(
            import_id = %import_id,
            delivered = import.rows.len() - rejected,
            rejected,
            unmatched_failures = unmatched,
            "contact import finished"
        );
    }

    /// The next request to send, if one is due.
    fn next_request(&mut self, now: Millis) -> Option<RequestSpec> {
        if let Some(spec) = self.outgoing.pop_front() {
            return Some(spec);
        }
        // Status polls that are due.
        let due = self.active.iter().position(
            |import| matches!(import.state, ImportState::Polling { next_at, poll: None, .. } if next_at <= now),
        );
        if let Some(index) = due {
            let id = self.request_id();
            let import = &mut self.active[index];
            if let ImportState::Polling { import_id, poll, .. } = &mut import.state {
                *poll = Some(id);
                let path = format!(
                    "/contacts/v3/import/{}",
                    dotdigital_shared::identifier::encode_path_segment(import_id)
                );
                self.requests.insert(id, Pending::Poll(import.seq));
                return Some(RequestSpec::get(id, path, rate::MEDIUM));
            }
        }
        // A new import, while slots remain.
        if self.active.len() < MAX_ACTIVE_IMPORTS
            && let Some(mut import) = self.ready.pop_front()
        {
            let id = self.request_id();
            let ImportState::Queued(body) = std::mem::replace(&mut import.state, ImportState::Sent) else {
                unreachable!("ready imports are queued");
            };
            import.put = id;
            self.requests.insert(id, Pending::Put(import.seq));
            tracing::debug!(
                contacts = import.rows.len(),
                bytes = body.len(),
                "sending contact import"
            );
            self.active.push(import);
            return Some(
                RequestSpec::write(id, Method::Put, "/contacts/v3/import", body, rate::LOW)
                    .with_slot(rate::CONTACT_IMPORT),
            );
        }
        None
    }

    fn is_done(&self) -> bool {
        self.layout.is_some()
            && self.finished
            && self.input.is_empty()
            && self.chunk.rows.is_empty()
            && self.lookup.is_none()
            && self.awaiting_index.is_none()
            && self.ready.is_empty()
            && self.active.is_empty()
            && self.outgoing.is_empty()
            && self.requests.is_empty()
    }
}

/// `{"importId": "..."}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportAccepted {
    import_id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportReport {
    status: Option<String>,
    #[serde(default)]
    failures: Vec<ImportFailure>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportFailure {
    match_identifier: Option<String>,
    identifiers: Option<HashMap<String, serde_json::Value>>,
    #[serde(default)]
    failures: Vec<FailureDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FailureDetail {
    failure_code: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct ContactPage {
    #[serde(rename = "_items", default)]
    items: Vec<PageItem>,
    #[serde(rename = "_links", default)]
    links: Option<PageLinks>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageItem {
    contact_id: Option<serde_json::Value>,
    identifiers: Option<HashMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct PageLinks {
    next: Option<PageLink>,
}

#[derive(Deserialize)]
struct PageLink {
    marker: Option<String>,
}

fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn failure_code(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::NotSent => "NotSent",
        FailureKind::Uncertain => "Uncertain",
        FailureKind::Exhausted => "RetriesExhausted",
        FailureKind::DryRun => outcome_codes::DRY_RUN,
        FailureKind::Cancelled => "Cancelled",
    }
}

impl DestinationPlanner for ContactsPlanner {
    type Config = ContactsConfig;

    fn new(config: ContactsConfig, context: PluginContext) -> Result<Self, PluginError> {
        let channels = config.validate()?;
        let key = config.key.identifier();
        let key_column = config.identifiers.column(key).unwrap_or_default().to_owned();
        let mut fields: Vec<Field> = Vec::new();
        let mut add = |name: &str, data_type: DataType| {
            if !fields.iter().any(|field| field.name() == name) {
                fields.push(Field::new(name, data_type, true));
            }
        };
        add(&key_column, DataType::Utf8);
        for kind in IdentifierKind::ALL {
            if let Some(column) = config.identifiers.column(kind) {
                add(column, DataType::Utf8);
            }
        }
        for column in config.data_fields.values() {
            add(column, DataType::Null);
        }
        for (_, setting) in &channels {
            if let ChannelSetting::Column(column) = setting {
                add(column, DataType::Null);
            }
        }
        let contract = Arc::new(Schema::new_with_metadata(
            fields,
            HashMap::from([
                (KEY_COLUMNS_METADATA.to_owned(), key_column),
                // Up to this many keys, the set of every key costs less than reading them twice.
                (KEY_PRE_PASS_METADATA.to_owned(), (MIN_RECENT + 1).to_string()),
            ]),
        ));
        let mut body_prefix = b"{\"mergeOption\":".to_vec();
        json::write_str(&mut body_prefix, config.merge_option.api_name());
        body_prefix.extend_from_slice(b",\"contacts\":[");
        let mut chunk = Chunk::default();
        chunk.body.extend_from_slice(&body_prefix);
        tracing::debug!(
            sync = %context.sync_name,
            run_mode = ?context.mode,
            mode = ?config.mode,
            key = key.api_name(),
            data_fields = config.data_fields.len(),
            import_size = config.import_size,
            "contacts planner created"
        );
        Ok(ContactsPlanner {
            contract,
            channels,
            layout: None,
            body_prefix,
            next_request: 0,
            requests: HashMap::new(),
            error: None,
            preflight_sent: false,
            types_checked: false,
            input: VecDeque::new(),
            queued_rows: 0,
            finished: false,
            chunk,
            body_capacity: 64 * 1024,
            max_body_bytes: MAX_BODY_BYTES,
            seen: SeenKeys::new(),
            block: BlockKeys::default(),
            known: Vec::new(),
            lookup: None,
            awaiting_index: None,
            index: AccountIndex::Absent,
            outgoing: VecDeque::new(),
            ready: VecDeque::new(),
            active: Vec::new(),
            next_seq: 0,
            outcomes: OutcomeBuilder::new(),
            released: VecDeque::new(),
            pushed_rows: 0,
            reported_rows: 0,
            config,
        })
    }

    fn input_contract(&self) -> SchemaRef {
        self.contract.clone()
    }

    fn can_accept_batch(&self) -> bool {
        self.error.is_none()
            && !self.finished
            && self.rows_waiting() <= 2 * self.config.import_size as usize
            && self.in_flight() <= MAX_ACTIVE_IMPORTS
    }

    fn push_batch(&mut self, id: BatchId, kind: BatchKind, batch: RecordBatch) -> Result<(), PluginError> {
        if kind == BatchKind::RepeatedKeys {
            let hashes = batch
                .column_by_name(REPEATED_KEYS_COLUMN)
                .and_then(|column| column.as_primitive_opt::<UInt64Type>())
                .ok_or_else(|| {
                    PluginError::fatal(format!(
                        "a repeated-keys batch has no UInt64 column `{REPEATED_KEYS_COLUMN}`"
                    ))
                })?;
            return self
                .seen
                .add_repeating(hashes.iter().flatten())
                .map_err(|message| PluginError::fatal(message.to_owned()));
        }
        let rows = batch.num_rows();
        self.pushed_rows += rows as u64;
        if kind == BatchKind::Delete {
            for row in 0..rows {
                self.outcomes.push(
                    id,
                    row as u32,
                    OutcomeStatus::Skipped,
                    outcome_codes::DELETE_NOT_SUPPORTED,
                    "the contacts sync never deletes contacts",
                );
            }
            self.reported_rows += rows as u64;
            return Ok(());
        }
        if rows == 0 {
            return Ok(());
        }
        if let (Some(layout), false) = (self.layout.clone(), self.types_checked) {
            self.check_types(&layout, &batch.schema())
                .map_err(|error| self.fail(error))?;
            self.types_checked = true;
        }
        self.queued_rows += rows;
        self.input.push_back(QueuedBatch {
            id,
            batch,
            next_row: 0,
            encoder: None,
        });
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        self.finished = true;
        Ok(())
    }

    fn key_hashes(&mut self, batch: &RecordBatch) -> Result<Option<Vec<u64>>, PluginError> {
        let key = self.config.key.identifier();
        let key_column = self.config.identifiers.column(key).unwrap_or_default();
        crate::encode::key_hashes(key, key_column, batch).map(Some)
    }

    fn poll_request(&mut self, now: Millis) -> Result<Poll<RequestSpec>, PluginError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if !self.preflight_sent {
            self.preflight_sent = true;
            let id = self.request_id();
            self.requests.insert(id, Pending::DataFields);
            return Ok(Poll::Ready(RequestSpec::get(id, "/v2/data-fields", rate::MEDIUM)));
        }
        if self.layout.is_none() {
            return Ok(Poll::Pending);
        }
        self.fill().map_err(|error| self.fail(error))?;
        if let Some(spec) = self.next_request(now) {
            return Ok(Poll::Ready(spec));
        }
        if self.is_done() {
            debug_assert_eq!(self.pushed_rows, self.reported_rows, "every row has one outcome");
            return Ok(Poll::Done);
        }
        Ok(Poll::Pending)
    }

    fn handle_response(&mut self, id: RequestId, response: &ResponseView<'_>, now: Millis) -> Result<(), PluginError> {
        let Some(pending) = self.requests.remove(&id) else {
            tracing::debug!(request = id, "response to an unknown request ignored");
            return Ok(());
        };
        let result = match pending {
            Pending::DataFields => self.on_data_fields(response),
            Pending::Put(seq) => self.on_put(seq, response, now),
            Pending::Poll(seq) => self.on_poll(seq, response, now),
            Pending::Lookup(index) => {
                match response.status {
                    401 | 403 => {
                        return Err(self.fail(PluginError::auth(format!(
                            "Dotdigital refused the contact lookup ({})",
                            ApiError::from_response(response.status, response.body)
                        ))));
                    }
                    200..=299 => self.on_lookup(index, Ok(true)),
                    404 => self.on_lookup(index, Ok(false)),
                    status => {
                        let error = ApiError::from_response(status, response.body);
                        let outcome = if status == 400 && !error.is_throttling() {
                            OutcomeStatus::Rejected
                        } else {
                            OutcomeStatus::Failed
                        };
                        let message = format!("looking the contact up failed: {error}");
                        self.on_lookup(index, Err((outcome, error.code, message)));
                    }
                }
                Ok(())
            }
            Pending::Page => self.on_page(response),
        };
        result.map_err(|error| self.fail(error))
    }

    fn handle_failure(&mut self, id: RequestId, failure: &Failure<'_>, _now: Millis) -> Result<(), PluginError> {
        let Some(pending) = self.requests.remove(&id) else {
            return Ok(());
        };
        let detail = if failure.status == 0 {
            failure.message.to_owned()
        } else {
            format!("{} (last HTTP status {})", failure.message, failure.status)
        };
        match pending {
            Pending::DataFields => {
                return Err(self.fail(PluginError::fatal(format!(
                    "could not read the account's data fields: {detail}"
                ))));
            }
            Pending::Put(seq) => {
                if let Some(index) = self.active_index(seq) {
                    if failure.kind == FailureKind::DryRun {
                        self.end_import(
                            index,
                            OutcomeStatus::Skipped,
                            outcome_codes::DRY_RUN,
                            "dry run: the contact import was not sent",
                        );
                    } else {
                        let message = format!("the contact import was not completed: {detail}");
                        self.end_import(index, OutcomeStatus::Failed, failure_code(failure.kind), &message);
                    }
                }
            }
            Pending::Poll(seq) => {
                if let Some(index) = self.active_index(seq) {
                    let message = format!("the import's status could not be read: {detail}");
                    self.end_import(index, OutcomeStatus::Failed, failure_code(failure.kind), &message);
                }
            }
            Pending::Lookup(index) => {
                let (status, code) = if failure.kind == FailureKind::DryRun {
                    (OutcomeStatus::Skipped, outcome_codes::DRY_RUN)
                } else {
                    (OutcomeStatus::Failed, outcome_codes::CONTACT_LOOKUP_FAILED)
                };
                let message = format!("looking the contact up failed: {detail}");
                self.on_lookup(index, Err((status, code.to_owned(), message)));
            }
            Pending::Page => self.index_failed(detail),
        }
        Ok(())
    }

    fn poll_outcomes(&mut self) -> Option<RecordBatch> {
        self.outcomes.finish()
    }

    fn poll_released_slot(&mut self) -> Option<RequestId> {
        self.released.pop_front()
    }

    fn poll_timeout(&self) -> Option<Millis> {
        self.active
            .iter()
            .filter_map(|import| match import.state {
                ImportState::Polling {
                    next_at, poll: None, ..
                } => Some(next_at),
                _ => None,
            })
            .min()
    }

    fn handle_timeout(&mut self, _now: Millis) -> Result<(), PluginError> {
        // Due polls are emitted by the next `poll_request(now)`; nothing else runs on timers.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, StringArray};
    use dotsync_plugin_sdk::{Header, read_outcomes};

    use super::*;

    fn respond(planner: &mut ContactsPlanner, id: RequestId, status: u16, body: &str) {
        let headers: [Header<'_>; 0] = [];
        let view = ResponseView {
            status,
            headers: &headers,
            body: body.as_bytes(),
        };
        planner.handle_response(id, &view, 0).unwrap();
    }

    #[test]
    fn bodies_over_the_size_limit_move_their_last_contact_to_the_next_import() {
        let config: ContactsConfig = serde_json::from_value(serde_json::json!({
            "data_fields": {"FIRSTNAME": "name"},
            "import_size": 1000
        }))
        .unwrap();
        let mut planner = ContactsPlanner::new(config, PluginContext::default()).unwrap();
        planner.max_body_bytes = 400;
        let emails: Vec<String> = (0..20).map(|i| format!("person{i}@example.com")).collect();
        let names: Vec<String> = (0..20).map(|i| "n".repeat(10 + i * 3)).collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("email", Arc::new(StringArray::from_iter_values(&emails))),
            ("name", Arc::new(StringArray::from_iter_values(&names))),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        planner.push_batch(1, BatchKind::Upsert, batch).unwrap();
        planner.finish().unwrap();
        let Poll::Ready(preflight) = planner.poll_request(0).unwrap() else {
            panic!("pre-flight first")
        };
        respond(
            &mut planner,
            preflight.id,
            200,
            r#"[{"name":"FIRSTNAME","type":"String"}]"#,
        );
        let mut seen = Vec::new();
        let mut puts = Vec::new();
        while let Poll::Ready(put) = planner.poll_request(0).unwrap() {
            // A body may exceed the limit only when it holds a single contact.
            let body: serde_json::Value = serde_json::from_slice(&put.body).unwrap();
            let contacts = body["contacts"].as_array().unwrap();
            assert!(put.body.len() <= 400 || contacts.len() == 1, "{} bytes", put.body.len());
            seen.extend(
                contacts
                    .iter()
                    .map(|c| c["identifiers"]["email"].as_str().unwrap().to_owned()),
            );
            puts.push(put.id);
        }
        assert!(puts.len() > 3, "the rows are split over several imports");
        assert_eq!(seen, emails, "every contact once, in order");
        for put in puts {
            respond(&mut planner, put, 202, r#"{"importId":"x"}"#);
        }
        let at = planner.poll_timeout().unwrap();
        while let Poll::Ready(poll) = planner.poll_request(at).unwrap() {
            respond(&mut planner, poll.id, 200, r#"{"status":"Finished"}"#);
        }
        assert_eq!(planner.poll_request(at).unwrap(), Poll::Done);
        let outcomes = read_outcomes(&planner.poll_outcomes().unwrap()).unwrap();
        assert_eq!(outcomes.len(), 20);
        assert!(outcomes.iter().all(|o| o.status == OutcomeStatus::Delivered));
    }

    #[test]
    fn the_config_schema_documents_every_property() {
        let schema = serde_json::to_value(schemars::schema_for!(ContactsConfig)).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        assert_eq!(properties.len(), 13);
        for (name, property) in properties {
            assert!(
                property["description"].as_str().is_some_and(|d| !d.is_empty()),
                "`{name}` has no description"
            );
        }
        assert_eq!(schema["additionalProperties"], serde_json::json!(false));
        assert_eq!(properties["import_size"]["maximum"], serde_json::json!(50_000));
        assert!(schema["examples"].is_array());
    }
}
