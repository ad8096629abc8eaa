//! Every parse error with its position, the caret rendering, and a parser that never panics.

use dotsync_source_events::{EventPath, Trigger, TriggerError};
use proptest::prelude::*;

use crate::common::event;

fn error(source: &str) -> String {
    Trigger::parse(source).unwrap_err().to_string()
}

#[test]
fn every_parse_error_names_its_position() {
    let cases: &[(&str, &str)] = &[
        (
            r#"type = "track" and event ="#,
            r#"1:27: expected a value after "=", found end of input"#,
        ),
        (
            "",
            "1:1: expected a comparison such as properties.email exists, found end of input",
        ),
        (
            "   ",
            "1:4: expected a comparison such as properties.email exists, found end of input",
        ),
        (
            r#"type = "track" and"#,
            "1:19: expected a comparison such as properties.email exists, found end of input",
        ),
        (
            r#"type == "track""#,
            r#"1:6: "==" is not an operator; write "=" to compare"#,
        ),
        (
            "type = 'track'",
            r#"1:8: strings are written in double quotes, e.g. "Order Completed""#,
        ),
        (
            r#"type = "track"#,
            r#"1:8: this string is not closed: add the closing ""#,
        ),
        (
            r#"event = "a\qb""#,
            r#"1:11: unknown escape "\q"; the escapes are \" \\ \/ \n \t \r and \uXXXX"#,
        ),
        (
            r#"a = "\u12""#,
            r#"1:6: expected \u to be followed by 4 hex digits naming a character, e.g. \u00e9"#,
        ),
        (
            r#"a = "\ud800""#,
            r#"1:6: expected \u to be followed by 4 hex digits naming a character, e.g. \u00e9"#,
        ),
        (r#"a = "x\"#, "1:7: a backslash at the end of the input escapes nothing"),
        (
            "properties.total = 1.2.3",
            r#"1:20: invalid number "1.2.3"; write numbers like 5, -2.5 or 1e3"#,
        ),
        (
            "a = 1e999",
            r#"1:5: invalid number "1e999"; write numbers like 5, -2.5 or 1e3"#,
        ),
        ("a = -", r#"1:5: invalid number "-"; write numbers like 5, -2.5 or 1e3"#),
        (
            "a = 007",
            r#"1:5: invalid number "007"; write numbers like 5, -2.5 or 1e3"#,
        ),
        (
            r#"(type = "track""#,
            r#"1:16: expected ")" to close the "(" at column 1, found end of input"#,
        ),
        (
            r#"a = 1 and (b = 2 c = 3)"#,
            r#"1:18: expected ")" to close the "(" at column 11, found the path c"#,
        ),
        (r#"type = "track")"#, r#"1:15: this ")" closes no "(""#),
        (
            r#"type = "track" event = "x""#,
            r#"1:16: expected "and", "or" or the end of the trigger, found the path event"#,
        ),
        (
            r#"type = "track" AND event = "x""#,
            r#"1:16: expected "and", "or" or the end of the trigger, found AND (keywords are lowercase: write "and")"#,
        ),
        (
            r#""track" = type"#,
            r#"1:1: expected a path such as properties.email, found the string "track"; write the path first, e.g. event = "Order Completed""#,
        ),
        (
            "5 = a",
            r#"1:1: expected a path such as properties.email, found the number 5; write the path first, e.g. event = "Order Completed""#,
        ),
        (
            "properties.email",
            "1:17: expected =, !=, contains or exists after properties.email, found end of input",
        ),
        (
            "properties.email EXISTS",
            r#"1:18: expected =, !=, contains or exists after properties.email, found EXISTS (keywords are lowercase: write "exists")"#,
        ),
        ("a = = 1", r#"1:5: expected a value after "=", found "=""#),
        (
            "event = Signup",
            r#"1:9: expected a value after "=", found the path Signup; values are "quoted strings", numbers, true, false or null (paths compare only with values)"#,
        ),
        (
            "a contains",
            r#"1:11: expected a value after "contains", found end of input"#,
        ),
        ("a != ", r#"1:6: expected a value after "!=", found end of input"#),
        (
            "not",
            "1:4: expected a comparison such as properties.email exists, found end of input",
        ),
        (
            "a = 1 and (b = 2 or)",
            r#"1:20: expected a comparison such as properties.email exists, found ")""#,
        ),
        (
            "and a = 1",
            r#"1:1: expected a comparison such as properties.email exists, found "and""#,
        ),
        (
            "properties. = 1",
            r#"1:12: expected a name after "." (letters, digits, _, $, -; or a name in backticks)"#,
        ),
        ("properties.`x = 1", "1:12: this name is not closed: add the closing `"),
        ("a.`` = 1", "1:3: empty name between backticks"),
        ("a = 1 # comment", "1:7: unexpected character '#'"),
        ("a && b", r#"1:3: unexpected "&"; write "and""#),
        ("a = 1 || b = 2", r#"1:7: unexpected "|"; write "or""#),
        ("!a", r#"1:1: unexpected "!"; write "not" to negate or "!=" to compare"#),
        // Columns count characters, not bytes.
        (
            r#"événement = "é" x"#,
            r#"1:17: expected "and", "or" or the end of the trigger, found the path x"#,
        ),
        // Lines count from 1; the column restarts on each line.
        (
            "type = \"track\"\nand event =",
            r#"2:12: expected a value after "=", found end of input"#,
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(error(source), format!("trigger:{expected}"), "{source:?}");
    }
}

#[test]
fn nesting_is_bounded() {
    let deep_ok = format!("{}a exists{}", "(".repeat(64), ")".repeat(64));
    assert!(Trigger::parse(&deep_ok).is_ok());
    let too_deep = format!("{}a exists{}", "(".repeat(65), ")".repeat(65));
    assert_eq!(
        error(&too_deep),
        r#"trigger:1:65: the trigger nests deeper than 64 levels of parentheses and "not""#
    );
    let nots = format!("{}a exists", "not ".repeat(65));
    assert_eq!(
        error(&nots),
        r#"trigger:1:257: the trigger nests deeper than 64 levels of parentheses and "not""#
    );
    let huge = format!("{}a exists", "(".repeat(100_000));
    assert!(Trigger::parse(&huge).is_err());
}

#[test]
fn long_chains_do_not_nest() {
    let chain = vec!["properties.x = 1"; 20_000].join(" or ");
    let trigger = Trigger::parse(&format!("{chain} or type = \"track\"")).unwrap();
    assert!(trigger.matches(&event(r#"{"type":"track","event":"e","userId":"u"}"#)));
}

#[test]
fn render_puts_a_caret_under_the_position() {
    let source = r#"type = "track" and event ="#;
    let rendered = Trigger::parse(source).unwrap_err().render(source);
    let expected = format!(
        "trigger:1:27: expected a value after \"=\", found end of input\n  {source}\n  {}^",
        " ".repeat(26)
    );
    assert_eq!(rendered, expected);

    let two_lines = "type = \"track\"\n\tand evnt == \"x\"";
    let rendered = Trigger::parse(two_lines).unwrap_err().render(two_lines);
    assert_eq!(
        rendered,
        "trigger:2:11: \"==\" is not an operator; write \"=\" to compare\n   and evnt == \"x\"\n            ^"
    );
}

#[test]
fn render_tolerates_a_hand_made_error() {
    let error = TriggerError {
        line: 0,
        column: 0,
        message: "odd".to_string(),
    };
    assert_eq!(error.render(""), "trigger:0:0: odd\n  \n  ^");
}

#[test]
fn paths_parse_alone() {
    assert_eq!(
        EventPath::parse("properties.email").unwrap().as_str(),
        "properties.email"
    );
    let cases = [
        (
            "",
            "trigger:1:1: expected a path such as properties.email, found nothing",
        ),
        (
            "\"x\"",
            "trigger:1:1: expected a path such as properties.email, found the string \"x\"",
        ),
        (
            "properties.Order ID",
            "trigger:1:18: expected the path to end, found the path ID; quote a name that holds spaces with backticks, e.g. properties.`Order ID`",
        ),
        (
            "and",
            "trigger:1:1: expected a path such as properties.email, found \"and\"",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(EventPath::parse(text).unwrap_err().to_string(), expected, "{text:?}");
    }
}

/// Pieces of the language, so generated triggers reach deep into the parser, not just the
/// lexer's first character.
fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "type",
        "properties.email",
        "a.`b c`",
        "a.0",
        "=",
        "!=",
        "==",
        "contains",
        "exists",
        "and",
        "or",
        "not",
        "(",
        ")",
        "\"x\"",
        "\"\\u00e9\"",
        "\"\\",
        "5",
        "-2.5e3",
        "1.2.3",
        "true",
        "false",
        "null",
        " ",
        "\n",
        ".",
        "`",
        "é",
        "!",
        "&",
        "'",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_parser_never_panics_on_arbitrary_text(source in any::<String>()) {
        if let Err(error) = Trigger::parse(&source) {
            let _ = error.render(&source);
        }
        let _ = EventPath::parse(&source);
    }

    #[test]
    fn the_parser_never_panics_on_token_soup(tokens in prop::collection::vec(token(), 0..24)) {
        let source: String = tokens.concat();
        let spaced = tokens.join(" ");
        let event = event(r#"{"type":"track","event":"x","userId":"u","properties":{"email":"a@b.c"}}"#);
        for text in [source, spaced] {
            match Trigger::parse(&text) {
                Ok(trigger) => {
                    let _ = trigger.matches(&event);
                }
                Err(error) => {
                    let chars = text.chars().count();
                    let lines = text.split('\n').count();
                    prop_assert!(error.line >= 1 && error.line <= lines, "{error} for {text:?}");
                    prop_assert!(error.column >= 1 && error.column <= chars + 1, "{error} for {text:?}");
                    let _ = error.render(&text);
                }
            }
        }
    }
}
