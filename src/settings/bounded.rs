//! [`Bounded`]: an integer setting with a range. The range is part of the type, so a value out of it is
//! refused while the file is parsed, and the error carries the key and the line like every other parse
//! error of the file.

use std::fmt;

use serde::Deserialize;

/// An integer from `MIN` to `MAX`, both included.
///
/// It has no `Default`: a range says nothing about a good value, so each field that uses it names its
/// default with `#[serde(default = "...")]`, built with [`Bounded::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct Bounded<const MIN: u64, const MAX: u64>(u64);

/// A value outside the range of its setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{n} is out of range: expected {min} to {max}")]
pub struct OutOfRange {
    pub n: u64,
    pub min: u64,
    pub max: u64,
}

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    /// `N`, checked against the range when the program is compiled: for defaults.
    pub const fn of<const N: u64>() -> Self {
        const { assert!(MIN <= N && N <= MAX, "the value is out of the range") };
        Self(N)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// The value as a `u32`, for a range that fits in one (checked when the program is compiled).
    pub const fn get_u32(self) -> u32 {
        const { assert!(MAX <= u32::MAX as u64, "the range does not fit in a u32") };
        self.0 as u32
    }
}

impl<const MIN: u64, const MAX: u64> TryFrom<u64> for Bounded<MIN, MAX> {
    type Error = OutOfRange;
    fn try_from(n: u64) -> Result<Self, OutOfRange> {
        if (MIN..=MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(OutOfRange { n, min: MIN, max: MAX })
        }
    }
}

impl<const MIN: u64, const MAX: u64> fmt::Display for Bounded<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Section {
        #[serde(default = "default_n")]
        n: Bounded<1, 10>,
    }

    fn default_n() -> Bounded<1, 10> {
        Bounded::of::<3>()
    }

    fn parse(text: &str) -> Result<u64, String> {
        toml::from_str::<Section>(text)
            .map(|s| s.n.get())
            .map_err(|e| e.message().to_owned())
    }

    #[test]
    fn the_ends_of_the_range_are_in_it() {
        assert_eq!(parse("n = 1"), Ok(1));
        assert_eq!(parse("n = 10"), Ok(10));
        assert_eq!(parse(""), Ok(3));
    }

    #[test]
    fn a_value_outside_the_range_says_what_was_expected() {
        assert_eq!(parse("n = 0"), Err("0 is out of range: expected 1 to 10".to_owned()));
        assert_eq!(parse("n = 11"), Err("11 is out of range: expected 1 to 10".to_owned()));
        assert!(parse("n = -1").unwrap_err().contains("expected u64"));
    }

    #[test]
    fn a_small_range_reads_as_a_u32() {
        assert_eq!(Bounded::<1, 60>::try_from(60).map(Bounded::get_u32), Ok(60));
    }
}
