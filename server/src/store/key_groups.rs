//! Records kept together. A key may place its record in a group: a backend that spreads records
//! over shards (a Redis Cluster's slots) keeps a group's records on one shard, so a batch over them
//! can run there as one atomic step instead of one step per shard. A record is always named with
//! the same group, or always with none. A backend that keeps every record in one place names it
//! without the group, so placing an existing kind of record in a group leaves its stored name
//! there as it was; a sharded one spells the group into the key.

/// Starts a key that names its group, and ends the group. No record's name starts with it (names
/// start with their kind), and no group holds it (groups are ids the domain made).
const GROUP_MARK: char = '@';

/// The key of the record `name`, kept with the other records of `group`.
pub fn in_group(group: &str, name: &str) -> String {
    format!("{GROUP_MARK}{group}{GROUP_MARK}{name}")
}

/// The group `key` places its record in, if any, and the record's name.
pub fn split(key: &str) -> (Option<&str>, &str) {
    key.strip_prefix(GROUP_MARK)
        .and_then(|grouped| grouped.split_once(GROUP_MARK))
        .map_or((None, key), |(group, name)| (Some(group), name))
}

/// The name of the record `key` is for, without its group.
pub fn record_name(key: &str) -> &str {
    split(key).1
}

/// The kind of record `key` is for, its name's first word: `scene` of `scene:<id>`, `poll-gate`
/// of `poll-gate.<holder>:<scene>`. What a log line may show of a key whose rest is an id.
pub fn record_kind(key: &str) -> &str {
    record_name(key)
        .split([':', '.'])
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grouped_key_names_the_same_record_as_its_name_alone() {
        let key = in_group("u-ann", "session:abc");
        assert_eq!(split(&key), (Some("u-ann"), "session:abc"));
        assert_eq!(record_name(&key), "session:abc");
        assert_eq!(record_kind(&key), "session", "the group does not show");
        assert_eq!(record_kind("poll-gate.0123:scene"), "poll-gate");
        assert_eq!(split("session:abc"), (None, "session:abc"));
        // The name may hold the mark (a caller's input): only the group ends at the first one.
        let key = in_group("u-ann", "session:a@b");
        assert_eq!(split(&key), (Some("u-ann"), "session:a@b"));
        assert_eq!(
            split("login:ann@example.com"),
            (None, "login:ann@example.com")
        );
    }
}
