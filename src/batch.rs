//! Batches of messages through the pipeline: prepare (parse and verify, on
//! every core), commit one after another, one flush for the batch, and only
//! then tell each source its messages are done.
//!
//! Committing is sequential (each decision sees the one before it) while
//! preparing needs no store, so the intake overlaps them: the next batch is
//! prepared on the other cores while this one commits. Without the overlap
//! one core sat idle for the whole commit phase.

use crate::intake::{Disposition, Origin, RawMessage, Source};
use crate::store::SealedEntry;
use crate::workflow::decide::Placement;
use crate::workflow::pipeline::{Pipeline, Prepared};
use crate::workflow::seal::SealJob;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What one durable batch did, for logs and the benchmark.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub stored: usize,
    pub failed: usize,
    pub created: usize,
    pub appended: usize,
    pub duplicates: usize,
    /// Stored, and put in their source's quarantine (hostile structure).
    pub quarantined: usize,
    /// Per message: from being handed out by its source to being released
    /// by it after the durable commit.
    pub latencies: Vec<Duration>,
    /// The OpenPGP verdict of each stored message.
    pub verdicts: Vec<crate::pgp::Verdict>,
    /// The commits and the flush of the batch (not the preparing beside them).
    pub commit_time: Duration,
}

impl BatchReport {
    /// One message stored outside a batch (an `ingest`), counted as the
    /// batch counts its messages once they are durable.
    pub fn count(&mut self, placement: &Placement, verdict: crate::pgp::Verdict) {
        self.placed(placement);
        self.stored += 1;
        self.verdicts.push(verdict);
    }

    /// Where a committed message went.
    fn placed(&mut self, placement: &Placement) {
        match placement {
            Placement::Created(_) => self.created += 1,
            Placement::Appended(_) => self.appended += 1,
            Placement::Duplicate(_) => self.duplicates += 1,
        }
    }
}

/// Messages handed out by the sources: (source index, message, when).
pub type Batch = Vec<(usize, RawMessage, Instant)>;

/// A batch whose messages are prepared and wait for their commit.
pub struct Ready {
    batch: Batch,
    prepared: Vec<Prepared>,
}

impl Ready {
    pub fn prepare(pipeline: &Pipeline, batch: Batch) -> Ready {
        let prepared = prepare_parallel(pipeline, &batch);
        Ready { batch, prepared }
    }
}

/// Commits `ready` while `next` is prepared beside it, then flushes and
/// tells the sources. Returns what the batch did and `next`, prepared (none
/// when `next` is empty). `next` was already handed out by its sources,
/// which keep it in flight: nobody else gets those messages meanwhile.
pub fn commit_overlapped(
    pipeline: &Pipeline,
    sources: &mut [Box<dyn Source>],
    ready: Ready,
    next: Batch,
    durable: Option<&watch::Sender<u64>>,
) -> (BatchReport, Option<Ready>) {
    let (outcome, prepared_next) = std::thread::scope(|scope| {
        let ahead = (!next.is_empty()).then(|| {
            scope.spawn(|| {
                // The sequential commits set the pace; preparing ahead
                // (and the workers it starts, which inherit this) takes
                // whatever CPU they leave, rather than half of it.
                lower_thread_priority();
                prepare_parallel(pipeline, &next)
            })
        });
        let started = Instant::now();
        let mut outcome = commit_all(pipeline, ready);
        outcome.report.commit_time = started.elapsed();
        let prepared_next = ahead.map(|h| {
            // prepare() does not panic on input; a panic is a bug worth stopping for.
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        (outcome, prepared_next)
    });
    let report = release(pipeline, sources, outcome, durable);
    // The committed batch's mail and parses are freed: their pages go back
    // now, not when this thread next happens to collect (issue 18).
    crate::alloc::collect();
    let next = prepared_next.map(|prepared| Ready {
        batch: next,
        prepared,
    });
    (report, next)
}

/// A committed (not yet durable) message on its way back to its source.
struct Committed {
    source: usize,
    origin: Origin,
    started: Instant,
    placement: Placement,
    size: usize,
    disposition: Disposition,
    verdict: crate::pgp::Verdict,
}

struct Outcome {
    report: BatchReport,
    committed: Vec<Committed>,
    /// Not stored: handed back to their source for a later poll.
    failed: Vec<(usize, Origin)>,
}

/// Commits one message after another while a second thread signs their
/// outgoing mail (committed in state `sealing`); the signatures are
/// recorded before the batch's flush, so nothing unsigned becomes durable
/// without its signature following in the same flush.
fn commit_all(pipeline: &Pipeline, ready: Ready) -> Outcome {
    std::thread::scope(|scope| {
        let (jobs, queue) = std::sync::mpsc::channel::<SealJob>();
        let sealer = scope.spawn(move || queue.into_iter().map(|j| pipeline.seal(j)).collect());
        // The earlier batches' index records become one run beside these
        // commits; this batch's wait for the next (a search reads both).
        scope.spawn(|| merge_step(pipeline));
        let out = commit_each(pipeline, ready, &jobs);
        drop(jobs);
        let sealed: Vec<SealedEntry> = sealer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        if let Err(e) = pipeline.finish_sealing(&sealed) {
            // The entries stay `sealing`, never sent; the next start signs them.
            tracing::error!(error = %e, count = sealed.len(), "cannot record the signatures of outgoing mail; it is signed again when the daemon next starts");
        }
        out
    })
}

fn commit_each(pipeline: &Pipeline, ready: Ready, jobs: &Sender<SealJob>) -> Outcome {
    let mut out = Outcome {
        report: BatchReport::default(),
        committed: Vec::with_capacity(ready.batch.len()),
        failed: Vec::new(),
    };
    for ((source, msg, started), prepared) in ready.batch.into_iter().zip(ready.prepared) {
        let origin = msg.origin.to_string();
        let now = time::OffsetDateTime::now_utc();
        let verdict = prepared.verdict();
        match pipeline.commit_from(prepared, &msg.bytes, &msg.origin, now) {
            Ok(mut p) => {
                for job in std::mem::take(&mut p.seal) {
                    // The sealer lives until `jobs` is dropped.
                    let _ = jobs.send(job);
                }
                out.report.placed(&p.placement);
                if !p.flags.is_empty() {
                    let flags: Vec<&str> = p.flags.iter().map(|f| f.as_str()).collect();
                    tracing::warn!(ticket = %p.placement.ticket(), %origin, flags = %crate::logging::list(&flags), "message flagged");
                }
                out.committed.push(Committed {
                    source,
                    origin: msg.origin,
                    started,
                    placement: p.placement,
                    size: msg.bytes.len(),
                    disposition: Disposition::for_flags(&p.flags),
                    verdict,
                });
            }
            Err(e) => {
                out.report.failed += 1;
                tracing::error!(%origin, error = %e, "message not stored; it stays in its source and is retried");
                out.failed.push((source, msg.origin));
            }
        }
    }
    out
}

/// Index records sorted into one run per merge step: a few batches' worth,
/// so that runs are not tiny and a step stays short.
const MERGE_STEP: usize = 4096;

/// One merge step of the pending index records; returns how many it took.
fn merge_step(pipeline: &Pipeline) -> usize {
    pipeline
        .store()
        .merge_pending_index(MERGE_STEP)
        .unwrap_or_else(|e| {
            // The records stay and are merged later; searches read them meanwhile.
            tracing::warn!(error = %e, "cannot merge index records yet");
            0
        })
}

/// Merges pending index records until none is left (the intake is idle);
/// returns how many.
pub fn merge_index(pipeline: &Pipeline) -> usize {
    let mut merged = 0;
    loop {
        match merge_step(pipeline) {
            0 => return merged,
            n => merged += n,
        }
    }
}

/// One flush for the batch, then each source is told.
fn release(
    pipeline: &Pipeline,
    sources: &mut [Box<dyn Source>],
    outcome: Outcome,
    durable: Option<&watch::Sender<u64>>,
) -> BatchReport {
    let Outcome {
        mut report,
        committed,
        failed,
    } = outcome;
    for (source, origin) in &failed {
        if let Some(s) = sources.get_mut(*source) {
            s.release(origin);
        }
    }
    if committed.is_empty() {
        return report;
    }
    let flush_started = Instant::now();
    let flushed = pipeline.store().flush();
    report.commit_time += flush_started.elapsed();
    if let Err(e) = flushed {
        tracing::error!(error = %e, "flush failed; no message of this batch is released from its source");
        for c in &committed {
            if let Some(s) = sources.get_mut(c.source) {
                s.release(&c.origin);
            }
        }
        report.failed += committed.len();
        return report;
    }
    if let Some(tx) = durable {
        if let Ok(hw) = pipeline.store().outbox_high_water() {
            let _ = tx.send(hw);
        }
    }
    for c in committed {
        // Logged only now: before the flush, a crash could still undo it.
        tracing::info!(ticket = %c.placement.ticket(), outcome = c.placement.word(), origin = %c.origin, size = c.size, "message stored");
        if c.disposition == Disposition::Quarantine {
            report.quarantined += 1;
            tracing::warn!(ticket = %c.placement.ticket(), origin = %c.origin, "hostile structure: the source copy goes to quarantine");
        }
        if let Some(s) = sources.get_mut(c.source) {
            if let Err(e) = s.done(&c.origin, c.disposition) {
                // Stored and durable: a second pass will be a duplicate, not a loss.
                tracing::warn!(origin = %c.origin, error = %e, "stored, but the source could not be told; it will be seen again as a duplicate");
            }
        }
        report.stored += 1;
        report.verdicts.push(c.verdict);
        report.latencies.push(c.started.elapsed());
    }
    report
}

/// Parses and verifies a batch on every core.
fn prepare_parallel(pipeline: &Pipeline, batch: &[(usize, RawMessage, Instant)]) -> Vec<Prepared> {
    let prepared = prepare_each(pipeline, batch);
    pipeline.settle_analyses();
    prepared
}

fn prepare_each(pipeline: &Pipeline, batch: &[(usize, RawMessage, Instant)]) -> Vec<Prepared> {
    // Sender authentication first, for the whole batch: its DNS lookups
    // overlap rather than wait one after another.
    let raws: Vec<&[u8]> = batch.iter().map(|(_, m, _)| m.bytes.as_slice()).collect();
    let auths = pipeline.authenticate(&raws);
    let jobs: Vec<(&[u8], crate::auth::Authentication)> = raws.into_iter().zip(auths).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    if threads == 1 || batch.len() < 8 {
        return jobs
            .into_iter()
            .map(|(raw, auth)| pipeline.prepare_with(raw, auth))
            .collect();
    }
    let chunk = jobs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(raw, auth)| pipeline.prepare_with(raw, auth.clone()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Makes the calling thread (and the threads it starts later) yield the
/// CPU to the others of this process; a failure only costs throughput.
fn lower_thread_priority() {
    // SAFETY: plain system calls on the calling thread's own ID.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
    }
}

/// Messages asked of a source at a time while a batch fills: its bytes
/// are counted between asks, so a batch ends at most this many messages
/// past its byte bound.
const POLL_STEP: usize = 8;

/// Pulls up to `max` messages across the sources, in order, and stops
/// adding once they hold `max_bytes` (a batch holds its mail raw and
/// parsed until its flush: the bound keeps large mail from multiplying
/// memory by `max`).
pub fn poll_sources(sources: &mut [Box<dyn Source>], max: usize, max_bytes: usize) -> Batch {
    let mut batch = Vec::new();
    let mut bytes = 0usize;
    for (i, s) in sources.iter_mut().enumerate() {
        while batch.len() < max && bytes < max_bytes {
            match s.poll(POLL_STEP.min(max - batch.len())) {
                Ok(msgs) if msgs.is_empty() => break,
                Ok(msgs) => {
                    let now = Instant::now();
                    bytes = msgs
                        .iter()
                        .fold(bytes, |b, m| b.saturating_add(m.bytes.len()));
                    batch.extend(msgs.into_iter().map(|m| (i, m, now)));
                }
                Err(e) => {
                    tracing::warn!(source = %s.name(), error = %e, "cannot read from source; retrying");
                    break;
                }
            }
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{Disposition, IntakeError};

    /// Hands out `left` messages of `size` bytes each.
    struct Fake {
        left: usize,
        size: usize,
    }

    impl Source for Fake {
        fn name(&self) -> String {
            "fake".into()
        }
        fn poll(&mut self, max: usize) -> Result<Vec<RawMessage>, IntakeError> {
            let n = max.min(self.left);
            self.left -= n;
            Ok((0..n)
                .map(|_| RawMessage {
                    bytes: vec![b'x'; self.size],
                    origin: Origin::Stdin,
                })
                .collect())
        }
        fn done(&mut self, _: &Origin, _: Disposition) -> Result<(), IntakeError> {
            Ok(())
        }
        fn release(&mut self, _: &Origin) {}
    }

    fn sources(list: &[(usize, usize)]) -> Vec<Box<dyn Source>> {
        list.iter()
            .map(|&(left, size)| Box::new(Fake { left, size }) as Box<dyn Source>)
            .collect()
    }

    #[test]
    fn a_batch_ends_at_its_count_across_sources() {
        let mut s = sources(&[(5, 10), (100, 10)]);
        let batch = poll_sources(&mut s, 64, usize::MAX);
        assert_eq!(batch.len(), 64);
        assert_eq!(batch.iter().filter(|(i, _, _)| *i == 0).count(), 5);
        assert_eq!(poll_sources(&mut s, 64, usize::MAX).len(), 41);
        assert!(poll_sources(&mut s, 64, usize::MAX).is_empty());
    }

    #[test]
    fn large_mail_ends_a_batch_early_at_its_byte_bound() {
        // 100 messages of 1 MiB, a bound of 10 MiB: a batch stops within
        // one poll step past the bound, far short of the count.
        let mut s = sources(&[(100, 1 << 20)]);
        let batch = poll_sources(&mut s, 256, 10 << 20);
        assert!(
            (10..10 + POLL_STEP).contains(&batch.len()),
            "{} messages",
            batch.len()
        );
        // The rest comes in later batches; nothing is lost.
        let mut total = batch.len();
        loop {
            let b = poll_sources(&mut s, 256, 10 << 20);
            if b.is_empty() {
                break;
            }
            assert!(b.len() < 10 + POLL_STEP);
            total += b.len();
        }
        assert_eq!(total, 100);
    }

    #[test]
    fn one_message_over_the_bound_still_makes_a_batch() {
        let mut s = sources(&[(1, 64 << 20)]);
        assert_eq!(poll_sources(&mut s, 256, 8 << 20).len(), 1);
    }
}
