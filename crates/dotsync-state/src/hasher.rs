//! [`RowHasher`]: stable fingerprints of Arrow rows.
//!
//! A row's hash is built column by column: every row starts from a seed that hashes the
//! column names and (stable) type names in order, then each column folds its value into the
//! running hash of each row with `acc = xxh3_64_with_seed(value_bytes, acc)`. A null folds a
//! distinct marker, so a null and an empty string differ. Value bytes are the little-endian
//! native representation for fixed-width types (so the hash is the same on every platform),
//! the bytes for strings and binaries, a canonical bit pattern for floats (all NaNs alike,
//! `-0.0` as `0.0`), and Arrow's display text for anything else (lists, structs,
//! dictionaries, ...). A row's hash depends on nothing but its own values and the schema: not
//! on batch boundaries, offsets or slicing.
//!
//! The key hash is xxh3-64 of the key text: the key column's value as text (strings as they
//! are, other types as Arrow displays them), composite keys joined with U+001F (unit
//! separator). So the same key keeps its hash if its column changes from, say, `Int64` to
//! `Utf8` holding the same digits.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float16Type, Float32Type, Float64Type};
use arrow_array::{Array, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, IntervalUnit, Schema, TimeUnit};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::error::StateError;
use crate::sync::KeyedRow;

/// Separator between the parts of a composite key's text.
pub const KEY_SEPARATOR: char = '\u{1f}';

const SEED_DOMAIN: &[u8] = b"dotsync-row-hash-v1";
const NULL_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
fn mix(acc: u64, bytes: &[u8]) -> u64 {
    xxh3_64_with_seed(bytes, acc)
}

#[inline(always)]
fn mix_null(acc: u64) -> u64 {
    xxh3_64_with_seed(&[], acc ^ NULL_SALT)
}

fn unit(u: &TimeUnit) -> &'static str {
    match u {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

/// A type name that does not depend on the Arrow crate's version (its `Display`/`Debug` may
/// change): used in row hash seeds and in fingerprints.
pub fn stable_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Null => "Null".into(),
        DataType::Boolean => "Boolean".into(),
        DataType::Int8 => "Int8".into(),
        DataType::Int16 => "Int16".into(),
        DataType::Int32 => "Int32".into(),
        DataType::Int64 => "Int64".into(),
        DataType::UInt8 => "UInt8".into(),
        DataType::UInt16 => "UInt16".into(),
        DataType::UInt32 => "UInt32".into(),
        DataType::UInt64 => "UInt64".into(),
        DataType::Float16 => "Float16".into(),
        DataType::Float32 => "Float32".into(),
        DataType::Float64 => "Float64".into(),
        DataType::Utf8 => "Utf8".into(),
        DataType::LargeUtf8 => "LargeUtf8".into(),
        DataType::Utf8View => "Utf8View".into(),
        DataType::Binary => "Binary".into(),
        DataType::LargeBinary => "LargeBinary".into(),
        DataType::BinaryView => "BinaryView".into(),
        DataType::FixedSizeBinary(n) => format!("FixedSizeBinary({n})"),
        DataType::Date32 => "Date32".into(),
        DataType::Date64 => "Date64".into(),
        DataType::Time32(u) => format!("Time32({})", unit(u)),
        DataType::Time64(u) => format!("Time64({})", unit(u)),
        DataType::Duration(u) => format!("Duration({})", unit(u)),
        DataType::Timestamp(u, None) => format!("Timestamp({})", unit(u)),
        DataType::Timestamp(u, Some(tz)) => format!("Timestamp({}, {tz})", unit(u)),
        DataType::Interval(IntervalUnit::YearMonth) => "Interval(YearMonth)".into(),
        DataType::Interval(IntervalUnit::DayTime) => "Interval(DayTime)".into(),
        DataType::Interval(IntervalUnit::MonthDayNano) => "Interval(MonthDayNano)".into(),
        DataType::Decimal32(p, s) => format!("Decimal32({p}, {s})"),
        DataType::Decimal64(p, s) => format!("Decimal64({p}, {s})"),
        DataType::Decimal128(p, s) => format!("Decimal128({p}, {s})"),
        DataType::Decimal256(p, s) => format!("Decimal256({p}, {s})"),
        other => format!("{other:?}"),
    }
}

/// Computes key and row hashes of Arrow record batches for one sync (see the module docs for
/// the exact definition).
#[derive(Clone, Debug)]
pub struct RowHasher {
    names: Vec<String>,
    types: Vec<DataType>,
    key_indices: Vec<usize>,
    seed: u64,
}

impl RowHasher {
    /// A hasher for batches of `schema`, keyed by `key_columns` (in that order). A key
    /// column missing from the schema is an error naming it.
    pub fn new(key_columns: &[String], schema: &Schema) -> Result<RowHasher, StateError> {
        if key_columns.is_empty() {
            return Err(StateError::NoKeyColumns);
        }
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let types: Vec<DataType> = schema.fields().iter().map(|f| f.data_type().clone()).collect();
        let mut key_indices = Vec::with_capacity(key_columns.len());
        for k in key_columns {
            match names.iter().position(|n| n == k) {
                Some(i) => key_indices.push(i),
                None => {
                    return Err(StateError::UnknownKeyColumn {
                        column: k.clone(),
                        available: names,
                    });
                }
            }
        }
        let mut seed_input = Vec::from(SEED_DOMAIN);
        for (name, ty) in names.iter().zip(&types) {
            seed_input.push(0x1e);
            seed_input.extend_from_slice(name.as_bytes());
            seed_input.push(0x1f);
            seed_input.extend_from_slice(stable_type_name(ty).as_bytes());
        }
        Ok(RowHasher {
            names,
            types,
            key_indices,
            seed: xxh3_64(&seed_input),
        })
    }

    /// The key columns, in key order.
    pub fn key_columns(&self) -> Vec<&str> {
        self.key_indices.iter().map(|&i| self.names[i].as_str()).collect()
    }

    /// One [`KeyedRow`] per row of `batch`, in row order (element `i` is row `i`).
    ///
    /// Null keys: a row whose key (or any part of a composite key) is null has no key, and
    /// this returns [`StateError::NullKey`] naming the first such row and column. The host
    /// rejects such rows; it either filters them out first (see [`RowHasher::null_key_rows`])
    /// or calls [`RowHasher::hash_rows`], which yields `None` for them instead.
    pub fn hash_batch(&self, batch: &RecordBatch) -> Result<Vec<KeyedRow>, StateError> {
        let (row_hashes, keys) = self.compute(batch)?;
        let mut out = Vec::with_capacity(row_hashes.len());
        for (row, (row_hash, key)) in row_hashes.into_iter().zip(keys).enumerate() {
            match key {
                Ok(key_text) => out.push(KeyedRow {
                    key_hash: xxh3_64(key_text.as_bytes()),
                    key_text,
                    row_hash,
                }),
                Err(col) => {
                    return Err(StateError::NullKey {
                        column: self.names[col].clone(),
                        row,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Like [`RowHasher::hash_batch`], but a row with a null key gives `None` instead of an
    /// error. Aligned with the batch's rows.
    pub fn hash_rows(&self, batch: &RecordBatch) -> Result<Vec<Option<KeyedRow>>, StateError> {
        let (row_hashes, keys) = self.compute(batch)?;
        Ok(row_hashes
            .into_iter()
            .zip(keys)
            .map(|(row_hash, key)| {
                key.ok().map(|key_text| KeyedRow {
                    key_hash: xxh3_64(key_text.as_bytes()),
                    key_text,
                    row_hash,
                })
            })
            .collect())
    }

    /// Rows of `batch` whose key is null (in any key column), with the column's name.
    pub fn null_key_rows(&self, batch: &RecordBatch) -> Vec<(usize, &str)> {
        let mut out = Vec::new();
        for row in 0..batch.num_rows() {
            for &k in &self.key_indices {
                if batch.columns().get(k).is_some_and(|c| c.is_null(row)) {
                    out.push((row, self.names[k].as_str()));
                    break;
                }
            }
        }
        out
    }

    fn check_schema(&self, batch: &RecordBatch) -> Result<(), StateError> {
        let schema = batch.schema_ref();
        let same = schema.fields().len() == self.names.len()
            && schema
                .fields()
                .iter()
                .zip(self.names.iter().zip(&self.types))
                .all(|(f, (n, t))| f.name() == n && f.data_type() == t);
        if same {
            return Ok(());
        }
        let describe = |it: &mut dyn Iterator<Item = (&String, &DataType)>| {
            it.map(|(n, t)| format!("{n}: {}", stable_type_name(t)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(StateError::SchemaMismatch {
            expected: describe(&mut self.names.iter().zip(&self.types)),
            found: describe(&mut schema.fields().iter().map(|f| (f.name(), f.data_type()))),
        })
    }

    /// Row hashes, and per row the key text or the index of the first key column that is null.
    #[allow(clippy::type_complexity)]
    fn compute(&self, batch: &RecordBatch) -> Result<(Vec<u64>, Vec<Result<String, usize>>), StateError> {
        self.check_schema(batch)?;
        let n = batch.num_rows();
        let mut acc = vec![self.seed; n];
        for (col, array) in batch.columns().iter().enumerate() {
            fold_column(&mut acc, array.as_ref(), &self.names[col])?;
        }
        let mut keys: Vec<Result<String, usize>> = (0..n).map(|_| Ok(String::new())).collect();
        for (part, &col) in self.key_indices.iter().enumerate() {
            append_key_text(&mut keys, batch.column(col).as_ref(), col, part > 0, &self.names[col])?;
        }
        Ok((acc, keys))
    }
}

fn format_error(column: &str, dt: &DataType, e: impl std::fmt::Display) -> StateError {
    StateError::Format {
        column: column.to_owned(),
        data_type: stable_type_name(dt),
        message: e.to_string(),
    }
}

/// Folds `value(i)` (or the null marker) into `acc[i]` for every row.
#[inline(always)]
fn fold<B: AsRef<[u8]>>(acc: &mut [u64], nulls: Option<&NullBuffer>, value: impl Fn(usize) -> B) {
    match nulls {
        None => {
            for (i, a) in acc.iter_mut().enumerate() {
                *a = mix(*a, value(i).as_ref());
            }
        }
        Some(nulls) => {
            for (i, a) in acc.iter_mut().enumerate() {
                *a = if nulls.is_null(i) {
                    mix_null(*a)
                } else {
                    mix(*a, value(i).as_ref())
                };
            }
        }
    }
}

#[inline(always)]
fn canonical_f64(v: f64) -> [u8; 8] {
    let v = if v.is_nan() {
        f64::NAN
    } else if v == 0.0 {
        0.0
    } else {
        v
    };
    v.to_bits().to_le_bytes()
}

#[inline(always)]
fn canonical_f32(v: f32) -> [u8; 4] {
    let v = if v.is_nan() {
        f32::NAN
    } else if v == 0.0 {
        0.0
    } else {
        v
    };
    v.to_bits().to_le_bytes()
}

fn fold_column(acc: &mut [u64], array: &dyn Array, column: &str) -> Result<(), StateError> {
    let nulls = array.logical_nulls();
    let nulls = nulls.as_ref().filter(|n| n.null_count() > 0);
    let dt = array.data_type();
    match dt {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            fold(acc, nulls, |i| a.value(i).as_bytes());
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            fold(acc, nulls, |i| a.value(i).as_bytes());
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            fold(acc, nulls, |i| a.value(i).as_bytes());
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            fold(acc, nulls, |i| a.value(i));
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            fold(acc, nulls, |i| a.value(i));
        }
        DataType::BinaryView => {
            let a = array.as_binary_view();
            fold(acc, nulls, |i| a.value(i));
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            fold(acc, nulls, |i| a.value(i));
        }
        DataType::Boolean => {
            let a = array.as_boolean();
            fold(acc, nulls, |i| [a.value(i) as u8]);
        }
        DataType::Float16 => {
            let a = array.as_primitive::<Float16Type>();
            fold(acc, nulls, |i| canonical_f32(a.value(i).to_f32()));
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            fold(acc, nulls, |i| canonical_f32(a.value(i)));
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            fold(acc, nulls, |i| canonical_f64(a.value(i)));
        }
        _ if dt.primitive_width().is_some() => {
            // Every other fixed-width primitive (ints, dates, times, timestamps, durations,
            // intervals, decimals): hash the native value bytes, little-endian.
            let w = dt.primitive_width().expect("checked");
            let data = array.to_data();
            let start = data.offset() * w;
            let bytes = &data.buffers()[0].as_slice()[start..start + acc.len() * w];
            if cfg!(target_endian = "little") {
                fold(acc, nulls, |i| &bytes[i * w..(i + 1) * w]);
            } else {
                fold(acc, nulls, |i| {
                    let mut v = bytes[i * w..(i + 1) * w].to_vec();
                    v.reverse();
                    v
                });
            }
        }
        _ => {
            // Lists, structs, maps, dictionaries, unions, ...: Arrow's display text.
            let opts = FormatOptions::default();
            let fmt = ArrayFormatter::try_new(array, &opts).map_err(|e| format_error(column, dt, e))?;
            let mut text = String::new();
            for (i, a) in acc.iter_mut().enumerate() {
                if nulls.is_some_and(|n| n.is_null(i)) {
                    *a = mix_null(*a);
                } else {
                    text.clear();
                    write!(text, "{}", fmt.value(i)).map_err(|e| format_error(column, dt, e))?;
                    *a = mix(*a, text.as_bytes());
                }
            }
        }
    }
    Ok(())
}

/// Appends the text of one key column to every row's key (with a separator when `sep`);
/// a null marks the row's key as null (`Err(col)`), keeping the first null column.
fn append_key_text(
    keys: &mut [Result<String, usize>],
    array: &dyn Array,
    col: usize,
    sep: bool,
    column: &str,
) -> Result<(), StateError> {
    let nulls = array.logical_nulls();
    let nulls = nulls.as_ref().filter(|n| n.null_count() > 0);
    let push = |keys: &mut [Result<String, usize>], value: &dyn Fn(usize, &mut String)| {
        for (i, key) in keys.iter_mut().enumerate() {
            if nulls.is_some_and(|n| n.is_null(i)) {
                if key.is_ok() {
                    *key = Err(col);
                }
                continue;
            }
            if let Ok(text) = key {
                if sep {
                    text.push(KEY_SEPARATOR);
                }
                value(i, text);
            }
        }
    };
    let dt = array.data_type();
    match dt {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            push(keys, &|i, s| s.push_str(a.value(i)));
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            push(keys, &|i, s| s.push_str(a.value(i)));
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            push(keys, &|i, s| s.push_str(a.value(i)));
        }
        _ => {
            let opts = FormatOptions::default();
            let fmt = ArrayFormatter::try_new(array, &opts).map_err(|e| format_error(column, dt, e))?;
            let failed = std::cell::Cell::new(false);
            push(keys, &|i, s| {
                if write!(s, "{}", fmt.value(i)).is_err() {
                    failed.set(true);
                }
            });
            if failed.get() {
                return Err(format_error(column, dt, "value cannot be displayed"));
            }
        }
    }
    Ok(())
}
