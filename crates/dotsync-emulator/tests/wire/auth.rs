use crate::common::*;
use dotsync_emulator::{AccountSeed, Region};
use serde_json::json;

#[tokio::test]
async fn missing_or_wrong_credentials_are_401_with_the_v2_body_everywhere() {
    let t = T::new().await;
    for path in [
        "/v2/data-fields/",
        "/v2/account-info",
        "/contacts/v3/email/ann@example.com",
        "/insightData/v3/collections",
    ] {
        for auth in [
            None,
            Some((USER, "wrong-password")),
            Some(("nobody@apiconnector.com", "demo-password-1")),
        ] {
            let r = t.raw("GET", path, None, auth).await;
            assert_eq!(r.status, 401, "{path}");
            assert_eq!(
                r.json(),
                json!({"message": "Authorization has been denied for this request."})
            );
            assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
            assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Basic")));
        }
    }
    // Valid credentials: the cheap check clients use.
    assert_eq!(t.get("/v2/data-fields/").await.status, 200);
    // The integration header is accepted and ignored.
    let r =
        t.c.get(format!("{}/v2/data-fields", t.base))
            .basic_auth(USER, Some("demo-password-1"))
            .header("x-ddg-integration-token", "partner")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn account_info_reports_the_regional_endpoint() {
    let cfg = quick().with_account(AccountSeed::new("eu2@apiconnector.com", "pass-word-2", Region::R2));
    let t = T::with(cfg).await;
    let r = t.get("/v2/account-info").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["id"], 100001);
    let prop = |v: &serde_json::Value, n: &str| {
        v["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .map(|p| p["value"].clone())
            .unwrap()
    };
    assert_eq!(prop(&v, "ApiEndpoint"), json!(t.base));
    assert_eq!(prop(&v, "Name"), json!("Demo Ltd"));
    assert_eq!(prop(&v, "MainEmail"), json!("owner@demo.example"));
    assert_eq!(prop(&v, "APILocale"), json!("en-GB"));
    assert!(prop(&v, "ApiCallsRemaining").is_string());

    // An r2 account asks r1 (the bare URL) and is told its regional host.
    let auth = Some(("eu2@apiconnector.com", "pass-word-2"));
    let r = t.raw("GET", "/v2/account-info", None, auth).await;
    assert_eq!(r.status, 200);
    let r2 = format!("{}/r2", t.base);
    assert_eq!(prop(&r.json(), "ApiEndpoint"), json!(r2));
    assert_eq!(t.h.region_url(Region::R2), r2);
    assert_eq!(t.raw("GET", "/r1/v2/account-info", None, auth).await.status, 200);

    // Other calls on the wrong region are 403; on its own region they work.
    let r = t.raw("GET", "/v2/data-fields", None, auth).await;
    assert_eq!(r.status, 403);
    assert!(r.v2_message().contains("Access is denied"));
    let r = t.raw("GET", "/r1/contacts/v3/email/a@b.com", None, auth).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.v3_code(), "contacts:forbidden");
    assert_eq!(t.raw("GET", "/r3/v2/account-info", None, auth).await.status, 403);
    assert_eq!(t.raw("GET", "/r2/v2/data-fields/", None, auth).await.status, 200);
    // And the demo (r1) account cannot use r2.
    assert_eq!(t.get("/r2/v2/data-fields").await.status, 403);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let t = T::new().await;
    let r = t.get("/v2/nothing-here").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].is_string());
    let r = t.get("/contacts/v3/a/b/c/d").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.v3_code(), "contacts:notFound");
    let r = t.call("PATCH", "/v2/data-fields", None).await;
    assert_eq!(r.status, 405);
    // Paths are case-insensitive in their literal parts, and trailing slashes do not matter.
    assert_eq!(
        t.get("/V2/Data-Fields/").await.text,
        t.get("/v2/data-fields").await.text
    );
}
