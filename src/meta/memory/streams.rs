//! Named streams in the memory store: one `BTreeMap` keyed by
//! `(base ino, key)` next to the inode map (see `meta::streams`).

use super::{MemoryStore, State};
use crate::fs::{Attr, FileType, InodeId, Timespec};
use crate::meta::streams::check_stream_name;
use crate::meta::{MetaError, MetaResult, NewInode, StreamCreated, StreamRecord};

impl State {
    fn stream_record(&self, key: &[u8], name: &[u8], ino: InodeId) -> MetaResult<StreamRecord> {
        Ok(StreamRecord {
            key: key.to_vec(),
            name: name.to_vec(),
            attr: self.attr(ino)?,
        })
    }

    /// Deletes the hidden inode `ino` of a stream.
    fn delete_stream_inode(&mut self, ino: InodeId) -> Option<Attr> {
        let attr = self.nodes.remove(&ino)?.attr;
        self.dos_attributes.remove(&ino);
        if attr.ftype == FileType::Regular {
            self.used_bytes = self.used_bytes.saturating_sub(attr.size);
        }
        Some(attr)
    }

    pub(super) fn create_stream(
        &mut self,
        store: &MemoryStore,
        base: InodeId,
        key: &[u8],
        name: &[u8],
        new: &NewInode,
        now: Timespec,
    ) -> MetaResult<StreamCreated> {
        check_stream_name(key)?;
        check_stream_name(name)?;
        self.node(base)?;
        if let Some((n, ino)) = self.streams.get(&(base, key.to_vec())) {
            return Ok(StreamCreated {
                stream: self.stream_record(key, n, *ino)?,
                existed: true,
            });
        }
        if self.nodes.len() as u64 >= store.total_files {
            return Err(MetaError::NoSpace);
        }
        let regular = NewInode {
            ftype: FileType::Regular,
            ..new.clone()
        };
        let node = store.new_node(self, &regular, 0, now);
        let ino = node.attr.ino;
        self.nodes.insert(ino, node);
        self.streams
            .insert((base, key.to_vec()), (name.to_vec(), ino));
        Ok(StreamCreated {
            stream: self.stream_record(key, name, ino)?,
            existed: false,
        })
    }

    pub(super) fn lookup_stream(
        &self,
        base: InodeId,
        key: &[u8],
    ) -> MetaResult<Option<StreamRecord>> {
        match self.streams.get(&(base, key.to_vec())) {
            Some((name, ino)) => Ok(Some(self.stream_record(key, name, *ino)?)),
            None => Ok(None),
        }
    }

    pub(super) fn list_streams(&self, base: InodeId) -> MetaResult<Vec<StreamRecord>> {
        self.streams
            .range((base, Vec::new())..)
            .take_while(|((b, _), _)| *b == base)
            .map(|((_, key), (name, ino))| self.stream_record(key, name, *ino))
            .collect()
    }

    pub(super) fn remove_stream(&mut self, base: InodeId, key: &[u8]) -> Option<Attr> {
        let (_, ino) = self.streams.remove(&(base, key.to_vec()))?;
        self.delete_stream_inode(ino)
    }

    pub(super) fn rename_stream(
        &mut self,
        base: InodeId,
        from_key: &[u8],
        to_key: &[u8],
        to_name: &[u8],
        replace: bool,
    ) -> MetaResult<Option<Attr>> {
        check_stream_name(to_key)?;
        check_stream_name(to_name)?;
        let from = (base, from_key.to_vec());
        let &(_, ino) = self.streams.get(&from).ok_or(MetaError::NoEntry)?;
        let to = (base, to_key.to_vec());
        let replaced = match self.streams.get(&to) {
            Some(&(_, other)) if other != ino => {
                if !replace {
                    return Err(MetaError::Exists);
                }
                Some(other)
            }
            _ => None,
        };
        self.streams.remove(&from);
        self.streams.insert(to, (to_name.to_vec(), ino));
        Ok(replaced.and_then(|other| self.delete_stream_inode(other)))
    }
}
