use crate::common::*;
use base64::Engine;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn data_fields_list_create_delete() {
    let t = T::new().await;
    let r = t.get("/v2/data-fields").await;
    assert_eq!(r.status, 200);
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "FIRSTNAME",
            "LASTNAME",
            "FULLNAME",
            "GENDER",
            "POSTCODE",
            "LTV",
            "BIRTHDAY",
            "LASTPURCHASE",
            "VIP"
        ]
    );
    assert_eq!(r.json()[5]["type"], "Numeric");

    // Property names in any case.
    let r = t
        .post(
            "/v2/data-fields",
            json!({"Name": "Tier", "Type": "String", "Visibility": "public", "DefaultValue": "bronze"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"name": "TIER", "type": "String", "visibility": "Public", "defaultValue": "bronze"})
    );
    let r = t
        .post("/v2/data-fields", json!({"name": "tier", "type": "String"}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.v2_message().ends_with("ERROR_NON_UNIQUE_DATAFIELD"));
    let r = t
        .post("/v2/data-fields", json!({"name": "Score", "type": "Integer"}))
        .await;
    assert!(r.v2_message().contains("ERROR_DATAFIELD_INVALID"));
    let r = t
        .post(
            "/v2/data-fields",
            json!({"name": "Score", "type": "Numeric", "defaultValue": "x"}),
        )
        .await;
    assert!(r.v2_message().contains("ERROR_DATAFIELD_INVALID"));
    let r = t
        .post("/v2/data-fields", json!({"name": "bad name!", "type": "Numeric"}))
        .await;
    assert_eq!(r.status, 400);
    // The new field is writable through v3.
    let r = t
        .patch(
            "/contacts/v3/email/ann@example.com",
            json!({"dataFields": {"TIER": "gold"}}),
        )
        .await;
    assert_eq!(r.json()["dataFields"]["TIER"], "gold");

    let r = t.delete("/v2/data-fields/TIER").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"result": true, "dependencies": []}));
    let r = t.delete("/v2/data-fields/TIER").await;
    assert_eq!(r.status, 404);
    assert!(r.v2_message().contains("ERROR_DATAFIELD_NOTFOUND"));
    assert!(
        !t.h.state()
            .contact_by_email(USER, "ann@example.com")
            .unwrap()
            .data_fields
            .contains_key("TIER")
    );
}

#[tokio::test]
async fn address_books_paging_and_crud() {
    let t = T::new().await;
    let all = t.get("/v2/address-books").await.json();
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(
        all[0],
        json!({"id": 345579, "name": "Newsletter", "visibility": "Public", "contacts": 3})
    );
    assert_eq!(
        t.get("/v2/address-books?select=2")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(t.get("/v2/address-books?select=2&skip=2").await.json()[0]["id"], 345581);
    assert_eq!(t.get("/v2/address-books?select=2&skip=3").await.json(), json!([]));
    for bad in ["select=1001", "select=0", "select=abc", "skip=-1", "skip=x"] {
        let r = t.get(&format!("/v2/address-books?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.v2_message().ends_with("ERROR_PARAMETER_INVALID"));
    }
    assert_eq!(
        t.get("/v2/address-books/public").await.json().as_array().unwrap().len(),
        1
    );
    assert_eq!(
        t.get("/v2/address-books/private")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = t
        .post(
            "/v2/address-books",
            json!({"Name": "Audience A", "Visibility": "Public"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_u64().unwrap();
    assert_eq!(r.json()["contacts"], 0);
    for name in ["audience a", "Test", "All Contacts"] {
        let r = t.post("/v2/address-books", json!({"name": name})).await;
        assert_eq!(r.status, 400, "{name}");
        assert!(r.v2_message().ends_with("ERROR_ADDRESSBOOK_DUPLICATE"));
    }
    assert_eq!(
        t.get(&format!("/v2/address-books/{id}")).await.json()["name"],
        "Audience A"
    );
    let r = t.get("/v2/address-books/999999").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.v2_message(), "Error: ERROR_ADDRESSBOOK_NOT_FOUND");
    assert_eq!(
        t.put(&format!("/v2/address-books/{id}"), json!({"name": "Audience B"}))
            .await
            .json()["name"],
        "Audience B"
    );
    assert_eq!(t.delete(&format!("/v2/address-books/{id}")).await.status, 200);
    assert_eq!(t.get(&format!("/v2/address-books/{id}")).await.status, 404);
}

#[tokio::test]
async fn address_book_members() {
    let t = T::new().await;
    let r = t
        .post(
            "/v2/address-books/345581/contacts",
            json!({"Email": "lee@example.com", "OptInType": "Double", "EmailType": "html",
                   "DataFields": [{"Key": "FIRSTNAME", "Value": "Lee"}, {"key": "VIP", "value": true}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    let lee = v["id"].as_u64().unwrap();
    assert_eq!(v["status"], "Subscribed");
    assert_eq!(v["optInType"], "Double");
    assert!(
        v["dataFields"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "FIRSTNAME", "value": "Lee"}))
    );
    let r = t
        .post(
            "/v2/address-books/345581/contacts",
            json!({"email": "x@example.com", "dataFields": [{"key": "NOPE", "value": 1}]}),
        )
        .await;
    assert!(r.v2_message().ends_with("ERROR_DATAFIELD_NOTFOUND"));
    let r = t
        .post(
            "/v2/address-books/345581/contacts",
            json!({"email": "x@example.com", "dataFields": [{"key": "LTV", "value": "abc"}]}),
        )
        .await;
    assert!(r.v2_message().ends_with("ERROR_DATAFIELD_INVALID"));
    let r = t
        .post("/v2/address-books/345581/contacts", json!({"email": "not-an-email"}))
        .await;
    assert_eq!(
        r.v2_message(),
        "Email is not a valid email address. ERROR_PARAMETER_INVALID"
    );
    assert_eq!(
        t.post("/v2/address-books/1/contacts", json!({"email": "x@example.com"}))
            .await
            .status,
        404
    );

    // v3 "lists" adds membership too.
    t.patch("/contacts/v3/email/cara@example.com", json!({"lists": [345581]}))
        .await;
    let members = t
        .get("/v2/address-books/345581/contacts?withFullData=true")
        .await
        .json();
    let emails: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 3);
    assert!(emails.contains(&"lee@example.com") && emails.contains(&"cara@example.com"));
    assert_eq!(
        t.get("/v2/address-books/345581/contacts?select=1&skip=1")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        t.get("/v2/address-books/345581/contacts?skip=3").await.json(),
        json!([])
    );

    assert_eq!(
        t.delete(&format!("/v2/address-books/345581/contacts/{lee}"))
            .await
            .status,
        204
    );
    let r = t.delete(&format!("/v2/address-books/345581/contacts/{lee}")).await;
    assert_eq!(r.status, 404);
    assert!(r.v2_message().ends_with("ERROR_CONTACT_NOT_FOUND"));
    assert!(
        t.h.state().contact_by_email(USER, "lee@example.com").is_some(),
        "membership removal keeps the contact"
    );

    let ann =
        t.h.state()
            .contact_by_email(USER, "ann@example.com")
            .unwrap()
            .contact_id;
    let r = t
        .post(
            "/v2/address-books/345579/contacts/delete",
            json!([ann, ann.to_string()]),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["status"], "Started");
    assert!(!t.h.state().list_members(USER, 345579).contains(&ann));
    assert_eq!(
        t.post("/v2/address-books/345579/contacts/delete", json!(["x"]))
            .await
            .status,
        400
    );
    assert_eq!(
        t.post("/v2/address-books/345579/contacts/delete-all", json!({}))
            .await
            .status,
        202
    );
    assert!(t.h.state().list_members(USER, 345579).is_empty());
    assert_eq!(t.delete("/v2/address-books/345581/contacts").await.status, 204);
    assert!(t.h.state().list_members(USER, 345581).is_empty());
    assert_eq!(
        t.get(&format!("/v2/contacts/{ann}")).await.json()["email"],
        "ann@example.com"
    );
}

#[tokio::test]
async fn csv_import_with_report_and_faults() {
    let t = T::with(quick().with_import_delay(Duration::from_millis(200))).await;
    let csv = "Email,FirstName,LTV,Unmapped\nann@example.com,Annie,10,x\nnew@example.com,New,3.5,y\nbad-email,Bad,1,z\nnew@example.com,Dup,1,q\nn2@example.com,N2,lots,r\n";
    let data = base64::engine::general_purpose::STANDARD.encode(csv);
    let r = t
        .post(
            "/v2/address-books/345580/contacts/import",
            json!({"fileName": "c.csv", "data": data}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["status"], "NotFinished");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = t.get(&format!("/v2/contacts/import/{id}/report")).await;
    assert_eq!(r.status, 404);
    assert!(r.v2_message().ends_with("ERROR_IMPORT_REPORT_NOT_FOUND"));
    let v = t
        .wait(&format!("/v2/contacts/import/{id}"), "status", "NotFinished")
        .await;
    assert_eq!(v["status"], "Finished");
    let rep = t.get(&format!("/v2/contacts/import/{id}/report")).await.json();
    assert_eq!(rep["newContacts"], 1);
    assert_eq!(rep["updatedContacts"], 1);
    assert_eq!(rep["invalidEntries"], 2);
    assert_eq!(rep["duplicateEmails"], 1);
    let faults = t.get(&format!("/v2/contacts/import/{id}/report-faults")).await;
    assert_eq!(faults.header("content-type").as_deref(), Some("text/csv"));
    assert!(faults.text.starts_with("Reason,Email,FirstName,LTV,Unmapped\n"));
    assert!(faults.text.contains("InvalidEmail,bad-email"));
    assert!(faults.text.contains("n2@example.com"));
    let s = t.h.state();
    let ann = s.contact_by_email(USER, "ann@example.com").unwrap();
    assert_eq!(ann.data_fields["FIRSTNAME"], "Annie");
    assert_eq!(ann.data_fields["LTV"], 10.0);
    assert!(
        s.list_members(USER, 345580)
            .contains(&s.contact_by_email(USER, "new@example.com").unwrap().contact_id)
    );

    // Merge option in the path, account-level import, multipart with and without a filename.
    let r = t.post("/v2/contacts/import/with-merge-option/OnlyOverwriteIfNotEmpty", json!({"fileName": "c.csv", "data": base64::engine::general_purpose::STANDARD.encode("email,FIRSTNAME\nann@example.com,\n")})).await;
    assert_eq!(r.status, 202);
    let id = r.json()["id"].as_str().unwrap().to_string();
    t.wait(&format!("/v2/contacts/import/{id}"), "status", "NotFinished")
        .await;
    assert_eq!(
        t.h.state()
            .contact_by_email(USER, "ann@example.com")
            .unwrap()
            .data_fields["FIRSTNAME"],
        "Annie"
    );
    let r = t
        .post(
            "/v2/contacts/import/with-merge-option/Sometimes",
            json!({"fileName": "c.csv", "data": ""}),
        )
        .await;
    assert_eq!(r.status, 400);
    let mp = "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\nEmail\r\nmp@example.com\r\n--XX--\r\n";
    let r = t
        .send_text(
            "POST",
            "/v2/address-books/345579/contacts/import",
            mp,
            "multipart/form-data; boundary=XX",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mp_bad = "--XX\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nEmail\r\n--XX--\r\n";
    let r = t
        .send_text(
            "POST",
            "/v2/address-books/345579/contacts/import",
            mp_bad,
            "multipart/form-data; boundary=XX",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"message": "file must be valid"}));
    assert_eq!(
        t.post(
            "/v2/address-books/1/contacts/import",
            json!({"fileName": "c.csv", "data": data})
        )
        .await
        .status,
        404
    );
}
