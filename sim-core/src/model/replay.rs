//! Trace replay in the engine: each trace group holds its source and the one row that is due
//! next; when that row's event fires, the next row is pulled and scheduled, then the row's
//! request is sent by one of the group's clients. Memory is one row per group plus the
//! requests in flight, never the file.

use super::Simulation;
use super::state::*;
use crate::replay::{TraceRow, TraceSource};
use crate::rng::mix64;

/// A trace group's replay state.
#[derive(Default)]
pub(crate) struct Replay {
    /// Where rows come from (`None`: no source attached, or the rows are over).
    pub source: Option<Box<dyn TraceSource>>,
    /// The row whose `Ev::Replay` is scheduled.
    pub next: Option<TraceRow>,
    /// Round-robin cursor over the group's clients, for rows without a source address.
    pub rr: u32,
}

impl Simulation {
    /// Attaches the rows of client group `group`'s `trace` (the group's index in
    /// `scenario.clients`). Call it once per trace group, before the first step. A group
    /// with `trace` and no source sends nothing (`config::warnings` says so). Rows at or
    /// after `duration` are not sent (and not read).
    ///
    /// Rows go to the group's clients: a row with a source address to client
    /// `mix64(source) mod count` (so one address is always one client: `ip_hash` and
    /// `sticky = "source_ip"` see that client's address), other rows round robin.
    pub fn attach_trace(&mut self, group: usize, source: Box<dyn TraceSource>) -> Result<(), String> {
        let Some(g) = self.sc.clients.get(group) else {
            return Err(format!("there is no client group {group}"));
        };
        if g.trace.is_none() {
            return Err(format!("client group {} has no trace", g.name));
        }
        if self.events_processed > 0 || self.now > 0 {
            return Err("a trace must be attached before the run starts".to_string());
        }
        let replay = &mut self.replays[group];
        if replay.source.is_some() || replay.next.is_some() {
            return Err(format!("client group {} already has a trace source", g.name));
        }
        replay.source = Some(source);
        self.pull_row(group as u32);
        Ok(())
    }

    /// Takes a trace group's next row and schedules it; at the end of the rows (or of the
    /// run) the source is dropped, which closes the caller's file.
    fn pull_row(&mut self, g: u32) {
        let start = self.sc.clients[g as usize].start_ns;
        let (duration, now, ended) = (self.sc.duration_ns, self.now, self.ended);
        let replay = &mut self.replays[g as usize];
        let Some(source) = replay.source.as_mut() else { return };
        let row = if ended { None } else { source.next_row() };
        match row {
            Some(row) => {
                // A row earlier than the one before it is sent at once (the CLI's reader
                // refuses such files; a library source may not).
                let at = start.saturating_add(row.time_ns).max(now);
                if at < duration {
                    replay.next = Some(row);
                    self.queue.push(at, Ev::Replay { group: g });
                    return;
                }
                replay.source = None;
            }
            None => replay.source = None,
        }
    }

    #[inline(never)]
    pub(in crate::model) fn on_replay(&mut self, g: u32) {
        let Some(row) = self.replays[g as usize].next.take() else { return };
        self.pull_row(g);
        if self.ended {
            return;
        }
        let count = self.sc.clients[g as usize].count;
        if count == 0 {
            return;
        }
        let i = match row.source {
            Some(id) => (mix64(id) % u64::from(count)) as u32,
            None => {
                let replay = &mut self.replays[g as usize];
                let i = replay.rr % count;
                replay.rr = replay.rr.wrapping_add(1) % count;
                i
            }
        };
        let c = self.groups[g as usize].first_client + i;
        self.send_new(c, false, Some(row));
    }
}
