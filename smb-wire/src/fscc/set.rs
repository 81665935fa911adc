//! Decoders (and encoders, for tests and clients) for the settable file information
//! classes of SET_INFO (MS-FSCC 2.4): basic, end of file, allocation, disposition,
//! disposition ex, rename (SMB2 FILE_RENAME_INFORMATION_TYPE_2, UTF-16 name), link,
//! position.

use super::class as c;
use crate::buf::{len32, put_utf16, utf16_decode, Put, Reader};
use crate::error::{Result, WireError};

pub const DISPOSITION_DELETE: u32 = 0x01;
pub const DISPOSITION_POSIX_SEMANTICS: u32 = 0x02;
pub const DISPOSITION_IGNORE_READONLY: u32 = 0x10;

/// FileBasicInformation as set: 0 = leave unchanged, u64::MAX (-1) = stop updating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetBasic {
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    /// 0 = leave unchanged.
    pub file_attributes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetFileInfo {
    Basic(SetBasic),
    EndOfFile(u64),
    Allocation(u64),
    /// DeletePending (FileDispositionInformation).
    Disposition(bool),
    /// FILE_DISPOSITION_* flags (FileDispositionInformationEx).
    DispositionEx(u32),
    Rename {
        replace_if_exists: bool,
        root_directory: u64,
        name: String,
    },
    Link {
        replace_if_exists: bool,
        root_directory: u64,
        name: String,
    },
    Position(u64),
}

fn rename_like(r: &mut Reader<'_>) -> Result<(bool, u64, String)> {
    let replace = r.u8()? != 0;
    r.skip(7)?;
    let root = r.u64()?;
    let n = r.u32()? as usize;
    let name = utf16_decode(r.bytes(n)?, "rename target")?;
    if name.is_empty() {
        return Err(WireError::BadValue("empty rename target"));
    }
    Ok((replace, root, name))
}

impl SetFileInfo {
    /// `Ok(None)` for a class this decoder does not handle.
    pub fn decode(class: u8, buf: &[u8]) -> Result<Option<SetFileInfo>> {
        let mut r = Reader::new(buf);
        Ok(Some(match class {
            c::BASIC => SetFileInfo::Basic(SetBasic {
                creation_time: r.u64()?,
                last_access_time: r.u64()?,
                last_write_time: r.u64()?,
                change_time: r.u64()?,
                file_attributes: r.u32()?,
            }),
            c::END_OF_FILE => SetFileInfo::EndOfFile(r.u64()?),
            c::ALLOCATION => SetFileInfo::Allocation(r.u64()?),
            c::DISPOSITION => SetFileInfo::Disposition(r.u8()? != 0),
            c::DISPOSITION_EX => SetFileInfo::DispositionEx(r.u32()?),
            c::POSITION => SetFileInfo::Position(r.u64()?),
            c::RENAME => {
                let (replace_if_exists, root_directory, name) = rename_like(&mut r)?;
                SetFileInfo::Rename {
                    replace_if_exists,
                    root_directory,
                    name,
                }
            }
            c::LINK => {
                let (replace_if_exists, root_directory, name) = rename_like(&mut r)?;
                SetFileInfo::Link {
                    replace_if_exists,
                    root_directory,
                    name,
                }
            }
            _ => return Ok(None),
        }))
    }

    pub fn class(&self) -> u8 {
        match self {
            SetFileInfo::Basic(_) => c::BASIC,
            SetFileInfo::EndOfFile(_) => c::END_OF_FILE,
            SetFileInfo::Allocation(_) => c::ALLOCATION,
            SetFileInfo::Disposition(_) => c::DISPOSITION,
            SetFileInfo::DispositionEx(_) => c::DISPOSITION_EX,
            SetFileInfo::Rename { .. } => c::RENAME,
            SetFileInfo::Link { .. } => c::LINK,
            SetFileInfo::Position(_) => c::POSITION,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SetFileInfo::Basic(b) => {
                out.put_u64(b.creation_time);
                out.put_u64(b.last_access_time);
                out.put_u64(b.last_write_time);
                out.put_u64(b.change_time);
                out.put_u32(b.file_attributes);
                out.put_u32(0);
            }
            SetFileInfo::EndOfFile(v) | SetFileInfo::Allocation(v) | SetFileInfo::Position(v) => {
                out.put_u64(*v)
            }
            SetFileInfo::Disposition(d) => out.put_u8(u8::from(*d)),
            SetFileInfo::DispositionEx(f) => out.put_u32(*f),
            SetFileInfo::Rename {
                replace_if_exists,
                root_directory,
                name,
            }
            | SetFileInfo::Link {
                replace_if_exists,
                root_directory,
                name,
            } => {
                out.put_u8(u8::from(*replace_if_exists));
                out.zeros(7);
                out.put_u64(*root_directory);
                let at = out.len();
                out.put_u32(0);
                let n = put_utf16(out, name);
                out.set_u32(at, len32(n));
            }
        }
    }
}
