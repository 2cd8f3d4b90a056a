//! The audit trail: every write any workflow makes, one JSON line each — time,
//! command, pair, identity, system, method, path, the object's id, a summary of the
//! change, the server's request id and the result — appended to a file, flushed to
//! disk line by line and rotated by size. Records come from the clients' HTTP core
//! ([`ise_intune_http::AuditSink`]): one per attempt of a write request, as it went
//! on the wire, whichever workflow sent it. Nothing of a body, a header or a query
//! reaches a record, so no secret, private key or token can.
//!
//! ```no_run
//! # fn run(integration: intune_integration::Integration) -> Result<(), intune_integration::Error> {
//! use intune_integration::audit::{AuditContext, AuditSettings, AuditTrail};
//!
//! let settings = AuditSettings::to_file("/var/log/ise-intune/audit.jsonl");
//! let trail = AuditTrail::open(&settings, AuditContext::new("onboard"))?;
//! let integration = integration.with_audit(trail, None);
//! # Ok(()) }
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ise_intune_http::clock::{SharedClock, SystemClock};
use ise_intune_http::{AuditRecord, AuditSink};
use serde::{Deserialize, Serialize};

use crate::Error;

mod syslog;

/// Where the trail goes and how it is rotated (`[audit]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuditSettings {
    /// The file the lines are appended to (none: no trail).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Past this size the file is renamed `FILE.1` (the older ones `FILE.2` …) and a
    /// new one begins (default 10 MiB).
    #[serde(default = "default_rotate_bytes")]
    pub rotate_bytes: u64,
    /// How many rotated files are kept (default 5).
    #[serde(default = "default_keep")]
    pub keep: u32,
    /// A copy of each line to a syslog server, as RFC 5424 messages:
    /// `udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT` (none: no copy).
    #[serde(default)]
    pub syslog: Option<String>,
    /// The CA (PEM) a `tls://` syslog server's certificate is verified against
    /// (default: the system's roots).
    #[serde(default)]
    pub syslog_ca_file: Option<PathBuf>,
}

fn default_rotate_bytes() -> u64 {
    10 * 1024 * 1024
}

fn default_keep() -> u32 {
    5
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            file: None,
            rotate_bytes: default_rotate_bytes(),
            keep: default_keep(),
            syslog: None,
            syslog_ca_file: None,
        }
    }
}

impl AuditSettings {
    /// A trail appended to `file`, rotated at the defaults.
    pub fn to_file(file: impl Into<PathBuf>) -> Self {
        Self {
            file: Some(file.into()),
            ..Self::default()
        }
    }

    /// The same settings, copying each line to the syslog server `target`
    /// (`udp://`, `tcp://` or `tls://` `HOST:PORT`).
    pub fn with_syslog(mut self, target: impl Into<String>) -> Self {
        self.syslog = Some(target.into());
        self
    }

    /// Whether the settings name anywhere to write.
    pub fn is_enabled(&self) -> bool {
        self.file.is_some() || self.syslog.is_some()
    }
}

/// What a run is, for each of its lines: the command. (A fleet's pair is the
/// integration's: [`crate::Integration::with_audit`].)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditContext {
    /// The command or workflow (`onboard`, `rotate`, `watch`, …).
    pub command: String,
}

impl AuditContext {
    /// A run of `command`.
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
        }
    }
}

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditLine {
    /// When the attempt ended (RFC 3339, UTC).
    pub time: String,
    /// The command or workflow.
    pub command: String,
    /// The fleet's pair, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pair: Option<String>,
    /// Who wrote: the ISE API account (`ise:<username>`) or the automating identity
    /// (`entra:<client id>`).
    pub identity: String,
    /// The system written to (`ISE`, `Graph`, …).
    pub system: String,
    /// HTTP method.
    pub method: String,
    /// The URL path (no query).
    pub path: String,
    /// The object's id or key, as the path names it, if it does.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub object_id: Option<String>,
    /// The object's name (a rule's, a certificate's friendly name, the application's
    /// display name), when the workflow that wrote knew it ([`naming`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub object_name: Option<String>,
    /// What changed: the kind of change and the kind of object.
    pub summary: String,
    /// The server's request id, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
    /// `intent` (written before the attempt is sent: a write whose intent cannot be
    /// recorded is not made), then `ok` (2xx), `refused` (another status), or
    /// `no answer`.
    pub result: String,
    /// The answer's status, when there was one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<u16>,
    /// Which attempt of the request (from 1): a retried write has a line per attempt.
    pub attempt: u32,
}

tokio::task_local! {
    /// The name of the object the writes in scope are about.
    static OBJECT_NAME: String;
}

/// Runs `work` with its writes' audit lines naming `object` (`object_name`): a request
/// carries no name the trail may read (a body is never read), so the workflow that
/// knows it says it. Writes sent outside any `naming` have no name.
pub async fn naming<F: std::future::Future>(object: impl Into<String>, work: F) -> F::Output {
    OBJECT_NAME.scope(object.into(), work).await
}

/// The trail of one run: lines appended to a file, each flushed to disk, the file
/// rotated by size. Shared by the clients of one or many integrations (a fleet's
/// pairs: [`crate::Integration::with_audit`]), so that one file has one writer.
#[derive(Debug)]
pub struct AuditTrail {
    context: AuditContext,
    clock: SharedClock,
    file: Option<Mutex<Appender>>,
    syslog: Option<syslog::SyslogQueue>,
}

#[derive(Debug)]
struct Appender {
    path: PathBuf,
    file: File,
    size: u64,
    rotate_bytes: u64,
    keep: u32,
}

impl AuditTrail {
    /// Opens (creating, or appending to) the file `settings` names, and prepares the
    /// syslog copy it names, for runs of `context`. Settings that name neither are a
    /// configuration error; so is a syslog target that is not `udp://`, `tcp://` or
    /// `tls://` `HOST:PORT`.
    pub fn open(settings: &AuditSettings, context: AuditContext) -> Result<Arc<Self>, Error> {
        if !settings.is_enabled() {
            return Err(Error::Config {
                what: "[audit] names neither a file nor a syslog server".into(),
            });
        }
        let file = match &settings.file {
            Some(path) => {
                let (file, size) = open_append(path)?;
                Some(Mutex::new(Appender {
                    path: path.clone(),
                    file,
                    size,
                    rotate_bytes: settings.rotate_bytes.max(1024),
                    keep: settings.keep,
                }))
            }
            None => None,
        };
        let syslog = match &settings.syslog {
            Some(target) => Some(syslog::SyslogQueue::start(syslog::SyslogSender::new(
                syslog::Target::parse(target)?,
                settings.syslog_ca_file.as_ref(),
            )?)?),
            None => None,
        };
        Ok(Arc::new(Self {
            context,
            clock: Arc::new(SystemClock),
            file,
            syslog,
        }))
    }

    /// What the run is.
    pub fn context(&self) -> &AuditContext {
        &self.context
    }

    /// The line for `record`, written by `identity` for `pair`.
    pub fn line(&self, identity: &str, pair: Option<&str>, record: &AuditRecord<'_>) -> AuditLine {
        let time = time::OffsetDateTime::from(self.clock.now())
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let attempt = &record.attempt;
        let (result, status) = match (record.phase, attempt.status, attempt.error) {
            (ise_intune_http::AuditPhase::Intent, _, _) => ("intent".to_owned(), None),
            (_, status, error) => result_of(status, error),
        };
        AuditLine {
            time,
            command: self.context.command.clone(),
            pair: pair.map(str::to_owned),
            identity: identity.to_owned(),
            system: attempt.service.to_owned(),
            method: attempt.method.as_str().to_owned(),
            path: attempt.path.to_owned(),
            object_id: object_id(attempt.path),
            object_name: OBJECT_NAME
                .try_with(|n| ise_intune_http::scrub::printable(n, 256))
                .ok(),
            summary: record.summary.map_or_else(
                || summary(attempt.method.as_str(), attempt.path),
                str::to_owned,
            ),
            request_id: record
                .request_id
                .map(|r| ise_intune_http::scrub::printable(r, 128)),
            result,
            status,
            attempt: attempt.attempt,
        }
    }

    /// Records one attempt sent as `identity` (for a fleet's `pair`): the line written
    /// to the file and to syslog, each that is configured (what the clients' sinks
    /// call; a program with its own clients may call it too).
    pub fn record(
        &self,
        identity: &str,
        pair: Option<&str>,
        record: &AuditRecord<'_>,
    ) -> std::io::Result<()> {
        self.append(&self.line(identity, pair, record))
    }

    /// Writes `line` to the file (its failure is the trail's: the write it records is
    /// not made) and queues its copy for syslog (never waited for: what does not reach
    /// the server is counted, [`AuditTrail::syslog_dropped`]).
    fn append(&self, line: &AuditLine) -> std::io::Result<()> {
        let text = serde_json::to_string(line).map_err(std::io::Error::other)?;
        if let Some(file) = &self.file {
            file.lock()
                .map_err(|_| std::io::Error::other("the audit trail's lock is poisoned"))?
                .append(&text)?;
        }
        if let Some(queue) = &self.syslog {
            queue.push(text);
        }
        Ok(())
    }

    /// How many lines have not reached the syslog server so far (its queue was full,
    /// or the server did not take them); 0 without syslog.
    pub fn syslog_dropped(&self) -> u64 {
        self.syslog.as_ref().map_or(0, syslog::SyslogQueue::dropped)
    }
}

impl Appender {
    /// Appends one line — one `write` of the whole line, to a file opened to append —
    /// flushed to disk; rotates first when it would pass the size. A line that could
    /// not be written whole (a full disk) is cut off again, so that no torn line is
    /// left for the next to be glued to.
    fn append(&mut self, text: &str) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(text.len().saturating_add(1));
        line.extend_from_slice(text.as_bytes());
        line.push(b'\n');
        let len = u64::try_from(line.len()).unwrap_or(u64::MAX);
        if self.size > 0 && self.size.saturating_add(len) > self.rotate_bytes {
            self.rotate()?;
        }
        let written = self
            .file
            .write(&line)
            .and_then(|n| {
                if n == line.len() {
                    Ok(())
                } else {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::WriteZero,
                        format!("only {n} of the line's {} bytes were written", line.len()),
                    ))
                }
            })
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Best effort: the error stands whatever this does.
            let _ = self.file.set_len(self.size);
            return Err(e);
        }
        self.size = self.size.saturating_add(len);
        Ok(())
    }

    /// `FILE` → `FILE.1`, `FILE.1` → `FILE.2` …, the oldest beyond `keep` removed; a
    /// new `FILE` begun.
    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.as_os_str().to_owned();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(self.keep));
            for n in (1..self.keep).rev() {
                let from = numbered(n);
                if from.exists() {
                    std::fs::rename(&from, numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        let (file, size) = open_append(&self.path).map_err(std::io::Error::other)?;
        self.file = file;
        self.size = size;
        Ok(())
    }
}

/// Opens `path` to append, creating it owner-only: never through a symbolic link,
/// never blocking (a FIFO without a reader is refused at once, one with a reader
/// after the open), and only a regular file; an existing file's mode is narrowed to
/// the owner's. Its current size.
fn open_append(path: &Path) -> Result<(File, u64), Error> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let refused = |e: std::io::Error| Error::Config {
        what: format!(
            "the audit trail {} cannot be opened: {e} (it must be a regular file, not a \
             symbolic link, a FIFO or a device)",
            path.display()
        ),
    };
    let file = options.open(path).map_err(refused)?;
    let metadata = file.metadata().map_err(refused)?;
    if !metadata.is_file() {
        return Err(refused(std::io::Error::other("not a regular file")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if metadata.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(refused)?;
        }
    }
    Ok((file, metadata.len()))
}

/// An attempt's `result` and `status`: `ok` (2xx), `refused` (another status), or
/// `no answer` with what went wrong.
fn result_of(
    status: Option<u16>,
    error: Option<&ise_intune_http::TransportErrorKind>,
) -> (String, Option<u16>) {
    match (status, error) {
        (Some(s), _) if (200..300).contains(&s) => ("ok".to_owned(), Some(s)),
        (Some(s), _) => ("refused".to_owned(), Some(s)),
        (None, Some(e)) => (format!("no answer: {e}"), None),
        (None, None) => ("no answer".to_owned(), None),
    }
}

/// The object a path names: its last segment that is not a collection's name — an
/// id, an alternate key (`(uniqueName='…')`), or a name — if any.
fn object_id(path: &str) -> Option<String> {
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    let key = last
        .split_once('(')
        .map_or(last, |(_, k)| k.trim_end_matches(')'));
    let is_id = key.chars().any(|c| c.is_ascii_digit()) || key.contains('=');
    is_id.then(|| ise_intune_http::scrub::printable(key, 200))
}

/// The kind of change (`create`, `update`, `delete`, `action`) and the kind of object:
/// the path's last collection name.
fn summary(method: &str, path: &str) -> String {
    let verb = match method {
        "POST" => "create or act on",
        "PUT" | "PATCH" => "update",
        "DELETE" => "delete",
        _ => "change",
    };
    let collection = path
        .trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.split_once('(').map_or(s, |(name, _)| name))
        .rfind(|s| !s.chars().any(|c| c.is_ascii_digit()) && !s.contains('='))
        .unwrap_or("object");
    format!("{verb} {collection}")
}

/// A trail's sink for one identity's client.
#[derive(Debug)]
pub(crate) struct IdentifiedSink {
    pub(crate) trail: Arc<AuditTrail>,
    pub(crate) identity: String,
    pub(crate) pair: Option<String>,
}

impl AuditSink for IdentifiedSink {
    fn record(&self, record: &AuditRecord<'_>) -> Result<(), ise_intune_http::AuditRefused> {
        let line = self
            .trail
            .line(&self.identity, self.pair.as_deref(), record);
        self.trail.append(&line).map_err(|e| {
            let when = match record.phase {
                ise_intune_http::AuditPhase::Intent => "the write was not made",
                _ => "the write was made; the run stops",
            };
            tracing::error!(error = %e, "the audit trail could not be written: {when}");
            ise_intune_http::AuditRefused(e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_summaries_from_paths() {
        assert_eq!(
            object_id("/applications(uniqueName='ise-intune-abc')"),
            Some("uniqueName='ise-intune-abc'".into())
        );
        assert_eq!(object_id("/servicePrincipals/1b2c/appRoleAssignedTo"), None);
        assert_eq!(
            summary("POST", "/servicePrincipals/1b2c/appRoleAssignedTo"),
            "create or act on appRoleAssignedTo"
        );
        assert_eq!(
            summary("PATCH", "/applications/0a1b2c"),
            "update applications"
        );
        assert_eq!(
            summary("DELETE", "/ers/config/trustedcertificate/5a6b"),
            "delete trustedcertificate"
        );
    }

    #[test]
    fn the_file_rotates_by_size_and_keeps_what_it_is_told() {
        let dir = std::env::temp_dir().join(format!("audit-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("audit.jsonl");
        let mut settings = AuditSettings::to_file(&path);
        settings.rotate_bytes = 1024;
        settings.keep = 2;
        let trail = AuditTrail::open(&settings, AuditContext::new("test")).expect("open");
        let sink = IdentifiedSink {
            trail,
            identity: "ise:admin".into(),
            pair: None,
        };
        let method = reqwest::Method::POST;
        for attempt in 1..=40 {
            sink.record(&AuditRecord::answered(
                "ISE",
                &method,
                "ise.example",
                "/ers/config/trustedcertificate",
                201,
                attempt,
            ))
            .expect("recorded");
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let rotated = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        // Two rotated files kept, none older; every file under the limit.
        assert!(rotated(1).exists() && rotated(2).exists());
        assert!(!rotated(3).exists());
        for p in [path.clone(), rotated(1), rotated(2)] {
            let text = read(&p);
            assert!(text.len() <= 1024, "{}: {} bytes", p.display(), text.len());
            for line in text.lines() {
                let parsed: AuditLine = serde_json::from_str(line).expect("one JSON object a line");
                assert_eq!(
                    (
                        parsed.identity.as_str(),
                        parsed.result.as_str(),
                        parsed.status
                    ),
                    ("ise:admin", "ok", Some(201))
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A fresh directory under the system's temporary one, for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("audit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[cfg(unix)]
    #[test]
    fn only_a_regular_file_is_opened_never_through_a_link_and_never_blocking() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = scratch("open");
        let open = |p: &Path| AuditTrail::open(&AuditSettings::to_file(p), AuditContext::new("t"));
        // A device (the full disk every write fails on) is refused before any write.
        assert!(matches!(
            open(Path::new("/dev/full")),
            Err(Error::Config { what }) if what.contains("not a regular file")
        ));
        // A symbolic link is not followed, even to a regular file.
        let target = dir.join("target.jsonl");
        std::fs::write(&target, b"").expect("target");
        let link = dir.join("link.jsonl");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(matches!(open(&link), Err(Error::Config { .. })));
        // A FIFO without a reader is refused at once instead of hanging the run.
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        assert!(matches!(open(&fifo), Err(Error::Config { .. })));
        // An existing file readable by others is narrowed to its owner.
        let wide = dir.join("wide.jsonl");
        std::fs::write(&wide, b"").expect("wide");
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        open(&wide).expect("a regular file opens");
        let mode = std::fs::metadata(&wide).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn each_attempt_is_an_intent_line_then_a_result_line() {
        let dir = scratch("phases");
        let path = dir.join("audit.jsonl");
        let trail =
            AuditTrail::open(&AuditSettings::to_file(&path), AuditContext::new("t")).expect("open");
        let sink = IdentifiedSink {
            trail,
            identity: "ise:admin".into(),
            pair: None,
        };
        let method = reqwest::Method::POST;
        let mut intent =
            AuditRecord::answered("ISE", &method, "ise.example", "/api/v1/certs/x", 201, 1);
        intent.phase = ise_intune_http::AuditPhase::Intent;
        intent.attempt.status = None;
        sink.record(&intent).expect("intent");
        let mut export = AuditRecord::answered(
            "ISE",
            &method,
            "ise.example",
            "/api/v1/certs/system-certificate/export",
            200,
            1,
        );
        export.summary = Some("export a private key");
        sink.record(&export).expect("result");
        let lines: Vec<AuditLine> = std::fs::read_to_string(&path)
            .expect("trail")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a line"))
            .collect();
        assert_eq!(
            lines
                .iter()
                .map(|l| (l.result.as_str(), l.status, l.summary.as_str()))
                .collect::<Vec<_>>(),
            [
                ("intent", None, "create or act on x"),
                ("ok", Some(200), "export a private key")
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
