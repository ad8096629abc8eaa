//! Reading JSON lines: the six types, batches, stdin, and every way a line can be wrong.

use std::io::{BufRead, Cursor, Read};

use dotsync_source_events::{EventPath, EventReader, EventSourceConfig, EventType, ReadError, open_path};
use serde_json::json;

use crate::common::{events, first_error, read_all};

const SIX_TYPES: &str = r#"{"type":"track","event":"Order Completed","userId":"u1","properties":{"total":5}}
{"type":"identify","userId":"u1","traits":{"email":"a@example.com","first_name":"Ada"}}
{"type":"page","name":"Pricing","anonymousId":"anon-1"}
{"type":"screen","name":"Home","userId":"u1"}
{"type":"group","groupId":"g1","userId":"u1","traits":{"plan":"pro"}}
{"type":"alias","previousId":"anon-1","userId":"u1"}
"#;

#[test]
fn reads_all_six_types_with_their_lines() {
    let all = events(SIX_TYPES);
    let types: Vec<EventType> = all.iter().map(|e| e.event_type()).collect();
    assert_eq!(types, EventType::ALL);
    let lines: Vec<u64> = all.iter().map(|e| e.line()).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5, 6]);
    assert_eq!(all[0].as_json()["properties"]["total"], json!(5));
    assert_eq!(all[5].as_json()["previousId"], json!("anon-1"));
}

#[test]
fn nested_context_is_reachable_by_path() {
    let line = r#"{"type":"track","event":"X","userId":"u","context":{"traits":{"first_name":"Ada","tags":["a","b"]},"page":{"url":"https://example.com"}}}"#;
    let event = &events(line)[0];
    let first_name = EventPath::parse("context.traits.first_name").unwrap();
    assert_eq!(event.get(&first_name), Some(&json!("Ada")));
    let second_tag = EventPath::parse("context.traits.tags.1").unwrap();
    assert_eq!(event.get(&second_tag), Some(&json!("b")));
    let missing = EventPath::parse("context.traits.last_name").unwrap();
    assert_eq!(event.get(&missing), None);
    let through_a_string = EventPath::parse("context.page.url.host").unwrap();
    assert_eq!(event.get(&through_a_string), None);
}

#[test]
fn reads_standard_input_as_any_bufread() {
    let reader = EventReader::new(Cursor::new(SIX_TYPES), "stdin", 4).unwrap();
    assert_eq!(reader.name(), "stdin");
    let sizes: Vec<usize> = reader.map(|batch| batch.unwrap().len()).collect();
    assert_eq!(sizes, [4, 2]);
    let bad = EventReader::new(Cursor::new("{\"type\":\"trak\"}\n"), "stdin", 4).unwrap();
    let errors: Vec<String> = bad.map(|batch| batch.unwrap_err().to_string()).collect();
    assert_eq!(
        errors,
        [r#"stdin:1: expected "type" to be one of track, identify, page, screen, group, alias, got "trak""#]
    );
}

fn numbered(count: usize) -> String {
    (1..=count)
        .map(|i| format!("{{\"type\":\"track\",\"event\":\"E{i}\",\"userId\":\"u{i}\"}}\n"))
        .collect()
}

#[test]
fn batches_hold_at_most_batch_size_events_in_order() {
    for (count, batch_size, expected) in [
        (10, 3, vec![3, 3, 3, 1]),
        (9, 3, vec![3, 3, 3]),
        (1, 1, vec![1]),
        (2, 5, vec![2]),
        (5, 1, vec![1, 1, 1, 1, 1]),
    ] {
        let batches: Vec<_> = read_all(&numbered(count), batch_size)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, expected, "{count} events in batches of {batch_size}");
        let lines: Vec<u64> = batches.iter().flatten().map(|e| e.line()).collect();
        assert_eq!(lines, (1..=count as u64).collect::<Vec<_>>());
    }
}

/// A reader that counts how many bytes were asked of it, to show batches are read lazily.
struct Counting<R> {
    inner: R,
    consumed: std::rc::Rc<std::cell::Cell<usize>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        self.consumed.set(self.consumed.get() + amount);
        self.inner.consume(amount);
    }
}

#[test]
fn the_input_is_read_one_batch_at_a_time() {
    let text = numbered(100);
    let consumed = std::rc::Rc::new(std::cell::Cell::new(0));
    let input = Counting {
        inner: Cursor::new(text.clone()),
        consumed: consumed.clone(),
    };
    let mut reader = EventReader::new(input, "events.jsonl", 10).unwrap();
    let first = reader.next().unwrap().unwrap();
    assert_eq!(first.len(), 10);
    let first_ten_lines: usize = text.lines().take(10).map(|l| l.len() + 1).sum();
    assert_eq!(consumed.get(), first_ten_lines);
}

#[test]
fn blank_lines_are_skipped_but_counted_and_crlf_and_bom_are_fine() {
    let text =
        "\u{feff}{\"type\":\"page\",\"userId\":\"u\"}\r\n\r\n   \n\t\n{\"type\":\"screen\",\"userId\":\"u\"}\r\n\n";
    let all = events(text);
    assert_eq!(all.iter().map(|e| e.line()).collect::<Vec<_>>(), [1, 5]);
    let bad = "{\"type\":\"page\",\"userId\":\"u\"}\n\n\n{\"type\":\"pag\",\"userId\":\"u\"}\n";
    assert!(first_error(bad).starts_with("events.jsonl:4: "), "{}", first_error(bad));
}

#[test]
fn an_empty_input_yields_no_batch_and_no_error() {
    assert!(read_all("", 10).is_empty());
    assert!(read_all("\n\n  \n", 10).is_empty());
}

#[test]
fn a_malformed_line_ends_the_stream_after_the_events_before_it() {
    let mut text = numbered(4);
    text.push_str("{\"type\":\"track\",\n");
    text.push_str(&numbered(3));
    let items = read_all(&text, 3);
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap().len(), 3);
    assert_eq!(
        items[1].as_ref().unwrap().len(),
        1,
        "the short batch before the bad line"
    );
    let error = items[2].as_ref().unwrap_err();
    assert_eq!(error.line(), Some(5));
    assert_eq!(
        error.to_string(),
        "events.jsonl:5: invalid JSON at column 16: EOF while parsing a value"
    );
}

#[test]
fn the_error_comes_alone_when_it_starts_a_batch() {
    let mut text = numbered(3);
    text.push_str("nope\n");
    let items = read_all(&text, 3);
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert_eq!(
        items[1].as_ref().unwrap_err().to_string(),
        "events.jsonl:4: invalid JSON at column 2: expected ident"
    );
}

#[test]
fn every_kind_of_bad_line_is_named_with_its_line() {
    let cases = [
        (r#"[1,2]"#, "expected a JSON object, got an array"),
        (r#""track""#, r#"expected a JSON object, got "track""#),
        (
            r#"{"userId":"u"}"#,
            r#"missing "type"; expected one of track, identify, page, screen, group, alias"#,
        ),
        (
            r#"{"type":null,"userId":"u"}"#,
            r#"missing "type"; expected one of track, identify, page, screen, group, alias"#,
        ),
        (
            r#"{"type":"trak","userId":"u"}"#,
            r#"expected "type" to be one of track, identify, page, screen, group, alias, got "trak""#,
        ),
        (
            r#"{"type":"Track","userId":"u","event":"x"}"#,
            r#"expected "type" to be one of track, identify, page, screen, group, alias, got "Track""#,
        ),
        (
            r#"{"type":7,"userId":"u"}"#,
            r#"expected "type" to be one of track, identify, page, screen, group, alias, got 7"#,
        ),
        (
            r#"{"type":"track","event":"x"}"#,
            r#"missing "userId" and "anonymousId"; every event needs at least one of them"#,
        ),
        (
            r#"{"type":"track","userId":"u"}"#,
            r#"a track event needs "event", the name of the action, e.g. "Order Completed""#,
        ),
        (
            r#"{"type":"alias","userId":"u"}"#,
            r#"an alias event needs "previousId", the id the user had before"#,
        ),
        (
            r#"{"type":"group","userId":"u"}"#,
            r#"a group event needs "groupId", the id of the account"#,
        ),
        (
            r#"{"type":"identify","userId":42}"#,
            r#"expected "userId" to be a string, got 42"#,
        ),
        (
            r#"{"type":"track","event":"x","userId":"u","properties":"email=a"}"#,
            r#"expected "properties" to be an object, got "email=a""#,
        ),
        (
            r#"{"type":"identify","userId":"u","traits":[1]}"#,
            r#"expected "traits" to be an object, got an array"#,
        ),
        (
            r#"{"type":"page","userId":"u","context":true}"#,
            r#"expected "context" to be an object, got true"#,
        ),
        (
            r#"{"type":"track","event":{"n":1},"userId":"u"}"#,
            r#"expected "event" to be a string, got an object"#,
        ),
    ];
    for (line, message) in cases {
        let text = format!("{{\"type\":\"page\",\"userId\":\"u\"}}\n\n{line}\n");
        assert_eq!(first_error(&text), format!("events.jsonl:3: {message}"), "{line}");
    }
}

#[test]
fn nulls_in_optional_fields_are_accepted() {
    let all = events(r#"{"type":"identify","userId":"u","anonymousId":null,"traits":null,"context":null}"#);
    assert_eq!(all.len(), 1);
}

#[test]
fn invalid_utf8_is_an_error_naming_the_line() {
    let mut bytes = b"{\"type\":\"page\",\"userId\":\"u\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"type\":\"page\",\"userId\":\"\xff\"}\n");
    let items: Vec<_> = EventReader::new(Cursor::new(bytes), "x.jsonl", 10).unwrap().collect();
    assert_eq!(
        items[1].as_ref().unwrap_err().to_string(),
        "x.jsonl:2: the line is not valid UTF-8"
    );
}

struct FailingAfter {
    inner: Cursor<&'static str>,
}

impl Read for FailingAfter {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        unreachable!("only read through BufRead")
    }
}

impl BufRead for FailingAfter {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let rest = self.inner.fill_buf()?;
        if rest.is_empty() {
            return Err(std::io::Error::other("disk on fire"));
        }
        Ok(rest)
    }
    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
    }
}

#[test]
fn an_io_error_names_the_line_being_read() {
    let input = FailingAfter {
        inner: Cursor::new("{\"type\":\"page\",\"userId\":\"u\"}\n"),
    };
    let items: Vec<_> = EventReader::new(input, "pipe", 10).unwrap().collect();
    assert_eq!(items.len(), 2);
    let error = items[1].as_ref().unwrap_err();
    assert!(matches!(error, ReadError::Io { line: 2, .. }), "{error:?}");
    assert_eq!(error.to_string(), "pipe:2: cannot read: disk on fire");
}

#[test]
fn a_zero_batch_size_is_refused() {
    let error = EventReader::new(Cursor::new(""), "stdin", 0).err().unwrap();
    assert_eq!(error.to_string(), "stdin: batch_size must be at least 1");
}

#[test]
fn files_are_opened_by_path_and_by_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.jsonl"), SIX_TYPES).unwrap();
    let from_path: usize = open_path(&dir.path().join("events.jsonl"), 2)
        .unwrap()
        .map(|batch| batch.unwrap().len())
        .sum();
    assert_eq!(from_path, 6);

    let config = EventSourceConfig::new("events.jsonl");
    assert!(!config.reads_stdin());
    let reader = config.open(dir.path()).unwrap();
    assert_eq!(reader.name(), dir.path().join("events.jsonl").display().to_string());
    assert_eq!(reader.map(|batch| batch.unwrap().len()).sum::<usize>(), 6);

    let missing = EventSourceConfig::new("nope.jsonl").open(dir.path()).err().unwrap();
    assert!(matches!(missing, ReadError::Open { .. }), "{missing:?}");
    let expected = format!("{}: cannot open the file: ", dir.path().join("nope.jsonl").display());
    assert!(missing.to_string().starts_with(&expected), "{missing}");
    assert_eq!(missing.line(), None);
}

#[test]
fn the_example_file_reads_and_covers_the_seven_dotdigital_actions() {
    use dotsync_source_events::{Trigger, audience_changes, default_trigger};

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/events/events.jsonl");
    let all: Vec<_> = open_path(&path, 5).unwrap().flat_map(Result::unwrap).collect();
    assert_eq!(all.len(), 19);
    for action in [
        "Enrol Contact to Program",
        "Add Contact to List",
        "Remove Contact from List",
        "Send Email Campaign",
        "Send Transactional Email",
        "Send SMS",
        "Send Transactional SMS",
    ] {
        let trigger = Trigger::parse(&default_trigger(action)).unwrap();
        assert!(all.iter().any(|e| trigger.matches(e)), "{action}");
    }
    let engage = Trigger::parse(r#"context.personas.computation_class = "audience""#).unwrap();
    let changes: Vec<_> = all
        .iter()
        .filter(|e| engage.matches(e))
        .flat_map(|e| audience_changes(e).unwrap())
        .map(|c| (c.audience, c.member, c.line))
        .collect();
    assert_eq!(
        changes,
        [
            ("cart_abandoners".to_string(), true, 16),
            ("cart_abandoners".to_string(), true, 17),
            ("cart_abandoners".to_string(), false, 18),
            ("cart_abandoners".to_string(), true, 19)
        ]
    );
}
