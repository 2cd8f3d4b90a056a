//! The audit trail's copy to syslog: each line as the MSG of one RFC 5424 message
//! (formatted by the `syslog` crate: facility authpriv, severity notice, APP-NAME
//! `ise-intune`, MSGID 1), sent over UDP (RFC 5426: one datagram a message), TCP
//! (RFC 6587, octet counting) or TLS (RFC 5425, octet counting, verified against the
//! system's roots or a CA file; this workspace's one crypto provider). Every socket
//! operation has a timeout; a message that cannot be sent is said on the log, and the connection is made again for the next one.
//!
//! The run never waits for syslog: lines go into a bounded queue ([`SyslogQueue`])
//! that a thread of its own drains (its blocking sockets never sit in the async run);
//! a line the queue has no room for, or the server does not take, is counted and said
//! when the trail closes.

use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use syslog::{Facility, Formatter5424, LogFormat as _, Severity};

use crate::Error;

/// The MSGID of an audit line (the `syslog` crate writes MSGID as a number).
const AUDIT_MSGID: u32 = 1;

/// How long connecting or sending to the syslog server may take.
const SYSLOG_TIMEOUT: Duration = Duration::from_secs(5);

/// How many lines wait for the syslog server at most; more are dropped and counted.
const QUEUE_LINES: usize = 1024;

/// How long a closing trail waits for its queue to drain.
const DRAIN: Duration = Duration::from_secs(2);

/// The largest message sent (RFC 5425 receivers must take 2048 octets; a line of the
/// trail is well under it).
const MAX_MESSAGE: usize = 8192;

/// Where the trail's copy goes: `udp://host:port`, `tcp://host:port` or
/// `tls://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Udp(String),
    Tcp(String),
    Tls { address: String, host: String },
}

impl Target {
    /// Reads `udp://`, `tcp://` or `tls://` `host:port`.
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let refuse = || Error::Config {
            what: format!(
                "[audit] syslog `{text}`: expected udp://HOST:PORT, tcp://HOST:PORT or \
                 tls://HOST:PORT"
            ),
        };
        let (scheme, address) = text.split_once("://").ok_or_else(refuse)?;
        let (host, port) = address.rsplit_once(':').ok_or_else(refuse)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(refuse());
        }
        let address = address.to_owned();
        match scheme {
            "udp" => Ok(Self::Udp(address)),
            "tcp" => Ok(Self::Tcp(address)),
            "tls" => Ok(Self::Tls {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                address,
            }),
            _ => Err(refuse()),
        }
    }
}

/// A connection to the syslog server, made when first needed and again after a
/// failure.
pub(crate) struct SyslogSender {
    target: Target,
    tls: Option<Arc<rustls::ClientConfig>>,
    formatter: Formatter5424,
    connection: Option<Connection>,
}

impl std::fmt::Debug for SyslogSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSender")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl SyslogSender {
    /// A sender to `target`; for TLS, verified against `ca_file` (PEM) or the
    /// system's roots.
    pub(crate) fn new(target: Target, ca_file: Option<&PathBuf>) -> Result<Self, Error> {
        let tls = match &target {
            Target::Tls { .. } => Some(Arc::new(tls_config(ca_file)?)),
            _ => None,
        };
        Ok(Self {
            target,
            tls,
            formatter: Formatter5424 {
                facility: Facility::LOG_AUTHPRIV,
                hostname: Some(machine_name()),
                process: "ise-intune".into(),
                pid: std::process::id(),
            },
            connection: None,
        })
    }

    /// Sends `line` as one message: once on the current connection, once more on a
    /// new one.
    pub(crate) fn send(&mut self, line: &str) -> std::io::Result<()> {
        let mut message = Vec::new();
        self.formatter
            .format(
                &mut message,
                Severity::LOG_NOTICE,
                (AUDIT_MSGID, std::collections::BTreeMap::new(), line),
            )
            .map_err(std::io::Error::other)?;
        message.truncate(MAX_MESSAGE);
        if self.connection.is_some() && self.write(&message).is_ok() {
            return Ok(());
        }
        self.connection = Some(self.connect()?);
        let sent = self.write(&message);
        if sent.is_err() {
            self.connection = None;
        }
        sent
    }

    fn write(&mut self, message: &[u8]) -> std::io::Result<()> {
        // RFC 6587 / RFC 5425 octet counting: "MSG-LEN SP SYSLOG-MSG". Each socket
        // operation has its timeout; a server that takes a byte at a time holds only
        // the sender's own thread, never the run ([`SyslogQueue`]).
        let framed = |w: &mut dyn std::io::Write| -> std::io::Result<()> {
            write!(w, "{} ", message.len())?;
            w.write_all(message)?;
            w.flush()
        };
        match self.connection.as_mut() {
            Some(Connection::Udp(socket)) => socket.send(message).map(drop),
            Some(Connection::Tcp(stream)) => framed(stream),
            Some(Connection::Tls(stream)) => framed(stream.as_mut()),
            None => Err(std::io::Error::other("not connected")),
        }
    }

    fn connect(&self) -> std::io::Result<Connection> {
        let resolve = |address: &str| {
            address
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| std::io::Error::other(format!("{address} resolves to nothing")))
        };
        let tcp = |address: &str| -> std::io::Result<TcpStream> {
            let stream = TcpStream::connect_timeout(&resolve(address)?, SYSLOG_TIMEOUT)?;
            stream.set_write_timeout(Some(SYSLOG_TIMEOUT))?;
            stream.set_read_timeout(Some(SYSLOG_TIMEOUT))?;
            Ok(stream)
        };
        match &self.target {
            Target::Udp(address) => {
                let server = resolve(address)?;
                let local = if server.is_ipv6() {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                };
                let socket = UdpSocket::bind(local)?;
                socket.set_write_timeout(Some(SYSLOG_TIMEOUT))?;
                socket.connect(server)?;
                Ok(Connection::Udp(socket))
            }
            Target::Tcp(address) => Ok(Connection::Tcp(tcp(address)?)),
            Target::Tls { address, host } => {
                let config = self
                    .tls
                    .clone()
                    .ok_or_else(|| std::io::Error::other("no TLS configuration"))?;
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(std::io::Error::other)?;
                let connection =
                    rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
                let mut stream = rustls::StreamOwned::new(connection, tcp(address)?);
                // The handshake now, so that a refused certificate is this connect's error.
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock)?;
                }
                Ok(Connection::Tls(Box::new(stream)))
            }
        }
    }
}

/// This machine's name for the HOSTNAME field (RFC 5424: printable US-ASCII, at most
/// 255 characters), or the NILVALUE `-` when it cannot be read.
fn machine_name() -> String {
    let read = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = read
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if name.is_empty() {
        "-".to_owned()
    } else {
        name
    }
}

/// The syslog copy as the run sees it: a bounded queue that a thread of its own
/// drains into a [`SyslogSender`]. [`SyslogQueue::push`] never waits.
pub(crate) struct SyslogQueue {
    queue: Option<std::sync::mpsc::SyncSender<String>>,
    dropped: Arc<AtomicU64>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SyslogQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogQueue")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl SyslogQueue {
    /// Starts the thread that sends through `sender`.
    pub(crate) fn start(mut sender: SyslogSender) -> Result<Self, Error> {
        let (queue, lines) = std::sync::mpsc::sync_channel::<String>(QUEUE_LINES);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        let worker = std::thread::Builder::new()
            .name("ise-intune-syslog".into())
            .spawn(move || {
                for line in lines {
                    if let Err(e) = sender.send(&line) {
                        counted.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "an audit line was not copied to syslog");
                    }
                }
            })
            .map_err(|e| Error::Config {
                what: format!("the syslog copy of the audit trail could not start: {e}"),
            })?;
        Ok(Self {
            queue: Some(queue),
            dropped,
            worker: Some(worker),
        })
    }

    /// Queues `line` for the server; counts it as dropped when the queue is full.
    pub(crate) fn push(&self, line: String) {
        let queued = self
            .queue
            .as_ref()
            .is_some_and(|q| q.try_send(line).is_ok());
        if !queued {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines that did not reach the server: the queue was full, or it refused them.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for SyslogQueue {
    /// Closes the queue and gives the thread [`DRAIN`] to send what waits; then says
    /// what did not reach the server. A thread still stuck on a server is left behind.
    fn drop(&mut self) {
        drop(self.queue.take());
        let deadline = Instant::now() + DRAIN;
        if let Some(worker) = self.worker.take() {
            while !worker.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if worker.is_finished() {
                let _ = worker.join();
            }
        }
        let dropped = self.dropped();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "audit lines not copied to syslog (queue full or server not taking them); \
                 the file has them when [audit] file is set"
            );
        }
    }
}

/// TLS to the syslog server: verification always on, against `ca_file` or the
/// system's roots.
fn tls_config(ca_file: Option<&PathBuf>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let text = crate::files::read_text(path)?;
            for cert in crate::certs::Certificate::parse_pem_bundle(&text)? {
                roots
                    .add(rustls::pki_types::CertificateDer::from(cert.der().to_vec()))
                    .map_err(|e| Error::Config {
                        what: format!("[audit] syslog_ca_file {}: {e}", path.display()),
                    })?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            what: format!("TLS for the syslog server: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Write as _};
    use std::net::TcpListener;

    /// Reads octet-counted frames ("LEN SP MSG") until the peer closes.
    fn frames(mut input: impl std::io::BufRead) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let mut len = Vec::new();
            if input.read_until(b' ', &mut len).unwrap_or(0) == 0 {
                return out;
            }
            let n: usize = String::from_utf8_lossy(&len)
                .trim()
                .parse()
                .expect("MSG-LEN");
            let mut msg = vec![0; n];
            input.read_exact(&mut msg).expect("MSG");
            out.push(String::from_utf8(msg).expect("UTF-8"));
        }
    }

    fn check(messages: &[String], lines: &[&str]) {
        assert_eq!(messages.len(), lines.len(), "{messages:?}");
        for (m, l) in messages.iter().zip(lines) {
            // authpriv (10) * 8 + notice (5); version 1; APP-NAME; MSGID; no SD.
            assert!(m.starts_with("<85>1 "), "{m}");
            // HOSTNAME is this machine's name, then APP-NAME.
            assert!(
                m.contains(&format!(" {} ise-intune ", machine_name())),
                "{m}"
            );
            assert!(m.ends_with(&format!(" 1 - {l}")), "{m}");
        }
    }

    const LINES: [&str; 3] = [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#];

    #[test]
    fn udp_sends_one_datagram_a_line() {
        let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let target = Target::parse(&format!("udp://{}", receiver.local_addr().expect("addr")))
            .expect("target");
        let mut sender = SyslogSender::new(target, None).expect("sender");
        for l in LINES {
            sender.send(l).expect("sent");
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 9000];
        for _ in LINES {
            let n = receiver.recv(&mut buf).expect("a datagram");
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        check(&got, &LINES);
    }

    #[test]
    fn tcp_frames_by_octet_counting_one_connection_a_sender() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            // Two senders, one connection each.
            let mut all = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().expect("accept");
                all.extend(frames(BufReader::new(stream)));
            }
            all
        });
        let target = Target::parse(&format!("tcp://{address}")).expect("target");
        let mut sender = SyslogSender::new(target.clone(), None).expect("sender");
        sender.send(LINES[0]).expect("sent");
        drop(sender);
        let mut sender = SyslogSender::new(target, None).expect("sender");
        sender.send(LINES[1]).expect("sent");
        sender.send(LINES[2]).expect("sent");
        drop(sender);
        check(&server.join().expect("server"), &LINES);
    }

    #[test]
    fn tls_is_verified_against_the_ca_and_framed() {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let dir = std::env::temp_dir().join(format!("syslog-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, cert.pem()).expect("ca");
        let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let conn = rustls::ServerConnection::new(Arc::new(server_config)).expect("conn");
            frames(BufReader::new(rustls::StreamOwned::new(conn, stream)))
        });
        let target = Target::parse(&format!("tls://localhost:{port}")).expect("target");
        let mut sender = SyslogSender::new(target, Some(&ca)).expect("sender");
        for l in LINES {
            sender.send(l).expect("sent");
        }
        // A clean close, so the server reads to the end: close_notify, our side shut,
        // then what the server sent (session tickets) read to its end — closing with
        // unread data would reset the connection and lose frames the server had not
        // read yet.
        if let Some(Connection::Tls(stream)) = sender.connection.as_mut() {
            stream.conn.send_close_notify();
            let _ = stream.flush();
            let _ = stream.sock.shutdown(std::net::Shutdown::Write);
            let _ = std::io::Read::read_to_end(&mut stream.sock, &mut Vec::new());
        }
        drop(sender);
        check(&server.join().expect("server"), &LINES);
        // Without the CA, the system's roots refuse the self-signed certificate.
        let target = Target::parse(&format!("tls://localhost:{port}")).expect("target");
        let mut unverified = SyslogSender::new(target, None).expect("sender");
        assert!(unverified.send(LINES[0]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn targets_name_their_transport() {
        assert_eq!(
            Target::parse("udp://127.0.0.1:514").expect("udp"),
            Target::Udp("127.0.0.1:514".into())
        );
        assert_eq!(
            Target::parse("tls://siem.example:6514").expect("tls"),
            Target::Tls {
                address: "siem.example:6514".into(),
                host: "siem.example".into()
            }
        );
        for bad in [
            "siem:514",
            "http://siem:514",
            "tcp://:514",
            "tcp://siem:port",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(Error::Config { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_server_that_takes_nothing_never_holds_the_run() {
        // Accepts, then never reads: the sender's writes stall once the buffers fill.
        let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
        let address = listener.local_addr().expect("address");
        let _held = std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(4).collect();
            std::thread::sleep(Duration::from_secs(10));
            drop(held);
        });
        let sender = SyslogSender::new(Target::Tcp(address.to_string()), None).expect("sender");
        let queue = SyslogQueue::start(sender).expect("queue");
        // More than the queue and the loopback's socket buffers together hold.
        let line = "x".repeat(8000);
        let started = Instant::now();
        for _ in 0..20_000 {
            queue.push(line.clone());
        }
        // Pushing never waits for the server; what found no room is counted.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(queue.dropped() >= 10_000, "{}", queue.dropped());
        // Closing waits at most DRAIN for what is queued, then leaves the stuck thread.
        let closing = Instant::now();
        drop(queue);
        assert!(closing.elapsed() < DRAIN + Duration::from_secs(1));
    }
}
