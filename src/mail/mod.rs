//! Mail in and out: parsing hostile input, subjects and tags, Message-IDs,
//! and composing what we send.

pub mod body;
pub mod checked;
pub mod compose;
pub mod display;
pub mod msgid;
pub mod notify;
pub mod parse;
pub mod quote;
pub mod subject;
pub mod syntax;
pub mod trace;
