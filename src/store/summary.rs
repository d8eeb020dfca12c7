//! The ticket list's index (issue 16): a small summary record per ticket,
//! the same summaries in order of last update, and facet entries (status,
//! assignee, category, TLP, constituency, requestor) that find the tickets
//! with one value without reading the others. A first page of a million
//! tickets reads a few hundred summaries instead of decoding every ticket.
//!
//! What a commit pays for it: one summary read and, when the summary
//! changed, three B-tree writes (the summary, and the update-order entry
//! moved). Facet entries are not B-tree keys: they ride in the correlation
//! index's pending record (index.rs) and are merged into its sorted runs
//! (runs.rs) with the indicators, and only when a facet changed. An entry
//! left behind by a change (a ticket once `new`, now `open`) is never
//! removed; every candidate is checked against its summary, which is the
//! truth, so a stale entry costs a read and never a wrong answer.
use super::commit::TxResult;
use super::index::Span;
use super::records::TicketRecord;
use super::*;
use crate::model::handling::Kind;
use crate::model::Flag;
use crate::workflow::commands::Tlp;
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;
use std::collections::BTreeSet;

/// What `ticket list` shows and filters on, and the first handler reply
/// that the SLA needs (not kept on the ticket itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSummary {
    pub id: TicketId,
    pub status: Status,
    pub subject: String,
    pub requestors: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub updated: i64,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub flags: BTreeSet<Flag>,
    pub messages: u32,
    #[serde(default)]
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<TicketId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// `fraud/phishing` or `fraud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlp: Option<Tlp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constituencies: Vec<String>,
    /// When a handler's reply was first relayed (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_reply: Option<i64>,
}

/// The category of a ticket as list and SLA name it.
pub fn category_of(t: &TicketRecord) -> Option<String> {
    t.classification.map(|c| match c.kind {
        Some(k) => format!("{}/{}", c.category.as_str(), k.as_str()),
        None => c.category.as_str().to_string(),
    })
}

impl TicketSummary {
    pub fn of(t: &TicketRecord, first_reply: Option<i64>) -> TicketSummary {
        TicketSummary {
            id: t.id,
            status: t.status,
            subject: t.subject.clone(),
            requestors: t.requestors.clone(),
            created: t.created_at.unix_timestamp(),
            updated: t.updated_at.unix_timestamp(),
            flags: t.flags.clone(),
            messages: t.message_count,
            kind: t.handling.kind,
            incident: t.handling.incident,
            assignee: t.handling.assignee.clone(),
            category: category_of(t),
            tlp: t.handling.tlp,
            constituencies: t.constituencies.clone(),
            first_reply,
        }
    }

    fn facet_keys(&self) -> BTreeSet<Vec<u8>> {
        let mut out = BTreeSet::new();
        let mut add = |tag: u8, value: &str| {
            out.insert(facet_key(tag, value, self.id));
        };
        add(F_STATUS, self.status.as_str());
        if let Some(a) = &self.assignee {
            add(F_ASSIGNEE, a);
        }
        if let Some(c) = &self.category {
            add(F_CATEGORY, top_category(c));
        }
        if let Some(t) = self.tlp {
            add(F_TLP, t.as_str());
        }
        for c in &self.constituencies {
            add(F_CONSTITUENCY, c);
        }
        for r in &self.requestors {
            add(F_REQUESTOR, r);
            if let Some(at) = r.rfind('@') {
                add(F_REQUESTOR, &r[at..]);
            }
        }
        out
    }
}

fn top_category(c: &str) -> &str {
    c.split('/').next().unwrap_or(c)
}

const F_STATUS: u8 = b's';
const F_ASSIGNEE: u8 = b'a';
const F_CATEGORY: u8 = b'g';
const F_TLP: u8 = b't';
const F_CONSTITUENCY: u8 = b'c';
const F_REQUESTOR: u8 = b'r';
/// Longer values are cut in the key; the summary decides the match.
const MAX_FACET_VALUE: usize = 200;

fn facet_prefix(tag: u8, value: &str) -> Vec<u8> {
    let v = value.trim().to_lowercase().replace('\0', "");
    let mut bytes = v.into_bytes();
    bytes.truncate(MAX_FACET_VALUE);
    let mut k = Vec::with_capacity(bytes.len() + 8);
    k.push(tag);
    k.extend_from_slice(&bytes);
    k.push(0);
    k
}

fn facet_key(tag: u8, value: &str, id: TicketId) -> Vec<u8> {
    let mut k = facet_prefix(tag, value);
    k.extend_from_slice(&id.to_key());
    k
}

fn update_key(updated: i64, id: TicketId) -> [u8; 14] {
    let mut k = [0u8; 14];
    // Biased so that times before 1970 still sort first.
    k[..8].copy_from_slice(&((updated as u64) ^ (1 << 63)).to_be_bytes());
    k[8..].copy_from_slice(&id.to_key());
    k
}

fn update_of(k: &[u8]) -> Option<i64> {
    let b: [u8; 8] = k.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

fn id_at_end(k: &[u8]) -> Option<TicketId> {
    TicketId::from_key(k.get(k.len().checked_sub(6)?..)?)
}

/// The tree byte of facet entries in the index runs (0 and 1 are the
/// correlation index's addresses and terms).
pub(crate) const FACET_TREE: u8 = 2;

/// Whether a facet entry names a requestor: personal data, which a purge
/// takes out of the runs.
pub(crate) fn is_requestor_facet(tree: u8, key: &[u8]) -> bool {
    tree == FACET_TREE && key.first() == Some(&F_REQUESTOR)
}

/// The pending-record key of facet entries from a commit that stores no
/// message of the ticket (a command, a merge's other side, a purge); one
/// per ticket, each write holding the ticket's whole facet set. Message
/// records are keyed by an 8-byte sequence number, so the two never meet.
pub(crate) fn facet_record_key(id: TicketId) -> [u8; 7] {
    let mut k = [0u8; 7];
    k[0] = b'f';
    k[1..].copy_from_slice(&id.to_key());
    k
}

/// Keeps the list index of `ticket` in step, inside its transaction.
/// `replied_at`: a handler's reply is relayed in this commit.
/// `message_seq`: a message of this ticket stored in this commit, whose
/// pending index record takes the facet entries.
pub(crate) fn write_tx(
    t: &[TransactionalTree],
    ticket: &TicketRecord,
    replied_at: Option<OffsetDateTime>,
    message_seq: Option<u64>,
) -> TxResult<()> {
    let key = ticket.id.to_key();
    let old: Option<TicketSummary> = t[T_SUMMARY]
        .get(key)?
        .and_then(|v| serde_json::from_slice(&v).ok());
    let replied = replied_at.map(|r| r.unix_timestamp());
    let first_reply = match (old.as_ref().and_then(|o| o.first_reply), replied) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let new = TicketSummary::of(ticket, first_reply);
    if old.as_ref() == Some(&new) {
        return Ok(());
    }
    let new_facets = new.facet_keys();
    if old.as_ref().map(|o| o.facet_keys()) != Some(new_facets.clone()) {
        let record_key = match message_seq {
            Some(seq) => seq.to_be_bytes().to_vec(),
            None => facet_record_key(new.id).to_vec(),
        };
        // The message's indicators may be in the record already (written
        // earlier in this transaction).
        let mut record = t[T_IND_PENDING]
            .get(&record_key)?
            .map(|v| v.to_vec())
            .unwrap_or_default();
        for k in &new_facets {
            super::runs::push_entry(&mut record, FACET_TREE, k);
        }
        t[T_IND_PENDING].insert(record_key, record)?;
    }
    let value = encode(&new);
    if let Some(o) = &old {
        if o.updated != new.updated {
            t[T_BY_UPDATE].remove(&update_key(o.updated, o.id))?;
        }
    }
    t[T_BY_UPDATE].insert(&update_key(new.updated, new.id), value.as_slice())?;
    t[T_SUMMARY].insert(&key, value)?;
    Ok(())
}

/// The first relayed handler reply among a ticket's stored messages.
pub fn first_reply_of(messages: &[MessageRecord]) -> Option<OffsetDateTime> {
    messages
        .iter()
        .filter(|m| is_handler_reply(m))
        .map(|m| m.stored_at)
        .min()
}

/// Relayed handler mail: what the first-reply SLA waits for (not acks,
/// notifications or digests).
pub fn is_handler_reply(m: &MessageRecord) -> bool {
    m.direction == crate::model::Direction::Out && m.origin == "relay"
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SortKey {
    Created,
    #[default]
    Updated,
    Id,
    Status,
}

/// A `ticket list` request. Text filters match case-insensitively;
/// `requestor` starting with `@` matches a domain.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub assignee: Option<String>,
    pub constituency: Option<String>,
    pub category: Option<String>,
    pub tlp: Option<Tlp>,
    pub requestor: Option<String>,
    /// Created at or after (Unix seconds).
    pub since: Option<i64>,
    /// Created before.
    pub until: Option<i64>,
    /// Only tickets not resolved or rejected (what can be overdue).
    pub open_only: bool,
    pub sort: SortKey,
    pub descending: bool,
    pub offset: usize,
    pub limit: usize,
}

/// How many matching tickets follow the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum More {
    Exactly(usize),
    /// Counting stopped (see [`COUNT_BUDGET`]).
    AtLeast(usize),
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub tickets: Vec<TicketSummary>,
    pub more: More,
}

/// A facet with at most this many tickets is read whole and sorted in
/// memory; a broader one is left to the ordered scan.
const CANDIDATE_CAP: usize = 5_000;
/// A facet with at most this many tickets is read whole to narrow an
/// ordered scan (its IDs only, a few MB at most).
const FACET_READ_CAP: usize = 100_000;
/// Rows passed after the page to count what follows it; beyond that the
/// count is "at least".
const COUNT_BUDGET: usize = 1_000;

/// Whether `s` passes every filter of `q`. Pure.
pub fn matches(q: &ListQuery, s: &TicketSummary) -> bool {
    let eq = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    q.status.is_none_or(|st| st == s.status)
        && q.tlp.is_none_or(|t| Some(t) == s.tlp)
        && q.assignee
            .as_deref()
            .is_none_or(|a| s.assignee.as_deref().is_some_and(|b| eq(a, b)))
        && q.constituency
            .as_deref()
            .is_none_or(|c| s.constituencies.iter().any(|b| eq(c, b)))
        && q.category.as_deref().is_none_or(|c| {
            s.category.as_deref().is_some_and(|b| {
                let (c, b) = (c.trim().to_ascii_lowercase(), b.to_ascii_lowercase());
                b == c || b.starts_with(&format!("{c}/"))
            })
        })
        && q.requestor.as_deref().is_none_or(|r| {
            let r = r.trim().to_lowercase();
            s.requestors.iter().any(|b| {
                let b = b.to_lowercase();
                if r.starts_with('@') {
                    b.ends_with(&r)
                } else {
                    b == r
                }
            })
        })
        && !(q.open_only && matches!(s.status, Status::Resolved | Status::Rejected))
        && q.since.is_none_or(|t| s.created >= t)
        && q.until.is_none_or(|t| s.created < t)
}

fn status_rank(s: Status) -> u8 {
    match s {
        Status::New => 0,
        Status::Open => 1,
        Status::Stalled => 2,
        Status::Resolved => 3,
        Status::Rejected => 4,
    }
}

const STATUSES: [Status; 5] = [
    Status::New,
    Status::Open,
    Status::Stalled,
    Status::Resolved,
    Status::Rejected,
];

/// Orders summaries as `q` asks; ties by ID. Pure.
pub fn sort(q: &ListQuery, list: &mut [TicketSummary]) {
    list.sort_by(|a, b| {
        let o = match q.sort {
            SortKey::Updated => a.updated.cmp(&b.updated),
            SortKey::Created => a.created.cmp(&b.created),
            SortKey::Id => std::cmp::Ordering::Equal,
            SortKey::Status => status_rank(a.status).cmp(&status_rank(b.status)),
        }
        .then(a.id.cmp(&b.id));
        if q.descending {
            o.reverse()
        } else {
            o
        }
    });
}

type Rows<'a> = Box<dyn Iterator<Item = Result<Option<TicketSummary>>> + 'a>;

/// The tickets of one facet value, from the index runs and the records not
/// merged yet, ascending. `complete`: every entry was read (fewer than
/// `bound`); otherwise the list is a part.
struct FacetIds {
    ids: Vec<TicketId>,
    complete: bool,
}

impl Store {
    /// Whether the list index is there: a store from before schema 4 that
    /// was not migrated (a read-only command) has tickets but no summaries.
    fn summaries_missing(&self) -> bool {
        self.trees[T_SUMMARY].is_empty() && !self.trees[T_TICKETS].is_empty()
    }

    pub fn summary(&self, id: TicketId) -> Result<Option<TicketSummary>> {
        match self.trees[T_SUMMARY].get(id.to_key())? {
            Some(v) => Ok(Some(decode(&v, "ticket summary")?)),
            None => Ok(None),
        }
    }

    fn facet_ids(&self, prefix: &[u8], bound: usize) -> Result<FacetIds> {
        let span = Span::Prefix(prefix.to_vec());
        let mut hits = Vec::new();
        {
            // A merge moves entries from the records to a run under the
            // other side of this lock: never seen in neither.
            let _view = self.index_view.read().unwrap_or_else(|p| p.into_inner());
            self.find_in_runs_of(FACET_TREE, &span, bound, &mut hits)?;
            for item in self.trees[T_IND_PENDING].iter() {
                let (_, v) = item?;
                for (t, k) in super::runs::decode_entries(&v) {
                    if t == FACET_TREE && k.starts_with(prefix) {
                        hits.extend(id_at_end(k));
                    }
                }
            }
        }
        let complete = hits.len() < bound;
        hits.sort_unstable();
        hits.dedup();
        Ok(FacetIds {
            ids: hits,
            complete,
        })
    }

    /// One page of the tickets that pass `q` and `extra` (the SLA's
    /// overdue test, which needs the configuration and the clock).
    pub fn list(&self, q: &ListQuery, extra: &dyn Fn(&TicketSummary) -> bool) -> Result<ListPage> {
        if self.summaries_missing() {
            return self.list_from_records(q, extra);
        }
        let members = self.members(q)?;
        if let Some(ids) = members.as_ref().filter(|m| m.len() <= CANDIDATE_CAP) {
            let mut all = Vec::new();
            for id in ids {
                if let Some(s) = self.summary(*id)? {
                    if matches(q, &s) && extra(&s) {
                        all.push(s);
                    }
                }
            }
            return Ok(page_of(q, all));
        }
        // Too many to read whole: the ordered scan passes over the keys of
        // tickets outside the set without decoding their summaries.
        let member = move |k: &[u8]| {
            members
                .as_ref()
                .is_none_or(|m| id_at_end(k).is_some_and(|id| m.binary_search(&id).is_ok()))
        };
        let rows: Rows<'_> = match q.sort {
            SortKey::Updated => {
                let it = self.trees[T_BY_UPDATE].iter();
                let it: Box<dyn Iterator<Item = _>> = if q.descending {
                    Box::new(it.rev())
                } else {
                    Box::new(it)
                };
                let since = q.since.filter(|_| q.descending);
                Box::new(it.map(move |item| -> Result<Option<TicketSummary>> {
                    let (k, v) = item?;
                    // Updated no earlier than created: past `since`,
                    // nothing later in this order can match.
                    if since.is_some_and(|s| update_of(&k).is_some_and(|u| u < s)) {
                        return Err(StoreError::Conflict(STOP.into()));
                    }
                    if !member(&k) {
                        return Ok(None);
                    }
                    Ok(Some(decode(&v, "ticket summary")?))
                }))
            }
            SortKey::Id | SortKey::Created => {
                let it = self.trees[T_SUMMARY].iter();
                let it: Box<dyn Iterator<Item = _>> = if q.descending {
                    Box::new(it.rev())
                } else {
                    Box::new(it)
                };
                Box::new(it.map(move |item| {
                    let (k, v) = item?;
                    if !member(&k) {
                        return Ok(None);
                    }
                    Ok(Some(decode(&v, "ticket summary")?))
                }))
            }
            SortKey::Status => {
                let mut order = STATUSES.to_vec();
                if q.descending {
                    order.reverse();
                }
                let desc = q.descending;
                Box::new(order.into_iter().flat_map(move |st| -> Rows<'_> {
                    let prefix = facet_prefix(F_STATUS, st.as_str());
                    match self.facet_ids(&prefix, usize::MAX) {
                        Err(e) => Box::new(std::iter::once(Err(e))),
                        Ok(f) => {
                            let ids: Box<dyn Iterator<Item = TicketId>> = if desc {
                                Box::new(f.ids.into_iter().rev())
                            } else {
                                Box::new(f.ids.into_iter())
                            };
                            // A stale entry (the status changed since) is
                            // skipped; read lazily, so a page stops early.
                            Box::new(
                                ids.map(move |id| Ok(self.summary(id)?.filter(|s| s.status == st))),
                            )
                        }
                    }
                }))
            }
        };
        stream_page(q, extra, rows)
    }

    /// The tickets that can match `q` as far as its facet filters tell:
    /// the intersection of every filter whose tickets could be read whole,
    /// sorted; None when no filter could (or none is given). Filters are
    /// first read up to [`CANDIDATE_CAP`] tickets each; only when none fits
    /// are they read up to [`FACET_READ_CAP`] (and twice the smallest
    /// read), so that two broad filters with a narrow intersection (a
    /// constituency and TLP:RED) still avoid decoding every summary.
    fn members(&self, q: &ListQuery) -> Result<Option<Vec<TicketId>>> {
        // In the order of how narrow each filter usually is in a team's
        // store (a requestor, the open statuses, a constituency, a TLP,
        // a handler's years of tickets, a category), as the broad ones are
        // read whole only while they are not much larger than the
        // narrowest read so far.
        let mut filters: Vec<Vec<Vec<u8>>> = Vec::new();
        if let Some(r) = &q.requestor {
            filters.push(vec![facet_prefix(F_REQUESTOR, r)]);
        }
        if let Some(s) = q.status {
            filters.push(vec![facet_prefix(F_STATUS, s.as_str())]);
        } else if q.open_only {
            filters.push(
                [Status::New, Status::Open, Status::Stalled]
                    .iter()
                    .map(|s| facet_prefix(F_STATUS, s.as_str()))
                    .collect(),
            );
        }
        if let Some(c) = &q.constituency {
            filters.push(vec![facet_prefix(F_CONSTITUENCY, c)]);
        }
        if let Some(t) = q.tlp {
            filters.push(vec![facet_prefix(F_TLP, t.as_str())]);
        }
        if let Some(a) = &q.assignee {
            filters.push(vec![facet_prefix(F_ASSIGNEE, a)]);
        }
        if let Some(c) = &q.category {
            filters.push(vec![facet_prefix(F_CATEGORY, top_category(c.trim()))]);
        }
        let mut sets = Vec::new();
        let mut broad = Vec::new();
        for f in filters {
            match self.facet_union(&f, CANDIDATE_CAP)? {
                Some(ids) => sets.push(ids),
                None => broad.push(f),
            }
        }
        if sets.is_empty() {
            let mut cap = FACET_READ_CAP;
            for f in broad {
                if let Some(ids) = self.facet_union(&f, cap)? {
                    // A set much larger than one already read narrows
                    // less than reading it costs: the summaries decide.
                    cap = cap.min(ids.len().saturating_mul(2));
                    sets.push(ids);
                }
            }
        }
        let mut sets = sets.into_iter();
        let Some(first) = sets.next() else {
            return Ok(None);
        };
        Ok(Some(sets.fold(first, |have, ids| intersect(&have, &ids))))
    }

    /// The tickets under any of `prefixes`, sorted; None when they are
    /// more than `cap`.
    fn facet_union(&self, prefixes: &[Vec<u8>], cap: usize) -> Result<Option<Vec<TicketId>>> {
        let mut ids = Vec::new();
        for p in prefixes {
            let f = self.facet_ids(p, cap + 1)?;
            if !f.complete {
                return Ok(None);
            }
            ids.extend(f.ids);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok((ids.len() <= cap).then_some(ids))
    }

    /// Without the index (an older store read as it is): every ticket
    /// decoded, as before schema 4.
    fn list_from_records(
        &self,
        q: &ListQuery,
        extra: &dyn Fn(&TicketSummary) -> bool,
    ) -> Result<ListPage> {
        let mut all = Vec::new();
        for t in self.tickets(None)? {
            let first = first_reply_of(&self.messages(t.id)?).map(|r| r.unix_timestamp());
            let s = TicketSummary::of(&t, first);
            if matches(q, &s) && extra(&s) {
                all.push(s);
            }
        }
        Ok(page_of(q, all))
    }

    /// Builds the list index from the tickets (`csirtd migrate` to schema
    /// 4, and the benchmark's fill); returns how many tickets it indexed.
    pub fn build_summaries(&self) -> Result<usize> {
        let mut n = 0;
        let mut batch = SummaryBatch::default();
        for item in self.trees[T_TICKETS].iter() {
            let (_, v) = item?;
            let t: TicketRecord = decode(&v, "ticket")?;
            let first = first_reply_of(&self.messages(t.id)?).map(|r| r.unix_timestamp());
            batch.add(&TicketSummary::of(&t, first));
            n += 1;
            if n % 50_000 == 0 {
                self.apply_summaries(std::mem::take(&mut batch))?;
            }
        }
        self.apply_summaries(batch)?;
        Ok(n)
    }

    pub(crate) fn apply_summaries(&self, b: SummaryBatch) -> Result<()> {
        self.trees[T_SUMMARY].apply_batch(b.summaries)?;
        self.trees[T_BY_UPDATE].apply_batch(b.by_update)?;
        if !b.facets.is_empty() {
            self.write_index_run(b.facets)?;
        }
        Ok(())
    }
}

fn intersect(a: &[TicketId], b: &[TicketId]) -> Vec<TicketId> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .iter()
        .filter(|id| large.binary_search(id).is_ok())
        .copied()
        .collect()
}

/// Index entries of tickets written outside a transaction (bulk loading,
/// migration).
#[derive(Default)]
pub(crate) struct SummaryBatch {
    summaries: sled::Batch,
    by_update: sled::Batch,
    facets: Vec<super::runs::Entry>,
}

impl SummaryBatch {
    pub(crate) fn add(&mut self, s: &TicketSummary) {
        let value = encode(s);
        self.by_update
            .insert(&update_key(s.updated, s.id), value.as_slice());
        self.summaries.insert(&s.id.to_key(), value);
        for k in s.facet_keys() {
            self.facets.push((FACET_TREE, k));
        }
    }
}

/// Stops an ordered scan early (see `since`); not an error to the caller.
const STOP: &str = "\0stop";

fn page_of(q: &ListQuery, mut all: Vec<TicketSummary>) -> ListPage {
    sort(q, &mut all);
    let total = all.len();
    let tickets: Vec<_> = all.into_iter().skip(q.offset).take(q.limit).collect();
    let more = total.saturating_sub(q.offset.saturating_add(tickets.len()));
    ListPage {
        tickets,
        more: More::Exactly(more),
    }
}

fn stream_page(
    q: &ListQuery,
    extra: &dyn Fn(&TicketSummary) -> bool,
    rows: Rows<'_>,
) -> Result<ListPage> {
    let mut skipped = 0;
    let mut tickets = Vec::new();
    let mut more = 0;
    let mut read_after = 0;
    for row in rows {
        // Every row after the page counts against the budget, skipped
        // ones too: counting must not become a walk over the whole store.
        if tickets.len() >= q.limit {
            read_after += 1;
            if read_after > COUNT_BUDGET {
                return Ok(ListPage {
                    tickets,
                    more: More::AtLeast(more),
                });
            }
        }
        let s = match row {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(StoreError::Conflict(m)) if m == STOP => break,
            Err(e) => return Err(e),
        };
        if !(matches(q, &s) && extra(&s)) {
            continue;
        }
        if skipped < q.offset {
            skipped += 1;
        } else if tickets.len() < q.limit {
            tickets.push(s);
        } else {
            more += 1;
        }
    }
    Ok(ListPage {
        tickets,
        more: More::Exactly(more),
    })
}

impl Store {
    /// Tickets with this requestor address, or with a requestor of this
    /// `@domain`, newest first (for `csirtd search`).
    pub fn by_requestor(&self, value: &str, limit: usize) -> Result<Vec<TicketId>> {
        if self.summaries_missing() {
            let q = ListQuery {
                requestor: Some(value.to_string()),
                sort: SortKey::Id,
                descending: true,
                limit,
                ..Default::default()
            };
            return Ok(self
                .list_from_records(&q, &|_| true)?
                .tickets
                .into_iter()
                .map(|s| s.id)
                .collect());
        }
        let f = self.facet_ids(&facet_prefix(F_REQUESTOR, value), usize::MAX)?;
        Ok(f.ids.into_iter().rev().take(limit).collect())
    }
}

impl Store {
    /// Test support: the store as a csirtd of schema 3 left it.
    #[doc(hidden)]
    pub fn drop_list_index_for_tests(&self) -> Result<()> {
        for t in [T_SUMMARY, T_BY_UPDATE] {
            self.trees[t].clear()?;
        }
        self.flush()
    }
}

impl Store {
    /// The list index of tickets written by `bulk_load_tickets` (the
    /// benchmark's fill); kept apart so that the search benchmark's fill
    /// stays as it was.
    pub fn bulk_load_summaries(
        &self,
        tickets: &[(TicketRecord, Vec<crate::analysis::indicators::Indicator>)],
    ) -> Result<()> {
        let mut b = SummaryBatch::default();
        for (t, _) in tickets {
            b.add(&TicketSummary::of(t, None));
        }
        self.apply_summaries(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersections_keep_what_both_hold() {
        let id = |n| TicketId::new(2026, n);
        let a = vec![id(1), id(3), id(5), id(7)];
        let b = vec![id(3), id(4), id(7)];
        assert_eq!(intersect(&a, &b), vec![id(3), id(7)]);
        assert_eq!(intersect(&b, &a), vec![id(3), id(7)]);
        assert!(intersect(&a, &[]).is_empty());
    }

    /// Every way `list` can take (a small facet read whole, broad facets
    /// intersected, an ordered scan passing over non-members, counting
    /// cut short) gives the page a decode of every summary gives.
    #[test]
    fn every_path_gives_what_a_scan_of_all_summaries_gives() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), 16).unwrap();
        let base = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let statuses = [
            Status::New,
            Status::Open,
            Status::Resolved,
            Status::Resolved,
        ];
        let batch: Vec<_> = (1..=12_000u32)
            .map(|n| {
                let created = base + time::Duration::minutes(i64::from(n));
                let mut t = TicketRecord::new(
                    TicketId::new(2026, n),
                    format!("r{n}"),
                    vec![format!("a{}@d{}.example", n % 300, n % 7)],
                    created,
                );
                t.updated_at = created + time::Duration::seconds(i64::from(n * 7919 % 100_000));
                t.status = statuses[(n % 4) as usize];
                t.handling.assignee =
                    (n % 3 != 0).then(|| ["alice", "bob"][(n % 2) as usize].into());
                t.constituencies = vec![format!("c{}", n % 3)];
                t.handling.tlp = Some(if n % 10 == 0 { Tlp::Red } else { Tlp::Green });
                (t, Vec::new())
            })
            .collect();
        store.bulk_load_tickets(&batch).unwrap();
        store.bulk_load_summaries(&batch).unwrap();
        let all: Vec<TicketSummary> = batch
            .iter()
            .map(|(t, _)| TicketSummary::of(t, None))
            .collect();
        let queries = [
            ListQuery::default(),
            ListQuery {
                status: Some(Status::New),
                ..Default::default()
            },
            ListQuery {
                open_only: true,
                sort: SortKey::Created,
                ..Default::default()
            },
            ListQuery {
                constituency: Some("c1".into()),
                tlp: Some(Tlp::Red),
                ..Default::default()
            },
            ListQuery {
                assignee: Some("bob".into()),
                status: Some(Status::Open),
                sort: SortKey::Id,
                descending: true,
                ..Default::default()
            },
            ListQuery {
                requestor: Some("@d3.example".into()),
                sort: SortKey::Status,
                ..Default::default()
            },
            ListQuery {
                requestor: Some("a7@d0.example".into()),
                ..Default::default()
            },
            ListQuery {
                tlp: Some(Tlp::Green),
                constituency: Some("c2".into()),
                offset: 100,
                ..Default::default()
            },
            ListQuery {
                status: Some(Status::Resolved),
                since: Some(base.unix_timestamp() + 6000 * 60),
                ..Default::default()
            },
        ];
        for q in queries {
            let q = ListQuery {
                limit: 50,
                descending: q.descending || q.sort == SortKey::Updated,
                ..q
            };
            let page = store.list(&q, &|_| true).unwrap();
            let mut want: Vec<TicketSummary> =
                all.iter().filter(|s| matches(&q, s)).cloned().collect();
            sort(&q, &mut want);
            let total = want.len();
            let want: Vec<TicketId> = want
                .into_iter()
                .skip(q.offset)
                .take(q.limit)
                .map(|s| s.id)
                .collect();
            let got: Vec<TicketId> = page.tickets.iter().map(|s| s.id).collect();
            assert_eq!(got, want, "{q:?}");
            let more = total.saturating_sub(q.offset + got.len());
            match page.more {
                More::Exactly(n) => assert_eq!(n, more, "{q:?}"),
                More::AtLeast(n) => {
                    assert!(n <= more && more > COUNT_BUDGET / 2, "{q:?}: {n} of {more}")
                }
            }
        }
    }

    #[test]
    fn facet_records_never_meet_message_records() {
        let k = facet_record_key(TicketId::new(2026, 42));
        assert_ne!(k.len(), 8, "message records are keyed by 8 bytes");
        assert!(is_requestor_facet(
            FACET_TREE,
            &facet_key(F_REQUESTOR, "a@b.example", TicketId::new(2026, 1))
        ));
        assert!(!is_requestor_facet(
            1,
            &facet_key(F_REQUESTOR, "a@b.example", TicketId::new(2026, 1))
        ));
        assert!(!is_requestor_facet(
            FACET_TREE,
            &facet_key(F_STATUS, "open", TicketId::new(2026, 1))
        ));
    }
}
