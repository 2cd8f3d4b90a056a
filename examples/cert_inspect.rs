//! Prints every certificate found in each file given.
//!
//! ```text
//! cargo run --example cert_inspect -- [--json] FILE...
//! ```
//!
//! Files may be PEM (any number of certificates, text between them) or DER. With
//! `--json` stdout is one JSON array with an object per certificate. A file that cannot
//! be read or parsed is reported on stderr with the reason; the others are still
//! printed, and the exit status is 1.

use std::path::Path;
use std::process::ExitCode;

use ise_intune::integration::certs::{Certificate, MAX_INPUT_BYTES};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

fn load(path: &Path) -> Result<Vec<Certificate>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_INPUT_BYTES as u64 {
        return Err(format!(
            "{} bytes is more than the {MAX_INPUT_BYTES}-byte limit for certificate files",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    Certificate::parse_any(&bytes).map_err(|e| e.to_string())
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn to_json(file: &str, c: &Certificate) -> Value {
    json!({
        "file": file,
        "subject": c.subject(),
        "common_name": c.common_name(),
        "issuer": c.issuer(),
        "serial": c.serial(),
        "not_before": rfc3339(c.not_before()),
        "not_after": rfc3339(c.not_after()),
        "is_ca": c.is_ca(),
        "sha1": c.sha1().to_hex(),
        "sha256": c.sha256().to_hex(),
        "graph_key_identifier": c.graph_key_identifier(),
        "x5t": c.x5t(),
        "x5t_s256": c.x5t_s256(),
        "dns_names": c.dns_names(),
        "san_uris": c.san_uris(),
        "intune_device": c.intune_device_identity(),
    })
}

fn print_text(file: &str, index: usize, c: &Certificate) {
    println!("{file} [{index}]");
    println!("  subject:              {}", c.subject());
    println!("  issuer:               {}", c.issuer());
    println!("  serial:               {}", c.serial());
    println!(
        "  valid:                {} .. {}",
        rfc3339(c.not_before()),
        rfc3339(c.not_after())
    );
    println!("  CA:                   {}", c.is_ca());
    println!("  SHA-1 (Thumbprint):   {}", c.sha1());
    println!("  SHA-256:              {}", c.sha256());
    println!("  Graph key identifier: {}", c.graph_key_identifier());
    println!("  x5t:                  {}", c.x5t());
    println!("  x5t#S256:             {}", c.x5t_s256());
    for name in c.dns_names() {
        println!("  SAN DNS:              {name}");
    }
    for uri in c.san_uris() {
        println!("  SAN URI:              {uri}");
    }
    let device = c.intune_device_identity();
    if let Some(guid) = &device.guid {
        println!("  Intune device GUID:   {guid}");
    }
    if let Some(sid) = &device.sid {
        println!("  SID (strong mapping): {sid}");
    }
}

/// Prints every certificate found in each file: subject, validity, SHA-1 "Thumbprint",
/// SHA-256, Graph key identifier, x5t.
#[derive(clap::Parser, Debug)]
#[command(version)]
struct Args {
    /// Print one JSON array with an object per certificate.
    #[arg(long)]
    json: bool,
    /// PEM (any number of certificates) or DER files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
}

fn main() -> ExitCode {
    let Args {
        json: json_out,
        files,
    } = clap::Parser::parse();
    let mut failed = false;
    let mut out = Vec::new();
    for file in &files {
        match load(Path::new(file)) {
            Ok(certs) => {
                for (i, c) in certs.iter().enumerate() {
                    if json_out {
                        out.push(to_json(file, c));
                    } else {
                        print_text(file, i + 1, c);
                    }
                }
            }
            Err(reason) => {
                failed = true;
                eprintln!("{file}: {reason}");
            }
        }
    }
    if json_out {
        match serde_json::to_string_pretty(&Value::Array(out)) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("cannot write JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
