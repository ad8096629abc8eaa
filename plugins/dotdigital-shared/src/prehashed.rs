//! Hash maps and sets keyed by values that are xxh3 hashes already (emails, contact keys):
//! hashing them again would only cost time.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Passes a `u64` key through as its own hash.
#[derive(Default, Clone, Copy)]
pub struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A map keyed by a 64-bit hash.
pub type PrehashedMap<V> = HashMap<u64, V, BuildHasherDefault<PrehashedKey>>;
/// A set of 64-bit hashes.
pub type PrehashedSet = HashSet<u64, BuildHasherDefault<PrehashedKey>>;
