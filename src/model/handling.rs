//! What handlers decide about a ticket beyond its status: report or
//! incident, the links between them, the assignee, TLP, category, whether
//! the reporter still hears from us, and merges.

use super::TicketId;
use crate::workflow::commands::Tlp;
use serde::{Deserialize, Serialize};

/// RTIR's split, simply: reports are what arrives; incidents group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[default]
    Report,
    Incident,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Report => "report",
            Kind::Incident => "incident",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handling {
    #[serde(default)]
    pub kind: Kind,
    /// For a report: the incident it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<TicketId>,
    /// For an incident: its reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<TicketId>,
    /// The handler's configured name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlp: Option<Tlp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `/reporter-ack off`: nothing more goes to the requestors.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reporter_muted: bool,
    /// This ticket was merged into another: its tag and Message-IDs route there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<TicketId>,
    /// Tickets merged into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<TicketId>,
    /// The requestors the ticket had when it became TLP:RED: the only ones
    /// its content is relayed to. A relay to anyone added later is held
    /// for a handler's release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub red_audience: Vec<String>,
}

impl Handling {
    /// Sets the TLP; on becoming RED, the requestors of that moment are
    /// the audience its content may reach.
    pub fn set_tlp(&mut self, tlp: Option<Tlp>, requestors: &[String]) {
        if tlp == Some(Tlp::Red) && self.tlp != Some(Tlp::Red) {
            self.red_audience = requestors.to_vec();
        }
        self.tlp = tlp;
    }

    /// Whether relayed content may reach `requestor` as TLP allows.
    pub fn may_relay_to(&self, requestor: &str) -> bool {
        self.tlp != Some(Tlp::Red) || self.red_audience.iter().any(|r| r == requestor)
    }
}
