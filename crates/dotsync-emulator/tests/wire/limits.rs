use crate::common::*;
use dotsync_emulator::{AccountSeed, LimitsConfig, RateScheme, Region};
use serde_json::json;

#[tokio::test]
async fn tiered_limits_send_headers_and_429() {
    let t = T::with(quick().with_limits(LimitsConfig::per_minute(3))).await;
    for left in ["2", "1", "0"] {
        let r = t.get("/v2/data-fields").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some(left));
        assert!(r.header("x-ratelimit-reset").unwrap().parse::<u64>().unwrap() <= 60);
        assert_eq!(r.header("x-ratelimit-scope").as_deref(), Some("high"));
    }
    let r = t.get("/v2/data-fields").await;
    assert_eq!(r.status, 429);
    assert!(r.json()["message"].is_string());
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    // v3 endpoint in the same (high) tier: v3 body.
    let r = t.get("/contacts/v3/email/ann@example.com").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.v3_code(), "contacts:tooManyRequests");
    // Another tier still has budget; sends are never limited.
    let r = t
        .put(
            "/contacts/v3/import",
            json!({"contacts": [{"matchIdentifier": "email", "identifiers": {"email": "a@example.com"}}]}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("x-ratelimit-scope").as_deref(), Some("low"));
    for _ in 0..5 {
        assert_eq!(
            t.post("/v2/sms-messages/send-to/447700900123", json!({"message": "x"}))
                .await
                .status,
            204
        );
    }
    // Limits can be replaced at run time (buckets restart).
    t.h.set_limits(LimitsConfig::off());
    let r = t.get("/v2/data-fields").await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn flat_scheme_answers_400_apiusage_exceeded() {
    let mut acct = AccountSeed::new("flat@apiconnector.com", "flat-pass-1", Region::R1);
    acct.rate_scheme = RateScheme::Flat { calls_per_hour: 2 };
    let t = T::with(quick().with_limits(LimitsConfig::default()).with_account(acct)).await;
    let auth = Some(("flat@apiconnector.com", "flat-pass-1"));
    for left in ["1", "0"] {
        let r = t.raw("GET", "/v2/data-fields", None, auth).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some(left));
        assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("2"));
    }
    let body = json!({"toAddresses": ["a@example.com"], "subject": "s", "plainTextContent": "x"});
    assert_eq!(
        t.raw("POST", "/v2/email", Some(&body), auth).await.status,
        200,
        "transactional email does not count"
    );
    let r = t.raw("GET", "/contacts/v3/email/a@example.com", None, auth).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"message": "Your account has generated excess API activity and is being temporarily capped. Please contact support. ERROR_APIUSAGE_EXCEEDED"})
    );
    assert!(r.header("x-ratelimit-reset").unwrap().parse::<u64>().unwrap() > 3000);
    // The demo account is tiered and unaffected.
    assert_eq!(t.get("/v2/data-fields").await.status, 200);
}
