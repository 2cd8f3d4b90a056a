//! Reading the files an operator names (configurations, inventories, certificates,
//! keys): regular files only, under a size cap, so that `/dev/zero`, a FIFO or a
//! directory given by mistake fails at once with a typed error instead of growing
//! memory or hanging.

use std::io::Read as _;
use std::path::Path;

use crate::Error;

/// The largest file read: 4 MiB, far above any configuration, inventory, PEM bundle
/// or PKCS#12 file the library reads.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

fn refused(path: &Path, what: String) -> Error {
    Error::ReadFile {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, what),
    }
}

/// The bytes of `path`, which must be a regular file of at most [`MAX_FILE_BYTES`].
///
/// The type is checked on the opened file (no race between the check and the read)
/// and the read itself stops one byte past the cap, so a file that grows while read
/// is refused too.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    let io = |source| Error::ReadFile {
        path: path.to_owned(),
        source,
    };
    // Opening a FIFO for reading blocks until a writer appears: refuse one before
    // opening it.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(refused(
            path,
            "not a regular file (a device, FIFO, socket or directory): name a file".into(),
        ));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(refused(path, "not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(refused(
            path,
            format!(
                "{} bytes, more than the {MAX_FILE_BYTES} bytes allowed",
                meta.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(io)?;
    if out.len() as u64 > MAX_FILE_BYTES {
        return Err(refused(
            path,
            format!("grew past the {MAX_FILE_BYTES} bytes allowed while read"),
        ));
    }
    Ok(out)
}

/// The text of `path` (UTF-8), with the bounds of [`read_bounded`].
pub fn read_text(path: &Path) -> Result<String, Error> {
    String::from_utf8(read_bounded(path)?).map_err(|_| refused(path, "not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: &Error) -> Option<String> {
        match e {
            Error::ReadFile { source, .. } => Some(source.to_string()),
            _ => None,
        }
    }

    #[test]
    fn devices_and_directories_are_refused_before_reading() {
        let e = read_bounded(Path::new("/dev/zero")).expect_err("device");
        assert!(
            kind(&e).is_some_and(|s| s.contains("not a regular file")),
            "{e:?}"
        );
        let e = read_bounded(Path::new("/")).expect_err("directory");
        assert!(
            kind(&e).is_some_and(|s| s.contains("not a regular file")),
            "{e:?}"
        );
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_one_under_it_read() {
        let dir = std::env::temp_dir().join(format!("ise-intune-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let big = dir.join("big");
        let f = std::fs::File::create(&big).expect("create");
        f.set_len(MAX_FILE_BYTES + 1).expect("sparse");
        let e = read_bounded(&big).expect_err("too big");
        assert!(kind(&e).is_some_and(|s| s.contains("more than")), "{e:?}");
        let small = dir.join("small");
        std::fs::write(&small, "x = 1\n").expect("write");
        assert_eq!(read_text(&small).expect("read"), "x = 1\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
