//! End to end: the messaging plugin loaded from its library sends transactional emails, SMS and
//! campaign emails into the emulator's outbox: exact recipients, subjects, bodies and send dates,
//! each bad row rejected with its reason, and each send key sent once across runs.

use std::path::Path;

use dotsync_emulator::SentMessage;

use crate::support::*;

fn sent(outbox: &[SentMessage], kind: &str) -> Vec<SentMessage> {
    outbox.iter().filter(|message| message.kind == kind).cloned().collect()
}

fn rejects_of(sync: &serde_json::Value) -> String {
    std::fs::read_to_string(sync["rejects_file"].as_str().expect("a rejects file")).unwrap()
}

/// Orders `range` as CSV lines `order_id,email,cc,subject,html` (no CC).
fn order_lines(range: std::ops::Range<usize>, subject: &str) -> Vec<String> {
    range
        .map(|i| format!("ORD-{i},{},,{subject} {i},<p>Order {i}</p>", email(i)))
        .collect()
}

fn receipts_config(dir: &Path, endpoint: &str) -> std::path::PathBuf {
    write_sync_config(
        dir,
        "receipts.toml",
        endpoint,
        "dotdigital-messaging",
        "orders.csv",
        r#"action = "transactional_email"
send_key_column = "order_id"

[sync.config.transactional_email]
from = { value = "Demo Shop <shop@demo.example>" }
to_column = "email"
cc_column = "cc"
subject = { column = "subject" }
html_content = { column = "html" }"#,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_emails_go_once_per_order_and_bad_rows_are_rejected() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = receipts_config(dir.path(), &emulator.base_url());
    let too_many_cc = (0..101)
        .map(|i| format!("cc{i}@example.com"))
        .collect::<Vec<_>>()
        .join(",");
    let mut lines = order_lines(0..200, "Receipt");
    lines.push("ORD-BAD1,not-an-address,,Receipt,<p>x</p>".to_owned());
    lines.push(format!("ORD-BAD2,ann@example.com,\"{too_many_cc}\",Receipt,<p>x</p>"));
    write_lines(&dir.path().join("orders.csv"), "order_id,email,cc,subject,html", lines);

    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(1), "two rows rejected; stderr: {stderr}");
    assert_eq!(
        (sync["delivered"].as_u64(), sync["rejected"].as_u64()),
        (Some(200), Some(2)),
        "{sync}"
    );
    let rejects = rejects_of(&sync);
    assert!(
        rejects.contains("InvalidEmail") && rejects.contains("not-an-address"),
        "{rejects}"
    );
    assert!(
        rejects.contains("TooManyRecipients") && rejects.contains("101"),
        "{rejects}"
    );

    let emails = sent(&emulator.state().outbox(), "email");
    assert_eq!(emails.len(), 200, "one email per good row, none for the bad ones");
    let seven = emails.iter().find(|m| m.to == vec![email(7)]).expect("ORD-7's email");
    assert_eq!(seven.subject.as_deref(), Some("Receipt 7"));
    assert_eq!(seven.html.as_deref(), Some("<p>Order 7</p>"));
    assert_eq!(seven.from.as_deref(), Some("Demo Shop <shop@demo.example>"));
    assert!(seven.cc.is_empty());

    // Every subject changes and 10 orders are new: only the new orders are sent.
    let mut lines = order_lines(0..210, "Changed");
    lines.push("ORD-BAD1,not-an-address,,Receipt,<p>x</p>".to_owned());
    write_lines(&dir.path().join("orders.csv"), "order_id,email,cc,subject,html", lines);
    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(1), "the bad row stays rejected; stderr: {stderr}");
    assert_eq!(
        (sync["delivered"].as_u64(), sync["skipped"].as_u64()),
        (Some(10), Some(200)),
        "{sync}"
    );
    let emails = sent(&emulator.state().outbox(), "email");
    assert_eq!(emails.len(), 210, "each order's email went out once");
    assert_eq!(
        emails
            .iter()
            .filter(|m| m.subject.as_deref().is_some_and(|s| s.starts_with("Changed")))
            .count(),
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_numbers_are_normalised_and_bad_numbers_and_texts_rejected() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_lines(
        &dir.path().join("sms.csv"),
        "order_id,mobile,message",
        [
            "S1,+44 7700 900123,Your order has shipped.".to_owned(),
            "S2,447700-900456,Out for delivery 🚚".to_owned(),
            "S3,07700 900789,National numbers are not E.164".to_owned(),
            format!("S4,+447700900111,{}", "x".repeat(161)),
        ],
    );
    let config = write_sync_config(
        dir.path(),
        "sms.toml",
        &emulator.base_url(),
        "dotdigital-messaging",
        "sms.csv",
        r#"action = "transactional_sms"
send_key_column = "order_id"

[sync.config.transactional_sms]
to_column = "mobile"
from = { value = "DemoShop" }
message = { column = "message" }
allow_unicode = false"#,
    );
    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert_eq!(
        (sync["delivered"].as_u64(), sync["rejected"].as_u64()),
        (Some(1), Some(3)),
        "{sync}"
    );
    let rejects = rejects_of(&sync);
    for code in ["NonGsmCharacters", "InvalidPhoneNumber", "MessageTooLong"] {
        assert!(rejects.contains(code), "{code} in {rejects}");
    }
    let messages = sent(&emulator.state().outbox(), "cpaas");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, vec!["447700900123".to_owned()]);
    assert_eq!(messages[0].text.as_deref(), Some("Your order has shipped."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_emails_reach_existing_contacts_now_or_at_their_date() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_lines(
        &dir.path().join("campaign.csv"),
        "send_id,email,send_at",
        [
            "c-ann,ann@example.com,".to_owned(),
            "c-bob,bob@example.com,2030-01-06T09:00:00Z".to_owned(),
            "c-zoe,zoe@example.com,".to_owned(),
            "c-cara,cara@example.com,2001-01-01T00:00:00Z".to_owned(),
        ],
    );
    let config = write_sync_config(
        dir.path(),
        "campaign.toml",
        &emulator.base_url(),
        "dotdigital-messaging",
        "campaign.csv",
        r#"action = "campaign_email"
send_key_column = "send_id"

[sync.config.campaign_email]
campaign = { name = "Spring sale" }
email_column = "email"
send_date_column = "send_at""#,
    );
    let (code, sync, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(1), "stderr: {stderr}");
    assert_eq!(
        (sync["delivered"].as_u64(), sync["rejected"].as_u64()),
        (Some(2), Some(2)),
        "{sync}"
    );
    let rejects = rejects_of(&sync);
    assert!(
        rejects.contains("ContactNotFound") && rejects.contains("zoe@example.com"),
        "{rejects}"
    );
    assert!(rejects.contains("SendDateInPast"), "{rejects}");
    let sends = sent(&emulator.state().outbox(), "campaign");
    assert!(sends.iter().all(|send| send.campaign_id == Some(1001)), "{sends:?}");
    let to_ann = sends
        .iter()
        .find(|s| s.to.contains(&"ann@example.com".to_owned()))
        .expect("ann's send");
    let to_bob = sends
        .iter()
        .find(|s| s.to.contains(&"bob@example.com".to_owned()))
        .expect("bob's send");
    assert!(to_bob.send_date.starts_with("2030-01-06T09:00:00"), "{to_bob:?}");
    assert_ne!(to_ann.send_date, to_bob.send_date);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_campaign_stops_the_run_before_any_send() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    write_lines(
        &dir.path().join("campaign.csv"),
        "send_id,email",
        ["c-ann,ann@example.com".to_owned()],
    );
    let config = write_sync_config(
        dir.path(),
        "campaign.toml",
        &emulator.base_url(),
        "dotdigital-messaging",
        "campaign.csv",
        r#"action = "campaign_email"
send_key_column = "send_id"

[sync.config.campaign_email]
campaign = { name = "Summer sale" }
email_column = "email""#,
    );
    let output = tokio::task::spawn_blocking({
        let cwd = dir.path().to_owned();
        let config = config.to_str().unwrap().to_owned();
        move || dotsync_with_plugin(&["run", &config], &cwd)
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("Summer sale"), "{}", stderr(&output));
    assert!(emulator.state().outbox().is_empty());
}

/// `dotsync resolve ARGS` (it loads no plugin).
async fn resolve(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dotsync"));
    command
        .arg("resolve")
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_in_doubt_are_listed_and_settled_by_hand() {
    use dotsync_emulator::{FaultAction, FaultRule};

    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = receipts_config(dir.path(), &emulator.base_url());
    write_lines(
        &dir.path().join("orders.csv"),
        "order_id,email,cc,subject,html",
        order_lines(0..3, "Receipt"),
    );
    // One send goes out but its answer is lost; another is cut before it is processed. The
    // client cannot tell them apart: both are in doubt.
    let reset =
        |after_processing| FaultRule::new(Some("POST"), "/v2/email", FaultAction::Reset { after_processing }).times(1);
    emulator.faults().add(reset(true));
    emulator.faults().add(reset(false));
    let (code, sync, run_stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(1), "{run_stderr}");
    assert_eq!(
        (sync["delivered"].as_u64(), sync["uncertain"].as_u64()),
        (Some(1), Some(2)),
        "{sync}"
    );
    let outbox = emulator.state().outbox();
    assert_eq!(outbox.len(), 2, "the delivered one and the one whose answer was lost");

    let config_arg = config.to_str().unwrap();
    let listed = resolve(dir.path(), &[config_arg, "--json"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let in_doubt: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|send| send["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(in_doubt.len(), 2, "{listed}");
    let order_of = |key: &str| key.trim_start_matches("ORD-").parse::<usize>().unwrap();
    let (went_out, lost): (Vec<&String>, Vec<&String>) = in_doubt
        .iter()
        .partition(|key| outbox.iter().any(|message| message.to == vec![email(order_of(key))]));
    let (went_out, lost) = (went_out[0].as_str(), lost[0].as_str());

    // Each key settled once the destination was checked; a key not in doubt is refused.
    let settled = resolve(
        dir.path(),
        &[
            config_arg,
            "--sync",
            "dotdigital-messaging",
            "--sent",
            went_out,
            "--not-sent",
            lost,
        ],
    )
    .await;
    assert!(settled.status.success(), "{}", stderr(&settled));
    assert!(
        stdout(&settled).contains(&format!("`{went_out}` recorded as sent; it is never sent again")),
        "{}",
        stdout(&settled)
    );
    let refused = resolve(
        dir.path(),
        &[config_arg, "--sync", "dotdigital-messaging", "--sent", "ORD-9"],
    )
    .await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("no send in doubt has the key `ORD-9`"),
        "{}",
        stderr(&refused)
    );

    // The next run sends only the one that never went out, and skips the confirmed one.
    let (code, sync, run_stderr) = run_json(dir.path(), &config).await;
    assert_eq!(code, Some(0), "{sync}; {run_stderr}");
    assert_eq!(
        (sync["delivered"].as_u64(), sync["skipped"].as_u64()),
        (Some(1), Some(2)),
        "{sync}"
    );
    let mut recipients: Vec<String> = emulator.state().outbox().into_iter().flat_map(|m| m.to).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        (0..3).map(email).collect::<Vec<_>>(),
        "each receipt sent once"
    );
    let listed = resolve(dir.path(), &[config_arg]).await;
    assert_eq!(stdout(&listed), "no send in doubt\n");
}
