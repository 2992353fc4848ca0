//! Phone numbers in E.164 form, parsed once at the edge; and their masked form for logs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A phone number in E.164 form: `+`, a country code that does not start with 0, at most 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid phone number {0:?}: expected E.164, a + then 8 to 15 digits, e.g. +18005550100")]
pub struct InvalidPhoneNumber(pub String);

impl PhoneNumber {
    pub fn parse(text: &str) -> Result<Self, InvalidPhoneNumber> {
        let digits = text.strip_prefix('+').unwrap_or("");
        let well_formed =
            (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if well_formed {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidPhoneNumber(text.to_owned()))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The number for logs: all but the last four digits hidden.
    #[cfg(test)]
    fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = InvalidPhoneNumber;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Masks any caller-supplied number-like text for logs, valid or not: keeps a leading `+` and the last four
/// characters, hides the rest.
pub(crate) fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let keep = chars.len().saturating_sub(4);
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i >= keep || (i == 0 && *c == '+') { *c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_e164_numbers() {
        for good in ["+18005550100", "+442071838750", "+5511912345678", "+12345678"] {
            assert!(PhoneNumber::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn rejects_numbers_that_are_not_e164() {
        for bad in [
            "18005550100",
            "+1 800 555 0100",
            "+0800555010",
            "+1800555010012345",
            "+1234567",
            "",
            "+",
            "+1-800",
        ] {
            assert_eq!(PhoneNumber::parse(bad), Err(InvalidPhoneNumber(bad.into())), "{bad}");
        }
    }

    #[test]
    fn masks_all_but_the_last_four_digits() {
        assert_eq!(PhoneNumber::parse("+18005550100").unwrap().masked(), "+*******0100");
        assert_eq!(mask("anonymous"), "*****mous");
        assert_eq!(mask("123"), "123");
    }
}
