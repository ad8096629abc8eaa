//! Saving and loading the emulator state as JSON.

use crate::error::EmulatorError;
use crate::state::World;
use serde::{Deserialize, Serialize};
use std::path::Path;

const FORMAT: u32 = 1;

#[derive(Serialize)]
struct FileOut<'a> {
    format: u32,
    world: &'a World,
}

#[derive(Deserialize)]
struct FileIn {
    format: u32,
    world: World,
}

/// Serialises the state (call with the world lock held, then write without it).
pub(crate) fn to_bytes(w: &World) -> Result<Vec<u8>, EmulatorError> {
    serde_json::to_vec(&FileOut {
        format: FORMAT,
        world: w,
    })
    .map_err(|e| EmulatorError::Server(format!("cannot serialise state: {e}")))
}

/// Writes atomically (temporary file + rename).
pub(crate) async fn write(path: &Path, bytes: Vec<u8>) -> Result<(), EmulatorError> {
    let path = path.to_path_buf();
    let tmp = path.with_extension("tmp");
    let io = |source| EmulatorError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    tokio::fs::rename(&tmp, &path).await.map_err(io)
}

/// Loads a state file written by [`to_bytes`].
pub(crate) fn load(path: &Path) -> Result<World, EmulatorError> {
    let text = std::fs::read(path).map_err(|source| EmulatorError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let f: FileIn = serde_json::from_slice(&text).map_err(|source| EmulatorError::Format {
        path: path.to_path_buf(),
        source,
    })?;
    if f.format != FORMAT {
        return Err(EmulatorError::Config(format!(
            "{} has unsupported format {}",
            path.display(),
            f.format
        )));
    }
    let mut w = f.world;
    w.rebuild();
    Ok(w)
}
