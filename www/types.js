// The shapes of the JSON the wasm core hands the page (sim-web's `topology()`, `inspect()`,
// `seriesFrom()`, `report()`, `algorithms()`) and of the page's own records, as JSDoc types
// for `tsc -p www` (www/tsconfig.json). Types only: no page module imports this file at run
// time; the others refer to it as `import('./types.js').Name`.
// @ts-check

/**
 * One server of the topology (sim-web `topology().servers[i]`).
 * @typedef {{ name: string, group: string, pool: string, backup: boolean, workers: number }} TopoServer
 */

/**
 * One client group (sim-web `topology().clients[i]`).
 * @typedef {{ name: string, count: number, protocol: string, balancing: string, rate: number, users?: number | null, scheduled?: boolean }} TopoClient
 */

/**
 * The scenario's structure as the core built it (sim-web `Sim.topology()`).
 * @typedef {object} Topology
 * @property {string} name
 * @property {string} description
 * @property {TopoServer[]} servers every server a timeline will ever add, in id order
 * @property {TopoClient[]} clients
 * @property {number} replicas balancer replicas
 * @property {string} algorithm at the start
 * @property {'l4' | 'l7'} layer at the start
 * @property {'none' | 'cookie' | 'source_ip'} sticky as the scenario spells it
 * @property {boolean} session_store whether the scenario has one
 * @property {number} duration_ms
 * @property {number} warmup_ms the scenario's warmup (totals and charts count from there)
 * @property {number} seed
 */

/**
 * One bucket of the time series (sim-core `SeriesPoint`).
 * @typedef {object} SeriesPoint
 * @property {number} t_s bucket start (s)
 * @property {number[]} outcomes requests that ended in the bucket per outcome (OUTCOMES order)
 * @property {number} p50_ms of the ok requests (0 when none ended)
 * @property {number} p99_ms of the ok requests (0 when none ended)
 * @property {Record<string, number>} ended requests that ended in the bucket by outcome name
 * @property {number | null} ok_p50_ms null when no ok request ended
 * @property {number | null} ok_p99_ms null when no ok request ended
 * @property {number | null} all_p99_ms of every request that ended, failures included; null when none
 * @property {number[]} served per server
 * @property {number[]} in_flight per server, at the bucket's end
 * @property {number} jain_index
 * @property {number} sent requests sent (first attempts) in the bucket: the offered load
 * @property {number} [retries] retries that reached a server in the bucket
 * @property {number} [hedges] hedges that reached a server in the bucket
 */

/**
 * One server as one replica sees it (sim-core `InspectServer`).
 * @typedef {object} InspectServer
 * @property {string} name
 * @property {string} pool
 * @property {number} weight
 * @property {boolean} eligible
 * @property {number} active
 * @property {number | null} health
 * @property {boolean} checks_up
 * @property {number} fails
 * @property {number | null} algorithm_state
 * @property {number | null} hash_share
 * @property {boolean} [ejected] this replica's outlier detection has it ejected
 * @property {number | null} [ejected_until_ms] when that ejection ends (ms); null when not ejected
 */

/**
 * A replica's circuit breakers (sim-core `BreakerState`).
 * @typedef {{ open_requests: number, max_requests: number, open_retries: number, max_retries: number, overflows: number, retries_overflowed: number }} BreakerState
 */

/**
 * A replica's balancer state (sim-core `Inspection`, sim-web `Sim.inspect(r)`).
 * @typedef {object} Inspection
 * @property {string} replica "balancer-<i>"
 * @property {boolean} up
 * @property {string} algorithm
 * @property {string} state_meaning
 * @property {InspectServer[]} servers
 * @property {BreakerState | null} [circuit_breakers] when the scenario has them
 * @property {NextPick[]} next per pool: where the next pick goes and why, as the core explains it
 */

/**
 * One entry of the core's timeline (sim-core `TimelineItem`, sim-web `Sim.timelineItems()`).
 * @typedef {object} CoreTimelineItem
 * @property {string} at_ns exact nanoseconds, as a decimal string
 * @property {string} kind the action's name (`crash`, `set_rate`, …)
 * @property {string | null} target
 * @property {Record<string, string | number>} values its other fields, as scenario files spell them
 * @property {string} label the core's one-line label
 */

/**
 * A run's totals after warmup by name (sim-web `Sim.totalsNamed()`).
 * @typedef {object} Totals
 * @property {number} sent
 * @property {Record<string, number>} outcomes requests per outcome, by the report's outcome names
 * @property {number} sessions_started
 * @property {number} sessions_lost
 */

/**
 * One pool's next pick at one replica (sim-core `NextPick`).
 * @typedef {object} NextPick
 * @property {string} pool
 * @property {PickExplanation} explanation
 * @property {string[]} notes what else decides where the next request goes (L4, stickiness, backups, …)
 */

/**
 * The balancer's own explanation of its next pick (sim-core `PickExplanation`).
 * @typedef {object} PickExplanation
 * @property {string} algorithm
 * @property {string} rule the rule, in a sentence
 * @property {number | null} next the server id the next pick goes to (null: none eligible, or a keyed pick)
 * @property {string | null} next_name
 * @property {string} reason why that one, in a sentence
 * @property {'deterministic' | 'keyed' | 'random'} randomness
 * @property {number[]} sampled the servers the random stream draws for this pick
 * @property {PickCandidate[]} candidates
 * @property {boolean} explained false for a custom policy that does not explain itself
 */

/**
 * A server the rule considers, with the numbers it compares (sim-core `Candidate`).
 * @typedef {{ server: number, name: string, active: number, weight: number, values: { name: string, value: number }[] }} PickCandidate
 */

/**
 * The fields of the run's report (sim-core `Report`, sim-web `Sim.report()`) the page reads.
 * @typedef {object} Report
 * @property {number} end_s
 * @property {{ sent: number, completed: number }} requests
 * @property {{ mean: number, p50: number, p99: number }} latency_ms
 * @property {{ jain_index: number }} balance
 * @property {string} trace_hash
 */

/**
 * An algorithm of the core's catalogue (sim-web `algorithms()`).
 * @typedef {{ name: string, source: string, parameters: unknown }} Algorithm
 */

/**
 * A live action or a scenario event, as the JSON of an `[[events]]` entry without `at`:
 * `{action: "crash", target: "web-1"}`, `{action: "set_rate", target: "c", rate: 50}`, ….
 * `deferred` is the page's own mark on an `add` it is about to apply (never sent to the core).
 * @typedef {{ action: string, deferred?: boolean, [key: string]: string | number | boolean | undefined }} Action
 */

/**
 * A live action with the simulated instant it takes effect, in integer nanoseconds (a decimal
 * string: it does not fit a double exactly; a BigInt where read back from the core's TOML).
 * @typedef {{ atNs: string, action: Action }} TimedAction
 */

/**
 * One entry of the timeline (Session.timeline()).
 * @typedef {{ atNs: bigint, text: string, who: 'scenario' | 'you' | 'autoscaler', fired: boolean }} TimelineItem
 */

/**
 * The algorithm, layer, stickiness and session store now (the scenario's, changed by the
 * timeline's events so far).
 * @typedef {{ algorithm: string, layer: string, sticky: string, store: string }} LiveSettings
 */

/**
 * The settings now, from the core (sim-core `LiveSettings`, sim-web `Sim.liveSettings()`);
 * `store` is null without a session store.
 * @typedef {object} CoreLiveSettings
 * @property {string} algorithm
 * @property {'l4' | 'l7'} layer
 * @property {'none' | 'cookie' | 'source_ip'} sticky
 * @property {'up' | 'down' | 'slow' | null} store
 * @property {{ group: string, rate: number, scheduled: boolean }[]} rates
 */

/**
 * The core's state at one instant (app.js `snapshot()`), typed arrays per server, replica or
 * client group.
 * @typedef {object} Frame
 * @property {Uint8Array} state server states (topology.js STATE)
 * @property {Uint32Array} busy
 * @property {Uint32Array} queue
 * @property {Uint32Array} conns
 * @property {Float64Array} served
 * @property {Uint32Array} markedDown replicas that marked each server down
 * @property {Float64Array} slow service-time factor
 * @property {Uint8Array} replicaUp
 * @property {Uint32Array} replicaBusy
 * @property {Uint32Array} groupInFlight
 * @property {Uint32Array} groupWaiting
 * @property {Uint32Array} groupConns
 * @property {Uint32Array} edges (group, replica, server, connections, streams) quintuples
 * @property {Uint32Array} flows groups × servers, row-major
 * @property {Uint32Array} flowsToReplica groups × replicas, row-major
 * @property {Totals} totals sent, each outcome by its report name, sessions started and lost
 * @property {Uint32Array} ejected replicas whose outlier detection has each server ejected
 * @property {Float64Array} ejectedUntilMs when each server's longest ejection ends (ms; 0: none)
 * @property {Uint32Array} sessions sessions whose state each server holds
 * @property {Float64Array} sessionsLost sessions lost at each server so far
 * @property {Float64Array} errors error answers, rejections and requests reaching it crashed, per server
 * @property {Float64Array} retries retries that reached each server
 * @property {Float64Array} hedges hedges that reached each server
 * @property {Float64Array} latencyMs mean latency of each server's ok requests (ms)
 * @property {Uint32Array} replicaOpen requests each replica has in flight to servers
 * @property {Float64Array} replicaOverflows requests each replica's circuit breakers refused
 * @property {number} maxRequests circuit breakers' max_requests (0: none)
 * @property {number} store session store: 0 none, 1 up, 2 down, 3 slow
 * @property {number} storeLatencyMs the store's latency now (ms)
 * @property {number} retriesTotal retries so far (clients' and balancer's)
 * @property {number} hedgesTotal hedges so far
 */

/**
 * One autoscaler decision (sim-core `ScaleDecision`, sim-web `scaleDecisionsFrom()`).
 * @typedef {{ at_s: number, group: string, current: number, ready: number, desired: number, metric: number }} ScaleDecision
 */

export {};
