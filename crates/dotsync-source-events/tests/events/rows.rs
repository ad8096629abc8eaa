//! A sync's rows: selection from the config, refused rows, audiences with the last change
//! winning, and the read error after the rows before it.

use std::io::Cursor;

use arrow_array::{Array, BooleanArray, RecordBatch, StringArray};
use dotsync_source_events::{
    AUDIENCE_COLUMNS, EventReader, EventRows, EventSourceConfig, ReadError, Refusal, SelectedRows,
};

fn config(json: serde_json::Value) -> EventSourceConfig {
    let mut full = serde_json::json!({"path": "events.jsonl"});
    full.as_object_mut().unwrap().extend(json.as_object().unwrap().clone());
    serde_json::from_value(full).unwrap()
}

fn rows(config: &EventSourceConfig, text: &str, batch_size: usize) -> Vec<Result<SelectedRows, ReadError>> {
    let reader = EventReader::new(Cursor::new(text.as_bytes().to_vec()), "events.jsonl", 1000)
        .unwrap()
        .boxed();
    EventRows::new(reader, config.compile().unwrap(), batch_size).collect()
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch.column_by_name(column).unwrap();
    let array = array.as_any().downcast_ref::<StringArray>().unwrap();
    array.iter().map(|value| value.map(str::to_owned)).collect()
}

const SENDS: &str = r#"{"type":"track","event":"Send SMS","userId":"u1","messageId":"m1","properties":{"phone":"+447700900123","n":1}}
{"type":"page","userId":"u1"}
{"type":"track","event":"Send SMS","userId":"u2","messageId":"m2","properties":{"phone":"+447700900124","n":"x"}}
{"type":"track","event":"Other","userId":"u3"}
"#;

#[test]
fn an_action_streams_its_events_and_refuses_values_that_do_not_fit() {
    let config = config(serde_json::json!({
        "event": "Send SMS",
        "mappings": {"key": "messageId", "to": "properties.phone", "n": {"path": "properties.n", "type": "integer"}},
    }));
    let batches: Vec<SelectedRows> = rows(&config, SENDS, 10).into_iter().map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(strings(&batch.batch, "key"), [Some("m1".into()), Some("m2".into())]);
    assert_eq!(batch.lines, [1, 3]);
    assert_eq!(batch.refused.len(), 1);
    assert_eq!(batch.refused[0].row, 1);
    assert_eq!(batch.refused[0].refusal, Refusal::InvalidValue);
    assert_eq!(batch.refused[0].refusal.code(), "InvalidEventValue");
    assert_eq!(
        batch.refused[0].message,
        r#"line 3: column "n": expected an integer, got "x""#
    );
}

#[test]
fn batches_without_a_selected_event_are_skipped() {
    let config = config(serde_json::json!({"event": "Other", "mappings": {"user": "userId"}}));
    let reader = EventReader::new(Cursor::new(SENDS.as_bytes().to_vec()), "events.jsonl", 1)
        .unwrap()
        .boxed();
    let batches: Vec<SelectedRows> = EventRows::new(reader, config.compile().unwrap(), 10)
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].lines, [4]);
}

const AUDIENCE: &str = r#"{"type":"identify","userId":"u1","traits":{"email":"Ada@Example.com","cart_abandoners":true,"vip":true}}
{"type":"track","event":"Audience Entered","userId":"u2","context":{"traits":{"email":"grace@example.com"}},"properties":{"audience_key":"cart_abandoners","cart_abandoners":true}}
{"type":"identify","userId":"u1","traits":{"email":"ada@example.com","cart_abandoners":false}}
{"type":"identify","userId":"u4","traits":{"cart_abandoners":true}}
{"type":"identify","userId":"u5","traits":{"email":"e@example.com","cart_abandoners":"perhaps"},"context":{"personas":{"computation_key":"cart_abandoners"}}}
{"type":"identify","userId":"u6","traits":{"email":"f@example.com","other_audience":true}}
"#;

#[test]
fn an_audience_makes_one_row_per_change_and_the_last_change_wins() {
    let config = config(serde_json::json!({"audience": "cart_abandoners"}));
    let batches: Vec<SelectedRows> = rows(&config, AUDIENCE, 100).into_iter().map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    let schema = batch.batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, AUDIENCE_COLUMNS);
    assert_eq!(batch.lines, [1, 2, 3, 4, 5]);
    assert_eq!(
        strings(&batch.batch, "email"),
        [
            Some("Ada@Example.com".into()),
            Some("grace@example.com".into()),
            Some("ada@example.com".into()),
            None,
            None
        ]
    );
    assert_eq!(
        strings(&batch.batch, "user_id"),
        ["u1", "u2", "u1", "u4", "u5"].map(|id| Some(id.to_string()))
    );
    let member = batch.batch.column(2).as_any().downcast_ref::<BooleanArray>().unwrap();
    assert_eq!(
        member.iter().collect::<Vec<_>>(),
        [Some(true), Some(true), Some(false), Some(true), None]
    );
    let refused: Vec<(usize, Refusal)> = batch.refused.iter().map(|r| (r.row, r.refusal)).collect();
    assert_eq!(refused, [(0, Refusal::Superseded), (4, Refusal::InvalidAudienceEvent)]);
    assert_eq!(
        batch.refused[0].message,
        r#"line 1: the same contact's membership of "cart_abandoners" changes again on line 3; only the last change is applied"#
    );
    assert_eq!(
        batch.refused[1].message,
        r#"line 5: audience "cart_abandoners": expected true or false, got "perhaps""#
    );
}

#[test]
fn an_audience_comes_in_batches_then_the_read_error() {
    let config = config(serde_json::json!({"audience": "cart_abandoners", "trigger": "type = \"identify\""}));
    let text = format!("{AUDIENCE}{{\"type\":\"trak\",\"userId\":\"u\"}}\n");
    let items = rows(&config, &text, 2);
    let sizes: Vec<usize> = items
        .iter()
        .filter_map(|item| item.as_ref().ok())
        .map(|b| b.batch.num_rows())
        .collect();
    // The trigger leaves out the track event on line 2.
    assert_eq!(sizes, [2, 2]);
    let error = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(error.line(), Some(7));
    assert!(error.to_string().starts_with("events.jsonl:7: "), "{error}");
}

#[test]
fn the_fields_must_make_one_selection() {
    let error = |json: serde_json::Value| config(json).compile().unwrap_err().to_string();
    assert_eq!(
        error(serde_json::json!({"mappings": {"a": "b"}})),
        "say which events the sync takes: `event = \"Send SMS\"` (track events of that name) or a `trigger`"
    );
    assert!(
        error(serde_json::json!({"event": "X", "trigger": "type exists", "mappings": {"a": "b"}}))
            .starts_with("give `event` or `trigger`, not both")
    );
    assert!(
        error(serde_json::json!({"audience": "x", "mappings": {"a": "b"}}))
            .starts_with("an `audience` source has fixed columns")
    );
    assert!(error(serde_json::json!({"audience": "Cart Abandoners"})).contains(r#"got "Cart Abandoners""#));
    assert_eq!(
        error(serde_json::json!({"trigger": "type = ", "mappings": {"a": "b"}})),
        r#"trigger:1:8: expected a value after "=", found end of input"#
    );
}

#[test]
fn without_mappings_the_rows_have_the_common_fields() {
    let config = config(serde_json::json!({"event": "Send SMS"}));
    let batches: Vec<SelectedRows> = rows(&config, SENDS, 10).into_iter().map(Result::unwrap).collect();
    let batch = &batches[0].batch;
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "type",
            "event",
            "userId",
            "anonymousId",
            "messageId",
            "timestamp",
            "properties",
            "traits",
            "context"
        ]
    );
    assert_eq!(strings(batch, "userId"), [Some("u1".into()), Some("u2".into())]);
    assert_eq!(strings(batch, "anonymousId"), [None, None]);
    assert_eq!(
        strings(batch, "properties")[0].as_deref(),
        Some(r#"{"n":1,"phone":"+447700900123"}"#)
    );
}
