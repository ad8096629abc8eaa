//! The configuration types: defaults, strictness, schemas and compilation.

use std::path::Path;

use dotsync_source_events::{ConfigError, EventActionConfig, EventSourceConfig, MappingsConfig};

#[test]
fn the_source_defaults_its_batch_size_and_knows_stdin() {
    let config: EventSourceConfig = serde_json::from_str(r#"{"path":"events.jsonl"}"#).unwrap();
    assert_eq!(config.batch_size, EventSourceConfig::DEFAULT_BATCH_SIZE);
    assert!(!config.reads_stdin());
    assert_eq!(
        config.resolve_path(Path::new("base")),
        Path::new("base").join("events.jsonl")
    );
    let stdin: EventSourceConfig = serde_json::from_str(r#"{"path":"-","batch_size":10}"#).unwrap();
    assert!(stdin.reads_stdin());
    assert_eq!(stdin.batch_size, 10);
    let absolute = EventSourceConfig::new(std::env::temp_dir().join("events.jsonl"));
    assert_eq!(
        absolute.resolve_path(Path::new("base")),
        std::env::temp_dir().join("events.jsonl")
    );
}

#[test]
fn a_zero_batch_size_is_refused_on_open() {
    let config: EventSourceConfig = serde_json::from_str(r#"{"path":"-","batch_size":0}"#).unwrap();
    let error = config.open(Path::new(".")).err().unwrap();
    assert_eq!(error.to_string(), "stdin: batch_size must be at least 1");
}

#[test]
fn unknown_fields_are_refused() {
    let source = serde_json::from_str::<EventSourceConfig>(r#"{"path":"a","batchsize":5}"#).unwrap_err();
    assert!(source.to_string().contains("unknown field `batchsize`"), "{source}");
    let action = serde_json::from_str::<EventActionConfig>(
        r#"{"name":"x","trigger":"type exists","mapping":{"a":"b"},"mappings":{"a":"b"}}"#,
    )
    .unwrap_err();
    assert!(action.to_string().contains("unknown field `mapping`"), "{action}");
}

#[test]
fn an_action_without_trigger_gets_the_default() {
    let config: EventActionConfig =
        serde_json::from_str(r#"{"name":"Send SMS","mappings":{"to":"properties.phone"}}"#).unwrap();
    assert_eq!(config.trigger_source(), r#"type = "track" and event = "Send SMS""#);
    let action = config.compile().unwrap();
    assert_eq!(action.trigger().source(), r#"type = "track" and event = "Send SMS""#);
    let serialized = serde_json::to_value(&config).unwrap();
    assert_eq!(
        serialized,
        serde_json::json!({"name": "Send SMS", "mappings": {"to": "properties.phone"}})
    );
}

#[test]
fn a_bad_trigger_names_the_action_and_the_position() {
    let config: EventActionConfig = serde_json::from_str(
        r#"{"name":"Add Contact to List","trigger":"type = \"track\" and event =","mappings":{"email":"properties.email"}}"#,
    )
    .unwrap();
    let error = config.compile().unwrap_err();
    let ConfigError::Trigger { error: position, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!((position.line, position.column), (1, 27));
    assert_eq!(
        error.to_string(),
        r#"action "Add Contact to List": trigger:1:27: expected a value after "=", found end of input"#
    );
}

#[test]
fn the_json_schemas_describe_the_fields() {
    let source = serde_json::to_value(schemars::schema_for!(EventSourceConfig)).unwrap();
    assert_eq!(source["additionalProperties"], false);
    assert_eq!(source["required"], serde_json::json!(["path"]));
    assert!(
        source["properties"]["path"]["description"]
            .as_str()
            .unwrap()
            .contains("\"-\" reads")
    );
    assert_eq!(source["properties"]["batch_size"]["minimum"], 1);

    let action = serde_json::to_value(schemars::schema_for!(EventActionConfig)).unwrap();
    assert_eq!(action["additionalProperties"], false);
    assert!(
        action["properties"]["trigger"]["description"]
            .as_str()
            .unwrap()
            .contains("Default")
    );
    let mappings = serde_json::to_value(schemars::schema_for!(MappingsConfig)).unwrap();
    assert_eq!(mappings["type"], "object");
    assert_eq!(mappings["minProperties"], 1);
    let column = &mappings["$defs"]["EventColumn"];
    assert_eq!(column["anyOf"][0]["type"], "string");
    let typed = &column["anyOf"][1];
    let typed = if typed["$ref"].is_string() {
        let name = typed["$ref"].as_str().unwrap().trim_start_matches("#/$defs/");
        &mappings["$defs"][name]
    } else {
        typed
    };
    assert_eq!(typed["additionalProperties"], false);
    assert!(typed["properties"]["type"].is_object(), "{typed}");
}
