//! `case_tam`: the Technical Account Manager whom a call's `case_tam` tiers ring: the engineer of the
//! on-call data that the call's verified case names, or why nobody is rung. Pure: it reads the call's
//! variables, the configured packages and the on-call data.
//!
//! The case system names the TAM by an engineer's id or email; only that engineer's phone from the on-call
//! data is ever dialled, never a number the case system gives.

use std::collections::BTreeMap;

use crate::flow::engine::{CASE_PACKAGE_VAR, PACKAGE_VAR, TAM_VAR};
use crate::oncall::model::{Engineer, OnCallData};
use crate::settings::Packages;

/// Why the call's `case_tam` tiers ring nobody.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Skip {
    /// The case system did not vouch for the case (it could not be reached, and the line bridges anyway):
    /// whoever it would have named is unknown.
    #[error("the case is not verified, so it names no TAM")]
    NotVerified,
    #[error("the case names no TAM")]
    NoneNamed,
    #[error("the case's package {0:?} has no TAM")]
    PackageWithoutTam(String),
    #[error("the case's TAM {0:?} is not an engineer of the on-call data")]
    Unknown(String),
}

/// The engineer to ring as the case's TAM, for a call whose variables are `vars`.
///
/// Rung only for a verified case that names a TAM who is an engineer of `data` (by id or email), unless the
/// case's package is configured with `tam = false`; a package that is not configured keeps its TAM.
pub(crate) fn find<'d>(
    vars: &BTreeMap<String, String>,
    packages: &Packages,
    data: &'d OnCallData,
) -> Result<&'d Engineer, Skip> {
    if vars.get("decision").map(String::as_str) != Some("verified") {
        return Err(Skip::NotVerified);
    }
    let named = vars
        .get(TAM_VAR)
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or(Skip::NoneNamed)?;
    // The case's package whoever calls; the caller's, from a call state that carries only that.
    let package = vars.get(CASE_PACKAGE_VAR).or_else(|| vars.get(PACKAGE_VAR));
    if let Some(package) = package.filter(|p| packages.get(p).is_some_and(|p| !p.tam)) {
        return Err(Skip::PackageWithoutTam(package.clone()));
    }
    data.find_engineer(named).ok_or_else(|| Skip::Unknown(named.to_owned()))
}

/// The name a case system gave for its TAM, as logs may show it: masked when it has no letter, since it may
/// then be a phone number.
pub(crate) fn for_log(named: &str) -> String {
    if named.chars().any(char::is_alphabetic) {
        named.to_owned()
    } else {
        crate::phone::mask(named)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::PhoneNumber;

    fn data() -> OnCallData {
        let mut data = OnCallData::default();
        data.engineers.insert(
            "dave".into(),
            Engineer {
                id: "dave".into(),
                name: "Dave Price".into(),
                phone: PhoneNumber::parse("+15550100004").unwrap(),
                time_zone: chrono_tz::Europe::London,
                email: Some("dave.price@example.com".into()),
            },
        );
        data
    }

    fn packages() -> Packages {
        let table: BTreeMap<crate::settings::Name, crate::settings::PackageSettings> = toml::from_str(
            r#"
            [premium]
            support_channel = "the premium line"
            [advanced]
            support_channel = "your dedicated team"
            tam = false
            "#,
        )
        .unwrap();
        Packages::new(&table)
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn found(pairs: &[(&str, &str)]) -> Result<String, Skip> {
        find(&vars(pairs), &packages(), &data()).map(|e| e.id.clone())
    }

    #[test]
    fn a_verified_case_rings_its_tam_found_by_id_or_by_email_without_regard_to_case() {
        assert_eq!(found(&[("decision", "verified"), ("tam", "dave")]), Ok("dave".into()));
        assert_eq!(
            found(&[("decision", "verified"), ("tam", " Dave.Price@Example.com ")]),
            Ok("dave".into())
        );
        assert_eq!(
            found(&[("decision", "verified"), ("tam", "dave"), ("case_package", "premium")]),
            Ok("dave".into())
        );
        assert_eq!(
            found(&[("decision", "verified"), ("tam", "dave"), ("case_package", "gold")]),
            Ok("dave".into()),
            "a package that is not configured keeps its TAM"
        );
    }

    #[test]
    fn nobody_is_rung_for_an_unverified_case_a_case_without_tam_or_a_package_without_one() {
        assert_eq!(
            found(&[("decision", "unverified"), ("tam", "dave")]),
            Err(Skip::NotVerified)
        );
        assert_eq!(found(&[("tam", "dave")]), Err(Skip::NotVerified));
        assert_eq!(found(&[("decision", "verified")]), Err(Skip::NoneNamed));
        assert_eq!(found(&[("decision", "verified"), ("tam", "  ")]), Err(Skip::NoneNamed));
        assert_eq!(
            found(&[("decision", "verified"), ("tam", "dave"), ("case_package", "advanced")]),
            Err(Skip::PackageWithoutTam("advanced".into()))
        );
        assert_eq!(
            found(&[("decision", "verified"), ("tam", "dave"), ("package", "advanced")]),
            Err(Skip::PackageWithoutTam("advanced".into()))
        );
    }

    #[test]
    fn a_tam_named_by_what_may_be_a_phone_number_is_masked_in_logs() {
        assert_eq!(for_log("+15550100004"), "+*******0004");
        assert_eq!(for_log("dana@example.com"), "dana@example.com");
    }

    #[test]
    fn a_tam_who_is_not_an_engineer_is_not_rung_even_when_named_by_a_phone_number() {
        for named in ["dana@example.com", "+15550100004", "Dave Price"] {
            assert_eq!(
                found(&[("decision", "verified"), ("tam", named)]),
                Err(Skip::Unknown(named.into())),
                "{named}"
            );
        }
    }
}
