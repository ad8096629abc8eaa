//! PostgreSQL binary wire format → Arrow: type mapping, value decoders and the binary COPY
//! stream parser.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, ListArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, TimeUnit};
use postgres_types::{Kind, Type};

use crate::PostgresError;

/// Microseconds between 1970-01-01 (Arrow's epoch) and 2000-01-01 (PostgreSQL's).
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;
/// Days between the two epochs.
const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;

/// How one column (or list element) is decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Spec {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// text, varchar, bpchar, name, json, enum labels.
    Text,
    /// jsonb: a version byte (1) then the JSON text.
    Jsonb,
    Uuid,
    Date,
    /// `true`: timestamptz (UTC), `false`: timestamp without time zone.
    Timestamp(bool),
    /// numeric with a typmod precision ≤ 38: Decimal128(38, scale).
    Decimal(i8),
    /// numeric without (usable) typmod: Float64.
    NumericFloat,
    List(Box<Spec>),
}

/// Maps a PostgreSQL column type (and its typmod) to a decoder spec.
pub(crate) fn spec_for(column: &str, ty: &Type, typmod: i32) -> Result<Spec, PostgresError> {
    let unsupported = || PostgresError::UnsupportedType {
        column: column.to_owned(),
        type_name: ty.name().to_owned(),
        cast: format!("{}::text", crate::ident::quote_if_needed(column)),
    };
    match ty.kind() {
        Kind::Array(elem) => {
            let inner = scalar_spec(elem, typmod).ok_or_else(unsupported)?;
            Ok(Spec::List(Box::new(inner)))
        }
        _ => scalar_spec(ty, typmod).ok_or_else(unsupported),
    }
}

fn scalar_spec(ty: &Type, typmod: i32) -> Option<Spec> {
    match ty.kind() {
        Kind::Enum(_) => return Some(Spec::Text),
        Kind::Domain(base) => return scalar_spec(base, typmod),
        Kind::Simple => {}
        _ => return None,
    }
    Some(match *ty {
        Type::BOOL => Spec::Bool,
        Type::INT2 => Spec::Int16,
        Type::INT4 => Spec::Int32,
        Type::INT8 => Spec::Int64,
        Type::FLOAT4 => Spec::Float32,
        Type::FLOAT8 => Spec::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON => Spec::Text,
        Type::JSONB => Spec::Jsonb,
        Type::UUID => Spec::Uuid,
        Type::DATE => Spec::Date,
        Type::TIMESTAMP => Spec::Timestamp(false),
        Type::TIMESTAMPTZ => Spec::Timestamp(true),
        Type::NUMERIC => numeric_spec(typmod),
        _ => return None,
    })
}

/// numeric(p, s) with p ≤ 38 and 0 ≤ s ≤ p → Decimal128(38, s); anything else → Float64.
fn numeric_spec(typmod: i32) -> Spec {
    if typmod < 4 {
        return Spec::NumericFloat;
    }
    let t = typmod - 4;
    let precision = (t >> 16) & 0xffff;
    // PostgreSQL 15+ stores the scale as an 11-bit signed number.
    let raw_scale = t & 0x7ff;
    let scale = if raw_scale & 0x400 != 0 {
        raw_scale - 0x800
    } else {
        raw_scale
    };
    if (1..=38).contains(&precision) && (0..=precision).contains(&scale) {
        Spec::Decimal(scale as i8)
    } else {
        Spec::NumericFloat
    }
}

impl Spec {
    pub(crate) fn data_type(&self) -> DataType {
        match self {
            Spec::Bool => DataType::Boolean,
            Spec::Int16 => DataType::Int16,
            Spec::Int32 => DataType::Int32,
            Spec::Int64 => DataType::Int64,
            Spec::Float32 => DataType::Float32,
            Spec::Float64 | Spec::NumericFloat => DataType::Float64,
            Spec::Text | Spec::Jsonb | Spec::Uuid => DataType::Utf8,
            Spec::Date => DataType::Date32,
            Spec::Timestamp(true) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Spec::Timestamp(false) => DataType::Timestamp(TimeUnit::Microsecond, None),
            Spec::Decimal(s) => DataType::Decimal128(38, *s),
            Spec::List(inner) => DataType::List(Arc::new(Field::new("item", inner.data_type(), true))),
        }
    }

    pub(crate) fn builder(&self, capacity: usize) -> ColumnBuilder {
        match self {
            Spec::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            Spec::Int16 => ColumnBuilder::Int16(Int16Builder::with_capacity(capacity)),
            Spec::Int32 => ColumnBuilder::Int32(Int32Builder::with_capacity(capacity)),
            Spec::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            Spec::Float32 => ColumnBuilder::Float32(Float32Builder::with_capacity(capacity)),
            Spec::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            Spec::NumericFloat => ColumnBuilder::NumericFloat(Float64Builder::with_capacity(capacity)),
            Spec::Text => ColumnBuilder::Text(StringBuilder::with_capacity(capacity, capacity * 16)),
            Spec::Jsonb => ColumnBuilder::Jsonb(StringBuilder::with_capacity(capacity, capacity * 32)),
            Spec::Uuid => ColumnBuilder::Uuid(StringBuilder::with_capacity(capacity, capacity * 36)),
            Spec::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
            Spec::Timestamp(tz) => {
                let b = TimestampMicrosecondBuilder::with_capacity(capacity);
                ColumnBuilder::Timestamp(if *tz { b.with_timezone("UTC") } else { b })
            }
            Spec::Decimal(s) => ColumnBuilder::Decimal(
                Decimal128Builder::with_capacity(capacity).with_data_type(DataType::Decimal128(38, *s)),
                *s,
            ),
            Spec::List(inner) => ColumnBuilder::List(Box::new(ListState {
                field: Arc::new(Field::new("item", inner.data_type(), true)),
                offsets: {
                    let mut v = Vec::with_capacity(capacity + 1);
                    v.push(0);
                    v
                },
                nulls: NullBufferBuilder::new(capacity),
                inner: inner.builder(capacity),
            })),
        }
    }
}

pub(crate) struct ListState {
    field: Arc<Field>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    inner: ColumnBuilder,
}

/// An Arrow builder fed with PostgreSQL binary values.
pub(crate) enum ColumnBuilder {
    Bool(BooleanBuilder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    NumericFloat(Float64Builder),
    Text(StringBuilder),
    Jsonb(StringBuilder),
    Uuid(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Decimal(Decimal128Builder, i8),
    List(Box<ListState>),
}

#[inline]
fn fixed<const N: usize>(v: &[u8], what: &str) -> Result<[u8; N], String> {
    v.try_into()
        .map_err(|_| format!("{what} value has {} bytes, expected {N}", v.len()))
}

#[inline]
fn be_i32(v: &[u8], at: usize) -> Result<i32, String> {
    v.get(at..at + 4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "truncated value".to_owned())
}

#[inline]
fn utf8(v: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(v).map_err(|e| format!("invalid UTF-8 in text value: {e}"))
}

impl ColumnBuilder {
    /// Appends one value (`None` = SQL NULL) in PostgreSQL's binary format.
    #[inline]
    pub(crate) fn push(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        let Some(v) = value else {
            self.push_null();
            return Ok(());
        };
        match self {
            ColumnBuilder::Bool(b) => b.append_value(fixed::<1>(v, "bool")?[0] != 0),
            ColumnBuilder::Int16(b) => b.append_value(i16::from_be_bytes(fixed(v, "int2")?)),
            ColumnBuilder::Int32(b) => b.append_value(i32::from_be_bytes(fixed(v, "int4")?)),
            ColumnBuilder::Int64(b) => b.append_value(i64::from_be_bytes(fixed(v, "int8")?)),
            ColumnBuilder::Float32(b) => b.append_value(f32::from_be_bytes(fixed(v, "float4")?)),
            ColumnBuilder::Float64(b) => b.append_value(f64::from_be_bytes(fixed(v, "float8")?)),
            ColumnBuilder::NumericFloat(b) => b.append_value(numeric_to_f64(v)?),
            ColumnBuilder::Text(b) => b.append_value(utf8(v)?),
            ColumnBuilder::Jsonb(b) => match v.split_first() {
                Some((1, rest)) => b.append_value(utf8(rest)?),
                Some((version, _)) => return Err(format!("unknown jsonb format version {version}")),
                None => return Err("empty jsonb value".to_owned()),
            },
            ColumnBuilder::Uuid(b) => {
                let bytes: [u8; 16] = fixed(v, "uuid")?;
                let text = format_uuid(&bytes);
                // The formatted text is ASCII hex and dashes.
                b.append_value(std::str::from_utf8(&text).unwrap_or_default());
            }
            ColumnBuilder::Date(b) => {
                let d = i32::from_be_bytes(fixed(v, "date")?);
                // ±infinity are kept as i32::MAX / i32::MIN.
                b.append_value(if d == i32::MAX || d == i32::MIN {
                    d
                } else {
                    d.saturating_add(PG_EPOCH_OFFSET_DAYS)
                });
            }
            ColumnBuilder::Timestamp(b) => {
                let t = i64::from_be_bytes(fixed(v, "timestamp")?);
                b.append_value(if t == i64::MAX || t == i64::MIN {
                    t
                } else {
                    t.saturating_add(PG_EPOCH_OFFSET_US)
                });
            }
            ColumnBuilder::Decimal(b, scale) => b.append_value(numeric_to_i128(v, *scale)?),
            ColumnBuilder::List(l) => {
                let ndim = be_i32(v, 0)?;
                if ndim == 0 {
                    l.offsets.push(*l.offsets.last().unwrap_or(&0));
                    l.nulls.append_non_null();
                    return Ok(());
                }
                if ndim != 1 {
                    return Err(format!(
                        "{ndim}-dimensional arrays are not supported (only one-dimensional arrays become Arrow lists)"
                    ));
                }
                let len = be_i32(v, 12)?;
                if len < 0 {
                    return Err("negative array length".to_owned());
                }
                let mut p = 20usize;
                for _ in 0..len {
                    let n = be_i32(v, p)?;
                    p += 4;
                    if n < 0 {
                        l.inner.push(None)?;
                    } else {
                        let end = p + n as usize;
                        let elem = v.get(p..end).ok_or("truncated array element")?;
                        l.inner.push(Some(elem))?;
                        p = end;
                    }
                }
                let last = *l.offsets.last().unwrap_or(&0);
                let next = last
                    .checked_add(len)
                    .ok_or("more than 2^31 list elements in one batch")?;
                l.offsets.push(next);
                l.nulls.append_non_null();
            }
        }
        Ok(())
    }

    #[inline]
    fn push_null(&mut self) {
        match self {
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Int16(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) | ColumnBuilder::NumericFloat(b) => b.append_null(),
            ColumnBuilder::Text(b) | ColumnBuilder::Jsonb(b) | ColumnBuilder::Uuid(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Decimal(b, _) => b.append_null(),
            ColumnBuilder::List(l) => {
                l.offsets.push(*l.offsets.last().unwrap_or(&0));
                l.nulls.append_null();
            }
        }
    }

    /// Builds the array of everything pushed so far and resets the builder.
    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Int16(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) | ColumnBuilder::NumericFloat(b) => Arc::new(b.finish()),
            ColumnBuilder::Text(b) | ColumnBuilder::Jsonb(b) | ColumnBuilder::Uuid(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b, _) => Arc::new(b.finish()),
            ColumnBuilder::List(l) => {
                let values = l.inner.finish();
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                let nulls = l.nulls.finish();
                Arc::new(ListArray::new(
                    l.field.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values,
                    nulls,
                ))
            }
        }
    }
}

fn format_uuid(b: &[u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut o = 0;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            o += 1;
        }
        out[o] = HEX[(byte >> 4) as usize];
        out[o + 1] = HEX[(byte & 0xf) as usize];
        o += 2;
    }
    out
}

struct Numeric<'a> {
    weight: i16,
    sign: u16,
    digits: &'a [u8],
}

const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

fn parse_numeric(v: &[u8]) -> Result<Numeric<'_>, String> {
    if v.len() < 8 {
        return Err("truncated numeric value".to_owned());
    }
    let ndigits = i16::from_be_bytes([v[0], v[1]]);
    let weight = i16::from_be_bytes([v[2], v[3]]);
    let sign = u16::from_be_bytes([v[4], v[5]]);
    let n = usize::try_from(ndigits).map_err(|_| "negative numeric digit count")?;
    let digits = v.get(8..8 + 2 * n).ok_or("truncated numeric digits")?;
    Ok(Numeric { weight, sign, digits })
}

/// numeric → unscaled i128 at `scale` (digits beyond the scale are truncated; the column's typmod
/// guarantees there are none).
pub(crate) fn numeric_to_i128(v: &[u8], scale: i8) -> Result<i128, String> {
    let n = parse_numeric(v)?;
    match n.sign {
        0 | NUMERIC_NEG => {}
        NUMERIC_NAN => {
            return Err("NaN cannot be stored as Decimal128; cast the column to float8 in the query".to_owned());
        }
        _ => {
            return Err("Infinity cannot be stored as Decimal128; cast the column to float8 in the query".to_owned());
        }
    }
    let overflow = || "numeric value does not fit Decimal128(38)".to_owned();
    let mut acc: i128 = 0;
    for (i, d) in n.digits.chunks_exact(2).enumerate() {
        let d = i128::from(i16::from_be_bytes([d[0], d[1]]));
        let e = 4 * (i32::from(n.weight) - i as i32) + i32::from(scale);
        let term = if e >= 0 {
            let pow = 10i128.checked_pow(e as u32).ok_or_else(overflow)?;
            d.checked_mul(pow).ok_or_else(overflow)?
        } else if e > -4 {
            d / 10i128.pow((-e) as u32)
        } else {
            break;
        };
        acc = acc.checked_add(term).ok_or_else(overflow)?;
    }
    if acc >= 10i128.pow(38) {
        return Err(overflow());
    }
    Ok(if n.sign == NUMERIC_NEG { -acc } else { acc })
}

/// numeric → f64, correctly rounded (through its decimal text).
pub(crate) fn numeric_to_f64(v: &[u8]) -> Result<f64, String> {
    let n = parse_numeric(v)?;
    match n.sign {
        NUMERIC_NAN => return Ok(f64::NAN),
        NUMERIC_PINF => return Ok(f64::INFINITY),
        NUMERIC_NINF => return Ok(f64::NEG_INFINITY),
        0 | NUMERIC_NEG => {}
        other => return Err(format!("unknown numeric sign {other:#x}")),
    }
    if n.digits.is_empty() {
        return Ok(0.0);
    }
    let mut s = String::with_capacity(n.digits.len() * 2 + 8);
    if n.sign == NUMERIC_NEG {
        s.push('-');
    }
    for d in n.digits.chunks_exact(2) {
        let d = i16::from_be_bytes([d[0], d[1]]);
        s.push_str(&format!("{d:04}"));
    }
    let groups = (n.digits.len() / 2) as i32;
    let exp = 4 * (i32::from(n.weight) - groups + 1);
    s.push_str(&format!("e{exp}"));
    s.parse::<f64>().map_err(|e| format!("bad numeric value: {e}"))
}

/// The 11-byte signature that opens a binary COPY stream.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Result of trying to read one item from the front of a buffer.
pub(crate) enum Step {
    /// Not enough bytes yet.
    NeedMore,
    /// One row (or the header) consumed: this many bytes.
    Row(usize),
    /// The trailer (-1 field count) consumed: this many bytes.
    End(usize),
}

/// Parses the binary COPY header. Returns its length, or `None` if more bytes are needed.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Option<usize>, String> {
    if buf.len() < 19 {
        return Ok(None);
    }
    if &buf[..11] != SIGNATURE {
        return Err("not a binary COPY stream (bad signature)".to_owned());
    }
    let flags = be_i32(buf, 11)?;
    if flags & (1 << 16) != 0 {
        return Err("binary COPY with OIDs is not supported".to_owned());
    }
    let ext = usize::try_from(be_i32(buf, 15)?).map_err(|_| "bad COPY header extension length")?;
    if buf.len() < 19 + ext {
        return Ok(None);
    }
    Ok(Some(19 + ext))
}

/// Decodes one row from the front of `buf` into `builders`, if the whole row is there.
///
/// On `Err`, the first element names the column index that failed (if any).
#[inline]
pub(crate) fn parse_row(buf: &[u8], builders: &mut [ColumnBuilder]) -> Result<Step, (Option<usize>, String)> {
    if buf.len() < 2 {
        return Ok(Step::NeedMore);
    }
    let count = i16::from_be_bytes([buf[0], buf[1]]);
    if count == -1 {
        return Ok(Step::End(2));
    }
    if count as usize != builders.len() || count < 0 {
        return Err((None, format!("row has {count} fields, expected {}", builders.len())));
    }
    // First pass: is the whole row in the buffer?
    let mut p = 2usize;
    for _ in 0..builders.len() {
        if buf.len() < p + 4 {
            return Ok(Step::NeedMore);
        }
        let n = i32::from_be_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
        p += 4;
        if n > 0 {
            p += n as usize;
        }
    }
    if buf.len() < p {
        return Ok(Step::NeedMore);
    }
    // Second pass: decode.
    let mut p = 2usize;
    for (i, b) in builders.iter_mut().enumerate() {
        let n = i32::from_be_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]);
        p += 4;
        if n < 0 {
            b.push(None).map_err(|e| (Some(i), e))?;
        } else {
            let end = p + n as usize;
            b.push(Some(&buf[p..end])).map_err(|e| (Some(i), e))?;
            p = end;
        }
    }
    Ok(Step::Row(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((digits.len() as i16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numeric_decimal_and_float() {
        // 1234.5678
        let v = numeric(0, 0, 4, &[1234, 5678]);
        assert_eq!(numeric_to_i128(&v, 4).unwrap(), 12_345_678);
        assert_eq!(numeric_to_i128(&v, 6).unwrap(), 1_234_567_800);
        assert_eq!(numeric_to_f64(&v).unwrap(), 1234.5678);
        // -0.05 (weight -1: first group is 10^-4 units)
        let v = numeric(-1, NUMERIC_NEG, 2, &[500]);
        assert_eq!(numeric_to_i128(&v, 2).unwrap(), -5);
        assert_eq!(numeric_to_f64(&v).unwrap(), -0.05);
        // 12345678901234567890.123456789012345678 → 38 digits at scale 18.
        let v = numeric(4, 0, 18, &[1234, 5678, 9012, 3456, 7890, 1234, 5678, 9012, 3456, 7800]);
        assert_eq!(
            numeric_to_i128(&v, 18).unwrap(),
            12_345_678_901_234_567_890_123_456_789_012_345_678
        );
        // 0
        assert_eq!(numeric_to_i128(&numeric(0, 0, 0, &[]), 2).unwrap(), 0);
        assert!(numeric_to_i128(&numeric(0, NUMERIC_NAN, 0, &[]), 2).is_err());
        assert!(numeric_to_f64(&numeric(0, NUMERIC_NAN, 0, &[])).unwrap().is_nan());
        // 10^40 overflows.
        assert!(numeric_to_i128(&numeric(10, 0, 0, &[1]), 0).is_err());
    }

    #[test]
    fn numeric_typmod() {
        let tm = |p: i32, s: i32| ((p << 16) | (s & 0x7ff)) + 4;
        assert_eq!(numeric_spec(-1), Spec::NumericFloat);
        assert_eq!(numeric_spec(tm(12, 2)), Spec::Decimal(2));
        assert_eq!(numeric_spec(tm(38, 38)), Spec::Decimal(38));
        assert_eq!(numeric_spec(tm(39, 2)), Spec::NumericFloat);
        assert_eq!(numeric_spec(tm(5, -2)), Spec::NumericFloat);
    }

    #[test]
    fn uuid_text() {
        let b = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11,
        ];
        assert_eq!(
            std::str::from_utf8(&format_uuid(&b)).unwrap(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
    }

    #[test]
    fn rows_split_across_chunks() {
        let mut row = Vec::new();
        row.extend(2i16.to_be_bytes());
        row.extend(4i32.to_be_bytes());
        row.extend(7i32.to_be_bytes());
        row.extend((-1i32).to_be_bytes());
        let mut builders = vec![Spec::Int32.builder(4), Spec::Text.builder(4)];
        for cut in 0..row.len() {
            assert!(matches!(parse_row(&row[..cut], &mut builders), Ok(Step::NeedMore)));
        }
        assert!(matches!(parse_row(&row, &mut builders), Ok(Step::Row(n)) if n == row.len()));
        let a = builders[0].finish();
        assert_eq!(a.len(), 1);
        assert_eq!(builders[1].finish().null_count(), 1);
    }
}
