//! `[cases.jira]`: the Jira Service Management project whose issues are the cases, the agent the API token
//! belongs to, and the fields that hold the environment, the organisation, the reporter's phone, the support
//! package and the TAM. The API token is a secret, read from the environment only.

use std::fmt;

use serde::Deserialize;

use super::AgentEmail;

/// `jira`: the project and its fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraSettings {
    /// The agent the API token belongs to (basic auth: email and token).
    pub email: AgentEmail,
    /// The project key: a caller's digits `123` are the issue `{project}-123`.
    pub project: ProjectKey,
    /// The field that holds the environment (`customfield_10050`, a select list).
    pub environment_field: JiraField,
    /// Jira Service Management's Organizations field (`customfield_10002` on most sites).
    pub organization_field: JiraField,
    /// The field that holds the reporter's phone numbers (Jira users have none): comma-separated.
    pub phone_field: JiraField,
    /// The field that holds the support package.
    #[serde(default)]
    pub support_package_field: Option<JiraField>,
    /// The field that holds the customer's Technical Account Manager (an email, or a user picker).
    #[serde(default)]
    pub tam_field: Option<JiraField>,
}

/// A Jira project key: an upper-case letter, then upper-case letters, digits or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ProjectKey(String);

impl ProjectKey {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = (1..=255).contains(&text.len())
            && text.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "invalid project key {text:?}: expected upper-case letters, digits or '_', starting with a \
                 letter, such as \"SUP\""
            ))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProjectKey {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

/// A Jira field id: `customfield_10050`, or a system field such as `environment`. Only such ids are written
/// into a request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct JiraField(String);

impl JiraField {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&text.len())
            && text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "invalid field {text:?}: expected a field id such as \"customfield_10050\""
            ))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JiraField {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl fmt::Display for JiraField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_keys_and_field_ids_are_checked() {
        assert!(ProjectKey::parse("SUP").is_ok());
        assert!(ProjectKey::parse("OPS_2").is_ok());
        for bad in ["", "sup", "2SUP", "SUP-1", "SU P"] {
            assert!(ProjectKey::parse(bad).is_err(), "{bad}");
        }
        assert!(JiraField::parse("customfield_10050").is_ok());
        assert!(JiraField::parse("environment").is_ok());
        for bad in ["", "customfield_1,summary", "10050", "field&x=1"] {
            assert!(JiraField::parse(bad).is_err(), "{bad}");
        }
    }
}
