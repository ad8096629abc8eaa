//! Helpers shared by the test modules.

use std::io::Cursor;

use dotsync_source_events::{Event, EventReader, ReadError, Trigger};

/// Every item the reader yields for `text`, read in batches of `batch_size`.
pub fn read_all(text: &str, batch_size: usize) -> Vec<Result<Vec<Event>, ReadError>> {
    EventReader::new(Cursor::new(text.as_bytes().to_vec()), "events.jsonl", batch_size)
        .unwrap()
        .collect()
}

/// The events of `text`, which must all be valid.
pub fn events(text: &str) -> Vec<Event> {
    read_all(text, 1000)
        .into_iter()
        .flat_map(|batch| batch.unwrap())
        .collect()
}

/// The one event of the JSON line `json`.
pub fn event(json: &str) -> Event {
    let mut all = events(json);
    assert_eq!(all.len(), 1, "{json}");
    all.remove(0)
}

/// Whether `trigger` matches the event `json`.
pub fn matches(trigger: &str, json: &str) -> bool {
    Trigger::parse(trigger).unwrap().matches(&event(json))
}

/// The error message of the first error the reader yields for `text`.
pub fn first_error(text: &str) -> String {
    read_all(text, 10)
        .into_iter()
        .find_map(Result::err)
        .expect("an error")
        .to_string()
}
