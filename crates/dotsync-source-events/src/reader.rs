//! Streams events from JSON lines, one batch at a time.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use crate::error::ReadError;
use crate::event::Event;

/// The name [`stdin`] gives its input in error messages.
pub const STDIN_NAME: &str = "stdin";

/// Reads events from JSON lines: an iterator of batches of at most `batch_size` events, never
/// empty, in input order. Only one batch (and the current line) is held in memory.
///
/// Blank lines (only whitespace) are skipped but counted, so line numbers are those an editor
/// shows. The first error ends the stream: every event before the bad line is yielded (the
/// batch being filled comes out short), then the error, then nothing more.
pub struct EventReader<R> {
    input: R,
    name: String,
    batch_size: usize,
    line: u64,
    buffer: Vec<u8>,
    /// The error met while filling the batch just yielded; it comes next.
    pending_error: Option<ReadError>,
    finished: bool,
}

impl<R: BufRead> EventReader<R> {
    /// Reads from `input`; `name` (a path, or `stdin`) starts every error message.
    pub fn new(input: R, name: impl Into<String>, batch_size: usize) -> Result<EventReader<R>, ReadError> {
        let name = name.into();
        if batch_size == 0 {
            return Err(ReadError::ZeroBatchSize { input: name });
        }
        Ok(EventReader {
            input,
            name,
            batch_size,
            line: 0,
            buffer: Vec::new(),
            pending_error: None,
            finished: false,
        })
    }

    /// The name of the input, as errors show it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next event, `None` at the end of the input.
    fn next_event(&mut self) -> Result<Option<Event>, ReadError> {
        loop {
            self.buffer.clear();
            self.line += 1;
            let read = self
                .input
                .read_until(b'\n', &mut self.buffer)
                .map_err(|source| ReadError::Io {
                    input: self.name.clone(),
                    line: self.line,
                    source,
                })?;
            if read == 0 {
                return Ok(None);
            }
            let mut bytes = self.buffer.as_slice();
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            let text =
                std::str::from_utf8(bytes).map_err(|_| self.invalid("the line is not valid UTF-8".to_string()))?;
            // Without its line break, so serde_json's columns (and EOF) refer to this line.
            let text = text.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(text).map_err(|error| self.invalid(json_message(&error)))?;
            return Event::from_json(value, self.line)
                .map(Some)
                .map_err(|message| self.invalid(message));
        }
    }

    fn invalid(&self, message: String) -> ReadError {
        ReadError::InvalidEvent {
            input: self.name.clone(),
            line: self.line,
            message,
        }
    }
}

impl<R: BufRead + Send + 'static> EventReader<R> {
    /// The same reader behind a boxed input, so files and standard input share one type.
    pub fn boxed(self) -> EventReader<Box<dyn BufRead + Send>> {
        EventReader {
            input: Box::new(self.input),
            name: self.name,
            batch_size: self.batch_size,
            line: self.line,
            buffer: self.buffer,
            pending_error: self.pending_error,
            finished: self.finished,
        }
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = Result<Vec<Event>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.pending_error.take() {
            return Some(Err(error));
        }
        if self.finished {
            return None;
        }
        let mut batch = Vec::with_capacity(self.batch_size.min(1024));
        while batch.len() < self.batch_size {
            match self.next_event() {
                Ok(Some(event)) => batch.push(event),
                Ok(None) => {
                    self.finished = true;
                    break;
                }
                Err(error) => {
                    self.finished = true;
                    if batch.is_empty() {
                        return Some(Err(error));
                    }
                    self.pending_error = Some(error);
                    break;
                }
            }
        }
        if batch.is_empty() { None } else { Some(Ok(batch)) }
    }
}

/// Opens a JSON lines file; errors name it as `path` displays.
pub fn open_path(path: &Path, batch_size: usize) -> Result<EventReader<BufReader<File>>, ReadError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| ReadError::Open {
        input: name.clone(),
        source,
    })?;
    EventReader::new(BufReader::new(file), name, batch_size)
}

/// Reads standard input; errors name it `stdin`.
pub fn stdin(batch_size: usize) -> Result<EventReader<BufReader<std::io::Stdin>>, ReadError> {
    EventReader::new(BufReader::new(std::io::stdin()), STDIN_NAME, batch_size)
}

/// serde_json's message without its "at line 1 column N" (every line is parsed on its own, so
/// its line would always be 1), with the column put first.
fn json_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let reason = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(reason, _)| reason);
    format!("invalid JSON at column {}: {reason}", error.column())
}
