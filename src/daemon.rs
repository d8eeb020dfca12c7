//! `csirtd run`: the intake loop on a blocking thread (sled and the Maildir
//! are blocking I/O), one async task per IMAP account feeding it, the
//! outbox sender as an async task, one shared shutdown signal. SIGTERM or
//! SIGINT finishes the batch in hand, flushes, tells the sources (the IMAP
//! tasks move what was stored and log out), and exits 0. SIGHUP reloads
//! what the pipeline alone uses (see `reload`).

use crate::config::Config;
use crate::intake::maildir::MaildirSource;
use crate::intake::{Source, Wakeup};
use crate::outbox::sender::Sender;
use crate::reload::Current;
use crate::store::Store;
use crate::workflow::pipeline::Pipeline;
use anyhow::Context as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use crate::batch::{commit_overlapped, poll_sources, Ready};

/// The configured sources, and the tasks behind the network ones (to be
/// awaited after the intake thread has dropped the sources).
pub struct Sources {
    pub list: Vec<Box<dyn Source>>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Each IMAP account's name and status, for the monitor.
    pub accounts: Vec<(String, Arc<crate::intake::imap::status::AccountStatus>)>,
}

/// Must run inside the tokio runtime: IMAP accounts start their tasks.
pub fn sources_from_config(
    cfg: &Config,
    store: &Store,
    shutdown: &watch::Receiver<bool>,
    wake: &Wakeup,
) -> anyhow::Result<Sources> {
    let mut sources = Sources {
        list: Vec::new(),
        tasks: Vec::new(),
        accounts: Vec::new(),
    };
    for m in &cfg.intake.maildir {
        let src = MaildirSource::open(&m.path, m.create, cfg.limits.max_stored_size as u64)
            .with_context(|| format!("intake.maildir.path in {}", cfg.source.display()))?
            .named(m.name.clone())
            .watched(wake);
        sources.list.push(Box::new(src));
    }
    for (i, acct) in cfg.intake.imap.iter().enumerate() {
        let (src, task) = crate::intake::imap::spawn(
            acct,
            cfg.limits.max_stored_size as u64,
            store.clone(),
            shutdown.clone(),
            wake.clone(),
        )
        .with_context(|| {
            format!(
                "intake.imap[{i}] ({}) in {}",
                acct.name,
                cfg.source.display()
            )
        })?;
        sources.accounts.push(src.status());
        sources.list.push(Box::new(src));
        sources.tasks.push(task);
    }
    Ok(sources)
}

#[allow(clippy::too_many_arguments)]
fn intake_loop(
    live: Arc<Current>,
    mut sources: Vec<Box<dyn Source>>,
    shutdown: watch::Receiver<bool>,
    durable: Arc<watch::Sender<u64>>,
    intake_done: watch::Sender<bool>,
    drain: bool,
    group_commit: (usize, usize),
    poll_interval: Duration,
    wake: Wakeup,
    monitor: Arc<crate::ops::Monitor>,
) {
    for s in &sources {
        tracing::info!(source = %s.name(), "intake started");
    }
    // A prepared batch waiting for its commit; the next one is taken from
    // the sources and prepared while it commits.
    let mut ready: Option<Ready> = None;
    loop {
        // Taken anew for each batch: a SIGHUP may have replaced it.
        let pipeline = live.get();
        monitor.health.intake_beat();
        let stopping = *shutdown.borrow();
        // Once stopping, only the batch in hand is finished.
        let next = if stopping {
            Vec::new()
        } else {
            poll_sources(&mut sources, group_commit.0, group_commit.1)
        };
        match ready.take() {
            Some(current) => {
                let (report, after) =
                    commit_overlapped(&pipeline, &mut sources, current, next, Some(&durable));
                ready = after;
                monitor.record_batch(&report);
                if report.failed > 0 {
                    std::thread::sleep(poll_interval);
                }
            }
            None if stopping => break,
            None if next.is_empty() => {
                // Idle: what the last batch indexed is merged now.
                crate::batch::merge_index(&pipeline);
                if drain && sources.iter().all(|s| s.caught_up()) {
                    break;
                }
                // Wait in short steps so that SIGTERM is answered promptly; a
                // network source with mail cuts the wait short.
                let until = Instant::now() + poll_interval;
                while Instant::now() < until && !*shutdown.borrow() {
                    if wake.wait(Duration::from_millis(20).min(poll_interval)) {
                        break;
                    }
                }
            }
            None => ready = Some(Ready::prepare(&pipeline, next)),
        }
    }
    monitor.health.intake_stopped();
    let _ = intake_done.send(true);
    tracing::info!("intake stopped");
}

pub async fn run(cfg: Config, drain: bool) -> anyhow::Result<()> {
    // Signals first: a SIGTERM during start-up must also end in a clean exit.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (hup_tx, hup_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(watch_signals(signals()?, shutdown_tx, hup_tx));
    let mut store = open_store(&cfg).await?;
    if store.compaction_due()? {
        // A purge since the last start left removed data in sled's log:
        // the files are rewritten while nothing else holds the store.
        drop(store);
        let (path, cache) = (cfg.store.path.clone(), cfg.store.cache_mb);
        match tokio::task::spawn_blocking(move || crate::store::compact::compact(&path, cache)).await {
            Ok(Ok(done)) => tracing::info!(
                entries = done.entries,
                bytes_before = done.bytes_before,
                bytes_after = done.bytes_after,
                "store compacted after a purge: removed data is gone from its files"
            ),
            Ok(Err(e)) => tracing::error!("the store could not be compacted after a purge (purged data stays in its files until `csirtd compact` succeeds): {e}"),
            Err(_) => tracing::error!("the compaction after a purge panicked; run `csirtd compact` with the daemon stopped"),
        }
        store = open_store(&cfg).await?;
    }
    let monitor = crate::ops::Monitor::new(&cfg, store.clone())?;
    let socket = crate::control::socket_path(&cfg.store.path);
    let listener = crate::control::bind(&socket)?;
    let wake = Wakeup::default();
    let Sources {
        list: sources,
        tasks: source_tasks,
        accounts,
    } = sources_from_config(&cfg, &store, &shutdown_rx, &wake)?;
    monitor.set_accounts(accounts);
    if sources.is_empty() {
        tracing::warn!(
            "no intake is configured ([intake.maildir] or [[intake.imap]]); only the outbox will be delivered"
        );
    }
    let pipeline = Arc::new(Pipeline::new(store.clone(), cfg.clone())?);
    let current = Arc::new(Current::new(pipeline.clone()));
    tokio::spawn(reload_on_hup(hup_rx, current.clone()));
    // Before the sender starts: mail a crash left committed but unsigned.
    match pipeline.seal_pending() {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            count = n,
            "signed outgoing mail left unsigned by an interrupted run"
        ),
        Err(e) => {
            return Err(e).context("cannot sign the outgoing mail left by an interrupted run")
        }
    }
    match pipeline.publish_pending_advisories() {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            count = n,
            "published advisories requested by mail before an interrupted run"
        ),
        Err(e) => {
            return Err(e).context("cannot publish the advisories left by an interrupted run")
        }
    }
    // Digests whose time passed while no daemon ran; the task below sends
    // the next ones. A failure is logged: the entries stay for the next run.
    send_digests_if_due(&pipeline, &cfg);
    let sender = Sender::from_config(store.clone(), &cfg)?.with_monitor(monitor.clone());

    let (durable_tx, durable_rx) = watch::channel(store.outbox_high_water()?);
    let durable_tx = Arc::new(durable_tx);
    let (done_tx, done_rx) = watch::channel(false);

    let control = tokio::spawn(crate::control::serve(
        listener,
        socket.clone(),
        // Base64 and JSON add about a third to a message.
        cfg.limits.max_stored_size.saturating_mul(2),
        Arc::new(control_handler(
            current.clone(),
            durable_tx.clone(),
            monitor.clone(),
        )),
        shutdown_rx.clone(),
    ));

    // The web desk, when `[web] listen` is set; a bad address or TLS file
    // stops the start with its key.
    let web = crate::web::start(
        &cfg,
        current.clone(),
        durable_tx.clone(),
        shutdown_rx.clone(),
    )
    .await?;

    // The most eager Maildir sets the pace.
    let poll = cfg
        .intake
        .maildir
        .iter()
        .map(|m| m.poll_interval_ms)
        .min()
        .map_or(Duration::from_millis(250), Duration::from_millis);
    // `--drain` sends only what was due at its start (above).
    let digests = (!drain).then(|| {
        tokio::spawn(digest_task(
            current.clone(),
            cfg.clone(),
            durable_tx.clone(),
            shutdown_rx.clone(),
        ))
    });
    let purges = (!drain && cfg.retention.purge_time().is_some()).then(|| {
        tokio::spawn(purge_task(
            current.clone(),
            cfg.clone(),
            shutdown_rx.clone(),
        ))
    });
    let group = (cfg.store.group_commit, cfg.store.group_commit_bytes());
    let intake_shutdown = shutdown_rx.clone();
    let intake_pipeline = current.clone();
    let intake_monitor = monitor.clone();
    let intake = std::thread::Builder::new()
        .name("intake".into())
        .spawn(move || {
            intake_loop(
                intake_pipeline,
                sources,
                intake_shutdown,
                durable_tx,
                done_tx,
                drain,
                group,
                poll,
                wake,
                intake_monitor,
            )
        })
        .context("cannot start the intake thread")?;
    monitor.start(&cfg, shutdown_rx.clone());

    tracing::info!(store = %cfg.store.path.display(), team = %cfg.team.address, drain, "csirtd running");
    let sent = sender.run(durable_rx, shutdown_rx, done_rx, drain).await;
    let joined = tokio::task::spawn_blocking(move || intake.join()).await;
    if !matches!(joined, Ok(Ok(()))) {
        anyhow::bail!("the intake thread panicked; messages in hand were not released and will be processed again");
    }
    // The intake dropped its sources: each IMAP task carries out the last
    // dispositions and logs out. One stuck on a dead server must not hold
    // the exit; what it did not move is seen again (as duplicates).
    for task in source_tasks {
        if tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .is_err()
        {
            tracing::warn!("an IMAP task did not finish within 15 s; its last messages stay in the folder and are recognised as duplicates next time");
        }
    }
    sent?;
    if let Some(d) = digests {
        d.abort();
    }
    if let Some(p) = purges {
        p.abort();
    }
    control.abort();
    if let Some(w) = web {
        w.abort();
    }
    let _ = std::fs::remove_file(&socket);
    store.flush()?;
    tracing::info!(
        peak_rss_mib = crate::bench::peak_rss_kb() / 1024,
        "csirtd stopped cleanly"
    );
    Ok(())
}

/// The store, waiting up to `store.lock_wait_secs` while another process
/// holds it: an operator's `ticket raw ID | less` left open must not make
/// the daemon's start fail (and systemd restart it in a loop).
async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let started = Instant::now();
    let wait = Duration::from_secs(cfg.store.lock_wait_secs);
    let mut said = false;
    let mut attempt = 0u32;
    loop {
        match Store::open(&cfg.store.path, cfg.store.cache_mb) {
            Ok(s) => {
                if said {
                    tracing::info!(
                        waited_secs = started.elapsed().as_secs(),
                        "the store is free; starting"
                    );
                }
                return Ok(s);
            }
            Err(crate::store::StoreError::Locked { .. }) if started.elapsed() < wait => {
                if !said {
                    said = true;
                    tracing::warn!(
                        store = %cfg.store.path.display(),
                        holder = %crate::cli::lock::holder(&cfg.store.path),
                        "the store is held by another process; waiting up to {} s (store.lock_wait_secs) for it to let go",
                        wait.as_secs()
                    );
                }
                let jitter = rand::random::<f64>();
                tokio::time::sleep(crate::cli::lock::backoff(attempt, jitter)).await;
                attempt = attempt.saturating_add(1);
            }
            Err(e @ crate::store::StoreError::Locked { .. }) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "gave up after {} s (store.lock_wait_secs); held by {}",
                    wait.as_secs(),
                    crate::cli::lock::holder(&cfg.store.path)
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn send_digests_if_due(pipeline: &Pipeline, cfg: &Config) {
    let now = time::OffsetDateTime::now_utc();
    let store = pipeline.store();
    match crate::workflow::digest_run::send_if_due(cfg, pipeline.crypto(), store, now) {
        Ok(_) => {}
        Err(e) => tracing::error!("daily digests not sent; their entries stay pending: {e}"),
    }
    match crate::workflow::queue_digest_run::send_if_due(cfg, pipeline.crypto(), store, now) {
        Ok(_) => {}
        Err(e) => tracing::error!("the handlers' queue digests were not sent: {e}"),
    }
}

/// Sends the daily digests at each `[notifications] digest_at`, and the
/// handlers' queue digests at `[sla] digest_at`.
async fn digest_task(
    current: Arc<Current>,
    cfg: Config,
    durable: Arc<watch::Sender<u64>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let at = cfg.notifications.digest_time();
    loop {
        let now = time::OffsetDateTime::now_utc();
        let mut next = crate::workflow::digest::next_slot(now, at);
        if let Some(queue_at) = cfg.sla.digest_time() {
            next = next.min(crate::workflow::digest::next_slot(now, queue_at));
        }
        // A second past the slot, so that the due check sees it passed.
        let wait = (next - now).unsigned_abs() + Duration::from_secs(1);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        // The pipeline of the moment: a SIGHUP may have brought a new team key.
        let pipeline = current.get();
        let (p, c) = (pipeline.clone(), cfg.clone());
        let done = tokio::task::spawn_blocking(move || send_digests_if_due(&p, &c)).await;
        if done.is_err() {
            tracing::error!("the daily digest run panicked; its entries stay pending");
        }
        // What it queued is flushed: the sender may take it.
        if let Ok(hw) = pipeline.store().outbox_high_water() {
            let _ = durable.send(hw);
        }
    }
}

fn purge_if_due(pipeline: &Pipeline, cfg: &Config) {
    match crate::cli::purge::scheduled(pipeline.store(), cfg) {
        Ok(None) => {}
        Ok(Some(r)) => tracing::info!(
            tickets = r.tickets,
            skipped = r.skipped,
            messages = r.messages,
            raw_bytes = r.raw_bytes,
            events = r.events,
            outbox_entries = r.outbox_entries,
            index_entries = r.index_entries,
            ack_histories = r.ack_histories,
            "daily purge done ([retention] purge_at); the store's files are compacted at the next start"
        ),
        Err(e) => tracing::error!("the daily purge failed; it is tried again at the next purge_at: {e}"),
    }
}

/// Purges expired tickets at each `[retention] purge_at`, and once at the
/// start when a slot passed while no daemon ran.
async fn purge_task(current: Arc<Current>, cfg: Config, mut shutdown: watch::Receiver<bool>) {
    let Some(at) = cfg.retention.purge_time() else {
        return;
    };
    let mut first = true;
    loop {
        if !first {
            let now = crate::clock::now();
            let next = crate::workflow::digest::next_slot(now, at);
            let wait = (next - now).unsigned_abs() + Duration::from_secs(1);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
        first = false;
        if *shutdown.borrow() {
            return;
        }
        let (p, c) = (current.get(), cfg.clone());
        if tokio::task::spawn_blocking(move || purge_if_due(&p, &c))
            .await
            .is_err()
        {
            tracing::error!("the daily purge panicked; it is tried again at the next purge_at");
        }
    }
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

fn signals() -> anyhow::Result<Signals> {
    use tokio::signal::unix::{signal, SignalKind};
    Ok(Signals {
        term: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
        int: signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
        // Installed with the others: SIGHUP's default is to end the process
        // on the spot.
        hup: signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?,
    })
}

/// Runs for the whole process: a SIGHUP during start-up is kept for the
/// reload task, and a shutdown is answered however often it is asked.
async fn watch_signals(
    mut s: Signals,
    shutdown: watch::Sender<bool>,
    hup: tokio::sync::mpsc::UnboundedSender<()>,
) {
    loop {
        let name = tokio::select! {
            _ = s.term.recv() => "SIGTERM",
            _ = s.int.recv() => "SIGINT",
            _ = s.hup.recv() => {
                tracing::info!(signal = "SIGHUP", "reload requested");
                let _ = hup.send(());
                continue;
            }
        };
        tracing::info!(
            signal = name,
            "shutting down: finishing the messages in hand"
        );
        let _ = shutdown.send(true);
    }
}

async fn reload_on_hup(mut hup: tokio::sync::mpsc::UnboundedReceiver<()>, current: Arc<Current>) {
    while hup.recv().await.is_some() {
        // Several SIGHUPs while one reload runs make one more reload.
        while hup.try_recv().is_ok() {}
        let current = current.clone();
        if tokio::task::spawn_blocking(move || crate::reload::reload(&current))
            .await
            .is_err()
        {
            tracing::error!("SIGHUP: the reload failed unexpectedly; still running with the previous configuration");
        }
    }
}

/// Answers commands forwarded by `csirtd` processes that found the store
/// locked: read-only commands and status changes run here directly (the
/// store's writer lock orders them with the intake), ingested messages go
/// through the same pipeline as the Maildir's.
fn control_handler(
    current: Arc<Current>,
    durable: Arc<watch::Sender<u64>>,
    monitor: Arc<crate::ops::Monitor>,
) -> impl Fn(crate::control::Request) -> crate::control::Response + Send + Sync {
    use crate::control::{b64, unb64, Request, Response};
    move |request| {
        let pipeline = current.get();
        let (code, out, err) = match request {
            Request::Cli { args, input } => {
                tracing::info!(?args, "command from the control socket");
                let r = crate::cli::execute_forwarded(
                    pipeline.store(),
                    pipeline.config(),
                    &args,
                    input,
                );
                // Commands that queue mail (advisory send) flush before
                // they return: what they queued may go out now.
                if let Ok(hw) = pipeline.store().outbox_high_water() {
                    let _ = durable.send(hw);
                }
                r
            }
            Request::Ingest { items } => {
                let decoded: Option<Vec<(String, Vec<u8>)>> = items
                    .iter()
                    .map(|i| {
                        unb64(&i.data).map(|b| (format!("{} (via control socket)", i.origin), b))
                    })
                    .collect();
                match decoded {
                    Some(d) if !d.is_empty() => {
                        crate::cli::ingest::ingest_all(&pipeline, &d, |store, report| {
                            monitor.record_batch(report);
                            if let Ok(hw) = store.outbox_high_water() {
                                let _ = durable.send(hw);
                            }
                        })
                    }
                    _ => (
                        crate::cli::EX_USAGE,
                        Vec::new(),
                        "malformed ingest request\n".to_string(),
                    ),
                }
            }
        };
        Response {
            code,
            stdout: b64(&out),
            stderr: err,
        }
    }
}
