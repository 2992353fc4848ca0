//! Voice flows: a graph of named steps joined by named outcomes, loaded from `voice-flows/*.toml` and
//! validated before the first call (every outcome leads to a step, every step is reachable, every path ends,
//! no loop spins within one response, every placeholder is known). Also draws the graph as Mermaid.

pub mod engine;
pub mod prompt;
pub mod state;
pub mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::config::{ConfigError, line_of, toml_file};
use engine::{EngineError, PLACEHOLDERS};
use steps::StepKind;

/// A loaded, validated flow.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    pub description: String,
    pub start: String,
    pub steps: BTreeMap<String, Step>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
    /// Outcome → the step it leads to.
    pub next: BTreeMap<String, String>,
    /// Where the step's table starts in the file, for messages.
    pub line: usize,
}

/// The file as written: steps stay raw tables until their kind is known.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    #[serde(default)]
    description: String,
    start: String,
    steps: BTreeMap<String, toml::Spanned<toml::Table>>,
}

impl Flow {
    /// Loads and validates `path`; every problem found is returned, each with the file, line and key.
    pub fn load(path: &Path) -> Result<Flow, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError::in_file(
                path,
                None,
                "",
                format!("cannot read the file: {e}"),
            )]
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates `text`, read from `path` (the file name, less `.toml`, names the flow).
    pub fn parse(path: &Path, text: &str) -> Result<Flow, Vec<ConfigError>> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file: FlowFile = toml_file::parse(path, text).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let mut steps = BTreeMap::new();
        for (step_name, table) in file.steps {
            let line = line_of(text, table.span().start);
            let error = |key: &str, message: String| {
                let key = if key.is_empty() {
                    format!("steps.{step_name}")
                } else {
                    format!("steps.{step_name}.{key}")
                };
                ConfigError::in_file(path, Some(line), key, message)
            };
            if !valid_step_name(&step_name) {
                errors.push(error(
                    "",
                    "invalid step name: expected lowercase letters, digits and '_'".into(),
                ));
                continue;
            }
            match parse_step(&step_name, table.into_inner(), line) {
                Ok(step) => {
                    steps.insert(step_name, step);
                }
                Err((key, message)) => errors.push(error(&key, message)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let flow = Flow {
            name,
            description: file.description,
            start: file.start,
            steps,
        };
        let errors: Vec<ConfigError> = flow
            .problems()
            .into_iter()
            .map(|(step, key, message)| {
                let line = step.as_ref().and_then(|s| flow.steps.get(s)).map(|s| s.line);
                ConfigError::in_file(path, line, key, message)
            })
            .collect();
        if errors.is_empty() { Ok(flow) } else { Err(errors) }
    }

    pub fn step(&self, name: &str) -> Result<&Step, EngineError> {
        self.steps.get(name).ok_or_else(|| EngineError::UnknownStep {
            flow: self.name.clone(),
            step: name.to_owned(),
        })
    }

    /// The step that `outcome` of step `from` leads to.
    pub fn next(&self, from: &str, outcome: &str) -> Result<&str, EngineError> {
        let target = self
            .step(from)?
            .next
            .get(outcome)
            .ok_or_else(|| EngineError::UnknownStep {
                flow: self.name.clone(),
                step: format!("{from} --{outcome}-->"),
            })?;
        Ok(self.step(target)?.name.as_str())
    }

    /// Every rule the graph breaks, as (step, key, message).
    fn problems(&self) -> Vec<(Option<String>, String, String)> {
        let mut problems = Vec::new();
        if !self.steps.contains_key(&self.start) {
            problems.push((
                None,
                "start".into(),
                format!("unknown step {:?}: no [steps.{}] in the flow", self.start, self.start),
            ));
            return problems;
        }
        let variables: BTreeSet<&str> = self.steps.values().filter_map(|s| s.kind.stores()).collect();
        for step in self.steps.values() {
            let at = |key: &str| Some(step.name.clone()).zip(Some(format!("steps.{}.{key}", step.name)));
            let outcomes = step.kind.outcomes();
            for outcome in outcomes {
                if !step.next.contains_key(*outcome) {
                    let (s, k) = at("next").unwrap_or_default();
                    problems.push((
                        Some(s),
                        k,
                        format!(
                            "missing outcome {outcome:?}: a {} step must say where {outcome:?} leads",
                            step.kind.name()
                        ),
                    ));
                }
            }
            for (outcome, target) in &step.next {
                let (s, k) = at("next").unwrap_or_default();
                if !outcomes.contains(&outcome.as_str()) {
                    let expected = if outcomes.is_empty() {
                        "none: it ends the call".to_owned()
                    } else {
                        outcomes.join(", ")
                    };
                    problems.push((
                        Some(s),
                        k,
                        format!(
                            "unknown outcome {outcome:?} for a {} step: its outcomes are {expected}",
                            step.kind.name()
                        ),
                    ));
                } else if !self.steps.contains_key(target) {
                    problems.push((
                        Some(s),
                        k,
                        format!("outcome {outcome:?} leads to unknown step {target:?}"),
                    ));
                }
            }
            for prompt in step.kind.prompts() {
                for name in prompt.placeholders() {
                    if !PLACEHOLDERS.contains(&name) && !variables.contains(name) {
                        let (s, k) = at("").unwrap_or_default();
                        problems.push((
                            Some(s),
                            k.trim_end_matches('.').to_owned(),
                            format!(
                                "unknown placeholder {{{name}}}: expected one of {} or a gathered variable ({})",
                                PLACEHOLDERS.join(", "),
                                variables.iter().copied().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            return problems;
        }
        let reachable = self.reachable_from(&self.start);
        for name in self.steps.keys().filter(|n| !reachable.contains(n.as_str())) {
            problems.push((
                Some(name.clone()),
                format!("steps.{name}"),
                "unreachable: no path from the start step leads here".into(),
            ));
        }
        let ending = self.steps_that_can_end();
        for name in reachable.iter().filter(|n| !ending.contains(*n)) {
            problems.push((
                Some(name.to_string()),
                format!("steps.{name}"),
                "the call never ends from here: every path loops without reaching a hangup step".into(),
            ));
        }
        if let Some(cycle) = self.instant_cycle() {
            problems.push((
                Some(cycle[0].clone()),
                format!("steps.{}", cycle[0]),
                format!(
                    "steps {} loop within one response: the loop must pass through a step that waits for the caller",
                    cycle.join(" -> ")
                ),
            ));
        }
        problems
    }

    fn reachable_from<'s>(&'s self, start: &'s str) -> BTreeSet<&'s str> {
        let mut seen = BTreeSet::from([start]);
        let mut todo = vec![start];
        while let Some(name) = todo.pop() {
            for target in self.steps[name].next.values() {
                if seen.insert(target.as_str()) {
                    todo.push(target);
                }
            }
        }
        seen
    }

    /// Steps from which some path reaches a step with no outcomes (a hangup).
    fn steps_that_can_end(&self) -> BTreeSet<&str> {
        let mut ending: BTreeSet<&str> = self
            .steps
            .values()
            .filter(|s| s.kind.outcomes().is_empty())
            .map(|s| s.name.as_str())
            .collect();
        loop {
            let before = ending.len();
            for step in self.steps.values() {
                if step.next.values().any(|t| ending.contains(t.as_str())) {
                    ending.insert(step.name.as_str());
                }
            }
            if ending.len() == before {
                return ending;
            }
        }
    }

    /// A cycle made only of steps that do not wait for the caller, which would spin within one response.
    fn instant_cycle(&self) -> Option<Vec<String>> {
        fn visit<'s>(
            flow: &'s Flow,
            name: &'s str,
            path: &mut Vec<&'s str>,
            done: &mut BTreeSet<&'s str>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| *p == name) {
                return Some(
                    path[i..]
                        .iter()
                        .chain(std::iter::once(&name))
                        .map(|s| s.to_string())
                        .collect(),
                );
            }
            let step = &flow.steps[name];
            if done.contains(name) || step.kind.waits_for_caller() {
                return None;
            }
            path.push(name);
            for target in step.next.values() {
                if let Some(cycle) = visit(flow, target, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(name);
            None
        }
        let mut done = BTreeSet::new();
        self.steps
            .keys()
            .find_map(|name| visit(self, name, &mut Vec::new(), &mut done))
    }

    /// The graph as a Mermaid flowchart, steps in order of reach from the start.
    pub fn mermaid(&self) -> String {
        let mut out = format!("flowchart TD\n    %% {}: {}\n", self.name, self.description);
        let mut order = vec![self.start.as_str()];
        let mut i = 0;
        while i < order.len() {
            if let Some(step) = self.steps.get(order[i]) {
                for target in step.next.values() {
                    if !order.contains(&target.as_str()) {
                        order.push(target);
                    }
                }
            }
            i += 1;
        }
        for name in &order {
            if let Some(step) = self.steps.get(*name) {
                let shape = match step.kind.outcomes().len() {
                    0 => format!("{name}([\"{name}<br/>{}\"])", step.kind.name()),
                    1 => format!("{name}[\"{name}<br/>{}\"]", step.kind.name()),
                    _ => format!("{name}{{\"{name}<br/>{}\"}}", step.kind.name()),
                };
                out.push_str(&format!("    {shape}\n"));
            }
        }
        for name in &order {
            if let Some(step) = self.steps.get(*name) {
                for (outcome, target) in &step.next {
                    out.push_str(&format!("    {name} -->|{outcome}| {target}\n"));
                }
            }
        }
        out
    }
}

fn valid_step_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// One step from its raw table: `kind`, `next` (a step name, or a table of outcome → step), the kind's settings.
fn parse_step(name: &str, mut table: toml::Table, line: usize) -> Result<Step, (String, String)> {
    let kind = match table.remove("kind") {
        Some(toml::Value::String(kind)) => kind,
        Some(_) => return Err(("kind".into(), "expected a string".into())),
        None => {
            return Err((
                "kind".into(),
                format!("missing: every step needs a kind, one of {}", steps::KINDS.join(", ")),
            ));
        }
    };
    let next = match table.remove("next") {
        None => BTreeMap::new(),
        Some(toml::Value::String(target)) => BTreeMap::from([("next".to_owned(), target)]),
        Some(toml::Value::Table(outcomes)) => outcomes
            .into_iter()
            .map(|(outcome, target)| match target {
                toml::Value::String(target) => Ok((outcome, target)),
                _ => Err((format!("next.{outcome}"), "expected the name of a step".to_owned())),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err((
                "next".into(),
                "expected a step name or a table of outcome = step".into(),
            ));
        }
    };
    let kind = StepKind::parse(&kind, table)?;
    Ok(Step {
        name: name.to_owned(),
        kind,
        next,
        line,
    })
}

#[cfg(test)]
mod tests;
