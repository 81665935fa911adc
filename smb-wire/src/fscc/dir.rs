//! Directory listing classes for QUERY_DIRECTORY (MS-FSCC 2.4): Directory, FullDirectory,
//! BothDirectory, IdBothDirectory, IdFullDirectory, Names. Entries are 8-byte aligned
//! and chained by NextEntryOffset (0 on the last). [`DirWriter`] packs entries until the
//! client's OutputBufferLength is reached.

use super::class as c;
use crate::buf::{len32, put_utf16, utf16_decode, Put, Reader};
use crate::create::FileTimes;
use crate::error::{Result, WireError};

/// One directory entry to encode/decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirEntry {
    pub file_index: u32,
    pub times: FileTimes,
    pub ea_size: u32,
    /// 8.3 name for the Both classes (empty: none), at most 12 characters.
    pub short_name: String,
    /// Inode number for the Id classes.
    pub file_id: u64,
    pub name: String,
}

/// Whether `class` is a directory listing class this module encodes.
pub fn is_dir_class(class: u8) -> bool {
    matches!(
        class,
        c::DIRECTORY
            | c::FULL_DIRECTORY
            | c::BOTH_DIRECTORY
            | c::ID_BOTH_DIRECTORY
            | c::ID_FULL_DIRECTORY
            | c::NAMES
    )
}

fn encode_entry(class: u8, e: &DirEntry, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u32(0);
    out.put_u32(e.file_index);
    if class == c::NAMES {
        out.put_u32(0);
        let n = put_utf16(out, &e.name);
        out.set_u32(start + 8, len32(n));
        return;
    }
    let t = &e.times;
    out.put_u64(t.creation_time);
    out.put_u64(t.last_access_time);
    out.put_u64(t.last_write_time);
    out.put_u64(t.change_time);
    out.put_u64(t.end_of_file);
    out.put_u64(t.allocation_size);
    out.put_u32(t.file_attributes);
    let name_len_at = out.len();
    out.put_u32(0);
    if class != c::DIRECTORY {
        out.put_u32(e.ea_size);
    }
    match class {
        c::BOTH_DIRECTORY | c::ID_BOTH_DIRECTORY => {
            let mut sn: Vec<u8> = crate::buf::utf16_encode(&e.short_name);
            sn.truncate(24);
            out.put_u8(sn.len() as u8);
            out.put_u8(0);
            out.put(&sn);
            out.zeros(24 - sn.len());
            if class == c::ID_BOTH_DIRECTORY {
                out.put_u16(0);
                out.put_u64(e.file_id);
            }
        }
        c::ID_FULL_DIRECTORY => {
            out.put_u32(0);
            out.put_u64(e.file_id);
        }
        _ => {}
    }
    let n = put_utf16(out, &e.name);
    out.set_u32(name_len_at, len32(n));
}

/// Packs entries of one class into a QUERY_DIRECTORY output buffer.
#[derive(Debug)]
pub struct DirWriter {
    class: u8,
    max_len: usize,
    buf: Vec<u8>,
    last: Option<usize>,
}

impl DirWriter {
    /// `None` if `class` is not a directory class.
    pub fn new(class: u8, max_len: usize) -> Option<DirWriter> {
        is_dir_class(class).then(|| DirWriter {
            class,
            max_len,
            buf: Vec::new(),
            last: None,
        })
    }

    /// Appends `e` if it fits in `max_len`; returns false (and adds nothing) if not.
    pub fn push(&mut self, e: &DirEntry) -> bool {
        let start = self.buf.len().div_ceil(8) * 8;
        let mut ent = Vec::new();
        encode_entry(self.class, e, &mut ent);
        if start + ent.len() > self.max_len {
            return false;
        }
        self.buf.resize(start, 0);
        if let Some(p) = self.last {
            self.buf.set_u32(p, len32(start - p));
        }
        self.last = Some(start);
        self.buf.put(&ent);
        true
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Decodes a listing (client side, tests).
pub fn decode(class: u8, buf: &[u8]) -> Result<Vec<DirEntry>> {
    if !is_dir_class(class) {
        return Err(WireError::BadValue("directory info class"));
    }
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let mut r = Reader::at(buf, at);
        let next = r.u32()? as usize;
        let mut e = DirEntry {
            file_index: r.u32()?,
            ..DirEntry::default()
        };
        let name_len;
        if class == c::NAMES {
            name_len = r.u32()? as usize;
        } else {
            e.times = FileTimes {
                creation_time: r.u64()?,
                last_access_time: r.u64()?,
                last_write_time: r.u64()?,
                change_time: r.u64()?,
                end_of_file: r.u64()?,
                allocation_size: r.u64()?,
                file_attributes: r.u32()?,
            };
            name_len = r.u32()? as usize;
            if class != c::DIRECTORY {
                e.ea_size = r.u32()?;
            }
            match class {
                c::BOTH_DIRECTORY | c::ID_BOTH_DIRECTORY => {
                    let sl = usize::from(r.u8()?).min(24);
                    r.skip(1)?;
                    let sn = r.bytes(24)?;
                    e.short_name = utf16_decode(&sn[..sl], "short name")?;
                    if class == c::ID_BOTH_DIRECTORY {
                        r.skip(2)?;
                        e.file_id = r.u64()?;
                    }
                }
                c::ID_FULL_DIRECTORY => {
                    r.skip(4)?;
                    e.file_id = r.u64()?;
                }
                _ => {}
            }
        }
        e.name = utf16_decode(r.bytes(name_len)?, "dir entry name")?;
        out.push(e);
        if next == 0 {
            break;
        }
        if next % 8 != 0 || next < r.pos() - at {
            return Err(WireError::BadValue("NextEntryOffset"));
        }
        at += next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_part_sizes() {
        let e = DirEntry::default();
        for (class, size) in [
            (c::DIRECTORY, 64),
            (c::FULL_DIRECTORY, 68),
            (c::BOTH_DIRECTORY, 94),
            (c::ID_BOTH_DIRECTORY, 104),
            (c::ID_FULL_DIRECTORY, 80),
            (c::NAMES, 12),
        ] {
            let mut v = Vec::new();
            encode_entry(class, &e, &mut v);
            assert_eq!(v.len(), size, "class {class}");
        }
    }

    #[test]
    fn writer_respects_max_len() {
        let e = DirEntry {
            name: "abc".into(),
            ..DirEntry::default()
        };
        let mut w = DirWriter::new(c::NAMES, 42).unwrap();
        assert!(w.push(&e));
        assert!(w.push(&e));
        assert!(!w.push(&e));
        let buf = w.finish();
        assert_eq!(buf.len(), 24 + 18);
        assert_eq!(decode(c::NAMES, &buf).unwrap().len(), 2);
    }
}
