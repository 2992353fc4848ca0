//! What the after-hours policy makes of a case lookup: a pure function, tested as a table.

use std::fmt;

use super::caller::Caller;
use super::{Case, CaseError};

/// The outcome of verifying a case; each is an outcome of the `verify_case` step with its own prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Critical, production, open (and the caller registered, the package entitled, where required).
    Verified,
    NotFound,
    NotCritical,
    NotProduction,
    Closed,
    CallerNotRegistered,
    NotEntitled,
    /// The case system could not answer in time or in a form we understand.
    Unavailable,
}

impl Decision {
    #[cfg(test)]
    const ALL: [Decision; 8] = [
        Decision::Verified,
        Decision::NotFound,
        Decision::NotCritical,
        Decision::NotProduction,
        Decision::Closed,
        Decision::CallerNotRegistered,
        Decision::NotEntitled,
        Decision::Unavailable,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Decision::Verified => "verified",
            Decision::NotFound => "not_found",
            Decision::NotCritical => "not_critical",
            Decision::NotProduction => "not_production",
            Decision::Closed => "closed",
            Decision::CallerNotRegistered => "caller_not_registered",
            Decision::NotEntitled => "not_entitled",
            Decision::Unavailable => "unavailable",
        }
    }

    #[cfg(test)]
    fn parse(text: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the line and the case system require beyond critical + production + open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Requirements {
    /// The caller's number must be one of the case's contact phones.
    pub(crate) registered_caller: bool,
    /// `cases.after_hours_packages`: the only packages entitled to after-hours phone support; `None`: any.
    pub(crate) entitled_packages: Option<Vec<String>>,
    /// The names (and spellings) of the `[packages]` without after-hours phone support: a case of one of them
    /// is refused. A package no table knows is not refused for it.
    pub(crate) refused_packages: Vec<String>,
    /// A caller's number counts as registered only with A-level SHAKEN/STIR attestation.
    pub(crate) a_attestation: bool,
}

/// True when `caller` is registered on `case`: their number is one of its contact phones, it is not withheld,
/// and it is A-attested where the line requires that.
pub(crate) fn registered(case: &Case, caller: &Caller<'_>, requires: &Requirements) -> bool {
    !caller.withheld()
        && (!requires.a_attestation || caller.a_attested)
        && case.contact_phones.iter().any(|p| same_number(p, caller.number))
}

/// What the caller is told: the decision itself, except that on a line that requires a registered caller,
/// a caller not registered on the case hears one refusal, `CallerNotRegistered`, whatever the case is (none,
/// closed, not critical ...), so that a stranger learns nothing about it.
pub(crate) fn told(decision: Decision, registered: bool, requires: &Requirements) -> Decision {
    let refusal = !matches!(decision, Decision::Verified | Decision::Unavailable);
    if requires.registered_caller && !registered && refusal {
        Decision::CallerNotRegistered
    } else {
        decision
    }
}

impl Decision {
    /// True for the refusals that someone guessing case numbers meets: there is no such case, or it is not
    /// theirs. Those are what the guess limit counts.
    pub(crate) fn is_guess(self) -> bool {
        matches!(self, Decision::NotFound | Decision::CallerNotRegistered)
    }
}

/// The decision for a lookup's result and a caller. Checks run in the order the caller would want to hear
/// about them: a closed case first (open a new one), then severity, environment, entitlement, registration.
pub(crate) fn decide(
    lookup: &Result<Option<Case>, CaseError>,
    caller: &Caller<'_>,
    requires: &Requirements,
) -> Decision {
    let case = match lookup {
        Err(_) => return Decision::Unavailable,
        Ok(None) => return Decision::NotFound,
        Ok(Some(case)) => case,
    };
    if !case.open {
        Decision::Closed
    } else if !case.critical {
        Decision::NotCritical
    } else if !case.production {
        Decision::NotProduction
    } else if case
        .support_package
        .as_deref()
        .is_some_and(|p| super::one_of(p.trim(), &requires.refused_packages))
        || requires.entitled_packages.as_ref().is_some_and(|entitled| {
            !case
                .support_package
                .as_deref()
                .is_some_and(|p| super::one_of(p, entitled))
        })
    {
        Decision::NotEntitled
    } else if requires.registered_caller && !registered(case, caller, requires) {
        // Not among the phones read, but maybe among those the case system failed to list: refusing would
        // turn a registered caller away for the case system's failure.
        if case.contact_phones_partial {
            Decision::Unavailable
        } else {
            Decision::CallerNotRegistered
        }
    } else {
        Decision::Verified
    }
}

/// Two phone numbers are the same when their digits are, or, both having at least ten digits, when their
/// last ten digits are (a contact written without its country code: "(555) 123-4567" and "+1 555 123 4567").
fn same_number(a: &str, b: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (a, b) = (digits(a), digits(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    a == b || (a.len() >= 10 && b.len() >= 10 && a[a.len() - 10..] == b[b.len() - 10..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER: &str = "+15551234567";

    type Lookup = Result<Option<Case>, CaseError>;

    fn critical_production_open() -> Case {
        Case {
            id: "123456".into(),
            customer: Some("ACME Corp".into()),
            severity: "critical".into(),
            critical: true,
            environment: "production".into(),
            production: true,
            status: "open".into(),
            open: true,
            contact_phones: vec!["+1 (555) 123-4567".into()],
            contact_phones_partial: false,
            support_package: Some("Premium".into()),
            tam: None,
        }
    }

    #[test]
    fn decisions() {
        let base = critical_production_open;
        let with = |f: fn(&mut Case)| {
            let mut case = base();
            f(&mut case);
            Ok(Some(case))
        };
        let plain = Requirements::default();
        let registered = Requirements {
            registered_caller: true,
            ..Requirements::default()
        };
        let entitled = Requirements {
            entitled_packages: Some(vec!["premium".into(), "enterprise".into()]),
            ..Requirements::default()
        };
        #[rustfmt::skip]
        let table: Vec<(&str, Lookup, &str, &Requirements, Decision)> = vec![
            ("critical, production, open",            Ok(Some(base())),                         CALLER,         &plain,      Decision::Verified),
            ("no such case",                          Ok(None),                                 CALLER,         &plain,      Decision::NotFound),
            ("case system timed out",                 Err(CaseError::Timeout(2500)),            CALLER,         &plain,      Decision::Unavailable),
            ("case system sent HTML",                 Err(CaseError::Format("html".into())),    CALLER,         &plain,      Decision::Unavailable),
            ("closed",                                with(|c| c.open = false),                 CALLER,         &plain,      Decision::Closed),
            ("closed and not critical: closed first", with(|c| { c.open = false; c.critical = false }), CALLER, &plain,   Decision::Closed),
            ("not critical",                          with(|c| c.critical = false),             CALLER,         &plain,      Decision::NotCritical),
            ("not production",                        with(|c| c.production = false),           CALLER,         &plain,      Decision::NotProduction),
            ("not critical nor production",           with(|c| { c.critical = false; c.production = false }), CALLER, &plain, Decision::NotCritical),
            ("registered caller required, is one",    Ok(Some(base())),                         CALLER,         &registered, Decision::Verified),
            ("registered caller required, is not",    Ok(Some(base())),                         "+15559999999", &registered, Decision::CallerNotRegistered),
            ("registered caller required, anonymous", Ok(Some(base())),                         "anonymous",    &registered, Decision::CallerNotRegistered),
            ("registration not required",             Ok(Some(base())),                         "+15559999999", &plain,      Decision::Verified),
            ("required, phones partly read, not among them", with(|c| c.contact_phones_partial = true), "+15559999999", &registered, Decision::Unavailable),
            ("required, phones partly read, among them", with(|c| c.contact_phones_partial = true), CALLER, &registered, Decision::Verified),
            ("entitled package",                      Ok(Some(base())),                         CALLER,         &entitled,   Decision::Verified),
            ("package not entitled",                  with(|c| c.support_package = Some("Basic".into())), CALLER, &entitled, Decision::NotEntitled),
            ("package unknown, entitlement required", with(|c| c.support_package = None),       CALLER,         &entitled,   Decision::NotEntitled),
            ("package unknown, not required",         with(|c| c.support_package = None),       CALLER,         &plain,      Decision::Verified),
        ];
        for (fact, lookup, caller, requires, expected) in table {
            assert_eq!(
                decide(&lookup, &Caller::new(caller, None), requires),
                expected,
                "{fact}"
            );
        }
    }

    #[test]
    fn registration_needs_a_number_on_the_case_and_attestation_where_required() {
        let case = critical_production_open();
        let plain = Requirements::default();
        let attested = Requirements {
            a_attestation: true,
            ..Requirements::default()
        };
        let a = Some("TN-Validation-Passed-A");
        let b = Some("TN-Validation-Passed-B");
        #[rustfmt::skip]
        let table = [
            ("on the case",                            CALLER,         None, &plain,    true),
            ("not on the case",                        "+15559999999", None, &plain,    false),
            ("withheld",                               "anonymous",    None, &plain,    false),
            ("on the case, A-attested, required",      CALLER,         a,    &attested, true),
            ("on the case, B-attested, A required",    CALLER,         b,    &attested, false),
            ("on the case, unattested, A required",    CALLER,         None, &attested, false),
            ("not on the case, A-attested",            "+15559999999", a,    &attested, false),
        ];
        for (fact, number, verstat, requires, expected) in table {
            assert_eq!(
                registered(&case, &Caller::new(number, verstat), requires),
                expected,
                "{fact}"
            );
        }
        let requiring = Requirements {
            registered_caller: true,
            a_attestation: true,
            ..Requirements::default()
        };
        assert_eq!(
            decide(&Ok(Some(case)), &Caller::new(CALLER, b), &requiring),
            Decision::CallerNotRegistered
        );
    }

    #[test]
    fn a_stranger_hears_one_refusal_on_a_line_that_requires_registration() {
        let requiring = Requirements {
            registered_caller: true,
            ..Requirements::default()
        };
        let open_line = Requirements::default();
        for decision in Decision::ALL {
            let expected = match decision {
                Decision::Verified | Decision::Unavailable => decision,
                _ => Decision::CallerNotRegistered,
            };
            assert_eq!(told(decision, false, &requiring), expected, "{decision}");
            assert_eq!(told(decision, true, &requiring), decision, "registered: {decision}");
            assert_eq!(told(decision, false, &open_line), decision, "open line: {decision}");
        }
    }

    #[test]
    fn guesses_are_the_refusals_a_guesser_meets() {
        let guesses: Vec<Decision> = Decision::ALL.into_iter().filter(|d| d.is_guess()).collect();
        assert_eq!(guesses, [Decision::NotFound, Decision::CallerNotRegistered]);
    }

    #[test]
    fn numbers_match_by_digits_or_by_their_last_ten() {
        assert!(same_number("+15551234567", "+1 (555) 123-4567"));
        assert!(same_number("+15551234567", "555-123-4567"));
        assert!(!same_number("+15551234567", "+15551234568"));
        assert!(!same_number("+4412345", "12345"), "short numbers must match whole");
        assert!(!same_number("", ""));
    }

    #[test]
    fn decisions_round_trip_through_their_names() {
        for decision in Decision::ALL {
            assert_eq!(Decision::parse(decision.as_str()), Some(decision));
        }
    }

    #[test]
    fn a_package_without_after_hours_support_is_refused_and_one_no_table_knows_is_not() {
        let tables = Requirements {
            refused_packages: vec!["standard".into(), "Basic Plan".into()],
            ..Requirements::default()
        };
        let decide_for = |package: Option<&str>| {
            let mut case = critical_production_open();
            case.support_package = package.map(str::to_owned);
            decide(&Ok(Some(case)), &Caller::new(CALLER, None), &tables)
        };
        assert_eq!(decide_for(Some("Standard")), Decision::NotEntitled);
        assert_eq!(decide_for(Some(" basic plan ")), Decision::NotEntitled);
        assert_eq!(decide_for(Some("Premium")), Decision::Verified);
        assert_eq!(decide_for(Some("gold")), Decision::Verified, "unknown: not refused");
        assert_eq!(decide_for(None), Decision::Verified, "not given: not refused");
    }
}
