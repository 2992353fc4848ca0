//! `status`: tells the caller about unresolved incidents and maintenance in progress, from the status page
//! copy kept in memory ([`crate::status`]); never waits on the network. Says nothing when all is well, when
//! the copy is older than `status_page.max_age_secs`, when no fetch has succeeded yet, or without a
//! `[status_page]` section.

use serde::Deserialize;

use crate::flow::engine::{Ctx, Trace, Transition};
use crate::flow::prompt::Prompt;
use crate::status::Reading;
use crate::twiml::Verb;

pub const OUTCOMES: &[&str] = &["next"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// Said before the announcement, in the same breath ("Before you enter your case number, ...").
    #[serde(default)]
    pub intro: Option<Prompt>,
}

impl Status {
    pub(crate) fn prompts(&self) -> Vec<(&'static str, &Prompt)> {
        self.intro.iter().map(|p| ("intro", p)).collect()
    }

    pub(crate) fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let Some(cache) = &ctx.services.status else {
            ctx.note("status page: none configured, nothing said".into());
            return Transition::Next("next");
        };
        match cache.read(ctx.now) {
            Reading::Announce { text, age_secs } => {
                ctx.note(format!("status page: announcing (fetched {age_secs} s ago)"));
                let spoken = match &self.intro {
                    Some(intro) => format!("{} {text}", ctx.render(intro).trim_end()),
                    None => text,
                };
                ctx.trace.push(Trace::Say(spoken.clone()));
                let voice = ctx.voice();
                ctx.response.push(Verb::Say { text: spoken, voice });
            }
            Reading::Clear { age_secs } => ctx.note(format!(
                "status page: no unresolved incident or maintenance in progress (fetched {age_secs} s ago)"
            )),
            Reading::Stale { age_secs } => ctx.note(format!(
                "status page: last fetched {age_secs} s ago, more than {} s: nothing said",
                cache.max_age().as_secs()
            )),
            Reading::NotFetched => ctx.note("status page: not fetched yet, nothing said".into()),
        }
        Transition::Next("next")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use chrono::{DateTime, Utc};

    use crate::config::Config;
    use crate::flow::Flow;
    use crate::flow::engine::{self, CallInput, Ctx, Entry, Services, Trace};
    use crate::flow::state::CallState;
    use crate::status::StatusCache;

    const FLOW: &str = r#"start = "status"

[steps.status]
kind = "status"
intro = "Calling {line_name}: "
next = "bye"

[steps.bye]
kind = "hangup"
"#;

    fn parse(text: &str) -> Result<Flow, String> {
        Flow::parse(Path::new("voice-flows/t.toml"), text)
            .map_err(|errors| errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))
    }

    #[test]
    fn the_kind_parses_with_an_optional_intro_checked_like_any_prompt() {
        assert!(parse(FLOW).is_ok());
        assert!(parse(&FLOW.replace("intro = \"Calling {line_name}: \"\n", "")).is_ok());
        let error = parse(&FLOW.replace("{line_name}", "{case_number}")).unwrap_err();
        assert!(
            error.contains("steps.status.intro: unknown placeholder {case_number}"),
            "{error}"
        );
        let error = parse(&FLOW.replace("intro =", "text =")).unwrap_err();
        assert!(error.contains("steps.status.text: unknown field `text`"), "{error}");
        let error = parse(&FLOW.replace("next = \"bye\"", "next = { next = \"bye\", down = \"bye\" }")).unwrap_err();
        assert!(error.contains("unknown outcome \"down\" for a status step"), "{error}");
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    /// Runs the shipped flow's status step on the US line at Friday 20:00 New York: (said, decided).
    async fn run_step(status: Option<StatusCache>) -> (Vec<String>, Vec<String>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/afterhours.toml");
        let config = Config::load_with_env(&path, &[]).unwrap();
        let line = config.lines.by_key("us").unwrap().clone();
        let services = Services {
            status,
            ..Services::default()
        };
        let input = CallInput::default();
        let now = at("2026-11-27T20:00:00-05:00");
        let mut ctx = Ctx::new(&line, &services, now, &input, CallState::new("us"));
        engine::run(&line.flow, Entry::Step("status"), &mut ctx).await.unwrap();
        let mut said = Vec::new();
        let mut decided = Vec::new();
        for entry in ctx.trace {
            match entry {
                Trace::Say(text) => said.push(text),
                Trace::Decision(text) => decided.push(text),
            }
        }
        (said, decided)
    }

    #[tokio::test]
    async fn the_step_speaks_only_a_fresh_announcement_then_goes_on() {
        let cache = StatusCache::new(Duration::from_secs(300));
        let case_prompt =
            "If your production system is down, please enter your case number, followed by the pound key.";

        let (said, decided) = run_step(None).await;
        assert_eq!(said, [case_prompt]);
        assert!(decided[0].starts_with("status page: none configured"), "{decided:?}");

        let (said, decided) = run_step(Some(cache.clone())).await;
        assert_eq!(said, [case_prompt]);
        assert!(decided[0].starts_with("status page: not fetched yet"), "{decided:?}");

        cache.store(at("2026-11-27T19:59:30-05:00"), None);
        let (said, decided) = run_step(Some(cache.clone())).await;
        assert_eq!(said, [case_prompt]);
        assert!(
            decided[0].starts_with("status page: no unresolved incident"),
            "{decided:?}"
        );

        cache.store(
            at("2026-11-27T19:59:30-05:00"),
            Some("We are aware of a major incident: Login.".into()),
        );
        let (said, decided) = run_step(Some(cache.clone())).await;
        assert_eq!(
            said,
            [
                "Before you enter your case number, a note on our service status. We are aware of a major incident: Login.",
                case_prompt
            ]
        );
        assert_eq!(decided[0], "status page: announcing (fetched 30 s ago)");

        cache.store(
            at("2026-11-27T19:50:00-05:00"),
            Some("We are aware of a major incident: Login.".into()),
        );
        let (said, decided) = run_step(Some(cache.clone())).await;
        assert_eq!(said, [case_prompt]);
        assert_eq!(
            decided[0],
            "status page: last fetched 600 s ago, more than 300 s: nothing said"
        );
    }
}
