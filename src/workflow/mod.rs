//! Decisions: which ticket a message belongs to, and what must follow
//! (events, acknowledgements). Pure functions over parsed data; the
//! [`pipeline`] does the I/O around them.

pub mod ack;
pub mod ack_rate;
pub mod advisory;
pub mod attempts;
pub mod commands;
pub mod decide;
pub mod desk;
pub mod digest;
pub mod digest_run;
pub mod execute;
pub mod feeds;
pub mod handler;
mod notice_facts;
pub mod outgoing;
pub mod pipeline;
pub mod publish;
pub mod queue_digest;
pub mod queue_digest_run;
pub mod redelivery;
pub mod relay;
pub mod retention;
pub mod seal;
pub mod sla;
#[cfg(test)]
pub(crate) mod test_support;
pub mod trust;
