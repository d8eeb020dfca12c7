//! A real authoritative DNS server for tests: Debian's `nsd`, run as a plain
//! process on 127.0.0.1 and a free high port, everything (config, zones,
//! state, log) in a temporary directory. Killed on drop.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct DnsServer {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

const NSD: &str = "/usr/sbin/nsd";

fn nsd_binary() -> PathBuf {
    for p in [NSD, "/usr/bin/nsd"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("nsd is not installed: run scripts/prereqs.sh --test (Debian package nsd)");
}

/// A zone file for `origin` with the SOA and NS records nsd insists on;
/// `records` are appended as written (absolute owner names, or relative
/// to `origin`).
pub fn zone_text(origin: &str, records: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 300\n\
         @ IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 60\n\
         @ IN NS ns.{origin}.\n\
         ns IN A 127.0.0.1\n\
         {records}\n"
    )
}

fn free_port() -> u16 {
    // Ask the kernel for a port that is free for both UDP and TCP.
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
        let port = udp.local_addr().expect("local addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port for nsd");
}

impl DnsServer {
    /// Serves `zones` (zone name, zone file text) until dropped.
    pub fn start(zones: &[(&str, &str)]) -> DnsServer {
        let nsd = nsd_binary();
        let mut last_log = String::new();
        // A port taken between free_port() and nsd's bind: try another.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let d = dir.path().display().to_string();
            let mut conf = format!(
                "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  do-ip4: yes\n  do-ip6: no\n\
                 \x20 username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n\
                 \x20 database: \"\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n\
                 \x20 zonelistfile: \"{d}/zone.list\"\n  logfile: \"{d}/nsd.log\"\n\
                 \x20 server-count: 1\n  verbosity: 1\n  hide-version: yes\n\
                 remote-control:\n  control-enable: no\n"
            );
            for (i, (name, text)) in zones.iter().enumerate() {
                let file = format!("zone{i}.zone");
                std::fs::write(dir.path().join(&file), text).expect("write zone");
                conf.push_str(&format!(
                    "zone:\n  name: \"{name}\"\n  zonefile: \"{file}\"\n"
                ));
            }
            let conf_path = dir.path().join("nsd.conf");
            std::fs::write(&conf_path, conf).expect("write nsd.conf");
            let child = Command::new(&nsd)
                .arg("-d")
                .arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {}: {e} (scripts/prereqs.sh --test installs nsd)",
                        nsd.display()
                    )
                });
            let mut server = DnsServer {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir,
            };
            let probe = zones.first().map(|z| z.0).unwrap_or(".");
            if server.wait_ready(probe, Duration::from_secs(15)) {
                return server;
            }
            last_log = server.log();
            // Dropped here: killed before the next try.
        }
        panic!("nsd did not answer on 127.0.0.1; its log:\n{last_log}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default()
    }

    /// Until nsd answers an SOA query for `zone` (or exits, or `limit`).
    fn wait_ready(&mut self, zone: &str, limit: Duration) -> bool {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind probe socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("set timeout");
        let start = Instant::now();
        let mut id: u16 = 0x4242;
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            id = id.wrapping_add(1);
            let q = query(id, zone, 6);
            if sock.send_to(&q, self.addr).is_ok() {
                let mut buf = [0u8; 1500];
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    // Our id, a response, and NOERROR: the zone is loaded.
                    if n >= 12
                        && u16::from_be_bytes([buf[0], buf[1]]) == id
                        && buf[2] & 0x80 != 0
                        && buf[3] & 0x0f == 0
                    {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// A DNS query message: one question, class IN.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // SIGTERM lets nsd stop its server child too; kill() if it lingers.
        let pid = self.child.id() as libc::pid_t;
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
