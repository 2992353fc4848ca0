//! Loading and validating voice flows: each test is one rule, checked on the exact message a user reads.

use std::path::Path;

use super::Flow;

const PATH: &str = "voice-flows/t.toml";

fn load(text: &str) -> Flow {
    match Flow::parse(Path::new(PATH), text) {
        Ok(flow) => flow,
        Err(errors) => panic!("expected the flow to load, got: {errors:#?}"),
    }
}

/// Every error of a flow that must not load, as printed.
fn errors(text: &str) -> Vec<String> {
    match Flow::parse(Path::new(PATH), text) {
        Ok(flow) => panic!("expected errors, the flow loaded: {flow:#?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// The only error of a flow that must not load.
fn error(text: &str) -> String {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "expected exactly one error: {errors:#?}");
    errors[0].clone()
}

const MINIMAL: &str = r#"description = "Says hello"
start = "hello"

[steps.hello]
kind = "say"
text = "Hello."
next = "bye"

[steps.bye]
kind = "hangup"
"#;

#[test]
fn a_say_then_hangup_flow_loads_named_after_its_file() {
    let flow = load(MINIMAL);
    assert_eq!(flow.name, "t");
    assert_eq!(flow.description, "Says hello");
    assert_eq!(flow.start, "hello");
    assert_eq!(flow.steps.keys().collect::<Vec<_>>(), ["bye", "hello"]);
    assert_eq!(flow.steps["hello"].line, 4);
    assert_eq!(flow.steps["bye"].line, 9);
    assert_eq!(flow.next("hello", "next").unwrap(), "bye");
}

#[test]
fn mermaid_draws_steps_in_order_of_reach_then_their_outcomes() {
    assert_eq!(
        load(MINIMAL).mermaid(),
        concat!(
            "flowchart TD\n",
            "    %% t: Says hello\n",
            "    s_hello[\"hello<br/>say\"]\n",
            "    s_bye([\"bye<br/>hangup\"])\n",
            "    s_hello -->|next| s_bye\n",
        )
    );
}

#[test]
fn the_shipped_critical_incident_flow_loads_and_starts_with_the_greeting() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("voice-flows/critical-incident.toml");
    let flow = match Flow::load(&path) {
        Ok(flow) => flow,
        Err(errors) => panic!("{errors:#?}"),
    };
    assert_eq!(flow.name, "critical-incident");
    assert_eq!(flow.start, "greeting");
    assert_eq!(flow.next("hours", "closed").unwrap(), "status");
    assert_eq!(flow.next("status", "next").unwrap(), "case_number");
    assert_eq!(flow.next("case_number", "entered").unwrap(), "limit");
    assert_eq!(flow.next("limit", "allowed").unwrap(), "verify");
    assert_eq!(flow.next("limit", "limited").unwrap(), "limited");
    assert_eq!(flow.next("bridge", "busy").unwrap(), "case_busy");
    assert_eq!(
        flow.next("verify", "caller_not_registered").unwrap(),
        "caller_not_registered"
    );
    assert_eq!(
        flow.next("caller_not_registered", "next").unwrap(),
        "case_number",
        "a caller not registered may enter another case number"
    );
    assert_eq!(flow.next("verify", "not_found").unwrap(), "not_found");
    assert_eq!(
        flow.next("not_found", "next").unwrap(),
        "case_number",
        "a case not found is asked for again"
    );
}

#[test]
fn an_unknown_start_step_is_refused() {
    assert_eq!(
        error("start = \"welcome\"\n\n[steps.bye]\nkind = \"hangup\"\n"),
        "voice-flows/t.toml:1: start: unknown step \"welcome\": no [steps.welcome] in the flow"
    );
}

#[test]
fn an_outcome_leading_to_an_unknown_step_is_refused() {
    let text = r#"start = "hello"

[steps.hello]
kind = "say"
text = "Hello."
next = "goodbye"

[steps.bye]
kind = "hangup"
"#;
    assert_eq!(
        error(text),
        "voice-flows/t.toml:3: steps.hello.next: outcome \"next\" leads to unknown step \"goodbye\""
    );
}

#[test]
fn a_business_hours_step_must_say_where_closed_leads() {
    let text = r#"start = "hours"

[steps.hours]
kind = "business_hours"
next = { open = "bye" }

[steps.bye]
kind = "hangup"
"#;
    assert_eq!(
        error(text),
        "voice-flows/t.toml:3: steps.hours.next: missing outcome \"closed\": \
         a business_hours step must say where \"closed\" leads"
    );
}

#[test]
fn an_outcome_the_step_kind_does_not_have_is_refused() {
    let text = r#"start = "hello"

[steps.hello]
kind = "say"
text = "Hello."
next = { next = "bye", open = "x" }

[steps.bye]
kind = "hangup"
"#;
    assert_eq!(
        error(text),
        "voice-flows/t.toml:3: steps.hello.next: unknown outcome \"open\" for a say step: its outcomes are next"
    );
}

#[test]
fn a_say_step_with_only_an_unknown_outcome_is_missing_next_too() {
    let text = r#"start = "hello"

[steps.hello]
kind = "say"
text = "Hello."
next = { open = "x" }

[steps.bye]
kind = "hangup"
"#;
    assert_eq!(
        errors(text),
        [
            "voice-flows/t.toml:3: steps.hello.next: missing outcome \"next\": a say step must say where \"next\" leads",
            "voice-flows/t.toml:3: steps.hello.next: unknown outcome \"open\" for a say step: its outcomes are next",
        ]
    );
}

#[test]
fn a_hangup_step_has_no_outcome() {
    let text = r#"start = "bye"

[steps.bye]
kind = "hangup"
next = "bye"
"#;
    assert_eq!(
        error(text),
        "voice-flows/t.toml:3: steps.bye.next: unknown outcome \"next\" for a hangup step: \
         its outcomes are none: it ends the call"
    );
}

#[test]
fn a_step_no_path_reaches_is_refused() {
    let text = format!("{MINIMAL}\n[steps.orphan]\nkind = \"say\"\ntext = \"Nobody hears this.\"\nnext = \"bye\"\n");
    assert_eq!(
        error(&text),
        "voice-flows/t.toml:12: steps.orphan: unreachable: no path from the start step leads here"
    );
}

#[test]
fn a_path_that_never_reaches_a_hangup_is_refused_at_every_step_on_it() {
    let text = r#"start = "ask"

[steps.ask]
kind = "gather"
prompt = "Enter your case number."
next = { entered = "again", failed = "again" }

[steps.again]
kind = "say"
text = "Once more."
next = "ask"

[steps.bye]
kind = "hangup"
"#;
    let never_ends = "the call never ends from here: every path loops without reaching a hangup step";
    assert_eq!(
        errors(text),
        [
            "voice-flows/t.toml:13: steps.bye: unreachable: no path from the start step leads here".to_owned(),
            format!("voice-flows/t.toml:8: steps.again: {never_ends}"),
            format!("voice-flows/t.toml:3: steps.ask: {never_ends}"),
        ]
    );
}

#[test]
fn a_loop_through_a_gather_step_is_allowed_when_the_call_can_end() {
    let text = r#"start = "ask"

[steps.ask]
kind = "gather"
prompt = "Enter your case number."
next = { entered = "bye", failed = "again" }

[steps.again]
kind = "say"
text = "Once more."
next = "ask"

[steps.bye]
kind = "hangup"
"#;
    assert_eq!(load(text).steps.len(), 3);
}

#[test]
fn a_loop_of_steps_that_do_not_wait_for_the_caller_is_refused() {
    // The business hours step can end the call, so only the loop rule fires.
    let text = r#"start = "a"

[steps.a]
kind = "say"
text = "A."
next = "b"

[steps.b]
kind = "say"
text = "B."
next = "hours"

[steps.hours]
kind = "business_hours"
next = { open = "a", closed = "bye" }

[steps.bye]
kind = "hangup"
"#;
    assert_eq!(
        error(text),
        "voice-flows/t.toml:3: steps.a: steps a -> b -> hours -> a loop within one response: \
         the loop must pass through a step that waits for the caller"
    );
}

#[test]
fn a_loop_of_two_say_steps_never_ends_and_spins_within_one_response() {
    let text = r#"start = "hours"

[steps.hours]
kind = "business_hours"
next = { open = "a", closed = "bye" }

[steps.a]
kind = "say"
text = "A."
next = "b"

[steps.b]
kind = "say"
text = "B."
next = "a"

[steps.bye]
kind = "hangup"
"#;
    let never_ends = "the call never ends from here: every path loops without reaching a hangup step";
    assert_eq!(
        errors(text),
        [
            format!("voice-flows/t.toml:7: steps.a: {never_ends}"),
            format!("voice-flows/t.toml:12: steps.b: {never_ends}"),
            "voice-flows/t.toml:7: steps.a: steps a -> b -> a loop within one response: \
             the loop must pass through a step that waits for the caller"
                .to_owned(),
        ]
    );
}

#[test]
fn an_unknown_placeholder_is_refused_with_the_known_ones() {
    let text = MINIMAL.replace("Hello.", "Hello {nope}.");
    assert_eq!(
        error(&text),
        "voice-flows/t.toml:4: steps.hello.text: unknown placeholder {nope}: expected one of line_name, \
         support_channel, opening_hours, time_zone, deadline, next_opening"
    );
}

#[test]
fn a_gathered_variable_can_be_spoken_by_a_later_step() {
    let text = r#"start = "ask"

[steps.ask]
kind = "gather"
store = "case_number"
prompt = "Enter your case number."
next = { entered = "thanks", failed = "bye" }

[steps.thanks]
kind = "say"
text = "You entered {case_number} for {line_name}."
next = "bye"

[steps.bye]
kind = "hangup"
"#;
    let flow = load(text);
    let super::steps::StepKind::Gather(gather) = &flow.steps["ask"].kind else {
        panic!("ask is not a gather step");
    };
    assert_eq!(gather.store.as_str(), "case_number");
}

#[test]
fn an_unknown_placeholder_lists_the_gathered_variables() {
    let text = r#"start = "ask"

[steps.ask]
kind = "gather"
store = "case_number"
prompt = "Enter your case number."
next = { entered = "thanks", failed = "bye" }

[steps.thanks]
kind = "say"
text = "You entered {case}."
next = "bye"

[steps.bye]
kind = "hangup"
"#;
    let error = error(text);
    assert!(
        error.starts_with("voice-flows/t.toml:9: steps.thanks.text: unknown placeholder {case}: "),
        "{error}"
    );
    assert!(
        error.ends_with("or a variable that a step stores (case_number)"),
        "{error}"
    );
}

#[test]
fn an_unknown_step_kind_is_refused_with_the_known_ones() {
    let text = MINIMAL.replace("kind = \"hangup\"", "kind = \"hang_up\"");
    assert_eq!(
        error(&text),
        "voice-flows/t.toml:9: steps.bye.kind: unknown step kind \"hang_up\": \
         expected one of say, gather, business_hours, hangup, verify_case, bridge, voicemail, status, rate_limit"
    );
}

#[test]
fn a_step_without_a_kind_is_refused() {
    let text = MINIMAL.replace("kind = \"say\"\n", "");
    assert_eq!(
        error(&text),
        "voice-flows/t.toml:4: steps.hello.kind: missing: every step needs a kind, \
         one of say, gather, business_hours, hangup, verify_case, bridge, voicemail, status, rate_limit"
    );
}

#[test]
fn a_kind_that_is_not_a_string_is_refused() {
    let text = MINIMAL.replace("kind = \"hangup\"", "kind = 3");
    assert_eq!(error(&text), "voice-flows/t.toml:9: steps.bye.kind: expected a string");
}

#[test]
fn an_unknown_setting_names_the_line_of_its_step() {
    let text = MINIMAL.replace("text = \"Hello.\"", "text = \"Hello.\"\ntxt = \"Hello?\"");
    assert_eq!(
        error(&text),
        "voice-flows/t.toml:4: steps.hello.txt: unknown field `txt`, expected `text`"
    );
}

#[test]
fn a_gather_setting_out_of_range_is_refused() {
    let text = r#"start = "ask"

[steps.ask]
kind = "gather"
prompt = "Enter your case number."
attempts = 0
next = { entered = "bye", failed = "bye" }

[steps.bye]
kind = "hangup"
"#;
    assert_eq!(
        error(text),
        "voice-flows/t.toml:3: steps.ask.attempts: 0 is out of range: expected 1 to 10"
    );
}

#[test]
fn every_gather_setting_with_a_rule_is_refused_under_its_key() {
    let step = |setting: &str| {
        format!(
            "start = \"ask\"\n\n[steps.ask]\nkind = \"gather\"\nprompt = \"Enter it.\"\n{setting}\n\
             next = {{ entered = \"bye\", failed = \"bye\" }}\n\n[steps.bye]\nkind = \"hangup\"\n"
        )
    };
    for (setting, expected) in [
        (
            "max_digits = 33",
            "steps.ask.max_digits: 33 is out of range: expected 1 to 32",
        ),
        (
            "max_digits = 0",
            "steps.ask.max_digits: 0 is out of range: expected 1 to 32",
        ),
        (
            "min_digits = 33",
            "steps.ask.min_digits: 33 is out of range: expected 1 to 32",
        ),
        (
            "min_digits = 13",
            "steps.ask.min_digits: 13 is out of range: expected 1 to max_digits (12)",
        ),
        (
            "timeout_secs = 61",
            "steps.ask.timeout_secs: 61 is out of range: expected 1 to 60",
        ),
        (
            "attempts = 11",
            "steps.ask.attempts: 11 is out of range: expected 1 to 10",
        ),
        (
            "finish_on_key = \"x\"",
            "steps.ask.finish_on_key: invalid key 'x': expected \"#\" or \"*\"",
        ),
        (
            "store = \"Case\"",
            "steps.ask.store: invalid variable name \"Case\": expected lowercase letters and '_'",
        ),
    ] {
        assert_eq!(
            error(&step(setting)),
            format!("voice-flows/t.toml:3: {expected}"),
            "{setting}"
        );
    }
    let bounds = "min_digits = 32\nmax_digits = 32\ntimeout_secs = 60\nattempts = 1\nfinish_on_key = \"*\"";
    load(&step(bounds));
}

#[test]
fn a_next_that_is_not_a_step_name_is_refused() {
    let text = MINIMAL.replace("next = \"bye\"", "next = { next = 1 }");
    assert_eq!(
        error(&text),
        "voice-flows/t.toml:4: steps.hello.next.next: expected the name of a step"
    );
}

#[test]
fn a_toml_syntax_error_names_its_line() {
    let text = MINIMAL.replace("text = \"Hello.\"", "text = \"Hello.");
    assert_eq!(
        error(&text),
        "voice-flows/t.toml:6: invalid basic string, expected `\"`"
    );
}

#[test]
fn a_step_name_with_capitals_is_refused() {
    let text = MINIMAL.replace("hello", "Greeting");
    assert_eq!(
        error(&text),
        "voice-flows/t.toml:4: steps.Greeting: invalid step name: expected lowercase letters, digits and '_'"
    );
}

#[test]
fn an_unknown_top_level_key_is_refused() {
    let text = format!("strat = \"hello\"\n{MINIMAL}");
    assert_eq!(
        error(&text),
        "voice-flows/t.toml:1: strat: unknown field `strat`, expected one of `description`, `start`, `steps`"
    );
}

// Once bugs, now guarded.

#[test]
fn mermaid_output_of_the_shipped_flow_has_no_node_named_end() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("voice-flows/critical-incident.toml");
    let graph = match Flow::load(&path) {
        Ok(flow) => flow.mermaid(),
        Err(errors) => panic!("{errors:#?}"),
    };
    let bare_end = |word: &str| word == "end" || ["end(", "end[", "end{"].iter().any(|p| word.starts_with(p));
    let offending: Vec<&str> = graph
        .lines()
        .filter(|line| !line.trim_start().starts_with("%%"))
        .filter(|line| line.split_whitespace().any(bare_end))
        .collect();
    assert!(
        offending.is_empty(),
        "lowercase `end` breaks a Mermaid flowchart: {offending:#?}"
    );
}

#[test]
fn a_zero_min_digits_is_reported_under_min_digits() {
    let text = r#"start = "ask"

[steps.ask]
kind = "gather"
prompt = "Enter your case number."
min_digits = 0
next = { entered = "bye", failed = "bye" }

[steps.bye]
kind = "hangup"
"#;
    let error = error(text);
    assert!(
        error.starts_with("voice-flows/t.toml:3: steps.ask.min_digits: "),
        "{error}"
    );
}

#[test]
fn a_gathered_variable_cannot_be_spoken_before_it_is_gathered() {
    let text = r#"start = "hello"

[steps.hello]
kind = "say"
text = "You entered {case_number}."
next = "ask"

[steps.ask]
kind = "gather"
store = "case_number"
prompt = "Enter your case number."
next = { entered = "bye", failed = "bye" }

[steps.bye]
kind = "hangup"
"#;
    let error = error(text);
    assert!(
        error.starts_with("voice-flows/t.toml:3: steps.hello") && error.contains("{case_number}"),
        "{error}"
    );
}
