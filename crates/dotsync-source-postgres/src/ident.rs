//! SQL identifier quoting and parsing of (optionally schema-qualified) table names.

use crate::PostgresError;

/// Quotes an identifier exactly as given: `a"b` → `"a""b"`.
pub(crate) fn quote(name: &str) -> Result<String, PostgresError> {
    if name.contains('\0') {
        return Err(PostgresError::Config(format!(
            "identifier {name:?} contains a NUL character"
        )));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// For messages: the name as one would type it in SQL (quoted only when needed).
pub(crate) fn quote_if_needed(name: &str) -> String {
    let simple = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if simple {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Parses `table`, `schema.table`, `"My Schema"."My.Table"` with SQL's rules (unquoted parts
/// fold to lower case, `""` inside quotes is a quote) and returns the safely quoted form.
pub(crate) fn qualified_table(name: &str) -> Result<String, PostgresError> {
    let bad = |why: &str| PostgresError::Config(format!("invalid table name {name:?}: {why}"));
    let mut parts: Vec<String> = Vec::new();
    let mut chars = name.trim().chars().peekable();
    loop {
        let mut part = String::new();
        match chars.peek() {
            Some('"') => {
                chars.next();
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            part.push('"');
                        }
                        Some('"') => break,
                        Some(c) => part.push(c),
                        None => return Err(bad("unterminated quoted identifier")),
                    }
                }
                if part.is_empty() {
                    return Err(bad("empty quoted identifier"));
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    if c == '"' || c.is_whitespace() {
                        return Err(bad("unexpected character; quote identifiers with spaces or quotes"));
                    }
                    part.push(c.to_ascii_lowercase());
                    chars.next();
                }
                if part.is_empty() {
                    return Err(bad("empty name part"));
                }
            }
        }
        parts.push(quote(&part)?);
        match chars.next() {
            None => break,
            Some('.') => continue,
            Some(_) => return Err(bad("expected `.` or the end after a quoted identifier")),
        }
    }
    if parts.len() > 2 {
        return Err(bad("use `table` or `schema.table`"));
    }
    Ok(parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b").unwrap(), "\"a\"\"b\"");
        assert!(quote("a\0").is_err());
        assert_eq!(quote_if_needed("abc_1"), "abc_1");
        assert_eq!(quote_if_needed("Abc"), "\"Abc\"");
    }

    #[test]
    fn tables() {
        assert_eq!(qualified_table("Outcomes").unwrap(), "\"outcomes\"");
        assert_eq!(
            qualified_table("crm.sync_outcomes").unwrap(),
            "\"crm\".\"sync_outcomes\""
        );
        assert_eq!(
            qualified_table("\"My Schema\".\"a.\"\"b\"").unwrap(),
            "\"My Schema\".\"a.\"\"b\""
        );
        assert!(qualified_table("a b").is_err());
        assert!(qualified_table("a.b.c").is_err());
        assert!(qualified_table("").is_err());
        assert!(qualified_table("x; DROP TABLE y").is_err());
        assert!(qualified_table("\"open").is_err());
    }
}
