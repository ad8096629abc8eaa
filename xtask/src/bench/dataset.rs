//! Deterministic benchmark data: a customer table of twelve columns (an e-mail key, names, a
//! postcode, numbers, dates, booleans, an opt-in status and a nullable text), the same for a given
//! row number on every machine and every run, so that runs compare.
//!
//! Parquet files are written once per size under the bench folder and reused: generating ten
//! million rows costs more than some scenarios, and the content never changes for a given
//! [`GENERATOR_VERSION`].

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Part of every file name: bump it whenever [`Customer::generate`] changes, so that stale files
/// are not reused.
const GENERATOR_VERSION: u32 = 1;
/// Rows per generated record batch (and so per Parquet write call).
const GENERATE_BATCH_ROWS: usize = 65_536;
/// Rows per Parquet row group: large enough for realistic column chunks, small enough that a
/// reader never has to hold much of the file.
const ROW_GROUP_ROWS: usize = 131_072;

const FIRST_NAMES: [&str; 16] = [
    "Priya", "Eve", "Oliver", "Amelia", "Jack", "Isla", "Noah", "Sofia", "Liam", "Mia", "Hugo", "Zara", "Omar",
    "Chloé", "Ryan", "Aiko",
];
const LAST_NAMES: [&str; 16] = [
    "Silva", "Kowalski", "Smith", "Jones", "O'Brien", "Müller", "Nakamura", "Patel", "García", "Nguyen", "Brown",
    "Taylor", "Wilson", "Khan", "Rossi", "Evans",
];
const DOMAINS: [&str; 4] = ["example.com", "example.org", "example.net", "mail.example.com"];
const GENDERS: [&str; 3] = ["female", "male", "other"];
const PREFERRED_NAMES: [&str; 8] = ["Pri", "Evie", "Ollie", "Millie", "Jacko", "Zee", "Sof", "Lee"];
const POSTCODE_AREAS: [&str; 8] = ["SW", "B", "M", "LS", "EH", "CF", "BT", "NE"];

/// Days from 1970-01-01 to 1950-01-01 (negative) and the span of birthdays after it.
const BIRTHDAY_FIRST_DAY: i32 = -7_305;
const BIRTHDAY_SPAN_DAYS: u64 = 20_000;
/// 2024-01-01T00:00:00Z in milliseconds, and the span of purchase times after it (one year).
const PURCHASE_FIRST_MS: i64 = 1_704_067_200_000;
const PURCHASE_SPAN_MS: u64 = 365 * 86_400_000;

/// One generated customer; row `index` of every dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// Unique per index.
    pub email: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub gender: &'static str,
    pub postcode: String,
    pub lifetime_value: f64,
    /// Not mapped to a data field: source tables carry columns a sync leaves out.
    pub order_count: i64,
    /// Days since 1970-01-01.
    pub birthday_days: i32,
    /// Milliseconds since the epoch (UTC).
    pub last_purchase_ms: i64,
    pub vip: bool,
    /// `subscribed` or `unsubscribed`.
    pub marketing_opt_in: &'static str,
    /// Null for about a third of the rows.
    pub preferred_name: Option<&'static str>,
}

/// SplitMix64: a tiny, well-mixed, dependency-free hash of the row number.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Customer {
    /// The customer at row `index`.
    pub fn generate(index: u64) -> Customer {
        let bits = splitmix64(index);
        let more = splitmix64(bits);
        let pick = |shift: u32, len: usize| ((bits >> shift) as usize) % len;
        let first_name = FIRST_NAMES[pick(0, FIRST_NAMES.len())];
        let last_name = LAST_NAMES[pick(8, LAST_NAMES.len())];
        let mut email = String::with_capacity(40);
        let _ = write!(
            email,
            "{}.{}{index}@{}",
            ascii_lower(first_name),
            ascii_lower(last_name),
            DOMAINS[pick(16, DOMAINS.len())]
        );
        let mut postcode = String::with_capacity(8);
        let _ = write!(
            postcode,
            "{}{} {}{}{}",
            POSTCODE_AREAS[pick(20, POSTCODE_AREAS.len())],
            1 + (bits >> 24) % 20,
            (bits >> 29) % 10,
            char::from(b'A' + ((bits >> 33) % 26) as u8),
            char::from(b'A' + ((bits >> 38) % 26) as u8)
        );
        Customer {
            email,
            first_name,
            last_name,
            gender: GENDERS[pick(43, GENDERS.len())],
            postcode,
            lifetime_value: (more % 500_000) as f64 / 100.0,
            order_count: ((more >> 20) % 120) as i64,
            birthday_days: BIRTHDAY_FIRST_DAY + ((more >> 27) % BIRTHDAY_SPAN_DAYS) as i32,
            last_purchase_ms: PURCHASE_FIRST_MS + ((more >> 7) % PURCHASE_SPAN_MS) as i64,
            vip: (bits >> 47).is_multiple_of(10),
            marketing_opt_in: if (bits >> 51).is_multiple_of(5) {
                "unsubscribed"
            } else {
                "subscribed"
            },
            preferred_name: (!(bits >> 55).is_multiple_of(3)).then(|| PREFERRED_NAMES[pick(58, PREFERRED_NAMES.len())]),
        }
    }
}

/// The ASCII letters of a name, lower-cased: e-mail local parts stay plain ASCII (accented
/// letters and apostrophes are dropped), so every generated address is valid.
fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The table's schema. Every column but `preferred_name` is non-null in practice; all are
/// declared nullable, as most exported tables declare them.
fn schema() -> Arc<Schema> {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("email"),
        text("first_name"),
        text("last_name"),
        text("gender"),
        text("postcode"),
        Field::new("lifetime_value", DataType::Float64, true),
        Field::new("order_count", DataType::Int64, true),
        Field::new("birthday", DataType::Date32, true),
        Field::new("last_purchase", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("vip", DataType::Boolean, true),
        text("marketing_opt_in"),
        text("preferred_name"),
    ]))
}

/// Which version of the table a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The customers as generated.
    Original,
    /// Every hundredth customer (index divisible by 100) with a different lifetime value: the
    /// input of a re-sync where 1% of the rows changed.
    OnePercentChanged,
}

impl Variant {
    fn file_suffix(self) -> &'static str {
        match self {
            Variant::Original => "",
            Variant::OnePercentChanged => "-1pct-changed",
        }
    }

    fn apply(self, index: u64, customer: &mut Customer) {
        if self == Variant::OnePercentChanged && index.is_multiple_of(100) {
            customer.lifetime_value += 1.0;
        }
    }
}

/// Rows `start..start + rows` as one record batch.
fn batch(schema: &Arc<Schema>, variant: Variant, start: u64, rows: usize) -> Result<RecordBatch, String> {
    let mut email = StringBuilder::with_capacity(rows, rows * 36);
    let mut first_name = StringBuilder::with_capacity(rows, rows * 6);
    let mut last_name = StringBuilder::with_capacity(rows, rows * 7);
    let mut gender = StringBuilder::with_capacity(rows, rows * 6);
    let mut postcode = StringBuilder::with_capacity(rows, rows * 8);
    let mut lifetime_value = Float64Builder::with_capacity(rows);
    let mut order_count = Int64Builder::with_capacity(rows);
    let mut birthday = Date32Builder::with_capacity(rows);
    let mut last_purchase = Vec::with_capacity(rows);
    let mut vip = BooleanBuilder::with_capacity(rows);
    let mut opt_in = StringBuilder::with_capacity(rows, rows * 11);
    let mut preferred_name = StringBuilder::with_capacity(rows, rows * 4);
    for index in start..start + rows as u64 {
        let mut customer = Customer::generate(index);
        variant.apply(index, &mut customer);
        email.append_value(&customer.email);
        first_name.append_value(customer.first_name);
        last_name.append_value(customer.last_name);
        gender.append_value(customer.gender);
        postcode.append_value(&customer.postcode);
        lifetime_value.append_value(customer.lifetime_value);
        order_count.append_value(customer.order_count);
        birthday.append_value(customer.birthday_days);
        last_purchase.push(customer.last_purchase_ms);
        vip.append_value(customer.vip);
        opt_in.append_value(customer.marketing_opt_in);
        preferred_name.append_option(customer.preferred_name);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(email.finish()),
        Arc::new(first_name.finish()),
        Arc::new(last_name.finish()),
        Arc::new(gender.finish()),
        Arc::new(postcode.finish()),
        Arc::new(lifetime_value.finish()),
        Arc::new(order_count.finish()),
        Arc::new(birthday.finish()),
        Arc::new(TimestampMillisecondArray::from(last_purchase)),
        Arc::new(vip.finish()),
        Arc::new(opt_in.finish()),
        Arc::new(preferred_name.finish()),
    ];
    RecordBatch::try_new(schema.clone(), columns).map_err(|error| format!("generated batch is invalid: {error}"))
}

/// The Parquet file of the first `rows` customers in `dir`, written if it is not there yet.
pub fn ensure_parquet(dir: &Path, rows: u64, variant: Variant) -> Result<PathBuf, String> {
    let path = dir.join(format!(
        "customers-{rows}{}-v{GENERATOR_VERSION}.parquet",
        variant.file_suffix()
    ));
    if path.is_file() {
        return Ok(path);
    }
    fs::create_dir_all(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    eprintln!("bench: generating {} ({rows} rows)", path.display());
    // Written under another name and renamed when complete, so an interrupted run never leaves
    // a truncated file that a later run would take as done.
    let partial = path.with_extension("parquet.partial");
    let file = File::create(&partial).map_err(|error| format!("cannot create {}: {error}", partial.display()))?;
    let schema = schema();
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
        .map_err(|error| format!("cannot write {}: {error}", partial.display()))?;
    let mut start = 0u64;
    while start < rows {
        let count = (rows - start).min(GENERATE_BATCH_ROWS as u64) as usize;
        writer
            .write(&batch(&schema, variant, start, count)?)
            .map_err(|error| format!("cannot write {}: {error}", partial.display()))?;
        start += count as u64;
    }
    writer
        .close()
        .map_err(|error| format!("cannot finish {}: {error}", partial.display()))?;
    fs::rename(&partial, &path).map_err(|error| format!("cannot rename {}: {error}", partial.display()))?;
    Ok(path)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (proleptic Gregorian; Howard Hinnant's
/// `civil_from_days`), for the request bodies the bench's own HTTP clients write.
pub fn iso_date(days: i32) -> String {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_deterministic_and_keys_unique() {
        assert_eq!(Customer::generate(42), Customer::generate(42));
        let emails: std::collections::HashSet<String> = (0..10_000).map(|i| Customer::generate(i).email).collect();
        assert_eq!(emails.len(), 10_000);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(BIRTHDAY_FIRST_DAY), "1950-01-01");
        assert_eq!(iso_date(19_723), "2024-01-01");
        assert_eq!(iso_date(11_016), "2000-02-29");
    }
}
