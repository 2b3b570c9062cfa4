//! The supervisor's side of a shutdown, and the counts the tree waits on.

use actix::prelude::*;

use super::{CountChildren, CountStarting, ForceStopAll, IsStarted, ProjectSupervisor, StopAll};
use crate::scraper::{Drain, StopScraper};
use crate::source::StopPolling;

impl Handler<StopAll> for ProjectSupervisor {
    type Result = usize;

    fn handle(&mut self, _: StopAll, _: &mut Context<Self>) -> usize {
        self.shutting_down = true;
        self.restarting.clear();
        for s in &self.sources {
            s.do_send(StopPolling);
        }
        for child in self.children.values_mut() {
            child.stopping = true;
            child.addr.do_send(Drain);
        }
        self.children.len()
    }
}

impl Handler<ForceStopAll> for ProjectSupervisor {
    type Result = usize;

    fn handle(&mut self, _: ForceStopAll, _: &mut Context<Self>) -> usize {
        for child in self.children.values() {
            child.addr.do_send(StopScraper);
        }
        self.children.len()
    }
}

impl Handler<CountStarting> for ProjectSupervisor {
    type Result = usize;

    fn handle(&mut self, _: CountStarting, _: &mut Context<Self>) -> usize {
        if self.started {
            self.starting.len()
        } else {
            usize::MAX
        }
    }
}

impl Handler<CountChildren> for ProjectSupervisor {
    type Result = usize;

    fn handle(&mut self, _: CountChildren, _: &mut Context<Self>) -> usize {
        self.children.len()
    }
}

impl Handler<IsStarted> for ProjectSupervisor {
    type Result = bool;

    fn handle(&mut self, _: IsStarted, _: &mut Context<Self>) -> bool {
        self.started
    }
}
