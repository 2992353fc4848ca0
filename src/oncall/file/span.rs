//! Where a key (`policies[0].tiers[1].engineers[0]`) is in the rotation file's text, for the line numbers
//! of its errors.

use std::ops::Range;

use crate::settings::line_of;

/// Where keys are in the text, for the lines of the errors.
pub(super) struct Locator<'a> {
    text: &'a str,
    doc: Option<toml::Spanned<toml::de::DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self {
            text,
            doc: toml::de::DeTable::parse(text).ok(),
        }
    }

    /// The line of the value at `key` (`policies[0].tiers[1].engineers[0]`), or of the closest enclosing
    /// value that exists.
    pub(super) fn line(&self, key: &str) -> Option<usize> {
        self.span(key).map(|span| line_of(self.text, span.start))
    }

    fn span(&self, key: &str) -> Option<Range<usize>> {
        let mut segments = key.split(['.', '[']).filter(|s| !s.is_empty());
        let first = segments.next()?;
        let mut value = self.doc.as_ref()?.get_ref().get(first)?;
        for segment in segments {
            let next = match segment.strip_suffix(']').map(str::parse::<usize>) {
                Some(Ok(index)) => value.get_ref().get(index),
                _ => value.get_ref().get(segment),
            };
            match next {
                Some(next) => value = next,
                None => break,
            }
        }
        Some(value.span())
    }
}
