//! Batch experiments through the binary: paired comparisons with confidence intervals,
//! sweeps that resume after a kill and shard across machines, charts.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lbsim_tests::*;

fn json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = lbsim_text(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Round robin vs power of two at load 0.9: power of two wins with non-overlapping intervals.
#[test]
fn compare_ranks_round_robin_and_power_of_two() {
    let r = json(&[
        "compare",
        "scenarios/basic-mm1.toml",
        "--algorithms",
        "round_robin,power_of_two",
        "--seeds",
        "4",
        "--set",
        "duration=60s",
        "--set",
        "warmup=5s",
        "--format",
        "json",
    ]);
    assert_eq!(r["seeds"], 4);
    let results = r["results"].as_array().unwrap();
    let mean = |i: usize, k: &str| &results[i]["metrics"][k];
    let (rr, p2c) = (mean(0, "latency_ms.mean"), mean(1, "latency_ms.mean"));
    assert!(p2c["ci95_high"].as_f64().unwrap() < rr["ci95_low"].as_f64().unwrap(), "{rr} vs {p2c}");
    let diff = &results[1]["vs_first"]["latency_ms.mean"];
    assert_eq!(diff["significant"], true);
    assert!(diff["mean_diff"].as_f64().unwrap() < 0.0);
    for key in ["latency_ms.p50", "latency_ms.p99", "success_rate", "balance.max_over_mean"] {
        for field in ["mean", "ci95_low", "ci95_high"] {
            assert!(results[0]["metrics"][key][field].is_number(), "{key}.{field}");
        }
    }
    // One seed: no intervals, and the output says why.
    let one_seed = [
        "compare",
        "scenarios/basic-mm1.toml",
        "--algorithms",
        "round_robin,power_of_two",
        "--seeds",
        "1",
        "--set",
        "duration=10s",
        "--set",
        "warmup=1s",
    ];
    let r = json(&[&one_seed[..], &["--format", "json"]].concat());
    assert!(r["note"].as_str().unwrap().contains("at least 2 seeds"));
    assert!(r["results"][0]["metrics"]["latency_ms.mean"]["ci95_low"].is_null());
    let (_, table, _) = lbsim_text(&one_seed);
    assert!(table.contains("need at least 2 seeds"), "{table}");
    let (code, _, err) = lbsim_text(&["compare", "scenarios/basic-mm1.toml", "--algorithms", "round_robin,fastest"]);
    assert_eq!(code, 2);
    assert!(err.contains("fastest"));
}

const SWEEP: &[&str] = &[
    "sweep",
    "scenarios/basic-mm1.toml",
    "--param",
    "clients[0].rate=60,80",
    "--param",
    "balancer.algorithm=random,round_robin,power_of_two",
    "--seeds",
    "2",
    "--set",
    "duration=20s",
    "--set",
    "warmup=2s",
];

fn sweep(out: &Path, extra: &[&str]) {
    let mut args: Vec<&str> = SWEEP.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    let (code, _, err) = lbsim_text(&args);
    assert_eq!(code, 0, "{err}");
}

/// 6 points × 2 seeds → 12 rows; shards 1/2 and 2/2 merged equal the unsharded rows; reruns
/// are byte-identical and skip finished rows.
#[test]
fn sweep_rows_shards_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.csv");
    sweep(&all, &[]);
    let text = std::fs::read_to_string(&all).unwrap();
    assert_eq!(text.lines().count(), 13, "header + 12 rows:\n{text}");
    assert!(text.lines().next().unwrap().starts_with("index,sweep,tasks,clients[0].rate,balancer.algorithm,seed,"));
    // A rerun of a finished sweep changes nothing.
    sweep(&all, &[]);
    assert_eq!(std::fs::read_to_string(&all).unwrap(), text);
    // Shards, then merge.
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    sweep(&a, &["--shard", "1/2", "--jobs", "1"]);
    sweep(&b, &["--shard", "2/2"]);
    let merged = dir.path().join("merged.csv");
    let (code, _, err) =
        lbsim_text(&["merge", a.to_str().unwrap(), b.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&merged).unwrap(), text);
    // Merging a file of another sweep is refused.
    let other = dir.path().join("other.csv");
    let mut args: Vec<&str> = SWEEP.to_vec();
    args[3] = "clients[0].rate=61,80";
    args.extend(["--out", other.to_str().unwrap(), "--shard", "2/2"]);
    assert_eq!(lbsim_text(&args).0, 0);
    let (code, _, err) =
        lbsim_text(&["merge", a.to_str().unwrap(), other.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not the same sweep"), "{err}");
}

/// A sweep killed with SIGKILL part way and rerun ends with exactly the rows of an
/// uninterrupted run.
#[test]
fn killed_sweep_resumes_to_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.csv");
    let mut slow: Vec<&str> = SWEEP.to_vec();
    slow[11] = "duration=120s"; // a few hundred ms per run, so the kill lands mid-sweep
    let mut args = slow.clone();
    args.extend(["--out", full.to_str().unwrap()]);
    assert_eq!(lbsim_text(&args).0, 0);
    let expected = std::fs::read_to_string(&full).unwrap();

    let killed = dir.path().join("killed.csv");
    let mut args = slow.clone();
    args.extend(["--out", killed.to_str().unwrap(), "--jobs", "1"]);
    let mut child = Command::new(lbsim_path()).args(&args).current_dir(root()).spawn().unwrap();
    let start = Instant::now();
    loop {
        let rows = std::fs::read_to_string(&killed).map(|t| t.lines().count()).unwrap_or(0);
        if rows >= 4 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = std::fs::read_to_string(&killed).unwrap();
    assert!(partial.lines().count() < 13, "the sweep finished before the kill");
    assert!(expected.starts_with(partial.trim_end_matches(|c| c != '\n')), "rows before the kill are a prefix");
    let (code, _, err) = lbsim_text(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&killed).unwrap(), expected);
}

/// A cut-off last line (a kill in the middle of a write) is dropped and redone.
#[test]
fn a_cut_off_row_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    sweep(&out, &[]);
    let full = std::fs::read_to_string(&out).unwrap();
    let cut = &full[..full.len() - 10];
    std::fs::write(&out, cut).unwrap();
    sweep(&out, &[]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), full);
}

fn assert_charts(dir: &Path, names: &[&str]) {
    for name in names {
        let path = dir.join(name);
        let svg = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(svg.starts_with("<svg") && svg.len() > 5_000, "{name} looks empty ({} bytes)", svg.len());
        assert!(svg.contains("<polyline") || svg.contains("<rect") || svg.contains("<polygon"), "{name} has no data");
        assert!(svg.contains("<text"), "{name} has no labels");
    }
}

/// `--plot` writes labelled, non-trivial charts for run, compare and sweep.
#[test]
fn plots_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("run");
    let (code, _, err) = lbsim_text(&[
        "run",
        "scenarios/crash-with-health-checks.toml",
        "--set",
        "duration=30s",
        "--plot",
        d.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_charts(
        &d,
        &[
            "latency_cdf.svg",
            "load_per_server.svg",
            "in_flight_per_server.svg",
            "latency_over_time.svg",
            "outcomes_over_time.svg",
        ],
    );
    let d = dir.path().join("compare");
    let (code, _, err) = lbsim_text(&[
        "compare",
        "scenarios/basic-mm1.toml",
        "--algorithms",
        "random,power_of_two",
        "--seeds",
        "2",
        "--set",
        "duration=10s",
        "--set",
        "warmup=1s",
        "--plot",
        d.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_charts(&d, &["compare_latency.svg", "compare_success_balance.svg"]);
    let d = dir.path().join("sweep");
    let mut args: Vec<&str> = SWEEP.to_vec();
    let out = dir.path().join("s.csv");
    args.extend(["--out", out.to_str().unwrap(), "--plot", d.to_str().unwrap()]);
    assert_eq!(lbsim_text(&args).0, 0);
    assert_charts(&d, &["sweep_latency_ms_mean.svg", "sweep_latency_ms_p99.svg", "sweep_success_rate.svg"]);
    // An unwritable plot directory fails before any work.
    let (code, _, err) = lbsim_text(&["run", "scenarios/basic-mm1.toml", "--plot", "/proc/nope"]);
    assert_eq!(code, 2, "{err}");
}

/// Two sweeps cannot write one CSV: while one holds the file's lock, another is refused
/// (exit 2) naming the file, instead of both appending every row.
#[test]
fn a_locked_sweep_csv_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    let held = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&out).unwrap();
    held.try_lock().unwrap();
    let mut args: Vec<&str> = SWEEP.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    let (code, _, err) = lbsim_text(&args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("being written by another lbsim") && err.contains("s.csv"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "", "the locked file was written");
    held.unlock().unwrap();
    sweep(&out, &[]);
}

/// A resumed sweep checks the rows already in its CSV: a duplicated row, an edited value and a
/// junk line are bad input (exit 2) with the line number, never kept silently.
#[test]
fn duplicated_edited_or_junk_rows_are_found_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    sweep(&out, &[]);
    let full = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    let edited_value = {
        // Change the mean latency of row 2 (line 4), keeping the line's shape.
        let mut fields: Vec<String> = lines[3].split(',').map(str::to_string).collect();
        let mean = lines[0].split(',').position(|h| h == "latency_ms_mean").unwrap();
        fields[mean] = format!("{}1", fields[mean]);
        fields.join(",")
    };
    let cases = [
        ("duplicated", format!("{}\n{}\n", lines[..5].join("\n"), lines[4]), "line 6", "duplicated"),
        ("edited", format!("{}\n{edited_value}\n", lines[..3].join("\n")), "line 4", "edited"),
        ("junk", format!("{}\njunk\n", lines[..3].join("\n")), "line 4", ""),
    ];
    for (what, text, line, why) in cases {
        std::fs::write(&out, &text).unwrap();
        let mut args: Vec<&str> = SWEEP.to_vec();
        args.extend(["--out", out.to_str().unwrap()]);
        let (code, _, err) = lbsim_text(&args);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(err.contains(line) && err.contains(why), "{what}: {err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text, "{what}: the file was changed");
    }
    // Merge checks the same.
    std::fs::write(&out, format!("{}\n{edited_value}\n", lines[..3].join("\n"))).unwrap();
    let merged = dir.path().join("m.csv");
    let (code, _, err) = lbsim_text(&["merge", out.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 4") && err.contains("edited"), "{err}");
    let (code, _, err) = lbsim_text(&["merge", out.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is the input file"), "{err}");
}

/// Experiments too big for memory are refused before any work with the limit that stops them
/// (`--max-runs`) and how to raise it: a hundred million seeds, 2^32 − 1 seeds, a 10⁴ × 10⁴
/// grid. (Run with a cap on the address space, so a regression fails fast instead of
/// filling the machine.)
#[test]
fn experiments_too_big_for_memory_are_refused_before_work() {
    let values = |n: u32| (1..=n).map(|v| v.to_string()).collect::<Vec<_>>().join(",");
    let (rates, counts) =
        (format!("clients[0].rate={}", values(10_000)), format!("servers[0].count={}", values(10_000)));
    let cases: Vec<Vec<&str>> = vec![
        vec!["compare", "scenarios/basic-mm1.toml", "--algorithms", "round_robin,random", "--seeds", "100000000"],
        vec!["compare", "scenarios/basic-mm1.toml", "--algorithms", "round_robin", "--seeds", "4294967295"],
        vec!["sweep", "scenarios/basic-mm1.toml", "--param", &rates, "--param", &counts, "--out", "/nonexistent/x.csv"],
    ];
    let lbsim = lbsim_path();
    for args in cases {
        let start = Instant::now();
        let out = Command::new("sh")
            .args(["-c", "ulimit -v 1500000 && exec timeout 30 \"$0\" \"$@\""])
            .arg(&lbsim)
            .args(&args)
            .current_dir(root())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", args[0]);
        assert!(err.contains("--max-runs 100000"), "{}: {err}", args[0]);
        assert!(start.elapsed() < Duration::from_secs(5), "{} took {:?}", args[0], start.elapsed());
    }
    // Merge reads its inputs line by line within the same limits: `/dev/zero` is refused at
    // once, and so is a CSV of more rows than --max-runs.
    let out = Command::new("sh")
        .args(["-c", "ulimit -v 1500000 && exec timeout 30 \"$0\" \"$@\""])
        .arg(&lbsim)
        .args(["merge", "/dev/zero", "--out", "/nonexistent/x.csv"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/dev/zero line 1 is longer than"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    sweep(&csv, &[]);
    let merged = dir.path().join("m.csv");
    let (code, _, err) =
        lbsim_text(&["merge", csv.to_str().unwrap(), "--out", merged.to_str().unwrap(), "--max-runs", "11"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("more than --max-runs 11 rows"), "{err}");
    let (code, _, err) =
        lbsim_text(&["merge", csv.to_str().unwrap(), "--out", merged.to_str().unwrap(), "--max-runs", "12"]);
    assert_eq!(code, 0, "{err}");
    // Raising the limit lets a larger experiment run.
    let (code, _, err) = lbsim_text(&[
        "compare",
        "scenarios/basic-mm1.toml",
        "--algorithms",
        "round_robin",
        "--seeds",
        "3",
        "--set",
        "duration=2s",
        "--set",
        "warmup=1s",
        "--max-runs",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
}

// ---- Charts that tell the truth: every server, labels that fit, PNGs, integer ticks, digits ----

/// A `<text>` element of an SVG chart: where it is anchored, its font size and its text.
struct SvgText {
    x: f64,
    y: f64,
    size: f64,
    anchor: String,
    dy: String,
    text: String,
}

impl SvgText {
    /// The box the text covers, as (left, top, right, bottom), measured generously: DejaVu
    /// Sans, the widest common sans-serif, averages under 0.65 em a character.
    fn bounds(&self) -> (f64, f64, f64, f64) {
        let w = self.text.chars().count() as f64 * self.size * 0.65;
        let left = match self.anchor.as_str() {
            "end" => self.x - w,
            "middle" => self.x - w / 2.0,
            _ => self.x,
        };
        let top = match self.dy.as_str() {
            "0.76em" => self.y,
            "0.5ex" => self.y - self.size / 2.0,
            _ => self.y - self.size,
        };
        (left, top, left + w, top + self.size)
    }
}

/// The chart's width and its text elements.
fn svg_texts(path: &Path) -> (f64, Vec<SvgText>) {
    let svg = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[start..].split('"').next()?.to_string())
    };
    let width = attr(&svg[..svg.find('>').unwrap()], "width").unwrap().parse().unwrap();
    let mut texts = Vec::new();
    for part in svg.split("<text").skip(1) {
        let tag = &part[..part.find('>').unwrap()];
        let body = &part[part.find('>').unwrap() + 1..part.find("</text>").unwrap()];
        texts.push(SvgText {
            x: attr(tag, "x").unwrap().parse().unwrap(),
            y: attr(tag, "y").unwrap().parse().unwrap(),
            size: attr(tag, "font-size").unwrap().parse().unwrap(),
            anchor: attr(tag, "text-anchor").unwrap_or_default(),
            dy: attr(tag, "dy").unwrap_or_default(),
            text: body.trim().to_string(),
        });
    }
    (width, texts)
}

/// `scenarios/grpc-l4-imbalance.toml` is about api-4, which gets no connection and serves
/// nothing: both per-server charts must show it (they used to drop idle servers). The
/// CDF's p50, p99 and p99.9 labels must neither overlap (p99 and p99.9 sit 0.009 apart in
/// height) nor run past the chart's right edge. Every chart also comes as a PNG that is a
/// real, non-blank image of the chart's size.
#[test]
fn run_charts_show_idle_servers_fit_their_labels_and_come_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("charts");
    let (code, _, err) = lbsim_text(&["run", "scenarios/grpc-l4-imbalance.toml", "--plot", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for chart in ["load_per_server.svg", "in_flight_per_server.svg"] {
        let (_, texts) = svg_texts(&d.join(chart));
        for server in ["api-1", "api-2", "api-3", "api-4"] {
            assert!(texts.iter().any(|t| t.text.starts_with(server)), "{chart} does not show {server}");
        }
        assert!(texts.iter().any(|t| t.text == "api-4 (served nothing)"), "{chart} does not say api-4 is idle");
    }
    // Too many servers for a line each: the chart says so and names the idle ones.
    let many = dir.path().join("many");
    let (code, _, err) = lbsim_text(&[
        "run",
        "scenarios/grpc-l4-imbalance.toml",
        "--set",
        "servers[0].count=16",
        "--set",
        "clients[0].count=12",
        "--set",
        "clients[0].rate=60",
        "--plot",
        many.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, texts) = svg_texts(&many.join("load_per_server.svg"));
    let texts: Vec<&str> = texts.iter().map(|t| t.text.as_str()).collect();
    assert!(texts.iter().any(|t| t.starts_with("16 servers, too many to draw each")), "{texts:?}");
    assert!(texts.contains(&"4 served nothing: api-13, api-14, api-15, api-16"), "{texts:?}");
    assert!(texts.contains(&"idlest: api-13 (served nothing)"), "{texts:?}");
    let (width, texts) = svg_texts(&d.join("latency_cdf.svg"));
    let labels: Vec<&SvgText> =
        texts.iter().filter(|t| ["p50 ", "p99 ", "p99.9 "].iter().any(|p| t.text.starts_with(p))).collect();
    assert_eq!(
        labels.len(),
        3,
        "p50, p99 and p99.9 are labelled: {:?}",
        texts.iter().map(|t| &t.text).collect::<Vec<_>>()
    );
    for (i, a) in labels.iter().enumerate() {
        let (l, t, r, b) = a.bounds();
        assert!(l >= 0.0 && r <= width, "{:?} spans x {l:.0} to {r:.0}, outside the chart (0 to {width})", a.text);
        for other in &labels[i + 1..] {
            let (l2, t2, r2, b2) = other.bounds();
            let apart = r <= l2 || r2 <= l || b <= t2 || b2 <= t;
            assert!(apart, "{:?} and {:?} overlap", a.text, other.text);
        }
    }
    for chart in ["latency_cdf", "load_per_server", "in_flight_per_server", "latency_over_time", "outcomes_over_time"] {
        let path = d.join(format!("{chart}.png"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{chart}.png is not a PNG");
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (1000, 560), "{chart}.png");
        let pixels = &pixels[..info.buffer_size()];
        let inked = pixels.chunks(3).filter(|p| p.iter().any(|c| *c < 200)).count();
        let total = pixels.len() / 3;
        // Axes, text and data: well over 1% of the image, and not all of it.
        assert!(inked > total / 100 && inked < total * 9 / 10, "{chart}.png: {inked} of {total} pixels inked");
    }
}

/// A whole-numbered sweep parameter (a server count) gets whole-numbered ticks only — not
/// 3.5 — and the summary says how many rows of the sweep the run holds.
#[test]
fn sweep_charts_tick_whole_numbers_and_summary_counts_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, d) = (dir.path().join("s.csv"), dir.path().join("charts"));
    let mut args = vec![
        "sweep",
        "scenarios/basic-mm1.toml",
        "--param",
        "servers[0].count=3,4",
        "--set",
        "clients[0].rate=20",
        "--set",
        "duration=4s",
        "--set",
        "warmup=1s",
        "--seeds",
        "2",
        "--out",
        csv.to_str().unwrap(),
    ];
    let (code, _, err) = lbsim_text(&[&args[..], &["--shard", "1/2"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 rows (shard 1/2 of 4)"), "{err}");
    args.extend(["--plot", d.to_str().unwrap()]);
    let (code, _, err) = lbsim_text(&args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("4 rows (all of 4)"), "{err}");
    let (_, texts) = svg_texts(&d.join("sweep_latency_ms_mean.svg"));
    // The x axis's tick labels: centred under the axis.
    let ticks: Vec<&str> = texts
        .iter()
        .filter(|t| t.anchor == "middle" && t.dy == "0.76em" && t.text.parse::<f64>().is_ok())
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(ticks, ["3", "4"], "x ticks of a server count");
    assert!(d.join("sweep_latency_ms_mean.png").exists());
}

/// compare prints each mean ± half-width with digits that follow the interval, so the
/// numbers themselves show whether the interval excludes zero, as the `*` says: this
/// comparison used to print `Δ Jain 0.0004 ± 0.0004 *`.
#[test]
fn compare_digits_show_what_the_significance_mark_says() {
    let (code, table, err) = lbsim_text(&[
        "compare",
        "scenarios/crash-no-health-checks.toml",
        "--algorithms",
        "random,round_robin,power_of_two,least_connections",
        "--seeds",
        "8",
        "--set",
        "duration=10s",
        "--set",
        "warmup=1s",
    ]);
    assert_eq!(code, 0, "{err}");
    // Rows of the second table (differences to the first algorithm), every `MEAN ± HALF [*]`.
    let mut in_differences = false;
    let mut marked = 0;
    for line in table.lines() {
        in_differences |= line.contains("vs random");
        let words: Vec<&str> = line.split_whitespace().collect();
        for i in (1..words.len().saturating_sub(1)).filter(|&i| in_differences && words[i] == "±") {
            let (m, h): (f64, f64) = (words[i - 1].parse().unwrap(), words[i + 1].parse().unwrap());
            let cell = words[i - 1..(i + 3).min(words.len())].join(" ");
            if words.get(i + 2) == Some(&"*") {
                assert!(m.abs() > h, "{cell:?} is marked significant but reads as if its interval held 0\n{table}");
                marked += 1;
            } else {
                assert!(m.abs() <= h, "{cell:?} is not marked but reads as if its interval excluded 0\n{table}");
            }
        }
    }
    assert!(marked >= 4, "significant differences to check: {marked}\n{table}");
}

// Comparisons people need (issue 21): a flag where success rates differ, latency over every
// request and balance over the measured window in compare and sweep, variants of any
// setting, and per-server load averaged over each server's own lifetime.

/// With one server slowed past the clients' 1 s timeout, round robin keeps sending it a
/// share and those requests time out; least connections avoids it. Round robin's ok-only
/// latency looks as good — over fewer successes — so compare flags the row, says so in
/// words, and carries `latency_all_ms` (where round robin's p99 is the timeout).
#[test]
fn compare_flags_a_success_rate_that_differs() {
    let args = [
        "compare",
        "scenarios/slow-server.toml",
        "--algorithms",
        "least_connections,round_robin",
        "--seeds",
        "3",
        "--set",
        "duration=30s",
    ];
    let (code, table, err) = lbsim_text(&args);
    assert_eq!(code, 0, "{err}");
    let flagged = table.lines().find(|l| l.contains("round_robin !")).unwrap_or_else(|| panic!("no flag\n{table}"));
    assert!(flagged.contains('*'), "{flagged}");
    let words = table
        .lines()
        .find(|l| l.starts_with("round_robin: "))
        .unwrap_or_else(|| panic!("no words under the table\n{table}"));
    assert!(words.contains("% fewer requests succeeded than with least_connections"), "{words}");
    assert!(words.contains("compare latency_all_ms"), "{words}");
    assert!(table.contains("all p99 (ms)"), "{table}");
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let r = json(&json_args);
    let results = r["results"].as_array().unwrap();
    assert_eq!(results[1]["success_rate_differs"], true);
    assert!(r["warnings"][0].as_str().unwrap().starts_with("round_robin: "), "{}", r["warnings"]);
    let all_p99 = |i: usize| results[i]["metrics"]["latency_all_ms.p99"]["mean"].as_f64().unwrap();
    let ok_p99 = |i: usize| results[i]["metrics"]["latency_ms.p99"]["mean"].as_f64().unwrap();
    // Round robin's timeouts end at the 1 s deadline: its p99 over every request is that.
    assert!((all_p99(1) - 1000.0).abs() < 1.0 && ok_p99(1) < 200.0, "{} {}", all_p99(1), ok_p99(1));
    assert_eq!(results[1]["vs_first"]["latency_all_ms.p99"]["significant"], true);
    for key in ["balance.min_share", "balance.idle", "balance.servers", "latency_all_ms.mean"] {
        assert!(results[0]["metrics"][key]["mean"].is_number(), "{key}");
    }
    assert_eq!(results[0]["metrics"]["balance.servers"]["mean"], 11.0);
    // Equal success rates are not flagged.
    let (code, table, err) = lbsim_text(&[
        "compare",
        "scenarios/basic-mm1.toml",
        "--algorithms",
        "round_robin,power_of_two",
        "--seeds",
        "3",
        "--set",
        "duration=10s",
        "--set",
        "warmup=1s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!table.contains(" !") && !table.contains("requests succeeded"), "{table}");
}

/// `--variant` compares any settings on the same seeds: L4 against L7 against gRPC
/// client-side round robin on the scenario where L4 leaves api-4 idle (balance over the
/// measured window: one idle server, a least share of 0), and cookie stickiness against
/// none. `--algorithms` comes first when both are given; bad variants are refused.
#[test]
fn compare_variants_of_layer_balancing_and_stickiness() {
    let r = json(&[
        "compare",
        "scenarios/grpc-l4-imbalance.toml",
        "--variant",
        "l4:balancer.layer=l4",
        "--variant",
        "l7:balancer.layer=l7",
        "--variant",
        "client-rr:clients[0].balancing=client;clients[0].client_algorithm=round_robin",
        "--seeds",
        "3",
        "--set",
        "duration=20s",
        "--format",
        "json",
    ]);
    assert_eq!(r["baseline"], "l4");
    let results = r["results"].as_array().unwrap();
    let names: Vec<&str> = results.iter().map(|x| x["variant"].as_str().unwrap()).collect();
    assert_eq!(names, ["l4", "l7", "client-rr"]);
    assert_eq!(results[2]["sets"][1], "clients[0].client_algorithm=round_robin");
    let metric = |i: usize, k: &str| results[i]["metrics"][k]["mean"].as_f64().unwrap();
    assert_eq!((metric(0, "balance.idle"), metric(0, "balance.min_share")), (1.0, 0.0));
    for i in [1, 2] {
        assert_eq!(metric(i, "balance.idle"), 0.0, "{}", names[i]);
        assert!(metric(i, "balance.min_share") > 0.24, "{}", names[i]);
        let d = &results[i]["vs_first"]["balance.min_share"];
        assert_eq!(d["significant"], true, "{}: {d}", names[i]);
        assert!(d["ci95_low"].as_f64().unwrap() > 0.2, "{}: {d}", names[i]);
        assert_eq!(results[i]["success_rate_differs"], false);
    }
    // Stickiness: without cookies the sessions lose their local state.
    let r = json(&[
        "compare",
        "scenarios/sticky-scale-out.toml",
        "--variant",
        "cookie:balancer.sticky=cookie",
        "--variant",
        "none:balancer.sticky=none",
        "--seeds",
        "3",
        "--set",
        "duration=40s",
        "--format",
        "json",
    ]);
    let results = r["results"].as_array().unwrap();
    assert_eq!(results[0]["metrics"]["sessions.lost"]["mean"], 0.0);
    let lost = &results[1]["vs_first"]["sessions.lost"];
    assert_eq!(lost["significant"], true, "{lost}");
    assert!(lost["ci95_low"].as_f64().unwrap() > 100.0, "{lost}");
    // Both flags: the algorithms first, then the variants, in a table that says what each changes.
    let (code, table, err) = lbsim_text(&[
        "compare",
        "scenarios/basic-mm1.toml",
        "--variant",
        "few:servers[0].count=12",
        "--algorithms",
        "round_robin",
        "--seeds",
        "2",
        "--set",
        "duration=5s",
        "--set",
        "warmup=1s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("vs round_robin"), "{table}");
    assert!(table.contains("  few: servers[0].count=12"), "{table}");
    assert!(table.contains("  round_robin: balancer.algorithm=round_robin"), "{table}");
    let bad = |variant: &str, says: &str| {
        let (code, _, err) = lbsim_text(&["compare", "scenarios/basic-mm1.toml", "--variant", variant]);
        assert_eq!(code, 2, "{variant}: {err}");
        assert!(err.contains(says), "{variant}: {err}");
    };
    let expected = "expected NAME:KEY=VALUE[;KEY=VALUE…]";
    bad("l7", expected);
    bad(":balancer.layer=l7", "the name is empty");
    bad("x:balancer.layer", "`balancer.layer` is not KEY=VALUE");
    bad("x:balancer..layer=l7", "bad key path");
    bad("x:seed=3", "cannot set `seed`");
    bad("x:balancer.layer=l9", "variant x: ");
    let (code, _, err) = lbsim_text(&[
        "compare",
        "scenarios/basic-mm1.toml",
        "--algorithms",
        "round_robin",
        "--variant",
        "round_robin:servers[0].count=12",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"round_robin\" is already used"), "{err}");
    let (code, _, err) = lbsim_text(&["compare", "scenarios/basic-mm1.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("compare needs --algorithms A,B,… or --variant NAME:KEY=VALUE"), "{err}");
}

/// Sweep rows carry balance over the measured window (servers counted, idle ones, the least
/// busy one's share) and latency over every request; the rerun of a finished sweep adds
/// nothing.
#[test]
fn sweep_rows_carry_balance_and_latency_of_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("layers.csv");
    let args = [
        "sweep",
        "scenarios/grpc-l4-imbalance.toml",
        "--param",
        "balancer.layer=l4,l7",
        "--set",
        "duration=10s",
        "--out",
        out.to_str().unwrap(),
    ];
    let (code, _, err) = lbsim_text(&args);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    // No field of this sweep holds a comma or a quote.
    let mut lines = text.lines().map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().unwrap();
    let rows: Vec<Vec<String>> = lines.collect();
    assert_eq!(rows.len(), 2, "{text}");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name}: {header:?}"));
    let cell = |row: usize, name: &str| rows[row][col(name)].clone();
    assert_eq!(
        (cell(0, "balance_servers"), cell(0, "balance_idle"), cell(0, "balance_min_share")),
        ("4".into(), "1".into(), "0".into())
    );
    assert_eq!(cell(1, "balance_idle"), "0");
    assert!(cell(1, "balance_min_share").parse::<f64>().unwrap() > 0.2);
    // No failures here: the latency of every request is the latency of the ok ones.
    assert_eq!(cell(0, "latency_all_ms_p99"), cell(0, "latency_ms_p99"));
    let (code, _, err) = lbsim_text(&args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 of 2 rows already done"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}

/// `hash-scale-out` adds cache-5 at 30 s of a run measured from 2 s to 60 s: the load chart
/// gives its requests/s over the 30 s it existed, not over the whole window (which would
/// halve it), and the others' over the whole window.
#[test]
fn load_chart_averages_each_server_over_its_own_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("charts");
    let report = json(&["run", "scenarios/hash-scale-out.toml", "--format", "json", "--plot", d.to_str().unwrap()]);
    let servers = report["servers"].as_array().unwrap();
    let (_, texts) = svg_texts(&d.join("load_per_server.svg"));
    let label = |name: &str| {
        texts
            .iter()
            .map(|t| t.text.as_str())
            .find(|t| t.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no label for {name}: {:?}", texts.iter().map(|t| &t.text).collect::<Vec<_>>()))
            .to_string()
    };
    let rate = |label: &str| -> f64 { label.split(": ").nth(1).unwrap().split("/s").next().unwrap().parse().unwrap() };
    let cache5 = servers.iter().find(|s| s["name"] == "cache-5").unwrap();
    assert_eq!(cache5["lifetime_s"], 30.0);
    let l5 = label("cache-5");
    assert!(l5.ends_with("over its 30 s"), "{l5}");
    let want = cache5["requests"].as_f64().unwrap() / 30.0;
    assert!(rel(rate(&l5), want) < 0.01, "{l5}: want {want:.1}/s");
    let cache1 = servers.iter().find(|s| s["name"] == "cache-1").unwrap();
    let l1 = label("cache-1");
    assert!(!l1.contains("over its"), "{l1}");
    assert!(rel(rate(&l1), cache1["requests"].as_f64().unwrap() / 58.0) < 0.01, "{l1}");
    // The added server takes about its fair share (1/5 of ~1,000 requests/s) once there.
    assert!(rate(&l5) > 150.0, "{l5}");
    // Its line starts when it was added: 30 one-second buckets fewer than the others' (the
    // legend's samples and the axes are two-point lines).
    let svg = std::fs::read_to_string(d.join("load_per_server.svg")).unwrap();
    let mut lengths: Vec<usize> = svg
        .split("<polyline")
        .skip(1)
        .filter_map(|p| p.split("points=\"").nth(1)?.split('"').next())
        .map(|points| points.split_whitespace().count())
        .filter(|&n| n > 2)
        .collect();
    lengths.sort_unstable();
    let whole = lengths[4];
    assert!(whole >= 60, "{lengths:?}");
    assert_eq!(lengths, [whole - 30, whole, whole, whole, whole], "points of each server's line");
}
