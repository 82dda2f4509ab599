//! Command-line arguments (clap). Raw arguments only; commands validate them into plans.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// lbsim: a deterministic load-balancing simulator.
#[derive(Parser, Debug)]
#[command(
    name = "lbsim",
    version,
    about = "A deterministic load-balancing simulator: clients, connections, HTTP/1.1, HTTP/2 (gRPC), WebSocket, sessions, health checks and failures under nginx/Envoy/HAProxy/gRPC/Linkerd balancing.",
    after_help = "Examples:\n  lbsim run scenarios/grpc-l4-imbalance.toml\n  lbsim run scenarios/basic-mm1.toml --format json --set balancer.algorithm=power_of_two\n  lbsim check my-scenario.toml\n  lbsim algorithms\n\nExit codes: 0 success (also when the reader of stdout goes away, as with `| head`), 1 failure, 2 bad input (scenario file or arguments), 130 interrupted (SIGINT, SIGTERM or SIGHUP)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one scenario and print its report.
    #[command(
        after_help = "Examples:\n  lbsim run scenarios/basic-mm1.toml\n  lbsim run scenarios/basic-mm1.toml --seed 7 --format json\n  lbsim run scenarios/basic-mm1.toml --set balancer.algorithm=least_connections --set clients[0].rate=500\n  lbsim run scenarios/basic-mm1.toml --set duration=20s --trace trace.jsonl"
    )]
    Run(RunArgs),
    /// Validate a scenario file without running it.
    #[command(after_help = "Example:\n  lbsim check scenarios/basic-mm1.toml")]
    Check(CheckArgs),
    /// List the balancing algorithms with the system each follows and its parameters.
    Algorithms,
    /// Compare algorithms or any variants of a scenario on the same seeds: means, 95% confidence
    /// intervals, paired differences, and a flag where success rates differ.
    #[command(
        after_help = "Examples:\n  lbsim compare scenarios/slow-server.toml --algorithms round_robin,least_connections,peak_ewma\n  lbsim compare scenarios/basic-mm1.toml --algorithms round_robin,power_of_two --seeds 10 --format json\n  lbsim compare scenarios/basic-mm1.toml --algorithms random,least_connections --plot charts/\n  lbsim compare scenarios/grpc-l4-imbalance.toml --variant l4:balancer.layer=l4 --variant l7:balancer.layer=l7\n  lbsim compare scenarios/grpc-l4-imbalance.toml --variant as-is: --variant \"client-rr:clients[0].balancing=client;clients[0].client_algorithm=round_robin\"\n  lbsim compare scenarios/sticky-scale-out.toml --variant none:balancer.sticky=none --variant cookie:balancer.sticky=cookie\n\nWith both, the --algorithms come first, then each --variant; the first is the baseline. A `!` after a name marks a success rate that differs significantly from the baseline's: compare the `all` latency columns (every request) then."
    )]
    Compare(CompareArgs),
    /// Run a grid of parameter values × seeds on every core into a CSV (resumable, shardable).
    #[command(
        after_help = "Examples:\n  lbsim sweep scenarios/basic-mm1.toml --param servers[0].count=4,8,16,32 --param balancer.algorithm=round_robin,power_of_two --seeds 3 --out results.csv\n  lbsim sweep scenarios/basic-mm1.toml --param clients[0].rate=50,70,90 --seeds 2 --out part1.csv --shard 1/2\n  lbsim merge part1.csv part2.csv --out all.csv\n\nRows are appended as runs finish (in grid order); rerunning the same command skips finished rows."
    )]
    Sweep(SweepArgs),
    /// Merge the CSVs of a sharded sweep into one (checks they belong to the same sweep).
    #[command(after_help = "Example:\n  lbsim merge shard-1.csv shard-2.csv shard-3.csv --out all.csv")]
    Merge(MergeArgs),
    /// Measure simulation speed (requests/s, events/s, peak memory) on fixed scenarios.
    #[command(
        after_help = "Examples:\n  lbsim bench\n  lbsim bench --quick\n  lbsim bench --case p2c-100 --requests 10000000 --runs 5\n  LBSIM_PYTHON=.venv/bin/python lbsim bench --simpy 1000000\n  scripts/web.sh build && lbsim bench --wasm"
    )]
    Bench(BenchArgs),
    /// Turn a real balancer's configuration into a commented scenario (printed on stdout;
    /// warnings for what lbsim does not model on stderr), or an access log into a trace CSV,
    /// a summary and a scenario that replays it (`import log`).
    #[command(
        after_help = "Examples:\n  lbsim import nginx /etc/nginx/nginx.conf > mine.toml\n  lbsim import nginx nginx.conf --upstream api --rate 500 > api.toml && lbsim check api.toml\n  lbsim import haproxy /etc/haproxy/haproxy.cfg --backend app > app.toml\n  lbsim import envoy envoy.yaml --cluster api > api.toml\n  lbsim import log access.log --format nginx > replay.toml && lbsim run replay.toml\n  lbsim import log haproxy.log --format haproxy -o trace.csv --json\n\nEach directive's treatment (supported, approximated, ignored) is listed in docs/directives.md."
    )]
    Import(ImportArgs),
    /// Write a scenario's balancer as a configuration for the real program (printed on stdout
    /// or written to -o; what the program cannot express is an `lbsim:` comment and a warning).
    #[command(
        after_help = "Examples:\n  lbsim export nginx scenarios/slow-server.toml > nginx.conf && nginx -t -c $PWD/nginx.conf\n  lbsim export haproxy scenarios/crash-with-health-checks.toml --addresses 10.0.0.1:80,10.0.0.2:80,10.0.0.3:80,10.0.0.4:80 -o haproxy.cfg\n  lbsim export envoy scenarios/hash-scale-out.toml --listen 0.0.0.0:10000\n\nServers get --addresses in the order of [[servers]] and their count (default 127.0.0.1:8001, 8002, …). `lbsim import` of the output gives the balancer back wherever the program can express it."
    )]
    Export(ExportArgs),
    /// Follow a scenario's guided lesson (`[lesson]`): run each step (its changes on top of
    /// the earlier steps', on the same seed) and check every claim against the report, printing
    /// ✓ or ✗ with the measured figure. Exit code 1 when a claim does not hold.
    #[command(
        after_help = "Examples:\n  lbsim lesson scenarios/grpc-l4-imbalance.toml\n  lbsim lesson scenarios/slow-server.toml --format json\n\nExit codes: 0 every claim holds, 1 a claim does not hold, 2 bad input (no [lesson], a step's change does not apply)."
    )]
    Lesson(LessonArgs),
}

#[derive(Args, Debug)]
pub struct LessonArgs {
    /// Scenario file with a `[lesson]` table.
    pub file: String,
    /// Seed, 0 to 2^63 − 1 (overrides the scenario's `seed`; the claims are written for it).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub overrides: Overrides,
    /// `table`: each step with ✓/✗ claims; `json`: the same as one object.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// The programs `lbsim import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportProgram {
    /// nginx.conf (`upstream` blocks, with the retry settings of the location proxying to it).
    Nginx,
    /// haproxy.cfg (a `backend` or `listen` section with the `defaults` before it).
    Haproxy,
    /// Envoy v3 cluster configuration, YAML or JSON (a bootstrap, a `clusters:` list or one cluster).
    Envoy,
    /// An access log (`--format nginx|haproxy`) or a trace CSV (`--format csv`): writes a trace
    /// CSV and prints a summary and a scenario that replays it.
    Log,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The program whose configuration FILE is, or `log` for an access log.
    pub program: ImportProgram,
    /// The configuration file (`include`s are read relative to it), or the log.
    pub file: String,
    /// nginx: the upstream block to import (needed when the file has several).
    #[arg(long, value_name = "NAME")]
    pub upstream: Option<String>,
    /// haproxy: the backend or listen section to import (needed when the file has several).
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
    /// envoy: the cluster to import (needed when the file has several).
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Configuration imports: placeholder traffic, requests per second in total (the
    /// configuration does not say; `import log` takes the log's own).
    #[arg(long, value_name = "R", default_value_t = 100.0)]
    pub rate: f64,
    /// log: what FILE is (required with `log`).
    #[arg(long, value_enum)]
    pub format: Option<crate::import::log::LogKind>,
    /// log, nginx: the `log_format` the log was written with (as in nginx.conf, `$variables`
    /// between literal text), or `combined`. Default: `combined`, or `combined` followed by
    /// `$request_time $upstream_response_time $upstream_addr` when one of the first 100 lines
    /// has them.
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// log: the trace CSV to write (default: FILE with the extension `.csv`; with
    /// `--format csv`, none unless given: the input is only checked).
    #[arg(short = 'o', long = "out", value_name = "TRACE.csv")]
    pub out: Option<String>,
    /// log: what becomes each row's `key`.
    #[arg(long, value_enum, default_value_t = crate::import::log::KeyFrom::Path)]
    pub key: crate::import::log::KeyFrom,
    /// log: print the summary as JSON (with the scenario text in `scenario`).
    #[arg(long)]
    pub json: bool,
}

/// The programs `lbsim export` writes configurations for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportProgram {
    /// nginx.conf: an `upstream` per pool and a `server` that proxies to them.
    Nginx,
    /// haproxy.cfg: a `frontend` and a `backend` per pool.
    Haproxy,
    /// An Envoy v3 bootstrap (YAML): a listener and a cluster per pool.
    Envoy,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The program to write a configuration for.
    pub program: ExportProgram,
    /// The scenario file.
    pub scenario: String,
    /// Server addresses, HOST:PORT separated by commas: one per server instance, in the order
    /// of [[servers]] and their count (default 127.0.0.1:8001 on).
    #[arg(long, value_name = "LIST")]
    pub addresses: Option<String>,
    /// Where the balancer listens.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Write the configuration to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<String>,
    /// Override a scenario value first (as `lbsim run --set`); repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// The largest seed: the range a scenario file's `seed` accepts (0 to 2^63 − 1).
pub const MAX_SEED: u64 = i64::MAX as u64;

/// The default of `--max-runs` (compare and sweep).
pub const DEFAULT_MAX_RUNS: u64 = 100_000;

/// Reads a `--seed` value: the same range as a scenario file's `seed`, with a message that
/// says the range (`--seed -1` is a value, not an unknown option).
fn parse_seed(text: &str) -> Result<u64, String> {
    match text.trim().parse::<i128>() {
        Ok(v) if (0..=i128::from(MAX_SEED)).contains(&v) => Ok(v as u64),
        _ => Err(format!(
            "seeds are whole numbers from 0 to {MAX_SEED} (2^63 − 1), the range a scenario's `seed` accepts"
        )),
    }
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables for people.
    Table,
    /// One JSON object for scripts.
    Json,
}

/// Scenario overrides shared by the commands that run scenarios.
#[derive(Args, Debug, Clone, Default)]
pub struct Overrides {
    /// Override a scenario value by key path: balancer.algorithm=maglev, clients[0].rate=500,
    /// servers[1].count=4, duration=20s (VALUE is read as TOML, else as a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Raise the limit on estimated requests (same as --set limits.max_requests=N).
    #[arg(long, value_name = "N")]
    pub max_requests: Option<u64>,
}

impl Overrides {
    /// The `--set` list including limit flags.
    pub fn all(&self) -> Vec<String> {
        let mut sets = self.sets.clone();
        if let Some(n) = self.max_requests {
            sets.push(format!("limits.max_requests={n}"));
        }
        sets
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario file (.toml or .json).
    pub file: String,
    /// Seed, 0 to 2^63 − 1 (overrides the scenario's `seed`).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write one JSON object per request (completion order) to this file.
    #[arg(long, value_name = "OUT.jsonl")]
    pub trace: Option<String>,
    /// Also write health-check and timeline events to the trace file.
    #[arg(long, requires = "trace")]
    pub trace_events: bool,
    /// Use a custom balancing policy registered in this build of lbsim (see sim_cli::main_with)
    /// instead of the scenario's algorithm.
    #[arg(long, value_name = "NAME")]
    pub balancer: Option<String>,
    /// Include time series (per-interval buckets) in the JSON report.
    #[arg(long)]
    pub series: bool,
    /// Write charts (SVG) to this directory: latency CDF, load and in-flight per server, latency
    /// and outcomes over time.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<String>,
    /// Refuse traces longer than this many lines (requests, plus health and timeline events with
    /// --trace-events), estimated up front and counted during the run.
    #[arg(long, value_name = "N", default_value_t = 20_000_000)]
    pub max_trace: u64,
    /// Report only the requests that start in FROM..TO (e.g. 30s..60s; FROM defaults to 0, TO
    /// to the duration), with time figures over that window; the run itself is unchanged.
    #[arg(long, value_name = "FROM..TO", conflicts_with = "split_at_events")]
    pub window: Option<String>,
    /// Print one report per span between timeline events (warmup to the first event, event to
    /// event, the last to the duration); runs the scenario once per span.
    #[arg(long, conflicts_with_all = ["trace", "plot", "series"])]
    pub split_at_events: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scenario file (.toml or .json).
    pub file: String,
    #[command(flatten)]
    pub overrides: Overrides,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Run each case briefly (to prove the benchmark works, e.g. in CI).
    #[arg(long)]
    pub quick: bool,
    /// Run only the cases whose name contains this text (so `p2c-100` also runs
    /// `bare-p2c-100`, the same model as a bare event loop: the machine's ceiling).
    #[arg(long)]
    pub case: Option<String>,
    /// Requests per case (default 10 M, or 200 k with --quick).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Runs per case, each in a fresh process; the fastest is reported, with the median
    /// (default 3, or 1 with --quick).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: Option<u32>,
    /// Compare with the SimPy reference (needs python3 with simpy) at this many requests.
    #[arg(long, value_name = "N")]
    pub simpy: Option<u64>,
    /// Path to the SimPy model (default: `scripts/simpy_lb.py` of the source tree lbsim was
    /// built from, found from any working directory).
    #[arg(long)]
    pub simpy_script: Option<String>,
    /// Also run each case with the WebAssembly build in Node.js (needs `node` and
    /// `scripts/web.sh build`) and compare its speed and trace_hash with the native run.
    #[arg(long)]
    pub wasm: bool,
    /// Path to the Node.js driver of the wasm build.
    #[arg(long, default_value = "scripts/bench-wasm.mjs")]
    pub wasm_script: String,
    /// Internal: run one case in this process and print its measurement.
    #[arg(long, hide = true)]
    pub child: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Scenario file (.toml or .json).
    pub file: String,
    /// Algorithms to compare, comma-separated: each is the variant
    /// `NAME:balancer.algorithm=NAME`. They come before any --variant; the first of all is
    /// the baseline for differences.
    #[arg(long, value_name = "A,B,…")]
    pub algorithms: Option<String>,
    /// A variant of the scenario to compare: a name and `--set` changes, separated by `;`
    /// (values read as --set reads them); repeat for more, e.g.
    /// --variant "l4:balancer.layer=l4" --variant "l7:balancer.layer=l7". `NAME:` alone runs the
    /// scenario as it is. Every variant runs on the same seeds.
    #[arg(long = "variant", value_name = "NAME:KEY=VALUE[;KEY=VALUE…]")]
    pub variants: Vec<String>,
    /// Seeds per variant (the same seeds for every variant).
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// First seed, 0 to 2^63 − 1 (default: the scenario's seed).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Refuse experiments of more runs than this (each run's results are kept in memory).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_RUNS)]
    pub max_runs: u64,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write comparison charts (SVG) to this directory.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<String>,
    /// Worker threads (default: every core).
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Scenario file (.toml or .json).
    pub file: String,
    /// A swept parameter: KEY=v1,v2,… (a key path as in --set; values read as TOML).
    #[arg(long = "param", value_name = "KEY=v1,v2,…", required = true)]
    pub params: Vec<String>,
    /// Seeds per grid point.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// First seed, 0 to 2^63 − 1 (default: the scenario's seed).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Refuse experiments of more runs than this (each run's results are kept in memory).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_RUNS)]
    pub max_runs: u64,
    /// The CSV to write (appended to, and resumed from, if it exists).
    #[arg(long, value_name = "RESULTS.csv")]
    pub out: String,
    /// Run only shard K of N (a deterministic 1/N of the rows).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Write charts of the metrics against the first parameter (SVG) to this directory.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<String>,
    /// Worker threads (default: every core).
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Shard CSVs of one sweep.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// The merged CSV.
    #[arg(long, value_name = "ALL.csv")]
    pub out: String,
    /// Refuse inputs of more rows than this (the sweep's --max-runs).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_RUNS)]
    pub max_runs: u64,
}
