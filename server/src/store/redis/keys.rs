//! How the store's keys and topics are spelled in Redis.
//!
//! One server and Sentinel keep the names they always had (`meeteasy:scene:S`), so an existing
//! deployment's records stay where they are. On a Cluster the part after the kind is a hash tag
//! (`meeteasy:scene:{S}`): a scene's record, its QR and its change channel
//! (`meeteasy:notify:scene-changed:{S}`) all live on one slot, so any script over them touches one
//! slot and the scene's wake-ups travel over that slot's sharded pub/sub.

/// Prefix of every key this server writes.
const KEY_PREFIX: &str = "meeteasy:";
/// Prefix of the pub/sub channels; the topic follows.
pub(super) const NOTIFY_CHANNEL_PREFIX: &str = "meeteasy:notify:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyLayout {
    Plain,
    Tagged,
}

impl KeyLayout {
    pub(super) fn key(self, key: &str) -> String {
        format!("{KEY_PREFIX}{}", self.spell(key))
    }

    pub(super) fn channel(self, topic: &str) -> String {
        format!("{NOTIFY_CHANNEL_PREFIX}{}", self.spell(topic))
    }

    fn spell(self, name: &str) -> String {
        match self {
            Self::Plain => name.to_owned(),
            // `kind:rest` -> `kind:{rest}`; a name without a kind is its own tag.
            Self::Tagged => match name.split_once(':') {
                Some((kind, rest)) => format!("{kind}:{{{rest}}}"),
                None => format!("{{{name}}}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::store_keys;

    #[test]
    fn plain_names_are_unchanged() {
        assert_eq!(KeyLayout::Plain.key("scene:abc"), "meeteasy:scene:abc");
        assert_eq!(
            KeyLayout::Plain.channel("scene-changed:abc"),
            "meeteasy:notify:scene-changed:abc"
        );
    }

    #[test]
    fn a_scene_and_its_channel_share_a_hash_tag() {
        assert_eq!(KeyLayout::Tagged.key("scene:abc"), "meeteasy:scene:{abc}");
        assert_eq!(
            KeyLayout::Tagged.channel("scene-changed:abc"),
            "meeteasy:notify:scene-changed:{abc}"
        );
        assert_eq!(
            KeyLayout::Tagged.key("signing-keys"),
            "meeteasy:{signing-keys}"
        );
        assert_eq!(
            KeyLayout::Tagged.key("wx:open:app:id"),
            "meeteasy:wx:{open:app:id}"
        );
    }

    /// An `islogin` reads the scene and claims its poll gate in one pipeline, which on a Cluster is
    /// one round trip only if every key of the scene is on its slot.
    #[test]
    fn every_key_of_a_scene_is_tagged_by_the_scene() {
        let keys = [
            store_keys::scene("abc"),
            store_keys::scene_code_image("abc"),
            store_keys::scene_code_fetch_lock("abc"),
            store_keys::scene_code_fetched("abc"),
            store_keys::scene_poll_gate("abc", "0123456789abcdef0123"),
        ];
        for key in keys {
            let tagged = KeyLayout::Tagged.key(&key);
            assert!(tagged.ends_with(":{abc}"), "{key} -> {tagged}");
        }
        let channel = KeyLayout::Tagged.channel(&store_keys::scene_changed("abc"));
        assert!(channel.ends_with(":{abc}"), "{channel}");
    }
}
