//! Recursive descent over the tokens, one function per precedence level of the grammar in the
//! crate documentation.

use serde_json::Number;

use crate::error::TriggerError;
use crate::event::EventPath;
use crate::expr::lexer::{Token, TokenKind, tokenize};

/// How deep parentheses and `not` may nest. Evaluation and dropping recurse over the tree, so
/// without a bound a crafted trigger such as 100,000 `(` would overflow the stack.
pub(crate) const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// True when any operand is (`or`). Operands are kept flat so long chains never nest.
    Any(Vec<Expr>),
    /// True when every operand is (`and`).
    All(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        path: EventPath,
        op: CompareOp,
        value: Literal,
    },
    Exists(EventPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    NotEq,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Str(String),
    Number(Number),
    Bool(bool),
    Null,
}

pub(crate) fn parse(source: &str) -> Result<Expr, TriggerError> {
    let mut parser = Parser {
        source,
        tokens: tokenize(source)?,
        next: 0,
        end: source.chars().count(),
        depth: 0,
    };
    let expr = parser.or()?;
    match parser.tokens.get(parser.next) {
        None => Ok(expr),
        Some(Token {
            kind: TokenKind::RParen,
            start,
        }) => Err(parser.error(*start, "this \")\" closes no \"(\"")),
        Some(token) => Err(parser.error(
            token.start,
            &format!(
                r#"expected "and", "or" or the end of the trigger, found {}"#,
                token.kind.describe()
            ),
        )),
    }
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    next: usize,
    /// The offset of "end of input": one past the last character.
    end: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.next).map(|token| &token.kind)
    }

    /// Where the next token starts, or the end of the input.
    fn here(&self) -> usize {
        self.tokens.get(self.next).map_or(self.end, |token| token.start)
    }

    /// "found …" for the next token.
    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "end of input".to_string(), TokenKind::describe)
    }

    fn error(&self, offset: usize, message: &str) -> TriggerError {
        TriggerError::at(self.source, offset, message.to_string())
    }

    fn or(&mut self) -> Result<Expr, TriggerError> {
        let mut operands = vec![self.and()?];
        while self.peek() == Some(&TokenKind::Or) {
            self.next += 1;
            operands.push(self.and()?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            Expr::Any(operands)
        })
    }

    fn and(&mut self) -> Result<Expr, TriggerError> {
        let mut operands = vec![self.unary()?];
        while self.peek() == Some(&TokenKind::And) {
            self.next += 1;
            operands.push(self.unary()?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            Expr::All(operands)
        })
    }

    fn unary(&mut self) -> Result<Expr, TriggerError> {
        if self.peek() == Some(&TokenKind::Not) {
            let start = self.here();
            self.next += 1;
            self.enter(start)?;
            let operand = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(operand)));
        }
        self.primary()
    }

    fn enter(&mut self, start: usize) -> Result<(), TriggerError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                start,
                &format!("the trigger nests deeper than {MAX_DEPTH} levels of parentheses and \"not\""),
            ));
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<Expr, TriggerError> {
        let start = self.here();
        match self.peek() {
            Some(TokenKind::LParen) => {
                self.next += 1;
                self.enter(start)?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&TokenKind::RParen) {
                    let column = TriggerError::at(self.source, start, String::new()).column;
                    return Err(self.error(
                        self.here(),
                        &format!(r#"expected ")" to close the "(" at column {column}, found {}"#, self.found()),
                    ));
                }
                self.next += 1;
                Ok(inner)
            }
            Some(TokenKind::Path(path)) => {
                let path = path.clone();
                self.next += 1;
                self.comparison(path)
            }
            Some(TokenKind::Str(_) | TokenKind::Number(_) | TokenKind::True | TokenKind::False | TokenKind::Null) => {
                Err(self.error(
                    start,
                    &format!(
                        r#"expected a path such as properties.email, found {}; write the path first, e.g. event = "Order Completed""#,
                        self.found()
                    ),
                ))
            }
            _ => Err(self.error(
                start,
                &format!("expected a comparison such as properties.email exists, found {}", self.found()),
            )),
        }
    }

    /// The rest of `path = value`, `path != value`, `path contains value` or `path exists`,
    /// after the path.
    fn comparison(&mut self, path: EventPath) -> Result<Expr, TriggerError> {
        let op_start = self.here();
        let op = match self.peek() {
            Some(TokenKind::Exists) => {
                self.next += 1;
                return Ok(Expr::Exists(path));
            }
            Some(TokenKind::Eq) => CompareOp::Eq,
            Some(TokenKind::NotEq) => CompareOp::NotEq,
            Some(TokenKind::Contains) => CompareOp::Contains,
            _ => {
                return Err(self.error(
                    op_start,
                    &format!(
                        "expected =, !=, contains or exists after {path}, found {}",
                        self.found()
                    ),
                ));
            }
        };
        let op_text = match op {
            CompareOp::Eq => "=",
            CompareOp::NotEq => "!=",
            CompareOp::Contains => "contains",
        };
        self.next += 1;
        let value_start = self.here();
        let value = match self.peek() {
            Some(TokenKind::Str(text)) => Literal::Str(text.clone()),
            Some(TokenKind::Number(number)) => Literal::Number(number.clone()),
            Some(TokenKind::True) => Literal::Bool(true),
            Some(TokenKind::False) => Literal::Bool(false),
            Some(TokenKind::Null) => Literal::Null,
            Some(TokenKind::Path(word)) => {
                return Err(self.error(
                    value_start,
                    &format!(
                        r#"expected a value after "{op_text}", found the path {word}; values are "quoted strings", numbers, true, false or null (paths compare only with values)"#
                    ),
                ));
            }
            _ => {
                return Err(self.error(
                    value_start,
                    &format!(r#"expected a value after "{op_text}", found {}"#, self.found()),
                ));
            }
        };
        self.next += 1;
        Ok(Expr::Compare { path, op, value })
    }
}
