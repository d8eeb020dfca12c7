//! DNS answers kept across messages: a burst of reports from one feed needs
//! its DKIM key, SPF and DMARC records once, not once per mail. Entries
//! live for the record's TTL but never longer than [`MAX_TTL`], so a key
//! rotation or a new DMARC policy is seen within minutes; the map is
//! bounded so that mail naming a million domains cannot grow it.

use mail_auth::{ResolverCache, Txt, MX};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_TTL: Duration = Duration::from_secs(300);

pub struct TtlCache<K, V> {
    map: Mutex<HashMap<K, (V, Instant)>>,
    capacity: usize,
    hits: AtomicU64,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
        }
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    /// A poisoned lock only means another verification panicked while
    /// holding it; the map itself is still a valid cache.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for TtlCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.lock();
        match map.get(name) {
            Some((v, until)) if *until > Instant::now() => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(v.clone())
            }
            Some(_) => {
                map.remove(name);
                None
            }
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let now = Instant::now();
        let until = valid_until.min(now + MAX_TTL);
        let mut map = self.lock();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, (_, u)| *u > now);
            if map.len() >= self.capacity {
                // Still full of live entries: start over rather than track
                // recency; a refill costs one lookup per name.
                map.clear();
            }
        }
        map.insert(key, (value, until));
    }
}

/// One cache per record type, as mail-auth's `Parameters` takes them.
pub struct DnsCaches {
    pub txt: TtlCache<Box<str>, Txt>,
    pub mx: TtlCache<Box<str>, mail_auth::RecordSet<MX>>,
    pub ipv4: TtlCache<Box<str>, mail_auth::RecordSet<Ipv4Addr>>,
    pub ipv6: TtlCache<Box<str>, mail_auth::RecordSet<Ipv6Addr>>,
    pub ptr: TtlCache<IpAddr, mail_auth::RecordSet<Box<str>>>,
}

impl DnsCaches {
    pub fn new(capacity: usize) -> Self {
        DnsCaches {
            txt: TtlCache::new(capacity),
            mx: TtlCache::new(capacity / 4),
            ipv4: TtlCache::new(capacity / 4),
            ipv6: TtlCache::new(capacity / 4),
            ptr: TtlCache::new(capacity / 4),
        }
    }

    pub fn hits(&self) -> u64 {
        self.txt.hits() + self.mx.hits() + self.ipv4.hits() + self.ipv6.hits() + self.ptr.hits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_caps_ttl_and_stays_bounded() {
        let c: TtlCache<Box<str>, u32> = TtlCache::new(3);
        let far = Instant::now() + Duration::from_secs(86_400);
        c.insert("a".into(), 1, far);
        assert_eq!(c.get("a"), Some(1));
        assert_eq!(c.hits(), 1);
        // A day's TTL is cut to MAX_TTL.
        let until = c.lock().get("a").map(|(_, u)| *u);
        assert!(until.is_some_and(|u| u <= Instant::now() + MAX_TTL));
        c.insert("old".into(), 2, Instant::now());
        assert_eq!(c.get("old"), None);
        for (i, k) in ["b", "c", "d", "e"].into_iter().enumerate() {
            c.insert(k.into(), i as u32, far);
            assert!(c.len() <= 3);
        }
        assert_eq!(c.get("e"), Some(3));
    }
}
