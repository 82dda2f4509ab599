//! Helpers shared by the integration tests: scenario builders, running scenarios in-process,
//! and running the `lbsim` binary the way a person would.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use sim_core::{Algorithm, Report, Scenario, Simulation};

/// Nanoseconds per millisecond and second.
pub const MS: u64 = 1_000_000;
/// Nanoseconds per second.
pub const SEC: u64 = 1_000_000_000;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A bundled scenario (`scenarios/<name>`), read and validated.
pub fn bundled(name: &str) -> Scenario {
    let path = root().join("scenarios").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{}", e.with_file(&path.display().to_string())))
}

/// Every bundled scenario as (file name, text), in file-name order: the `.toml` files of
/// `scenarios/` (not `scenarios/data/`, which holds the access log and trace they replay).
pub fn bundled_texts() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// The pure queueing model of the reference (see `Scenario::reference_queueing`).
pub fn queueing(n: u32, load: f64, algorithm: Algorithm, requests: u64) -> Scenario {
    Scenario::reference_queueing(n, load, algorithm, requests)
}

/// Runs a scenario to the end and returns its report.
pub fn run(s: &Scenario, seed: u64) -> Report {
    s.validate().expect("test scenario is valid");
    let mut sim = Simulation::new(s, seed);
    sim.run();
    assert!(sim.aborted().is_none(), "run aborted: {:?}", sim.aborted());
    let r = sim.report();
    assert_eq!(r.requests.sent, r.requests.completed + r.requests.failed, "every request has one outcome");
    r
}

/// Builds the workspace's binaries and examples in the profile and target directory the tests
/// were built with (once per test process; a no-op when fresh) and returns the profile's
/// output directory. It builds the whole workspace with its tests, as `cargo test --workspace`
/// does, so every crate gets the same features and is reused: building `-p sim-cli` alone
/// would compile sim-core and sim-cli a second time without the `proptest` feature.
fn cargo_build() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable");
        // target/<profile>/deps/<test binary>
        let profile_dir = exe.parent().and_then(|p| p.parent()).expect("target/<profile>").to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_string(),
            Some(other) => other.to_string(),
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--workspace", "--bins", "--examples", "--tests"])
            .args(["--profile", &profile, "--target-dir"])
            .arg(&target_dir)
            .current_dir(root())
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the workspace's binaries failed");
        profile_dir
    })
    .clone()
}

/// The `lbsim` binary of the profile the tests were built with. The first call builds it, so
/// the tests always drive the current code through the real binary.
pub fn lbsim_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| cargo_build().join(format!("lbsim{}", std::env::consts::EXE_SUFFIX))).clone()
}

/// Runs `lbsim` with arguments, from the workspace root.
pub fn lbsim(args: &[&str]) -> Output {
    Command::new(lbsim_path()).args(args).current_dir(root()).output().expect("run lbsim")
}

/// Runs `lbsim` and returns (exit code, stdout, stderr).
pub fn lbsim_text(args: &[&str]) -> (i32, String, String) {
    let out = lbsim(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Relative difference `|a − b| / b`.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// Theory: E_N/M/1 (round robin over N servers fed by one Poisson stream), mean time in
/// system in units of the mean service time.
pub fn round_robin_theory(n: u32, load: f64) -> f64 {
    let a = load * f64::from(n);
    let mut s = load;
    for _ in 0..100_000 {
        let next = (a / (a + 1.0 - s)).powi(n as i32);
        if (next - s).abs() < 1e-15 {
            s = next;
            break;
        }
        s = next;
    }
    1.0 / (1.0 - s)
}

/// Theory: the supermarket model's mean time in system for d choices as n → ∞.
pub fn supermarket_theory(load: f64, d: u32) -> f64 {
    let d = f64::from(d);
    (1..60).map(|i| load.powf((d.powi(i) - d) / (d - 1.0))).take_while(|t| *t > 1e-17).sum()
}

/// Theory: Erlang C lower bound for M/M/N in units of the mean service time.
pub fn mmn_theory(n: u32, load: f64) -> f64 {
    let a = f64::from(n) * load;
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (f64::from(k) + a * b);
    }
    let c = b / (1.0 - load + load * b);
    1.0 + c / (f64::from(n) * (1.0 - load))
}

/// Cases for the heavier property tests: `default`, or `LBSIM_STRESS_CASES` when set (for long
/// local runs hunting rare bugs).
pub fn stress_cases(default: u32) -> u32 {
    std::env::var("LBSIM_STRESS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A deliberately wrong balancer for the library tests: round robin over every pool member,
/// ignoring what health checking says (the bug: it uses `members()`, not `eligible()`).
#[derive(Default)]
pub struct IgnoresHealth {
    next: usize,
}

impl sim_core::algo::Balancer for IgnoresHealth {
    fn name(&self) -> &str {
        "ignores_health"
    }

    fn pick(&mut self, view: &sim_core::algo::PickView<'_>, _rng: &mut sim_core::rng::SimRng) -> Option<u32> {
        let members = view.members();
        if members.is_empty() {
            return None;
        }
        self.next = (self.next + 1) % members.len();
        Some(members[self.next])
    }
}

/// Builds an example binary of this crate in the tests' profile and returns its path.
pub fn example_path(name: &str) -> PathBuf {
    cargo_build().join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}
