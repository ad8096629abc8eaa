//! Planning throughput: 1,000,000 synthetic rows of 12 columns planned into contact import bodies
//! through the real vtable, with canned API responses. Run it optimised:
//!
//! ```sh
//! cargo run --release -p dotdigital-contacts --example plan_throughput [ROWS]
//! ```

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{Field, Schema};
use dotsync_plugin_sdk::{
    BatchKind, DynPlanner, Header, LoadedPlugin, Method, OutcomeStatus, PluginContext, Poll, ResponseView,
};

const BATCH_ROWS: usize = 8192;

const DATA_FIELDS: &str = r#"[
 {"name":"FIRSTNAME","type":"String"},{"name":"LASTNAME","type":"String"},{"name":"CITY","type":"String"},
 {"name":"AGE","type":"Numeric"},{"name":"LTV","type":"Numeric"},{"name":"BIRTHDAY","type":"Date"},
 {"name":"LASTORDER","type":"Date"},{"name":"VIP","type":"Boolean"},{"name":"SCORE","type":"Numeric"}]"#;

fn make_batch(start: usize, rows: usize) -> RecordBatch {
    const FIRST: [&str; 8] = ["Ann", "Bob", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal"];
    const LAST: [&str; 5] = ["Smith", "Jones", "O'Brien", "Müller", "Nakamura"];
    const CITY: [&str; 4] = ["London", "Leeds", "New York", "Zürich"];
    const STATUS: [&str; 3] = ["subscribed", "Subscribed", "unsubscribed"];
    let range = start..start + rows;
    let text =
        |f: &dyn Fn(usize) -> String| -> ArrayRef { Arc::new(StringArray::from_iter_values(range.clone().map(f))) };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("email", text(&|i| format!("customer.{i}@example.com"))),
        ("phone", text(&|i| format!("+4477{:08}", i))),
        ("first_name", text(&|i| FIRST[i % 8].to_owned())),
        ("last_name", text(&|i| LAST[i % 5].to_owned())),
        ("city", text(&|i| CITY[i % 4].to_owned())),
        (
            "age",
            Arc::new(Int64Array::from_iter_values(
                range.clone().map(|i| 18 + (i % 70) as i64),
            )),
        ),
        (
            "ltv",
            Arc::new(Float64Array::from_iter_values(
                range.clone().map(|i| (i % 10_000) as f64 * 1.25),
            )),
        ),
        (
            "birthday",
            Arc::new(Date32Array::from_iter_values(
                range.clone().map(|i| 3_000 + (i % 15_000) as i32),
            )),
        ),
        (
            "last_order",
            Arc::new(TimestampMillisecondArray::from_iter_values(
                range.clone().map(|i| 1_700_000_000_000 + i as i64 * 1_000),
            )),
        ),
        (
            "vip",
            Arc::new(BooleanArray::from_iter(range.clone().map(|i| Some(i % 3 == 0)))),
        ),
        ("score", text(&|i| format!("{}.{}", i % 100, i % 10))),
        ("email_status", text(&|i| STATUS[i % 3].to_owned())),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema, columns.into_iter().map(|(_, array)| array).collect()).expect("valid batch")
}

/// CPU seconds this thread has used (user + system), from `/proc`; `None` off Linux. The machine
/// may be shared, so CPU time is the fairer measure of planning cost than wall time.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let config = serde_json::json!({
        "identifiers": {"email": "email", "mobile_number": "phone"},
        "data_fields": {
            "FIRSTNAME": "first_name", "LASTNAME": "last_name", "CITY": "city", "AGE": "age", "LTV": "ltv",
            "BIRTHDAY": "birthday", "LASTORDER": "last_order", "VIP": "vip", "SCORE": "score"
        },
        "email_status": {"column": "email_status"},
        "lists": [42],
        "import_size": 10000,
        "poll_interval_ms": 1
    });
    let batches: Vec<RecordBatch> = (0..total)
        .step_by(BATCH_ROWS)
        .map(|start| make_batch(start, BATCH_ROWS.min(total - start)))
        .collect();
    let plugin = LoadedPlugin::from_static(dotdigital_contacts::plugin_descriptor()).expect("descriptor");
    let mut planner = plugin
        .create(&config.to_string(), &PluginContext::default())
        .expect("planner");

    let headers = [Header {
        name: "Content-Type",
        value: "application/json",
    }];
    let respond = |planner: &mut dyn DynPlanner, id, status, body: &[u8], now| {
        let view = ResponseView {
            status,
            headers: &headers,
            body,
        };
        planner.handle_response(id, &view, now).expect("response");
    };

    let cpu_started = thread_cpu_seconds();
    let started = Instant::now();
    let mut now = 0u64;
    let mut next = 0;
    let mut finished = false;
    let (mut imports, mut body_bytes, mut delivered, mut other) = (0usize, 0usize, 0usize, 0usize);
    loop {
        while next < batches.len() && planner.can_accept_batch().expect("accept") {
            planner
                .push_batch(next as u64, BatchKind::Upsert, batches[next].clone())
                .expect("push");
            next += 1;
        }
        if next == batches.len() && !finished {
            planner.finish().expect("finish");
            finished = true;
        }
        let mut sent_any = false;
        let done = loop {
            match planner.poll_request(now).expect("poll") {
                Poll::Ready(spec) => {
                    sent_any = true;
                    match (spec.method, spec.path.as_str()) {
                        (Method::Get, "/v2/data-fields") => {
                            respond(&mut planner, spec.id, 200, DATA_FIELDS.as_bytes(), now)
                        }
                        (Method::Put, _) => {
                            imports += 1;
                            body_bytes += spec.body.len();
                            let body = format!(r#"{{"importId":"i{imports}"}}"#);
                            respond(&mut planner, spec.id, 202, body.as_bytes(), now);
                        }
                        _ => respond(
                            &mut planner,
                            spec.id,
                            200,
                            br#"{"status":"Finished","failures":[]}"#,
                            now,
                        ),
                    }
                }
                Poll::Pending => break false,
                Poll::Done => break true,
            }
        };
        while let Some(outcomes) = planner.poll_outcomes().expect("outcomes") {
            for outcome in outcomes {
                if outcome.status == OutcomeStatus::Delivered {
                    delivered += 1;
                } else {
                    other += 1;
                }
            }
        }
        while planner.poll_released_slot().expect("slots").is_some() {}
        if done {
            break;
        }
        if !sent_any && let Some(at) = planner.poll_timeout().expect("timeout") {
            now = now.max(at);
            planner.handle_timeout(now).expect("timer");
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu_started.zip(thread_cpu_seconds()).map(|(start, end)| end - start);
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "planned {total} rows (12 columns) into {imports} imports, {:.1} MB of bodies, in {:.3} s wall: \
         {:.0} rows/s ({delivered} delivered, {other} other)",
        body_bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        rate
    );
    if let Some(cpu) = cpu.filter(|cpu| *cpu > 0.0) {
        println!("CPU time {cpu:.2} s: {:.0} rows per CPU-second", total as f64 / cpu);
    }
    assert_eq!(delivered + other, total, "every row has one outcome");
}
