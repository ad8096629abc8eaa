//! End to end: the events example (Segment-spec events replayed through the seven actions of
//! Segment's Dotdigital destination and an Engage audience) against the emulator, with the
//! plugins loaded from their libraries; nothing applied twice on a replay; bad event lines and
//! bad triggers reported with their place.

use std::path::{Path, PathBuf};

use crate::support::*;

/// The example folder copied into `dir`, its config pointed at `endpoint`.
fn example_in(dir: &Path, endpoint: &str) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/events");
    for file in ["dotsync.toml", "events.jsonl"] {
        std::fs::copy(example.join(file), dir.join(file)).expect("copy the example");
    }
    let config = dir.join("dotsync.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("endpoint = \"emulator\""),
        "the example runs on the in-process emulator"
    );
    let text = text.replace("endpoint = \"emulator\"", &format!("endpoint = \"{endpoint}\""));
    std::fs::write(&config, text).unwrap();
    config
}

fn sync<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["syncs"]
        .as_array()
        .and_then(|syncs| syncs.iter().find(|sync| sync["name"] == name))
        .unwrap_or_else(|| panic!("sync {name} in {report}"))
}

fn counts(sync: &serde_json::Value) -> [u64; 4] {
    ["delivered", "rejected", "skipped", "failed"].map(|key| sync[key].as_u64().unwrap_or(u64::MAX))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_replays_seven_actions_and_an_audience_once() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = example_in(dir.path(), &emulator.base_url());

    let (code, report, stderr) = run_report(dir.path(), &config).await;
    assert_eq!(code, Some(1), "two rows are rejected by design; stderr: {stderr}");
    assert!(
        !stderr.contains("does not say which rows it carries"),
        "the lists plugin says that creating a list carries no rows: {stderr}"
    );
    assert_eq!(counts(sync(&report, "add-contact-to-list")), [2, 0, 0, 0]);
    assert_eq!(counts(sync(&report, "remove-contact-from-list")), [1, 0, 0, 0]);
    assert_eq!(counts(sync(&report, "enrol-contact-to-program")), [1, 0, 0, 0]);
    assert_eq!(counts(sync(&report, "send-email-campaign")), [1, 1, 0, 0]);
    assert_eq!(counts(sync(&report, "send-transactional-email")), [1, 0, 0, 0]);
    assert_eq!(counts(sync(&report, "send-sms")), [1, 1, 0, 0]);
    assert_eq!(counts(sync(&report, "send-transactional-sms")), [1, 0, 0, 0]);
    // Ann's entry (line 17) is superseded by her exit (line 18).
    assert_eq!(counts(sync(&report, "cart-abandoners")), [3, 0, 1, 0]);
    let rejects = |name: &str| std::fs::read_to_string(sync(&report, name)["rejects_file"].as_str().unwrap()).unwrap();
    assert!(rejects("send-email-campaign").contains("ContactNotFound"));
    assert!(rejects("send-email-campaign").contains("zoe@example.com"));
    assert!(rejects("send-sms").contains("InvalidPhoneNumber"));

    let state = emulator.state();
    let mut outbox = state.outbox();
    outbox.sort_by(|a, b| a.kind.cmp(&b.kind));
    let summary: Vec<(&str, Vec<String>, Option<&str>)> = outbox
        .iter()
        .map(|m| {
            (
                m.kind.as_str(),
                m.to.clone(),
                m.text.as_deref().or(m.subject.as_deref()),
            )
        })
        .collect();
    assert_eq!(outbox.len(), 4, "one message per good send event: {summary:?}");
    let campaign = &outbox[0];
    assert_eq!(
        (
            campaign.kind.as_str(),
            campaign.campaign_id,
            campaign.send_date.as_str()
        ),
        ("campaign", Some(1001), "2030-03-02T08:00:00Z")
    );
    let ann = state.contact_by_email(USER, "ann@example.com").expect("ann");
    assert_eq!(campaign.to, [ann.email.clone().unwrap()]);
    let cpaas = &outbox[1];
    assert_eq!(cpaas.kind, "cpaas");
    assert_eq!(cpaas.text.as_deref(), Some("Your code is 482913"));
    assert_eq!(cpaas.from.as_deref(), Some("DemoShop"));
    let email = &outbox[2];
    assert_eq!(email.kind, "email");
    assert_eq!(email.to, ["cara@example.com"]);
    assert_eq!(email.subject.as_deref(), Some("Your order 5001"));
    assert_eq!(email.html.as_deref(), Some("<p>Thanks for order 5001.</p>"));
    assert_eq!(email.from.as_deref(), Some("Demo Shop <orders@demo.example>"));
    let sms = &outbox[3];
    assert_eq!(sms.kind, "sms");
    assert_eq!(sms.text.as_deref(), Some("Spring sale starts tomorrow"));
    assert!(sms.to[0].ends_with("447700900123"), "{:?}", sms.to);
    assert!(cpaas.to[0].ends_with("447700900123"), "{:?}", cpaas.to);

    let id = |email: &str| state.contact_by_email(USER, email).expect(email).contact_id;
    let members = |list: &str| state.list_members(USER, state.list_by_name(USER, list).expect(list).id);
    let trial = members("Trial users");
    assert!(trial.contains(&id("ann@example.com")) && trial.contains(&id("eve@example.com")));
    assert!(
        !members("Newsletter").contains(&id("bob@example.com")),
        "bob left the newsletter"
    );
    let mut abandoners = members("Cart abandoners");
    abandoners.sort();
    let mut expected = vec![id("cara@example.com"), id("bob@example.com")];
    expected.sort();
    assert_eq!(abandoners, expected, "ann entered, then left");
    let enrolled: Vec<u64> = state.enrolments(USER).iter().flat_map(|e| e.contacts.clone()).collect();
    assert_eq!(enrolled, [id("bob@example.com")]);

    // The same events again: nothing is sent, enrolled or changed twice.
    let (_, report, stderr) = run_report(dir.path(), &config).await;
    for sync in report["syncs"].as_array().unwrap() {
        assert_eq!(sync["delivered"], 0, "{sync}; stderr: {stderr}");
        assert_eq!(
            sync["api_calls"], 0,
            "settled by the state alone, no pre-flight call: {sync}"
        );
    }
    assert_eq!(emulator.state().outbox().len(), 4);
    assert_eq!(emulator.state().enrolments(USER).len(), 1);
}

/// A messaging sync's config whose `[sync.source.events]` table is `source` and the mappings
/// of an SMS.
fn sms_config(dir: &Path, endpoint: &str, source: &str) -> PathBuf {
    let path = dir.join("dotsync.toml");
    let head = config_head(endpoint);
    let text = format!(
        r#"{head}
[[sync]]
name = "sms"
plugin = "dotdigital-messaging"

[sync.source.events]
{source}
mappings = {{ key = "messageId", to = "properties.phone", message = "properties.message" }}

[sync.config]
action = "sms"
send_key_column = "key"
sms = {{ to_column = "to", message = {{ column = "message" }} }}
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn sms_event(id: usize) -> String {
    format!(
        r#"{{"type":"track","event":"Send SMS","userId":"u{id}","messageId":"m{id}","properties":{{"phone":"+4477009001{id:02}","message":"Hello {id}"}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_line_ends_the_run_with_its_place_after_the_events_before_it() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sms_config(
        dir.path(),
        &emulator.base_url(),
        "path = \"events.jsonl\"\nevent = \"Send SMS\"",
    );
    let lines = [
        sms_event(1),
        sms_event(2),
        r#"{"type":"track","event":"Send SMS","#.to_owned(),
        sms_event(4),
    ];
    std::fs::write(dir.path().join("events.jsonl"), lines.join("\n")).unwrap();

    let output = dotsync_with_plugin(&["run", config.to_str().unwrap()], dir.path());
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("dotsync.toml:12:7: sync \"sms\": source: ")
            && stderr.contains("events.jsonl:3: invalid JSON at column 35: EOF while parsing a value"),
        "{stderr}"
    );
    // Each SMS is its own request, so they may arrive in either order.
    let mut texts: Vec<Option<String>> = emulator.state().outbox().into_iter().map(|m| m.text).collect();
    texts.sort();
    assert_eq!(
        texts,
        [Some("Hello 1".to_owned()), Some("Hello 2".to_owned())],
        "the events before the bad line are sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_trigger_is_a_config_error_pointing_at_the_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let config = sms_config(
        dir.path(),
        "http://127.0.0.1:9",
        "path = \"events.jsonl\"\ntrigger = 'type = \"track\" and event ='",
    );
    std::fs::write(dir.path().join("events.jsonl"), sms_event(1)).unwrap();

    let output = dotsync_with_plugin(&["run", config.to_str().unwrap()], dir.path());
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("dotsync.toml:14:11: sync \"sms\": source.events.trigger: "),
        "the trigger's line: {stderr}"
    );
    assert!(
        stderr.contains(r#"trigger:1:27: expected a value after "=", found end of input"#),
        "{stderr}"
    );
    assert!(
        stderr.contains("  type = \"track\" and event =\n                            ^"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_absent_from_later_events_stay_on_the_list() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dotsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"{}
[[sync]]
name = "trial"
plugin = "dotdigital-lists"
source = {{ events = {{ path = "events.jsonl", event = "Add Contact to List", mappings = {{ email = "properties.email" }} }} }}

[sync.config]
list = {{ name = "Trial users" }}
email_column = "email"
"#,
            config_head(&emulator.base_url())
        ),
    )
    .unwrap();
    let add = |email: &str| {
        format!(r#"{{"type":"track","event":"Add Contact to List","userId":"u","properties":{{"email":"{email}"}}}}"#)
    };
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, add("ann@example.com")).unwrap();
    let (code, first, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(
        (code, first["delivered"].as_u64()),
        (Some(0), Some(1)),
        "{first}; {stderr}"
    );
    // The next day's events name someone else: an event stream holds changes, so ann has not
    // left the audience (a table source would have removed her).
    std::fs::write(&events, add("eve@example.com")).unwrap();
    let (code, second, stderr) = run_json(dir.path(), &config).await;
    assert_eq!(
        (code, second["delivered"].as_u64()),
        (Some(0), Some(1)),
        "{second}; {stderr}"
    );
    let state = emulator.state();
    let list = state.list_by_name(USER, "Trial users").unwrap();
    let members = state.list_members(USER, list.id);
    for email in ["ann@example.com", "eve@example.com"] {
        assert!(
            members.contains(&state.contact_by_email(USER, email).unwrap().contact_id),
            "{email}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_can_come_from_standard_input() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = sms_config(
        dir.path(),
        &emulator.base_url(),
        "path = \"-\"\ntrigger = 'type = \"track\" and properties.message contains \"2\"'",
    );
    let config = config.to_str().unwrap().to_owned();
    let cwd = dir.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = dotsync_command(&["run", &config], &cwd)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start dotsync");
        let mut stdin = child.stdin.take().expect("stdin");
        let events: Vec<String> = (1..=3).map(sms_event).collect();
        std::io::Write::write_all(&mut stdin, events.join("\n").as_bytes()).expect("write events");
        drop(stdin);
        child.wait_with_output().expect("dotsync ends")
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let texts: Vec<Option<String>> = emulator.state().outbox().into_iter().map(|m| m.text).collect();
    assert_eq!(texts, [Some("Hello 2".to_owned())], "the trigger took one event");
}
