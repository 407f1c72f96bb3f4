//! The name a console gives itself, which the phone's confirm screen shows beside its IP and time so
//! the person confirming can tell their console from someone else's. A name may not disguise itself
//! there: characters that reorder the text around them (bidi overrides and isolates) or that show
//! nothing (zero-width and other invisible formatting characters, ASCII smuggled as Unicode tags)
//! are refused, not stripped, so what the console asked for is exactly what the phone shows. Length
//! is counted in what a person sees as one character (extended grapheme clusters).

use unicode_segmentation::UnicodeSegmentation as _;

use super::AuthError;

/// The contract's limit, in characters a person sees.
pub const MAX_DEVICE_NAME: usize = 64;
/// Code points one visible character may hold. Real scripts and emoji stay well below it; a letter
/// carrying dozens of combining marks would smear over the lines around it on the confirm screen.
const MAX_CODE_POINTS_PER_CHARACTER: usize = 8;

/// The name to show: trimmed, `None` when empty, refused (naming `field`) when it could mislead.
pub fn checked_device_name(field: &str, name: &str) -> Result<Option<String>, AuthError> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    let mut visible = 0;
    let mut blanks_in_a_row = 0;
    for character in name.graphemes(true) {
        if let Some(hidden) = hidden_in(character) {
            return Err(AuthError::InvalidRequest(format!(
                "{field}: must not contain invisible or text-direction characters (found U+{:04X})",
                u32::from(hidden)
            )));
        }
        blanks_in_a_row = if character.chars().all(char::is_whitespace) {
            blanks_in_a_row + 1
        } else {
            0
        };
        if blanks_in_a_row > MAX_BLANKS_IN_A_ROW {
            return Err(AuthError::InvalidRequest(format!(
                "{field}: must not hold more than {MAX_BLANKS_IN_A_ROW} spaces in a row"
            )));
        }
        visible += 1;
        if visible > MAX_DEVICE_NAME || character.chars().count() > MAX_CODE_POINTS_PER_CHARACTER {
            return Err(AuthError::InvalidRequest(format!(
                "{field}: must be at most {MAX_DEVICE_NAME} printable characters"
            )));
        }
    }
    Ok(Some(name.to_owned()))
}

/// The first character of one visible `character` (a grapheme cluster) that hides or reorders
/// text. A zero-width joiner is kept only inside the cluster, where it joins what follows into the
/// one character shown (two emoji into one, 👩‍💻; or a mark or conjunct onto its letter); at a
/// cluster's end it joins nothing and shows nothing.
fn hidden_in(character: &str) -> Option<char> {
    let last = character.chars().count() - 1;
    character
        .chars()
        .enumerate()
        .find(|&(at, c)| is_hidden_or_reordering(c) && !(c == ZERO_WIDTH_JOINER && at < last))
        .map(|(_, c)| c)
}

/// A request's optional `device_name`: `None` when absent or blank.
pub fn checked(raw: Option<&str>) -> Result<Option<String>, AuthError> {
    match raw {
        None => Ok(None),
        Some(name) => checked_device_name("device_name", name),
    }
}

const ZERO_WIDTH_JOINER: char = '\u{200D}';
/// Blanks a name may hold in a row: more could push what follows off the confirm screen's line.
const MAX_BLANKS_IN_A_ROW: usize = 2;

/// Control characters, and every character Unicode calls default-ignorable (the format characters,
/// fillers and reserved code points a renderer shows as nothing), which also covers those that
/// change the order of the text around them; and the Braille blank, which shows as nothing too.
pub fn is_hidden_or_reordering(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'                  // soft hyphen
            | '\u{034F}'                // combining grapheme joiner
            | '\u{061C}'                // Arabic letter mark
            | '\u{115F}' | '\u{1160}'   // Hangul choseong and jungseong fillers
            | '\u{17B4}' | '\u{17B5}'   // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}'   // Mongolian free variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space, non-joiner, joiner; LRM, RLM
            | '\u{2028}'..='\u{202E}'   // line and paragraph separators; LRE, RLE, PDF, LRO, RLO
            | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, LRI, RLI, FSI, PDI, ...
            | '\u{2800}'                // Braille pattern blank
            | '\u{3164}'                // Hangul filler
            | '\u{FE00}'..='\u{FE0D}'   // variation selectors; VS15 and VS16 (text or emoji style) are kept
            | '\u{FEFF}'                // zero-width no-break space (BOM)
            | '\u{FFA0}'                // halfwidth Hangul filler
            | '\u{FFF0}'..='\u{FFF8}'   // reserved, default-ignorable
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation
            | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
            | '\u{1D173}'..='\u{1D17A}' // musical formatting
            | '\u{E0000}'..='\u{E0FFF}' // tags (invisible copies of ASCII), variation selectors
                                        // supplement, and the rest of the block, reserved
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(name: &str) -> String {
        match checked_device_name("device_name", name) {
            Err(AuthError::InvalidRequest(message)) => message,
            other => panic!("{name:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn names_that_reorder_or_hide_text_are_refused_naming_the_field() {
        let disguises = [
            // "MeetEasy Console (" then RIGHT-TO-LEFT OVERRIDE: the phone shows the rest reversed.
            "MeetEasy Console (\u{202E}pot-ksed\u{202C})",
            "Front desk\u{2067}evil\u{2069}",
            "Front\u{200B}desk",
            "Front\u{200D}desk",
            "\u{FEFF}Front desk",
            "Front desk\u{E0041}\u{E0042}",
            "Front desk\u{2028}Really: yours",
            "\u{3164}",
            "Front\u{00AD}desk",
            "Front desk\u{1BCA1}",
            "Front desk\u{E0FFF}",
            "Front desk\u{FFF0}",
            "\u{2800}\u{2800}\u{2800}",
            // A joiner that joins no emoji.
            "Front desk 👩\u{200D}",
        ];
        for name in disguises {
            let message = refused(name);
            assert!(message.starts_with("device_name:"), "{message}");
            assert!(message.contains("invisible"), "{message}");
        }
        assert!(refused("tab\there").contains("U+0009"));
    }

    #[test]
    fn emoji_joined_into_one_are_kept() {
        for name in ["👩\u{200D}💻 Front desk", "Desk 👨\u{200D}👩\u{200D}👧"] {
            assert_eq!(
                checked_device_name("device_name", name).unwrap(),
                Some(name.to_owned())
            );
        }
    }

    #[test]
    fn long_runs_of_blanks_are_refused() {
        assert!(checked_device_name("device_name", "Front  desk").is_ok());
        let pushed_away = format!("Front desk{}evil", "\u{3000}".repeat(40));
        assert!(refused(&pushed_away).contains("spaces in a row"));
        assert!(refused("Front   desk").contains("spaces in a row"));
    }

    #[test]
    fn length_is_what_a_person_sees() {
        // A flag is two code points, an accent on a bare letter two; each is one character seen.
        let flags = "🇨🇳".repeat(MAX_DEVICE_NAME);
        assert_eq!(flags.chars().count(), 2 * MAX_DEVICE_NAME);
        assert_eq!(
            checked_device_name("device_name", &flags).unwrap(),
            Some(flags.clone())
        );
        let decomposed = "e\u{0301}".repeat(MAX_DEVICE_NAME);
        assert!(checked_device_name("device_name", &decomposed).is_ok());
        assert!(checked_device_name("device_name", &"会".repeat(MAX_DEVICE_NAME)).is_ok());
        assert!(checked_device_name("device_name", "❤\u{FE0F} Anna's laptop").is_ok());

        assert!(refused(&"d".repeat(MAX_DEVICE_NAME + 1)).contains("at most 64"));
        assert!(refused(&format!("{flags}🇨🇳")).contains("at most 64"));
        let smeared = format!("Z{}", "\u{0336}".repeat(20));
        assert!(refused(&smeared).contains("printable"));
    }

    #[test]
    fn names_are_trimmed_and_an_empty_one_is_none() {
        assert_eq!(
            checked_device_name("device_name", "  Room 3 laptop \n").unwrap(),
            Some("Room 3 laptop".to_owned())
        );
        assert_eq!(checked_device_name("device_name", "   ").unwrap(), None);
    }
}
