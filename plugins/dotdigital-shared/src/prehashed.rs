//! Hash maps and sets keyed by values that are xxh3 hashes already (emails, contact keys):
//! hashing them again would only cost time, so the key is its own hash.

/// A map keyed by a 64-bit hash.
pub type PrehashedMap<V> = nohash_hasher::IntMap<u64, V>;
/// A set of 64-bit hashes.
pub type PrehashedSet = nohash_hasher::IntSet<u64>;
