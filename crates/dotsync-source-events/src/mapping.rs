//! Mappings: from event paths to typed output columns, and the Arrow batches they produce.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use schemars::{JsonSchema, Schema as JsonSchemaDoc, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::ConfigError;
use crate::event::{Event, EventPath, describe};

/// The type of an output column, declared in the config so every batch has the same schema
/// whatever the events hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Utf8. Strings as they are; numbers and booleans as their JSON text; objects and arrays
    /// as JSON text.
    #[default]
    Text,
    /// Float64. JSON numbers, and strings that hold a number ("12.50").
    Number,
    /// Int64. JSON numbers without a fractional part, and strings that hold an integer.
    Integer,
    /// Boolean. true and false, and the strings "true" and "false".
    Boolean,
    /// Utf8 holding the value as JSON text (a string keeps its quotes).
    Json,
}

impl ColumnType {
    fn data_type(self) -> DataType {
        match self {
            ColumnType::Text | ColumnType::Json => DataType::Utf8,
            ColumnType::Number => DataType::Float64,
            ColumnType::Integer => DataType::Int64,
            ColumnType::Boolean => DataType::Boolean,
        }
    }
}

/// One output column: its name, where its value comes from and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMapping {
    /// The output column's name.
    pub column: String,
    /// Where each row's value comes from.
    pub from: ColumnSource,
    /// The column's type.
    pub column_type: ColumnType,
}

/// Where a column's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// A path in the event, e.g. `properties.email`.
    Path(String),
    /// The same value in every row, e.g. `false` for a column that says "remove from the list"
    /// in an action that only ever removes.
    Constant(Value),
}

/// The `mappings` table: output column name = path (a text column),
/// `{ path = "...", type = "number" }`, or a constant `{ value = false, type = "boolean" }`. Columns keep the order in which the config lists them
/// (as the deserializer hands them over; TOML and JSON read directly keep it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingsConfig {
    columns: Vec<ColumnMapping>,
}

impl MappingsConfig {
    /// Mappings built in code; [`Mapping::new`] checks them as it checks a config file's.
    pub fn new(columns: Vec<ColumnMapping>) -> MappingsConfig {
        MappingsConfig { columns }
    }

    /// The common fields of the Segment spec, each a column of its name: `type`, `event`,
    /// `userId`, `anonymousId`, `messageId`, `timestamp` as text, and `properties`, `traits`,
    /// `context` as JSON text (their shape varies per event, and a declared schema may not).
    pub fn common_fields() -> MappingsConfig {
        let text = ["type", "event", "userId", "anonymousId", "messageId", "timestamp"].map(|f| (f, ColumnType::Text));
        let json = ["properties", "traits", "context"].map(|f| (f, ColumnType::Json));
        MappingsConfig {
            columns: text
                .into_iter()
                .chain(json)
                .map(|(field, column_type)| ColumnMapping {
                    column: field.to_owned(),
                    from: ColumnSource::Path(field.to_owned()),
                    column_type,
                })
                .collect(),
        }
    }

    /// The columns, in output order.
    pub fn columns(&self) -> &[ColumnMapping] {
        &self.columns
    }
}

/// How the config writes one column; the schema of a `mappings` value.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "EventColumn")]
enum ColumnSpec {
    /// The path of the value, e.g. "properties.email"; the column is text.
    Path(String),
    /// The path (or a constant value) and the column's type.
    Typed(TypedColumn),
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TypedColumn {
    /// The path of the value, e.g. "properties.total". Give `path` or `value`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    /// A constant: every row gets this value (it must fit the column's type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
    /// The column's type: text (default), number, integer, boolean or json.
    #[serde(rename = "type", default)]
    column_type: ColumnType,
}

impl<'de> Deserialize<'de> for ColumnSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = ColumnSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a path such as "properties.email", or a table such as { path = "properties.total", type = "number" }"#)
            }
            fn visit_str<E: de::Error>(self, path: &str) -> Result<ColumnSpec, E> {
                Ok(ColumnSpec::Path(path.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ColumnSpec, A::Error> {
                TypedColumn::deserialize(de::value::MapAccessDeserializer::new(map)).map(ColumnSpec::Typed)
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

impl<'de> Deserialize<'de> for MappingsConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MappingsVisitor;
        impl<'de> Visitor<'de> for MappingsVisitor {
            type Value = MappingsConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a table of output column = path, e.g. email = "properties.email""#)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MappingsConfig, A::Error> {
                let mut columns: Vec<ColumnMapping> = Vec::new();
                while let Some(column) = map.next_key::<String>()? {
                    let spec: ColumnSpec = map.next_value()?;
                    if column.is_empty() {
                        return Err(de::Error::custom("a column name is empty"));
                    }
                    if columns.iter().any(|existing| existing.column == column) {
                        return Err(de::Error::custom(format!("the column {column:?} is mapped twice")));
                    }
                    let (from, column_type) = match spec {
                        ColumnSpec::Path(path) => (ColumnSource::Path(path), ColumnType::Text),
                        ColumnSpec::Typed(typed) => {
                            let from = match (typed.path, typed.value) {
                                (Some(path), None) => ColumnSource::Path(path),
                                (None, Some(value)) => ColumnSource::Constant(value),
                                _ => {
                                    return Err(de::Error::custom(format!(
                                        "column {column:?}: give either `path` or `value`"
                                    )));
                                }
                            };
                            (from, typed.column_type)
                        }
                    };
                    columns.push(ColumnMapping {
                        column,
                        from,
                        column_type,
                    });
                }
                Ok(MappingsConfig { columns })
            }
        }
        deserializer.deserialize_map(MappingsVisitor)
    }
}

impl Serialize for MappingsConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.columns.len()))?;
        for mapping in &self.columns {
            match &mapping.from {
                ColumnSource::Path(path) if mapping.column_type == ColumnType::Text => {
                    map.serialize_entry(&mapping.column, path)?;
                }
                from => {
                    let (path, value) = match from {
                        ColumnSource::Path(path) => (Some(path.clone()), None),
                        ColumnSource::Constant(value) => (None, Some(value.clone())),
                    };
                    let typed = TypedColumn {
                        path,
                        value,
                        column_type: mapping.column_type,
                    };
                    map.serialize_entry(&mapping.column, &typed)?;
                }
            }
        }
        map.end()
    }
}

impl JsonSchema for MappingsConfig {
    fn schema_name() -> Cow<'static, str> {
        "EventMappings".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> JsonSchemaDoc {
        let column = generator.subschema_for::<ColumnSpec>();
        json_schema!({
            "type": "object",
            "description": "Output columns: name = path (a text column), name = { path, type }, or a constant name = { value, type }.",
            "minProperties": 1,
            "additionalProperties": column,
        })
    }
}

/// A value that does not fit its column's type. The cell is null; the host should reject the
/// row (the destination would get a null it did not ask for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueProblem {
    /// The row in the batch.
    pub row: usize,
    /// The event's line in the input.
    pub line: u64,
    /// The column.
    pub column: String,
    /// What is wrong, e.g. `expected a number, got "abc"`.
    pub message: String,
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: column {:?}: {}", self.line, self.column, self.message)
    }
}

/// Mapped events: one row per event, the line each came from, and the values that did not fit.
#[derive(Debug, Clone)]
pub struct MappedBatch {
    /// The rows, with the schema of [`Mapping::schema`]; may have zero rows.
    pub batch: RecordBatch,
    /// `lines[row]` is the input line of the event behind `row`.
    pub lines: Vec<u64>,
    /// The cells left null because the value did not fit, in row order.
    pub problems: Vec<ValueProblem>,
}

/// Compiled mappings: the paths parsed and the schema fixed.
#[derive(Debug, Clone)]
pub struct Mapping {
    schema: SchemaRef,
    columns: Vec<(CompiledSource, ColumnType)>,
}

/// A [`ColumnSource`] ready to read events.
#[derive(Debug, Clone)]
enum CompiledSource {
    Path(EventPath),
    /// Never null: a null constant is simply a null column.
    Constant(Value),
}

impl Mapping {
    /// Parses every path; at least one column is needed.
    pub fn new(config: &MappingsConfig) -> Result<Mapping, ConfigError> {
        if config.columns.is_empty() {
            return Err(ConfigError::NoColumns);
        }
        let mut seen = HashSet::new();
        let mut columns = Vec::with_capacity(config.columns.len());
        let mut fields = Vec::with_capacity(config.columns.len());
        for mapping in &config.columns {
            // Deserialization refuses duplicates already; a config built in code is checked here.
            if !seen.insert(mapping.column.as_str()) {
                return Err(ConfigError::DuplicateColumn {
                    column: mapping.column.clone(),
                });
            }
            let from = match &mapping.from {
                ColumnSource::Path(path) => {
                    CompiledSource::Path(EventPath::parse(path).map_err(|error| ConfigError::Path {
                        column: mapping.column.clone(),
                        path: path.clone(),
                        message: format!("at character {}: {}", error.column, error.message),
                    })?)
                }
                ColumnSource::Constant(value) => {
                    // Checked once here, so a constant that does not fit is a config error and
                    // never a problem repeated on every row.
                    ColumnBuilder::new(mapping.column_type)
                        .append(Some(value))
                        .map_err(|message| ConfigError::Constant {
                            column: mapping.column.clone(),
                            message,
                        })?;
                    CompiledSource::Constant(value.clone())
                }
            };
            columns.push((from, mapping.column_type));
            fields.push(Field::new(&mapping.column, mapping.column_type.data_type(), true));
        }
        Ok(Mapping {
            schema: Arc::new(Schema::new(fields)),
            columns,
        })
    }

    /// The schema of every batch: the columns in config order, all nullable.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// One row per event, in order.
    pub fn map<'a>(&self, events: impl IntoIterator<Item = &'a Event>) -> MappedBatch {
        let mut builders: Vec<ColumnBuilder> = self.columns.iter().map(|(_, t)| ColumnBuilder::new(*t)).collect();
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for (row, event) in events.into_iter().enumerate() {
            lines.push(event.line());
            for ((from, _), (builder, field)) in self.columns.iter().zip(builders.iter_mut().zip(self.schema.fields()))
            {
                let value = match from {
                    CompiledSource::Path(path) => event.get(path),
                    CompiledSource::Constant(value) => Some(value),
                }
                .filter(|value| !value.is_null());
                if let Err(message) = builder.append(value) {
                    problems.push(ValueProblem {
                        row,
                        line: event.line(),
                        column: field.name().clone(),
                        message,
                    });
                }
            }
        }
        let arrays: Vec<ArrayRef> = builders.into_iter().map(ColumnBuilder::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .expect("one array per field, built for the field's type, all with one value per event");
        MappedBatch { batch, lines, problems }
    }
}

enum ColumnBuilder {
    Text(StringBuilder),
    Json(StringBuilder),
    Number(Float64Builder),
    Integer(Int64Builder),
    Boolean(BooleanBuilder),
}

impl ColumnBuilder {
    fn new(column_type: ColumnType) -> ColumnBuilder {
        match column_type {
            ColumnType::Text => ColumnBuilder::Text(StringBuilder::new()),
            ColumnType::Json => ColumnBuilder::Json(StringBuilder::new()),
            ColumnType::Number => ColumnBuilder::Number(Float64Builder::new()),
            ColumnType::Integer => ColumnBuilder::Integer(Int64Builder::new()),
            ColumnType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::new()),
        }
    }

    /// Appends `value` (`None` for missing or null); a value that does not fit appends null and
    /// says why.
    fn append(&mut self, value: Option<&Value>) -> Result<(), String> {
        let Some(value) = value else {
            self.append_null();
            return Ok(());
        };
        let converted = match self {
            ColumnBuilder::Text(builder) => {
                match value {
                    Value::String(text) => builder.append_value(text),
                    other => builder.append_value(other.to_string()),
                }
                Ok(())
            }
            ColumnBuilder::Json(builder) => {
                builder.append_value(value.to_string());
                Ok(())
            }
            ColumnBuilder::Number(builder) => to_number(value).map(|number| builder.append_value(number)),
            ColumnBuilder::Integer(builder) => to_integer(value).map(|integer| builder.append_value(integer)),
            ColumnBuilder::Boolean(builder) => to_boolean(value).map(|flag| builder.append_value(flag)),
        };
        if converted.is_err() {
            self.append_null();
        }
        converted
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Text(builder) | ColumnBuilder::Json(builder) => builder.append_null(),
            ColumnBuilder::Number(builder) => builder.append_null(),
            ColumnBuilder::Integer(builder) => builder.append_null(),
            ColumnBuilder::Boolean(builder) => builder.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Text(mut builder) | ColumnBuilder::Json(mut builder) => Arc::new(builder.finish()),
            ColumnBuilder::Number(mut builder) => Arc::new(builder.finish()),
            ColumnBuilder::Integer(mut builder) => Arc::new(builder.finish()),
            ColumnBuilder::Boolean(mut builder) => Arc::new(builder.finish()),
        }
    }
}

fn to_number(value: &Value) -> Result<f64, String> {
    let number = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    };
    number.ok_or_else(|| format!("expected a number, got {}", describe(value)))
}

fn to_integer(value: &Value) -> Result<i64, String> {
    // 2^63: the first f64 beyond i64's range; every f64 below it with no fraction fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let integer = match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|n| n.fract() == 0.0 && (-LIMIT..LIMIT).contains(n))
                .map(|n| n as i64)
        }),
        Value::String(text) => text.trim().parse::<i64>().ok(),
        _ => None,
    };
    integer.ok_or_else(|| format!("expected an integer, got {}", describe(value)))
}

fn to_boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) if text == "true" => Ok(true),
        Value::String(text) if text == "false" => Ok(false),
        other => Err(format!("expected true or false, got {}", describe(other))),
    }
}
