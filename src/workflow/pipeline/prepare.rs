//! Everything about one message that needs no store: hashing, parsing,
//! analysis and the OpenPGP verdict, within the message's budget. Pure
//! CPU, so a batch can be prepared on several cores at once.
//!
//! Analysis reads hostile bytes with a lot of code (MIME, zip, CSV, XML,
//! OpenPGP). Whatever goes wrong there must cost that one message its
//! analysis, never the daemon its uptime: a panic is caught, and an abort
//! (an allocation failure) is remembered across the restart (see
//! `attempts.rs`). Either way the message is stored raw, flagged
//! `analysis-failed`, with a warning on its ticket.

use super::{Pipeline, Prepared};
use crate::analysis::budget::{Budget, Over};
use crate::analysis::indicators::Indicator;
use crate::mail::parse;
use crate::mail::trace::{body_sha256, content_sha256};
use crate::model::Flag;
use crate::pgp::{Verdict, Verification};
use sha2::{Digest, Sha256};
use std::panic::{catch_unwind, AssertUnwindSafe};

impl Pipeline {
    /// Everything that needs no store: hashing, parsing, the OpenPGP verdict.
    pub fn prepare(&self, raw: &[u8]) -> Prepared {
        let authentication = self
            .authenticate(&[raw])
            .pop()
            .unwrap_or_else(|| crate::auth::Authentication::unavailable("no result"));
        self.prepare_with(raw, authentication)
    }

    /// DKIM, SPF and DMARC of a batch, checked together (their DNS
    /// lookups overlap), for [`Pipeline::prepare_with`].
    /// Each message's parse counts as an analysis in progress (see
    /// `attempts.rs`): a message whose headers kill the process is then
    /// stored raw at the next attempt, not examined again.
    pub fn authenticate(&self, messages: &[&[u8]]) -> Vec<crate::auth::Authentication> {
        self.auth.all_guarded(messages, &|raw, step| {
            let sha: [u8; 32] = Sha256::digest(raw).into();
            if self.attempts.failed_before(&sha) {
                return false;
            }
            let _attempt = self.attempts.begin(&sha);
            step();
            true
        })
    }

    /// As [`Pipeline::prepare`], with the sender authentication done.
    pub fn prepare_with(
        &self,
        raw: &[u8],
        authentication: crate::auth::Authentication,
    ) -> Prepared {
        let mut prepared = self.prepare_unauthenticated(raw);
        if authentication.dmarc_fail_enforced() {
            prepared.mail.flags.insert(Flag::DmarcFail);
        }
        prepared.authentication = authentication;
        prepared
    }

    fn prepare_unauthenticated(&self, raw: &[u8]) -> Prepared {
        let sha: [u8; 32] = Sha256::digest(raw).into();
        let body_sha = body_sha256(raw);
        if self.attempts.failed_before(&sha) {
            self.attempts.resolve(&sha);
            let why = "csirtd died while analysing this message at an earlier attempt (an abort, such as a failed allocation, or three deaths in a row during its analysis); stored raw without analysis";
            return self.unanalysed(raw, sha, body_sha, why);
        }
        let attempt = self.attempts.begin(&sha);
        let run = AssertUnwindSafe(|| self.analysed(raw, sha, body_sha.clone()));
        let prepared = match catch_unwind(run) {
            Ok(p) => p,
            Err(_) => {
                let why = "analysis of this message panicked (a bug in csirtd or a library); stored raw without analysis";
                self.unanalysed(raw, sha, body_sha, why)
            }
        };
        drop(attempt);
        prepared
    }

    /// Records the ends of the analyses just done (see `attempts.rs`):
    /// called once the messages at hand are all prepared.
    pub fn settle_analyses(&self) {
        self.attempts.settle();
    }

    fn analysed(&self, raw: &[u8], sha: [u8; 32], body_sha: String) -> Prepared {
        #[cfg(debug_assertions)]
        test_faults(raw);
        let budget = Budget::new(self.budget);
        // One parse serves the ticket's facts and the indicator search.
        let (mut mail, found) = parse::parse_with(raw, &self.config.limits, |m| {
            crate::analysis::report::analyse(&self.extractor, &self.analyser, m, &budget)
        });
        let mut facts = found.unwrap_or_default();
        // Decided once, here, before anything else looks at the message.
        let examined = self.crypto.examine_within(raw, &mail, &budget);
        let mut indicators = std::mem::take(&mut facts.indicators);
        if let Some(plain) = examined.plaintext.as_deref() {
            let inner = crate::analysis::text::indicators(
                &self.extractor,
                plain,
                self.config.limits.max_message_size,
            );
            crate::analysis::text::merge(&mut indicators, inner);
        }
        within_indicator_budget(&mut indicators, &budget);
        let room = (budget.limits().indicators as usize).saturating_sub(indicators.len());
        facts.row_ips = crate::analysis::report::row_addresses(
            &facts.shadowserver,
            &self.extractor.ignore,
            room,
            &budget,
        );
        facts.constituencies = self.analyser.constituencies.label(&indicators);
        let verification = examined.verification;
        // TLP labels also count where only the recipient could read them:
        // the protected subject and the decrypted text.
        let plain_text = examined
            .plaintext
            .as_deref()
            .map(|p| String::from_utf8_lossy(body_of(p)).into_owned());
        let hidden = crate::analysis::tlp::strictest(
            "",
            plain_text.as_deref().unwrap_or(""),
            verification.inner_subject.as_deref(),
        );
        facts.tlp = facts.tlp.max(hidden);
        if let Some(inner) = verification.inner_subject.clone() {
            // Protected headers: the encrypted Subject is the real one.
            mail.subject = Some(inner);
        }
        let warnings = budget.warnings();
        if !warnings.is_empty() {
            mail.flags.insert(Flag::OverBudget);
            let over: Vec<&str> = budget.exceeded().iter().map(|o| o.key()).collect();
            tracing::warn!(sha256 = %hex::encode(sha), budgets = %crate::logging::list(&over), "message over budget; analysed up to the budget, stored whole");
        }
        let content_sha = content_sha256(raw, &body_sha);
        Prepared {
            sha,
            body_sha,
            content_sha,
            mail,
            verification,
            indicators,
            facts,
            plaintext: examined.plaintext,
            signed: examined.signed,
            warnings,
            authentication: crate::auth::Authentication::off(),
        }
    }

    /// A message stored with its header facts only (so that it is still
    /// threaded and answered), flagged and explained.
    fn unanalysed(&self, raw: &[u8], sha: [u8; 32], body_sha: String, why: &str) -> Prepared {
        tracing::error!(sha256 = %hex::encode(sha), size = raw.len(), "{why}");
        let mut mail = parse::parse_headers_only(raw, &self.config.limits);
        mail.flags.insert(Flag::AnalysisFailed);
        let content_sha = content_sha256(raw, &body_sha);
        Prepared {
            sha,
            body_sha,
            content_sha,
            mail,
            verification: Verification::new(Verdict::Error, format!("not examined: {why}")),
            indicators: Vec::new(),
            facts: Default::default(),
            plaintext: None,
            signed: None,
            warnings: vec![why.to_string()],
            authentication: crate::auth::Authentication::off(),
        }
    }
}

/// Text indicators past the message's indicator budget are dropped.
fn within_indicator_budget(indicators: &mut Vec<Indicator>, budget: &Budget) {
    let max = budget.limits().indicators as usize;
    if indicators.len() > max {
        indicators.truncate(max);
        budget.exceed(Over::Indicators);
    }
}

/// Debug builds only: lets the integration tests make analysis panic or
/// abort on a message holding a marker, the way a bug or a failed
/// allocation would. Release builds have no such switch.
#[cfg(debug_assertions)]
fn test_faults(raw: &[u8]) {
    let marked = |var: &str| {
        std::env::var_os(var).is_some_and(|m| {
            let m = m.as_encoded_bytes();
            !m.is_empty() && raw.windows(m.len()).any(|w| w == m)
        })
    };
    if marked("CSIRTD_TEST_ANALYSIS_ABORT") {
        std::process::abort();
    }
    if marked("CSIRTD_TEST_ANALYSIS_PANIC") {
        panic!("CSIRTD_TEST_ANALYSIS_PANIC: a test asked analysis to panic");
    }
}

/// The body of a MIME entity (after its header block), or all of it.
fn body_of(entity: &[u8]) -> &[u8] {
    let start = crate::mail::parse::header_end(entity).unwrap_or(0);
    entity.get(start..).unwrap_or(entity)
}
