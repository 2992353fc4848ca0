//! A webhook's form fields (`application/x-www-form-urlencoded`), decoded once into one buffer.
//!
//! The provider posts a score of short fields with every webhook. Decoded into a `String` each, they cost two
//! allocations a field on every request; here they share one buffer, and each field is a pair of byte ranges
//! into it. The decoding is the WHATWG one `form_urlencoded::parse` does (`+` is a space, `%XX` a byte,
//! invalid UTF-8 replaced), field for field, and a property test holds it to that crate's; the fields keep
//! the order they came in.

use std::fmt;
use std::ops::Range;

/// The fields of one form, in the order they came; a name may repeat.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Form {
    text: String,
    fields: Fields,
}

/// Each field's name and value, as byte ranges into the form's text.
type Fields = Vec<(Range<usize>, Range<usize>)>;

impl Form {
    /// Decodes a form body. Never fails: what is not valid is decoded as browsers do.
    pub fn parse(body: &[u8]) -> Self {
        // Nearly every body decodes to valid UTF-8: then one check of the whole buffer, and of the fields'
        // ends falling on character boundaries, stands for a check of each field. Otherwise each field is
        // decoded again, with its own invalid sequences replaced.
        let (buffer, fields) = decode(body, Utf8::Unchecked);
        match String::from_utf8(buffer) {
            Ok(text)
                if fields
                    .iter()
                    .all(|(name, value)| on_boundaries(&text, name) && on_boundaries(&text, value)) =>
            {
                Self { text, fields }
            }
            _ => {
                let (buffer, fields) = decode(body, Utf8::PerField);
                // Each field was made valid on its own, so the whole is valid and every range falls on a
                // boundary.
                let text =
                    String::from_utf8(buffer).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                Self { text, fields }
            }
        }
    }

    /// A form of the given fields, as they are (`simulate`, tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut form = Self::default();
        for (name, value) in pairs {
            let name = push_str(&mut form.text, name);
            let value = push_str(&mut form.text, value);
            form.fields.push((name, value));
        }
        form
    }

    /// The first value of the field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, value)| value)
    }

    /// Every field, name and value, in the order they came.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields
            .iter()
            .map(|(name, value)| (&self.text[name.clone()], &self.text[value.clone()]))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl From<&[(String, String)]> for Form {
    fn from(pairs: &[(String, String)]) -> Self {
        Self::from_pairs(pairs.iter().map(|(name, value)| (name.as_str(), value.as_str())))
    }
}

/// Whether [`decode`] makes each field valid UTF-8 on its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Utf8 {
    Unchecked,
    PerField,
}

/// Every field of `body`, decoded into one buffer, as ranges into it.
fn decode(body: &[u8], utf8: Utf8) -> (Vec<u8>, Fields) {
    let pieces = body.split(|b| *b == b'&').filter(|piece| !piece.is_empty());
    let mut buffer = Vec::with_capacity(body.len());
    let mut fields = Vec::with_capacity(body.iter().filter(|b| **b == b'&').count() + 1);
    for piece in pieces {
        let (name, value) = match piece.iter().position(|b| *b == b'=') {
            Some(at) => (&piece[..at], &piece[at + 1..]),
            None => (piece, &[][..]),
        };
        let name = push_decoded(&mut buffer, name, utf8);
        let value = push_decoded(&mut buffer, value, utf8);
        fields.push((name, value));
    }
    (buffer, fields)
}

fn on_boundaries(text: &str, range: &Range<usize>) -> bool {
    text.is_char_boundary(range.start) && text.is_char_boundary(range.end)
}

/// Appends `encoded`, decoded, and returns where it went; with [`Utf8::PerField`], a field that does not
/// decode to UTF-8 goes in with its invalid sequences replaced by U+FFFD.
fn push_decoded(buffer: &mut Vec<u8>, encoded: &[u8], utf8: Utf8) -> Range<usize> {
    let start = buffer.len();
    // Runs without `+` or `%` are copied whole: byte by byte, decoding cost three times as much.
    let mut rest = encoded;
    while let Some(at) = rest.iter().position(|b| matches!(b, b'+' | b'%')) {
        buffer.extend_from_slice(&rest[..at]);
        if rest[at] == b'+' {
            buffer.push(b' ');
            rest = &rest[at + 1..];
        } else {
            // `%XX` is a byte; a `%` without two hex digits after it stays as it is.
            let digit = |i: usize| rest.get(at + i).and_then(|b| char::from(*b).to_digit(16));
            match (digit(1), digit(2)) {
                (Some(high), Some(low)) => {
                    buffer.push((high * 16 + low) as u8);
                    rest = &rest[at + 3..];
                }
                _ => {
                    buffer.push(b'%');
                    rest = &rest[at + 1..];
                }
            }
        }
    }
    buffer.extend_from_slice(rest);
    if utf8 == Utf8::PerField && std::str::from_utf8(&buffer[start..]).is_err() {
        let replaced = String::from_utf8_lossy(&buffer[start..]).into_owned();
        buffer.truncate(start);
        buffer.extend_from_slice(replaced.as_bytes());
    }
    start..buffer.len()
}

fn push_str(text: &mut String, s: &str) -> Range<usize> {
    let start = text.len();
    text.push_str(s);
    start..text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(body: &str) -> Vec<(String, String)> {
        Form::parse(body.as_bytes())
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn a_webhook_body_decodes_field_by_field_in_order() {
        assert_eq!(
            decoded("CallSid=CA1&From=%2B15551230000&SpeechResult=my+server+is+down&Digits=123%23"),
            [
                pair("CallSid", "CA1"),
                pair("From", "+15551230000"),
                pair("SpeechResult", "my server is down"),
                pair("Digits", "123#"),
            ]
        );
    }

    #[test]
    fn empty_pieces_are_skipped_and_a_name_without_equals_has_an_empty_value() {
        assert_eq!(decoded("&&a&b=&=c&"), [pair("a", ""), pair("b", ""), pair("", "c")]);
    }

    #[test]
    fn an_encoded_plus_stays_a_plus_and_a_broken_escape_is_kept() {
        assert_eq!(decoded("a=%2B+%2&b=%zz%4"), [pair("a", "+ %2"), pair("b", "%zz%4")]);
    }

    #[test]
    fn invalid_utf8_is_replaced_within_its_own_field() {
        // A character split across a name and its value is invalid in both.
        assert_eq!(
            decoded("a%C3=%A9&b=%C3%A9"),
            [pair("a\u{FFFD}", "\u{FFFD}"), pair("b", "é")]
        );
    }

    #[test]
    fn get_answers_the_first_of_a_repeated_field() {
        let form = Form::parse(b"Digits=1&Digits=2");
        assert_eq!(form.get("Digits"), Some("1"));
        assert_eq!(form.get("From"), None);
        assert_eq!(form.len(), 2);
    }

    #[test]
    fn a_form_of_pairs_keeps_them_as_they_are() {
        let form = Form::from_pairs([("From", "+1 555"), ("To", "%2B")]);
        assert_eq!(form.iter().collect::<Vec<_>>(), [("From", "+1 555"), ("To", "%2B")]);
        assert_eq!(format!("{form:?}"), r#"[("From", "+1 555"), ("To", "%2B")]"#);
    }
}
