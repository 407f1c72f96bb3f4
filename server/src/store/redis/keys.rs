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
            KeyLayout::Tagged.key("poll-gate:abc"),
            "meeteasy:poll-gate:{abc}"
        );
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
}
