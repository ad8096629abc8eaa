//! The run's set of key hashes (one per accepted row, to refuse a key's second row), kept small:
//! a run of ten million rows must not hold a general-purpose hash table of ten million entries,
//! which costs 9 bytes a slot at a load of 44–88 % and briefly twice that while it grows.
//!
//! Hashes first go into a small hash table. When it fills, its hashes are sorted and merged into a
//! sorted array that stores each hash in 6 bytes: the top 16 bits are implied by the hash's
//! bucket (an index of where each of the 65,536 buckets ends), only the low 48 bits are stored.
//! The merge works in place from the back, so it needs no second copy of the array. Membership is
//! exact for the 64-bit hashes: nothing is dropped or approximated.

use std::hash::BuildHasherDefault;

use dotdigital_shared::PrehashedSet;

/// The hash's bits that select its bucket in the sorted array (and are not stored).
const BUCKET_BITS: u32 = 16;
const BUCKETS: usize = 1 << BUCKET_BITS;
const REMAINDER_BITS: u32 = 64 - BUCKET_BITS;
/// The smallest the recent table gets before a merge: small runs never merge, and merges stay
/// rare at first.
const MIN_RECENT: usize = 1 << 17;
/// Above [`MIN_RECENT`], the recent table takes up to 1/`RECENT_DIVISOR` of the merged hashes:
/// larger means more merges (each moves the whole array), smaller means a larger table.
const RECENT_DIVISOR: usize = 8;

/// The stored part of a hash: its low 48 bits, big-endian, so that byte order is numeric order.
type Remainder = [u8; (REMAINDER_BITS / 8) as usize];

fn bucket_of(hash: u64) -> usize {
    (hash >> REMAINDER_BITS) as usize
}

fn remainder_of(hash: u64) -> Remainder {
    let bytes = hash.to_be_bytes();
    let mut remainder = Remainder::default();
    remainder.copy_from_slice(&bytes[(BUCKET_BITS / 8) as usize..]);
    remainder
}

/// The remainder as a number: comparing numbers is much cheaper than comparing byte arrays.
fn remainder_value(remainder: &Remainder) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[(BUCKET_BITS / 8) as usize..].copy_from_slice(remainder);
    u64::from_be_bytes(bytes)
}

fn hash_of(bucket: usize, remainder: &Remainder) -> u64 {
    ((bucket as u64) << REMAINDER_BITS) | remainder_value(remainder)
}

/// A grow-only, exact set of 64-bit key hashes at about 6 bytes a hash once large.
#[derive(Debug, Default)]
pub struct CompactKeySet {
    /// Hashes not merged yet.
    recent: PrehashedSet,
    /// How many hashes `recent` takes before a merge.
    recent_limit: usize,
    /// The merged hashes, sorted, bucket by bucket.
    remainders: Vec<Remainder>,
    /// Where each bucket ends in `remainders` (empty until the first merge). A `u32` is enough:
    /// a run holds far fewer than four billion rows.
    bucket_ends: Vec<u32>,
}

impl CompactKeySet {
    pub fn new() -> Self {
        CompactKeySet {
            recent: PrehashedSet::with_capacity_and_hasher(MIN_RECENT, BuildHasherDefault::default()),
            recent_limit: MIN_RECENT,
            remainders: Vec::new(),
            bucket_ends: Vec::new(),
        }
    }

    /// How many hashes the set holds.
    pub fn len(&self) -> usize {
        self.recent.len() + self.remainders.len()
    }

    pub fn contains(&self, hash: u64) -> bool {
        self.recent.contains(&hash) || self.merged_contains(hash)
    }

    /// Adds `hash`; returns whether it was new.
    pub fn insert(&mut self, hash: u64) -> bool {
        if self.merged_contains(hash) || !self.recent.insert(hash) {
            return false;
        }
        if self.recent.len() >= self.recent_limit {
            self.merge_recent();
        }
        true
    }

    fn merged_contains(&self, hash: u64) -> bool {
        let bucket = bucket_of(hash);
        let Some(&end) = self.bucket_ends.get(bucket) else {
            return false;
        };
        let start = if bucket == 0 { 0 } else { self.bucket_ends[bucket - 1] };
        let wanted = hash & ((1 << REMAINDER_BITS) - 1);
        self.remainders[start as usize..end as usize]
            .binary_search_by_key(&wanted, remainder_value)
            .is_ok()
    }

    /// Moves the recent hashes into the sorted array.
    fn merge_recent(&mut self) {
        let mut incoming: Vec<u64> = self.recent.drain().collect();
        incoming.sort_unstable();
        if self.bucket_ends.is_empty() {
            self.bucket_ends = vec![0; BUCKETS];
        }
        let old_len = self.remainders.len();
        self.remainders.resize(old_len + incoming.len(), Remainder::default());

        // Merge from the back: every write lands at or after the element it overwrites.
        let mut write = self.remainders.len();
        let mut unmoved = old_len;
        let mut bucket = BUCKETS - 1;
        let merged_hash = |index: usize, bucket: &mut usize, remainders: &[Remainder]| {
            while *bucket > 0 && self.bucket_ends[*bucket - 1] as usize > index {
                *bucket -= 1;
            }
            hash_of(*bucket, &remainders[index])
        };
        for &hash in incoming.iter().rev() {
            while unmoved > 0 && merged_hash(unmoved - 1, &mut bucket, &self.remainders) > hash {
                unmoved -= 1;
                write -= 1;
                self.remainders[write] = self.remainders[unmoved];
            }
            write -= 1;
            self.remainders[write] = remainder_of(hash);
        }

        let mut added = 0u32;
        let mut incoming = incoming.iter().peekable();
        for (bucket, end) in self.bucket_ends.iter_mut().enumerate() {
            while incoming.next_if(|&&hash| bucket_of(hash) == bucket).is_some() {
                added += 1;
            }
            *end += added;
        }

        self.recent_limit = MIN_RECENT.max(self.remainders.len() / RECENT_DIVISOR);
        self.recent = PrehashedSet::with_capacity_and_hasher(self.recent_limit, BuildHasherDefault::default());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn remainders_round_trip_and_sort_like_hashes() {
        for hash in [0, 1, u64::MAX, 0x1234_5678_9abc_def0, 1 << 48, (1 << 48) - 1] {
            assert_eq!(hash_of(bucket_of(hash), &remainder_of(hash)), hash);
        }
        assert!(remainder_of(0x0000_0100_0000_0000) > remainder_of(0x0000_00ff_ffff_ffff));
    }

    #[test]
    fn a_hash_is_new_once_across_many_merges() {
        let mut set = CompactKeySet::new();
        // Spread over every bucket, and past several merges.
        let hashes: Vec<u64> = (0..(MIN_RECENT as u64 * 5))
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        for &hash in &hashes {
            assert!(set.insert(hash), "{hash:#x} is new");
        }
        assert!(!set.remainders.is_empty(), "merged at least once");
        assert_eq!(set.len(), hashes.len());
        for &hash in &hashes {
            assert!(set.contains(hash));
            assert!(!set.insert(hash), "{hash:#x} was seen");
        }
        assert!(!set.contains(1), "never inserted");
        assert_eq!(set.len(), hashes.len());
        let merged: Vec<u64> = (0..set.remainders.len())
            .map(|index| {
                let bucket = set.bucket_ends.partition_point(|&end| end as usize <= index);
                hash_of(bucket, &set.remainders[index])
            })
            .collect();
        assert!(merged.windows(2).all(|pair| pair[0] < pair[1]), "sorted and distinct");
    }

    fn check_against_btree(hashes: &[u64], merge_every: usize) {
        let mut set = CompactKeySet::new();
        let mut expected = BTreeSet::new();
        for (index, &hash) in hashes.iter().enumerate() {
            assert_eq!(set.insert(hash), expected.insert(hash));
            if (index + 1) % merge_every == 0 {
                set.merge_recent();
            }
        }
        assert_eq!(set.len(), expected.len());
        for &hash in hashes {
            assert!(set.contains(hash));
            assert_eq!(
                set.contains(hash.wrapping_add(1)),
                expected.contains(&hash.wrapping_add(1))
            );
        }
    }

    proptest! {
        // Each case merges up to hundreds of times, each merge allocating a fresh recent table.
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn behaves_like_an_exact_set(
            // Few distinct values (duplicates), values close together (one bucket) and extremes.
            hashes in prop::collection::vec(
                prop_oneof![0u64..64, any::<u64>(), (0u64..8).prop_map(|n| u64::MAX - n), (0u64..16).prop_map(|n| n << 47)],
                0..400,
            ),
            merge_every in 1usize..50,
        ) {
            check_against_btree(&hashes, merge_every);
        }
    }
}
