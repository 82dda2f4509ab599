//! The documentation's examples are the tests they claim to be: the README's commands and
//! property test, the scenario reference against the keys the reader accepts, and every
//! catalogue scenario's `# expect:` lines against a run.

use std::collections::BTreeSet;

use lbsim_tests::{bundled_texts, lbsim_path, lbsim_text, root};
use serde_json::Value;
use sim_core::Scenario;

/// The README's property-test example is `tests/tests/readme_property.rs`, verbatim.
#[test]
fn readme_property_example_is_the_test_file() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme.split("## Property tests with lbsim").nth(1).expect("README has the section");
    let block = section.split("```rust\n").nth(1).and_then(|b| b.split("\n```").next()).expect("a rust block");
    let file = std::fs::read_to_string(root().join("tests/tests/readme_property.rs")).unwrap();
    let file_body: String = file.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(block.trim_end(), file_body.trim_end(), "README example and tests/tests/readme_property.rs differ");
}

/// The README's example commands ("Using the command line"), run as written from the
/// repository root with the `lbsim` the tests build; each must succeed.
#[test]
fn readme_example_commands_run() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme.split("## Using the command line").nth(1).expect("README has the section");
    let section = section.split("\n## ").next().unwrap();
    let examples = section.split("Examples (each is run by").nth(1).expect("the section has its examples");
    let block = examples.split("```sh\n").nth(1).and_then(|b| b.split("\n```").next()).expect("an sh block");
    let mut commands = 0;
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let line = line.split(" # ").next().unwrap().trim();
        assert!(!line.contains(['"', '\'', '$', '|', '>']), "keep README examples free of shell syntax: {line}");
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "lbsim", "an example that is not an lbsim command: {line}");
        let (code, out, err) = lbsim_text(&words[1..]);
        assert_eq!(code, 0, "README example failed: {line}\n{out}\n{err}");
        assert!(!out.trim().is_empty(), "README example printed nothing: {line}");
        commands += 1;
    }
    assert!(commands >= 5, "the README shows only {commands} example commands");
}

/// No document or source file sends a reader outside the repository.
#[test]
fn nothing_points_outside_the_repository() {
    // Built from pieces so this file does not match itself.
    let needle = format!("{}/{}", "..", "shared");
    let mut offenders = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = ["README.md", "ARCHITECTURE.md", "docs", "scripts", "www", "tests"]
        .iter()
        .map(|p| root().join(p))
        .chain(["sim-core", "sim-cli", "sim-web"].iter().map(|p| root().join(p)))
        .collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if matches!(name, "target" | "node_modules" | "pkg") {
                continue;
            }
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if let Ok(text) = std::fs::read_to_string(&path)
            && text.contains(&needle)
        {
            offenders.push(path.display().to_string());
        }
    }
    assert!(offenders.is_empty(), "these files refer to {needle}, which a clone does not have: {offenders:?}");
}

/// `lbsim bench --simpy` finds the SimPy model the repository ships (`scripts/simpy_lb.py`)
/// from any working directory, and says why the comparison did not run when it cannot.
#[test]
fn bench_finds_its_simpy_model_from_any_directory() {
    assert!(root().join("scripts/simpy_lb.py").is_file(), "the repository ships its SimPy model");
    let elsewhere = tempfile::tempdir().unwrap();
    let bench = |extra: &[&str]| {
        let out = std::process::Command::new(lbsim_path())
            .args(["bench", "--quick", "--case", "p2c-100", "--requests", "2000", "--simpy", "100"])
            .args(extra)
            .current_dir(elsewhere.path())
            // A Python that does not exist: the script must be found first, then fail to run.
            .env("LBSIM_PYTHON", "/nonexistent/python3")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = bench(&[]);
    assert!(
        stderr.contains("cannot run /nonexistent/python3"),
        "the default script was not found from another directory:\n{stderr}"
    );
    let stderr = bench(&["--simpy-script", "no/such/model.py"]);
    assert!(stderr.contains("no SimPy model at no/such/model.py"), "{stderr}");
}

/// The key paths `docs/scenario-format.md` documents: the first cell of every table row,
/// when it is a key path in backticks.
fn documented_keys() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/scenario-format.md")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |"))
        .map(|(key, _)| key.to_string())
        .collect()
}

/// The scenario reference documents exactly the keys the reader accepts.
#[test]
fn scenario_reference_documents_every_accepted_key() {
    let accepted: BTreeSet<String> = sim_core::config::accepted_keys()
        .into_iter()
        .map(|(table, key)| if table.is_empty() { key.to_string() } else { format!("{table}.{key}") })
        .collect();
    let documented = documented_keys();
    let missing: Vec<&String> = accepted.difference(&documented).collect();
    let extra: Vec<&String> = documented.difference(&accepted).collect();
    assert!(missing.is_empty(), "docs/scenario-format.md does not document these keys the reader accepts: {missing:?}");
    assert!(extra.is_empty(), "docs/scenario-format.md documents keys the reader refuses: {extra:?}");
}

/// Every complete scenario in the reference (a TOML block with a name) is valid.
#[test]
fn scenario_reference_examples_are_valid() {
    let text = std::fs::read_to_string(root().join("docs/scenario-format.md")).unwrap();
    let mut checked = 0;
    for block in text.split("```toml\n").skip(1).filter_map(|b| b.split("\n```").next()) {
        if block.lines().any(|l| l.starts_with("name = ")) {
            Scenario::from_toml(block).unwrap_or_else(|e| panic!("{e}\nin the reference example:\n{block}"));
            checked += 1;
        }
    }
    assert!(checked >= 2, "the reference has {checked} complete examples");
}

/// A comparison in an `# expect:` line.
#[derive(Debug)]
enum Check {
    /// `≈ value ± tolerance` (the tolerance absolute, or relative with `%`).
    Near {
        value: f64,
        tolerance: f64,
    },
    /// `< value`, `≤ value`, `> value`, `≥ value`.
    Below(f64, bool),
    Above(f64, bool),
    /// `= value`: a JSON literal (number, null, true, false, "string") or a bare word.
    Equal(Value),
}

/// One `# expect[ with KEY=VALUE …]: PATH[ / PATH] OP VALUE` line of a scenario file.
#[derive(Debug)]
struct Expect {
    line: usize,
    text: String,
    sets: Vec<String>,
    path: String,
    over: Option<String>,
    check: Check,
    /// The number as written, for matching the prose's `≈` figures.
    stated: Option<f64>,
}

fn number(text: &str) -> Result<f64, String> {
    text.trim().replace(',', "").parse().map_err(|_| format!("\"{}\" is not a number", text.trim()))
}

fn parse_expect(line: usize, text: &str) -> Result<Expect, String> {
    let rest = text.strip_prefix("expect").unwrap();
    let (head, body) = rest.split_once(':').ok_or("an expect line needs a ':'")?;
    let sets: Vec<String> = match head.trim().strip_prefix("with ") {
        Some(sets) => sets.split_whitespace().map(str::to_string).collect(),
        None if head.trim().is_empty() => Vec::new(),
        None => return Err(format!("expected \"expect:\" or \"expect with KEY=VALUE …:\", got \"expect{head}:\"")),
    };
    const OPS: [&str; 8] = ["≈", "<=", ">=", "≤", "≥", "<", ">", "="];
    let (at, op) = OPS
        .iter()
        .filter_map(|op| body.find(op).map(|i| (i, *op)))
        .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))
        .ok_or("an expect line needs one of ≈ < ≤ > ≥ =")?;
    let lhs = body[..at].trim();
    let rhs = body[at + op.len()..].trim();
    let (path, over) = match lhs.split_once(" / ") {
        Some((a, b)) => (a.trim().to_string(), Some(b.trim().to_string())),
        None => (lhs.to_string(), None),
    };
    if path.is_empty() || path.contains(' ') {
        return Err(format!("\"{lhs}\" is not a report path (or PATH / PATH)"));
    }
    let (check, stated) = match op {
        "≈" => {
            let (value, tolerance) = rhs.split_once('±').ok_or("≈ needs a tolerance: ≈ VALUE ± TOLERANCE[%]")?;
            let value = number(value)?;
            let tolerance = match tolerance.trim().strip_suffix('%') {
                Some(pct) => number(pct)? / 100.0 * value.abs(),
                None => number(tolerance)?,
            };
            (Check::Near { value, tolerance }, Some(value))
        }
        "<" | "<=" | "≤" => {
            let v = number(rhs)?;
            (Check::Below(v, op != "<"), Some(v))
        }
        ">" | ">=" | "≥" => {
            let v = number(rhs)?;
            (Check::Above(v, op != ">"), Some(v))
        }
        _ => {
            let value = serde_json::from_str(rhs).unwrap_or_else(|_| Value::String(rhs.to_string()));
            let stated = value.as_f64();
            (Check::Equal(value), stated)
        }
    };
    Ok(Expect { line, text: text.to_string(), sets, path, over, check, stated })
}

/// A value in a JSON report by path: `latency_ms.p99`, `servers[api-2].requests` (an array
/// element by its `name` or `server`), `crashes[0].detected_after_s` (by index).
fn lookup<'a>(report: &'a Value, path: &str) -> Result<&'a Value, String> {
    let mut v = report;
    for segment in path.split('.') {
        let (key, selector) = match segment.split_once('[') {
            Some((key, sel)) => (key, Some(sel.strip_suffix(']').ok_or_else(|| format!("unclosed [ in {path}"))?)),
            None => (segment, None),
        };
        v = v.get(key).ok_or_else(|| format!("the report has no \"{key}\" (in {path})"))?;
        if let Some(sel) = selector {
            let items = v.as_array().ok_or_else(|| format!("{key} is not an array (in {path})"))?;
            v = match sel.parse::<usize>() {
                Ok(i) => items.get(i),
                Err(_) => items.iter().find(|item| {
                    item.get("name").and_then(Value::as_str) == Some(sel)
                        || item.get("server").and_then(Value::as_str) == Some(sel)
                }),
            }
            .ok_or_else(|| format!("{key} has no element {sel} (in {path})"))?;
        }
    }
    Ok(v)
}

fn evaluate(report: &Value, e: &Expect) -> Result<(), String> {
    let value = lookup(report, &e.path)?;
    let actual = match &e.over {
        Some(over) => {
            let a = value.as_f64().ok_or_else(|| format!("{} is not a number", e.path))?;
            let b = lookup(report, over)?.as_f64().ok_or_else(|| format!("{over} is not a number"))?;
            Value::from(a / b)
        }
        None => value.clone(),
    };
    let ok = match (&e.check, actual.as_f64()) {
        (Check::Near { value, tolerance }, Some(a)) => (a - value).abs() <= *tolerance,
        (Check::Below(v, inclusive), Some(a)) => a < *v || (*inclusive && a == *v),
        (Check::Above(v, inclusive), Some(a)) => a > *v || (*inclusive && a == *v),
        (Check::Equal(v), _) => match (v.as_f64(), actual.as_f64()) {
            (Some(want), Some(got)) => want == got,
            _ => *v == actual,
        },
        _ => false,
    };
    if ok { Ok(()) } else { Err(format!("the run gives {actual}")) }
}

/// The `≈` figures of a comment's prose (`≈ 26 ms`, `≈ 17%`, `≈ 1,400`), each with whether
/// it was a percentage.
fn prose_figures(text: &str) -> Vec<(f64, bool)> {
    let mut out = Vec::new();
    for piece in text.split('≈').skip(1) {
        let piece = piece.trim_start();
        let end = piece.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',')).unwrap_or(piece.len());
        let digits = piece[..end].trim_end_matches(['.', ',']);
        let after = &piece[digits.len()..];
        // A fraction (`≈ 1/5`) is prose, not a figure to check.
        if let (Ok(v), false) = (number(digits), after.starts_with('/')) {
            out.push((v, after.starts_with('%')));
        }
    }
    out
}

/// Every catalogue scenario states what to expect in `# expect:` lines, and a run (through
/// the binary, with the scenario's own seed and any `with` overrides) meets every one. Every
/// `≈` figure in a scenario's comments is one of its expect lines' values, so the prose
/// cannot drift from what is checked.
#[test]
fn catalogue_expectations_hold() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, text) in bundled_texts() {
        let file = format!("scenarios/{name}");
        let mut expects = Vec::new();
        let mut prose = String::new();
        for (i, line) in text.lines().enumerate() {
            let Some(comment) = line.trim_start().strip_prefix('#') else { continue };
            let comment = comment.trim();
            if comment.starts_with("expect") {
                match parse_expect(i + 1, comment) {
                    Ok(e) => expects.push(e),
                    Err(why) => failures.push(format!("{file}:{}: {why}", i + 1)),
                }
            } else {
                prose.push_str(comment);
                prose.push('\n');
            }
        }
        if expects.is_empty() {
            failures.push(format!("{file}: no `# expect:` lines: say what to expect in checkable form"));
            continue;
        }
        for (figure, percent) in prose_figures(&prose) {
            let covered = expects.iter().filter_map(|e| e.stated).any(|v| {
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
                close(v, figure) || (percent && close(v, figure / 100.0))
            });
            if !covered {
                failures.push(format!("{file}: the comment states ≈ {figure} but no expect line checks that value"));
            }
        }
        let mut variants: Vec<&Vec<String>> = Vec::new();
        for e in &expects {
            if !variants.contains(&&e.sets) {
                variants.push(&e.sets);
            }
        }
        for sets in variants {
            let mut args = vec!["run", file.as_str(), "--format", "json"];
            for set in sets {
                args.push("--set");
                args.push(set);
            }
            let (code, out, err) = lbsim_text(&args);
            if code != 0 {
                failures.push(format!("{file} with {sets:?}: lbsim exited {code}: {err}"));
                continue;
            }
            let report: Value = serde_json::from_str(&out).expect("lbsim prints JSON");
            for e in expects.iter().filter(|e| &e.sets == sets) {
                checked += 1;
                if let Err(why) = evaluate(&report, e) {
                    failures.push(format!("{file}:{}: `{}`: {why}", e.line, e.text));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of the catalogue's expectations fail:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 21, "only {checked} expectations checked");
}

/// Every catalogue scenario has a guided lesson, and following it (`lbsim lesson`, each step
/// on the scenario's seed) every claim holds.
#[test]
fn catalogue_lessons_hold() {
    let mut failures = Vec::new();
    let mut claims = 0;
    for (name, _) in bundled_texts() {
        let file = format!("scenarios/{name}");
        let (code, out, err) = lbsim_text(&["lesson", &file, "--format", "json"]);
        let Ok(report) = serde_json::from_str::<Value>(&out) else {
            failures.push(format!("{file}: lbsim lesson exited {code}: {err}"));
            continue;
        };
        for step in report["steps"].as_array().into_iter().flatten() {
            for claim in step["claims"].as_array().into_iter().flatten() {
                claims += 1;
                if claim["holds"] != true {
                    failures.push(format!(
                        "{file} step {}: {} (measured {})",
                        step["step"], claim["claim"], claim["shown"]
                    ));
                }
            }
        }
        if code != 0 && failures.is_empty() {
            failures.push(format!("{file}: lbsim lesson exited {code}: {err}"));
        }
    }
    assert!(failures.is_empty(), "{} lesson claims fail:\n{}", failures.len(), failures.join("\n"));
    assert!(claims >= 100, "only {claims} lesson claims checked");
}

/// The expect-line reader itself: paths, selectors, operators and tolerances.
#[test]
fn expect_lines_are_read_and_checked() {
    let report: Value = serde_json::json!({
        "latency_ms": {"mean": 19.09},
        "servers": [{"name": "api-1", "requests": 10}, {"name": "api-2", "requests": 30}],
        "crashes": [{"server": "api-2", "detected_after_s": null}],
        "requests": {"sent": 200, "outcomes": {"ok": 160}},
    });
    let holds = |line: &str| evaluate(&report, &parse_expect(1, line).unwrap()).is_ok();
    assert!(holds("expect: latency_ms.mean ≈ 19 ± 0.1"));
    assert!(!holds("expect: latency_ms.mean ≈ 12 ± 1"));
    assert!(holds("expect: latency_ms.mean ≈ 20 ± 5%"));
    assert!(!holds("expect: latency_ms.mean ≈ 20 ± 4%"));
    assert!(holds("expect: servers[api-2].requests = 30"));
    assert!(holds("expect: servers[0].requests < 11"));
    assert!(!holds("expect: servers[0].requests < 10"));
    assert!(holds("expect: servers[0].requests <= 10"));
    assert!(holds("expect: servers[api-2].requests / servers[api-1].requests ≥ 3"));
    assert!(holds("expect: requests.outcomes.ok / requests.sent ≈ 0.8 ± 0.001"));
    assert!(holds("expect: crashes[api-2].detected_after_s = null"));
    assert!(holds("expect with balancer.algorithm=maglev duration=5s: servers[api-1].requests > 9"));
    assert_eq!(
        parse_expect(1, "expect with a=1 b=2: latency_ms.mean > 1").unwrap().sets,
        vec!["a=1".to_string(), "b=2".to_string()]
    );
    assert!(evaluate(&report, &parse_expect(1, "expect: servers[api-9].requests = 1").unwrap()).is_err());
    assert!(parse_expect(1, "expect: latency_ms.mean ≈ 19").is_err(), "≈ without a tolerance");
    assert!(parse_expect(1, "expect latency_ms.mean ≈ 19 ± 1").is_err(), "no colon");
    assert_eq!(
        prose_figures("mean ≈ 26 ms, ≈ 17% of all, ≈ 1/5 move (≈ 1,400 lost)."),
        vec![(26.0, false), (17.0, true), (1400.0, false)]
    );
}
