//! The Registry: project id → address of its live ScraperActor, the ETS
//! table of the OTP design. The supervisor registers and unregisters; the
//! web layer looks up. A lookup never returns a dead address: a
//! disconnected entry is dropped when seen.

use std::collections::HashMap;

use actix::prelude::*;
use trawler_domain::ProjectId;

use crate::scraper::ScraperActor;
use crate::state::{ActorInfo, ActorStatus, Mailbox};

/// Records the scraper of a project and its mailbox counter.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Register(pub ProjectId, pub Addr<ScraperActor>, pub Mailbox);

/// Forgets the scraper of a project.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister(pub ProjectId);

/// The live scraper of a project, if any.
#[derive(Message)]
#[rtype(result = "Option<(Addr<ScraperActor>, Mailbox)>")]
pub struct Lookup(pub ProjectId);

/// Every live scraper, by project id.
#[derive(Message)]
#[rtype(result = "Vec<(ProjectId, (Addr<ScraperActor>, Mailbox))>")]
pub struct ListScrapers;

/// Asks for the registry's state.
#[derive(Message)]
#[rtype(result = "ActorInfo")]
pub struct GetRegistryState;

/// The project → scraper table.
#[derive(Default)]
pub struct Registry {
    entries: HashMap<ProjectId, (Addr<ScraperActor>, Mailbox)>,
}

impl Actor for Registry {
    type Context = Context<Self>;
}

impl Handler<Register> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Register, _: &mut Context<Self>) {
        self.entries.insert(msg.0, (msg.1, msg.2));
    }
}

impl Handler<Unregister> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Unregister, _: &mut Context<Self>) {
        self.entries.remove(&msg.0);
    }
}

impl Handler<Lookup> for Registry {
    type Result = Option<(Addr<ScraperActor>, Mailbox)>;
    fn handle(&mut self, msg: Lookup, _: &mut Context<Self>) -> Self::Result {
        match self.entries.get(&msg.0) {
            Some(entry) if entry.0.connected() => Some(entry.clone()),
            Some(_) => {
                self.entries.remove(&msg.0);
                None
            }
            None => None,
        }
    }
}

impl Handler<ListScrapers> for Registry {
    type Result = MessageResult<ListScrapers>;
    fn handle(&mut self, _: ListScrapers, _: &mut Context<Self>) -> Self::Result {
        self.entries.retain(|_, (a, _)| a.connected());
        let mut list: Vec<_> = self.entries.iter().map(|(id, a)| (*id, a.clone())).collect();
        list.sort_by_key(|(id, _)| *id);
        MessageResult(list)
    }
}

impl Handler<GetRegistryState> for Registry {
    type Result = MessageResult<GetRegistryState>;
    fn handle(&mut self, _: GetRegistryState, _: &mut Context<Self>) -> Self::Result {
        let mut info = ActorInfo::new("registry", "registry".into(), ActorStatus::Running);
        info.detail = serde_json::json!({ "entries": self.entries.len() });
        MessageResult(info)
    }
}
