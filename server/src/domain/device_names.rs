//! The device name a client gives for itself: shown on the phone's confirm screen and in the
//! session list, so it is checked the same way wherever it comes in.

use super::AuthError;

/// The contract's limit, in characters.
pub const MAX_DEVICE_NAME: usize = 64;

/// `raw` trimmed; `None` when absent or blank.
pub fn checked(raw: Option<&str>) -> Result<Option<String>, AuthError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(name)
            if name.chars().count() > MAX_DEVICE_NAME || name.chars().any(char::is_control) =>
        {
            Err(AuthError::InvalidRequest(format!(
                "device_name: must be at most {MAX_DEVICE_NAME} printable characters"
            )))
        }
        Some(name) => Ok(Some(name.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_blank_is_none_and_long_or_control_is_refused() {
        assert_eq!(checked(None).unwrap(), None);
        assert_eq!(checked(Some("  ")).unwrap(), None);
        assert_eq!(
            checked(Some(" Desk 3 ")).unwrap().as_deref(),
            Some("Desk 3")
        );
        assert_eq!(
            checked(Some(&"会".repeat(64)))
                .unwrap()
                .map(|n| n.chars().count()),
            Some(64)
        );
        assert!(checked(Some(&"x".repeat(65))).is_err());
        assert!(checked(Some("a\u{7}b")).is_err());
    }
}
