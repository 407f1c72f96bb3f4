//! One waiting long-poll per scene on this instance. A console polls one request at a time, so a
//! second concurrent poll with the same poll token is the same console again (its client gave up on
//! a connection the server still holds) or a client misbehaving: the newer poll takes the slot and
//! the older one answers at once. A poll token thus holds at most one connection per instance.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

#[derive(Default)]
pub struct PollSlots {
    held: Mutex<HashMap<Arc<str>, Holder>>,
    next_id: AtomicU64,
}

struct Holder {
    id: u64,
    superseded: Arc<Notify>,
}

/// A waiting poll's place; given up when dropped.
pub struct PollSlot<'a> {
    slots: &'a PollSlots,
    scene: Arc<str>,
    id: u64,
    superseded: Arc<Notify>,
}

impl PollSlots {
    /// Takes the scene's slot, telling the poll that held it to answer now.
    pub fn take(&self, scene: &str) -> PollSlot<'_> {
        let (id, scene) = (
            self.next_id.fetch_add(1, Ordering::Relaxed),
            Arc::from(scene),
        );
        let superseded = Arc::new(Notify::new());
        let holder = Holder {
            id,
            superseded: Arc::clone(&superseded),
        };
        let previous = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(Arc::clone(&scene), holder);
        if let Some(previous) = previous {
            // Stored as a permit if that poll is not awaiting it yet.
            previous.superseded.notify_one();
        }
        PollSlot {
            slots: self,
            scene,
            id,
            superseded,
        }
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl PollSlot<'_> {
    /// Resolves once a newer poll of the same scene has taken the slot.
    pub async fn superseded(&self) {
        self.superseded.notified().await;
    }
}

impl Drop for PollSlot<'_> {
    fn drop(&mut self) {
        let mut held = self
            .slots
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A newer poll's slot is its own to give up.
        if held
            .get(&self.scene)
            .is_some_and(|holder| holder.id == self.id)
        {
            held.remove(&self.scene);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_newer_poll_supersedes_the_older_and_keeps_the_slot() {
        let slots = PollSlots::default();
        let older = slots.take("scene");
        let newer = slots.take("scene");
        tokio::time::timeout(Duration::from_secs(1), older.superseded())
            .await
            .expect("the older poll is told");
        drop(older);
        assert_eq!(slots.held(), 1, "the newer poll still holds the slot");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), newer.superseded())
                .await
                .is_err()
        );
        let other_scene = slots.take("other");
        assert_eq!(slots.held(), 2);
        drop((newer, other_scene));
        assert_eq!(slots.held(), 0);
    }
}
