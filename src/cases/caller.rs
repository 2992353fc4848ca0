//! The caller as verification sees them: the `From` the provider gives, whether it is withheld, and whether
//! the provider verified it with A-level SHAKEN/STIR attestation (`StirVerstat`).
//!
//! A withheld number is no number: it is never registered on a case, and all withheld callers of a line share
//! one guess budget. Twilio sends a withheld caller as `anonymous`, `Restricted` or `Unavailable` (or as the
//! numbers that spell those words on a keypad), other networks as an empty or non-E.164 `From`.

use crate::phone::PhoneNumber;

/// `StirVerstat` for a call whose originating carrier knows the caller and their right to the number.
pub(crate) const A_ATTESTED: &str = "TN-Validation-Passed-A";

/// Well-formed E.164 numbers that stand for a withheld caller: ANONYMOUS, RESTRICTED, UNAVAILABLE, UNKNOWN
/// and BLOCKED on a keypad. The shorter ones are not E.164 anyway; they are listed to say so.
const WITHHELD_NUMBERS: &[&str] = &["+266696687", "+7378742833", "+86282452253", "+8656696", "+2562533"];

/// Who is calling, as far as the provider can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caller<'a> {
    /// `From` as the provider sent it.
    pub(crate) number: &'a str,
    /// The provider verified the number with A-level attestation.
    pub(crate) a_attested: bool,
}

impl<'a> Caller<'a> {
    /// The caller of a webhook with `From` = `from` and `StirVerstat` = `verstat`.
    pub(crate) fn new(from: &'a str, verstat: Option<&str>) -> Self {
        Self {
            number: from.trim(),
            a_attested: verstat.is_some_and(|v| v.trim() == A_ATTESTED),
        }
    }

    /// True when the caller's number is withheld or not a phone number at all.
    pub(crate) fn withheld(&self) -> bool {
        WITHHELD_NUMBERS.contains(&self.number) || PhoneNumber::parse(self.number).is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn withheld_numbers_are_told_apart_from_phone_numbers() {
        for withheld in [
            "",
            "anonymous",
            "Anonymous",
            "Restricted",
            "Unavailable",
            "+266696687",
            "+7378742833",
            "+86282452253",
            "5551234567",
            "client:alice",
            "+1555ABC",
        ] {
            assert!(Caller::new(withheld, None).withheld(), "{withheld:?}");
        }
        for number in ["+15551234567", "+442079460000", " +15551234567 "] {
            assert!(!Caller::new(number, None).withheld(), "{number:?}");
        }
    }

    #[test]
    fn only_a_level_attestation_counts() {
        assert!(Caller::new("+15551234567", Some("TN-Validation-Passed-A")).a_attested);
        for other in [
            "TN-Validation-Passed-B",
            "TN-Validation-Passed-C",
            "TN-Validation-Failed-A",
            "No-TN-Validation",
            "",
        ] {
            assert!(!Caller::new("+15551234567", Some(other)).a_attested, "{other}");
        }
        assert!(!Caller::new("+15551234567", None).a_attested);
    }
}
