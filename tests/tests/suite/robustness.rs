//! Robustness: any input gets a clear answer — hundreds of mutated scenario files through the
//! binary end with exit 0 or 2 and a message, never a panic or a hang; the fuzz corpus and
//! thousands of in-process mutations never panic; every limit refuses before work starts;
//! interrupted or killed runs and sweeps leave no partial output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lbsim_tests::*;
use sim_core::rng::SimRng;

/// Replacement values for mutations: negative, zero, huge, NaN, infinities, wrong types.
const VALUES: &[&str] = &[
    "-1",
    "0",
    "-0.5",
    "1e308",
    "99999999999999999999",
    "nan",
    "inf",
    "-inf",
    "\"\"",
    "\"x\"",
    "true",
    "[]",
    "{}",
    "[1, 2]",
    "\"-5s\"",
    "\"1e9h\"",
    "\"0s\"",
    "4294967296",
    "-9223372036854775808",
    "\"api-99\"",
    "{ dist = \"x\" }",
];

/// One random mutation of a scenario text.
fn mutate(text: &str, rng: &mut SimRng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let pick = |rng: &mut SimRng, n: usize| rng.below(n.max(1) as u64) as usize;
    match rng.below(7) {
        0..=2 => {
            // Replace a value.
            let candidates: Vec<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.contains(" = ") && !l.trim_start().starts_with('#'))
                .map(|(i, _)| i)
                .collect();
            if let Some(&i) = candidates.get(pick(rng, candidates.len())) {
                let key = lines[i].split(" = ").next().unwrap().to_string();
                lines[i] = format!("{key} = {}", VALUES[pick(rng, VALUES.len())]);
            }
        }
        3 => {
            let i = pick(rng, lines.len());
            if i < lines.len() {
                lines.remove(i);
            }
        }
        4 => {
            let i = pick(rng, lines.len());
            if let Some(l) = lines.get(i).cloned() {
                lines.insert(i, l);
            }
        }
        5 => {
            let (a, b) = (pick(rng, lines.len()), pick(rng, lines.len()));
            if a < lines.len() && b < lines.len() {
                lines.swap(a, b);
            }
        }
        _ => {
            // Cut the file anywhere (on a character boundary).
            let joined = lines.join("\n");
            let mut cut = pick(rng, joined.len());
            while !joined.is_char_boundary(cut) {
                cut -= 1;
            }
            return joined[..cut].to_string();
        }
    }
    lines.join("\n")
}

/// Runs a command with a deadline; returns (exit code, stdout, stderr) or panics on a hang.
fn run_with_deadline(cmd: &mut Command, deadline: Duration, what: &str) -> (i32, String, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("{what} hung for more than {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Hundreds of mutated scenario files (values replaced by negative, zero, huge, NaN, inf and
/// wrong types; lines deleted, duplicated, swapped; files cut) all end with exit 0 or 2 and a
/// message, never a panic, never a hang. Fixed seed.
#[test]
fn mutated_scenario_files_get_a_clear_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SimRng::from_seed(20_261_127);
    let files = bundled_texts();
    let (mut ok, mut refused) = (0, 0);
    for case in 0..stress_cases(320) {
        let (name, text) = &files[rng.below(files.len() as u64) as usize];
        let mut mutated = mutate(text, &mut rng);
        if rng.below(3) == 0 {
            mutated = mutate(&mutated, &mut rng);
        }
        let path = dir.path().join(format!("m{case}-{name}"));
        std::fs::write(&path, &mutated).unwrap();
        let mut cmd = Command::new(lbsim_path());
        cmd.args(["run", path.to_str().unwrap(), "--format", "json", "--max-requests", "60000"]);
        if case % 2 == 0 {
            cmd.args(["--set", "duration=3s", "--set", "warmup=0s"]);
        }
        let (code, out, err) = run_with_deadline(&mut cmd, Duration::from_secs(60), &format!("case {case} ({name})"));
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "case {case} panicked:\n{mutated}\n{err}"
        );
        match code {
            0 => {
                let r: serde_json::Value =
                    serde_json::from_str(&out).unwrap_or_else(|e| panic!("case {case}: {e}\n{out}"));
                let q = &r["requests"];
                assert_eq!(q["sent"], q["completed"].as_u64().unwrap() + q["failed"].as_u64().unwrap());
                ok += 1;
            }
            2 => {
                assert!(err.starts_with("error: ") && err.len() > 20, "case {case}: unclear message: {err}");
                refused += 1;
            }
            other => panic!("case {case} exited {other}:\n{mutated}\n{err}"),
        }
    }
    assert!(ok > 20 && refused > 20, "{ok} ran, {refused} refused: the mutations should do both");
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    files.sort();
    files
}

/// The fuzz corpus, every regression the fuzzer found, and thousands of fresh mutations go
/// through parsing, validation and a bounded run without a panic.
#[test]
fn fuzz_corpus_regressions_and_mutations_do_not_panic() {
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for dir in [root().join("fuzz/corpus/scenario"), root().join("tests/fuzz-regressions")] {
        for f in corpus_files(&dir) {
            inputs.push(std::fs::read(&f).unwrap());
        }
    }
    assert!(inputs.len() >= 20, "the corpus is missing");
    let mut rng = SimRng::from_seed(7);
    let files = bundled_texts();
    for _ in 0..stress_cases(3_000) {
        let (_, text) = &files[rng.below(files.len() as u64) as usize];
        let mut m = mutate(text, &mut rng);
        for _ in 0..rng.below(3) {
            m = mutate(&m, &mut rng);
        }
        inputs.push(m.into_bytes());
    }
    for (i, data) in inputs.iter().enumerate() {
        let result = std::panic::catch_unwind(|| sim_core::testing::exercise_bytes(data));
        assert!(result.is_ok(), "input {i} panicked:\n{}", String::from_utf8_lossy(data));
    }
}

/// The fuzz seeds of the service distributions are valid scenarios (so the fuzzer starts from
/// inputs that reach every distribution, the sample-file reader and the write-back).
#[test]
fn distribution_fuzz_seeds_are_valid() {
    let dir = root().join("fuzz/corpus/scenario");
    let mut seen = 0;
    for f in corpus_files(&dir) {
        if !f.file_name().unwrap().to_string_lossy().starts_with("s3-dists-") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        sim_core::testing::load_fuzz_input(&text, sim_core::Format::Toml)
            .unwrap_or_else(|e| panic!("{}", e.with_file(&f.display().to_string())));
        sim_core::testing::exercise_bytes(text.as_bytes());
        seen += 1;
    }
    assert!(seen >= 7, "only {seen} distribution seeds");
}

/// A run whose last answers crawl over a 1 bps link drains for weeks of simulated time after
/// its 60 s: the command line jumps over the quiet stretches instead of stepping through them,
/// and the time series stops a quarter of the duration after the end instead of growing for
/// weeks (the fuzzer found both: the run took 27 s).
#[test]
fn a_weeks_long_drain_stays_bounded() {
    let file = root().join("tests/fuzz-regressions/timeout-days-long-drain.toml");
    let (code, out, err) = run_with_deadline(
        Command::new(lbsim_path()).arg("run").arg(&file).args(["--series", "--format", "json"]),
        Duration::from_secs(60),
        "a weeks-long drain",
    );
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["end_s"].as_f64().unwrap() > 86_400.0 * 7.0, "the drain should last weeks: {}", report["end_s"]);
    let points = report["series"]["points"].as_array().unwrap().len();
    // 60 buckets of 1 s for the duration, a quarter more (and one) for the drain.
    assert_eq!(points, 76, "series points");
    assert_eq!(report["requests"]["sent"], report["requests"]["completed"]);
}

fn check_refused(text: &str, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    // The first call builds the binary: not part of the time measured.
    lbsim_path();
    let start = Instant::now();
    let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    for e in expect {
        assert!(err.contains(e), "missing {e:?} in: {err}");
    }
    assert!(start.elapsed() < Duration::from_secs(5), "refused only after working");
}

const BASE: &str = "name = \"limits\"\nduration = \"10s\"\n[[servers]]\nname = \"api\"\nservice = { dist = \"constant\", value = \"1ms\" }\n[[clients]]\nname = \"web\"\nrate = 10\n";

/// Every limit refuses before any work, says which limit and how to raise it.
#[test]
fn each_limit_refuses_before_work() {
    check_refused(&BASE.replace("rate = 10", "rate = 1000000000"), &["max_requests"]);
    check_refused(&BASE.replace("name = \"api\"", "name = \"api\"\ncount = 200000"), &["max_servers"]);
    check_refused(
        &BASE.replace("name = \"web\"", "name = \"web\"\ncount = 200000").replace("rate = 10", "rate = 0.0001"),
        &["max_clients"],
    );
    check_refused(&BASE.replace("\"10s\"", "\"200h\"").replace("rate = 10", "rate = 0.001"), &["max_duration"]);
    check_refused(&format!("{BASE}[limits]\nmax_events = 1000\n"), &["max_events"]);
    check_refused(
        &format!("{}[limits]\nmax_memory_mb = 2\n", BASE.replace("name = \"api\"", "name = \"api\"\ncount = 1000")),
        &["max_memory_mb", "MiB"],
    );
    // Overload with unbounded queues: refused for the work it would pile up.
    check_refused(&BASE.replace("rate = 10", "rate = 5000").replace("\"10s\"", "\"1000s\""), &["max_in_flight"]);
    // Sizes: queue limits, text size, nesting.
    check_refused(
        &BASE.replace("name = \"api\"", "name = \"api\"\nqueue = 1000000000"),
        &["servers[0].queue", "at most"],
    );
    check_refused(&format!("{BASE}#{}\n", "x".repeat(5 << 20)), &["bytes", "limit"]);
    check_refused(&format!("{BASE}deep = {}1{}\n", "[".repeat(40), "]".repeat(40)), &["nest"]);
    // The trace size.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, BASE).unwrap();
    let trace = dir.path().join("t.jsonl");
    let (code, _, err) =
        lbsim_text(&["run", path.to_str().unwrap(), "--trace", trace.to_str().unwrap(), "--max-trace", "10"]);
    assert_eq!(code, 2);
    assert!(err.contains("--max-trace"), "{err}");
    assert!(!trace.exists());
    // Raising a limit lets the run through.
    let (code, _, err) = lbsim_text(&["run", path.to_str().unwrap(), "--set", "limits.max_events=100000000"]);
    assert_eq!(code, 0, "{err}");
}

/// Lookup tables are per replica and pool: a Maglev table of 5,000,011 slots or an 8M-entry
/// ring is refused at enough replicas, naming the tables and how to raise the limit, while
/// the same table at fewer replicas passes `lbsim check`; and 100,000 servers fit.
#[test]
fn lookup_tables_per_replica_count_towards_memory() {
    let with = |balancer: &str| format!("{BASE}[balancer]\n{balancer}\n");
    check_refused(
        &with("algorithm = \"maglev\"\ntable_size = 5000011\nreplicas = 300"),
        &["300 maglev tables of 5000011 entries (one per replica and pool)", "raise [limits] max_memory_mb"],
    );
    check_refused(
        &with("algorithm = \"ring_hash\"\nring_size = 8388608\nreplicas = 40"),
        &["40 ring_hash tables", "raise [limits] max_memory_mb"],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    for ok in [
        with("algorithm = \"maglev\"\ntable_size = 5000011\nreplicas = 100"),
        BASE.replace("name = \"api\"", "name = \"api\"\ncount = 100000"),
    ] {
        std::fs::write(&path, ok).unwrap();
        let (code, _, err) = lbsim_text(&["check", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
    }
}

/// `clients[].source_addresses`: a bad entry, a clash with `source_ips` and too long a list each
/// exit 2 naming the key path, what is wrong and what is allowed.
#[test]
fn bad_source_addresses_are_refused_with_the_entry() {
    let with = |list: &str| BASE.replace("rate = 10", &format!("rate = 10\ncount = 2\nsource_addresses = {list}"));
    check_refused(
        &with("[\"127.0.1.1\", \"127.0.1.300\"]"),
        &["clients[0].source_addresses[1]", "\"127.0.1.300\" is not an IPv4 address", "e.g. \"127.0.1.1\""],
    );
    check_refused(&with("[\"127.0.1.1\", 7]"), &["clients[0].source_addresses[1]", "expected a string"]);
    check_refused(&with("\"127.0.1.1\""), &["clients[0].source_addresses", "expected an array"]);
    check_refused(&with("[]"), &["clients[0].source_addresses", "needs at least one address"]);
    check_refused(
        &with("[\"127.0.1.1\"]").replace("count = 2", "count = 2\nsource_ips = 1"),
        &["clients[0].source_addresses", "cannot be given with source_ips"],
    );
    let many = vec!["\"127.0.0.1\""; 100_001].join(",");
    check_refused(&with(&format!("[{many}]")), &["has 100001 addresses; at most 100000 are allowed"]);
}

fn long_scenario(dir: &Path) -> PathBuf {
    let path = dir.join("long.toml");
    std::fs::write(
        &path,
        BASE.replace("\"10s\"", "\"3000s\"")
            .replace("rate = 10", "rate = 2000")
            .replace("name = \"api\"", "name = \"api\"\nworkers = 8"),
    )
    .unwrap();
    path
}

fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

/// Ctrl-C stops a run promptly (exit 130) and leaves no trace file; SIGKILL leaves no trace
/// file at its path either (only a hidden temporary file, never a partial trace).
#[test]
fn interrupted_or_killed_runs_leave_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = long_scenario(dir.path());
    let trace = dir.path().join("trace.jsonl");
    for signal in ["-INT", "-KILL"] {
        let mut child = Command::new(lbsim_path())
            .args(["run", scenario.to_str().unwrap(), "--trace", trace.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the signal");
        let sent = Instant::now();
        Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        let status = child.wait().unwrap();
        assert!(sent.elapsed() < Duration::from_secs(3), "took {:?} to stop", sent.elapsed());
        if signal == "-INT" {
            assert_eq!(status.code(), Some(130));
            assert!(leftovers(dir.path(), &["long.toml"]).is_empty(), "{:?}", leftovers(dir.path(), &["long.toml"]));
        }
        assert!(!trace.exists(), "a partial trace was left after {signal}");
    }
}

/// Ctrl-C stops a sweep promptly: its CSV holds only complete rows, and a rerun finishes it
/// to exactly the uninterrupted result.
#[test]
fn interrupted_sweep_keeps_only_complete_rows() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "sweep",
            "scenarios/basic-mm1.toml",
            "--param",
            "clients[0].rate=60,70,80,90",
            "--seeds",
            "3",
            "--set",
            "duration=200s",
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let full = dir.path().join("full.csv");
    assert_eq!(Command::new(lbsim_path()).args(args(&full)).current_dir(root()).status().unwrap().code(), Some(0));
    let part = dir.path().join("part.csv");
    let child =
        Command::new(lbsim_path()).args(args(&part)).current_dir(root()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while std::fs::read_to_string(&part).map(|t| t.lines().count()).unwrap_or(0) < 3
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let text = std::fs::read_to_string(&part).unwrap();
    // The kept rows are reported as kept, not as "no output was written".
    let err = String::from_utf8_lossy(&out.stderr);
    let kept = text.lines().count() - 1;
    assert!(err.contains(&format!("interrupted; {kept} of 12 rows are in")), "{err}");
    assert!(!err.contains("no output was written"), "{err}");
    assert!(text.ends_with('\n') && text.lines().count() < 13);
    assert!(std::fs::read_to_string(&full).unwrap().starts_with(&text));
    assert_eq!(Command::new(lbsim_path()).args(args(&part)).current_dir(root()).status().unwrap().code(), Some(0));
    assert_eq!(std::fs::read_to_string(&part).unwrap(), std::fs::read_to_string(&full).unwrap());
}

/// Runs `lbsim` through `sh` with a cap on its address space (so a read that would fill the
/// machine's memory fails fast instead of being killed after minutes) and a deadline.
fn capped(args: &[&str], deadline: Duration, what: &str) -> (i32, String, String) {
    run_with_deadline(
        Command::new("sh")
            .args(["-c", "ulimit -v 1500000 && exec \"$0\" \"$@\""])
            .arg(lbsim_path())
            .args(args)
            .current_dir(root()),
        deadline,
        what,
    )
}

/// A scenario file is read no further than its size limit, whatever kind of file it is:
/// `/dev/zero` and `/dev/urandom` (endless) and a 1 GiB sparse file are refused at once with
/// the limit, without taking the memory they would fill.
#[test]
fn scenario_files_are_read_no_further_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let sparse = dir.path().join("sparse.toml");
    std::fs::File::create(&sparse).unwrap().set_len(1 << 30).unwrap();
    lbsim_path(); // built before the clock starts
    for (command, file) in [("run", "/dev/zero"), ("check", "/dev/urandom"), ("check", sparse.to_str().unwrap())] {
        let start = Instant::now();
        let (code, _, err) = capped(&[command, file], Duration::from_secs(20), file);
        assert_eq!(code, 2, "{command} {file}: {err}");
        assert!(err.contains("larger than 4194304 bytes"), "{command} {file}: {err}");
        assert!(start.elapsed() < Duration::from_secs(5), "{file} took {:?}", start.elapsed());
    }
}

/// A signal while lbsim waits on its input (a FIFO whose writer never finishes) ends it at once
/// with exit 130: SIGINT (Ctrl-C) and SIGTERM (Slurm, Kubernetes) alike.
#[test]
fn a_signal_while_reading_input_ends_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for signal in ["-INT", "-TERM"] {
        let mut child = Command::new(lbsim_path())
            .args(["check", fifo.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Opening the write end waits for lbsim to open the read end; then write a little and
        // keep the FIFO open, as a slow producer would.
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        std::io::Write::write_all(&mut writer, b"name = \"slow\"\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(child.try_wait().unwrap().is_none(), "lbsim ended before the signal");
        let sent = Instant::now();
        Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        while child.try_wait().unwrap().is_none() && sent.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = child.try_wait().unwrap();
        if status.is_none() {
            let _ = child.kill();
        }
        drop(writer);
        assert_eq!(status.and_then(|s| s.code()), Some(130), "{signal} while reading");
    }
}

/// A pipe whose reader has gone away.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// No panic when stdout or stderr is closed or full: a closed stdout (`lbsim … | head`) ends
/// quietly with exit 0, a full one is an error with exit 1, and a closed stderr costs neither
/// the trace nor the charts nor leaves a temporary file.
#[test]
fn closed_or_full_stdout_and_stderr_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    // `lbsim check ok.toml | true`
    let out = Command::new(lbsim_path())
        .args(["check", "scenarios/basic-mm1.toml"])
        .current_dir(root())
        .stdout(closed_pipe())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "a closed stdout is not worth a message: {err}");
    // `lbsim algorithms > /dev/full`
    let out = Command::new(lbsim_path())
        .arg("algorithms")
        .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device") && !err.contains("panicked"), "{err}");
    // `lbsim run ok.toml --trace t.jsonl --plot p 2>&1 >/dev/null | true`, and the same with
    // stdout closed.
    for (stdout_closed, name) in [(false, "a"), (true, "b")] {
        let trace = dir.path().join(format!("{name}.jsonl"));
        let plots = dir.path().join(format!("{name}-plots"));
        let mut cmd = Command::new(lbsim_path());
        cmd.args(["run", "scenarios/basic-mm1.toml", "--set", "duration=5s", "--set", "warmup=1s", "--trace"])
            .arg(&trace)
            .arg("--plot")
            .arg(&plots)
            .current_dir(root());
        if stdout_closed {
            cmd.stdout(closed_pipe()).stderr(Stdio::null());
        } else {
            cmd.stdout(Stdio::null()).stderr(closed_pipe());
        }
        let status = cmd.status().unwrap();
        assert_eq!(status.code(), Some(0), "stdout closed: {stdout_closed}");
        assert!(std::fs::read_to_string(&trace).unwrap().lines().count() > 100, "the trace was lost");
        assert!(plots.join("latency_cdf.svg").exists(), "the charts were lost");
    }
    let left: Vec<String> = leftovers(dir.path(), &[]).into_iter().filter(|n| n.starts_with(".lbsim-")).collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// Output paths: a symbolic link is written through (the link stays, its target gets the
/// data), a FIFO is written into (not replaced by a regular file), an output that is an input
/// is refused before any work (exit 2), new files get 0666 less the umask, and a chart is
/// replaced whole (a hard link to the old one keeps the old content).
#[cfg(unix)]
#[test]
fn output_paths_links_fifos_inputs_and_permissions() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scenario = d.join("s.toml");
    std::fs::write(&scenario, BASE).unwrap();
    let s = scenario.to_str().unwrap();
    // A link to a file in another directory, and a dangling one.
    std::fs::create_dir(d.join("real")).unwrap();
    std::fs::write(d.join("real/t.jsonl"), "old").unwrap();
    std::os::unix::fs::symlink("real/t.jsonl", d.join("link.jsonl")).unwrap();
    std::os::unix::fs::symlink("real/new.jsonl", d.join("dangling.jsonl")).unwrap();
    for (link, target) in [("link.jsonl", "real/t.jsonl"), ("dangling.jsonl", "real/new.jsonl")] {
        let (code, _, err) = lbsim_text(&["run", s, "--trace", d.join(link).to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(std::fs::symlink_metadata(d.join(link)).unwrap().file_type().is_symlink(), "{link} was replaced");
        assert!(std::fs::read_to_string(d.join(target)).unwrap().lines().count() > 50, "{target}");
    }
    // A FIFO: the trace goes into it.
    let fifo = d.join("fifo.jsonl");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let (code, _, err) = lbsim_text(&["run", s, "--trace", fifo.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(reader.join().unwrap().lines().count() > 50);
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
    // A link to lbsim's own stdout (as `/dev/stdout` is) redirected to a file: the trace goes
    // through the descriptor, followed by the report, and the link stays.
    std::os::unix::fs::symlink("/proc/self/fd/1", d.join("stdout.jsonl")).unwrap();
    let both = d.join("both.txt");
    let status = Command::new(lbsim_path())
        .args(["run", s, "--format", "json", "--trace", d.join("stdout.jsonl").to_str().unwrap()])
        .stdout(std::fs::File::create(&both).unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let text = std::fs::read_to_string(&both).unwrap();
    let report: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(report["requests"]["sent"].as_u64().unwrap() as usize, text.lines().count() - 1, "{text}");
    assert!(std::fs::symlink_metadata(d.join("stdout.jsonl")).unwrap().file_type().is_symlink());
    // The scenario as the trace, directly or through a link: refused, the scenario intact.
    std::os::unix::fs::symlink("s.toml", d.join("s-link.jsonl")).unwrap();
    for trace in [s.to_string(), d.join("s-link.jsonl").to_str().unwrap().to_string()] {
        let (code, _, err) = lbsim_text(&["run", s, "--trace", &trace]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("is the input file"), "{err}");
        assert_eq!(std::fs::read_to_string(&scenario).unwrap(), BASE);
    }
    let (code, _, err) = lbsim_text(&["sweep", s, "--param", "clients[0].rate=5,6", "--out", s]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(std::fs::read_to_string(&scenario).unwrap(), BASE);
    // Permissions follow the umask, for traces as for charts.
    let trace = d.join("perm.jsonl");
    let plots = d.join("perm-plots");
    std::fs::create_dir(&plots).unwrap();
    std::fs::write(plots.join("old.svg"), "old chart").unwrap();
    std::fs::hard_link(plots.join("old.svg"), plots.join("latency_cdf.svg")).unwrap();
    let status = Command::new("sh")
        .args(["-c", "umask 027 && exec \"$0\" \"$@\""])
        .arg(lbsim_path())
        .args(["run", s, "--trace", trace.to_str().unwrap(), "--plot", plots.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::metadata(&trace).unwrap().permissions().mode() & 0o777, 0o640, "trace");
    let chart = std::fs::metadata(plots.join("load_per_server.svg")).unwrap();
    assert_eq!(chart.permissions().mode() & 0o777, 0o640, "chart");
    // The chart was replaced, not rewritten in place: its old hard link keeps the old content.
    assert_eq!(std::fs::read_to_string(plots.join("old.svg")).unwrap(), "old chart");
    assert_eq!(std::fs::metadata(plots.join("latency_cdf.svg")).unwrap().nlink(), 1);
    assert!(leftovers(d, &[]).iter().all(|n| !n.starts_with(".lbsim-")));
}

/// SIGTERM (what Slurm and Kubernetes send) is handled like Ctrl-C: exit 130, no temporary
/// file; and a `--plot` directory lbsim made is removed when the interrupt leaves it empty.
#[test]
fn sigterm_is_handled_like_ctrl_c_and_empty_plot_directories_go() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = long_scenario(dir.path());
    let trace = dir.path().join("trace.jsonl");
    let plots = dir.path().join("charts/new");
    for (command, signal) in [("run", "-TERM"), ("compare", "-INT"), ("compare", "-TERM")] {
        let mut args = vec![command.to_string(), scenario.to_str().unwrap().to_string()];
        if command == "run" {
            args.extend(["--trace".into(), trace.to_str().unwrap().into()]);
        } else {
            args.extend(["--algorithms".into(), "round_robin,random".into(), "--seeds".into(), "2".into()]);
        }
        args.extend(["--plot".into(), plots.to_str().unwrap().into()]);
        let mut child =
            Command::new(lbsim_path()).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(700));
        assert!(child.try_wait().unwrap().is_none(), "{command} ended before the signal");
        let sent = Instant::now();
        Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        let status = child.wait().unwrap();
        assert!(sent.elapsed() < Duration::from_secs(3), "took {:?} to stop", sent.elapsed());
        assert_eq!(status.code(), Some(130), "{command} {signal}");
        assert!(
            leftovers(dir.path(), &["long.toml"]).is_empty(),
            "{command} {signal}: {:?}",
            leftovers(dir.path(), &["long.toml"])
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Arithmetic at the largest values validation allows: every time either fits the clock's
// horizon and is reported in full, or the scenario is refused up front.

const SLOW_LINK: &str = "name = \"slow-link\"\nduration = \"1s\"\n[network]\nbandwidth = \"1bps\"\n[[servers]]\nname = \"api\"\nservice = { dist = \"constant\", value = \"1ms\" }\n[[clients]]\nname = \"web\"\nprotocol = \"http2\"\narrival = \"constant\"\nrate = 10\nresponse_bytes = 1000000\n";

/// A terabyte at 1 bps (279,000 years a transfer), a terabyte encoded at 1 s per KB, a leaky
/// bucket that holds a request for millennia, a pile of day-long jobs, and more bytes than
/// the counters hold: each used to overflow (a panic in the test profile, wrapped figures in
/// release); each is refused before any work, naming the key and what to change.
#[test]
fn times_past_the_clock_horizon_are_refused() {
    let tib = SLOW_LINK.replace("\"1s\"", "\"10s\"").replace("1000000", "1099511627776");
    check_refused(&tib, &["clients[0].response_bytes", "1bps", "years", "network.bandwidth"]);
    let encode =
        tib.replace("bandwidth = \"1bps\"", "").replace("response_bytes", "serialize_per_kb = \"1s\"\nrequest_bytes");
    check_refused(&encode, &["clients[0].request_bytes", "serialize_per_kb = 1s", "years"]);
    check_refused(
        &format!(
            "{BASE}[balancer]\nrate_limit = {{ per_hour = 4, kind = \"leaky_bucket\", burst = 1000000000, key = \"global\" }}\n"
        ),
        &["balancer.rate_limit.burst", "years", "nodelay"],
    );
    // Day-long jobs piling up without a client timeout (a small bounded group beside them
    // keeps the unbounded-overload check out of the way): served for millennia.
    let piled = BASE.replace("value = \"1ms\"", "value = \"24h\"").replace("rate = 10", "rate = 10000").replace(
        "[[clients]]",
        "[[servers]]\nname = \"spare\"\nqueue = 10\nservice = { dist = \"constant\", value = \"1ms\" }\n[[clients]]",
    );
    check_refused(&piled.replace("\"10s\"", "\"100s\""), &["servers", "workers", "years"]);
    // With a timeout on every request the run ends at the last timeout, whatever is left.
    let (code, _, err) = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, piled.replace("rate = 10000", "rate = 10000\ntimeout = \"24h\"")).unwrap();
        lbsim_text(&["check", path.to_str().unwrap()])
    };
    assert_eq!(code, 0, "{err}");
    check_refused(
        &BASE
            .replace("rate = 10", "rate = 1000000\ntimeout = \"1s\"\nresponse_bytes = 1099511627776")
            .replace("\"10s\"", "\"20s\""),
        &["clients[0]", "2^63", "response_bytes"],
    );
}

/// Ten 1 MB answers over one 1 bps connection: each takes 8,000,232 s (92 days) and they
/// queue, so the last ends after 10 of them. The figures are reported in full (they were
/// clamped to an hour), and a faster link is faster (the truncated u64 once made 3 bps slower
/// than 1 bps).
#[test]
fn a_transfer_of_months_is_reported_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.toml");
    std::fs::write(&path, SLOW_LINK).unwrap();
    let latency = |bandwidth: &str| {
        let (code, out, err) = lbsim_text(&[
            "run",
            path.to_str().unwrap(),
            "--format",
            "json",
            "--set",
            &format!("network.bandwidth=\"{bandwidth}\""),
        ]);
        assert_eq!(code, 0, "{err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["requests"]["completed"], 10, "{out}");
        (report["latency_ms"]["p50"].as_f64().unwrap(), report["latency_ms"]["max"].as_f64().unwrap())
    };
    let one_ms = (1_000_000.0 + 29.0) * 8.0 * 1000.0;
    let (p50, max) = latency("1bps");
    assert!(rel(max, 10.0 * one_ms) < 0.001, "max {max} ms, expected {} ms", 10.0 * one_ms);
    assert!(rel(p50, 5.0 * one_ms) < 0.01, "p50 {p50} ms, expected {} ms", 5.0 * one_ms);
    let (p50_3, max_3) = latency("3bps");
    assert!(rel(max_3 * 3.0, max) < 0.001 && rel(p50_3 * 3.0, p50) < 0.01, "3 bps: p50 {p50_3}, max {max_3}");
}

// ---------------------------------------------------------------------------------------------
// Memory and work `check` used not to count: lookup tables per replica, connections held,
// the timeline's table rebuilds, health checks over a long drain, trace lines.

/// Runs `lbsim run` on a scenario text and returns (exit code, stderr, peak resident MiB of
/// the child). The peak comes from `wait4` in a small Python parent, not from this test
/// process: Linux carries the high-water mark of the memory a process had before `exec` into
/// its `ru_maxrss`, and a child spawned from here starts on (a vfork of) this test binary, whose
/// own peak grows with every test that runs beside it — 84 MiB seen for a 38 MiB run.
fn run_measured(text: &str, extra: &[&str]) -> (i32, String, f64) {
    const MEASURE: &str = "import resource, subprocess, sys\n\
        with open(sys.argv[1], 'w') as err:\n\
        \x20   code = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err).returncode\n\
        print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let err_path = dir.path().join("err.txt");
    let out = Command::new("python3")
        .arg("-c")
        .arg(MEASURE)
        .arg(&err_path)
        .arg(lbsim_path())
        .arg("run")
        .arg(&path)
        .args(extra)
        .output()
        .expect("python3 (scripts/setup.sh needs it too) measures the child's peak memory");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let code: i32 = words.next().and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("measure: {text}"));
    // ru_maxrss is in KiB on Linux.
    let kib: f64 = words.next().and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("measure: {text}"));
    (code, std::fs::read_to_string(&err_path).unwrap(), kib / 1024.0)
}

const TABLES: &str = "name = \"tables\"\nduration = \"2s\"\n[[servers]]\nname = \"api\"\ncount = 8\nservice = { dist = \"constant\", value = \"1ms\" }\n[[clients]]\nname = \"web\"\ncount = 8\nprotocol = \"http2\"\nrate = 5\n[balancer]\nalgorithm = \"ring_hash\"\nring_size = 2000000\nreplicas = 2\n[limits]\nmax_memory_mb = 64\n";

/// Ring and Maglev tables are per replica (and pool): 20 replicas of an 8M-entry ring took
/// 2.6 GB and the 1,000 replicas allowed would take 131 GB, all unseen by `check`; 7,000
/// WebSocket clients with 10,000 connections each took 4.4 GB. Now each is counted: one just
/// over the limit is refused before any work with the limit's name, one just under runs and
/// stays under it.
#[test]
fn tables_and_connections_count_against_max_memory() {
    check_refused(TABLES, &["max_memory_mb", "ring_hash tables", "64 MiB"]);
    let (code, err, peak) = run_measured(&TABLES.replace("replicas = 2", "replicas = 1"), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(peak < 64.0, "peak {peak:.1} MiB over the 64 MiB limit");
    let maglev = TABLES.replace("\"ring_hash\"", "\"maglev\"").replace("ring_size = 2000000", "table_size = 2000003");
    check_refused(&maglev.replace("replicas = 2", "replicas = 9"), &["max_memory_mb", "maglev tables"]);
    let (code, err, peak) = run_measured(&maglev, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(peak < 64.0, "peak {peak:.1} MiB over the 64 MiB limit");
    // The figures, refused at the default limit.
    check_refused(
        &TABLES
            .replace("replicas = 2", "replicas = 1000")
            .replace("ring_size = 2000000", "ring_size = 8388608")
            .replace("max_memory_mb = 64", "max_memory_mb = 4096"),
        &["max_memory_mb", "ring_hash tables"],
    );
    let sockets = "name = \"sockets\"\nduration = \"1s\"\n[[servers]]\nname = \"api\"\ncount = 10\nservice = { dist = \"constant\", value = \"1ms\" }\n[[clients]]\nname = \"web\"\ncount = 7000\nrate = 0.001\nprotocol = \"websocket\"\nconnections = 10000\n";
    check_refused(sockets, &["max_memory_mb", "70000000 connections"]);
    let small = format!(
        "{}[limits]\nmax_memory_mb = 64\n",
        sockets.replace("count = 7000", "count = 800").replace("10000", "1000")
    );
    check_refused(&small, &["max_memory_mb", "connections"]);
    let (code, err, peak) = run_measured(&small.replace("count = 800", "count = 400"), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(peak < 64.0, "peak {peak:.1} MiB over the 64 MiB limit");
}

fn flapping(events: usize) -> String {
    let mut text = String::from(
        "name = \"flapping\"\nduration = \"100s\"\n[[servers]]\nname = \"api\"\ncount = 4\nservice = { dist = \"constant\", value = \"1ms\" }\n[[clients]]\nname = \"web\"\nrate = 1\n[balancer]\nalgorithm = \"maglev\"\ntable_size = 5000011\nreplicas = 4\nhealth_check = { interval = \"1ms\", timeout = \"1ms\", rise = 1, fall = 1 }\n",
    );
    for i in 0..events {
        let action = if i % 2 == 0 { "crash" } else { "recover" };
        text.push_str(&format!("[[events]]\nat = \"{}ms\"\naction = \"{action}\"\ntarget = \"api\"\n", 10 + i * 5));
    }
    text
}

/// 10,000 crash/recover events passed `check` and would have taken hours (a Maglev rebuild
/// at every replica per health change); a long drain with 1 ms health checks ran for 30–47 s
/// and then stopped at max_events. Both are counted up front now.
#[test]
fn timeline_rebuilds_and_checks_over_the_drain_count_against_max_events() {
    check_refused(&flapping(10_000), &["events:", "max_events", "table builds", "servers go down and up"]);
    let start = Instant::now();
    let (code, _, err) = {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, flapping(6)).unwrap();
        lbsim_text(&["run", path.to_str().unwrap()])
    };
    assert_eq!(code, 0, "{err}");
    assert!(start.elapsed() < Duration::from_secs(30), "a short timeline took {:?}", start.elapsed());
    // A drain of weeks (answers crawling over a 1 bps link) with 1 ms checks at every
    // replica: the checks go on until the last answer, so they are counted until then.
    let drain = std::fs::read_to_string(root().join("tests/fuzz-regressions/timeout-days-long-drain.toml")).unwrap();
    let drain = drain.replace("[network]", "health_check = { interval = \"1ms\" }\n\n[network]");
    check_refused(&drain, &["balancer.health_check.interval", "max_events", "health checks", "drain"]);
}

/// The estimate holds both ways: with `max_events` just at a run's estimate it is accepted and
/// finishes within it — through a flapping timeline at 1 ms checks, and through a drain of
/// months with checks going on — and just under the estimate it is refused.
#[test]
fn runs_just_under_max_events_finish_within_it() {
    let drain = std::fs::read_to_string(root().join("tests/fuzz-regressions/timeout-days-long-drain.toml")).unwrap();
    let drain = drain.replace("[network]", "health_check = { interval = \"60s\" }\n\n[network]");
    for text in [flapping(6), drain] {
        let mut s = sim_core::Scenario::from_toml(&text).unwrap();
        let estimate = sim_core::config::estimated_events(&s);
        s.limits.max_events = (estimate * 0.99) as u64;
        let refused = s.validate().unwrap_err();
        assert!(refused.message.contains("max_events"), "{}", refused.message);
        s.limits.max_events = estimate.ceil() as u64;
        s.validate().unwrap();
        let mut sim = sim_core::Simulation::new(&s, s.seed);
        sim.run();
        assert!(sim.aborted().is_none(), "{:?} (estimate {estimate:.0})", sim.aborted());
        assert!(sim.events_processed() as f64 <= estimate, "{} events, estimate {estimate:.0}", sim.events_processed());
    }
}

/// `--trace-events` under `--max-trace 0` with no requests at all wrote 386 MB of flapping
/// health checks: the health and timeline lines are estimated up front, and the cap also
/// stops a run whose trace outgrows it (no file is left).
#[test]
fn trace_events_count_against_max_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(
        &path,
        flapping(40).replace("rate = 1\n", "rate = 0\n").replace("table_size = 5000011", "table_size = 65537"),
    )
    .unwrap();
    let trace = dir.path().join("t.jsonl");
    let args = |cap: &str| {
        lbsim_text(&[
            "run",
            path.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
            "--trace-events",
            "--max-trace",
            cap,
        ])
    };
    let (code, _, err) = args("0");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--max-trace") && err.contains("health and timeline events"), "{err}");
    assert!(!trace.exists());
    // 40 timeline lines and 20 crashes and 20 recoveries of 4 servers at 4 replicas.
    let (code, _, err) = args("680");
    assert_eq!(code, 0, "{err}");
    let lines = std::fs::read_to_string(&trace).unwrap().lines().count();
    assert!((40..=680).contains(&lines), "{lines} lines");
    std::fs::remove_file(&trace).unwrap();
    // Requests beyond the estimate (Poisson arrivals above their mean) stop the run at the cap.
    std::fs::write(&path, BASE.replace("\"10s\"", "\"1s\"").replace("rate = 10", "rate = 100")).unwrap();
    let counts: Vec<u64> = (0..20)
        .map(|seed| {
            let (code, out, err) =
                lbsim_text(&["run", path.to_str().unwrap(), "--format", "json", "--seed", &seed.to_string()]);
            assert_eq!(code, 0, "{err}");
            serde_json::from_str::<serde_json::Value>(&out).unwrap()["requests"]["sent"].as_u64().unwrap()
        })
        .collect();
    let seed = counts.iter().position(|&n| n > 100).expect("some seed sends more than its mean");
    let (code, _, err) = lbsim_text(&[
        "run",
        path.to_str().unwrap(),
        "--seed",
        &seed.to_string(),
        "--trace",
        trace.to_str().unwrap(),
        "--max-trace",
        "100",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("reached more than --max-trace 100"), "{err}");
    assert!(!trace.exists());
}
