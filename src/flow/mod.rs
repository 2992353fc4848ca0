//! Voice flows: a graph of named steps joined by named outcomes, loaded from `voice-flows/*.toml` and
//! validated before the first call (every outcome leads to a step, every step is reachable, every path ends,
//! no loop spins within one response, every placeholder is known). Also draws the graph as Mermaid.

pub mod engine;
pub mod line;
pub mod prompt;
pub mod state;
pub mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::settings::{ConfigError, line_of, toml_file};
use engine::{EngineError, PLACEHOLDERS};
use steps::StepKind;

/// A loaded, validated flow.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    description: String,
    pub start: String,
    pub steps: BTreeMap<String, Step>,
}

#[derive(Debug, Clone)]
pub struct Step {
    name: String,
    pub kind: StepKind,
    /// Outcome → the step it leads to.
    next: BTreeMap<String, String>,
    /// Where the step's table starts in the file, for messages.
    line: usize,
}

/// One broken rule: the step it is about (none for the flow's `start`), the key within it, the message.
struct Problem {
    step: Option<String>,
    key: String,
    message: String,
}

impl Problem {
    fn at(step: &Step, key: &str, message: String) -> Self {
        let key = if key.is_empty() {
            format!("steps.{}", step.name)
        } else {
            format!("steps.{}.{key}", step.name)
        };
        Problem {
            step: Some(step.name.clone()),
            key,
            message,
        }
    }
}

/// The file as written: steps stay raw tables until their kind is known.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    #[serde(default)]
    description: String,
    start: toml::Spanned<String>,
    steps: BTreeMap<String, toml::Spanned<toml::Table>>,
}

impl Flow {
    /// Loads and validates `path`; every problem found is returned, each with the file, line and key.
    pub fn load(path: &Path) -> Result<Flow, Vec<ConfigError>> {
        let text = toml_file::read(path).map_err(|e| vec![e])?;
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
        let start_line = line_of(text, file.start.span().start);
        let flow = Flow {
            name,
            description: file.description,
            start: file.start.into_inner(),
            steps,
        };
        let errors: Vec<ConfigError> = flow
            .problems()
            .into_iter()
            .map(|p| {
                let line = match &p.step {
                    Some(step) => flow.steps.get(step).map(|s| s.line),
                    None => Some(start_line),
                };
                ConfigError::in_file(path, line, p.key, p.message)
            })
            .collect();
        if errors.is_empty() { Ok(flow) } else { Err(errors) }
    }

    /// The prompts that promise the caller a call-back, as (key, line of the step): a line that runs this flow
    /// needs an alert target to keep the promise.
    pub(crate) fn call_back_promises(&self) -> Vec<(String, usize)> {
        let mut promises = Vec::new();
        for step in self.steps.values() {
            for (key, prompt) in step.kind.prompts() {
                if prompt.promises_call_back() {
                    promises.push((format!("steps.{}.{key}", step.name), step.line));
                }
            }
        }
        promises
    }

    /// True when some step looks cases up (the configuration then needs a case system).
    pub(crate) fn verifies_cases(&self) -> bool {
        self.steps.values().any(|s| matches!(s.kind, StepKind::VerifyCase(_)))
    }

    fn step(&self, name: &str) -> Result<&Step, EngineError> {
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

    /// Every rule the graph breaks. Structure first (outcomes and targets); the graph-wide rules only run
    /// on a graph whose edges all lead somewhere.
    fn problems(&self) -> Vec<Problem> {
        if !self.steps.contains_key(&self.start) {
            let message = format!("unknown step {:?}: no [steps.{}] in the flow", self.start, self.start);
            return vec![Problem {
                step: None,
                key: "start".into(),
                message,
            }];
        }
        let mut problems = Vec::new();
        for step in self.steps.values() {
            let kind = step.kind.name();
            let outcomes = step.kind.outcomes();
            for outcome in outcomes.iter().filter(|o| !step.next.contains_key(**o)) {
                let message = format!("missing outcome {outcome:?}: a {kind} step must say where {outcome:?} leads");
                problems.push(Problem::at(step, "next", message));
            }
            for (outcome, target) in &step.next {
                if !outcomes.contains(&outcome.as_str()) {
                    let expected = if outcomes.is_empty() {
                        "none: it ends the call".to_owned()
                    } else {
                        outcomes.join(", ")
                    };
                    let message = format!("unknown outcome {outcome:?} for a {kind} step: its outcomes are {expected}");
                    problems.push(Problem::at(step, "next", message));
                } else if !self.steps.contains_key(target) {
                    let message = format!("outcome {outcome:?} leads to unknown step {target:?}");
                    problems.push(Problem::at(step, "next", message));
                }
            }
        }
        if !problems.is_empty() {
            return problems;
        }
        let reachable = self.reachable_from(&self.start);
        for name in self.steps.keys().filter(|n| !reachable.contains(n.as_str())) {
            let message = "unreachable: no path from the start step leads here".to_owned();
            problems.push(Problem::at(&self.steps[name], "", message));
        }
        let ending = self.steps_that_can_end();
        for name in reachable.iter().filter(|n| !ending.contains(*n)) {
            let message = "the call never ends from here: every path loops without reaching a hangup step".to_owned();
            problems.push(Problem::at(&self.steps[*name], "", message));
        }
        if let Some(cycle) = self.instant_cycle() {
            let message = format!(
                "steps {} loop within one response: the loop must pass through a step that waits for the caller",
                cycle.join(" -> ")
            );
            problems.push(Problem::at(&self.steps[&cycle[0]], "", message));
        }
        problems.extend(self.placeholder_problems(&reachable));
        problems
    }

    /// Placeholders that name nothing, or a variable that not every path to the prompt has stored yet.
    fn placeholder_problems(&self, reachable: &BTreeSet<&str>) -> Vec<Problem> {
        let stored: BTreeSet<&str> = self
            .steps
            .values()
            .flat_map(|s| s.kind.outcomes().iter().flat_map(|o| s.kind.stores_on(o)))
            .collect();
        let available = self.available_variables(reachable, &stored);
        let mut problems = Vec::new();
        for step in self.steps.values() {
            for (key, name) in step.kind.requires() {
                let known_here = available.get(step.name.as_str()).is_none_or(|vars| vars.contains(name));
                if !stored.contains(name) || !known_here {
                    let message = format!("variable {name:?} is not stored by a step on every path to this one");
                    problems.push(Problem::at(step, key, message));
                }
            }
            for (key, prompt) in step.kind.prompts() {
                let own = step.kind.own_placeholders(key);
                for name in prompt.placeholders() {
                    if PLACEHOLDERS.contains(&name) || own.contains(&name) {
                        continue;
                    }
                    let message = if !stored.contains(name) {
                        let variables = if stored.is_empty() {
                            String::new()
                        } else {
                            format!(
                                ", or a variable that a step stores ({})",
                                stored.iter().copied().collect::<Vec<_>>().join(", ")
                            )
                        };
                        format!(
                            "unknown placeholder {{{name}}}: expected one of {}{variables}",
                            own.iter().chain(PLACEHOLDERS).copied().collect::<Vec<_>>().join(", ")
                        )
                    } else if available
                        .get(step.name.as_str())
                        .is_some_and(|vars| !vars.contains(name))
                    {
                        format!("{{{name}}} may not be known yet here: not every path from the start stores it first")
                    } else {
                        continue;
                    };
                    problems.push(Problem::at(step, key, message));
                }
            }
        }
        problems
    }

    /// For each reachable step, the variables stored on every path from the start to it (a "must" data-flow
    /// analysis: start from everything, intersect along the edges until nothing changes).
    fn available_variables<'s>(
        &'s self,
        reachable: &BTreeSet<&'s str>,
        stored: &BTreeSet<&'s str>,
    ) -> BTreeMap<&'s str, BTreeSet<&'s str>> {
        let mut available: BTreeMap<&str, BTreeSet<&str>> =
            reachable.iter().map(|name| (*name, stored.clone())).collect();
        available.insert(self.start.as_str(), BTreeSet::new());
        let mut changed = true;
        while changed {
            changed = false;
            for name in reachable {
                let step = &self.steps[*name];
                for (outcome, target) in &step.next {
                    let mut out = available[name].clone();
                    out.extend(step.kind.stores_on(outcome));
                    let narrowed: BTreeSet<&str> = available[target.as_str()].intersection(&out).copied().collect();
                    if narrowed != available[target.as_str()] {
                        available.insert(target.as_str(), narrowed);
                        changed = true;
                    }
                }
            }
        }
        available
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
                // Node ids get a prefix: a step may be called `end`, which Mermaid reserves.
                let shape = match step.kind.outcomes().len() {
                    0 => format!("s_{name}([\"{name}<br/>{}\"])", step.kind.name()),
                    1 => format!("s_{name}[\"{name}<br/>{}\"]", step.kind.name()),
                    _ => format!("s_{name}{{\"{name}<br/>{}\"}}", step.kind.name()),
                };
                out.push_str(&format!("    {shape}\n"));
            }
        }
        for name in &order {
            if let Some(step) = self.steps.get(*name) {
                for (outcome, target) in &step.next {
                    out.push_str(&format!("    s_{name} -->|{outcome}| s_{target}\n"));
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
