//! The on-call commands as a user runs them: the built binary with the shipped configuration, only `PATH`
//! and what the test sets in its environment, writing to the real redis-server that `scripts/test` starts
//! (AFTERHOURS_TEST_REDIS_URL), under a key prefix no other test uses.
//!
//! The shipped rotation (config/oncall.toml) on Friday, November 27 2026, 8 PM in New York: Bob is primary
//! and Carol secondary until Monday's 10 AM handoff; Carol is the database specialist until 2 AM (7 AM
//! London time), with Alice, the lead, always in tier 4; tier 3 is the case's TAM, nobody without a call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const TOKEN: (&str, &str) = ("AFTERHOURS_PROVIDER__AUTH_TOKEN", "test-token");
const FRIDAY_NIGHT: &str = "2026-11-27T20:00:00-05:00";

fn redis_url() -> String {
    std::env::var("AFTERHOURS_TEST_REDIS_URL")
        .expect("AFTERHOURS_TEST_REDIS_URL is not set: run the tests with ./scripts/test, which starts redis-server")
}

fn unique() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn shipped(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// What one run of the program did.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "success: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.success, self.stdout, self.stderr
        )
    }
}

/// `afterhours --config config/afterhours.toml ARGS...` with only `PATH` and `env` in its environment.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_afterhours"));
    command
        .arg("--config")
        .arg(shipped("config/afterhours.toml"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied());
    command
}

/// Runs [`command`] to its end.
fn afterhours(args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = command(args, env).output().unwrap();
    Run {
        success: output.status.success(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// One deployment's on-call store: Redis under a prefix of its own, and a scratch folder for files.
struct Deployment {
    prefix: String,
    dir: PathBuf,
}

impl Deployment {
    fn new() -> Self {
        let n = unique();
        let dir = std::env::temp_dir().join(format!("afterhours-oncall-cli-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            prefix: format!("test:oncall_cli:{}:{n}:", std::process::id()),
            dir,
        }
    }

    /// `afterhours ARGS...` with Redis configured from the environment.
    fn run(&self, args: &[&str]) -> Run {
        let url = redis_url();
        afterhours(
            args,
            &[
                TOKEN,
                ("AFTERHOURS_REDIS__URL", &url),
                ("AFTERHOURS_REDIS__PREFIX", &self.prefix),
            ],
        )
    }

    /// Like [`Deployment::run`], and it must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert!(run.success, "afterhours {args:?}:\n{run:?}");
        run.stdout
    }

    fn import(&self, file: &Path) -> Run {
        self.run(&["rotation", "import", file.to_str().unwrap()])
    }

    fn import_shipped(&self) {
        let run = self.import(&shipped("config/oncall.toml"));
        assert!(run.success, "{run:?}");
    }

    fn export(&self) -> String {
        self.ok(&["rotation", "export"])
    }

    fn oncall_friday_night(&self) -> String {
        self.ok(&["oncall", "--line", "us", "--at", FRIDAY_NIGHT])
    }

    /// Writes `text` to `name` in the scratch folder.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The chain of the US line on Friday night, with the shipped rotation.
const SHIPPED_CHAIN: &str = "\
line us (+18005550100), policy default, at 2026-11-27T20:00:00-05:00
  tier 1 (rings 20 s):
    Bob Okafor +15550100002 until Monday, November 30, 10 AM Eastern time [primary]
  tier 2 (rings 20 s):
    Carol Nguyen +15550100003 until Monday, November 30, 10 AM Eastern time [secondary]
  tier 3 (rings 25 s):
    the case's TAM (for a verified case whose package has one)
  tier 4 (rings 30 s):
    Carol Nguyen +15550100003 until Saturday, November 28, 2 AM Eastern time [specialists]
    Alice Martin +15550100001 always
  then the tiers again, 1 more time(s)
";

// ---------------------------------------------------------------------------------------------------------
// rotation import / export

#[test]
fn importing_the_shipped_rotation_says_what_was_imported() {
    let deployment = Deployment::new();

    let run = deployment.import(&shipped("config/oncall.toml"));

    assert!(run.success, "{run:?}");
    assert_eq!(
        run.stdout,
        "imported 4 engineers, 3 rotations, 1 overrides, 1 policies\n"
    );
}

#[test]
fn an_export_imported_again_exports_the_same() {
    let deployment = Deployment::new();
    deployment.import_shipped();

    let first = deployment.export();
    let file = deployment.file("export.toml", &first);
    let again = deployment.import(&file);
    let second = deployment.export();

    assert!(again.success, "{again:?}");
    assert_eq!(first, second);
    for id in [
        "alice",
        "bob",
        "carol",
        "dave",
        "primary",
        "secondary",
        "specialists",
        "xmas-2026",
        "default",
    ] {
        assert!(first.contains(&format!("id = \"{id}\"")), "{id} in:\n{first}");
    }
    assert_eq!(deployment.oncall_friday_night(), SHIPPED_CHAIN);
}

#[test]
fn an_export_into_an_empty_store_sets_up_the_same_on_call() {
    let deployment = Deployment::new();
    deployment.import_shipped();
    deployment.ok(&[
        "override",
        "add",
        "--rotation",
        "secondary",
        "--engineer",
        "dave",
        "--start",
        "2026-11-27T18:00:00-05:00",
        "--end",
        "2026-11-28T09:00:00-05:00",
        "--id",
        "swap",
    ]);
    let export = deployment.export();

    let elsewhere = Deployment::new();
    let run = elsewhere.import(&elsewhere.file("export.toml", &export));

    assert!(run.success, "{run:?}");
    assert_eq!(elsewhere.export(), export);
    assert_eq!(elsewhere.oncall_friday_night(), deployment.oncall_friday_night());
}

// ---------------------------------------------------------------------------------------------------------
// oncall

#[test]
fn oncall_prints_every_tier_with_names_phones_and_until_when() {
    let deployment = Deployment::new();
    deployment.import_shipped();

    assert_eq!(deployment.oncall_friday_night(), SHIPPED_CHAIN);
}

#[test]
fn oncall_says_which_tiers_have_nobody_and_when_nobody_at_all_is_on_call() {
    let deployment = Deployment::new();
    let rotation = |id: &str, participants: &str| {
        format!(
            "[[rotations]]\nid = \"{id}\"\nname = \"{id}\"\ntime_zone = \"America/New_York\"\n\
             start = \"2026-01-05T10:00:00\"\nshift = \"7d\"\nparticipants = {participants}\n\n"
        )
    };
    let engineers = "[[engineers]]\nid = \"carol\"\nname = \"Carol Nguyen\"\nphone = \"+15550100003\"\n\
                     time_zone = \"America/Los_Angeles\"\n\n";
    let one_empty = format!(
        "{engineers}{}{}[[policies]]\nid = \"default\"\n[[policies.tiers]]\nrotations = [\"primary\"]\n\
         [[policies.tiers]]\nrotations = [\"secondary\"]\n",
        rotation("primary", "[]"),
        rotation("secondary", "[\"carol\"]"),
    );
    assert!(
        deployment
            .import(&deployment.file("one-empty.toml", &one_empty))
            .success
    );

    let chain = deployment.oncall_friday_night();
    assert!(
        chain.contains("  tier 1: nobody (skipped)\n  tier 2 (rings 20 s):\n    Carol Nguyen"),
        "{chain}"
    );
    assert!(!chain.contains("NOBODY"), "{chain}");

    let nobody = Deployment::new();
    let all_empty = format!(
        "{engineers}{}[[policies]]\nid = \"default\"\n[[policies.tiers]]\nrotations = [\"primary\"]\n",
        rotation("primary", "[]"),
    );
    assert!(nobody.import(&nobody.file("all-empty.toml", &all_empty)).success);
    let chain = nobody.oncall_friday_night();
    assert!(
        chain.contains("NOBODY is on call: calls go straight to voicemail"),
        "{chain}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// override add / list / remove

#[test]
fn an_override_puts_dave_in_tier_1_until_it_is_removed() {
    let deployment = Deployment::new();
    deployment.import_shipped();

    let added = deployment.ok(&[
        "override",
        "add",
        "--rotation",
        "primary",
        "--engineer",
        "dave",
        "--start",
        "2026-11-27T18:00:00-05:00",
        "--end",
        "2026-11-28T09:00:00-05:00",
    ]);
    assert_eq!(
        added,
        "added override primary-20261127T230000Z (dave on primary from 2026-11-27 23:00:00 UTC to \
         2026-11-28 14:00:00 UTC)\n"
    );

    let chain = deployment.oncall_friday_night();
    assert!(
        chain.contains(
            "  tier 1 (rings 20 s):\n    Dave Price +15550100004 until Saturday, November 28, 9 AM Eastern time \
             [primary]\n  tier 2"
        ),
        "{chain}"
    );
    assert!(!chain.contains("Bob"), "{chain}");

    assert_eq!(
        deployment.ok(&["override", "list"]),
        "primary\tprimary-20261127T230000Z\tdave\t2026-11-27T23:00:00+00:00\t2026-11-28T14:00:00+00:00\n\
         primary\txmas-2026\tbob\t2026-12-24T23:00:00+00:00\t2026-12-26T14:00:00+00:00\n"
    );
    assert_eq!(deployment.ok(&["override", "list", "--rotation", "secondary"]), "");

    assert_eq!(
        deployment.ok(&[
            "override",
            "remove",
            "--rotation",
            "primary",
            "primary-20261127T230000Z"
        ]),
        "removed override primary-20261127T230000Z from primary\n"
    );
    assert_eq!(
        deployment.ok(&["override", "list"]),
        "primary\txmas-2026\tbob\t2026-12-24T23:00:00+00:00\t2026-12-26T14:00:00+00:00\n"
    );
    assert_eq!(deployment.oncall_friday_night(), SHIPPED_CHAIN);

    let twice = deployment.run(&[
        "override",
        "remove",
        "--rotation",
        "primary",
        "primary-20261127T230000Z",
    ]);
    assert!(!twice.success, "{twice:?}");
    assert!(
        twice
            .stderr
            .contains(r#"rotation "primary" has no override "primary-20261127T230000Z""#),
        "{twice:?}"
    );
}

#[test]
fn an_override_for_an_unknown_engineer_or_ending_before_it_starts_is_refused() {
    let deployment = Deployment::new();
    deployment.import_shipped();
    let before = deployment.export();
    let add = |engineer: &str, start: &str, end: &str| {
        deployment.run(&[
            "override",
            "add",
            "--rotation",
            "primary",
            "--engineer",
            engineer,
            "--start",
            start,
            "--end",
            end,
        ])
    };

    let unknown = add("zed", "2026-11-27T18:00:00-05:00", "2026-11-28T09:00:00-05:00");
    let backwards = add("dave", "2026-11-28T18:00:00-05:00", "2026-11-28T09:00:00-05:00");

    assert!(
        !unknown.success && unknown.stderr.contains(r#"unknown engineer "zed""#),
        "{unknown:?}"
    );
    assert!(
        !backwards.success && backwards.stderr.contains("before it starts"),
        "{backwards:?}"
    );
    assert_eq!(deployment.export(), before);
}

// ---------------------------------------------------------------------------------------------------------
// A bad rotation file is refused whole.

/// The shipped rotation with `from` (found exactly once) replaced by `to`, plus a change that is valid on its
/// own (Alice renamed), so that a partial import would show in the export.
fn broken_rotation(deployment: &Deployment, from: &str, to: &str) -> (PathBuf, String) {
    let text = std::fs::read_to_string(shipped("config/oncall.toml")).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} is not in config/oncall.toml exactly once"
    );
    let text = text
        .replacen(from, to, 1)
        .replacen(r#"name = "Alice Martin""#, r#"name = "Alice Renamed""#, 1);
    (deployment.file("broken.toml", &text), text)
}

/// Importing the shipped rotation with `from` replaced by `to` is refused: an error names the file, the line
/// of `to` and `key`, and says `message`; nothing is imported, and the store keeps what it had.
fn assert_refused(from: &str, to: &str, key: &str, message: &str) {
    let deployment = Deployment::new();
    deployment.import_shipped();
    let before = deployment.export();
    let (path, text) = broken_rotation(&deployment, from, to);
    let line = text.lines().position(|l| l.contains(to)).unwrap() + 1;

    let run = deployment.import(&path);

    assert!(!run.success, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    let expected = format!("error: {}:{line}: {key}: {message}", path.display());
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&expected)),
        "expected a line starting {expected:?}:\n{run:?}"
    );
    assert!(run.stderr.contains("nothing was imported"), "{run:?}");
    let after = deployment.export();
    assert_eq!(after, before, "the store changed");
    assert!(!after.contains("Alice Renamed"));
    assert_eq!(deployment.oncall_friday_night(), SHIPPED_CHAIN);
}

#[test]
fn a_rotation_naming_an_unknown_engineer_is_refused() {
    assert_refused(
        r#"participants = ["alice", "bob", "carol"]"#,
        r#"participants = ["alice", "bob", "zed"]"#,
        "rotations[0].participants[2]",
        r#"unknown engineer "zed""#,
    );
}

#[test]
fn a_duplicate_engineer_id_is_refused() {
    assert_refused(
        r#"id = "bob""#,
        r#"id = "alice" # a second alice"#,
        "engineers[1].id",
        r#"duplicate engineer id "alice": first defined at line "#,
    );
}

#[test]
fn a_phone_number_not_in_e164_form_is_refused() {
    assert_refused(
        r#"phone = "+15550100002""#,
        r#"phone = "(555) 010-0002""#,
        "engineers[1].phone",
        r#"invalid phone number "(555) 010-0002": expected E.164"#,
    );
}

#[test]
fn a_zero_shift_is_refused() {
    assert_refused(
        "shift = \"12h\"",
        "shift = \"0h\"",
        "rotations[2].shift",
        r#"invalid shift "0h""#,
    );
}

#[test]
fn an_override_ending_before_it_starts_is_refused() {
    assert_refused(
        r#"end = "2026-12-26T09:00:00-05:00""#,
        r#"end = "2026-12-23T09:00:00-05:00""#,
        "overrides[0].end",
        r#"end "2026-12-23T09:00:00-05:00" is not after start "2026-12-24T18:00:00-05:00""#,
    );
}

// ---------------------------------------------------------------------------------------------------------
// Without Redis

#[test]
fn without_redis_import_says_to_edit_the_file_instead() {
    let run = afterhours(
        &["rotation", "import", shipped("config/oncall.toml").to_str().unwrap()],
        &[TOKEN],
    );

    assert!(!run.success, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    assert!(run.stderr.contains("no Redis is configured (redis.url)"), "{run:?}");
    assert!(run.stderr.contains("config/oncall.toml"), "{run:?}");
    assert!(run.stderr.contains("edit that file instead"), "{run:?}");
}

#[test]
fn without_redis_oncall_reads_the_shipped_file_and_overrides_are_refused() {
    let chain = afterhours(&["oncall", "--line", "us", "--at", FRIDAY_NIGHT], &[TOKEN]);
    let add = afterhours(
        &[
            "override",
            "add",
            "--rotation",
            "primary",
            "--engineer",
            "dave",
            "--start",
            "2026-11-27T18:00:00-05:00",
            "--end",
            "2026-11-28T09:00:00-05:00",
        ],
        &[TOKEN],
    );

    assert!(chain.success, "{chain:?}");
    assert_eq!(chain.stdout, SHIPPED_CHAIN);
    assert!(!add.success, "{add:?}");
    assert!(add.stderr.contains("edit that file instead"), "{add:?}");
}

/// `afterhours oncall | head -1`, `afterhours flow graph ... | head`: a reader that stops early ends the
/// command quietly and successfully, as it does any Unix tool, instead of panicking ("failed printing to stdout").
#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    for args in [
        &["oncall", "--line", "us", "--at", FRIDAY_NIGHT][..],
        &["flow", "graph", "critical-incident"],
        &[
            "simulate",
            "--to",
            "+18005550100",
            "--from",
            "+15551234567",
            "--at",
            FRIDAY_NIGHT,
        ],
    ] {
        // A pipe whose reader is already gone: the first write fails with a broken pipe.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = command(args, &[TOKEN]).stdout(writer).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "afterhours {args:?}: {:?}\n{stderr}",
            output.status
        );
        assert!(!stderr.contains("panicked"), "afterhours {args:?}:\n{stderr}");
    }
}

/// `rotation calendar` prints an iCalendar feed of the store's rotation, or of one engineer, that calendar
/// apps can import: a VCALENDAR with the rotation's zone and one VEVENT per shift; an unknown name fails.
#[test]
fn a_rotation_or_an_engineer_prints_as_an_icalendar_feed() {
    let deployment = Deployment::new();
    deployment.import_shipped();

    let feed = deployment.ok(&["rotation", "calendar", "--rotation", "primary", "--weeks", "2"]);
    assert!(feed.starts_with("BEGIN:VCALENDAR\r\n"), "{feed}");
    assert!(feed.trim_end().ends_with("END:VCALENDAR"), "{feed}");
    assert!(feed.contains("X-WR-CALNAME:Primary on-call\r\n"), "{feed}");
    assert!(feed.contains("BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n"), "{feed}");
    // A week back and two ahead of weekly shifts: three at least (more where an override splits one).
    let shifts = feed.matches("BEGIN:VEVENT").count();
    assert!(shifts >= 3, "{shifts} events:\n{feed}");

    let alice = deployment.ok(&["rotation", "calendar", "--engineer", "alice"]);
    let engineers: Vec<&str> = alice
        .lines()
        .filter(|l| l.starts_with("X-AFTERHOURS-ENGINEER:"))
        .collect();
    assert!(!engineers.is_empty(), "{alice}");
    assert!(
        engineers.iter().all(|l| l.trim_end() == "X-AFTERHOURS-ENGINEER:alice"),
        "{alice}"
    );

    let unknown = deployment.run(&["rotation", "calendar", "--rotation", "nope"]);
    assert!(!unknown.success, "{unknown:?}");
    assert!(
        unknown.stderr.contains("no rotation \"nope\" in the store"),
        "{unknown:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// feed issue / list / revoke

/// `feed issue` prints a token once, `feed list` shows the feed without it, `feed revoke` ends it; a feed of
/// something unknown is refused, and without Redis the commands say where feeds are managed instead.
#[test]
fn a_feed_is_issued_listed_without_its_token_and_revoked() {
    let deployment = Deployment::new();
    deployment.import_shipped();

    let issued = deployment.ok(&["feed", "issue", "--rotation", "primary", "--label", "Bob's phone"]);
    let field = |name: &str| {
        issued
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{issued}"))
            .trim()
            .to_owned()
    };
    let token = field("token:");
    assert_eq!(token.len(), 32, "{issued}");
    assert_eq!(field("path:"), format!("/feeds/{token}.ics"));
    let id = issued
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("issued feed "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(issued.contains("(rotation primary)"), "{issued}");

    let listed = deployment.ok(&["feed", "list"]);
    assert!(listed.starts_with(&format!("{id}\trotation primary\t")), "{listed}");
    assert!(listed.trim_end().ends_with("\tBob's phone"), "{listed}");
    assert!(!listed.contains(&token), "{listed}");

    let unknown = deployment.run(&["feed", "issue", "--engineer", "nobody"]);
    assert!(!unknown.success, "{unknown:?}");
    assert!(unknown.stderr.contains("unknown engineer \"nobody\""), "{unknown:?}");

    assert_eq!(deployment.ok(&["feed", "revoke", &id]), format!("revoked feed {id}\n"));
    assert_eq!(deployment.ok(&["feed", "list"]), "");
    let again = deployment.run(&["feed", "revoke", &id]);
    assert!(!again.success && again.stderr.contains("no feed"), "{again:?}");

    let embedded = afterhours(&["feed", "list"], &[TOKEN]);
    assert!(!embedded.success, "{embedded:?}");
    assert!(embedded.stderr.contains("no Redis is configured"), "{embedded:?}");
}
