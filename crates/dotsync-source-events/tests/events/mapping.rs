//! Mappings: column types, nulls, problems, and one schema for every batch.

use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use dotsync_source_events::{
    ColumnMapping, ColumnSource, ColumnType, ConfigError, EventActionConfig, Mapping, MappingsConfig, ValueProblem,
};

use crate::common::{events, read_all};

fn mappings(json: serde_json::Value) -> MappingsConfig {
    serde_json::from_value(json).unwrap()
}

fn text(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch
        .column_by_name(column)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    array.iter().map(|v| v.map(str::to_string)).collect()
}

const EVENTS: &str = r#"{"type":"track","event":"Order Completed","userId":"u1","properties":{"email":"ada@example.com","total":5,"price":"12.50","paid":true,"items":[1,2],"meta":{"a":1}},"traits":{"first_name":"Ada"}}
{"type":"track","event":"Order Completed","userId":"u2","properties":{"email":null,"total":2.5,"price":7,"paid":"false","items":"none"}}
{"type":"identify","userId":"u3","traits":{"first_name":"Grace","vip":true}}
"#;

fn all_types() -> Mapping {
    // A string, not json!(): serde_json's json! sorts keys, a parsed text keeps their order.
    let config: MappingsConfig = serde_json::from_str(
        r#"{
            "email": "properties.email",
            "FIRSTNAME": "traits.first_name",
            "total_text": "properties.total",
            "paid_text": "properties.paid",
            "items_text": "properties.items",
            "meta_text": "properties.meta",
            "total": {"path": "properties.total", "type": "number"},
            "price": {"path": "properties.price", "type": "number"},
            "count": {"path": "properties.total", "type": "integer"},
            "paid": {"path": "properties.paid", "type": "boolean"},
            "items": {"path": "properties.items", "type": "json"},
            "explicit_text": {"path": "properties.email", "type": "text"},
            "defaulted_text": {"path": "properties.email"}
        }"#,
    )
    .unwrap();
    Mapping::new(&config).unwrap()
}

#[test]
fn the_schema_comes_from_the_config_in_config_order() {
    let mapping = all_types();
    let fields: Vec<(String, DataType, bool)> = mapping
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect();
    let expected = [
        ("email", DataType::Utf8),
        ("FIRSTNAME", DataType::Utf8),
        ("total_text", DataType::Utf8),
        ("paid_text", DataType::Utf8),
        ("items_text", DataType::Utf8),
        ("meta_text", DataType::Utf8),
        ("total", DataType::Float64),
        ("price", DataType::Float64),
        ("count", DataType::Int64),
        ("paid", DataType::Boolean),
        ("items", DataType::Utf8),
        ("explicit_text", DataType::Utf8),
        ("defaulted_text", DataType::Utf8),
    ]
    .map(|(name, data_type)| (name.to_string(), data_type, true));
    assert_eq!(fields, expected);
}

#[test]
fn values_are_converted_to_their_column_types() {
    let mapped = all_types().map(&events(EVENTS));
    let batch = &mapped.batch;
    assert_eq!(batch.num_rows(), 3);
    assert_eq!(mapped.lines, [1, 2, 3]);
    assert_eq!(
        text(batch, "email"),
        [Some("ada@example.com".to_string()), None, None],
        "null and missing are null"
    );
    assert_eq!(
        text(batch, "FIRSTNAME"),
        [Some("Ada".to_string()), None, Some("Grace".to_string())]
    );
    assert_eq!(
        text(batch, "total_text"),
        [Some("5".to_string()), Some("2.5".to_string()), None]
    );
    assert_eq!(
        text(batch, "paid_text"),
        [Some("true".to_string()), Some("false".to_string()), None]
    );
    assert_eq!(
        text(batch, "items_text"),
        [Some("[1,2]".to_string()), Some("none".to_string()), None]
    );
    assert_eq!(text(batch, "meta_text"), [Some(r#"{"a":1}"#.to_string()), None, None]);
    assert_eq!(
        text(batch, "items"),
        [Some("[1,2]".to_string()), Some(r#""none""#.to_string()), None]
    );
    assert_eq!(text(batch, "explicit_text"), text(batch, "email"));
    assert_eq!(text(batch, "defaulted_text"), text(batch, "email"));

    let total = batch
        .column_by_name("total")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(total.iter().collect::<Vec<_>>(), [Some(5.0), Some(2.5), None]);
    let price = batch
        .column_by_name("price")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(price.iter().collect::<Vec<_>>(), [Some(12.5), Some(7.0), None]);
    let count = batch
        .column_by_name("count")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(count.iter().collect::<Vec<_>>(), [Some(5), None, None]);
    let paid = batch
        .column_by_name("paid")
        .unwrap()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap();
    assert_eq!(paid.iter().collect::<Vec<_>>(), [Some(true), Some(false), None]);

    assert_eq!(
        mapped.problems,
        [ValueProblem {
            row: 1,
            line: 2,
            column: "count".to_string(),
            message: "expected an integer, got 2.5".to_string(),
        }]
    );
    assert_eq!(
        mapped.problems[0].to_string(),
        r#"line 2: column "count": expected an integer, got 2.5"#
    );
}

#[test]
fn values_that_do_not_fit_are_null_cells_with_a_problem() {
    let config: MappingsConfig = serde_json::from_str(
        r#"{
            "n": {"path": "properties.v", "type": "number"},
            "i": {"path": "properties.v", "type": "integer"},
            "b": {"path": "properties.v", "type": "boolean"}
        }"#,
    )
    .unwrap();
    let mapping = Mapping::new(&config).unwrap();
    let lines = [
        r#"{"v":"abc"}"#,
        r#"{"v":{"x":1}}"#,
        r#"{"v":[true]}"#,
        r#"{"v":18446744073709551615}"#,
        r#"{"v":"7"}"#,
        r#"{"v":3.0}"#,
        r#"{"v":"TRUE"}"#,
        r#"{"v":1e300}"#,
    ];
    let text: String = lines
        .iter()
        .map(|properties| {
            format!("{{\"type\":\"track\",\"event\":\"e\",\"userId\":\"u\",\"properties\":{properties}}}\n")
        })
        .collect();
    let mapped = mapping.map(&events(&text));
    let messages: Vec<String> = mapped.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            r#"line 1: column "n": expected a number, got "abc""#,
            r#"line 1: column "i": expected an integer, got "abc""#,
            r#"line 1: column "b": expected true or false, got "abc""#,
            r#"line 2: column "n": expected a number, got an object"#,
            r#"line 2: column "i": expected an integer, got an object"#,
            r#"line 2: column "b": expected true or false, got an object"#,
            r#"line 3: column "n": expected a number, got an array"#,
            r#"line 3: column "i": expected an integer, got an array"#,
            r#"line 3: column "b": expected true or false, got an array"#,
            r#"line 4: column "i": expected an integer, got 18446744073709551615"#,
            r#"line 4: column "b": expected true or false, got 18446744073709551615"#,
            r#"line 5: column "b": expected true or false, got "7""#,
            r#"line 6: column "b": expected true or false, got 3.0"#,
            r#"line 7: column "n": expected a number, got "TRUE""#,
            r#"line 7: column "i": expected an integer, got "TRUE""#,
            r#"line 7: column "b": expected true or false, got "TRUE""#,
            r#"line 8: column "i": expected an integer, got 1e+300"#,
            r#"line 8: column "b": expected true or false, got 1e+300"#,
        ]
    );
    let integers = mapped.batch.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(
        integers.iter().collect::<Vec<_>>(),
        [None, None, None, None, Some(7), Some(3), None, None]
    );
    let numbers = mapped.batch.column(0).as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(numbers.null_count(), 4);
    assert_eq!(numbers.value(3), 18446744073709551615.0);
    assert_eq!(numbers.value(7), 1e300);
}

#[test]
fn every_batch_has_the_same_schema_even_when_values_differ() {
    let action: EventActionConfig = serde_json::from_value(serde_json::json!({
        "name": "Order Completed",
        "mappings": {
            "email": "properties.email",
            "total": {"path": "properties.total", "type": "number"},
        },
    }))
    .unwrap();
    let action = action.compile().unwrap();
    // Batch 1: integral totals and an email; batch 2: no matching event; batch 3: a fractional
    // total, no email, and a string total.
    let text = r#"{"type":"track","event":"Order Completed","userId":"u","properties":{"email":"a@b.c","total":5}}
{"type":"track","event":"Order Completed","userId":"u","properties":{"email":"d@e.f","total":6}}
{"type":"page","userId":"u"}
{"type":"identify","userId":"u"}
{"type":"track","event":"Order Completed","userId":"u","properties":{"total":2.5}}
{"type":"track","event":"Order Completed","userId":"u","properties":{"total":"3"}}
"#;
    let batches: Vec<_> = read_all(text, 2).into_iter().map(Result::unwrap).collect();
    assert_eq!(batches.len(), 3);
    let mapped: Vec<_> = batches.iter().map(|batch| action.apply(batch)).collect();
    for each in &mapped {
        assert_eq!(each.batch.schema(), *action.schema());
    }
    assert_eq!(mapped.iter().map(|m| m.batch.num_rows()).collect::<Vec<_>>(), [2, 0, 2]);
    assert_eq!(mapped[2].lines, [5, 6]);
    let totals = mapped[2]
        .batch
        .column(1)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(totals.iter().collect::<Vec<_>>(), [Some(2.5), Some(3.0)]);
}

#[test]
fn an_action_takes_only_what_its_trigger_matches() {
    let action: EventActionConfig = serde_json::from_value(serde_json::json!({
        "name": "VIP",
        "trigger": "type = \"identify\" and traits.vip = true",
        "mappings": {"FIRSTNAME": "traits.first_name"},
    }))
    .unwrap();
    let action = action.compile().unwrap();
    assert_eq!(action.name(), "VIP");
    assert_eq!(action.trigger().source(), "type = \"identify\" and traits.vip = true");
    let mapped = action.apply(&events(EVENTS));
    assert_eq!(mapped.lines, [3]);
    assert_eq!(text(&mapped.batch, "FIRSTNAME"), [Some("Grace".to_string())]);
}

#[test]
fn bad_mappings_are_config_errors() {
    let empty = Mapping::new(&mappings(serde_json::json!({}))).unwrap_err();
    assert_eq!(empty, ConfigError::NoColumns);
    assert_eq!(
        empty.to_string(),
        "the mappings declare no column; map at least one, e.g. email = \"properties.email\""
    );

    let bad_path = Mapping::new(&mappings(serde_json::json!({"email": "properties..email"}))).unwrap_err();
    assert_eq!(
        bad_path.to_string(),
        r#"column "email": invalid path "properties..email": at character 12: expected a name after "." (letters, digits, _, $, -; or a name in backticks)"#
    );

    let duplicate = MappingsConfig::new(vec![
        ColumnMapping {
            column: "email".to_string(),
            from: ColumnSource::Path("traits.email".to_string()),
            column_type: ColumnType::Text,
        },
        ColumnMapping {
            column: "email".to_string(),
            from: ColumnSource::Path("properties.email".to_string()),
            column_type: ColumnType::Text,
        },
    ]);
    assert_eq!(
        Mapping::new(&duplicate).unwrap_err().to_string(),
        r#"the column "email" is mapped twice"#
    );
}

#[test]
fn the_mappings_table_is_checked_when_read() {
    let duplicate = serde_json::from_str::<MappingsConfig>(r#"{"email":"a","email":"b"}"#).unwrap_err();
    assert!(
        duplicate.to_string().contains(r#"the column "email" is mapped twice"#),
        "{duplicate}"
    );
    let unknown = serde_json::from_str::<MappingsConfig>(r#"{"total":{"path":"a","typ":"number"}}"#).unwrap_err();
    assert!(unknown.to_string().contains("unknown field `typ`"), "{unknown}");
    let bad_type = serde_json::from_str::<MappingsConfig>(r#"{"total":{"path":"a","type":"float"}}"#).unwrap_err();
    assert!(bad_type.to_string().contains("unknown variant `float`"), "{bad_type}");
    let number = serde_json::from_str::<MappingsConfig>(r#"{"total":5}"#).unwrap_err();
    assert!(
        number.to_string().contains(r#"a path such as "properties.email""#),
        "{number}"
    );
    let empty_name = serde_json::from_str::<MappingsConfig>(r#"{"":"a"}"#).unwrap_err();
    assert!(
        empty_name.to_string().contains("a column name is empty"),
        "{empty_name}"
    );
}

#[test]
fn mappings_serialize_back_to_the_same_shape() {
    let json = serde_json::json!({
        "email": "properties.email",
        "total": {"path": "properties.total", "type": "number"},
    });
    let config = mappings(json.clone());
    assert_eq!(serde_json::to_value(&config).unwrap(), json);
    assert_eq!(config.columns()[1].column_type, ColumnType::Number);
}

#[test]
fn a_constant_column_holds_its_value_in_every_row() {
    let mapping = Mapping::new(&mappings(serde_json::json!({
        "email": "properties.email",
        "member": {"value": false, "type": "boolean"},
    })))
    .unwrap();
    let mapped = mapping.map(&events(EVENTS));
    let members = mapped.batch.column(1).as_any().downcast_ref::<BooleanArray>().unwrap();
    assert_eq!(members.len(), mapped.batch.num_rows());
    assert!(members.iter().all(|member| member == Some(false)));
    assert!(mapped.problems.is_empty());
}

#[test]
fn a_constant_must_fit_its_column_and_come_alone() {
    let bad = Mapping::new(&mappings(
        serde_json::json!({"member": {"value": "maybe", "type": "boolean"}}),
    ))
    .unwrap_err();
    assert_eq!(
        bad.to_string(),
        r#"column "member": the constant value does not fit the column: expected true or false, got "maybe""#
    );
    let both = serde_json::from_str::<MappingsConfig>(r#"{"m":{"path":"a","value":1}}"#).unwrap_err();
    assert!(
        both.to_string()
            .contains(r#"column "m": give either `path` or `value`"#),
        "{both}"
    );
    let round_trip: MappingsConfig = serde_json::from_str(r#"{"m":{"value":1,"type":"integer"},"e":"a"}"#).unwrap();
    assert_eq!(
        serde_json::to_value(&round_trip).unwrap(),
        serde_json::json!({"m": {"value": 1, "type": "integer"}, "e": "a"})
    );
}
