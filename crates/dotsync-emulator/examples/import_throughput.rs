//! Measures bulk-import throughput of the emulator (limits off):
//! `cargo run --release -p dotsync-emulator --example import_throughput [imports] [rows_per_import]`.

use dotsync_emulator::{DEMO_PASSWORD, DEMO_USERNAME, Emulator, EmulatorConfig, LimitsConfig};
use serde::Deserialize;
use serde_json::Value;
use std::io::Write;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let imports: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let rows: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = EmulatorConfig::demo()
        .with_limits(LimitsConfig::off())
        .with_import_delay(Duration::ZERO);
    let h = Emulator::start(cfg).await.expect("start emulator");
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let base = h.base_url();

    // Bodies are built up front (written directly as JSON text, no `Value` trees) so only the
    // emulator's work is timed.
    let bodies: Vec<Vec<u8>> = (0..imports).map(|i| import_body(i * rows, rows)).collect();
    let mb: f64 = bodies.iter().map(|b| b.len() as f64).sum::<f64>() / 1e6;

    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut ids = Vec::new();
    for body in bodies {
        let r = client
            .put(format!("{base}/contacts/v3/import"))
            .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("import");
        assert_eq!(r.status(), 202);
        let v: Value = r.json().await.expect("json");
        ids.push(v["importId"].as_str().expect("importId").to_string());
    }
    let mut created = 0u64;
    for id in ids {
        loop {
            // Only the status and summary are read (the per-row report is skipped, not built).
            let bytes = client
                .get(format!("{base}/contacts/v3/import/{id}"))
                .basic_auth(DEMO_USERNAME, Some(DEMO_PASSWORD))
                .send()
                .await
                .expect("status")
                .bytes()
                .await
                .expect("body");
            let v: ImportStatus = serde_json::from_slice(&bytes).expect("json");
            if v.status != "NotFinished" {
                created += v.summary.map_or(0, |s| s.new_contacts);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let total = imports * rows;
    println!(
        "{total} contacts ({mb:.1} MB JSON) in {imports} imports: {secs:.2} s wall, {:.0} rows/s; {cpu:.2} s CPU (client + server), {:.0} rows per CPU-second ({created} created, {} in state)",
        total as f64 / secs,
        total as f64 / cpu.max(1e-9),
        h.state().contact_count(DEMO_USERNAME)
    );
    h.shutdown().await.expect("shutdown");
}

#[derive(Deserialize)]
struct ImportStatus {
    status: String,
    summary: Option<Summary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    new_contacts: u64,
}

/// One import body of `rows` contacts numbered from `first`.
fn import_body(first: usize, rows: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(rows * 240 + 64);
    b.extend_from_slice(br#"{"mergeOption":"overwrite","contacts":["#);
    for n in first..first + rows {
        if n > first {
            b.push(b',');
        }
        write!(
            b,
            r#"{{"matchIdentifier":"email","identifiers":{{"email":"user{n}@example.com"}},"dataFields":{{"FIRSTNAME":"First{n}","LASTNAME":"Bench","LTV":{},"VIP":{}}},"channelProperties":{{"email":{{"status":"subscribed"}}}},"lists":[345579]}}"#,
            serde_json::Number::from_f64(n as f64 * 0.5).expect("finite"),
            n.is_multiple_of(2)
        )
        .expect("write");
    }
    b.extend_from_slice(b"]}");
    b
}

/// User + system CPU time of this process (Linux `/proc/self/stat`; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}
