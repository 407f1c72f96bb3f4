//! What the phone's confirm screen shows about this console: `MeetEasy Console (<host name>)`.

/// The contract limits a console's device name to 64 characters.
const DEVICE_NAME_LIMIT: usize = 64;

/// This machine's device name, from its host name when one is known.
pub fn device_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok());
    device_name_for_host(host.as_deref())
}

fn device_name_for_host(host: Option<&str>) -> String {
    let name = match host.map(str::trim).filter(|host| !host.is_empty()) {
        Some(host) => format!("MeetEasy Console ({host})"),
        None => "MeetEasy Console".to_owned(),
    };
    name.chars().take(DEVICE_NAME_LIMIT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_host_when_there_is_one() {
        assert_eq!(
            device_name_for_host(Some("meeting-room-3\n")),
            "MeetEasy Console (meeting-room-3)"
        );
        assert_eq!(device_name_for_host(Some("  \n")), "MeetEasy Console");
        assert_eq!(device_name_for_host(None), "MeetEasy Console");
    }

    #[test]
    fn stays_within_the_contract_limit_in_characters() {
        let name = device_name_for_host(Some(&"会议室".repeat(40)));
        assert_eq!(name.chars().count(), DEVICE_NAME_LIMIT);
        assert!(name.starts_with("MeetEasy Console (会议室"));
    }
}
