//! Kill safety: a child process (this test binary, re-run with an environment variable) commits
//! in a loop and is killed with SIGKILL at varying points; the state must then open (the lock
//! released by the OS), pass SQLite's integrity check, and hold every batch fully or not at all,
//! including every batch and journal intent the child reported as done.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dotsync_state::{JournalState, KeyedRow, RowChange, StateStore};

const CHILD_DIR: &str = "DOTSYNC_STATE_TEST_KILL_DIR";
const CHILD_START: &str = "DOTSYNC_STATE_TEST_KILL_START";
const BATCH: u64 = 400;
/// Row hash of a batch's rows once the next batch has rewritten them.
const REWRITTEN: u64 = 1 << 40;

fn key(batch: u64, j: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&(batch * BATCH + j).to_le_bytes())
}

fn batch_rows(batch: u64, row_hash: u64) -> Vec<KeyedRow> {
    (0..BATCH)
        .map(|j| KeyedRow {
            key_hash: key(batch, j),
            key_text: format!("{batch}-{j}"),
            row_hash,
        })
        .collect()
}

/// The child: commits batch `b` (new keys) together with a rewrite of batch `b - 1`, merges the
/// commit log every third batch, then journals a send for `b` (marked sent for even `b`),
/// forever, reporting progress on stdout.
#[test]
#[ignore = "helper: runs only as the child process of kill_9_at_random_points_leaves_a_consistent_state"]
fn child_commit_loop() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let start: u64 = std::env::var(CHILD_START).unwrap().parse().unwrap();
    let mut store = StateStore::open(Path::new(&dir)).unwrap();
    store.begin_run(&["kill"]).unwrap();
    let mut s = store.sync("kill", "fingerprint").unwrap();
    for b in start.. {
        let mut delivered = batch_rows(b, b);
        if b > start {
            delivered.extend(batch_rows(b - 1, (b - 1) | REWRITTEN));
        }
        s.commit(&delivered, &[], &[]).unwrap();
        println!("committed {b}");
        if b % 3 == 0 {
            // Merge the commit log into the row table now and then, so kills land in merges
            // too (otherwise the next open merges it).
            s.flush().unwrap();
        }
        let entry = s.journal_intend(&format!("send-{b}"), "digest").unwrap();
        println!("intended {b}");
        if b % 2 == 0 {
            s.journal_mark(entry.id, JournalState::Sent, "ok").unwrap();
            println!("marked {b}");
        }
    }
}

#[test]
fn kill_9_at_random_points_leaves_a_consistent_state() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut committed = BTreeSet::new();
    let mut intended = BTreeSet::new();
    let mut marked = BTreeSet::new();
    let mut start = 0u64;
    // Different delays after the child reports progress, so the kill lands in different
    // places: inside a commit, between commit and journal, inside a journal fsync, ...
    for (round, delay_us) in [0u64, 150, 700, 1900, 3300, 5200].into_iter().enumerate() {
        let mut child = Command::new(&exe)
            .args([
                "kill::child_commit_loop",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_START, start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let want = 3 + round as u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen_commits = 0;
        let mut last = start;
        let mut record = |line: &str| {
            let mut parts = line.split_whitespace();
            let (Some(what), Some(n)) = (parts.next(), parts.next()) else {
                return false;
            };
            let Ok(n) = n.parse::<u64>() else {
                return false;
            };
            match what {
                "committed" => {
                    committed.insert(n);
                    last = last.max(n);
                    true
                }
                "intended" => {
                    intended.insert(n);
                    false
                }
                "marked" => {
                    marked.insert(n);
                    false
                }
                _ => false,
            }
        };
        for line in lines.by_ref() {
            if record(&line.unwrap()) {
                seen_commits += 1;
                if seen_commits >= want {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "child made no progress");
        }
        std::thread::sleep(Duration::from_micros(delay_us));
        child.kill().unwrap(); // SIGKILL on Unix
        // Whatever the child printed before it died was done before it died.
        for line in lines {
            match line {
                Ok(line) => {
                    record(&line);
                }
                Err(_) => break,
            }
        }
        let status = child.wait().unwrap();
        assert!(!status.success(), "child was killed");
        assert!(seen_commits >= want, "round {round}: child reported too little");

        verify(dir.path(), start, last + 2, &committed, &intended, &marked);
        start = last + 10;
    }
}

fn verify(
    dir: &Path,
    first: u64,
    end: u64,
    committed: &BTreeSet<u64>,
    intended: &BTreeSet<u64>,
    marked: &BTreeSet<u64>,
) {
    // Opens: the dead child's lock was released by the OS.
    let mut store = StateStore::open(dir).expect("state opens after kill -9");
    assert_eq!(store.integrity_check().unwrap(), Vec::<String>::new());
    let mut s = store.sync("kill", "fingerprint").unwrap();
    assert_eq!(s.drift(), None);
    for b in first..=end {
        let plain = s.classify(&batch_rows(b, b)).unwrap();
        let rewritten = s.classify(&batch_rows(b, b | REWRITTEN)).unwrap();
        let all = |v: &[RowChange], c: RowChange| v.iter().all(|x| *x == c);
        let absent = all(&plain, RowChange::New);
        let present = all(&plain, RowChange::Unchanged) || all(&rewritten, RowChange::Unchanged);
        assert!(
            absent || present,
            "batch {b} is partly committed: {} of {} rows unchanged",
            plain.iter().filter(|c| **c == RowChange::Unchanged).count()
                + rewritten.iter().filter(|c| **c == RowChange::Unchanged).count(),
            BATCH
        );
        if committed.contains(&b) {
            assert!(present, "batch {b} was reported committed but is missing");
        }
    }
    for b in intended.iter().filter(|b| (first..=end).contains(*b)) {
        let entry = s
            .journal_lookup(&format!("send-{b}"))
            .unwrap()
            .unwrap_or_else(|| panic!("intent {b} was reported durable but is missing"));
        if marked.contains(b) {
            assert_eq!(entry.state, JournalState::Sent);
        }
        if b % 2 == 1 {
            assert_eq!(entry.state, JournalState::Intended);
        }
        // The next run never gets permission to send it again.
        assert!(!s.journal_intend(&format!("send-{b}"), "digest").unwrap().newly_intended);
    }
    let unresolved = s.journal_unresolved().unwrap();
    assert!(
        unresolved
            .iter()
            .all(|e| !marked.contains(&e.send_key[5..].parse::<u64>().unwrap()))
    );
}
