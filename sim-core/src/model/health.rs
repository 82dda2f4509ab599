//! Active health checks with HAProxy's counter semantics (`src/check.c`): each replica checks
//! each server every `interval`; `health` runs from 0 to rise+fall−1 and the server is up
//! while it is at least `rise`. A success adds one and jumps to the top once at `rise`; a
//! failure takes one away and drops to 0 once below `rise`. Servers start up at `rise`.

use super::Simulation;
use super::state::*;
use crate::metrics::trace::TraceEvent;

impl Simulation {
    #[inline(never)]
    pub(super) fn on_health_check(&mut self, r: u32, s: u32) {
        let Some(hc) = self.sc.balancer.health_check else { return };
        if self.finished {
            return;
        }
        self.schedule(hc.interval_ns, Ev::HealthCheck { replica: r, server: s });
        if !self.replicas[r as usize].up {
            return;
        }
        let state = self.servers[s as usize].state;
        if matches!(state, ServerState::NotAdded | ServerState::Removed) {
            return;
        }
        // A crashed server refuses the check's connection: it fails after one round trip.
        let rtt = 2 * self.upstream_hop_ns();
        let (ok, delay) = if rtt > hc.timeout_ns { (false, hc.timeout_ns) } else { (state != ServerState::Down, rtt) };
        self.schedule(delay.max(1), Ev::HealthResult { replica: r, server: s, ok });
    }

    #[inline(never)]
    pub(super) fn on_health_result(&mut self, r: u32, s: u32, ok: bool) {
        let Some(hc) = self.sc.balancer.health_check else { return };
        if !self.replicas[r as usize].up {
            return;
        }
        let top = hc.rise + hc.fall - 1;
        let h = &mut self.replicas[r as usize].health[s as usize];
        let was_up = h.up;
        if ok {
            if h.health < top {
                h.health += 1;
                if h.health >= hc.rise {
                    h.health = top;
                }
            }
        } else if h.health > 0 {
            h.health -= 1;
            if h.health < hc.rise {
                h.health = 0;
            }
        }
        h.up = h.health >= hc.rise;
        if h.up != was_up {
            let now = self.now;
            if !h.up {
                h.down_since_ns = now;
            } else {
                let since = h.down_since_ns;
                let (warmup, end) = self.window_ns();
                self.stats.marked_down_ns[s as usize] += u128::from(super::balancer::overlap(since, now, warmup, end));
            }
            self.replicas[r as usize].dirty = true;
            if !ok {
                self.note_detection(s);
            } else {
                self.start_slow_start(s);
            }
            let detail = if ok { "up" } else { "down" };
            self.hasher.words(&[now, 0x4845_414c, u64::from(r), u64::from(s), u64::from(ok)]);
            if let Some(events) = self.trace_events.as_mut() {
                events.push(TraceEvent {
                    time_ms: now as f64 / 1e6,
                    event: "health".into(),
                    target: self.names[s as usize].clone(),
                    detail: format!("balancer-{} marks it {detail}", r + 1),
                });
            }
        }
    }
}
