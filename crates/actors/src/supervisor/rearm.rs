//! A reload of the settings: every scraper arms its schedule again at the
//! node's interval in force.

use actix::prelude::*;

use super::ProjectSupervisor;
use crate::scraper::Rearm;

/// Has every scraper of this node arm its schedule again (see [`Rearm`]).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct RearmAll;

impl Handler<RearmAll> for ProjectSupervisor {
    type Result = usize;

    fn handle(&mut self, _: RearmAll, _: &mut Context<Self>) -> usize {
        let live: Vec<_> = self.children.values().filter(|c| !c.stopping).collect();
        for child in &live {
            child.addr.do_send(Rearm);
        }
        live.len()
    }
}
