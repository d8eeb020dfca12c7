//! csirtd: the mail front door of a CSIRT. Mail comes in through `intake`,
//! is understood by `mail` (and `pgp`), becomes a decision in `workflow`,
//! is committed by `store`, and anything to send leaves through `outbox`.

pub mod alloc;
pub mod analysis;
pub mod auth;
pub mod batch;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod export;
pub mod intake;
pub mod logging;
pub mod mail;
pub mod model;
pub mod ops;
pub mod outbox;
pub mod pgp;
pub mod preflight;
pub mod reload;
pub mod store;
pub mod web;
pub mod workflow;
