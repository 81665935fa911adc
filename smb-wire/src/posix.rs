//! SMB 3.1.1 POSIX extensions (Samba's "SMB3 POSIX Extensions", the Linux client's
//! `posix` mount option), the parts that are pure wire format:
//!
//! - the negotiate context (type 0x100, data = [`POSIX_GUID`]) and the create context
//!   (name = the same GUID) live in [`crate::negotiate`] and [`crate::create_ctx`];
//! - [`PosixInfo`]: SMB2_FILE_POSIX_INFORMATION (QUERY_INFO class 100) and, with a
//!   name, SMB_FIND_FILE_POSIX_INFORMATION (QUERY_DIRECTORY class 100);
//! - [`FsPosixInfo`]: SMB2_FS_POSIX_INFORMATION (filesystem class 100, statfs);
//! - the Unix SIDs both sides use for owner, group and mode: S-1-22-1-uid,
//!   S-1-22-2-gid (Samba), S-1-5-88-1-uid, S-1-5-88-2-gid, S-1-5-88-3-mode (the "NFS"
//!   SIDs the Linux client sends with `idsfromsid`/`modefromsid`), and a DACL to
//!   mode mapping for clients that send only owner/group/everyone ACEs.
//!
//! Mode carries permission bits (07777) only: the Linux 6.1 client ORs in the file
//! type from the DOS attributes and reparse tag, so type bits must stay clear.

use crate::buf::{len32, utf16_decode, Put, Reader};
use crate::create::FileTimes;
use crate::error::{Result, WireError};
use crate::security::{Ace, Sid, ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE};

pub use crate::negotiate::POSIX_GUID;

/// Info class of FilePosixInformation / SMB_FIND_FILE_POSIX_INFORMATION / FS posix info.
pub const POSIX_INFO_CLASS: u8 = 100;

/// Fixed part of [`PosixInfo`] before the SIDs (bytes).
pub const POSIX_INFO_FIXED_LEN: usize = 80;

/// Entries per directory buffer are bounded by the client's buffer; this bounds decode.
const DIR_ENTRIES_MAX: usize = 65_536;

/// One file's POSIX view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosixInfo {
    pub times: FileTimes,
    pub inode: u64,
    pub dev: u32,
    pub nlinks: u32,
    pub reparse_tag: u32,
    /// Permission bits (07777).
    pub mode: u32,
    pub owner: Sid,
    pub group: Sid,
}

impl PosixInfo {
    /// QUERY_INFO class 100 body (no name).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let t = &self.times;
        out.put_u64(t.creation_time);
        out.put_u64(t.last_access_time);
        out.put_u64(t.last_write_time);
        out.put_u64(t.change_time);
        out.put_u64(t.end_of_file);
        out.put_u64(t.allocation_size);
        out.put_u32(t.file_attributes);
        out.put_u64(self.inode);
        out.put_u32(self.dev);
        out.put_u32(0);
        out.put_u32(self.nlinks);
        out.put_u32(self.reparse_tag);
        out.put_u32(self.mode);
        self.owner.encode(out);
        self.group.encode(out);
    }

    /// Decodes the class 100 body from `r` (client side, tests, fuzzing).
    pub fn decode(r: &mut Reader<'_>) -> Result<PosixInfo> {
        let times = FileTimes {
            creation_time: r.u64()?,
            last_access_time: r.u64()?,
            last_write_time: r.u64()?,
            change_time: r.u64()?,
            end_of_file: r.u64()?,
            allocation_size: r.u64()?,
            file_attributes: r.u32()?,
        };
        let inode = r.u64()?;
        let dev = r.u32()?;
        r.skip(4)?;
        Ok(PosixInfo {
            times,
            inode,
            dev,
            nlinks: r.u32()?,
            reparse_tag: r.u32()?,
            mode: r.u32()?,
            owner: Sid::decode(r)?,
            group: Sid::decode(r)?,
        })
    }

    /// The create context response for this file.
    pub fn create_context(&self) -> crate::create_ctx::CreateContext {
        crate::create_ctx::CreateContext::PosixResponse {
            nlinks: self.nlinks,
            reparse_tag: self.reparse_tag,
            mode: self.mode,
            owner_sid: self.owner.to_bytes(),
            group_sid: self.group.to_bytes(),
        }
    }
}

/// One SMB_FIND_FILE_POSIX_INFORMATION entry (NextEntryOffset left 0).
pub fn encode_dir_entry(info: &PosixInfo, name: &str, out: &mut Vec<u8>) {
    out.put_u32(0);
    out.put_u32(0);
    info.encode(out);
    let len_at = out.len();
    out.put_u32(0);
    let n = crate::buf::put_utf16(out, name);
    out.set_u32(len_at, len32(n));
}

/// Packs class 100 entries into a QUERY_DIRECTORY buffer (8-aligned, chained).
#[derive(Debug)]
pub struct PosixDirWriter {
    max_len: usize,
    buf: Vec<u8>,
    last: Option<usize>,
}

impl PosixDirWriter {
    pub fn new(max_len: usize) -> PosixDirWriter {
        PosixDirWriter {
            max_len,
            buf: Vec::new(),
            last: None,
        }
    }
    /// Appends the entry if it fits; false (nothing added) if not.
    pub fn push(&mut self, info: &PosixInfo, name: &str) -> bool {
        let start = self.buf.len().div_ceil(8) * 8;
        let mut ent = Vec::new();
        encode_dir_entry(info, name, &mut ent);
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
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Decodes a class 100 directory buffer.
pub fn decode_dir(buf: &[u8]) -> Result<Vec<(PosixInfo, String)>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        if out.len() >= DIR_ENTRIES_MAX {
            return Err(WireError::BadValue("too many posix entries"));
        }
        let mut r = Reader::at(buf, at);
        let next = r.u32()? as usize;
        r.skip(4)?;
        let info = PosixInfo::decode(&mut r)?;
        let n = r.u32()? as usize;
        let name = utf16_decode(r.bytes(n)?, "posix entry name")?;
        out.push((info, name));
        if next == 0 {
            break;
        }
        if next % 8 != 0 || next > buf.len() - at {
            return Err(WireError::BadValue("posix entry NextEntryOffset"));
        }
        at += next;
    }
    Ok(out)
}

/// SMB2_FS_POSIX_INFORMATION (56 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsPosixInfo {
    pub optimal_transfer_size: u32,
    pub block_size: u32,
    pub total_blocks: u64,
    pub blocks_avail: u64,
    pub user_blocks_avail: u64,
    pub total_file_nodes: u64,
    pub free_file_nodes: u64,
    pub fs_identifier: u64,
}

impl FsPosixInfo {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(self.optimal_transfer_size);
        out.put_u32(self.block_size);
        out.put_u64(self.total_blocks);
        out.put_u64(self.blocks_avail);
        out.put_u64(self.user_blocks_avail);
        out.put_u64(self.total_file_nodes);
        out.put_u64(self.free_file_nodes);
        out.put_u64(self.fs_identifier);
    }
    pub fn decode(buf: &[u8]) -> Result<FsPosixInfo> {
        let mut r = Reader::new(buf);
        Ok(FsPosixInfo {
            optimal_transfer_size: r.u32()?,
            block_size: r.u32()?,
            total_blocks: r.u64()?,
            blocks_avail: r.u64()?,
            user_blocks_avail: r.u64()?,
            total_file_nodes: r.u64()?,
            free_file_nodes: r.u64()?,
            fs_identifier: r.u64()?,
        })
    }
}

/// S-1-5-88-1-uid (Linux client `idsfromsid`).
pub fn nfs_user_sid(uid: u32) -> Sid {
    Sid::new(5, &[88, 1, uid])
}
/// S-1-5-88-2-gid.
pub fn nfs_group_sid(gid: u32) -> Sid {
    Sid::new(5, &[88, 2, gid])
}
/// S-1-5-88-3-mode (Linux client `modefromsid`).
pub fn nfs_mode_sid(mode: u32) -> Sid {
    Sid::new(5, &[88, 3, mode])
}

/// uid of S-1-22-1-uid or S-1-5-88-1-uid.
pub fn sid_uid(s: &Sid) -> Option<u32> {
    match (s.authority, s.sub_authorities.as_slice()) {
        (22, [1, id]) | (5, [88, 1, id]) => Some(*id),
        _ => None,
    }
}
/// gid of S-1-22-2-gid or S-1-5-88-2-gid.
pub fn sid_gid(s: &Sid) -> Option<u32> {
    match (s.authority, s.sub_authorities.as_slice()) {
        (22, [2, id]) | (5, [88, 2, id]) => Some(*id),
        _ => None,
    }
}
/// Mode of S-1-5-88-3-mode (permission bits only).
pub fn sid_mode(s: &Sid) -> Option<u32> {
    match (s.authority, s.sub_authorities.as_slice()) {
        (5, [88, 3, m]) => Some(*m & 0o7777),
        _ => None,
    }
}

/// rwx (0..=7) an access mask allows: read = FILE_READ_DATA, write = FILE_WRITE_DATA,
/// execute = FILE_EXECUTE (GENERIC_ALL/READ/WRITE/EXECUTE count too).
fn rwx_from_mask(mask: u32) -> u32 {
    let all = mask & 0x1000_0000 != 0;
    let mut rwx = 0;
    if all || mask & (0x0001 | 0x8000_0000) != 0 {
        rwx |= 4;
    }
    if all || mask & (0x0002 | 0x4000_0000) != 0 {
        rwx |= 2;
    }
    if all || mask & (0x0020 | 0x2000_0000) != 0 {
        rwx |= 1;
    }
    rwx
}

/// The mode a DACL stands for: an S-1-5-88-3-mode ACE wins; otherwise allow ACEs for
/// the owner (`uid`, either SID form), the group (`gid`) and Everyone give the user,
/// group and other bits (deny ACEs remove them from that class). `None` when the DACL
/// names none of these.
pub fn mode_from_dacl(aces: &[Ace], uid: u32, gid: u32) -> Option<u32> {
    if let Some(m) = aces.iter().find_map(|a| sid_mode(&a.sid)) {
        return Some(m);
    }
    let everyone = Sid::everyone();
    let mut bits = [0u32; 3];
    let mut denied = [0u32; 3];
    let mut seen = false;
    for a in aces {
        let class = if sid_uid(&a.sid) == Some(uid) {
            0
        } else if sid_gid(&a.sid) == Some(gid) {
            1
        } else if a.sid == everyone {
            2
        } else {
            continue;
        };
        seen = true;
        let rwx = rwx_from_mask(a.mask);
        match a.ace_type {
            ACCESS_ALLOWED_ACE_TYPE => bits[class] |= rwx & !denied[class],
            ACCESS_DENIED_ACE_TYPE => denied[class] |= rwx,
            _ => {}
        }
    }
    seen.then(|| (bits[0] << 6) | (bits[1] << 3) | bits[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::{SecurityDescriptor, FILE_GENERIC_READ};

    fn info(mode: u32) -> PosixInfo {
        PosixInfo {
            times: FileTimes {
                creation_time: 1,
                last_access_time: 2,
                last_write_time: 3,
                change_time: 4,
                end_of_file: 5,
                allocation_size: 4096,
                file_attributes: 0x20,
            },
            inode: 77,
            dev: 9,
            nlinks: 2,
            reparse_tag: 0,
            mode,
            owner: Sid::unix_user(1000),
            group: Sid::unix_group(100),
        }
    }

    #[test]
    fn posix_info_round_trip_and_size() {
        let i = info(0o640);
        let mut out = Vec::new();
        i.encode(&mut out);
        assert_eq!(out.len(), POSIX_INFO_FIXED_LEN + 16 + 16);
        assert_eq!(PosixInfo::decode(&mut Reader::new(&out)).unwrap(), i);
        assert!(PosixInfo::decode(&mut Reader::new(&out[..out.len() - 1])).is_err());
    }

    #[test]
    fn dir_round_trip_aligned_and_bounded() {
        let mut w = PosixDirWriter::new(4096);
        assert!(w.push(&info(0o755), "a:b"));
        assert!(w.push(&info(0o600), "Ünïcode"));
        let buf = w.finish();
        let got = decode_dir(&buf).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, "a:b");
        assert_eq!(got[1].0.mode, 0o600);
        assert_eq!(got[1].1, "Ünïcode");
        let mut small = PosixDirWriter::new(100);
        assert!(!small.push(&info(0o755), "name"));
        assert!(small.is_empty());
    }

    #[test]
    fn fs_info_round_trip() {
        let f = FsPosixInfo {
            optimal_transfer_size: 1 << 20,
            block_size: 4096,
            total_blocks: 10,
            blocks_avail: 5,
            user_blocks_avail: 5,
            total_file_nodes: 3,
            free_file_nodes: 2,
            fs_identifier: 0xABCD,
        };
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out.len(), 56);
        assert_eq!(FsPosixInfo::decode(&out).unwrap(), f);
    }

    #[test]
    fn sids() {
        assert_eq!(sid_uid(&Sid::unix_user(1000)), Some(1000));
        assert_eq!(sid_uid(&nfs_user_sid(7)), Some(7));
        assert_eq!(sid_uid(&Sid::unix_group(7)), None);
        assert_eq!(sid_gid(&nfs_group_sid(8)), Some(8));
        assert_eq!(sid_gid(&Sid::unix_group(9)), Some(9));
        assert_eq!(sid_mode(&nfs_mode_sid(0o104755)), Some(0o4755));
        assert_eq!(nfs_user_sid(5).to_string(), "S-1-5-88-1-5");
    }

    #[test]
    fn dacl_to_mode() {
        for mode in [0o640, 0o755, 0o000, 0o777, 0o421, 0o070] {
            let sd = SecurityDescriptor::from_unix(1000, 100, mode);
            let got = mode_from_dacl(sd.dacl.as_deref().unwrap(), 1000, 100);
            assert_eq!(got, Some(mode), "mode {mode:o}");
        }
        let ace = |sid| Ace {
            ace_type: ACCESS_ALLOWED_ACE_TYPE,
            flags: 0,
            mask: FILE_GENERIC_READ,
            sid,
        };
        let aces = vec![ace(Sid::everyone()), ace(nfs_mode_sid(0o1750))];
        assert_eq!(mode_from_dacl(&aces, 0, 0), Some(0o1750));
        assert_eq!(mode_from_dacl(&[ace(Sid::new(5, &[18]))], 0, 0), None);
    }
}
