//! The bench's own Dotdigital clients, written straight against the HTTP API with reqwest and
//! no plugin code: a bulk importer that measures how fast the emulator ingests contacts, and a
//! naive connector that sends one single-contact upsert per row, the way event-by-event tools do.

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinSet;

use super::dataset::{Customer, iso_date};
use super::http::{DEMO_PASSWORD, DEMO_USERNAME, Http};

/// First wait between status polls of a bulk import; short, so that polling adds little to the
/// measured time.
const IMPORT_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What one of the bench's clients did.
#[derive(Debug)]
pub struct ClientRun {
    pub wall: Duration,
    /// Contacts the emulator reported created or updated.
    pub rows_accepted: u64,
    pub api_calls: u64,
    /// CPU time the bench process (the client) used meanwhile.
    pub client_cpu: Duration,
}

/// Writes one contact object of the v3 API: an import element (which names the identifier it
/// matches on) or a single upsert's body (matched by the identifier in the path).
fn write_contact(out: &mut Vec<u8>, customer: &Customer, import_element: bool) {
    if import_element {
        out.extend_from_slice(br#"{"matchIdentifier":"email","identifiers":{"email":"#);
    } else {
        out.extend_from_slice(br#"{"identifiers":{"email":"#);
    }
    write_json_str(out, &customer.email);
    out.extend_from_slice(br#"},"dataFields":{"FIRSTNAME":"#);
    write_json_str(out, customer.first_name);
    out.extend_from_slice(br#","LASTNAME":"#);
    write_json_str(out, customer.last_name);
    out.extend_from_slice(br#","GENDER":"#);
    write_json_str(out, customer.gender);
    out.extend_from_slice(br#","POSTCODE":"#);
    write_json_str(out, &customer.postcode);
    let _ = write!(
        out,
        r#","LTV":{},"BIRTHDAY":"{}","LASTPURCHASE":"{}","VIP":{}"#,
        customer.lifetime_value,
        iso_date(customer.birthday_days),
        iso_date_time(customer.last_purchase_ms),
        customer.vip
    );
    if let Some(name) = customer.preferred_name {
        out.extend_from_slice(br#","FULLNAME":"#);
        write_json_str(out, name);
    }
    out.extend_from_slice(br#"},"channelProperties":{"email":{"status":"#);
    write_json_str(out, customer.marketing_opt_in);
    out.extend_from_slice(b"}}}");
}

/// `YYYY-MM-DDTHH:MM:SSZ` of milliseconds since the epoch.
fn iso_date_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let seconds = ms.rem_euclid(86_400_000) / 1_000;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        iso_date(days as i32),
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// A JSON string literal.
fn write_json_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// The body of a v3 bulk import of customers `first..first + rows`.
fn import_body(first: u64, rows: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(rows as usize * 330 + 64);
    body.extend_from_slice(br#"{"mergeOption":"overwrite","contacts":["#);
    for index in first..first + rows {
        if index > first {
            body.push(b',');
        }
        write_contact(&mut body, &Customer::generate(index), true);
    }
    body.extend_from_slice(b"]}");
    body
}

/// Pushes `rows` customers to the emulator as bulk imports of `rows_per_import`, at most
/// `concurrency` imports uploading at once, and waits for every import to finish. The bodies are
/// built before the clock starts, so only the emulator's work (and HTTP) is timed.
pub fn bulk_ingest(
    http: &Http,
    base_url: &str,
    rows: u64,
    rows_per_import: u64,
    concurrency: usize,
) -> Result<ClientRun, String> {
    let bodies: Vec<Vec<u8>> = (0..rows)
        .step_by(rows_per_import as usize)
        .map(|first| import_body(first, rows_per_import.min(rows - first)))
        .collect();
    let cpu_before = super::process::own_cpu_time();
    let started = Instant::now();
    let client = http.client.clone();
    let base_url = base_url.to_owned();
    let (rows_accepted, api_calls) = http.block_on(async move {
        let mut uploads = JoinSet::new();
        let mut pending = bodies.into_iter();
        let mut import_ids = Vec::new();
        let mut api_calls = 0u64;
        loop {
            while uploads.len() < concurrency {
                let Some(body) = pending.next() else { break };
                let request = client
                    .put(format!("{base_url}/contacts/v3/import"))
                    .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
                    .header("content-type", "application/json")
                    .body(body);
                uploads.spawn(async move { expect_json(request.send().await, 202).await });
            }
            let Some(joined) = uploads.join_next().await else { break };
            api_calls += 1;
            let accepted = joined.map_err(|error| format!("upload task failed: {error}"))??;
            let id = accepted
                .get("importId")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("import answer without importId: {accepted}"))?;
            import_ids.push(id.to_owned());
        }
        let mut rows_accepted = 0u64;
        for id in import_ids {
            let mut wait = IMPORT_POLL_INTERVAL;
            loop {
                let request = client
                    .get(format!("{base_url}/contacts/v3/import/{id}"))
                    .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD));
                api_calls += 1;
                let status = expect_json(request.send().await, 200).await?;
                match status.get("status").and_then(Value::as_str) {
                    Some("Finished") => {
                        let summary = status.get("summary").cloned().unwrap_or(Value::Null);
                        let count = |name: &str| summary.get(name).and_then(Value::as_u64).unwrap_or(0);
                        rows_accepted += count("newContacts") + count("updatedContacts");
                        break;
                    }
                    Some("NotFinished") => {
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_millis(200));
                    }
                    _ => return Err(format!("import {id} ended as {status}")),
                }
            }
        }
        Ok::<_, String>((rows_accepted, api_calls))
    })?;
    Ok(ClientRun {
        wall: started.elapsed(),
        rows_accepted,
        api_calls,
        client_cpu: super::process::own_cpu_time().saturating_sub(cpu_before),
    })
}

/// Sends customers `0..rows` one single-contact upsert (`PATCH /contacts/v3/email/{email}`) per
/// row, `concurrency` at a time (as many as dotsync keeps in flight, which favours the naive
/// client over a strictly sequential one).
pub fn one_request_per_row(http: &Http, base_url: &str, rows: u64, concurrency: usize) -> Result<ClientRun, String> {
    let cpu_before = super::process::own_cpu_time();
    let started = Instant::now();
    let client = http.client.clone();
    let base_url = base_url.to_owned();
    let rows_accepted = http.block_on(async move {
        let mut in_flight = JoinSet::new();
        let mut next = 0u64;
        let mut accepted = 0u64;
        loop {
            while in_flight.len() < concurrency && next < rows {
                let customer = Customer::generate(next);
                next += 1;
                let mut body = Vec::with_capacity(400);
                write_contact(&mut body, &customer, false);
                let request = client
                    .patch(format!(
                        "{base_url}/contacts/v3/email/{}?merge-option=overwrite",
                        customer.email
                    ))
                    .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
                    .header("content-type", "application/json")
                    .body(body);
                in_flight.spawn(async move {
                    let response = request.send().await.map_err(|error| format!("upsert: {error}"))?;
                    let status = response.status().as_u16();
                    // Drain the body so the connection goes back to the pool.
                    let _ = response.bytes().await;
                    match status {
                        200 | 201 => Ok(()),
                        other => Err(format!("upsert answered HTTP {other}")),
                    }
                });
            }
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            joined.map_err(|error| format!("upsert task failed: {error}"))??;
            accepted += 1;
        }
        Ok::<_, String>(accepted)
    })?;
    Ok(ClientRun {
        wall: started.elapsed(),
        rows_accepted,
        api_calls: rows,
        client_cpu: super::process::own_cpu_time().saturating_sub(cpu_before),
    })
}

async fn expect_json(sent: reqwest::Result<reqwest::Response>, expected: u16) -> Result<Value, String> {
    let response = sent.map_err(|error| format!("request failed: {error}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|error| format!("reading answer: {error}"))?;
    if status != expected {
        return Err(format!("expected HTTP {expected}, got {status}: {}", shorten(&text)));
    }
    serde_json::from_str(&text).map_err(|error| format!("answer is not JSON ({error}): {}", shorten(&text)))
}

fn shorten(text: &str) -> &str {
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_body_is_json_with_one_contact_per_row() {
        let body: Value = serde_json::from_slice(&import_body(5, 3)).expect("valid JSON");
        let contacts = body["contacts"].as_array().expect("contacts");
        assert_eq!(contacts.len(), 3);
        assert_eq!(
            contacts[0]["identifiers"]["email"],
            Customer::generate(5).email.as_str()
        );
        assert!(
            contacts[0]["dataFields"]["LASTPURCHASE"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
    }

    #[test]
    fn date_times() {
        assert_eq!(iso_date_time(1_704_067_200_000), "2024-01-01T00:00:00Z");
        assert_eq!(iso_date_time(1_704_067_200_000 + 3_723_000), "2024-01-01T01:02:03Z");
    }
}
