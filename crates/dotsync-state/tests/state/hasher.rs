//! RowHasher: stability, batch-split independence, null handling, schema sensitivity.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, Decimal128Array, DictionaryArray, Float32Array,
    Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, LargeStringArray, RecordBatch, StringArray,
    StringViewArray, TimestampMicrosecondArray, TimestampMillisecondArray, UInt8Array, UInt16Array, UInt32Array,
    UInt64Array,
};
use arrow_schema::{Field, Schema};
use dotsync_state::{KEY_SEPARATOR, KeyedRow, RowHasher, StateError};
use proptest::prelude::*;

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

fn hasher(keys: &[&str], b: &RecordBatch) -> RowHasher {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    RowHasher::new(&keys, &b.schema()).unwrap()
}

fn people() -> RecordBatch {
    batch(vec![
        (
            "email",
            Arc::new(StringArray::from(vec!["a@x.io", "b@x.io", "c@x.io", "d@x.io"])),
        ),
        (
            "name",
            Arc::new(StringArray::from(vec![Some("Ann"), Some(""), None, Some("Dee")])),
        ),
        (
            "ltv",
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(0.0), Some(-0.0)])),
        ),
    ])
}

#[test]
fn known_values_are_stable_across_runs_and_builds() {
    // Pinned: if this changes, every user's next run resends everything. Change only on
    // purpose, together with a state migration or release note.
    let b = people();
    let rows = hasher(&["email"], &b).hash_batch(&b).unwrap();
    assert_eq!(rows[0].key_text, "a@x.io");
    assert_eq!(
        rows[0].key_hash,
        xxhash_rust::xxh3::xxh3_64(b"a@x.io"),
        "key hash is xxh3 of the key text"
    );
    let again = hasher(&["email"], &b).hash_batch(&b).unwrap();
    assert_eq!(rows, again);
    let pinned: Vec<u64> = rows.iter().map(|r| r.row_hash).collect();
    assert_eq!(
        pinned,
        vec![
            0x77e7_4776_9200_68c1,
            0x277d_e741_8785_9d00,
            0xd9b3_7a97_7a47_59f3,
            0xd5c2_8aa0_3863_ddd3,
        ],
        "{pinned:#x?}"
    );
    let distinct: std::collections::BTreeSet<u64> = pinned.iter().copied().collect();
    assert_eq!(distinct.len(), 4);
    // -0.0 and 0.0 hash alike (rows 2 and 3 differ elsewhere, so compare a dedicated batch).
    let z = batch(vec![
        ("k", Arc::new(StringArray::from(vec!["a", "a"]))),
        ("v", Arc::new(Float64Array::from(vec![0.0, -0.0]))),
    ]);
    let zr = hasher(&["k"], &z).hash_batch(&z).unwrap();
    assert_eq!(zr[0].row_hash, zr[1].row_hash);
    let nan = batch(vec![
        ("k", Arc::new(StringArray::from(vec!["a", "a"]))),
        (
            "v",
            Arc::new(Float64Array::from(vec![
                f64::NAN,
                f64::from_bits(0x7ff8_0000_0000_0001),
            ])),
        ),
    ]);
    let nr = hasher(&["k"], &nan).hash_batch(&nan).unwrap();
    assert_eq!(nr[0].row_hash, nr[1].row_hash, "all NaNs alike");
}

#[test]
fn same_values_same_hashes_regardless_of_batch_split_and_slicing() {
    let b = people();
    let h = hasher(&["email"], &b);
    let whole = h.hash_batch(&b).unwrap();
    let mut parts = Vec::new();
    for (off, len) in [(0, 1), (1, 2), (3, 1)] {
        parts.extend(h.hash_batch(&b.slice(off, len)).unwrap());
    }
    assert_eq!(whole, parts);
    // Rebuilt from scratch (fresh buffers, no offsets) gives the same too.
    let tail = batch(vec![
        ("email", Arc::new(StringArray::from(vec!["c@x.io", "d@x.io"]))),
        ("name", Arc::new(StringArray::from(vec![None, Some("Dee")]))),
        ("ltv", Arc::new(Float64Array::from(vec![Some(0.0), Some(-0.0)]))),
    ]);
    assert_eq!(h.hash_batch(&tail).unwrap(), whole[2..].to_vec());
}

#[test]
fn null_and_empty_string_differ() {
    let b = batch(vec![
        ("k", Arc::new(StringArray::from(vec!["a", "a", "a"]))),
        ("v", Arc::new(StringArray::from(vec![Some(""), None, Some("x")]))),
    ]);
    let r = hasher(&["k"], &b).hash_batch(&b).unwrap();
    assert_ne!(r[0].row_hash, r[1].row_hash);
    assert_ne!(r[0].row_hash, r[2].row_hash);
    assert_ne!(r[1].row_hash, r[2].row_hash);
    // Same for ints: null vs 0.
    let b = batch(vec![
        ("k", Arc::new(StringArray::from(vec!["a", "a"]))),
        ("v", Arc::new(Int64Array::from(vec![Some(0), None]))),
    ]);
    let r = hasher(&["k"], &b).hash_batch(&b).unwrap();
    assert_ne!(r[0].row_hash, r[1].row_hash);
}

#[test]
fn values_do_not_leak_across_columns() {
    // ("ab", "") vs ("a", "b"): a naive concatenation would collide.
    let b = batch(vec![
        ("k", Arc::new(StringArray::from(vec!["x", "x"]))),
        ("p", Arc::new(StringArray::from(vec!["ab", "a"]))),
        ("q", Arc::new(StringArray::from(vec!["", "b"]))),
    ]);
    let r = hasher(&["k"], &b).hash_batch(&b).unwrap();
    assert_ne!(r[0].row_hash, r[1].row_hash);
}

#[test]
fn column_order_name_and_type_changes_change_the_row_hash() {
    let email: ArrayRef = Arc::new(StringArray::from(vec!["a@x.io"]));
    let city: ArrayRef = Arc::new(StringArray::from(vec!["Oslo"]));
    let zip: ArrayRef = Arc::new(StringArray::from(vec!["0150"]));
    let base = batch(vec![
        ("email", email.clone()),
        ("city", city.clone()),
        ("zip", zip.clone()),
    ]);
    let reordered = batch(vec![
        ("email", email.clone()),
        ("zip", zip.clone()),
        ("city", city.clone()),
    ]);
    let renamed = batch(vec![
        ("email", email.clone()),
        ("town", city.clone()),
        ("zip", zip.clone()),
    ]);
    let h = |b: &RecordBatch| hasher(&["email"], b).hash_batch(b).unwrap()[0].clone();
    let base_row = h(&base);
    assert_ne!(base_row.row_hash, h(&reordered).row_hash);
    assert_ne!(base_row.row_hash, h(&renamed).row_hash);
    // Same key hash whatever the other columns.
    assert_eq!(base_row.key_hash, h(&reordered).key_hash);

    // Retyped: "42" as Utf8 vs 42 as Int64 vs 42 as Int32.
    let as_text = batch(vec![
        ("email", email.clone()),
        ("n", Arc::new(StringArray::from(vec!["42"]))),
    ]);
    let as_i64 = batch(vec![
        ("email", email.clone()),
        ("n", Arc::new(Int64Array::from(vec![42]))),
    ]);
    let as_i32 = batch(vec![
        ("email", email.clone()),
        ("n", Arc::new(Int32Array::from(vec![42]))),
    ]);
    let as_large = batch(vec![
        ("email", email.clone()),
        ("n", Arc::new(LargeStringArray::from(vec!["42"]))),
    ]);
    let hashes = [h(&as_text), h(&as_i64), h(&as_i32), h(&as_large)]
        .map(|r| r.row_hash)
        .to_vec();
    let distinct: std::collections::BTreeSet<_> = hashes.iter().collect();
    assert_eq!(distinct.len(), 4, "{hashes:?}");
    // A changed value changes the hash.
    let changed = batch(vec![("email", email), ("n", Arc::new(Int64Array::from(vec![43])))]);
    assert_ne!(h(&as_i64).row_hash, h(&changed).row_hash);
}

#[test]
fn key_text_and_hash_for_int_and_composite_keys() {
    let b = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![7, -3]))),
        ("region", Arc::new(StringArray::from(vec!["eu", "us"]))),
        ("v", Arc::new(BooleanArray::from(vec![true, false]))),
    ]);
    let single = hasher(&["id"], &b).hash_batch(&b).unwrap();
    assert_eq!(single[0].key_text, "7");
    assert_eq!(single[1].key_text, "-3");
    // An Int64 key and a Utf8 key with the same digits share their key hash.
    let text_ids = batch(vec![("id", Arc::new(StringArray::from(vec!["7"])) as ArrayRef)]);
    assert_eq!(
        hasher(&["id"], &text_ids).hash_batch(&text_ids).unwrap()[0].key_hash,
        single[0].key_hash
    );
    let composite = hasher(&["region", "id"], &b).hash_batch(&b).unwrap();
    assert_eq!(composite[0].key_text, format!("eu{KEY_SEPARATOR}7"));
    assert_eq!(
        composite[0].key_hash,
        xxhash_rust::xxh3::xxh3_64(format!("eu{KEY_SEPARATOR}7").as_bytes())
    );
    // Row hash does not depend on which columns are the key.
    assert_eq!(composite[0].row_hash, single[0].row_hash);
}

#[test]
fn null_keys_are_an_error_or_none() {
    let b = batch(vec![
        ("email", Arc::new(StringArray::from(vec![Some("a"), None, Some("c")]))),
        ("id", Arc::new(Int64Array::from(vec![Some(1), Some(2), None]))),
    ]);
    let h = hasher(&["email"], &b);
    match h.hash_batch(&b) {
        Err(StateError::NullKey { column, row }) => {
            assert_eq!(column, "email");
            assert_eq!(row, 1);
        }
        other => panic!("expected NullKey, got {other:?}"),
    }
    let rows = h.hash_rows(&b).unwrap();
    assert!(rows[0].is_some() && rows[1].is_none() && rows[2].is_some());
    assert_eq!(h.null_key_rows(&b), vec![(1, "email")]);
    let composite = hasher(&["email", "id"], &b);
    assert_eq!(composite.null_key_rows(&b), vec![(1, "email"), (2, "id")]);
    let rows = composite.hash_rows(&b).unwrap();
    assert_eq!(rows.iter().filter(|r| r.is_some()).count(), 1);
    let err = composite.hash_batch(&b).unwrap_err().to_string();
    assert!(err.contains("row 1") && err.contains("`email`"), "{err}");
}

#[test]
fn unknown_key_column_is_named() {
    let b = people();
    let err = RowHasher::new(&["mail".to_string()], &b.schema()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`mail`"), "{msg}");
    assert!(msg.contains("email, name, ltv"), "{msg}");
    assert!(matches!(
        RowHasher::new(&[], &b.schema()),
        Err(StateError::NoKeyColumns)
    ));
}

#[test]
fn batch_with_another_schema_is_refused() {
    let b = people();
    let h = hasher(&["email"], &b);
    let other = batch(vec![("email", Arc::new(StringArray::from(vec!["a"])) as ArrayRef)]);
    assert!(matches!(h.hash_batch(&other), Err(StateError::SchemaMismatch { .. })));
}

/// Every supported type hashes, distinguishes values, and is split-independent.
#[test]
fn all_supported_types_hash_and_are_split_independent() {
    let mut dict = arrow_array::builder::StringDictionaryBuilder::<Int32Type>::new();
    dict.append_value("x");
    dict.append_null();
    dict.append_value("y");
    dict.append_value("z");
    let dict: DictionaryArray<Int32Type> = dict.finish();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("k", Arc::new(StringArray::from(vec!["1", "2", "3", "4"]))),
        (
            "large",
            Arc::new(LargeStringArray::from(vec![Some("a"), None, Some(""), Some("b")])),
        ),
        (
            "view",
            Arc::new(StringViewArray::from(vec![
                Some("a long string beyond twelve bytes"),
                None,
                Some(""),
                Some("b"),
            ])),
        ),
        ("i8", Arc::new(Int8Array::from(vec![Some(1), None, Some(-1), Some(0)]))),
        (
            "i16",
            Arc::new(Int16Array::from(vec![Some(1), None, Some(-1), Some(0)])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![Some(1), None, Some(-1), Some(0)])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![Some(1), None, Some(-1), Some(0)])),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(vec![Some(1), None, Some(255), Some(0)])),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(vec![Some(1), None, Some(9), Some(0)])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![Some(1), None, Some(9), Some(0)])),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![Some(1), None, Some(u64::MAX), Some(0)])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![Some(1.0), None, Some(f32::NAN), Some(0.5)])),
        ),
        (
            "bool",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false), Some(false)])),
        ),
        (
            "d32",
            Arc::new(Date32Array::from(vec![Some(19000), None, Some(0), Some(1)])),
        ),
        (
            "d64",
            Arc::new(Date64Array::from(vec![Some(1), None, Some(0), Some(2)])),
        ),
        (
            "ts_ms",
            Arc::new(TimestampMillisecondArray::from(vec![Some(1), None, Some(0), Some(2)]).with_timezone("UTC")),
        ),
        (
            "ts_us",
            Arc::new(TimestampMicrosecondArray::from(vec![Some(1), None, Some(0), Some(2)])),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![Some(12345), None, Some(-1), Some(0)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        (
            "bin",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\x01"[..]),
                None,
                Some(&b""[..]),
                Some(&b"z"[..]),
            ])),
        ),
        ("dict", Arc::new(dict)),
    ];
    let b = batch(columns);
    let h = hasher(&["k"], &b);
    let whole = h.hash_batch(&b).unwrap();
    let mut split = h.hash_batch(&b.slice(0, 3)).unwrap();
    split.extend(h.hash_batch(&b.slice(3, 1)).unwrap());
    assert_eq!(whole, split);
    let distinct: std::collections::BTreeSet<u64> = whole.iter().map(|r| r.row_hash).collect();
    assert_eq!(distinct.len(), 4);

    // Changing one value of any single column changes the row hash.
    for col in 1..b.num_columns() {
        let mut cols: Vec<ArrayRef> = b.columns().to_vec();
        // Row 0 gets row 3's value in this column (they differ in every column).
        let take = arrow_array::UInt32Array::from(vec![3, 1, 2, 3]);
        cols[col] = arrow_select_take(&cols[col], &take);
        let changed = RecordBatch::try_new(b.schema(), cols).unwrap();
        let r = h.hash_batch(&changed).unwrap();
        assert_ne!(
            r[0].row_hash,
            whole[0].row_hash,
            "column {} ignored",
            b.schema().field(col).name()
        );
        assert_eq!(r[1..], whole[1..]);
    }
}

/// Minimal `take` for the test (avoids a dev-dependency on arrow-select).
fn arrow_select_take(array: &ArrayRef, indices: &arrow_array::UInt32Array) -> ArrayRef {
    let parts: Vec<ArrayRef> = indices.values().iter().map(|&i| array.slice(i as usize, 1)).collect();
    let refs: Vec<&dyn arrow_array::Array> = parts.iter().map(|a| a.as_ref()).collect();
    concat(&refs)
}

fn concat(arrays: &[&dyn arrow_array::Array]) -> ArrayRef {
    let data: Vec<arrow_data::ArrayData> = arrays.iter().map(|a| a.to_data()).collect();
    let refs: Vec<&arrow_data::ArrayData> = data.iter().collect();
    let capacity = arrays.iter().map(|a| a.len()).sum();
    let mut mutable = arrow_data::transform::MutableArrayData::new(refs, true, capacity);
    for (i, a) in arrays.iter().enumerate() {
        mutable.try_extend(i, 0, a.len()).unwrap();
    }
    arrow_array::make_array(mutable.freeze())
}

fn rows_batch(values: &[(String, Option<String>, Option<i64>)]) -> RecordBatch {
    let mut k = StringBuilder::new();
    let mut s = StringBuilder::new();
    let mut n = Int64Builder::new();
    for (key, text, num) in values {
        k.append_value(key);
        s.append_option(text.as_deref());
        n.append_option(*num);
    }
    batch(vec![
        ("k", Arc::new(k.finish())),
        ("s", Arc::new(s.finish())),
        ("n", Arc::new(n.finish())),
    ])
}

proptest! {
    #[test]
    fn batch_split_independence(
        values in prop::collection::vec(
            ("[a-z0-9]{0,6}", prop::option::of("[ -~]{0,10}"), prop::option::of(any::<i64>())),
            1..60,
        ),
        cuts in prop::collection::vec(0usize..60, 0..6),
    ) {
        let whole = rows_batch(&values);
        let h = hasher(&["k"], &whole);
        let expected = h.hash_batch(&whole).unwrap();

        // Split at arbitrary cut points, both as slices of the big batch and as fresh batches.
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (values.len() + 1)).collect();
        cuts.push(0);
        cuts.push(values.len());
        cuts.sort_unstable();
        cuts.dedup();
        let mut sliced: Vec<KeyedRow> = Vec::new();
        let mut rebuilt: Vec<KeyedRow> = Vec::new();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            sliced.extend(h.hash_batch(&whole.slice(a, b - a)).unwrap());
            rebuilt.extend(h.hash_batch(&rows_batch(&values[a..b])).unwrap());
        }
        prop_assert_eq!(&sliced, &expected);
        prop_assert_eq!(&rebuilt, &expected);
        // Equal rows hash equal, different rows (almost surely) differ.
        for i in 0..values.len() {
            for j in 0..values.len() {
                prop_assert_eq!(values[i] == values[j], expected[i].row_hash == expected[j].row_hash);
            }
        }
    }
}
