//! Trigger semantics: every operator, precedence, missing paths and type mismatches.

use dotsync_source_events::{Trigger, default_trigger};

use crate::common::{event, matches};

const ORDER: &str = r#"{"type":"track","event":"Order Completed","userId":"u1",
    "properties":{"email":"ada@example.com","total":5,"price":12.5,"paid":true,"coupon":null,
                  "tags":["vip","beta",3,null],"products":[{"sku":"A-1"},{"sku":"B-2"}],
                  "Order ID":"o-9","not":"kw"},
    "context":{"traits":{"first_name":"Ada"}},
    "traits":{"vip":true}}"#;

fn order() -> String {
    ORDER.replace('\n', " ")
}

fn check(trigger: &str, expected: bool) {
    assert_eq!(matches(trigger, &order()), expected, "{trigger}");
}

#[test]
fn equality_on_every_json_type() {
    check(r#"type = "track""#, true);
    check(r#"type = "identify""#, false);
    check(r#"event = "Order Completed""#, true);
    check(r#"event = "order completed""#, false);
    check("properties.total = 5", true);
    check("properties.total = 5.0", true);
    check("properties.total = 6", false);
    check("properties.price = 12.5", true);
    check("properties.price = 1.25e1", true);
    check("properties.paid = true", true);
    check("properties.paid = false", false);
    check("properties.coupon = null", true);
    check("properties.email = null", false);
    check(r#"context.traits.first_name = "Ada""#, true);
    check("traits.vip = true", true);
}

#[test]
fn no_type_coercion() {
    check(r#"properties.total = "5""#, false);
    check(r#"properties.total != "5""#, true);
    check(r#"properties.paid = "true""#, false);
    check("properties.email = 5", false);
    check("properties.paid = 1", false);
    let text_total = r#"{"type":"track","event":"x","userId":"u","properties":{"total":"5"}}"#;
    assert!(!matches("properties.total = 5", text_total));
    assert!(matches(r#"properties.total = "5""#, text_total));
}

#[test]
fn not_equal_is_the_negation_of_equal() {
    check(r#"event != "Order Completed""#, false);
    check(r#"event != "Signed Up""#, true);
    check("properties.coupon != null", false);
    check("properties.email != null", true);
}

#[test]
fn missing_paths_equal_null_and_nothing_else() {
    check(r#"properties.plan = "free""#, false);
    check(r#"properties.plan != "free""#, true);
    check("properties.plan = null", true);
    check("properties.plan != null", false);
    check("properties.plan exists", false);
    check(r#"properties.plan contains "x""#, false);
    check("properties.email.domain = null", true);
    check("properties.tags.99 = null", true);
}

#[test]
fn contains_is_substring_on_strings_and_membership_on_arrays() {
    check(r#"properties.email contains "@example.""#, true);
    check(r#"properties.email contains "EXAMPLE""#, false);
    check(r#"properties.email contains """#, true);
    check(r#"properties.tags contains "vip""#, true);
    check(r#"properties.tags contains "vi""#, false);
    check("properties.tags contains 3", true);
    check("properties.tags contains 3.0", true);
    check("properties.tags contains null", true);
    check("properties.tags contains true", false);
    check("properties.total contains 5", false);
    check(r#"properties.products contains "A-1""#, false);
    check(r#"context.traits contains "Ada""#, false);
}

#[test]
fn exists_means_present_and_not_null() {
    check("properties.email exists", true);
    check("properties.coupon exists", false);
    check("properties.tags.3 exists", false);
    check("properties.tags.0 exists", true);
    check("context.traits exists", true);
}

#[test]
fn array_indexes_and_quoted_names() {
    check(r#"properties.products.1.sku = "B-2""#, true);
    check(r#"properties.`Order ID` = "o-9""#, true);
    check(r#"properties.`not` = "kw""#, true);
    check(r#"`properties`.`total` = 5"#, true);
}

#[test]
fn and_or_not() {
    check(r#"type = "track" and event = "Order Completed""#, true);
    check(r#"type = "track" and event = "Other""#, false);
    check(r#"type = "identify" or event = "Order Completed""#, true);
    check(r#"type = "identify" or event = "Other""#, false);
    check(r#"not type = "identify""#, true);
    check(r#"not not type = "identify""#, false);
    check(
        "properties.total = 5 and properties.paid = true and properties.email exists",
        true,
    );
    check(
        "properties.total = 1 or properties.total = 2 or properties.total = 5",
        true,
    );
}

#[test]
fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
    // a = true, b = false, c = false: "a or b and c" is a or (b and c) = true;
    // read left to right as (a or b) and c it would be false.
    check(
        "properties.paid = true or properties.total = 0 and properties.price = 0",
        true,
    );
    check(
        "(properties.paid = true or properties.total = 0) and properties.price = 0",
        false,
    );
    // "not a and b" is (not a) and b; as not (a and b) it would differ.
    check("not properties.total = 0 and properties.price = 0", false);
    check("not (properties.total = 0 and properties.price = 0)", true);
    check("not properties.total = 0 and properties.price = 12.5", true);
}

#[test]
fn whitespace_and_line_breaks_are_free() {
    check("type=\"track\"and(event=\"Order Completed\")", true);
    check("type = \"track\"\n  and\tevent = \"Order Completed\"\n", true);
}

#[test]
fn string_escapes() {
    let line = r#"{"type":"track","event":"Say \"hi\"\\ 😀 é","userId":"u"}"#;
    assert!(matches(r#"event = "Say \"hi\"\\ 😀 \u00e9""#, line));
    assert!(matches(r#"event contains "\"hi\"""#, line));
}

#[test]
fn the_default_trigger_is_segments() {
    assert_eq!(
        default_trigger("Add Contact to List"),
        r#"type = "track" and event = "Add Contact to List""#
    );
    let add = r#"{"type":"track","event":"Add Contact to List","userId":"u"}"#;
    let identify = r#"{"type":"identify","event":"Add Contact to List","userId":"u"}"#;
    let other = r#"{"type":"track","event":"Remove Contact from List","userId":"u"}"#;
    let trigger = Trigger::parse(&default_trigger("Add Contact to List")).unwrap();
    assert!(trigger.matches(&event(add)));
    assert!(!trigger.matches(&event(identify)));
    assert!(!trigger.matches(&event(other)));

    let odd_name = "Say \"hi\" \\ now\n";
    let odd = Trigger::parse(&default_trigger(odd_name)).unwrap();
    let line = serde_json::json!({"type": "track", "event": odd_name, "userId": "u"}).to_string();
    assert!(odd.matches(&event(&line)));
}

#[test]
fn a_trigger_keeps_its_source() {
    let trigger = Trigger::parse("properties.email exists").unwrap();
    assert_eq!(trigger.source(), "properties.email exists");
    assert_eq!(trigger.to_string(), "properties.email exists");
}
