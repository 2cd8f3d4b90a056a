//! What the bridge wrote, on disk: an embedded `redb` database, one file per pair.
//!
//! `redb` rather than SQLite: the store is three key-value tables (ISE's endpoint
//! MACs, the values written to each, a few markers), which needs no SQL; `redb` is pure
//! Rust (no C library to build or to keep patched), crash-safe (copy-on-write B-trees,
//! a commit is atomic and durable), and holds an exclusive lock on its file for as long
//! as it is open, which is what keeps two syncs of one pair from both writing.
//!
//! Tables:
//! * `known` — the MACs of ISE's endpoints, as last read from ISE;
//! * `written` — per MAC, the Intune device and the values last written to it (one
//!   text row, the values in the order of the `columns` marker);
//! * `absent` — device MACs ISE had no endpoint for at the last look, with a digest
//!   of the device's values then (looked up again when they change, and in a full
//!   pass);
//! * `meta` — the last sync's latest check-in (the next incremental read starts there, less an
//!   overlap), the last full pass, the day the ages were computed for, the attribute
//!   definitions the bridge made, the drift sample's cursor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableDefinition};

use crate::error::Error;

const KNOWN: TableDefinition<&str, ()> = TableDefinition::new("known");
const WRITTEN: TableDefinition<&str, &str> = TableDefinition::new("written");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const ABSENT: TableDefinition<&str, &str> = TableDefinition::new("absent");

/// What the bridge last wrote to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The Intune device id whose values they are.
    pub device: String,
    /// The values, by ISE name.
    pub values: BTreeMap<String, String>,
}

/// The store of one pair. Open, it holds the file's lock.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
    /// The attributes, in the order rows hold their values ([`Store::use_columns`]).
    columns: Vec<String>,
}

/// Separates the fields of a row: values are printable text, which never holds it.
const SEP: char = '\u{1f}';

/// The store's page cache.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

impl Store {
    /// Opens (or creates) the store at `path`; [`Error::SyncBusy`] when another sync
    /// holds it.
    pub fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::AttributeStore {
                path: path.display().to_string(),
                what: format!("cannot create its folder: {e}"),
            })?;
        }
        // A bounded page cache (redb's default is a gigabyte): the store is read a
        // key at a time and written a bulk request at a time.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::SyncBusy {
                    path: path.display().to_string(),
                },
                other => Error::AttributeStore {
                    path: path.display().to_string(),
                    what: format!(
                        "cannot open it ({other}); move it aside to start over (the next sync \
                     then reads ISE and Intune in full)"
                    ),
                },
            })?;
        let mut store = Self {
            db,
            path: path.to_owned(),
            columns: Vec::new(),
        };
        // The tables exist from the first open on, so that reads never miss one.
        store.write(|txn| {
            txn.open_table(KNOWN)?;
            txn.open_table(WRITTEN)?;
            txn.open_table(META)?;
            txn.open_table(ABSENT)?;
            Ok(())
        })?;
        store.columns = store
            .meta("columns")?
            .map(|c| c.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(store)
    }

    /// Holds rows for the attributes `columns` (ISE names, in order). A store kept for
    /// other attributes (the configuration changed) is emptied of its rows and
    /// markers, so that the next sync is a full one; returns whether it was.
    pub fn use_columns(&mut self, columns: &[String]) -> Result<bool, Error> {
        if self.columns == columns {
            return Ok(false);
        }
        let joined = columns.join(",");
        self.write(|txn| {
            for table in [WRITTEN, ABSENT, META] {
                txn.delete_table(table)?;
                txn.open_table(table)?;
            }
            txn.open_table(META)?.insert("columns", joined.as_str())?;
            Ok(())
        })?;
        let emptied = !self.columns.is_empty();
        self.columns = columns.to_vec();
        Ok(emptied)
    }

    /// A row: the device, then each column's value (empty: none).
    fn encode(&self, w: &Written) -> String {
        let mut row = w.device.clone();
        for c in &self.columns {
            row.push(SEP);
            if let Some(v) = w.values.get(c) {
                row.push_str(v);
            }
        }
        row
    }

    fn decode(&self, mac: &str, row: &str) -> Result<Written, Error> {
        let mut fields = row.split(SEP);
        let device = fields.next().unwrap_or_default().to_owned();
        let mut values = BTreeMap::new();
        let mut count = 0usize;
        for (c, v) in self.columns.iter().zip(fields.by_ref()) {
            count += 1;
            if !v.is_empty() {
                values.insert(c.clone(), v.to_owned());
            }
        }
        if count != self.columns.len() || fields.next().is_some() {
            return Err(self.fail(format!(
                "entry {mac} does not hold the {} attributes the store is kept for",
                self.columns.len()
            )));
        }
        Ok(Written { device, values })
    }

    /// The attributes its rows hold, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, e: impl std::fmt::Display) -> Error {
        Error::AttributeStore {
            path: self.path.display().to_string(),
            what: e.to_string(),
        }
    }

    /// One commit, durable (synced to disk before it returns) or not: a commit that
    /// is not durable is lost in a crash together with every later one until the next
    /// durable commit, which leaves an older store — one that has the sync write again
    /// what it already wrote, never one that claims a write that did not happen.
    fn commit(
        &self,
        durable: bool,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), Error> {
        let mut txn = self.db.begin_write().map_err(|e| self.fail(e))?;
        if !durable {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| self.fail(e))?;
        }
        f(&txn).map_err(|e| self.fail(e))?;
        txn.commit().map_err(|e| self.fail(e))
    }

    fn write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), Error> {
        self.commit(true, f)
    }

    /// A marker of `meta`.
    pub fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.text(META, key)
    }

    /// Sets markers of `meta`, all in one durable commit (which makes every commit
    /// before it durable too).
    pub fn set_meta(&self, entries: &[(&str, String)]) -> Result<(), Error> {
        self.set_meta_with(entries, true)
    }

    /// Sets markers of `meta` in one commit, durable or not (see [`Store::set_meta`];
    /// a marker lost in a crash only has the next sync read more).
    pub fn set_meta_with(&self, entries: &[(&str, String)], durable: bool) -> Result<(), Error> {
        self.commit(durable, |txn| {
            let mut table = txn.open_table(META)?;
            for (k, v) in entries {
                table.insert(*k, v.as_str())?;
            }
            Ok(())
        })
    }

    /// Whether ISE had an endpoint of `mac` when last read.
    pub fn is_known(&self, mac: &str) -> Result<bool, Error> {
        let read = || -> Result<bool, redb::Error> {
            let txn = self.db.begin_read()?;
            Ok(txn.open_table(KNOWN)?.get(mac)?.is_some())
        };
        read().map_err(|e| self.fail(e))
    }

    /// Records endpoints ISE no longer has, in one commit (durable with the next
    /// [`Store::set_meta`]).
    pub fn forget_known(&self, gone: &[String]) -> Result<(), Error> {
        self.commit(false, |txn| {
            let mut table = txn.open_table(KNOWN)?;
            for mac in gone {
                table.remove(mac.as_str())?;
            }
            Ok(())
        })
    }

    /// The text under `key` in `table`.
    fn text(&self, table: TableDefinition<&str, &str>, key: &str) -> Result<Option<String>, Error> {
        let read = || -> Result<Option<String>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(table)?;
            Ok(table.get(key)?.map(|v| v.value().to_owned()))
        };
        read().map_err(|e| self.fail(e))
    }

    /// What was last written to `mac`.
    pub fn written(&self, mac: &str) -> Result<Option<Written>, Error> {
        match self.text(WRITTEN, mac)? {
            None => Ok(None),
            Some(row) => self.decode(mac, &row).map(Some),
        }
    }

    /// Records what a bulk request wrote (`Some`) or cleared (`None`), in one commit
    /// (durable with the next [`Store::set_meta`]).
    pub fn record(&self, entries: &[(String, Option<Written>)]) -> Result<(), Error> {
        let mut rows: Vec<(&str, Option<String>)> = Vec::with_capacity(entries.len());
        for (mac, w) in entries {
            rows.push((mac.as_str(), w.as_ref().map(|w| self.encode(w))));
        }
        // In key order: neighbouring keys share their B-tree pages.
        rows.sort_by(|a, b| a.0.cmp(b.0));
        self.commit(false, |txn| {
            let mut table = txn.open_table(WRITTEN)?;
            for (mac, json) in &rows {
                match json {
                    Some(j) => {
                        table.insert(*mac, j.as_str())?;
                    }
                    None => {
                        table.remove(*mac)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// A digest of the device's values when ISE last had no endpoint of `mac`.
    pub fn absent(&self, mac: &str) -> Result<Option<String>, Error> {
        self.text(ABSENT, mac)
    }

    /// Records what a lookup found, in one commit (durable with the next
    /// [`Store::set_meta`]): the MACs ISE has an endpoint for (`found`: known, no
    /// longer absent) and those it has none for (`absent`, with the device's values
    /// then: not known).
    pub fn note_lookups(&self, found: &[String], absent: &[(String, String)]) -> Result<(), Error> {
        if found.is_empty() && absent.is_empty() {
            return Ok(());
        }
        let mut rows: Vec<(&str, &str)> = absent
            .iter()
            .map(|(m, d)| (m.as_str(), d.as_str()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let mut found: Vec<&str> = found.iter().map(String::as_str).collect();
        found.sort_unstable();
        self.commit(false, |txn| {
            let mut known = txn.open_table(KNOWN)?;
            let mut table = txn.open_table(ABSENT)?;
            for mac in &found {
                known.insert(*mac, ())?;
                table.remove(*mac)?;
            }
            for (mac, digest) in &rows {
                known.remove(*mac)?;
                table.insert(*mac, *digest)?;
            }
            Ok(())
        })
    }

    /// How many endpoints carry values the bridge wrote.
    pub fn written_count(&self) -> Result<u64, Error> {
        let read = || -> Result<u64, redb::Error> {
            let txn = self.db.begin_read()?;
            Ok(txn.open_table(WRITTEN)?.len()?)
        };
        read().map_err(|e| self.fail(e))
    }

    /// Up to `limit` entries of `written` after `after` (from the start when `None`),
    /// in MAC order: the store read a bounded batch at a time.
    pub fn written_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Written)>, Error> {
        let read = || -> Result<Vec<(String, String)>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(WRITTEN)?;
            let range = match after {
                Some(a) => table
                    .range::<&str>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))?,
                None => table.range::<&str>(..)?,
            };
            let mut out = Vec::new();
            for row in range.take(limit) {
                let (k, v) = row?;
                out.push((k.value().to_owned(), v.value().to_owned()));
            }
            Ok(out)
        };
        read()
            .map_err(|e| self.fail(e))?
            .into_iter()
            .map(|(mac, row)| self.decode(&mac, &row).map(|w| (mac, w)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "ise-intune-store-{}-{name}.redb",
            std::process::id()
        ))
    }

    #[test]
    fn a_second_open_of_one_store_is_refused_as_busy_and_entries_survive_a_reopen() {
        let path = temp("busy");
        let _ = std::fs::remove_file(&path);
        {
            let mut store = Store::open(&path).expect("open");
            assert!(matches!(Store::open(&path), Err(Error::SyncBusy { .. })));
            assert!(
                !store
                    .use_columns(&["IntuneStale".to_owned()])
                    .expect("columns")
            );
            let w = Written {
                device: "d1".into(),
                values: BTreeMap::from([("IntuneStale".into(), "false".into())]),
            };
            store
                .record(&[("00:50:56:00:00:01".into(), Some(w.clone()))])
                .expect("record");
            store
                .note_lookups(&["00:50:56:00:00:01".into()], &[])
                .expect("known");
        }
        let store = Store::open(&path).expect("reopen");
        assert!(store.is_known("00:50:56:00:00:01").expect("read"));
        assert_eq!(
            store
                .written("00:50:56:00:00:01")
                .expect("read")
                .map(|w| w.device),
            Some("d1".to_owned())
        );
        let page = store.written_after(None, 10).expect("range");
        assert_eq!(page.len(), 1);
        assert!(
            store
                .written_after(Some("00:50:56:00:00:01"), 10)
                .expect("range")
                .is_empty()
        );
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_file_that_is_not_a_store_is_an_attribute_store_error() {
        let path = temp("garbage");
        std::fs::write(&path, b"not a database at all").expect("write");
        assert!(matches!(
            Store::open(&path),
            Err(Error::AttributeStore { .. })
        ));
        let _ = std::fs::remove_file(&path);
    }
}
