//! The settings live actions and timeline events change, as they are now — so a viewer reads
//! them from the core instead of replaying the timeline's labels.

use serde::Serialize;

use super::Simulation;
use crate::scenario::{Layer, Sticky};

/// One client group's arrival rate now.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GroupRate {
    /// The client group.
    pub group: String,
    /// Requests per second per client (`set_rate` changes it).
    pub rate: f64,
    /// Whether a `schedule` drives it instead (until a `set_rate`).
    pub scheduled: bool,
}

/// The balancer's settings and the session store now.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LiveSettings {
    /// The algorithm, as scenario files spell it.
    pub algorithm: &'static str,
    /// `l4` or `l7`.
    pub layer: Layer,
    /// `none`, `cookie` or `source_ip`.
    pub sticky: Sticky,
    /// The session store: `up`, `down` or `slow`; `None` without a `[session_store]`.
    pub store: Option<&'static str>,
    /// Each client group's rate.
    pub rates: Vec<GroupRate>,
}

impl Simulation {
    /// The settings now: the scenario's, changed by the timeline's events and live actions
    /// so far.
    pub fn live_settings(&self) -> LiveSettings {
        LiveSettings {
            algorithm: self.algorithm.name(),
            layer: self.layer,
            sticky: self.sticky,
            store: self.sc.session_store.as_ref().map(|_| {
                if !self.store_up {
                    "down"
                } else if self.store_factor != 1.0 {
                    "slow"
                } else {
                    "up"
                }
            }),
            rates: self
                .sc
                .clients
                .iter()
                .map(|c| GroupRate { group: c.name.clone(), rate: c.rate, scheduled: c.schedule.is_some() })
                .collect(),
        }
    }
}

/// One entry of the scenario's timeline (its `[[events]]`, then the live actions applied), as
/// typed data: a viewer lists and replays these without parsing scenario text or labels.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimelineItem {
    /// When, in nanoseconds (a decimal string: exact beyond 2^53 for JavaScript's BigInt).
    pub at_ns: String,
    /// The action's name in scenario files (`crash`, `set_rate`, …).
    pub kind: &'static str,
    /// The server, group or client group it concerns, if any.
    pub target: Option<String>,
    /// Its other fields as scenario files spell them (`factor`, `count`, `rate`, `algorithm`, …).
    pub values: serde_json::Map<String, serde_json::Value>,
    /// The core's one-line label (the same as traces and charts use).
    pub label: String,
}

impl Simulation {
    /// The timeline: the scenario's events and the live actions applied so far, in the order
    /// the scenario holds them.
    pub fn timeline_items(&self) -> Vec<TimelineItem> {
        self.sc
            .events
            .iter()
            .map(|e| {
                let mut values = serde_json::Map::new();
                let mut target = None;
                if let toml::Value::Table(t) = crate::config::write::event(e) {
                    for (k, v) in t {
                        match k.as_str() {
                            "at" | "action" => {}
                            "target" => target = v.as_str().map(str::to_string),
                            _ => {
                                values.insert(k, serde_json::to_value(v).unwrap_or(serde_json::Value::Null));
                            }
                        }
                    }
                }
                TimelineItem {
                    at_ns: e.at_ns.to_string(),
                    kind: e.action.name(),
                    target,
                    values,
                    label: super::timeline::describe(&e.action),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::Simulation;
    use crate::config::{Format, load};
    use crate::scenario::{Layer, Sticky};

    /// Timeline events change what `live_settings` answers, at their time.
    #[test]
    fn live_settings_follow_the_timeline() {
        let text = r#"
name = "live"
duration = "4s"
[[servers]]
name = "api"
count = 2
service = { dist = "constant", value = "1ms" }
[[clients]]
name = "web"
count = 2
rate = 5
[session_store]
latency = "1ms"
[[events]]
at = "1s"
action = "set_algorithm"
algorithm = "least_connections"
[[events]]
at = "1s"
action = "set_sticky"
sticky = "source_ip"
[[events]]
at = "2s"
action = "set_layer"
layer = "l4"
[[events]]
at = "2s"
action = "store_down"
[[events]]
at = "3s"
action = "set_rate"
target = "web"
rate = 9
"#;
        let sc = load(text, Format::Toml, &[]).expect("scenario");
        let mut sim = Simulation::new(&sc, 1);
        let first = sim.live_settings();
        assert_eq!(
            (first.algorithm, first.layer, first.sticky, first.store),
            ("round_robin", Layer::L7, Sticky::None, Some("up"))
        );
        sim.step_until(1_500_000_000);
        let s = sim.live_settings();
        assert_eq!((s.algorithm, s.sticky), ("least_connections", Sticky::SourceIp));
        sim.step_until(3_500_000_000);
        let s = sim.live_settings();
        assert_eq!((s.layer, s.store, s.rates[0].rate), (Layer::L4, Some("down"), 9.0));
        let items = sim.timeline_items();
        assert_eq!(items.len(), 5);
        assert_eq!(
            (items[0].at_ns.as_str(), items[0].kind, items[0].label.as_str()),
            ("1000000000", "set_algorithm", "algorithm → least_connections")
        );
        assert_eq!(items[0].values["algorithm"], "least_connections");
        assert_eq!((items[4].target.as_deref(), &items[4].values["rate"]), (Some("web"), &serde_json::json!(9.0)));
        let json = serde_json::to_string(&s).expect("json");
        assert!(json.contains(r#""sticky":"source_ip""#) && json.contains(r#""layer":"l4""#), "{json}");
    }
}
