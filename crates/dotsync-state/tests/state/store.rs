//! State store behaviour: lock, diffing, commit rules, drift, departed keys, membership,
//! journal, run history.

use std::collections::BTreeSet;

use arrow_schema::{DataType, Field, Schema};
use dotsync_state::{Fingerprint, JournalState, KeyedRow, RowChange, StateError, StateStore, StoredKey};

fn kr(key: u64, row: u64) -> KeyedRow {
    KeyedRow {
        key_hash: key,
        key_text: format!("key-{key}"),
        row_hash: row,
    }
}

fn fp(columns: &[(&str, DataType)], config: serde_json::Value) -> String {
    let mut f = Fingerprint::new("dotdigital-contacts").config(&config);
    for (n, t) in columns {
        f = f.column(n, t);
    }
    f.text()
}

fn default_fp() -> String {
    fp(
        &[("email", DataType::Utf8), ("ltv", DataType::Utf8)],
        serde_json::json!({"mode": "upsert"}),
    )
}

#[test]
fn second_opener_is_refused_with_pid_and_lock_is_released_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".dotsync");
    let first = StateStore::open(&state).unwrap();
    assert_eq!(first.dir(), state.as_path());
    assert!(state.join("state.sqlite").exists());

    let err = StateStore::open(&state).unwrap_err();
    match &err {
        StateError::Locked {
            dir,
            holder_pid,
            holder_run,
        } => {
            assert_eq!(dir, &state);
            assert_eq!(*holder_pid, Some(std::process::id()));
            assert_eq!(*holder_run, None, "the holder has not begun a run");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let msg = err.to_string();
    assert_eq!(
        msg,
        format!(
            "another dotsync run (pid {}) holds the state in {} (lock file {}); wait for it to finish",
            std::process::id(),
            state.display(),
            state.join("lock").display()
        )
    );

    drop(first);
    let again = StateStore::open(&state).expect("lock released after drop");
    drop(again);
}

#[test]
fn the_refusal_names_the_run_holding_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = StateStore::open(dir.path()).unwrap();
    let run = first.begin_run(&["contacts"]).unwrap();
    let message = StateStore::open(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains(&format!("pid {}, run {}, started ", std::process::id(), run.0)),
        "{message}"
    );
    first.finish_run(run, "{}").unwrap();
    let message = StateStore::open(dir.path()).unwrap_err().to_string();
    assert!(
        !message.contains(", run "),
        "a finished run is not the holder: {message}"
    );
}

#[test]
fn classify_new_changed_unchanged_and_rejected_across_commits() {
    classify_scenario(None);
}

/// The same with the in-memory snapshot off: every lookup goes to SQLite.
#[test]
fn classify_without_in_memory_snapshot() {
    classify_scenario(Some(0));
}

/// Snapshot limit 2: the first run's 3 rows fit the limit only until the commit.
#[test]
fn classify_with_snapshot_limit_crossed() {
    classify_scenario(Some(2));
}

#[test]
fn a_copy_decides_as_the_state_does_and_leaves_it_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    assert!(
        StateStore::open_copy(&state, &dir.path().join("copy-of-nothing"))
            .unwrap()
            .is_none(),
        "no database, no copy"
    );
    let mut store = StateStore::open(&state).unwrap();
    store
        .sync("contacts", &default_fp())
        .unwrap()
        .commit(&[kr(1, 10), kr(2, 20)], &[kr(5, 50)], &[])
        .unwrap();

    // Taken while the real state is open and locked, as during a run.
    let mut copy = StateStore::open_copy(&state, &dir.path().join("copy"))
        .unwrap()
        .expect("a copy");
    assert!(
        !StateStore::lock_is_free(&dir.path().join("copy")),
        "the copy is locked"
    );
    assert!(!StateStore::lock_is_free(&state));
    assert!(
        !StateStore::lock_is_free(&dir.path().join("copy-of-nothing")),
        "no lock file"
    );
    {
        let mut sync = copy.sync("contacts", &default_fp()).unwrap();
        let rows = [kr(1, 10), kr(2, 21), kr(3, 30), kr(5, 50)];
        assert_eq!(
            sync.classify(&rows).unwrap(),
            [
                RowChange::Unchanged,
                RowChange::Changed,
                RowChange::New,
                RowChange::UnchangedRejected
            ]
        );
        sync.commit(&rows[1..3], &[], &[]).unwrap();
        sync.flush().unwrap();
    }
    drop(copy);
    assert!(
        StateStore::lock_is_free(&dir.path().join("copy")),
        "released with the store"
    );

    let mut sync = store.sync("contacts", &default_fp()).unwrap();
    assert_eq!(
        sync.classify(&[kr(2, 21), kr(3, 30)]).unwrap(),
        [RowChange::Changed, RowChange::New],
        "what the copy recorded stays in the copy"
    );
}

fn classify_scenario(limit: Option<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let mut store = StateStore::open(dir.path()).unwrap();
        if let Some(limit) = limit {
            store.set_snapshot_limit(limit);
        }
        store
    };
    let mut store = open();
    let fp = default_fp();
    {
        let mut s = store.sync("contacts", &fp).unwrap();
        assert_eq!(s.drift(), None, "a new sync has no drift");
        let rows = vec![kr(1, 10), kr(2, 20), kr(3, 30)];
        assert_eq!(s.classify(&rows).unwrap(), vec![RowChange::New; 3]);
        // 1 and 2 delivered, 3 rejected.
        s.commit(&rows[..2], &rows[2..], &[]).unwrap();
    }
    drop(store);

    // Next run, new process (reopen).
    let mut store = open();
    store.begin_run(&["contacts"]).unwrap();
    let mut s = store.sync("contacts", &fp).unwrap();
    assert_eq!(s.drift(), None);
    let rows = vec![kr(1, 10), kr(2, 21), kr(3, 30), kr(4, 40)];
    assert_eq!(
        s.classify(&rows).unwrap(),
        vec![
            RowChange::Unchanged,
            RowChange::Changed,
            RowChange::UnchangedRejected,
            RowChange::New
        ]
    );
    // A rejected row that changed is sent again.
    assert_eq!(s.classify(&[kr(3, 31)]).unwrap(), vec![RowChange::Changed]);
    assert!(RowChange::Changed.needs_send() && RowChange::New.needs_send());
    assert!(!RowChange::Unchanged.needs_send() && !RowChange::UnchangedRejected.needs_send());

    // The changed row 3 is delivered now: it is unchanged afterwards.
    s.commit(&[kr(3, 31)], &[], &[]).unwrap();
    assert_eq!(s.classify(&[kr(3, 31)]).unwrap(), vec![RowChange::Unchanged]);
    // Removed keys are forgotten.
    s.commit(&[], &[], &[1]).unwrap();
    assert_eq!(s.classify(&[kr(1, 10)]).unwrap(), vec![RowChange::New]);
    assert_eq!(s.stored_count().unwrap(), 2);
}

/// The commit log is merged in one statement when it holds no removal and entry by entry when it
/// does: the same commits must leave the same state either way.
#[test]
fn logs_with_and_without_removals_merge_to_the_same_state() {
    let commits: Vec<(Vec<KeyedRow>, Vec<KeyedRow>)> = vec![
        (vec![kr(1, 10), kr(2, 20)], vec![kr(3, 30)]),
        // The same keys again in the same run: rejected after delivered, delivered after rejected.
        (vec![kr(3, 31)], vec![kr(1, 11)]),
        (vec![kr(2, 21), kr(4, 40)], vec![kr(5, 50)]),
        (vec![], vec![kr(2, 22)]),
    ];
    let state_after = |with_removal: bool| {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = StateStore::open(dir.path()).unwrap();
            let mut s = store.sync("s", &default_fp()).unwrap();
            for (delivered, rejected) in &commits {
                s.commit(delivered, rejected, &[]).unwrap();
            }
            if with_removal {
                s.commit(&[], &[], &[99]).unwrap();
            }
        }
        // A new process merges what the last one left in the log.
        let mut store = StateStore::open(dir.path()).unwrap();
        let mut s = store.sync("s", &default_fp()).unwrap();
        let probes: Vec<KeyedRow> = (1..=5)
            .flat_map(|key| [kr(key, key * 10), kr(key, key * 10 + 1), kr(key, key * 10 + 2)])
            .collect();
        (s.classify(&probes).unwrap(), s.stored_count().unwrap())
    };
    let merged_at_once = state_after(false);
    assert_eq!(merged_at_once, state_after(true));
    assert_eq!(merged_at_once.1, 5);
}

#[test]
fn classify_handles_extreme_hashes_and_keeps_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut s = store.sync("s", &default_fp()).unwrap();
    let rows = [kr(u64::MAX, 1), kr(0, 2), kr(1 << 63, 3), kr(5, 4)];
    s.commit(&rows[..3], &[], &[]).unwrap();
    let check = vec![kr(5, 4), kr(1 << 63, 3), kr(u64::MAX, 9), kr(0, 2)];
    assert_eq!(
        s.classify(&check).unwrap(),
        vec![
            RowChange::New,
            RowChange::Unchanged,
            RowChange::Changed,
            RowChange::Unchanged
        ]
    );
}

#[test]
fn failed_rows_are_not_committed_and_classify_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let fp = default_fp();
    let rows = vec![kr(1, 10), kr(2, 20)];
    {
        let mut s = store.sync("contacts", &fp).unwrap();
        assert_eq!(s.classify(&rows).unwrap(), vec![RowChange::New; 2]);
        // Row 2 failed (retries exhausted): only row 1 is committed.
        s.commit(&rows[..1], &[], &[]).unwrap();
    }
    let mut s = store.sync("contacts", &fp).unwrap();
    assert_eq!(s.classify(&rows).unwrap(), vec![RowChange::Unchanged, RowChange::New]);
    // A changed row whose send failed stays "changed" (the old hash is kept).
    s.commit(&rows, &[], &[]).unwrap();
    assert_eq!(s.classify(&[kr(2, 21)]).unwrap(), vec![RowChange::Changed]);
    // (failed again: nothing committed)
    assert_eq!(s.classify(&[kr(2, 21)]).unwrap(), vec![RowChange::Changed]);
}

#[test]
fn fingerprint_drift_invalidates_rows_and_explains() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let v1 = fp(
        &[("email", DataType::Utf8), ("ltv", DataType::Utf8)],
        serde_json::json!({"mode": "upsert", "list": "a"}),
    );
    let rows = vec![kr(1, 10), kr(2, 20)];
    {
        let mut s = store.sync("contacts", &v1).unwrap();
        s.commit(&rows, &[], &[]).unwrap();
        assert_eq!(s.classify(&rows).unwrap(), vec![RowChange::Unchanged; 2]);
    }
    // Same fingerprint: nothing changes.
    {
        let mut s = store.sync("contacts", &v1).unwrap();
        assert_eq!(s.drift(), None);
        assert_eq!(s.classify(&rows).unwrap(), vec![RowChange::Unchanged; 2]);
    }
    // Column retyped, column added, config field changed.
    let v2 = fp(
        &[
            ("email", DataType::Utf8),
            ("ltv", DataType::Float64),
            ("city", DataType::Utf8),
        ],
        serde_json::json!({"list": "a", "mode": "update"}),
    );
    {
        let mut s = store.sync("contacts", &v2).unwrap();
        let why = s.drift().expect("drift reported").to_owned();
        assert!(why.contains("column `ltv` changed type from Utf8 to Float64"), "{why}");
        assert!(why.contains("column `city` added (Utf8)"), "{why}");
        assert!(why.contains("config field `mode` changed"), "{why}");
        assert!(!why.contains("`list`"), "unchanged field not mentioned: {why}");
        assert!(!why.contains("update"), "config values never shown: {why}");
        // Same row hashes as before, but every row counts as changed now.
        assert_eq!(s.classify(&rows).unwrap(), vec![RowChange::Changed; 2]);
        // Row 1 is re-delivered under the new definition; row 2's send failed.
        s.commit(&rows[..1], &[], &[]).unwrap();
    }
    drop(store);
    // Crash-and-rerun: the new fingerprint is stored, so no drift is reported again, but the
    // row not yet re-delivered still counts as changed.
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut s = store.sync("contacts", &v2).unwrap();
    assert_eq!(s.drift(), None);
    assert_eq!(
        s.classify(&rows).unwrap(),
        vec![RowChange::Unchanged, RowChange::Changed]
    );
    drop(s);
    // A removed column is explained too.
    let v3 = fp(
        &[("email", DataType::Utf8), ("ltv", DataType::Float64)],
        serde_json::json!({"list": "a", "mode": "update"}),
    );
    let s = store.sync("contacts", &v3).unwrap();
    assert!(s.drift().unwrap().contains("column `city` removed"));
}

#[test]
fn forget_all_makes_every_row_changed_but_keeps_departed_tracking() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.begin_run(&["s"]).unwrap();
    let mut s = store.sync("s", &default_fp()).unwrap();
    let rows = vec![kr(1, 10), kr(2, 20)];
    s.commit(&rows, &[], &[]).unwrap();
    s.forget_all().unwrap();
    assert_eq!(s.classify(&rows).unwrap(), vec![RowChange::Changed; 2]);
    s.mark_seen(&rows[..1]).unwrap();
    let departed = s.departed(10).unwrap();
    assert_eq!(
        departed,
        vec![StoredKey {
            key_hash: 2,
            key_text: "key-2".into()
        }]
    );
    s.commit(&rows[..1], &[], &[]).unwrap();
    assert_eq!(s.classify(&rows[..1]).unwrap(), vec![RowChange::Unchanged]);
}

#[test]
fn departed_lists_delivered_keys_not_seen_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let fp = default_fp();
    store.begin_run(&["insight"]).unwrap();
    {
        let mut s = store.sync("insight", &fp).unwrap();
        let delivered: Vec<KeyedRow> = (1..=100).map(|k| kr(k, k * 10)).collect();
        // 101 and 102 rejected (never delivered); 103 delivered and later rejected in a new
        // version (the destination still has the old one).
        s.commit(&delivered, &[kr(101, 1), kr(102, 2)], &[]).unwrap();
        s.commit(&[kr(103, 3)], &[], &[]).unwrap();
        s.commit(&[], &[kr(103, 4)], &[]).unwrap();
    }
    store.begin_run(&["insight"]).unwrap();
    let mut s = store.sync("insight", &fp).unwrap();
    // This run's source has only the even keys up to 100 (and none of 101..103).
    let seen: Vec<KeyedRow> = (1..=100)
        .filter(|k| k % 2 == 0)
        .map(|k| KeyedRow {
            key_hash: k,
            key_text: String::new(),
            row_hash: k * 10,
        })
        .collect();
    s.mark_seen(&seen[..20]).unwrap();
    s.mark_seen(&seen[20..]).unwrap();
    s.mark_seen(&seen[..5]).unwrap(); // marking twice is harmless
    assert_eq!(s.seen_count().unwrap(), 50);

    let mut departed = Vec::new();
    let mut pages = 0;
    loop {
        let page = s.departed(7).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        pages += 1;
        // Commit the removal of some of them between pages: paging is unaffected.
        let removed: Vec<u64> = page.iter().take(3).map(|k| k.key_hash).collect();
        s.commit(&[], &[], &removed).unwrap();
        departed.extend(page);
    }
    let expected: BTreeSet<u64> = (1..=100).filter(|k| k % 2 == 1).chain([103]).collect();
    let got: BTreeSet<u64> = departed.iter().map(|k| k.key_hash).collect();
    assert_eq!(got, expected);
    assert_eq!(departed.len(), expected.len(), "no key returned twice");
    assert!(pages >= 8);
    assert!(departed.iter().all(|k| k.key_text == format!("key-{}", k.key_hash)));
    // Exhausted until reset.
    assert!(s.departed(7).unwrap().is_empty());
    s.reset_seen().unwrap();
    assert_eq!(s.seen_count().unwrap(), 0);
    // Everything still stored is departed now, except the never-delivered rejected keys.
    let all = s.departed(1000).unwrap();
    assert!(all.iter().all(|k| k.key_hash != 101 && k.key_hash != 102));
    assert!(all.iter().any(|k| k.key_hash == 2));
}

#[test]
fn merging_one_syncs_log_keeps_the_other_syncs_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.begin_run(&["a", "b"]).unwrap();
    store
        .sync("a", &default_fp())
        .unwrap()
        .commit(&[kr(1, 1), kr(2, 2)], &[], &[])
        .unwrap();
    store
        .sync("b", &default_fp())
        .unwrap()
        .commit(&[kr(3, 3), kr(4, 4), kr(5, 5)], &[], &[])
        .unwrap();
    // Counting merges a's log alone (the log then holds b's entries too); b's entries survive it.
    assert_eq!(store.sync("a", &default_fp()).unwrap().stored_count().unwrap(), 2);
    assert_eq!(store.sync("b", &default_fp()).unwrap().stored_count().unwrap(), 3);
    // With only its own entries left, a's log is emptied whole; b's rows stay stored.
    store
        .sync("a", &default_fp())
        .unwrap()
        .commit(&[kr(6, 6)], &[], &[])
        .unwrap();
    assert_eq!(store.sync("a", &default_fp()).unwrap().stored_count().unwrap(), 3);
    assert_eq!(store.sync("b", &default_fp()).unwrap().stored_count().unwrap(), 3);
}

#[test]
fn seen_keys_are_per_sync_and_cleared_by_begin_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.begin_run(&["a", "b"]).unwrap();
    {
        let mut a = store.sync("a", &default_fp()).unwrap();
        a.commit(&[kr(1, 1), kr(2, 2)], &[], &[]).unwrap();
        a.mark_seen(&[kr(1, 1)]).unwrap();
    }
    {
        let mut b = store.sync("b", &default_fp()).unwrap();
        b.commit(&[kr(1, 1)], &[], &[]).unwrap();
        // Key 1 was seen by sync a, not b.
        assert_eq!(b.departed(10).unwrap().len(), 1);
    }
    {
        let mut a = store.sync("a", &default_fp()).unwrap();
        let d = a.departed(10).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].key_hash, 2);
    }
    store.begin_run(&["a"]).unwrap();
    let mut a = store.sync("a", &default_fp()).unwrap();
    assert_eq!(a.seen_count().unwrap(), 0);
    assert_eq!(a.departed(10).unwrap().len(), 2);
}

#[test]
fn members_add_remove_count_and_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut s = store.sync("lists", &default_fp()).unwrap();
    let keys: Vec<StoredKey> = (1..=10)
        .map(|k| StoredKey {
            key_hash: k,
            key_text: format!("c{k}@example.com"),
        })
        .collect();
    s.members_add("list-1", &keys).unwrap();
    s.members_add("list-1", &keys[..3]).unwrap(); // idempotent
    s.members_add("list-2", &keys[..2]).unwrap();
    assert_eq!(s.member_count("list-1").unwrap(), 10);
    assert_eq!(s.member_count("list-2").unwrap(), 2);
    assert_eq!(s.member_count("list-3").unwrap(), 0);
    assert!(s.is_member("list-1", 7).unwrap());
    assert!(!s.is_member("list-2", 7).unwrap());

    s.members_remove("list-1", &[7, 8, 999]).unwrap();
    assert_eq!(s.member_count("list-1").unwrap(), 8);
    assert!(!s.is_member("list-1", 7).unwrap());
    assert!(s.is_member("list-2", 1).unwrap(), "other sets untouched");

    // Audience this run: keys 1..=5 → members 6, 9, 10 left.
    let seen: Vec<KeyedRow> = (1..=5).map(|k| kr(k, 0)).collect();
    s.mark_seen(&seen).unwrap();
    let first = s.members_not_seen("list-1", None, 2).unwrap();
    assert_eq!(first.iter().map(|k| k.key_hash).collect::<Vec<_>>(), vec![6, 9]);
    assert_eq!(first[0].key_text, "c6@example.com");
    let second = s.members_not_seen("list-1", Some(9), 2).unwrap();
    assert_eq!(second.iter().map(|k| k.key_hash).collect::<Vec<_>>(), vec![10]);
    drop(s);
    drop(store);
    // Membership persists.
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut s = store.sync("lists", &default_fp()).unwrap();
    assert_eq!(s.member_count("list-1").unwrap(), 8);
}

#[test]
fn journal_intent_survives_a_crash_and_is_never_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let fp = default_fp();
    let (sent_id, crashed_id);
    {
        let mut store = StateStore::open(dir.path()).unwrap();
        let run = store.begin_run(&["programs"]).unwrap();
        let mut s = store.sync("programs", &fp).unwrap();
        let a = s.journal_intend("enrol:p1:batch-1", "digest-a").unwrap();
        assert!(a.newly_intended);
        assert_eq!(a.state, JournalState::Intended);
        assert_eq!(a.run, Some(run));
        s.journal_mark(a.id, JournalState::Sent, "enrolment 123").unwrap();
        sent_id = a.id;
        let b = s.journal_intend("enrol:p1:batch-2", "digest-b").unwrap();
        assert!(b.newly_intended);
        crashed_id = b.id;
        // The process dies here: no mark, no finish_run.
    }
    let mut store = StateStore::open(dir.path()).unwrap();
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].finished_at, None, "the crashed run never finished");
    store.begin_run(&["programs"]).unwrap();
    let mut s = store.sync("programs", &fp).unwrap();
    let unresolved = s.journal_unresolved().unwrap();
    assert_eq!(unresolved.len(), 1);
    assert_eq!(unresolved[0].id, crashed_id);
    assert_eq!(unresolved[0].send_key, "enrol:p1:batch-2");
    assert_eq!(unresolved[0].request_digest, "digest-b");
    assert!(!unresolved[0].newly_intended);

    // The next run would send the same batch again: the journal says no.
    let again = s.journal_intend("enrol:p1:batch-2", "digest-b").unwrap();
    assert!(!again.newly_intended, "an uncertain send is never sent again");
    assert_eq!(again.state, JournalState::Intended);
    assert_eq!(again.id, crashed_id);
    let done = s.journal_intend("enrol:p1:batch-1", "digest-a").unwrap();
    assert!(!done.newly_intended);
    assert_eq!(done.state, JournalState::Sent);
    assert_eq!(done.detail, "enrolment 123");
    assert_eq!(done.id, sent_id);
    assert!(done.resolved_at.is_some());

    assert_eq!(
        s.journal_lookup("enrol:p1:batch-1").unwrap().unwrap().state,
        JournalState::Sent
    );
    assert!(s.journal_lookup("nope").unwrap().is_none());
}

#[test]
fn journal_intend_is_idempotent_and_marks_follow_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut s = store.sync("messages", &default_fp()).unwrap();
    let e = s.journal_intend("msg:42", "d1").unwrap();
    assert!(e.newly_intended);
    let e2 = s.journal_intend("msg:42", "d2-different").unwrap();
    assert!(!e2.newly_intended);
    assert_eq!(e2.id, e.id);
    assert_eq!(e2.request_digest, "d1", "existing entry returned unchanged");

    // Failed (provably not sent) → can be re-armed and sent later.
    s.journal_mark(e.id, JournalState::Failed, "400 bad address").unwrap();
    assert!(s.journal_unresolved().unwrap().is_empty());
    let failed = s.journal_intend("msg:42", "d1").unwrap();
    assert_eq!(failed.state, JournalState::Failed);
    assert!(!failed.newly_intended);
    let rearmed = s.journal_rearm(e.id, "d3").unwrap();
    assert!(rearmed.newly_intended);
    assert_eq!(rearmed.state, JournalState::Intended);
    assert_eq!(rearmed.request_digest, "d3");
    s.journal_mark(e.id, JournalState::Sent, "ok").unwrap();
    s.journal_mark(e.id, JournalState::Sent, "ok").unwrap(); // same state: no-op
    // Sent is final.
    assert!(matches!(
        s.journal_mark(e.id, JournalState::Failed, "x"),
        Err(StateError::JournalTransition { .. })
    ));
    assert!(matches!(
        s.journal_rearm(e.id, "d4"),
        Err(StateError::JournalTransition { .. })
    ));
    assert!(matches!(
        s.journal_mark(9999, JournalState::Sent, ""),
        Err(StateError::NotFound { .. })
    ));
    drop(s);
    // Journal entries belong to their sync.
    let mut other = store.sync("other", &default_fp()).unwrap();
    assert!(other.journal_lookup("msg:42").unwrap().is_none());
    assert!(other.journal_intend("msg:42", "d").unwrap().newly_intended);
}

#[test]
fn run_history_records_reports_and_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let r1 = store.begin_run(&["a", "b"]).unwrap();
    store.finish_run(r1, r#"{"delivered":3}"#).unwrap();
    let r2 = store.begin_run(&["a"]).unwrap();
    drop(store); // crash
    let mut store = StateStore::open(dir.path()).unwrap();
    let r3 = store.begin_run(&["b"]).unwrap();
    store.finish_run(r3, "{}").unwrap();
    let runs = store.recent_runs(10).unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r3, r2, r1]);
    assert_eq!(runs[2].syncs, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(runs[2].report_json.as_deref(), Some(r#"{"delivered":3}"#));
    assert!(runs[2].finished_at.unwrap() >= runs[2].started_at);
    assert_eq!(runs[1].finished_at, None);
    assert_eq!(runs[1].report_json, None);
    assert_eq!(runs[1].pid, std::process::id());
    assert_eq!(store.recent_runs(1).unwrap().len(), 1);
    assert!(matches!(
        store.finish_run(dotsync_state::RunId(12345), "{}"),
        Err(StateError::NotFound { .. })
    ));
    assert_eq!(store.sync_names().unwrap(), Vec::<String>::new(), "no sync opened yet");
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(StateStore::open(dir.path()).unwrap());
    let conn = rusqlite_conn(&dir.path().join("state.sqlite"));
    conn.execute("UPDATE schema_version SET version = 99", []).unwrap();
    drop(conn);
    let err = StateStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StateError::SchemaTooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer than this dotsync supports"));
}

fn rusqlite_conn(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn fingerprint_text_is_stable_and_explains_only_differences() {
    let schema = Schema::new(vec![
        Field::new("email", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
    ]);
    let a = Fingerprint::new("p")
        .config(&serde_json::json!({"b": {"y": 1, "x": 2}, "a": 1}))
        .schema(&schema)
        .text();
    let b = Fingerprint::new("p")
        .config(&serde_json::json!({"a": 1, "b": {"x": 2, "y": 1}}))
        .schema(&schema)
        .text();
    assert_eq!(a, b, "config key order does not matter");
    assert!(a.contains("Timestamp(ms, UTC)"));
    let c = Fingerprint::new("q").schema(&schema).text();
    let why = dotsync_state::explain_drift(&a, &c);
    assert!(why.contains("plugin changed from `p` to `q`"), "{why}");
    assert!(why.contains("config field `a` removed"), "{why}");
    let generic = dotsync_state::explain_drift("raw-1", "raw-2");
    assert!(!generic.contains("raw"), "{generic}");
}

#[test]
fn journal_batches_write_and_mark_many_sends_and_commits_resolve_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    store.begin_run(&["programs"]).unwrap();
    let mut s = store.sync("programs", "fp").unwrap();
    assert_eq!(s.journal_len().unwrap(), 0);
    let entries = s.journal_intend_many(&[("a", "d1"), ("b", "d1")]).unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e.newly_intended && e.state == JournalState::Intended)
    );
    let again = s.journal_intend_many(&[("b", "d2"), ("c", "d2")]).unwrap();
    assert!(!again[0].newly_intended, "an existing entry is returned as it is");
    assert_eq!(again[0].request_digest, "d1");
    assert!(again[1].newly_intended);
    assert_eq!(s.journal_len().unwrap(), 3);

    let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
    s.journal_mark_many(&ids, JournalState::Sent, "HTTP 202").unwrap();
    assert_eq!(s.journal_lookup("a").unwrap().unwrap().state, JournalState::Sent);
    assert!(
        s.journal_mark_many(&[again[1].id, ids[0]], JournalState::Failed, "x")
            .is_err(),
        "a sent entry cannot become failed"
    );
    assert_eq!(
        s.journal_lookup("c").unwrap().unwrap().state,
        JournalState::Intended,
        "all or nothing"
    );

    s.commit_resolving(&[kr(1, 1)], &[kr(2, 2)], &[], &["a", "b"]).unwrap();
    assert_eq!(s.journal_len().unwrap(), 1, "only `c` is still in doubt");
    assert_eq!(s.journal_unresolved().unwrap()[0].send_key, "c");
    assert_eq!(
        s.classify(&[kr(1, 1), kr(2, 2)]).unwrap(),
        vec![RowChange::Unchanged, RowChange::UnchangedRejected]
    );
}

#[test]
fn sends_in_doubt_are_resolved_by_hand_under_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(dir.path()).unwrap();
    let mut s = store.sync("messages", &default_fp()).unwrap();
    let intended = s.journal_intend("msg:1", "d").unwrap();
    let answered = s.journal_intend("msg:2", "d").unwrap();
    s.journal_mark(answered.id, JournalState::Sent, "HTTP 202").unwrap();
    let refused = s.journal_intend("msg:3", "d").unwrap();
    s.journal_mark(refused.id, JournalState::Failed, "HTTP 400").unwrap();
    s.journal_intend("msg:4", "d").unwrap();
    drop(s);

    // A maintenance command opens the sync as it is, without its fingerprint.
    assert!(store.existing_sync("nobody").unwrap().is_none());
    let mut s = store.existing_sync("messages").unwrap().unwrap();
    let keys = |entries: Vec<dotsync_state::JournalEntry>| -> Vec<String> {
        entries.into_iter().map(|e| e.send_key).collect()
    };
    assert_eq!(keys(s.journal_in_doubt().unwrap()), ["msg:1", "msg:2", "msg:4"]);

    let not_sent = s.journal_resolve("msg:1", false).unwrap();
    assert_eq!((not_sent.id, not_sent.state), (intended.id, JournalState::Failed));
    assert_eq!(s.journal_resolve("msg:2", true).unwrap().state, JournalState::Confirmed);
    assert_eq!(s.journal_resolve("msg:4", true).unwrap().state, JournalState::Confirmed);
    assert!(s.journal_in_doubt().unwrap().is_empty());

    let mut message = |key: &str, sent: bool| s.journal_resolve(key, sent).unwrap_err().to_string();
    assert_eq!(
        message("msg:9", true),
        "no send in doubt has the key `msg:9` (its outcome may be recorded already)"
    );
    assert_eq!(
        message("msg:3", true),
        "the send with key `msg:3` is not in doubt: it is failed"
    );
    assert_eq!(
        message("msg:2", false),
        "the send with key `msg:2` is not in doubt: it is confirmed"
    );
    drop(s);
    // An answered send cannot be declared not sent.
    let mut s = store.sync("answered", &default_fp()).unwrap();
    let e = s.journal_intend("msg:5", "d").unwrap();
    s.journal_mark(e.id, JournalState::Sent, "HTTP 202").unwrap();
    assert_eq!(
        s.journal_resolve("msg:5", false).unwrap_err().to_string(),
        "the destination answered the send with key `msg:5`: it was sent and cannot be declared not sent"
    );
}
