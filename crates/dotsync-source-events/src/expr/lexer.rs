//! Splits a trigger into tokens. Positions are 0-based character offsets, so error columns
//! match what the user sees, whatever the characters' UTF-8 lengths.

use serde_json::Number;

use crate::error::TriggerError;
use crate::event::EventPath;

/// The words that are not paths. A path that is one of them must be quoted with backticks.
pub(crate) const KEYWORDS: [&str; 8] = ["and", "or", "not", "contains", "exists", "true", "false", "null"];

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Path(EventPath),
    Str(String),
    Number(Number),
    True,
    False,
    Null,
    And,
    Or,
    Not,
    Contains,
    Exists,
    Eq,
    NotEq,
    LParen,
    RParen,
}

impl TokenKind {
    /// How an error message names the token after "found".
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenKind::Path(path) => {
                let lower = path.as_str().to_ascii_lowercase();
                if KEYWORDS.contains(&lower.as_str()) {
                    format!("{} (keywords are lowercase: write \"{lower}\")", path.as_str())
                } else {
                    format!("the path {path}")
                }
            }
            TokenKind::Str(text) => format!("the string {text:?}"),
            TokenKind::Number(number) => format!("the number {number}"),
            TokenKind::True => "\"true\"".to_string(),
            TokenKind::False => "\"false\"".to_string(),
            TokenKind::Null => "\"null\"".to_string(),
            TokenKind::And => "\"and\"".to_string(),
            TokenKind::Or => "\"or\"".to_string(),
            TokenKind::Not => "\"not\"".to_string(),
            TokenKind::Contains => "\"contains\"".to_string(),
            TokenKind::Exists => "\"exists\"".to_string(),
            TokenKind::Eq => "\"=\"".to_string(),
            TokenKind::NotEq => "\"!=\"".to_string(),
            TokenKind::LParen => "\"(\"".to_string(),
            TokenKind::RParen => "\")\"".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    /// Offset of the first character.
    pub(crate) start: usize,
}

/// The tokens of `source`, or the first character that cannot start or continue one.
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, TriggerError> {
    Lexer {
        source,
        chars: source.chars().collect(),
        at: 0,
    }
    .run()
}

struct Lexer<'a> {
    source: &'a str,
    chars: Vec<char>,
    at: usize,
}

impl Lexer<'_> {
    fn run(mut self) -> Result<Vec<Token>, TriggerError> {
        let mut tokens = Vec::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.at += 1;
                continue;
            }
            let start = self.at;
            let kind = match c {
                '(' => self.single(TokenKind::LParen),
                ')' => self.single(TokenKind::RParen),
                '=' if self.peek_at(1) == Some('=') => {
                    return Err(self.error(start, r#""==" is not an operator; write "=" to compare"#));
                }
                '=' => self.single(TokenKind::Eq),
                '!' if self.peek_at(1) == Some('=') => {
                    self.at += 2;
                    TokenKind::NotEq
                }
                '!' => return Err(self.error(start, r#"unexpected "!"; write "not" to negate or "!=" to compare"#)),
                '&' => return Err(self.error(start, r#"unexpected "&"; write "and""#)),
                '|' => return Err(self.error(start, r#"unexpected "|"; write "or""#)),
                '\'' => {
                    return Err(self.error(start, r#"strings are written in double quotes, e.g. "Order Completed""#));
                }
                '"' => TokenKind::Str(self.string()?),
                '-' | '0'..='9' => TokenKind::Number(self.number()?),
                '`' => self.path()?,
                c if is_name_start(c) => self.path()?,
                other => return Err(self.error(start, &format!("unexpected character {other:?}"))),
            };
            tokens.push(Token { kind, start });
        }
        Ok(tokens)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn single(&mut self, kind: TokenKind) -> TokenKind {
        self.at += 1;
        kind
    }

    fn error(&self, offset: usize, message: &str) -> TriggerError {
        TriggerError::at(self.source, offset, message.to_string())
    }

    /// A double-quoted string with JSON's escapes; `self.at` is on the opening quote.
    fn string(&mut self) -> Result<String, TriggerError> {
        let open = self.at;
        self.at += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(open, "this string is not closed: add the closing \""));
            };
            self.at += 1;
            match c {
                '"' => return Ok(text),
                '\\' => text.push(self.escape()?),
                c => text.push(c),
            }
        }
    }

    /// The character an escape stands for; `self.at` is just after the backslash.
    fn escape(&mut self) -> Result<char, TriggerError> {
        let backslash = self.at - 1;
        let Some(c) = self.peek() else {
            return Err(self.error(backslash, "a backslash at the end of the input escapes nothing"));
        };
        self.at += 1;
        let escaped = match c {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'u' => {
                let digits: String = self.chars.iter().skip(self.at).take(4).collect();
                let code = (digits.len() == 4)
                    .then(|| u32::from_str_radix(&digits, 16).ok())
                    .flatten()
                    .and_then(char::from_u32);
                let Some(character) = code else {
                    return Err(self.error(
                        backslash,
                        r#"expected \u to be followed by 4 hex digits naming a character, e.g. \u00e9"#,
                    ));
                };
                self.at += 4;
                character
            }
            other => {
                return Err(self.error(
                    backslash,
                    &format!(r#"unknown escape "\{other}"; the escapes are \" \\ \/ \n \t \r and \uXXXX"#),
                ));
            }
        };
        Ok(escaped)
    }

    /// A JSON number; `self.at` is on its first character (a digit or `-`).
    fn number(&mut self) -> Result<Number, TriggerError> {
        let start = self.at;
        self.at += 1;
        while let Some(c) = self.peek() {
            let sign_of_exponent = matches!(c, '+' | '-') && matches!(self.chars[self.at - 1], 'e' | 'E');
            if c.is_alphanumeric() || c == '.' || c == '_' || sign_of_exponent {
                self.at += 1;
            } else {
                break;
            }
        }
        let text: String = self.chars[start..self.at].iter().collect();
        serde_json::from_str::<Number>(&text).map_err(|_| {
            self.error(
                start,
                &format!("invalid number {text:?}; write numbers like 5, -2.5 or 1e3"),
            )
        })
    }

    /// A dotted path, or a keyword; `self.at` is on its first character.
    fn path(&mut self) -> Result<TokenKind, TriggerError> {
        let start = self.at;
        let mut segments = Vec::new();
        let mut quoted = false;
        loop {
            let segment_start = self.at;
            match self.peek() {
                Some('`') => {
                    quoted = true;
                    self.at += 1;
                    let name_start = self.at;
                    while self.peek().is_some_and(|c| c != '`') {
                        self.at += 1;
                    }
                    if self.peek().is_none() {
                        return Err(self.error(segment_start, "this name is not closed: add the closing `"));
                    }
                    let name: String = self.chars[name_start..self.at].iter().collect();
                    self.at += 1;
                    if name.is_empty() {
                        return Err(self.error(segment_start, "empty name between backticks"));
                    }
                    segments.push(name);
                }
                Some(c) if is_name_char(c) => {
                    while self.peek().is_some_and(is_name_char) {
                        self.at += 1;
                    }
                    segments.push(self.chars[segment_start..self.at].iter().collect());
                }
                _ => {
                    return Err(self.error(
                        segment_start,
                        r#"expected a name after "." (letters, digits, _, $, -; or a name in backticks)"#,
                    ));
                }
            }
            if self.peek() == Some('.') {
                self.at += 1;
            } else {
                break;
            }
        }
        let text: String = self.chars[start..self.at].iter().collect();
        if !quoted && segments.len() == 1 {
            let keyword = match text.as_str() {
                "and" => Some(TokenKind::And),
                "or" => Some(TokenKind::Or),
                "not" => Some(TokenKind::Not),
                "contains" => Some(TokenKind::Contains),
                "exists" => Some(TokenKind::Exists),
                "true" => Some(TokenKind::True),
                "false" => Some(TokenKind::False),
                "null" => Some(TokenKind::Null),
                _ => None,
            };
            if let Some(keyword) = keyword {
                return Ok(keyword);
            }
        }
        Ok(TokenKind::Path(EventPath::new(text, segments)))
    }
}

/// A path's first segment starts with a letter, `_` or `$` (a digit or `-` would read as a
/// number).
fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '$' | '-')
}
