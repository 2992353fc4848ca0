//! `[cases.salesforce]`: where the facts of a case live in a Salesforce org, which REST API version to speak,
//! and how long an access token of the client-credentials flow is used. The connected app's client id and
//! secret are secrets, read from the environment only.

use std::fmt;

use serde::Deserialize;

use super::Bounded;

/// `salesforce`: the org's field API names and its sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceSettings {
    /// The REST API version, `62.0` by default.
    #[serde(default = "default_api_version")]
    pub api_version: ApiVersion,
    /// Case numbers are zero-padded to this many digits (Salesforce's `{00000000}` display format), so that a
    /// caller may leave the leading zeros out. 0: the digits are used as typed.
    #[serde(default = "default_case_number_width")]
    pub case_number_width: Bounded<0, 20>,
    /// The Case field that holds the environment, e.g. `Environment__c`.
    pub environment_field: FieldPath,
    /// The field that holds the support package, on the Case or through a relationship
    /// (`Account.Support_Package__c`).
    #[serde(default)]
    pub support_package_field: Option<FieldPath>,
    /// The field that holds the email of the customer's Technical Account Manager
    /// (`Account.Technical_Account_Manager_Email__c`).
    #[serde(default)]
    pub tam_field: Option<FieldPath>,
    /// Seconds an access token is used before a new one is asked for. The client-credentials answer says
    /// nothing of its lifetime, which is the org's session timeout: keep this below it. A token refused
    /// earlier (401) is replaced at once.
    #[serde(default = "default_session_secs")]
    pub session_secs: Bounded<60, 86_400>,
}

fn default_api_version() -> ApiVersion {
    ApiVersion("62.0".into())
}

fn default_case_number_width() -> Bounded<0, 20> {
    Bounded::of::<8>()
}

fn default_session_secs() -> Bounded<60, 86_400> {
    Bounded::of::<1800>()
}

/// A Salesforce REST API version: digits, a dot, digits (`62.0`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ApiVersion(String);

impl ApiVersion {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ApiVersion {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let digits = |s: &str| (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        match text.strip_prefix('v').unwrap_or(&text).split_once('.') {
            Some((major, minor)) if digits(major) && digits(minor) => Ok(Self(format!("{major}.{minor}"))),
            _ => Err(format!(
                "invalid API version {text:?}: expected a version such as \"62.0\""
            )),
        }
    }
}

/// A field's API name, or a path through relationships to one (`Account.Support_Package__c`): one to five
/// names of letters, digits and `_`, each starting with a letter. Only such names are written into a query.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FieldPath(String);

impl FieldPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let name = |s: &str| {
            s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        let parts: Vec<&str> = text.split('.').collect();
        if text.len() <= 255 && parts.len() <= 5 && parts.iter().all(|p| name(p)) {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "invalid field {text:?}: expected a field's API name such as \"Environment__c\", or a path \
                 through relationships such as \"Account.Support_Package__c\""
            ))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The names along the path.
    pub(crate) fn parts(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl TryFrom<String> for FieldPath {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_digits_dot_digits() {
        assert_eq!(ApiVersion::try_from("62.0".to_owned()).unwrap().as_str(), "62.0");
        assert_eq!(ApiVersion::try_from("v64.0".to_owned()).unwrap().as_str(), "64.0");
        for bad in ["62", "sixty.0", "62.0'", "", "62.0.1"] {
            assert!(ApiVersion::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_paths_are_names_only() {
        for good in ["Environment__c", "Account.Support_Package__c", "Account.Owner.Email"] {
            assert!(FieldPath::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Environment__c, Id",
            "Account..Name",
            "1Field",
            "Name FROM User --",
            "A.B.C.D.E.F",
            "Env'",
        ] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }
}
