//! How the store's keys and topics are spelled in Redis.
//!
//! One server and Sentinel keep the names they always had (`meeteasy:scene:S`), so an existing
//! deployment's records stay where they are. On a Cluster the part after the kind is a hash tag
//! (`meeteasy:scene:{S}`): a scene's record, its QR and its change channel
//! (`meeteasy:notify:scene-changed:{S}`) all live on one slot, so any script over them touches one
//! slot and the scene's wake-ups travel over that slot's sharded pub/sub. A key placed in a group
//! ([`crate::store::in_group`]) takes the group as its tag instead (`meeteasy:session:{G}:S`), so
//! the group's records share a slot; elsewhere it is spelled by its name alone.

use crate::store::key_groups;

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

    /// A topic's channel, spelled as a record's name is: a grouped topic's group only on a
    /// Cluster, so an existing topic moved into a group keeps its channel on one server and
    /// Sentinel (where the hub knows a topic by its name alone, see [`crate::store::record_name`]).
    pub(super) fn channel(self, topic: &str) -> String {
        format!("{NOTIFY_CHANNEL_PREFIX}{}", self.spell(topic))
    }

    /// The hash tag of `key` as spelled here: what decides its slot on a Cluster.
    pub(super) fn tag(self, key: &str) -> Option<String> {
        match self {
            Self::Plain => None,
            Self::Tagged => {
                let spelled = self.spell(key);
                let (_, after_open) = spelled.split_once('{')?;
                let (tag, _) = after_open.split_once('}')?;
                (!tag.is_empty()).then(|| tag.to_owned())
            }
        }
    }

    fn spell(self, key: &str) -> String {
        let (group, name) = key_groups::split(key);
        match (self, group) {
            (Self::Plain, _) => name.to_owned(),
            // `kind:rest` -> `kind:{group}:rest`.
            (Self::Tagged, Some(group)) => match name.split_once(':') {
                Some((kind, rest)) => format!("{kind}:{{{group}}}:{rest}"),
                None => format!("{{{group}}}:{name}"),
            },
            // `kind:rest` -> `kind:{rest}`; a name without a kind is its own tag.
            (Self::Tagged, None) => match name.split_once(':') {
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
    fn a_grouped_topic_is_spelled_as_a_grouped_record() {
        let topic = crate::store::in_group("u-ann", "changed:abc");
        let plain = KeyLayout::Plain.channel(&topic);
        assert_eq!(plain, "meeteasy:notify:changed:abc");
        let tagged = KeyLayout::Tagged.channel(&topic);
        assert_eq!(tagged, "meeteasy:notify:changed:{u-ann}:abc");
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

    /// Opening a session (a ticket's exchange) writes and reads in one batch the session's records,
    /// its parent's mark and its user's records, which on a Cluster is one script only if they
    /// share a slot; revoking one reads the user's index and sessions in one batch the same way.
    #[test]
    fn every_key_a_session_is_opened_with_is_tagged_by_its_user() {
        let keys = [
            store_keys::session("u-ann", "child"),
            store_keys::revoked_session("u-ann", "child"),
            store_keys::revoked_session("u-ann", "parent"),
            store_keys::user_sessions("u-ann"),
            store_keys::user("u-ann"),
        ];
        for key in keys {
            assert_eq!(
                KeyLayout::Tagged.tag(&key).as_deref(),
                Some("u-ann"),
                "{key}"
            );
        }
        assert_eq!(
            KeyLayout::Tagged.key(&store_keys::session("u-ann", "child")),
            "meeteasy:session:{u-ann}:child"
        );
    }

    /// One server and Sentinel keep the names sessions had before they were grouped by user: a
    /// token revoked then stays revoked.
    #[test]
    fn a_grouped_key_keeps_its_plain_name() {
        assert_eq!(
            KeyLayout::Plain.key(&store_keys::revoked_session("u-ann", "abc")),
            "meeteasy:revoked-sid:abc"
        );
        assert_eq!(KeyLayout::Plain.tag("scene:abc"), None);
    }
}
