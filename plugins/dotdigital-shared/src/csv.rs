//! The small CSV dialect the v2 API speaks (dotdigital-api.md §5, §8): comma-separated, fields
//! quoted with `"` when they hold a comma, quote or line break, quotes doubled inside. v2 bulk
//! list imports take such a file (base64 in JSON); import and enrolment fault reports answer one.

/// Parses CSV text into records of fields. A trailing line break does not make an empty record;
/// `\r\n` and `\n` both end records. Never fails: an unterminated quote runs to the end.
pub fn parse(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(ch) = chars.next() {
        any = true;
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                other => field.push(other),
            }
            continue;
        }
        match ch {
            '"' => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                any = false;
            }
            other => field.push(other),
        }
    }
    if any {
        record.push(field);
        records.push(record);
    }
    records
}

/// Appends one field, quoted when it needs to be.
pub fn write_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// The index of the column named `name` (without regard to case) in a header record.
pub fn column_index(header: &[String], name: &str) -> Option<usize> {
    header
        .iter()
        .position(|column| column.trim().eq_ignore_ascii_case(name))
}

/// The outcome code of a reason from a fault report: the reason itself when it is one word
/// (e.g. `InvalidEmail`), else `fallback`.
pub fn reason_code<'a>(reason: &'a str, fallback: &'a str) -> &'a str {
    if !reason.is_empty() && reason.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
        reason
    } else {
        fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_quotes_commas_and_line_breaks() {
        let fields = ["plain", "with, comma", "say \"hi\"", "two\nlines", ""];
        let mut line = String::new();
        for (index, field) in fields.iter().enumerate() {
            if index > 0 {
                line.push(',');
            }
            write_field(&mut line, field);
        }
        line.push_str("\r\nnext,row\n");
        let records = parse(&line);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0], fields.map(str::to_owned).to_vec());
        assert_eq!(records[1], vec!["next".to_owned(), "row".to_owned()]);
    }

    #[test]
    fn header_lookup_ignores_case() {
        let header = parse("ContactId,Reason\n").remove(0);
        assert_eq!(column_index(&header, "reason"), Some(1));
        assert_eq!(column_index(&header, "email"), None);
        assert!(parse("").is_empty());
        assert_eq!(reason_code("InvalidEmail", "Fault"), "InvalidEmail");
        assert_eq!(reason_code("Contact is suppressed", "Fault"), "Fault");
    }
}
