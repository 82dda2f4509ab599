//! User sessions: a run of requests from one client that share state at a server (or a
//! session store); the request that opens a session, the ones parked behind it, and its end.

use crate::model::Simulation;
use crate::model::state::*;
use crate::slab::Handle;

impl Simulation {
    /// Attaches a request to the client's current session, starting a new one when due.
    pub(in crate::model) fn session_for_new_request(&mut self, c: u32, measured: bool) -> Option<Handle> {
        let n = self.group_of(c).session_requests?;
        let current =
            self.clients[c as usize].session.filter(|&s| self.sessions.get(s).is_some_and(|s| s.remaining > 0));
        let h = match current {
            Some(h) => h,
            None => {
                let id = self.next_session_id;
                self.next_session_id += 1;
                let h = self.sessions.insert(Session {
                    id,
                    remaining: n,
                    outstanding: 0,
                    requests: 0,
                    home: NONE,
                    cookie: NONE,
                    lost: false,
                    state_gone: false,
                    measured,
                    established: false,
                    opener: None,
                    parked: Vec::new(),
                });
                if measured {
                    self.stats.sessions_started += 1;
                }
                self.clients[c as usize].session = Some(h);
                h
            }
        };
        let s = self.sessions.get_mut(h).expect("current session is live");
        s.remaining -= 1;
        s.outstanding += 1;
        s.requests += 1;
        Some(h)
    }

    /// A session request ended: the session's opener establishes it (when answered) and
    /// releases the requests parked behind it; the last request ends the session.
    pub(in crate::model) fn session_request_done(&mut self, sh: Handle, c: u32, slot: u32, answered: bool) {
        let Some(s) = self.sessions.get_mut(sh) else { return };
        s.outstanding -= 1;
        if s.opener == Some(slot) {
            s.opener = None;
            s.established |= answered;
            let parked = std::mem::take(&mut s.parked);
            for h in parked {
                self.send_or_park(h);
            }
        }
        let Some(s) = self.sessions.get_mut(sh) else { return };
        if s.remaining == 0 && s.outstanding == 0 {
            let s = self.sessions.remove(sh).expect("live session");
            if s.measured {
                self.stats.sessions_completed += 1;
                self.stats.session_requests += u64::from(s.requests);
            }
            if s.home != NONE {
                self.servers[s.home as usize].sessions = self.servers[s.home as usize].sessions.saturating_sub(1);
            }
            if self.clients[c as usize].session == Some(sh) {
                self.clients[c as usize].session = None;
            }
        }
    }
}
