//! The run's set of key hashes (one per accepted row, to refuse a key's second row), kept small:
//! a run of ten million rows must not hold a general-purpose hash table of ten million entries,
//! which costs 9 bytes a slot at a load of 44–88 % and briefly twice that while it grows.
//!
//! Hashes first go into a hash table (of a million at first). When it fills, its hashes are
//! sorted and merged into a sorted array that stores each hash in 6 bytes: the top 16 bits are
//! implied by the hash's bucket (an index of where each of the 65,536 buckets ends), only the low
//! 48 bits are stored. The merge works in place from the back, so it needs no second copy of the
//! array. Membership is exact for the 64-bit hashes: nothing is dropped or approximated.
//!
//! Both parts are megabytes read at random, so a lookup costs cache misses, not instructions:
//! [`CompactKeySet::probe`] looks a block of hashes up together, touching the lines it will read
//! first, and a hash is searched from where the bucket's uniform spread puts it rather than by
//! halving the bucket.

/// The hash's bits that select its bucket in the sorted array (and are not stored).
use dotdigital_shared::PrehashedMap;

const BUCKET_BITS: u32 = 16;
const BUCKETS: usize = 1 << BUCKET_BITS;
const REMAINDER_BITS: u32 = 64 - BUCKET_BITS;
const REMAINDER_MASK: u64 = (1 << REMAINDER_BITS) - 1;
/// The smallest the recent table gets before a merge. Runs of up to about a million keys never
/// merge: each lookup then reads one table slot instead of a slot, a bucket end and a bucket
/// (three cache misses), and no merge moves the array; the table costs 16 MiB once that full.
/// Larger sources get the host's key pre-pass (see [`SeenKeys`]), so this is also the most keys
/// a run keeps when its source can be read twice.
pub const MIN_RECENT: usize = 1 << 20;
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
#[derive(Debug)]
pub struct CompactKeySet {
    /// Hashes not merged yet.
    recent: RecentHashes,
    /// How many hashes `recent` takes before a merge.
    recent_limit: usize,
    /// The least `recent_limit` gets ([`MIN_RECENT`] outside tests).
    min_recent: usize,
    /// The merged hashes, sorted, bucket by bucket.
    remainders: Vec<Remainder>,
    /// Where each bucket ends in `remainders` (empty until the first merge). A `u32` is enough:
    /// a run holds far fewer than four billion rows.
    bucket_ends: Vec<u32>,
}

impl CompactKeySet {
    pub fn new() -> Self {
        Self::with_min_recent(MIN_RECENT)
    }

    fn with_min_recent(min_recent: usize) -> Self {
        CompactKeySet {
            recent: RecentHashes::with_capacity(min_recent),
            recent_limit: min_recent,
            min_recent,
            remainders: Vec::new(),
            bucket_ends: Vec::new(),
        }
    }

    /// How many hashes the set holds.
    pub fn len(&self) -> usize {
        self.recent.len + self.remainders.len()
    }

    pub fn contains(&self, hash: u64) -> bool {
        self.recent.contains(hash) || self.merged_contains(hash)
    }

    /// Adds `hash`; returns whether it was new.
    pub fn insert(&mut self, hash: u64) -> bool {
        if self.merged_contains(hash) || !self.recent.insert(hash) {
            return false;
        }
        if self.recent.len >= self.recent_limit {
            self.merge_recent();
        }
        true
    }

    /// Answers, for each of `hashes` (a block of rows' keys), whether the set holds it, into
    /// `known`. Looked up one at a time between two rows' encodings, each hash waits for its
    /// cache misses in turn; here every line the lookups read is touched first, in loops whose
    /// reads do not depend on each other, so the processor has many in flight at once. A merge
    /// that is due happens first, so the answers hold for
    /// [`insert_probed`](Self::insert_probed) until the next probe or insert.
    pub fn probe(&mut self, hashes: &[u64], known: &mut Vec<bool>) {
        if self.recent.len >= self.recent_limit {
            self.merge_recent();
        }
        let mut touched = 0u64;
        for &hash in hashes {
            touched = touched.wrapping_add(self.recent.slot_word(hash));
        }
        if !self.bucket_ends.is_empty() {
            for &hash in hashes {
                touched = touched.wrapping_add(u64::from(self.bucket_ends[bucket_of(hash)]));
            }
            for &hash in hashes {
                let bucket = &self.remainders[self.bucket_range(hash)];
                if let Some(guess) = bucket.get(guess_index(bucket.len(), hash)) {
                    touched = touched.wrapping_add(u64::from(guess[0]));
                }
            }
        }
        std::hint::black_box(touched);
        known.clear();
        known.extend(hashes.iter().map(|&hash| self.contains(hash)));
    }

    /// Adds a hash whose [`probe`](Self::probe) answered `false`, with no merge in between;
    /// returns whether it was new (it is not when an earlier hash of the block was the same).
    pub fn insert_probed(&mut self, hash: u64) -> bool {
        self.recent.insert(hash)
    }

    /// Where `hash`'s bucket lies in `remainders` (empty before the first merge).
    fn bucket_range(&self, hash: u64) -> std::ops::Range<usize> {
        let bucket = bucket_of(hash);
        let Some(&end) = self.bucket_ends.get(bucket) else {
            return 0..0;
        };
        let start = if bucket == 0 { 0 } else { self.bucket_ends[bucket - 1] };
        start as usize..end as usize
    }

    fn merged_contains(&self, hash: u64) -> bool {
        let bucket = &self.remainders[self.bucket_range(hash)];
        let wanted = hash & REMAINDER_MASK;
        if bucket.is_empty() {
            return false;
        }
        let value_at = |index: usize| remainder_value(&bucket[index]);
        let mut index = guess_index(bucket.len(), hash);
        if value_at(index) < wanted {
            while index + 1 < bucket.len() {
                index += 1;
                let value = value_at(index);
                if value >= wanted {
                    return value == wanted;
                }
            }
            return false;
        }
        while index > 0 && value_at(index - 1) >= wanted {
            index -= 1;
        }
        value_at(index) == wanted
    }

    /// Moves the recent hashes into the sorted array.
    fn merge_recent(&mut self) {
        let mut incoming = self.recent.take_all();
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

        self.recent_limit = self.min_recent.max(self.remainders.len() / RECENT_DIVISOR);
        self.recent = RecentHashes::with_capacity(self.recent_limit);
    }
}

/// Where a hash most likely sits in a sorted bucket of `len` remainders: hashes are spread
/// uniformly, so its remainder's share of the remainder range.
fn guess_index(len: usize, hash: u64) -> usize {
    ((u128::from(hash & REMAINDER_MASK) * len as u128) >> REMAINDER_BITS) as usize
}

/// An open-addressing table of hashes with linear probing (0 marks a free slot; the hash 0 is
/// held aside). Not a general-purpose set: written here so that [`CompactKeySet::probe`] can
/// touch the slot a lookup will read.
#[derive(Debug)]
struct RecentHashes {
    slots: Vec<u64>,
    len: usize,
    holds_zero: bool,
}

impl RecentHashes {
    /// A table that takes `capacity` hashes at a load of at most 3/4 without growing (it always
    /// has a free slot: lookups end).
    fn with_capacity(capacity: usize) -> Self {
        RecentHashes {
            slots: vec![0; (capacity * 4 / 3 + 1).next_power_of_two()],
            len: 0,
            holds_zero: false,
        }
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.slots.len() - 1)
    }

    /// The word in `hash`'s home slot (what a lookup reads first).
    fn slot_word(&self, hash: u64) -> u64 {
        self.slots[self.home(hash)]
    }

    fn contains(&self, hash: u64) -> bool {
        if hash == 0 {
            return self.holds_zero;
        }
        let mut index = self.home(hash);
        loop {
            match self.slots[index] {
                0 => return false,
                slot if slot == hash => return true,
                _ => index = (index + 1) & (self.slots.len() - 1),
            }
        }
    }

    /// Adds `hash`; returns whether it was new.
    fn insert(&mut self, hash: u64) -> bool {
        if hash == 0 {
            let new = !self.holds_zero;
            self.holds_zero = true;
            self.len += usize::from(new);
            return new;
        }
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mut index = self.home(hash);
        loop {
            match self.slots[index] {
                0 => {
                    self.slots[index] = hash;
                    self.len += 1;
                    return true;
                }
                slot if slot == hash => return false,
                _ => index = (index + 1) & (self.slots.len() - 1),
            }
        }
    }

    fn grow(&mut self) {
        let hashes = self.take_all();
        *self = RecentHashes::with_capacity((hashes.len() * 2).max(16));
        for hash in hashes {
            self.insert(hash);
        }
    }

    /// Returns the table's hashes, in no particular order, and leaves it empty and without
    /// slots: the callers replace it with a table of their size, so the old slots are freed, not
    /// cleared.
    fn take_all(&mut self) -> Vec<u64> {
        let mut hashes: Vec<u64> = self.slots.iter().copied().filter(|&slot| slot != 0).collect();
        if self.holds_zero {
            hashes.push(0);
        }
        *self = RecentHashes::with_capacity(0);
        hashes
    }
}

/// The keys a run has accepted, to refuse a key's second row: every key, or, once the host's
/// key pre-pass has named the hashes that repeat in the source, only the keys among those (any
/// other key comes once), so that memory no longer grows with the source.
#[derive(Debug)]
pub enum SeenKeys {
    All(CompactKeySet),
    /// Each repeating hash, and whether a row of it was accepted.
    Repeating(PrehashedMap<bool>),
}

impl SeenKeys {
    pub fn new() -> Self {
        SeenKeys::All(CompactKeySet::new())
    }

    /// Takes hashes of the pre-pass's repeating keys. Only before the first key is checked: the
    /// set then stops keeping every key.
    pub fn add_repeating(&mut self, hashes: impl IntoIterator<Item = u64>) -> Result<(), &'static str> {
        if let SeenKeys::All(all) = self {
            if all.len() > 0 {
                return Err("the repeated keys came after rows");
            }
            *self = SeenKeys::Repeating(PrehashedMap::default());
        }
        if let SeenKeys::Repeating(repeating) = self {
            repeating.extend(hashes.into_iter().map(|hash| (hash, false)));
        }
        Ok(())
    }

    /// See [`CompactKeySet::probe`].
    pub fn probe(&mut self, hashes: &[u64], known: &mut Vec<bool>) {
        match self {
            SeenKeys::All(all) => all.probe(hashes, known),
            SeenKeys::Repeating(repeating) => {
                known.clear();
                known.extend(hashes.iter().map(|hash| repeating.get(hash) == Some(&true)));
            }
        }
    }

    /// See [`CompactKeySet::insert_probed`].
    pub fn insert_probed(&mut self, hash: u64) -> bool {
        match self {
            SeenKeys::All(all) => all.insert_probed(hash),
            SeenKeys::Repeating(repeating) => match repeating.get_mut(&hash) {
                Some(accepted) => !std::mem::replace(accepted, true),
                None => true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// Small, so that the tests merge often without filling megabytes.
    const TEST_MIN_RECENT: usize = 1 << 15;

    #[test]
    fn remainders_round_trip_and_sort_like_hashes() {
        for hash in [0, 1, u64::MAX, 0x1234_5678_9abc_def0, 1 << 48, (1 << 48) - 1] {
            assert_eq!(hash_of(bucket_of(hash), &remainder_of(hash)), hash);
        }
        assert!(remainder_of(0x0000_0100_0000_0000) > remainder_of(0x0000_00ff_ffff_ffff));
    }

    #[test]
    fn a_hash_is_new_once_across_many_merges() {
        let mut set = CompactKeySet::with_min_recent(TEST_MIN_RECENT);
        // Spread over the buckets, and past several merges.
        let hashes: Vec<u64> = (0..(TEST_MIN_RECENT as u64 * 5))
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
        let mut set = CompactKeySet::with_min_recent(TEST_MIN_RECENT);
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

    /// Checks blocks the way the planner uses them: a probe, then `insert_probed` for each hash
    /// the probe did not know.
    fn check_blocks_against_btree(hashes: &[u64], block_len: usize) {
        let mut set = CompactKeySet::with_min_recent(TEST_MIN_RECENT);
        let mut expected = BTreeSet::new();
        let mut known = Vec::new();
        for block in hashes.chunks(block_len) {
            set.probe(block, &mut known);
            assert_eq!(known.len(), block.len());
            // The answers are as of before the block.
            let mut added_by_block = BTreeSet::new();
            for (&hash, &known) in block.iter().zip(&known) {
                let held_before = expected.contains(&hash) && !added_by_block.contains(&hash);
                assert_eq!(known, held_before, "{hash:#x} probed");
                let new = !known && set.insert_probed(hash);
                assert_eq!(new, expected.insert(hash), "{hash:#x} inserted");
                if new {
                    added_by_block.insert(hash);
                }
            }
        }
        assert_eq!(set.len(), expected.len());
    }

    #[test]
    fn probed_blocks_across_merges() {
        // Past several merges, with repeats inside blocks and across them.
        let hashes: Vec<u64> = (0..(TEST_MIN_RECENT as u64 * 3))
            .map(|i| (i % 200_000).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        check_blocks_against_btree(&hashes, 256);
    }

    #[test]
    fn the_recent_table_grows_and_gives_everything_back() {
        let mut table = RecentHashes::with_capacity(2);
        let hashes: Vec<u64> = (0..1000u64).map(|i| i << 40).collect();
        for &hash in &hashes {
            assert!(table.insert(hash));
            assert!(!table.insert(hash));
        }
        assert_eq!(table.len, hashes.len());
        assert!(hashes.iter().all(|&hash| table.contains(hash)));
        assert!(!table.contains(7));
        let mut back = table.take_all();
        back.sort_unstable();
        assert_eq!(back, hashes);
        assert_eq!(table.len, 0);
        assert!(!table.contains(0));
    }

    #[test]
    fn after_the_pre_pass_only_named_keys_are_remembered() {
        let mut seen = SeenKeys::new();
        seen.add_repeating([7, 9]).unwrap();
        let mut known = Vec::new();
        seen.probe(&[7, 8, 9], &mut known);
        assert_eq!(known, [false, false, false]);
        assert!(seen.insert_probed(7), "the first row of a repeating key is accepted");
        assert!(!seen.insert_probed(7), "its second row is not");
        seen.probe(&[7, 8], &mut known);
        assert_eq!(known, [true, false]);
        // A key the pre-pass did not name comes once: nothing is kept for it.
        assert!(seen.insert_probed(8));
        assert!(matches!(&seen, SeenKeys::Repeating(map) if map.len() == 2));
    }

    #[test]
    fn an_empty_pre_pass_still_stops_remembering_every_key() {
        let mut seen = SeenKeys::new();
        seen.add_repeating([]).unwrap();
        assert!(matches!(&seen, SeenKeys::Repeating(map) if map.is_empty()));
    }

    #[test]
    fn the_pre_pass_cannot_come_after_keys() {
        let mut seen = SeenKeys::new();
        let mut known = Vec::new();
        seen.probe(&[1], &mut known);
        assert!(seen.insert_probed(1));
        assert_eq!(seen.add_repeating([1]), Err("the repeated keys came after rows"));
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
            check_blocks_against_btree(&hashes, merge_every);
        }
    }
}
