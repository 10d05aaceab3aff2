//! How the store's objects are kept on disk: one file, whose first line is a snapshot
//! (`{"revision":N,"objects":[[key,object],…]}`, the format the whole-file store wrote,
//! so its files open as they are) and each further line one write (`{"r":N,"put":[key,
//! object]}` or `{"r":N,"del":key}`), appended before the write is answered. Opening
//! reads the snapshot and replays the lines after it; a torn last line (the process
//! stopped mid-write) is dropped and cut off, so the next write starts a clean line.
//!
//! Durability: each line goes to the kernel in one `write` before the write is
//! answered, so a write survives the process being killed; it is not fsynced, so a
//! power loss may lose the last writes (the whole-file store never synced either). A
//! simulated cluster's objects are worth less than a sync per write.
//!
//! Compaction: when the lines after the snapshot outgrow both the snapshot and
//! [`COMPACT_AFTER`], the objects are written as a new snapshot to a temporary file,
//! synced, and renamed over the file (atomic: a crash leaves the old file or the new
//! one). The file stays within about twice the snapshot's size (or the minimum), and a
//! write costs its own line plus, amortized, about one line of compaction.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::key::Key;

/// The lines after the snapshot are compacted once they pass this many bytes and the
/// snapshot's size.
pub const COMPACT_AFTER: u64 = 8 << 20;

/// The objects a file holds, and the revision they are at.
#[derive(Default)]
pub struct Loaded {
    pub revision: u64,
    pub objects: BTreeMap<Key, Value>,
}

/// The snapshot line, as read.
#[derive(Default, Deserialize)]
struct Snapshot {
    revision: u64,
    objects: Vec<(Key, Value)>,
}

/// One write's line, as read (written by [`Journal::put`] and [`Journal::delete`]).
#[derive(Deserialize)]
struct Line {
    r: u64,
    #[serde(default)]
    put: Option<(Key, Value)>,
    #[serde(default)]
    del: Option<Key>,
}

/// The open file, appended to.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The file's length: where the next line goes.
    len: u64,
    snapshot_bytes: u64,
    compact_after: u64,
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

impl Journal {
    /// Opens (or makes) `path`: the journal and the objects it holds.
    pub fn open(path: &Path, compact_after: u64) -> io::Result<(Journal, Loaded)> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let (loaded, good, snapshot_bytes) = read(path, &bytes)?;
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        if good < bytes.len() as u64 {
            // A torn last line: cut it off.
            file.set_len(good)?;
        }
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            len: good,
            snapshot_bytes,
            compact_after,
        };
        if good == 0 {
            // A new file starts with its (empty) snapshot.
            journal.compact(0, std::iter::empty())?;
        } else if !bytes[..good as usize].ends_with(b"\n") {
            // The whole-file store's file: its one line gets its newline.
            journal.file.write_all(b"\n")?;
            journal.len += 1;
            journal.snapshot_bytes += 1;
        }
        Ok((journal, loaded))
    }

    /// Appends that `key` is the object written out as `json` at `revision`.
    pub fn put(&mut self, revision: u64, key: &Key, json: &[u8]) -> io::Result<()> {
        let mut line = format!("{{\"r\":{revision},\"put\":[").into_bytes();
        serde_json::to_writer(&mut line, key).map_err(io::Error::other)?;
        line.push(b',');
        line.extend_from_slice(json);
        line.extend_from_slice(b"]}\n");
        self.append(&line)
    }

    /// Appends that `key` is gone at `revision`.
    pub fn delete(&mut self, revision: u64, key: &Key) -> io::Result<()> {
        let mut line = format!("{{\"r\":{revision},\"del\":").into_bytes();
        serde_json::to_writer(&mut line, key).map_err(io::Error::other)?;
        line.extend_from_slice(b"}\n");
        self.append(&line)
    }

    /// Writes one whole line: appended at once, or taken out again.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.file.write_all(bytes) {
            // Whatever part went in comes out again, so the next line starts clean.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Whether the lines after the snapshot have grown enough to compact.
    pub fn wants_compaction(&self) -> bool {
        let lines = self.len - self.snapshot_bytes;
        lines > self.compact_after && lines > self.snapshot_bytes
    }

    /// Replaces the file with a snapshot of `objects` (each key with its object written
    /// out) at `revision` (see the module's documentation); on failure the file is as it
    /// was and is still appended to.
    pub fn compact<'a>(
        &mut self,
        revision: u64,
        objects: impl Iterator<Item = (&'a Key, &'a [u8])>,
    ) -> io::Result<()> {
        let mut bytes = format!("{{\"revision\":{revision},\"objects\":[").into_bytes();
        for (i, (key, json)) in objects.enumerate() {
            bytes.extend_from_slice(if i == 0 { b"[" } else { b",[" });
            serde_json::to_writer(&mut bytes, key).map_err(io::Error::other)?;
            bytes.push(b',');
            bytes.extend_from_slice(json);
            bytes.push(b']');
        }
        bytes.extend_from_slice(b"]}\n");
        let tmp = self.path.with_extension("compacting");
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.len = bytes.len() as u64;
        self.snapshot_bytes = self.len;
        Ok(())
    }
}

/// The objects in `bytes` (a journal's file), how many bytes of it are whole lines, and
/// the snapshot's size.
fn read(path: &Path, bytes: &[u8]) -> io::Result<(Loaded, u64, u64)> {
    let mut loaded = Loaded::default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((loaded, 0, 0));
    }
    let mut lines = bytes.split_inclusive(|b| *b == b'\n');
    // The snapshot: renamed into place whole, so it reads (a file of the whole-file
    // store is one such line without its newline).
    let first = lines.next().unwrap_or_default();
    let snapshot: Snapshot =
        serde_json::from_slice(first).map_err(|e| invalid(path, format!("the snapshot: {e}")))?;
    loaded.revision = snapshot.revision;
    loaded.objects = snapshot.objects.into_iter().collect();
    let snapshot_bytes = first.len() as u64;
    let mut good = snapshot_bytes;
    let mut lines = lines.peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        match serde_json::from_slice::<Line>(line) {
            Ok(l) if line.ends_with(b"\n") => {
                loaded.revision = loaded.revision.max(l.r);
                if let Some((key, object)) = l.put {
                    loaded.objects.insert(key, object);
                }
                if let Some(key) = l.del {
                    loaded.objects.remove(&key);
                }
                good += line.len() as u64;
            }
            // Torn by a stop mid-write: only ever the last line.
            _ if last => break,
            Err(e) => return Err(invalid(path, format!("line at byte {good}: {e}"))),
            Ok(_) => return Err(invalid(path, format!("line at byte {good} is not whole"))),
        }
    }
    Ok((loaded, good, snapshot_bytes))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::store::{Key, Store};

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kubesim-journal-{name}-{}-{}",
            std::process::id(),
            crate::store::random_suffix(6)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("objects.json")
    }

    fn map(name: &str, n: usize) -> serde_json::Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
               "data": {"n": n.to_string(), "padding": "x".repeat(200)}})
    }

    fn everything(store: &Store) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        for r in [
            "namespaces",
            "configmaps",
            "clusterroles.rbac.authorization.k8s.io",
        ] {
            all.extend(store.list(r, None));
        }
        all
    }

    #[test]
    fn reopening_after_many_writes_and_compactions_keeps_every_object_and_the_revision() {
        let file = scratch("compact");
        let store = Store::open_compacting(Some(file.clone()), 16 << 10).unwrap();
        let key = |i: usize| Key::new("configmaps", Some("default"), &format!("c{i}"));
        for i in 0..400 {
            store.create(&key(i), map(&format!("c{i}"), i)).unwrap();
        }
        for i in (0..400).step_by(3) {
            store
                .modify(&key(i), |o| {
                    o["data"]["n"] = json!(format!("{i} again"));
                    true
                })
                .unwrap();
        }
        for i in (0..400).step_by(7) {
            store.delete(&key(i)).unwrap();
        }
        let (revision, before) = (store.revision(), everything(&store));
        // Compacted on the way: the file starts with a snapshot past the start, and
        // holds far less than every line written.
        let text = std::fs::read_to_string(&file).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert!(first["revision"].as_u64().unwrap() > 100, "compacted");
        let lines = text.lines().count() as u64;
        assert!(lines < revision / 2, "{lines} lines for {revision} writes");
        drop(store);
        let reopened = Store::open_compacting(Some(file.clone()), 16 << 10).unwrap();
        assert_eq!(reopened.revision(), revision);
        assert_eq!(everything(&reopened), before);
        assert_eq!(
            reopened.get(&key(3)).unwrap()["data"]["n"],
            "3 again",
            "a modified object as modified"
        );
        assert!(reopened.get(&key(7)).is_none(), "a deleted one gone");
        // Writes after the reopen go on from its revision, and survive the next.
        let made = reopened.create(&key(1000), map("c1000", 1000)).unwrap();
        assert_eq!(
            made["metadata"]["resourceVersion"],
            (revision + 1).to_string()
        );
        drop(reopened);
        let again = Store::open(Some(file.clone())).unwrap();
        assert_eq!(again.get(&key(1000)).unwrap(), made);
        assert_eq!(again.revision(), revision + 1);
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_the_next_write_starts_clean() {
        let file = scratch("torn");
        let store = Store::open(Some(file.clone())).unwrap();
        let key = Key::new("configmaps", Some("default"), "kept");
        let kept = store.create(&key, map("kept", 1)).unwrap();
        let revision = store.revision();
        drop(store);
        // The process stopped halfway through a line.
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.extend_from_slice(br#"{"r":999,"put":[{"resource":"configmaps","names"#);
        std::fs::write(&file, &bytes).unwrap();
        let reopened = Store::open(Some(file.clone())).unwrap();
        assert_eq!(reopened.revision(), revision);
        assert_eq!(reopened.get(&key).unwrap(), kept);
        let next = Key::new("configmaps", Some("default"), "next");
        reopened.create(&next, map("next", 2)).unwrap();
        drop(reopened);
        let again = Store::open(Some(file.clone())).unwrap();
        assert!(again.get(&key).is_some() && again.get(&next).is_some());
        assert_eq!(again.revision(), revision + 1);
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }

    #[test]
    fn a_file_of_the_whole_file_store_opens_and_is_appended_to() {
        let file = scratch("old");
        let key = Key::new("configmaps", Some("default"), "old");
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "old", "namespace": "default", "resourceVersion": "7"}});
        let saved = json!({"revision": 7, "objects": [[key, object]]});
        std::fs::write(&file, serde_json::to_vec(&saved).unwrap()).unwrap();
        let store = Store::open(Some(file.clone())).unwrap();
        assert_eq!(store.get(&key).unwrap(), object);
        // The default namespaces and roles were made on top of it.
        let revision = store.revision();
        assert!(revision > 7);
        drop(store);
        let again = Store::open(Some(file.clone())).unwrap();
        assert_eq!(again.get(&key).unwrap(), object);
        assert_eq!(again.revision(), revision);
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }
}
