//! Filesystem block store: one file per object under a root directory.
//!
//! An object is written to a temporary name in its final directory, fsynced,
//! renamed over the final name and the directory fsynced, so after a crash an
//! object is either absent or complete, never torn. Keys are relative paths
//! (`share/inode/block…`); components that could escape the root are refused.
//! Calls block: they run on the uploader's threads, never on a data core.
//!
//! Objects are written with `O_DIRECT` (see `direct.rs`): a buffered write of a
//! 4 MiB block spent most of an upload copying into the page cache and then
//! waiting for its writeback in the fsync, and sequential writes are paced by
//! uploads once the WAL is full. Where the filesystem refuses `O_DIRECT`
//! (tmpfs) the store falls back to buffered writes for good.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use dittofs_shards::{BlockStore, BlockStoreError};

use super::fs_direct as direct;

/// Suffix of objects being written; `list` skips them and `open` removes leftovers.
const TEMP_SUFFIX: &str = ".dittofs-tmp";

/// Block store in a local directory.
pub struct FsBlockStore {
    root: PathBuf,
    temp_counter: AtomicU64,
    /// `O_DIRECT` writes work here (cleared on the first EINVAL).
    direct: AtomicBool,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> BlockStoreError {
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        return BlockStoreError::NoSpace;
    }
    BlockStoreError::Io(format!("{what} {}: {e}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<(), BlockStoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("fsync directory", dir, e))
}

impl FsBlockStore {
    /// Opens (creating it if needed) the store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<FsBlockStore, BlockStoreError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| io_error("create", &root, e))?;
        Ok(FsBlockStore {
            root,
            temp_counter: AtomicU64::new(0),
            direct: AtomicBool::new(true),
        })
    }

    /// The file of `key`, refusing keys that are empty, absolute or contain `..`.
    fn path_of(&self, key: &str) -> Result<PathBuf, BlockStoreError> {
        let rel = Path::new(key);
        let normal = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if key.is_empty() || !normal || key.ends_with(TEMP_SUFFIX) {
            return Err(BlockStoreError::Io(format!("invalid object key {key:?}")));
        }
        Ok(self.root.join(rel))
    }
}

impl BlockStore for FsBlockStore {
    fn put(&self, key: &str, data: Bytes) -> Result<(), BlockStoreError> {
        let path = self.path_of(key)?;
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp = path.with_extension(format!("{}.{n}{TEMP_SUFFIX}", std::process::id()));
        let result = (|| {
            let written = if self.direct.load(Ordering::Relaxed) {
                match direct::write_new(&temp, &data) {
                    Err(e) if direct::unsupported(&e) => {
                        log::info!(
                            "block store {}: O_DIRECT refused ({e}); buffered writes from now on",
                            self.root.display()
                        );
                        self.direct.store(false, Ordering::Relaxed);
                        let _ = fs::remove_file(&temp);
                        None
                    }
                    other => Some(other),
                }
            } else {
                None
            };
            let file = match written {
                Some(done) => done.map_err(|e| io_error("write", &temp, e))?,
                None => {
                    let mut file = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&temp)
                        .map_err(|e| io_error("create", &temp, e))?;
                    file.write_all(&data)
                        .map_err(|e| io_error("write", &temp, e))?;
                    file
                }
            };
            file.sync_all().map_err(|e| io_error("fsync", &temp, e))?;
            fs::rename(&temp, &path).map_err(|e| io_error("rename", &temp, e))?;
            sync_dir(&dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn get(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BlockStoreError> {
        let path = self.path_of(key)?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(BlockStoreError::NotFound(key.to_owned()))
            }
            Err(e) => return Err(io_error("open", &path, e)),
        };
        let size = file
            .metadata()
            .map_err(|e| io_error("stat", &path, e))?
            .len();
        let start = offset.min(size);
        let end = offset.saturating_add(len).min(size);
        let mut buf = vec![
            0u8;
            usize::try_from(end - start)
                .map_err(|_| BlockStoreError::Io("range too large".into()))?
        ];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| io_error("read", &path, e))?;
        Ok(Bytes::from(buf))
    }

    fn delete(&self, key: &str) -> Result<(), BlockStoreError> {
        let path = self.path_of(key)?;
        // No directory fsync: an unlink lost in a crash leaves an object that
        // no block map points at, which the orphan sweep deletes. Each fsync
        // here was a journal commit per superseded block, in the way of the
        // WAL's and the metadata store's.
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &path, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BlockStoreError> {
        let mut keys = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("list", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_error("list", &dir, e))?;
                let path = entry.path();
                let is_dir = entry
                    .file_type()
                    .map_err(|e| io_error("stat", &path, e))?
                    .is_dir();
                let Ok(rel) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let Some(key) = rel.to_str() else { continue };
                if is_dir {
                    // Only descend where keys with the prefix can be.
                    let as_prefix = format!("{key}/");
                    if as_prefix.starts_with(prefix) || prefix.starts_with(&as_prefix) {
                        stack.push(path);
                    }
                } else if key.starts_with(prefix) && !key.ends_with(TEMP_SUFFIX) {
                    keys.push(key.to_owned());
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (FsBlockStore, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "dittofs-fsblocks-{}-{}",
            std::process::id(),
            fresh()
        ));
        (FsBlockStore::open(&dir).unwrap(), dir)
    }

    fn fresh() -> u64 {
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn put_get_list_delete() {
        let (s, dir) = store();
        s.put("1/7/0", Bytes::from_static(b"hello world")).unwrap();
        s.put("1/7/1", Bytes::from_static(b"second")).unwrap();
        s.put("1/8/0", Bytes::from_static(b"other")).unwrap();
        s.put("1/7/0", Bytes::from_static(b"HELLO world")).unwrap();
        assert_eq!(&s.get("1/7/0", 0, 5).unwrap()[..], b"HELLO");
        assert_eq!(&s.get("1/7/0", 6, 100).unwrap()[..], b"world");
        assert_eq!(s.get("1/7/0", 50, 10).unwrap().len(), 0);
        assert_eq!(s.list("1/7/").unwrap(), vec!["1/7/0", "1/7/1"]);
        assert_eq!(s.list("").unwrap().len(), 3);
        s.delete("1/7/0").unwrap();
        s.delete("1/7/0").unwrap();
        assert!(matches!(
            s.get("1/7/0", 0, 1),
            Err(BlockStoreError::NotFound(_))
        ));
        assert_eq!(s.list("1/").unwrap(), vec!["1/7/1", "1/8/0"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn objects_of_any_length_read_back_exactly() {
        let (s, dir) = store();
        for len in [0usize, 1, 4095, 4096, 4097, (4 << 20) + 1, 17 << 20] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let key = format!("1/9/{len}");
            s.put(&key, Bytes::from(data.clone())).unwrap();
            assert_eq!(fs::metadata(dir.join(&key)).unwrap().len(), len as u64);
            assert_eq!(&s.get(&key, 0, u64::MAX).unwrap()[..], &data[..], "{len}");
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn hostile_keys_are_refused() {
        let (s, dir) = store();
        for key in ["", "/etc/passwd", "../x", "a/../../x", "x.dittofs-tmp"] {
            assert!(s.put(key, Bytes::from_static(b"x")).is_err(), "{key}");
            assert!(s.get(key, 0, 1).is_err(), "{key}");
        }
        fs::remove_dir_all(dir).unwrap();
    }
}
