//! The application: the actor that owns the ledger state, and its mailbox,
//! which is what consensus and marshal call (commonware's actor/ingress
//! pattern).

mod actor;
mod ingress;

pub(crate) use actor::{Actor, Snapshots};
pub use ingress::{Mailbox, Stopped};
