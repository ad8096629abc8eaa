//! Sends in doubt, as `dotsync resolve` shows and settles them: sends a run journaled and never
//! saw answered (it stopped, or the answer was lost), which no run sends again. Once a person
//! has checked the destination, they are settled: confirmed sent (recorded as sent, skipped from
//! then on) or not sent (the next run sends them).

use dotsync_state::{KEY_SEPARATOR, StateError, StateStore};
use serde::Serialize;

use crate::error::RunError;

/// One send in doubt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendInDoubt {
    /// The sync that journaled it.
    pub sync: String,
    /// Its send key: the row's key, columns separated by commas.
    pub key: String,
    /// `intended` (no answer seen) or `sent` (answered, the outcome never recorded).
    pub state: &'static str,
    /// When it was journaled, RFC 3339.
    pub intended_at: String,
    /// The run that journaled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<i64>,
}

fn state_error(sync: &str, source: StateError) -> RunError {
    RunError::State {
        sync: Some(sync.to_owned()),
        source: Box::new(source),
    }
}

/// The sends in doubt of `syncs` (names; syncs no run recorded have none), oldest first per
/// sync.
pub fn sends_in_doubt(store: &mut StateStore, syncs: &[&str]) -> Result<Vec<SendInDoubt>, RunError> {
    let mut found = Vec::new();
    for &sync in syncs {
        let Some(mut state) = store.existing_sync(sync).map_err(|e| state_error(sync, e))? else {
            continue;
        };
        let entries = state.journal_in_doubt().map_err(|e| state_error(sync, e))?;
        found.extend(entries.into_iter().map(|entry| SendInDoubt {
            sync: sync.to_owned(),
            key: entry.send_key.replace(KEY_SEPARATOR, ","),
            state: entry.state.as_str(),
            intended_at: entry.intended_at.to_rfc3339(),
            run: entry.run.map(|run| run.0),
        }));
    }
    Ok(found)
}

/// Settles the send in doubt `key` of `sync` (`sent`: it went out; otherwise it did not and the
/// next run sends it). `key` is written as [`sends_in_doubt`] shows it.
pub fn resolve_send(store: &mut StateStore, sync: &str, key: &str, sent: bool) -> Result<(), RunError> {
    let Some(mut state) = store.existing_sync(sync).map_err(|e| state_error(sync, e))? else {
        return Err(state_error(
            sync,
            StateError::NotInDoubt {
                send_key: key.to_owned(),
                state: None,
            },
        ));
    };
    // A key of several columns is shown with commas; a one-column key may hold commas itself.
    let joined = key.replace(',', &KEY_SEPARATOR.to_string());
    let several_columns = key.contains(',')
        && state
            .journal_lookup(&joined)
            .map_err(|e| state_error(sync, e))?
            .is_some();
    let send_key = if several_columns { joined.as_str() } else { key };
    state
        .journal_resolve(send_key, sent)
        .map(drop)
        .map_err(|e| state_error(sync, e))
}
