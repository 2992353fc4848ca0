//! A map whose entries expire, for the memory store's per-call structures (claims, guesses, marks,
//! working records, acceptances). Beside the map, an index ordered by expiry: what has expired is removed from
//! its front, each entry once, so an operation costs O(log n) amortised, however large the map is, instead of a
//! sweep of the whole map.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

#[derive(Debug)]
pub(crate) struct Expiring<K, V> {
    entries: HashMap<K, (V, Instant)>,
    /// Every key once, by when it expires.
    by_expiry: BTreeSet<(Instant, K)>,
}

impl<K, V> Default for Expiring<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }
}

impl<K: Hash + Ord + Clone, V> Expiring<K, V> {
    /// Removes what expired at or before `now`.
    pub(crate) fn purge(&mut self, now: Instant) {
        while let Some((expires, _)) = self.by_expiry.first()
            && *expires <= now
        {
            if let Some((_, key)) = self.by_expiry.pop_first() {
                self.entries.remove(&key);
            }
        }
    }

    /// The value of `key`, unless it expired by `now`.
    pub(crate) fn get<Q>(&self, key: &Q, now: Instant) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(value, _)| value)
    }

    /// The value of `key`, to change in place, unless it expired by `now`.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q, now: Instant) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .get_mut(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(value, _)| value)
    }

    pub(crate) fn contains<Q>(&self, key: &Q, now: Instant) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key, now).is_some()
    }

    /// Sets `key` to `value` until `expires`; returns the value it replaces.
    pub(crate) fn insert(&mut self, key: K, value: V, expires: Instant) -> Option<V> {
        let old = self.remove(&key);
        self.by_expiry.insert((expires, key.clone()));
        self.entries.insert(key, (value, expires));
        old
    }

    /// Moves the expiry of `key` (when it is there) to `expires`.
    pub(crate) fn set_expiry<Q>(&mut self, key: &Q, expires: Instant)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some((stored, (_, at))) = self.entries.get_key_value(key) else {
            return;
        };
        if *at == expires {
            return;
        }
        let (stored, old) = (stored.clone(), *at);
        self.by_expiry.remove(&(old, stored.clone()));
        self.by_expiry.insert((expires, stored));
        if let Some((_, at)) = self.entries.get_mut(key) {
            *at = expires;
        }
    }

    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (stored, (value, expires)) = self.entries.remove_entry(key)?;
        self.by_expiry.remove(&(expires, stored));
        Some(value)
    }

    /// Removes the entry that expires first; true when there was one.
    pub(crate) fn remove_first(&mut self) -> bool {
        let Some((_, key)) = self.by_expiry.pop_first() else {
            return false;
        };
        self.entries.remove(&key);
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_expire_in_order_and_a_moved_expiry_moves_in_the_index() {
        let t = Instant::now();
        let s = Duration::from_secs;
        let mut map: Expiring<String, u32> = Expiring::default();
        map.insert("a".into(), 1, t + s(10));
        map.insert("b".into(), 2, t + s(20));
        map.insert("c".into(), 3, t + s(30));
        map.set_expiry("a", t + s(40));
        assert_eq!(map.insert("b".into(), 22, t + s(5)), Some(2));

        map.purge(t + s(5));
        assert_eq!((map.len(), map.by_expiry.len()), (2, 2), "b went at its new expiry");
        assert_eq!(map.get("c", t + s(29)), Some(&3));
        assert!(!map.contains("c", t + s(30)), "expired, though not purged yet");
        map.purge(t + s(35));
        assert_eq!(map.get("a", t + s(35)), Some(&1), "a's expiry was moved");
        if let Some(a) = map.get_mut("a", t + s(35)) {
            *a = 11;
        }
        assert_eq!(map.remove("a"), Some(11));
        assert_eq!((map.len(), map.by_expiry.len()), (0, 0));
        assert!(!map.remove_first());
    }
}
