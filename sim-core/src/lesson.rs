//! Guided lessons: a scenario's `[lesson]` table (steps to follow, each with changes to make and
//! claims on named report numbers) and the one evaluation of a claim against a [`Report`],
//! shared by `lbsim lesson` and the page (through sim-web), so both tell the same story.
//!
//! The simulation never reads a lesson: a scenario runs (and hashes) the same with or without
//! one.

use serde::Serialize;
use serde_json::Value;

use crate::metrics::report::{Report, ScaleDecision};

/// The most steps a lesson has, claims a step has and changes a step makes.
pub const MAX_STEPS: usize = 32;
/// The most claims one step checks.
pub const MAX_CLAIMS: usize = 32;
/// The most `--set` changes one step makes.
pub const MAX_SETS: usize = 16;
/// The longest text (title, intro, say), in bytes.
pub const MAX_TEXT: usize = 4_000;

/// A scenario's guided lesson (`[lesson]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Lesson {
    /// A short title.
    pub title: String,
    /// What the scenario sets up and what to look at.
    pub intro: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a lesson (`[[lesson.steps]]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Step {
    /// What to do or look at, and why.
    pub say: String,
    /// Changes to make, in `--set KEY=VALUE` syntax, on top of the earlier steps' changes.
    pub set: Vec<String>,
    /// Start again from the scenario as written (drop the earlier steps' changes) before
    /// making this step's: for a step that tries another fix of the same problem.
    pub fresh: bool,
    /// Claims on the report after this step's run.
    pub expect: Vec<Claim>,
}

/// A comparison of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Less,
    /// `<=`
    #[serde(rename = "<=")]
    AtMost,
    /// `>`
    #[serde(rename = ">")]
    More,
    /// `>=`
    #[serde(rename = ">=")]
    AtLeast,
    /// `==`
    #[serde(rename = "==")]
    Equal,
    /// `~`: within `tolerance` of the value.
    #[serde(rename = "~")]
    Near,
    /// `null`: the report has no figure here (e.g. a crash never detected).
    #[serde(rename = "null")]
    Null,
}

impl Op {
    /// Every operator as a lesson writes it.
    pub const NAMES: &[(&str, Op)] = &[
        ("<", Op::Less),
        ("<=", Op::AtMost),
        (">", Op::More),
        (">=", Op::AtLeast),
        ("==", Op::Equal),
        ("~", Op::Near),
        ("null", Op::Null),
    ];

    /// How a claim prints it.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Less => "<",
            Op::AtMost => "≤",
            Op::More => ">",
            Op::AtLeast => "≥",
            Op::Equal => "=",
            Op::Near => "≈",
            Op::Null => "is",
        }
    }
}

/// A claim on a named report number: `metric` (a path into the JSON report, e.g.
/// `balance.jain_index` or `servers[api-4].requests`), divided by `over` if given, compared
/// with `value`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Claim {
    /// The report path.
    pub metric: String,
    /// A second report path to divide by (a share: `requests.outcomes.ok` over `requests.sent`).
    pub over: Option<String>,
    /// The comparison.
    pub op: Op,
    /// The number compared with (unused by `null`).
    pub value: f64,
    /// For `~`: how far from `value` the figure may be.
    pub tolerance: f64,
}

impl Claim {
    /// A claim (for tests and tools; files are read by the scenario reader).
    pub fn new(metric: &str, over: Option<&str>, op: Op, value: f64, tolerance: f64) -> Claim {
        Claim { metric: metric.to_string(), over: over.map(str::to_string), op, value, tolerance }
    }

    /// The claim as a person reads it: `balance.jain_index ≥ 0.99`.
    pub fn describe(&self) -> String {
        let what = match &self.over {
            Some(over) => format!("{} / {over}", self.metric),
            None => self.metric.clone(),
        };
        match self.op {
            Op::Null => format!("{what} is none"),
            Op::Near => format!("{what} ≈ {} ± {}", num(self.value), num(self.tolerance)),
            op => format!("{what} {} {}", op.symbol(), num(self.value)),
        }
    }
}

/// A claim checked against a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Checked {
    /// The claim as a person reads it.
    pub claim: String,
    /// The measured figure (`None`: the report has none there, e.g. a crash not detected).
    pub value: Option<f64>,
    /// The figure as printed (`0.75`, `none`, or why there is none).
    pub shown: String,
    /// Whether the claim holds.
    pub holds: bool,
}

/// A number short and exact enough for a claim line: at most 4 significant decimals.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let digits = if v.abs() >= 100.0 {
        1
    } else if v.abs() >= 1.0 {
        2
    } else {
        4
    };
    let text = format!("{v:.digits$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// Checks a claim against a report.
pub fn check(claim: &Claim, report: &Report) -> Checked {
    check_json(claim, &serde_json::to_value(report).unwrap_or(Value::Null))
}

/// Checks every claim against one report (converted once).
pub fn check_all(claims: &[Claim], report: &Report) -> Vec<Checked> {
    let json = serde_json::to_value(report).unwrap_or(Value::Null);
    claims.iter().map(|c| check_json(c, &json)).collect()
}

fn check_json(claim: &Claim, report: &Value) -> Checked {
    let fail = |shown: String| Checked { claim: claim.describe(), value: None, shown, holds: false };
    let value = match lookup(report, &claim.metric) {
        Ok(v) => v,
        Err(why) => return fail(why),
    };
    let measured = match (&claim.over, value.as_f64()) {
        (_, None) if value.is_null() => None,
        (_, None) => return fail(format!("{} is not a number", claim.metric)),
        (None, Some(a)) => Some(a),
        (Some(over), Some(a)) => match lookup(report, over) {
            Ok(b) => match b.as_f64() {
                Some(b) if b != 0.0 => Some(a / b),
                Some(_) => return fail(format!("{over} is 0")),
                None => return fail(format!("{over} is not a number")),
            },
            Err(why) => return fail(why),
        },
    };
    let holds = match (claim.op, measured) {
        (Op::Null, v) => v.is_none(),
        (_, None) => false,
        (Op::Less, Some(a)) => a < claim.value,
        (Op::AtMost, Some(a)) => a <= claim.value,
        (Op::More, Some(a)) => a > claim.value,
        (Op::AtLeast, Some(a)) => a >= claim.value,
        (Op::Equal, Some(a)) => a == claim.value,
        (Op::Near, Some(a)) => (a - claim.value).abs() <= claim.tolerance,
    };
    let shown = measured.map_or_else(|| "none".to_string(), num);
    Checked { claim: claim.describe(), value: measured, shown, holds }
}

/// A segment of a report path: a key and an optional `[index]` or `[name]` selector.
fn segments(path: &str) -> Result<Vec<(&str, Option<&str>)>, String> {
    if path.is_empty() {
        return Err("an empty report path".to_string());
    }
    path.split('.')
        .map(|segment| {
            let (key, selector) = match segment.split_once('[') {
                Some((key, sel)) => {
                    let sel = sel.strip_suffix(']').ok_or_else(|| format!("unclosed [ in {path}"))?;
                    if sel.is_empty() {
                        return Err(format!("an empty [] in {path}: name an element, e.g. servers[api-1]"));
                    }
                    (key, Some(sel))
                }
                None => (segment, None),
            };
            if key.is_empty() {
                return Err(format!("an empty key in {path}"));
            }
            Ok((key, selector))
        })
        .collect()
}

/// What a counter the report leaves out (because it is 0) reads.
static ZERO_NUMBER: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::from(0));

/// A value in a JSON report by path: `latency_ms.p99`, `servers[api-2].requests` (an array
/// element by its `name`, or `server` for crashes), `autoscaler[0].desired` (by index).
fn lookup<'a>(report: &'a Value, path: &str) -> Result<&'a Value, String> {
    // The report leaves out counters that are 0 (`hedges`, a server's `retries`): a path the
    // report's shape has reads 0 where the report has no value.
    let mut v = report;
    for (key, selector) in segments(path)? {
        v = match v.get(key) {
            Some(found) => found,
            None if selector.is_none() && check_metric(path).is_ok() => return Ok(&ZERO_NUMBER),
            None => return Err(format!("the report has no {key} (in {path})")),
        };
        if let Some(sel) = selector {
            let items = v.as_array().ok_or_else(|| format!("{key} is not a list (in {path})"))?;
            v = match sel.parse::<usize>() {
                Ok(i) => items.get(i),
                Err(_) => items.iter().find(|item| {
                    item.get("name").and_then(Value::as_str) == Some(sel)
                        || item.get("server").and_then(Value::as_str) == Some(sel)
                }),
            }
            .ok_or_else(|| format!("the report has no {key}[{sel}]"))?;
        }
    }
    Ok(v)
}

/// A report with one element in each list, every optional part present: the shape every
/// metric path is checked against when a scenario is read.
fn schema() -> Value {
    // Counters left out of the report when 0 are set, so the shape has them.
    let server = crate::metrics::report::ServerReport { retries: 1, hedges: 1, ..Default::default() };
    let requests = crate::metrics::report::Requests {
        retries_throttled: 1,
        balancer_retries: 1,
        retries_over_budget: 1,
        hedges: 1,
        hedges_cancelled: 1,
        ..Default::default()
    };
    let report = Report {
        requests,
        servers: vec![server],
        clients: vec![Default::default()],
        replicas: vec![Default::default()],
        crashes: vec![Default::default()],
        autoscaler: vec![ScaleDecision::default()],
        ..Report::default()
    };
    serde_json::to_value(&report).unwrap_or(Value::Null)
}

/// Whether `path` names a number of the JSON report (elements of lists chosen by name or
/// index, e.g. `servers[api-4].requests`); if not, what is wrong and what is allowed.
pub fn check_metric(path: &str) -> Result<(), String> {
    let schema = schema();
    let mut v = &schema;
    let mut walked = String::new();
    for (key, selector) in segments(path)? {
        let Value::Object(map) = v else {
            return Err(format!("{walked} is a number, not a table: nothing follows it"));
        };
        v = map.get(key).ok_or_else(|| {
            let keys: Vec<&str> = map.keys().map(String::as_str).filter(|k| *k != "series").collect();
            let here = if walked.is_empty() { "the report".to_string() } else { walked.clone() };
            format!("unknown metric {key:?} in {path}; {here} has: {}", keys.join(", "))
        })?;
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(key);
        match (v, selector) {
            (Value::Array(items), Some(_)) => v = items.first().unwrap_or(&Value::Null),
            (Value::Array(_), None) => {
                return Err(format!("{walked} is a list: choose one element, e.g. {walked}[api-1] or {walked}[0]"));
            }
            (_, Some(sel)) => return Err(format!("{walked} is not a list: [{sel}] does not apply")),
            _ => {}
        }
    }
    match v {
        Value::Number(_) | Value::Null => Ok(()),
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            Err(format!("{path} is a table, not a number; choose one of: {}", keys.join(", ")))
        }
        _ => Err(format!("{path} is not a number (a claim compares numbers)")),
    }
}

impl Lesson {
    /// The `--set` changes in force at step `index` (0-based): every earlier step's since the
    /// last `fresh` one, then its own.
    pub fn sets_at(&self, index: usize) -> Vec<String> {
        let upto = &self.steps[..index.saturating_add(1).min(self.steps.len())];
        let start = upto.iter().rposition(|s| s.fresh).unwrap_or(0);
        upto[start..].iter().flat_map(|s| s.set.iter().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut r = Report::default();
        r.balance.jain_index = 0.75;
        r.requests.sent = 200;
        r.requests.outcomes.ok = 160;
        r.servers.push(crate::metrics::report::ServerReport {
            name: "api-2".into(),
            requests: 30,
            ..Default::default()
        });
        r.crashes.push(crate::metrics::report::CrashReport { server: "api-2".into(), ..Default::default() });
        r
    }

    #[test]
    fn claims_hold_or_fail_with_the_figure() {
        let r = report();
        let c = check(&Claim::new("balance.jain_index", None, Op::AtLeast, 0.99, 0.0), &r);
        assert!(!c.holds);
        assert_eq!(c.shown, "0.75");
        assert_eq!(c.claim, "balance.jain_index ≥ 0.99");
        assert!(check(&Claim::new("servers[api-2].requests", None, Op::Equal, 30.0, 0.0), &r).holds);
        assert!(check(&Claim::new("servers[0].requests", None, Op::Less, 31.0, 0.0), &r).holds);
        assert!(check(&Claim::new("requests.outcomes.ok", Some("requests.sent"), Op::Near, 0.8, 0.001), &r).holds);
        assert!(check(&Claim::new("crashes[api-2].detected_after_s", None, Op::Null, 0.0, 0.0), &r).holds);
        // Counters the report leaves out when 0 read 0.
        assert!(check(&Claim::new("requests.hedges", None, Op::Equal, 0.0, 0.0), &r).holds);
        let missing = check(&Claim::new("servers[api-9].requests", None, Op::Equal, 0.0, 0.0), &r);
        assert!(!missing.holds);
        assert!(missing.shown.contains("no servers[api-9]"), "{}", missing.shown);
    }

    #[test]
    fn metric_paths_are_checked_against_the_report() {
        assert!(check_metric("balance.jain_index").is_ok());
        assert!(check_metric("servers[api-4].requests").is_ok());
        assert!(check_metric("autoscaler[3].desired").is_ok());
        assert!(check_metric("crashes[api-1].detected_after_s").is_ok());
        let e = check_metric("balance.jain").unwrap_err();
        assert!(e.contains("jain_index"), "{e}");
        assert!(check_metric("servers.requests").unwrap_err().contains("is a list"));
        assert!(check_metric("latency_ms").unwrap_err().contains("p99"));
        assert!(check_metric("scenario").is_err());
    }

    #[test]
    fn a_lesson_is_read_written_back_and_ignored_by_the_run() {
        let plain = "name = \"x\"\nduration = \"1s\"\n[[servers]]\nname = \"api\"\nservice = { dist = \"constant\", value = \"5ms\" }\n[[clients]]\nname = \"c\"\nrate = 50\n";
        let text = format!(
            "{plain}[lesson]\ntitle = \"T\"\n[[lesson.steps]]\nsay = \" s \"\nset = [\"balancer.algorithm=random\"]\nfresh = \
             true\nexpect = [{{ metric = \"requests.outcomes.ok\", over = \"requests.sent\", op = \"~\", value = 1, \
             tolerance = 0.01 }}, {{ metric = \"crashes[0].detected_after_s\", op = \"null\" }}]\n"
        );
        let s = crate::Scenario::from_toml(&text).unwrap();
        let lesson = s.lesson.as_ref().unwrap();
        assert_eq!(lesson.steps[0].say, "s");
        assert_eq!(lesson.steps[0].expect[0].over.as_deref(), Some("requests.sent"));
        assert_eq!(crate::Scenario::from_toml(&s.to_toml()).unwrap(), s, "{}", s.to_toml());
        let without = crate::Scenario::from_toml(plain).unwrap();
        let run = |sc: &crate::Scenario| {
            let mut sim = crate::Simulation::new(sc, 3);
            sim.run();
            sim.report().trace_hash
        };
        assert_eq!(run(&s), run(&without));
    }

    #[test]
    fn sets_accumulate_until_a_fresh_step() {
        let step = |set: &[&str], fresh| Step {
            say: String::new(),
            set: set.iter().map(|s| s.to_string()).collect(),
            fresh,
            expect: vec![],
        };
        let l = Lesson {
            title: String::new(),
            intro: String::new(),
            steps: vec![step(&[], false), step(&["a=1"], false), step(&["b=2"], false), step(&["c=3"], true)],
        };
        assert!(l.sets_at(0).is_empty());
        assert_eq!(l.sets_at(2), vec!["a=1", "b=2"]);
        assert_eq!(l.sets_at(3), vec!["c=3"]);
        assert_eq!(l.sets_at(9), vec!["c=3"], "beyond the last step: the last step's");
        assert!(Lesson::default().sets_at(0).is_empty());
    }
}
