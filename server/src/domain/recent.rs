//! A bounded memo of what was used recently, in two generations: entries go into the new one;
//! when it is full it becomes the old one, and the old one before it is dropped; a hit in the old
//! one moves the entry back into the new. Every step is O(1), it holds at most twice a
//! generation, and whatever is used at least once per generation filled stays in it.

use std::collections::HashMap;

pub(super) struct Recent<V> {
    new: HashMap<Box<str>, V>,
    old: HashMap<Box<str>, V>,
    per_generation: usize,
}

impl<V> Recent<V> {
    pub(super) fn holding_at_most(entries: usize) -> Self {
        Self {
            new: HashMap::new(),
            old: HashMap::new(),
            per_generation: (entries / 2).max(1),
        }
    }

    pub(super) fn get(&mut self, key: &str) -> Option<&V> {
        if !self.new.contains_key(key) {
            let (key, value) = self.old.remove_entry(key)?;
            self.insert_boxed(key, value);
        }
        self.new.get(key)
    }

    pub(super) fn insert(&mut self, key: &str, value: V) {
        self.old.remove(key);
        self.insert_boxed(key.into(), value);
    }

    fn insert_boxed(&mut self, key: Box<str>, value: V) {
        if self.new.len() >= self.per_generation && !self.new.contains_key(&key) {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(key, value);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_is_used_and_stays_bounded() {
        let mut recent = Recent::holding_at_most(100);
        recent.insert("kept", 0);
        for n in 0..1_000 {
            recent.insert(&format!("once-{n}"), n);
            assert!(recent.len() <= 100, "{} entries", recent.len());
            // Used at least once per generation filled: never dropped.
            if n % 10 == 0 {
                assert_eq!(recent.get("kept"), Some(&0), "after {n}");
            }
        }
        assert_eq!(recent.get("once-0"), None, "used once, long ago: dropped");
        assert_eq!(recent.get("once-999"), Some(&999));
    }

    #[test]
    fn a_key_written_again_holds_its_latest_value_once() {
        let mut recent = Recent::holding_at_most(4);
        recent.insert("a", 1);
        recent.insert("b", 2);
        recent.insert("c", 3); // "a" and "b" are the old generation now.
        recent.insert("a", 4);
        assert_eq!(recent.get("a"), Some(&4));
        assert_eq!(recent.len(), 3);
    }
}
