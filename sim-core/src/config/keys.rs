//! The keys each table of a scenario file accepts: the reader refuses every other key, and
//! [`accepted_keys`] lists them all (the scenario reference is tested against it).

/// The top level of a scenario.
pub(super) const SCENARIO: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "warmup",
    "servers",
    "clients",
    "balancer",
    "network",
    "session_store",
    "events",
    "limits",
    "report",
    "lesson",
];

/// One `[[servers]]` group.
pub(super) const SERVER_GROUP: &[&str] = &[
    "name",
    "count",
    "pool",
    "weight",
    "workers",
    "queue",
    "service",
    "backup",
    "max_connection_age",
    "error_rate",
    "error_latency",
    "autoscale",
    "address",
    "addresses",
];

/// A server group's `[servers.autoscale]` (Kubernetes HPA).
pub(super) const AUTOSCALE: &[&str] = &[
    "min",
    "max",
    "target_utilization",
    "target_in_flight",
    "interval",
    "tolerance",
    "provision_delay",
    "scale_down_stabilization",
];

/// A server group's `service` distribution (each `dist` takes only its own parameters).
pub(super) const SERVICE: &[&str] =
    &["dist", "value", "mean", "min", "max", "p50", "p99", "alpha", "parts", "samples", "file", "shape", "scale"];

/// One part of a `mixture` distribution: a distribution (not a mixture) and its weight.
pub(super) const MIXTURE_PART: &[&str] =
    &["weight", "dist", "value", "mean", "min", "max", "p50", "p99", "alpha", "samples", "file", "shape", "scale"];

/// One `[[clients]]` group.
pub(super) const CLIENT_GROUP: &[&str] = &[
    "name",
    "count",
    "source_ips",
    "source_addresses",
    "protocol",
    "connections",
    "max_streams",
    "rate",
    "rate_skew",
    "arrival",
    "timeout",
    "retries",
    "request_bytes",
    "response_bytes",
    "serialize_per_kb",
    "session_requests",
    "paths",
    "balancing",
    "client_algorithm",
    "resolve_interval",
    "stream_messages",
    "keys",
    "start",
    "ramp",
    "users",
    "think_time",
    "schedule",
    "trace",
    "retry",
    "retry_same_work",
    "hedging",
];

/// A client group's `hedging` (gRPC's hedging policy, gRFC A6).
pub(super) const HEDGING: &[&str] = &["max_attempts", "hedging_delay", "non_fatal"];

/// A client group's `retry` (gRPC's retry policy and retry throttling, gRFC A6).
pub(super) const CLIENT_RETRY: &[&str] =
    &["max_attempts", "initial_backoff", "max_backoff", "backoff_multiplier", "retryable", "max_tokens", "token_ratio"];

/// One point of a client group's `schedule` (`rate` or `users`).
pub(super) const SCHEDULE_POINT: &[&str] = &["at", "rate", "users"];

/// A client group's `paths`: its keys are request paths (any string starting with `/`), so
/// there is no fixed list.
pub(super) const PATHS: &[&str] = &[];

/// A client group's `keys` (request keys for `hash_key = "header:…"`).
pub(super) const KEY_SPACE: &[&str] = &["count", "skew", "template"];

/// A rate limit (`[balancer.rate_limit]` or a route's `rate_limit`).
pub(super) const RATE_LIMIT: &[&str] = &["per_second", "per_minute", "per_hour", "key", "kind", "burst", "nodelay"];

/// `[balancer]`.
pub(super) const BALANCER: &[&str] = &[
    "layer",
    "algorithm",
    "choices",
    "max_conns",
    "hash_key",
    "hash_key_text",
    "replicas",
    "overhead",
    "auth",
    "workers",
    "health_check",
    "passive",
    "sticky",
    "rate_limit",
    "routes",
    "balance_factor",
    "panic_threshold",
    "table_size",
    "ring_size",
    "peak_ewma",
    "dns_ttl",
    "retry_on_error",
    "fail_on_server_error",
    "slow_start",
    "outlier_detection",
    "circuit_breakers",
    "retry",
];

/// `[balancer.retry]` (Envoy's route retry policy and the cluster's retry budget).
pub(super) const BALANCER_RETRY: &[&str] = &[
    "num_retries",
    "retry_on",
    "base_interval",
    "max_interval",
    "retry_host_predicate",
    "host_selection_retry_max_attempts",
    "per_try_timeout",
    "budget_percent",
    "min_retry_concurrency",
];

/// `[balancer.slow_start]` (Envoy `slow_start_config`).
pub(super) const SLOW_START: &[&str] = &["window", "aggression", "min_weight_percent"];

/// `[balancer.circuit_breakers]` (Envoy's names).
pub(super) const CIRCUIT_BREAKERS: &[&str] =
    &["max_requests", "max_retries", "max_connections", "max_pending_requests"];

/// `[balancer.health_check]`.
pub(super) const HEALTH_CHECK: &[&str] = &["interval", "timeout", "rise", "fall"];

/// `[balancer.passive]`.
pub(super) const PASSIVE: &[&str] = &["max_fails", "fail_timeout", "clock_granularity"];

/// `[balancer.outlier_detection]` (Envoy's names).
pub(super) const OUTLIER_DETECTION: &[&str] = &[
    "consecutive_5xx",
    "consecutive_gateway_failure",
    "enforcing_consecutive_5xx",
    "enforcing_consecutive_gateway_failure",
    "interval",
    "base_ejection_time",
    "max_ejection_time",
    "max_ejection_percent",
    "success_rate_minimum_hosts",
    "success_rate_request_volume",
    "success_rate_stdev_factor",
    "enforcing_success_rate",
];

/// One `[[balancer.routes]]` entry.
pub(super) const ROUTE: &[&str] = &["prefix", "pool", "rate_limit"];

/// `[balancer.peak_ewma]`.
pub(super) const PEAK_EWMA: &[&str] = &["decay", "default_rtt"];

/// `[network]`.
pub(super) const NETWORK: &[&str] = &["latency", "upstream_latency", "bandwidth", "tls_handshake"];

/// `[session_store]`.
pub(super) const SESSION_STORE: &[&str] = &["latency"];

/// One `[[events]]` entry (each action uses only some of these).
pub(super) const EVENT: &[&str] =
    &["at", "action", "target", "factor", "count", "algorithm", "rate", "layer", "sticky", "latency"];

/// `[limits]`.
pub(super) const LIMITS: &[&str] =
    &["max_requests", "max_events", "max_in_flight", "max_servers", "max_clients", "max_duration", "max_memory_mb"];

/// `[report]`.
pub(super) const REPORT: &[&str] = &["interval"];

/// `[lesson]`: a guided lesson (the simulation ignores it).
pub(super) const LESSON: &[&str] = &["title", "intro", "steps"];

/// One `[[lesson.steps]]` entry.
pub(super) const LESSON_STEP: &[&str] = &["say", "set", "fresh", "expect"];

/// One claim of a step's `expect` list.
pub(super) const LESSON_CLAIM: &[&str] = &["metric", "over", "op", "value", "tolerance"];

/// Every table of a scenario with the keys it accepts, tables named by key path with `[]` for
/// an array of tables (`""` is the top level, `servers[]` a server group,
/// `balancer.routes[].rate_limit` a route's rate limit).
pub(super) const TABLES: &[(&str, &[&str])] = &[
    ("", SCENARIO),
    ("servers[]", SERVER_GROUP),
    ("servers[].service", SERVICE),
    ("servers[].service.parts[]", MIXTURE_PART),
    ("servers[].autoscale", AUTOSCALE),
    ("clients[]", CLIENT_GROUP),
    ("clients[].paths", PATHS),
    ("clients[].keys", KEY_SPACE),
    ("clients[].think_time", SERVICE),
    ("clients[].think_time.parts[]", MIXTURE_PART),
    ("clients[].schedule[]", SCHEDULE_POINT),
    ("clients[].retry", CLIENT_RETRY),
    ("clients[].hedging", HEDGING),
    ("balancer", BALANCER),
    ("balancer.health_check", HEALTH_CHECK),
    ("balancer.passive", PASSIVE),
    ("balancer.outlier_detection", OUTLIER_DETECTION),
    ("balancer.circuit_breakers", CIRCUIT_BREAKERS),
    ("balancer.rate_limit", RATE_LIMIT),
    ("balancer.routes[]", ROUTE),
    ("balancer.routes[].rate_limit", RATE_LIMIT),
    ("balancer.peak_ewma", PEAK_EWMA),
    ("balancer.slow_start", SLOW_START),
    ("balancer.retry", BALANCER_RETRY),
    ("network", NETWORK),
    ("session_store", SESSION_STORE),
    ("events[]", EVENT),
    ("limits", LIMITS),
    ("report", REPORT),
    ("lesson", LESSON),
    ("lesson.steps[]", LESSON_STEP),
    ("lesson.steps[].expect[]", LESSON_CLAIM),
];

/// Every key a scenario file may contain, as (table path, key): the same lists the reader
/// checks keys against. A client group's `paths` takes any `/path` as a key and is listed as
/// the key `clients[].paths` alone.
pub fn accepted_keys() -> Vec<(&'static str, &'static str)> {
    TABLES.iter().flat_map(|(table, keys)| keys.iter().map(move |key| (*table, *key))).collect()
}
