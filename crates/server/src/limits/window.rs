//! One budget's count over a sliding window cut into [`SLOTS`] time slots: what this node admitted in each
//! slot, and what the other nodes last said they admitted. Pure counting: callers give the time as a slot
//! number (milliseconds since the Unix epoch divided by the slot's length), so every node numbers alike.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

/// Slots per window. The window is the current slot and the `SLOTS - 1` before it, so it spans between
/// `SLOTS - 1` and `SLOTS` slot lengths: more slots follow a true sliding window more closely, and cost a
/// load each per admission.
pub const SLOTS: usize = 10;

/// A slot's count, at most this (a slot number and its count share one word).
const MAX_COUNT: u64 = u32::MAX as u64;

/// A ring of slots, each slot's number (its low 32 bits) and count packed in one word, so that a place moves on
/// to a new slot and counts in one atomic step. A place holding another slot counts as zero.
#[derive(Debug, Default)]
struct Ring([AtomicU64; SLOTS]);

fn place_of(slot: u64) -> usize {
    // The remainder is below SLOTS.
    (slot % SLOTS as u64) as usize
}

fn pack(slot: u64, count: u64) -> u64 {
    (slot << 32) | count.min(MAX_COUNT)
}

/// The count `word` holds for `slot`: zero if it holds another slot. Slot numbers are compared by their low
/// 32 bits; a place is overwritten long before a slot 2^32 later could be mistaken for its own.
fn count_in(word: u64, slot: u64) -> u64 {
    if word >> 32 == slot & 0xFFFF_FFFF { word & MAX_COUNT } else { 0 }
}

/// The count `word` holds if its slot is in the window ending with `slot`: one pass over a ring reads the
/// window without working out each slot's place.
fn in_window(word: u64, slot: u64) -> u64 {
    // Truncated to the 32 bits a word keeps of its slot number.
    let age = (slot as u32).wrapping_sub((word >> 32) as u32);
    if (age as usize) < SLOTS { word & MAX_COUNT } else { 0 }
}

impl Ring {
    /// The counts of the window ending with `slot`, but the place `except`'s.
    fn sum(&self, slot: u64, except: Option<usize>) -> u64 {
        let places = self.0.iter().enumerate().filter(|(place, _)| Some(*place) != except);
        places.map(|(_, word)| in_window(word.load(Ordering::Relaxed), slot)).sum()
    }

    fn count(&self, slot: u64) -> u64 {
        count_in(self.0[place_of(slot)].load(Ordering::Relaxed), slot)
    }

    fn set(&self, slot: u64, count: u64) {
        self.0[place_of(slot)].store(pack(slot, count), Ordering::Relaxed);
    }

    /// Replaces `slot`'s count by what `change` makes of it; `false` when `change` refuses (answers `None`).
    fn update(&self, slot: u64, change: impl Fn(u64) -> Option<u64>) -> bool {
        let place = &self.0[place_of(slot)];
        let mut word = place.load(Ordering::Relaxed);
        loop {
            let Some(count) = change(count_in(word, slot)) else { return false };
            match place.compare_exchange_weak(word, pack(slot, count), Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(current) => word = current,
            }
        }
    }
}

/// One budget of one vault or subscription, as this node sees it.
#[derive(Debug, Default)]
pub struct Window {
    /// What this node admitted, per slot.
    local: Ring,
    /// What the other nodes admitted, per slot: the sum of their latest reports.
    remote: Ring,
    /// What this node last reported of its own counts, so that only changes are sent.
    reported: Ring,
    /// The other nodes' latest reports, by node; only the change-feed follower takes this lock.
    peers: Mutex<PeerCounts>,
}

impl Window {
    /// Everything admitted in the window that ends with `slot`, on every node.
    pub fn used(&self, slot: u64) -> u64 {
        self.local.sum(slot, None) + self.remote.sum(slot, None)
    }

    fn both(&self, slot: u64) -> u64 {
        self.local.count(slot) + self.remote.count(slot)
    }

    /// Counts `cost` in `slot` if the window ending with it then holds at most `limit`; otherwise counts
    /// nothing (a refused request does not count, as in Key Vault) and says how many slot boundaries must pass
    /// before `cost` fits.
    pub fn admit(&self, slot: u64, cost: u64, limit: u64) -> Result<(), u64> {
        // The earlier slots and the other nodes' count of this one do not change under this node's requests;
        // this node's count of this slot is read and replaced in one step.
        let others = self.local.sum(slot, Some(place_of(slot))) + self.remote.sum(slot, None);
        let admitted = self.local.update(slot, |mine| (others + mine + cost <= limit).then_some(mine + cost));
        if admitted { Ok(()) } else { Err(self.wait(slot, cost, limit)) }
    }

    /// Counts `cost` more in `slot`, whatever the limit: what an admitted request turned out to weigh.
    pub fn add(&self, slot: u64, cost: u64) {
        self.local.update(slot, |mine| Some(mine.saturating_add(cost)));
    }

    /// Takes back `cost` counted in `slot` (a request another limit refused after this one admitted it).
    pub fn take_back(&self, slot: u64, cost: u64) {
        self.local.update(slot, |mine| Some(mine.saturating_sub(cost)));
    }

    /// How many slot boundaries must pass, from `slot`, until `cost` more fits under `limit`: the oldest slots
    /// leave the window first. At most [`SLOTS`] (then only this slot's own count is left).
    fn wait(&self, slot: u64, cost: u64, limit: u64) -> u64 {
        let oldest_first = (0..SLOTS as u64).rev().map(|back| self.both(slot.wrapping_sub(back)));
        let used: u64 = oldest_first.clone().sum();
        let excess = (used + cost).saturating_sub(limit);
        let mut freed = 0;
        for (boundaries, count) in (1..).zip(oldest_first) {
            freed += count;
            if freed >= excess {
                return boundaries;
            }
        }
        SLOTS as u64
    }

    /// This node's counts in the window ending with `slot` that changed since it last reported them, as
    /// `(slot, count)`, now taken as reported.
    pub fn unreported(&self, slot: u64) -> Vec<(u64, u64)> {
        let mut changed = Vec::new();
        for back in 0..SLOTS as u64 {
            let at = slot.wrapping_sub(back);
            let count = self.local.count(at);
            if count != self.reported.count(at) {
                self.reported.set(at, count);
                changed.push((at, count));
            }
        }
        changed
    }

    /// Forgets what was reported, so that the next report repeats every count (the last one may be lost).
    pub fn forget_reported(&self) {
        for place in &self.reported.0 {
            place.store(0, Ordering::Relaxed);
        }
    }

    /// Takes up `node`'s report of `count` in `slot`, at the time `now` (a slot number).
    pub fn take_up(&self, node: Uuid, slot: u64, count: u64, now: u64) {
        let mut peers = self.peers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(total) = peers.record(node, slot, count, now) {
            self.remote.set(slot, total);
        }
    }
}

/// The other nodes' latest counts, per node and slot.
#[derive(Debug, Default)]
struct PeerCounts(HashMap<Uuid, [(u64, u64); SLOTS]>);

impl PeerCounts {
    /// Records `node`'s `count` in `slot` at the time `now`, and answers every node's total for that slot; `None`
    /// when the report is outside the window, or older than what the node already said. A node's counts only
    /// grow within a slot, so a report that arrives late or twice changes nothing.
    fn record(&mut self, node: Uuid, slot: u64, count: u64, now: u64) -> Option<u64> {
        // A node whose clock runs a slot ahead is still heard; further ahead, or out of the window, it is not.
        if slot > now.saturating_add(1) || slot.saturating_add(SLOTS as u64) <= now {
            return None;
        }
        // Nodes with nothing in the window are gone, or idle: forgotten.
        self.0.retain(|_, slots| slots.iter().any(|(at, _)| at.saturating_add(SLOTS as u64) > now));
        let place = &mut self.0.entry(node).or_insert([(0, 0); SLOTS])[place_of(slot)];
        match place.0.cmp(&slot) {
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Equal => place.1 = place.1.max(count),
            std::cmp::Ordering::Less => *place = (slot, count),
        }
        Some(self.0.values().map(|slots| slots[place_of(slot)]).filter(|(at, _)| *at == slot).map(|(_, c)| c).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000;

    #[test]
    fn a_window_admits_up_to_its_limit_and_refused_requests_do_not_count() {
        let window = Window::default();
        for _ in 0..5 {
            assert_eq!(window.admit(NOW, 1, 5), Ok(()));
        }
        assert!(window.admit(NOW, 1, 5).is_err());
        assert!(window.admit(NOW, 1, 5).is_err());
        assert_eq!(window.used(NOW), 5, "the refusals counted nothing");
    }

    #[test]
    fn the_window_slides_one_slot_at_a_time_and_says_how_long_to_wait() {
        let window = Window::default();
        // Three in the oldest slot of the window, two four slots later.
        for _ in 0..3 {
            window.admit(NOW, 1, 5).ok();
        }
        for _ in 0..2 {
            window.admit(NOW + 4, 1, 5).ok();
        }
        let last = NOW + SLOTS as u64 - 1;
        assert_eq!(window.used(last), 5, "every slot still in the window");
        assert_eq!(window.admit(last, 1, 5), Err(1), "room once the oldest slot leaves");
        assert_eq!(window.admit(last, 4, 5), Err(5), "four need the slot of two to leave as well");
        assert_eq!(window.used(last + 1), 2);
        assert_eq!(window.admit(last + 1, 3, 5), Ok(()));
        assert_eq!(window.admit(last + 1, 1, 5), Err(4), "the two leave four boundaries later");
        assert_eq!(window.used(last + SLOTS as u64 + 1), 0, "a whole window later, nothing");
    }

    #[test]
    fn a_count_of_a_slot_long_gone_is_not_read_as_the_new_slot_in_its_place() {
        let window = Window::default();
        window.admit(NOW, 1, 1).ok();
        assert_eq!(window.admit(NOW + SLOTS as u64, 1, 1), Ok(()), "the same place, another slot");
        assert_eq!(window.used(NOW + SLOTS as u64), 1);
    }

    #[test]
    fn a_weight_found_after_admission_is_added_and_a_take_back_undoes_an_admission() {
        let window = Window::default();
        window.admit(NOW, 1, 10).ok();
        window.add(NOW, 7);
        assert_eq!(window.used(NOW), 8);
        assert_eq!(window.admit(NOW, 1, 8), Err(SLOTS as u64), "only this slot's own count is left");
        window.take_back(NOW, 8);
        assert_eq!(window.used(NOW), 0);
    }

    #[test]
    fn other_nodes_reports_count_with_this_nodes_own() {
        let window = Window::default();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        window.take_up(a, NOW - 1, 3, NOW);
        window.take_up(b, NOW - 1, 2, NOW);
        window.take_up(a, NOW, 1, NOW);
        assert_eq!(window.used(NOW), 6);
        // A repeated or late report changes nothing; a later one of the same slot replaces it.
        window.take_up(a, NOW - 1, 3, NOW);
        window.take_up(a, NOW - 1, 1, NOW);
        assert_eq!(window.used(NOW), 6);
        window.take_up(a, NOW - 1, 4, NOW);
        assert_eq!(window.used(NOW), 7);
        assert_eq!(window.admit(NOW, 1, 8), Ok(()));
        assert_eq!(window.admit(NOW, 1, 8), Err(9), "the other nodes' counts of the slot before leave first");
        // Reports outside the window, or more than a slot ahead, are not taken up.
        window.take_up(b, NOW - SLOTS as u64, 50, NOW);
        window.take_up(b, NOW + 2, 50, NOW);
        assert_eq!(window.used(NOW), 8);
        assert_eq!(window.used(NOW + SLOTS as u64), 0, "their counts leave the window like this node's");
    }

    #[test]
    fn only_counts_that_changed_are_reported_again() {
        let window = Window::default();
        window.admit(NOW - 1, 1, 10).ok();
        window.admit(NOW, 1, 10).ok();
        assert_eq!(window.unreported(NOW), [(NOW, 1), (NOW - 1, 1)]);
        assert_eq!(window.unreported(NOW), []);
        window.admit(NOW, 1, 10).ok();
        assert_eq!(window.unreported(NOW), [(NOW, 2)]);
        window.forget_reported();
        assert_eq!(window.unreported(NOW), [(NOW, 2), (NOW - 1, 1)]);
    }

    #[test]
    fn nodes_admitting_at_once_never_pass_the_limit_together() {
        let window = std::sync::Arc::new(Window::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let window = std::sync::Arc::clone(&window);
                std::thread::spawn(move || (0..1000).filter(|_| window.admit(NOW, 1, 1500).is_ok()).count())
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap_or_default()).sum();
        assert_eq!(admitted, 1500);
        assert_eq!(window.used(NOW), 1500);
    }
}
