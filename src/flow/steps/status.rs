//! `status`: tells the caller what the status page shows, from the copy kept in memory ([`crate::status`]);
//! never waits on the network. Unresolved incidents and maintenance in progress are said in the status
//! page module's words; components out of service with no incident open, in the flow's (`outage`, with
//! `{components}`). Says nothing when all is well, when the copy is older than `status_page.max_age_secs`,
//! when no fetch has succeeded yet, or without a `[status_page]` section.

use serde::Deserialize;

use crate::flow::engine::{Ctx, Trace, Transition};
use crate::flow::prompt::Prompt;
use crate::status::{Announcement, Reading};
use crate::twiml::Verb;

pub const OUTCOMES: &[&str] = &["next"];

/// The placeholder of `outage` that names the components in trouble.
const COMPONENTS: &str = "components";

/// What `outage` says when the flow does not say.
const DEFAULT_OUTAGE: &str = "We are aware of a service disruption affecting {components}.";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// Said before the announcement, in the same breath ("Before you enter your case number, ...").
    #[serde(default)]
    intro: Option<Prompt>,
    /// Said when the page shows components out of service without an incident: `{components}` names them
    /// ("Login, API and two more").
    #[serde(default = "default_outage")]
    outage: Prompt,
}

fn default_outage() -> Prompt {
    Prompt::try_from(DEFAULT_OUTAGE.to_owned()).unwrap_or_else(|_| Prompt::plain(DEFAULT_OUTAGE))
}

impl Status {
    pub(crate) fn prompts(&self) -> Vec<(&'static str, &Prompt)> {
        let mut prompts: Vec<(&'static str, &Prompt)> = self.intro.iter().map(|p| ("intro", p)).collect();
        prompts.push(("outage", &self.outage));
        prompts
    }

    /// The placeholders that only the prompt `key` knows, filled by the step itself.
    pub(crate) fn own_placeholders(key: &str) -> &'static [&'static str] {
        if key == "outage" { &[COMPONENTS] } else { &[] }
    }

    pub(crate) fn run(&self, ctx: &mut Ctx<'_>) -> Transition {
        let Some(cache) = &ctx.services.status else {
            ctx.trace_decision("status page: none configured, nothing said".into());
            return Transition::Next("next");
        };
        match cache.read(ctx.now) {
            Reading::Announce { announcement, age_secs } => {
                let text = match announcement {
                    Announcement::Incident(text) => {
                        ctx.trace_decision(format!("status page: announcing (fetched {age_secs} s ago)"));
                        text
                    }
                    Announcement::Outage { components } => {
                        ctx.trace_decision(format!(
                            "status page: announcing an outage of {components} without an incident (fetched \
                             {age_secs} s ago)"
                        ));
                        ctx.render_with(&self.outage, &[(COMPONENTS, &components)])
                    }
                };
                let spoken = match &self.intro {
                    Some(intro) => format!("{} {}", ctx.render(intro).trim_end(), text.trim_start()),
                    None => text,
                };
                ctx.trace.push(Trace::Say(spoken.clone()));
                let voice = ctx.voice();
                ctx.response.push(Verb::Say { text: spoken, voice });
            }
            Reading::Clear { age_secs } => ctx.trace_decision(format!(
                "status page: no unresolved incident, outage or maintenance in progress (fetched {age_secs} s ago)"
            )),
            Reading::Stale { age_secs } => ctx.trace_decision(format!(
                "status page: last fetched {age_secs} s ago, more than {} s: nothing said",
                cache.max_age().as_secs()
            )),
            Reading::NotFetched => ctx.trace_decision("status page: not fetched yet, nothing said".into()),
        }
        Transition::Next("next")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::flow::Flow;

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
        let outage = "intro = \"Calling {line_name}: \"\noutage = \"Trouble with {components} on {line_name}.\"\n";
        assert!(parse(&FLOW.replace("intro = \"Calling {line_name}: \"\n", outage)).is_ok());
        let error = parse(&FLOW.replace("Calling {line_name}", "Calling about {components}")).unwrap_err();
        assert!(
            error.contains("steps.status.intro: unknown placeholder {components}"),
            "only outage knows it: {error}"
        );
        let error =
            parse(&FLOW.replace("intro = \"Calling {line_name}: \"\n", "outage = \"{component} down\"\n")).unwrap_err();
        assert!(
            error.contains(
                "steps.status.outage: unknown placeholder {component}: expected one of components, line_name"
            ),
            "{error}"
        );
        let error = parse(&FLOW.replace("next = \"bye\"", "next = { next = \"bye\", down = \"bye\" }")).unwrap_err();
        assert!(error.contains("unknown outcome \"down\" for a status step"), "{error}");
    }
}
