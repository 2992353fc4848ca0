//! The crate's layers, held to the map in `src/lib.rs`: a module of `src/` imports only the modules listed
//! before its own. That keeps the modules a DAG and every import pointing down: settings, then the domain in
//! its order, then assembly, HTTP and the command line.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The top-level modules of `src/`, bottom first. A new module goes where its imports allow.
const ORDER: &[&str] = &[
    // Settings: plain data.
    "phone",
    "clock",
    "metrics",
    "settings", //
    // Domain.
    "calendar",
    "twiml",
    "signature",
    "fetch",
    "alerts",
    "cases",
    "oncall",
    "status",
    "calllog",
    "store",
    "flow",
    "dialect",
    // Assembly, HTTP, CLI.
    "assembly",
    "http",
    "cli",
];

/// Items of `lib.rs` itself that every layer may use.
const ROOT_ITEMS: &[&str] = &["BoxFuture"];

#[test]
fn every_import_points_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap_or(&file);
        let Some(module) = top_module(relative) else { continue };
        let rank = rank_of(&module).unwrap_or_else(|| {
            panic!(
                "src/{} is in module `{module}`, which tests/layers.rs does not place",
                relative.display()
            )
        });
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, target) in crate_references(&text) {
            if target == module || ROOT_ITEMS.contains(&target.as_str()) {
                continue;
            }
            match rank_of(&target) {
                Some(theirs) if theirs < rank => {}
                Some(_) => upward.push(format!("src/{}:{line}: {module} imports {target}", relative.display())),
                None => upward.push(format!(
                    "src/{}:{line}: {module} imports {target}, which is not in the layer map",
                    relative.display()
                )),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that go up a layer (or sideways inside one):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_layer_map_names_every_module_of_the_crate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let declared: BTreeSet<String> = std::fs::read_to_string(src.join("lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("pub mod ")
                .or_else(|| line.trim().strip_prefix("pub(crate) mod "))
                .or_else(|| line.trim().strip_prefix("mod "))
        })
        .map(|name| name.trim_end_matches(';').to_owned())
        .collect();
    let mapped: BTreeSet<String> = ORDER.iter().map(|m| (*m).to_owned()).collect();
    assert_eq!(declared, mapped);
}

#[test]
fn the_checker_sees_single_grouped_and_nested_imports() {
    let text = "use crate::flow::engine::Ctx;\nuse crate::{cases, store::Store};\nlet x = crate::metrics::CALLS;\n";
    let found: Vec<(usize, String)> = crate_references(text);
    assert_eq!(
        found,
        [(1, "flow"), (2, "cases"), (2, "store"), (3, "metrics")]
            .map(|(line, m)| (line, m.to_owned()))
            .to_vec()
    );
}

fn rank_of(module: &str) -> Option<usize> {
    ORDER.iter().position(|m| *m == module)
}

/// The top-level module a file of `src/` belongs to; none for `lib.rs` and `main.rs`.
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        file if file.ends_with(".rs") => Some(file.trim_end_matches(".rs").to_owned()),
        folder => Some(folder.to_owned()),
    }
}

/// Every `crate::NAME` in `text` (and each name of `crate::{A, B::C}`), with its line number.
fn crate_references(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            // `other_crate::` is not ours; `$crate::` in a macro is.
            let part_of_a_name = rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            rest = &rest[at + "crate::".len()..];
            if part_of_a_name {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let inside = group.split('}').next().unwrap_or("");
                for item in inside.split(',') {
                    let name = leading_ident(item.trim());
                    if !name.is_empty() {
                        found.push((index + 1, name));
                    }
                }
            } else {
                let name = leading_ident(rest);
                if !name.is_empty() {
                    found.push((index + 1, name));
                }
            }
        }
    }
    found
}

fn leading_ident(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}
