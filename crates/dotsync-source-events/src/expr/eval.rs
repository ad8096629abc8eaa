//! Evaluates a parsed trigger against one event. The rules are in the crate documentation
//! ("Trigger semantics"); in short: no type coercion, missing equals null, `!=` is exactly
//! `not =`.

use serde_json::{Number, Value};

use crate::event::Event;
use crate::expr::parser::{CompareOp, Expr, Literal};

pub(crate) fn matches(expr: &Expr, event: &Event) -> bool {
    match expr {
        Expr::Any(operands) => operands.iter().any(|operand| matches(operand, event)),
        Expr::All(operands) => operands.iter().all(|operand| matches(operand, event)),
        Expr::Not(operand) => !matches(operand, event),
        Expr::Exists(path) => event.get(path).is_some_and(|value| !value.is_null()),
        Expr::Compare { path, op, value } => {
            let found = event.get(path);
            match op {
                CompareOp::Eq => equals(found, value),
                CompareOp::NotEq => !equals(found, value),
                CompareOp::Contains => contains(found, value),
            }
        }
    }
}

/// Same JSON type and same value; a missing value counts as null.
fn equals(found: Option<&Value>, literal: &Literal) -> bool {
    match (found, literal) {
        (None | Some(Value::Null), Literal::Null) => true,
        (Some(Value::String(text)), Literal::Str(wanted)) => text == wanted,
        (Some(Value::Bool(flag)), Literal::Bool(wanted)) => flag == wanted,
        (Some(Value::Number(number)), Literal::Number(wanted)) => numbers_equal(number, wanted),
        _ => false,
    }
}

/// Numerically equal (so `5` equals `5.0`); integers compare exactly, whatever their size.
fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return a == b;
    }
    matches!((a.as_f64(), b.as_f64()), (Some(a), Some(b)) if a == b)
}

/// A substring of a string, or an element (by [`equals`]) of an array.
fn contains(found: Option<&Value>, literal: &Literal) -> bool {
    match (found, literal) {
        (Some(Value::String(text)), Literal::Str(part)) => text.contains(part.as_str()),
        (Some(Value::Array(items)), _) => items.iter().any(|item| equals(Some(item), literal)),
        _ => false,
    }
}
