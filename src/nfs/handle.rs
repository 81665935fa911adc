//! NFSv3 file handles: what identifies a file across requests and restarts.
//!
//! Layout (21 bytes, big-endian, opaque to clients; NFSv3 allows up to 64):
//!
//! | offset | size | field                                   |
//! |--------|------|-----------------------------------------|
//! | 0      | 1    | layout version, currently [`FH_VERSION`] |
//! | 1      | 4    | share id (index into the export list)   |
//! | 5      | 8    | inode id (never 0)                      |
//! | 13     | 8    | inode generation                        |
//!
//! Everything is derived from persistent metadata, so handles stay valid
//! across restarts on persistent stores. A handle of the wrong length or
//! version is malformed (NFS3ERR_BADHANDLE); one naming an inode that no
//! longer exists, or whose generation moved on, is stale (NFS3ERR_STALE).

use crate::fs::InodeId;
use crate::rpc::xdr::{XdrError, XdrReader, XdrWriter};

/// Current handle layout version.
pub const FH_VERSION: u8 = 1;
/// Encoded length of a handle of layout version 1.
pub const FH_LEN: usize = 21;
/// Largest handle NFSv3 allows on the wire (`NFS3_FHSIZE`).
pub const FH_LEN_MAX: usize = 64;

/// A decoded file handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileHandle {
    pub share_id: u32,
    pub ino: InodeId,
    pub generation: u64,
}

/// The handle bytes are not a handle this server issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed file handle")]
pub struct BadHandle;

impl FileHandle {
    /// The handle's bytes.
    pub fn to_bytes(&self) -> [u8; FH_LEN] {
        let mut out = [0u8; FH_LEN];
        out[0] = FH_VERSION;
        out[1..5].copy_from_slice(&self.share_id.to_be_bytes());
        out[5..13].copy_from_slice(&self.ino.to_be_bytes());
        out[13..21].copy_from_slice(&self.generation.to_be_bytes());
        out
    }

    /// Parses handle bytes; anything but a version-1 handle of a nonzero inode is malformed.
    pub fn from_bytes(b: &[u8]) -> Result<FileHandle, BadHandle> {
        let b: &[u8; FH_LEN] = b.try_into().map_err(|_| BadHandle)?;
        if b[0] != FH_VERSION {
            return Err(BadHandle);
        }
        let mut share = [0u8; 4];
        share.copy_from_slice(&b[1..5]);
        let mut ino = [0u8; 8];
        ino.copy_from_slice(&b[5..13]);
        let mut generation = [0u8; 8];
        generation.copy_from_slice(&b[13..21]);
        let fh = FileHandle {
            share_id: u32::from_be_bytes(share),
            ino: u64::from_be_bytes(ino),
            generation: u64::from_be_bytes(generation),
        };
        if fh.ino == 0 {
            return Err(BadHandle);
        }
        Ok(fh)
    }

    /// Encodes as `nfs_fh3` (variable-length opaque).
    pub fn encode(&self, w: &mut XdrWriter) {
        w.write_opaque(&self.to_bytes());
    }
}

/// An `nfs_fh3` as it travels: up to 64 opaque bytes, kept inline (no allocation).
///
/// Arguments keep the raw form so a handle that is not ours is answered with
/// NFS3ERR_BADHANDLE (an NFS status) rather than GARBAGE_ARGS (an RPC failure),
/// and so the Rust test client and perf harness can carry handles of other
/// servers (NFS-Ganesha, knfsd) through the same codec.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WireHandle {
    len: u8,
    data: [u8; FH_LEN_MAX],
}

impl WireHandle {
    /// Wraps raw handle bytes; `None` when longer than 64 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<WireHandle> {
        let len = u8::try_from(b.len())
            .ok()
            .filter(|l| usize::from(*l) <= FH_LEN_MAX)?;
        let mut data = [0u8; FH_LEN_MAX];
        data[..b.len()].copy_from_slice(b);
        Some(WireHandle { len, data })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }

    pub fn decode(r: &mut XdrReader) -> Result<WireHandle, XdrError> {
        let raw = r.read_opaque(FH_LEN_MAX)?;
        WireHandle::from_bytes(&raw).ok_or(XdrError::TooLong {
            len: raw.len(),
            max: FH_LEN_MAX,
        })
    }

    pub fn encode(&self, w: &mut XdrWriter) {
        w.write_opaque(self.as_bytes());
    }

    /// Encoded size as an `nfs_fh3`.
    pub fn encoded_size(&self) -> usize {
        crate::rpc::xdr::opaque_size(self.as_bytes().len())
    }

    /// Parses the bytes as one of our handles.
    pub fn get(&self) -> Result<FileHandle, BadHandle> {
        FileHandle::from_bytes(self.as_bytes())
    }
}

impl std::fmt::Debug for WireHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Ok(fh) => write!(f, "{fh:?}"),
            Err(BadHandle) => write!(f, "WireHandle({:02x?})", self.as_bytes()),
        }
    }
}

impl From<FileHandle> for WireHandle {
    fn from(fh: FileHandle) -> Self {
        let mut data = [0u8; FH_LEN_MAX];
        data[..FH_LEN].copy_from_slice(&fh.to_bytes());
        WireHandle {
            len: FH_LEN as u8,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn round_trips(share_id: u32, ino in 1u64.., generation: u64) {
            let fh = FileHandle { share_id, ino, generation };
            prop_assert_eq!(FileHandle::from_bytes(&fh.to_bytes()), Ok(fh));
            let mut w = XdrWriter::new();
            fh.encode(&mut w);
            let mut r = XdrReader::new(w.into_bytes());
            prop_assert_eq!(WireHandle::decode(&mut r).map(|h| h.get()), Ok(Ok(fh)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..70)) {
            let _ = FileHandle::from_bytes(&b);
        }
    }

    #[test]
    fn malformed_handles() {
        assert_eq!(FileHandle::from_bytes(&[]), Err(BadHandle));
        let mut b = FileHandle {
            share_id: 0,
            ino: 1,
            generation: 0,
        }
        .to_bytes();
        b[0] = 2;
        assert_eq!(FileHandle::from_bytes(&b), Err(BadHandle));
        let b = FileHandle {
            share_id: 0,
            ino: 0,
            generation: 0,
        }
        .to_bytes();
        assert_eq!(FileHandle::from_bytes(&b), Err(BadHandle));
    }
}
