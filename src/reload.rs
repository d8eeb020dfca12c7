//! SIGHUP: the configuration read again, and the parts that only the
//! pipeline uses (`[pgp]` with its keyring and team key, `[[handlers]]`,
//! `[handling]`, `[[lists]]`, and the web desk's users and proxy settings)
//! taken over while the daemon runs. The rest
//! (the store, the intake, the outbox transport, the team's tag) is built
//! into running tasks; a change there is named and waits for a restart.
//! A configuration that does not load is refused as a whole and the
//! daemon carries on with the one it has.

use crate::config::Config;
use crate::workflow::pipeline::Pipeline;
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

/// The pipeline in use: the intake and the control socket take it for
/// each batch or request, a reload replaces it.
pub struct Current(RwLock<Arc<Pipeline>>);

impl Current {
    pub fn new(p: Arc<Pipeline>) -> Current {
        Current(RwLock::new(p))
    }

    pub fn get(&self) -> Arc<Pipeline> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, p: Arc<Pipeline>) {
        match self.0.write() {
            Ok(mut g) => *g = p,
            Err(poisoned) => *poisoned.into_inner() = p,
        }
    }
}

/// `old` with the reloadable sections of `new`, and the sections that
/// changed in the file but need a restart.
pub fn merge(old: &Config, new: &Config) -> (Config, Vec<&'static str>) {
    let mut merged = old.clone();
    merged.pgp = new.pgp.clone();
    merged.handlers = new.handlers.clone();
    merged.handling = new.handling.clone();
    merged.lists = new.lists.clone();
    // The desk reads these per request; its listener, TLS, session
    // timeouts and login limits are built into the running server.
    merged.web.users = new.web.users.clone();
    merged.web.proxy_header = new.web.proxy_header.clone();
    merged.web.trusted_proxies = new.web.trusted_proxies.clone();
    // Debug text as the comparison: every section derives it, and a
    // false "changed" only costs a log line.
    let same =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
    let mut restart = Vec::new();
    let sections: [(&'static str, bool); 14] = [
        ("team", same(&old.team, &new.team)),
        ("store", same(&old.store, &new.store)),
        ("intake", same(&old.intake, &new.intake)),
        ("outbox", same(&old.outbox, &new.outbox)),
        ("ack", same(&old.ack, &new.ack)),
        ("limits", same(&old.limits, &new.limits)),
        ("log", same(&old.log, &new.log)),
        ("analysis", same(&old.analysis, &new.analysis)),
        (
            "constituencies",
            same(&old.constituencies, &new.constituencies),
        ),
        ("feeds", same(&old.feeds, &new.feeds)),
        (
            "notifications",
            same(&old.notifications, &new.notifications),
        ),
        ("auth", same(&old.auth, &new.auth)),
        ("source", old.source == new.source),
        ("web", same(&merged.web, &new.web)),
    ];
    for (name, unchanged) in sections {
        if !unchanged {
            restart.push(name);
        }
    }
    (merged, restart)
}

/// What a reload changed, in words for the log.
pub fn changes(old: &Pipeline, new: &Pipeline) -> Vec<String> {
    let mut out = Vec::new();
    let fprs = |p: &Pipeline| -> BTreeSet<String> {
        p.crypto()
            .engine()
            .keyring()
            .certs()
            .map(|c| c.fingerprint().to_hex())
            .collect()
    };
    let (a, b) = (fprs(old), fprs(new));
    let added = b.difference(&a).count();
    let removed = a.difference(&b).count();
    if added + removed > 0 {
        out.push(format!(
            "keyring: {added} certificate(s) added, {removed} removed"
        ));
    }
    let team = |p: &Pipeline| p.crypto().engine().team_key().map(|t| t.fingerprint());
    if team(old) != team(new) {
        out.push(format!(
            "team key: {} (was {})",
            team(new).unwrap_or_else(|| "none".into()),
            team(old).unwrap_or_else(|| "none".into())
        ));
    }
    out.extend(named(
        "handlers",
        old.config().handlers.iter().map(|h| format!("{h:?}")),
        new.config().handlers.iter().map(|h| format!("{h:?}")),
        old.config().handlers.iter().map(|h| h.name.clone()),
        new.config().handlers.iter().map(|h| h.name.clone()),
    ));
    out.extend(named(
        "lists",
        old.config().lists.iter().map(|l| format!("{l:?}")),
        new.config().lists.iter().map(|l| format!("{l:?}")),
        old.config().lists.iter().map(|l| l.name.clone()),
        new.config().lists.iter().map(|l| l.name.clone()),
    ));
    out.extend(named(
        "web users",
        old.config().web.users.iter().map(|u| format!("{u:?}")),
        new.config().web.users.iter().map(|u| format!("{u:?}")),
        old.config().web.users.iter().map(|u| u.name.clone()),
        new.config().web.users.iter().map(|u| u.name.clone()),
    ));
    let proxy = |p: &Pipeline| {
        let w = &p.config().web;
        format!("{:?} {:?}", w.proxy_header, w.trusted_proxies)
    };
    if proxy(old) != proxy(new) {
        out.push("web: the proxy header or trusted_proxies changed".into());
    }
    if format!("{:?}", old.config().handling) != format!("{:?}", new.config().handling) {
        out.push("handling: changed".into());
    }
    if format!("{:?}", old.config().pgp.as_ref().map(|p| &p.policy))
        != format!("{:?}", new.config().pgp.as_ref().map(|p| &p.policy))
    {
        out.push("pgp.policy: changed".into());
    }
    out
}

/// "handlers: now a, b (was a)" when the entries differ.
fn named(
    what: &str,
    old: impl Iterator<Item = String>,
    new: impl Iterator<Item = String>,
    old_names: impl Iterator<Item = String>,
    new_names: impl Iterator<Item = String>,
) -> Option<String> {
    let (o, n): (Vec<String>, Vec<String>) = (old.collect(), new.collect());
    if o == n {
        return None;
    }
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    Some(format!(
        "{what}: now {} (was {})",
        list(new_names.collect()),
        list(old_names.collect())
    ))
}

/// Reads the configuration file again and, when it loads, puts the new
/// pipeline in place. Blocking (keys are read and checked).
pub fn reload(current: &Current) {
    let old = current.get();
    let path = old.config().source.clone();
    tracing::info!(config = %path.display(), "SIGHUP: reading the configuration again (keyring, team key, handlers, lists)");
    let new = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(
                "SIGHUP: configuration refused, still running with the previous one: {e}"
            );
            return;
        }
    };
    let (merged, restart) = merge(old.config(), &new);
    let pipeline = match old.reconfigured(merged) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(
                "SIGHUP: configuration refused, still running with the previous one: {e}"
            );
            return;
        }
    };
    for section in &restart {
        tracing::warn!(
            section,
            "SIGHUP: this section changed in the file; it takes effect at the next restart"
        );
    }
    let changed = changes(&old, &pipeline);
    current.set(Arc::new(pipeline));
    if changed.is_empty() {
        tracing::info!("SIGHUP: configuration reloaded; nothing changed");
    } else {
        tracing::info!(changes = %crate::logging::list(&changed), "SIGHUP: configuration reloaded");
    }
}

#[cfg(test)]
mod tests {
    use super::merge;
    use crate::config::Config;
    use std::path::Path;

    use crate::config::TEST_BASE as BASE;

    fn load(extra: &str) -> Config {
        Config::from_toml(&format!("{BASE}{extra}"), Path::new("/etc/csirtd.toml")).expect("config")
    }

    #[test]
    fn handling_is_taken_and_the_store_waits_for_a_restart() {
        let old = load("");
        let new = load("[handling]\nmax_signature_age = \"36h\"\n");
        let (merged, restart) = merge(&old, &new);
        let shown = |c: &Config| format!("{:?}", c.handling);
        assert_eq!(shown(&merged), shown(&new));
        assert_ne!(shown(&merged), shown(&old));
        assert!(restart.is_empty(), "{restart:?}");

        let moved = Config::from_toml(
            &BASE.replace("path = \"store\"", "path = \"elsewhere\""),
            Path::new("/etc/csirtd.toml"),
        )
        .expect("config");
        let (merged, restart) = merge(&old, &moved);
        assert_eq!(restart, vec!["store"]);
        assert_eq!(merged.store.path, old.store.path);
    }

    #[test]
    fn web_users_and_proxies_are_taken_and_the_listener_waits() {
        let web = |listen: &str, user: &str, proxy: &str| {
            let mut c = load("");
            c.web.listen = Some(listen.into());
            c.web.proxy_header = Some("X-Remote-User".into());
            c.web.trusted_proxies = vec![proxy.into()];
            c.web.users = vec![crate::config::WebUserConfig {
                name: user.into(),
                handler: "hanna".into(),
                password_hash: Some("$argon2id$x".into()),
                totp_secret: None,
            }];
            c
        };
        let old = web("127.0.0.1:8080", "alice", "127.0.0.2");
        let new = web("127.0.0.1:8080", "carol", "127.0.0.3");
        let (merged, restart) = merge(&old, &new);
        assert!(restart.is_empty(), "{restart:?}");
        assert_eq!(merged.web.users[0].name, "carol");
        assert_eq!(merged.web.trusted_proxies, vec!["127.0.0.3".to_string()]);

        let moved = web("127.0.0.1:9090", "carol", "127.0.0.3");
        let (merged, restart) = merge(&old, &moved);
        assert_eq!(restart, vec!["web"]);
        assert_eq!(merged.web.listen.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(merged.web.users[0].name, "carol", "users are taken anyway");
    }
}
