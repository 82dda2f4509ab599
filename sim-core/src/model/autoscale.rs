//! A horizontal autoscaler per server group, following the Kubernetes HPA controller
//! ("Algorithm details" in
//! <https://kubernetes.io/docs/concepts/workloads/autoscale/horizontal-pod-autoscale/>;
//! `pkg/controller/podautoscaler/horizontal.go` and `replica_calculator.go`).
//!
//! Every `interval` (the controller's sync period) it averages the metric over the group's
//! ready servers and the interval just past (metrics-server reports averages over a window,
//! not instants), asks [`Autoscale::recommend`] for `ceil(ready × metric / target)` (no
//! change within `tolerance`), and stabilizes as the HPA's default `behavior` does: a
//! scale-down goes only to the highest recommendation of the last
//! `scale_down_stabilization`; a scale-up is immediate, by at most 100 % or 4 servers per
//! sync, whichever is more. Then `min`/`max`.
//!
//! Scaling up takes an instance slot of the group that is not in use (built in advance:
//! `max − count` of them) and makes it ready `provision_delay` later, as the `add` action
//! does. Scaling down first cancels servers still provisioning (the newest first), then
//! removes the newest ready ones, which drain like the `remove` action. Each decision goes on
//! the timeline (series events), into the trace hash and into the report's `autoscaler`.

use super::Simulation;
use super::state::*;
use crate::metrics::report::ScaleDecision;
use crate::scenario::{Autoscale, ScaleMetric};

/// One group's controller.
#[derive(Clone, Debug)]
pub(crate) struct Scaler {
    pub group: u32,
    pub spec: Autoscale,
    /// The group's instance ids, in order (`<group>-1` first).
    pub members: Vec<u32>,
    /// Per member: (`busy_all`, `queue_all`) at the last sync.
    pub last: Vec<(u128, u128)>,
    pub last_sync_ns: u64,
    /// Recommendations of the scale-down stabilization window: (time, replicas).
    pub history: Vec<(u64, u32)>,
    /// Servers asked for and not ready yet, in the order asked.
    pub provisioning: Vec<u32>,
}

/// The HPA's default scale-up policies: at most +100 % or +4 pods per 15 s period, the larger.
fn scale_up_limit(current: u32) -> u32 {
    current.saturating_mul(2).max(current.saturating_add(4))
}

/// The stabilized, bounded replica count (`stabilizeRecommendationWithBehaviors` with the
/// default behavior, then `min`/`max`): `history` holds this sync's recommendation and
/// those of the scale-down window.
pub(crate) fn stabilize(spec: &Autoscale, current: u32, history: &[(u64, u32)]) -> u32 {
    let now_rec = history.last().map_or(current, |&(_, r)| r);
    let down = history.iter().map(|&(_, r)| r).max().unwrap_or(current);
    let mut desired = current;
    if now_rec > current {
        desired = now_rec.min(scale_up_limit(current));
    } else if down < current {
        desired = down;
    }
    desired.clamp(spec.min, spec.max)
}

impl Simulation {
    /// Builds the controllers and schedules their first syncs.
    pub(super) fn start_autoscalers(&mut self) {
        for (g, group) in self.sc.servers.iter().enumerate() {
            let Some(spec) = group.autoscale else { continue };
            let members: Vec<u32> =
                (0..self.servers.len() as u32).filter(|&s| self.servers[s as usize].group as usize == g).collect();
            let last = vec![(0, 0); members.len()];
            self.scalers.push(Scaler {
                group: g as u32,
                spec,
                members,
                last,
                last_sync_ns: 0,
                history: Vec::new(),
                provisioning: Vec::new(),
            });
            if spec.interval_ns < self.sc.duration_ns {
                self.queue.push(spec.interval_ns, Ev::Autoscale { group: g as u32 });
            }
        }
    }

    /// The controller's sync: measure, recommend, stabilize, scale.
    pub(super) fn on_autoscale(&mut self, group: u32) {
        if self.finished {
            return;
        }
        let Some(k) = self.scalers.iter().position(|x| x.group == group) else { return };
        let now = self.now;
        // Measure: each member's integrals up to now, against the last sync.
        let mut ready = 0u32;
        let mut live = 0u32;
        let mut sum = 0.0f64;
        let scaler = &mut self.scalers[k];
        let span = now.saturating_sub(scaler.last_sync_ns).max(1) as f64;
        for (i, &s) in scaler.members.iter().enumerate() {
            let server = &self.servers[s as usize];
            let busy = server.busy_all + u128::from(server.busy) * u128::from(now - server.busy_since_ns);
            let queued = server.queue_all + u128::from(server.queued) * u128::from(now - server.queue_since_ns);
            let (b0, q0) = std::mem::replace(&mut scaler.last[i], (busy, queued));
            if matches!(server.state, ServerState::Up | ServerState::Down) {
                live += 1;
            }
            if server.state == ServerState::Up {
                ready += 1;
                let (db, dq) = ((busy - b0) as f64, (queued - q0) as f64);
                sum += match scaler.spec.metric {
                    ScaleMetric::Utilization(_) => db / f64::from(server.workers.max(1)),
                    ScaleMetric::InFlight(_) => db + dq,
                } / span;
            }
        }
        scaler.last_sync_ns = now;
        let metric = if ready == 0 { f64::NAN } else { sum / f64::from(ready) };
        let current = live + scaler.provisioning.len() as u32;
        let rec = scaler.spec.recommend(current, ready, metric);
        let window = scaler.spec.scale_down_stabilization_ns;
        scaler.history.retain(|&(t, _)| now - t < window);
        scaler.history.push((now, rec));
        let desired = stabilize(&scaler.spec, current, &scaler.history);
        let spec = scaler.spec;
        if now + spec.interval_ns < self.sc.duration_ns {
            self.schedule(spec.interval_ns, Ev::Autoscale { group });
        }
        if desired == current {
            return;
        }
        let name = self.sc.servers[group as usize].name.clone();
        let metric_name = match spec.metric {
            ScaleMetric::Utilization(_) => "utilization",
            ScaleMetric::InFlight(_) => "in_flight",
        };
        self.hasher.words(&[now, 0x4850_4153, u64::from(group), u64::from(current), u64::from(desired)]);
        self.stats
            .series
            .events
            .push((now, format!("autoscale {name} {current} → {desired} ({metric_name} {metric:.2})")));
        self.stats.scale_decisions.push(ScaleDecision {
            at_s: now as f64 / 1e9,
            group: name,
            current,
            ready,
            desired,
            metric: if metric.is_finite() { metric } else { 0.0 },
        });
        if desired > current {
            self.scale_up(k, desired - current);
        } else {
            self.scale_down(k, current - desired);
        }
    }

    fn scale_up(&mut self, k: usize, n: u32) {
        let delay = self.scalers[k].spec.provision_delay_ns;
        // Slots never used first, then slots of removed servers (a new pod under an old name).
        let free: Vec<u32> = [ServerState::NotAdded, ServerState::Removed]
            .into_iter()
            .flat_map(|state| {
                let scaler = &self.scalers[k];
                scaler
                    .members
                    .iter()
                    .copied()
                    .filter(move |s| !scaler.provisioning.contains(s))
                    .filter(|&s| self.servers[s as usize].state == state)
                    .collect::<Vec<_>>()
            })
            .take(n as usize)
            .collect();
        for s in free {
            self.scalers[k].provisioning.push(s);
            self.schedule(delay, Ev::Provisioned { server: s });
        }
    }

    fn scale_down(&mut self, k: usize, mut n: u32) {
        while n > 0 {
            let Some(s) = self.scalers[k].provisioning.pop() else { break };
            // Its `Provisioned` event finds it no longer asked for.
            let _ = s;
            n -= 1;
        }
        let newest: Vec<u32> = self.scalers[k]
            .members
            .iter()
            .rev()
            .copied()
            .filter(|&s| matches!(self.servers[s as usize].state, ServerState::Up | ServerState::Down))
            .take(n as usize)
            .collect();
        for s in newest {
            self.remove_one(s);
        }
    }

    /// A provisioned server is ready: it joins its pool (if it is still wanted).
    pub(super) fn on_provisioned(&mut self, s: u32) {
        let Some(k) = self.scalers.iter().position(|x| x.provisioning.contains(&s)) else { return };
        self.scalers[k].provisioning.retain(|&x| x != s);
        if matches!(self.servers[s as usize].state, ServerState::NotAdded | ServerState::Removed) {
            self.add_server(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::NS_PER_SEC;

    fn hpa(min: u32, max: u32, target: f64) -> Autoscale {
        Autoscale::new(min, max, ScaleMetric::Utilization(target))
    }

    /// "Algorithm details": desiredReplicas = ceil[currentReplicas × (currentMetricValue /
    /// desiredMetricValue)], with no change while the ratio is within the tolerance.
    #[test]
    fn the_recommendation_is_the_hpa_formula_with_its_tolerance() {
        let a = hpa(1, 10, 0.5);
        assert_eq!(
            (a.interval_ns, a.tolerance, a.scale_down_stabilization_ns),
            (15 * NS_PER_SEC, 0.1, 300 * NS_PER_SEC)
        );
        // The docs' example: 200m used, 100m target → double.
        assert_eq!(Autoscale::new(1, 10, ScaleMetric::InFlight(100.0)).recommend(1, 1, 200.0), 2);
        assert_eq!(a.recommend(4, 4, 0.75), 6, "ceil(4 × 1.5)");
        assert_eq!(a.recommend(4, 4, 0.26), 3, "ceil(4 × 0.52) = ceil(2.08)");
        assert_eq!(a.recommend(3, 3, 0.5), 3, "exactly on target");
        assert_eq!(a.recommend(4, 4, 0.54), 4, "a ratio of 1.08 is within the tolerance");
        assert_eq!(a.recommend(4, 4, 0.46), 4, "0.92 too");
        assert_eq!(Autoscale::new(1, 10, ScaleMetric::InFlight(8.0)).recommend(4, 4, 8.75), 4, "1.09375: within");
        assert_eq!(a.recommend(4, 4, 0.56), 5, "1.12 is not: ceil(4.48)");
        assert_eq!(a.recommend(4, 4, 0.0), 0, "idle: as few as min allows (applied later)");
        assert_eq!(a.recommend(5, 3, 1.0), 6, "measured over the ready servers: ceil(3 × 2)");
        assert_eq!(a.recommend(5, 0, f64::NAN), 5, "nothing ready, nothing measured: no change");
        let wide = Autoscale { tolerance: 0.5, ..a };
        assert_eq!(wide.recommend(4, 4, 0.7), 4, "a ratio of 1.4 is within a tolerance of 0.5");
    }

    /// The default behavior: scale-down to the highest recommendation of the window,
    /// scale-up at once by at most max(100 %, 4 pods), then min and max.
    #[test]
    fn stabilization_and_bounds() {
        let a = hpa(2, 20, 0.5);
        let s = |t: u64| t * NS_PER_SEC;
        // Down: the window still holds a recommendation of 6, so 8 → 6, not 3.
        assert_eq!(stabilize(&a, 8, &[(s(0), 6), (s(15), 5), (s(30), 3)]), 6);
        // Only lower recommendations left: down to their highest.
        assert_eq!(stabilize(&a, 8, &[(s(0), 4), (s(15), 3)]), 4);
        // Never below min.
        assert_eq!(stabilize(&a, 3, &[(s(0), 1)]), 2);
        // Up at once, limited to max(2 × current, current + 4) per sync, and to max.
        assert_eq!(stabilize(&a, 2, &[(s(0), 1), (s(15), 9)]), 6, "2 + 4");
        assert_eq!(stabilize(&a, 6, &[(s(15), 30)]), 12, "2 × 6");
        assert_eq!(stabilize(&a, 12, &[(s(15), 30)]), 20, "max");
        // A recommendation of the current count: nothing moves (a higher one in the window
        // does not scale up).
        assert_eq!(stabilize(&a, 5, &[(s(0), 7), (s(15), 5)]), 5);
    }
}
