//! `[packages.NAME]`: the support packages customers buy, as far as the night line needs them: the channel a
//! customer of the package is told to use, whether the package includes after-hours phone support, and
//! whether it comes with a Technical Account Manager. The case system names a case's package; it is matched
//! to a table by its name or one of its `matches`, without regard to case.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Name;

/// One support package.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSettings {
    /// Spoken as `{support_channel}` to a caller of this package, once their case is known.
    pub(crate) support_channel: String,
    /// Whether the package includes after-hours phone support; callers of other packages are told when the
    /// first response is due instead.
    #[serde(default)]
    pub(crate) after_hours: bool,
    /// Whether customers of the package have a Technical Account Manager, whom an escalation tier can ring.
    #[serde(default = "yes")]
    pub(crate) tam: bool,
    /// Other spellings of the package in the case system ("Premium Plus"); the table's name always matches.
    #[serde(default)]
    pub(crate) matches: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The configured packages, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packages(BTreeMap<String, PackageSettings>);

impl Packages {
    pub(crate) fn new(packages: &BTreeMap<Name, PackageSettings>) -> Self {
        Self(packages.iter().map(|(name, p)| (name.to_string(), p.clone())).collect())
    }

    /// The package the case system's `value` names, with its table's name.
    pub(crate) fn find(&self, value: &str) -> Option<(&str, &PackageSettings)> {
        let value = value.trim();
        self.0
            .iter()
            .find(|(name, package)| {
                name.eq_ignore_ascii_case(value) || package.matches.iter().any(|m| m.trim().eq_ignore_ascii_case(value))
            })
            .map(|(name, package)| (name.as_str(), package))
    }

    /// The package called `name` (a table's name).
    pub(crate) fn get(&self, name: &str) -> Option<&PackageSettings> {
        self.0.get(name)
    }

    /// Every value that names a package without after-hours phone support: the case decision refuses them.
    pub(crate) fn refused(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, package)| !package.after_hours)
            .flat_map(|(name, package)| std::iter::once(name.clone()).chain(package.matches.iter().cloned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packages(text: &str) -> Packages {
        let table: BTreeMap<Name, PackageSettings> = toml::from_str(text).unwrap();
        Packages::new(&table)
    }

    const THREE: &str = r#"
        [standard]
        support_channel = "the support portal"
        [premium]
        support_channel = "the premium line"
        after_hours = true
        matches = ["Premium Plus"]
        [advanced]
        support_channel = "your dedicated team"
        after_hours = true
        tam = false
    "#;

    #[test]
    fn a_package_is_found_by_its_name_or_a_spelling_of_the_case_system_without_regard_to_case() {
        let packages = packages(THREE);
        assert_eq!(packages.find("Premium").map(|(name, _)| name), Some("premium"));
        assert_eq!(packages.find(" premium plus ").map(|(name, _)| name), Some("premium"));
        assert_eq!(packages.find("gold"), None);
        assert!(packages.get("advanced").is_some_and(|p| !p.tam && p.after_hours));
        assert!(packages.get("standard").is_some_and(|p| p.tam && !p.after_hours));
    }

    #[test]
    fn the_refused_list_holds_every_spelling_of_the_packages_without_after_hours_support() {
        assert_eq!(packages(THREE).refused(), ["standard"]);
    }
}
