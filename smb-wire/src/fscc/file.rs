//! Encoders for the file information classes QUERY_INFO returns (MS-FSCC 2.4).

use crate::buf::{len32, put_utf16, Put};
use crate::create::FileTimes;

/// What the server knows about a file, enough for every file info class here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileInfo {
    pub times: FileTimes,
    pub number_of_links: u32,
    pub delete_pending: bool,
    pub directory: bool,
    /// FileInternalInformation.IndexNumber (the inode number).
    pub index_number: u64,
    pub ea_size: u32,
    /// FileAccessInformation: the granted access mask of the open.
    pub access_flags: u32,
    pub current_byte_offset: u64,
    /// FileModeInformation (FILE_WRITE_THROUGH, FILE_SEQUENTIAL_ONLY...).
    pub mode: u32,
    pub alignment_requirement: u32,
    /// Path from the share root with a leading `\`.
    pub name: String,
    pub reparse_tag: u32,
}

pub fn basic(t: &FileTimes, out: &mut Vec<u8>) {
    out.put_u64(t.creation_time);
    out.put_u64(t.last_access_time);
    out.put_u64(t.last_write_time);
    out.put_u64(t.change_time);
    out.put_u32(t.file_attributes);
    out.put_u32(0);
}

pub fn standard(f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u64(f.times.allocation_size);
    out.put_u64(f.times.end_of_file);
    out.put_u32(f.number_of_links);
    out.put_u8(u8::from(f.delete_pending));
    out.put_u8(u8::from(f.directory));
    out.put_u16(0);
}

pub fn internal(f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u64(f.index_number);
}
pub fn ea(f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u32(f.ea_size);
}
pub fn access(f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u32(f.access_flags);
}
pub fn position(f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u64(f.current_byte_offset);
}
pub fn mode(f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u32(f.mode);
}
pub fn alignment(f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u32(f.alignment_requirement);
}

/// FileNameInformation / FileNormalizedNameInformation: FileNameLength + name.
pub fn name(name: &str, out: &mut Vec<u8>) {
    let at = out.len();
    out.put_u32(0);
    let n = put_utf16(out, name);
    out.set_u32(at, len32(n));
}

/// FileAllInformation: basic, standard, internal, ea, access, position, mode,
/// alignment, name.
pub fn all(f: &FileInfo, out: &mut Vec<u8>) {
    basic(&f.times, out);
    standard(f, out);
    internal(f, out);
    ea(f, out);
    access(f, out);
    position(f, out);
    mode(f, out);
    alignment(f, out);
    name(&f.name, out);
}

pub fn network_open(t: &FileTimes, out: &mut Vec<u8>) {
    out.put_u64(t.creation_time);
    out.put_u64(t.last_access_time);
    out.put_u64(t.last_write_time);
    out.put_u64(t.change_time);
    out.put_u64(t.allocation_size);
    out.put_u64(t.end_of_file);
    out.put_u32(t.file_attributes);
    out.put_u32(0);
}

pub fn attribute_tag(f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u32(f.times.file_attributes);
    out.put_u32(f.reparse_tag);
}

/// FileStreamInformation for a file with only its default data stream `::$DATA`
/// (directories have no streams: an empty buffer).
pub fn stream(f: &FileInfo, out: &mut Vec<u8>) {
    if f.directory {
        return;
    }
    out.put_u32(0);
    let at = out.len();
    out.put_u32(0);
    out.put_u64(f.times.end_of_file);
    out.put_u64(f.times.allocation_size);
    let n = put_utf16(out, "::$DATA");
    out.set_u32(at, len32(n));
}

/// FileCompressionInformation of an uncompressed file.
pub fn compression(f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u64(f.times.end_of_file);
    out.put_u16(0);
    out.put_u8(0);
    out.put_u8(0);
    out.put_u8(0);
    out.zeros(3);
}

/// FileIdInformation: VolumeSerialNumber (8) + 128-bit FileId.
pub fn id(volume_serial: u64, f: &FileInfo, out: &mut Vec<u8>) {
    out.put_u64(volume_serial);
    out.put_u64(f.index_number);
    out.put_u64(0);
}

/// SMB2_FILE_POSIX_INFORMATION (SMB 3.1.1 POSIX extensions): network-open fields,
/// inode, device, zero, hard links, reparse tag, mode, owner SID, group SID.
pub fn posix(
    f: &FileInfo,
    dev: u32,
    unix_mode: u32,
    owner_sid: &[u8],
    group_sid: &[u8],
    out: &mut Vec<u8>,
) {
    out.put_u64(f.times.creation_time);
    out.put_u64(f.times.last_access_time);
    out.put_u64(f.times.last_write_time);
    out.put_u64(f.times.change_time);
    out.put_u64(f.times.end_of_file);
    out.put_u64(f.times.allocation_size);
    out.put_u32(f.times.file_attributes);
    out.put_u64(f.index_number);
    out.put_u32(dev);
    out.put_u32(0);
    out.put_u32(f.number_of_links);
    out.put_u32(f.reparse_tag);
    out.put_u32(unix_mode);
    out.put(owner_sid);
    out.put(group_sid);
}

/// Encodes `class` for `f`, or `None` for a class this module does not produce (the
/// server answers STATUS_INVALID_INFO_CLASS or STATUS_NOT_SUPPORTED).
/// The fixed part of a file class (what Windows enforces, as smbtorture
/// smb2.getinfo.qfile_buffercheck measures it): an output buffer shorter than
/// this is STATUS_INFO_LENGTH_MISMATCH, a longer one that still cuts the
/// variable part off is STATUS_BUFFER_OVERFLOW.
pub fn fixed_len(class: u8) -> Option<usize> {
    use super::class as c;
    Some(match class {
        c::BASIC => 40,
        c::STANDARD => 24,
        c::INTERNAL | c::POSITION | c::ATTRIBUTE_TAG | c::ALTERNATE_NAME => 8,
        c::EA | c::ACCESS | c::MODE | c::ALIGNMENT | c::NAME | c::NORMALIZED_NAME => 4,
        c::ALL => 104,
        c::STREAM => 32,
        c::COMPRESSION => 16,
        c::NETWORK_OPEN => 56,
        _ => return None,
    })
}

pub fn encode(class: u8, f: &FileInfo, out: &mut Vec<u8>) -> Option<()> {
    use super::class as c;
    match class {
        c::BASIC => basic(&f.times, out),
        c::STANDARD => standard(f, out),
        c::INTERNAL => internal(f, out),
        c::EA => ea(f, out),
        c::ACCESS => access(f, out),
        c::POSITION => position(f, out),
        c::MODE => mode(f, out),
        c::ALIGNMENT => alignment(f, out),
        c::ALL => all(f, out),
        c::NAME | c::NORMALIZED_NAME => name(&f.name, out),
        c::NETWORK_OPEN => network_open(&f.times, out),
        c::ATTRIBUTE_TAG => attribute_tag(f, out),
        c::STREAM => stream(f, out),
        c::COMPRESSION => compression(f, out),
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_sizes_match_ms_fscc() {
        let f = FileInfo {
            name: "\\a".into(),
            ..FileInfo::default()
        };
        let size = |c| {
            let mut v = Vec::new();
            encode(c, &f, &mut v).unwrap();
            v.len()
        };
        use crate::fscc::class as c;
        assert_eq!(size(c::BASIC), 40);
        assert_eq!(size(c::STANDARD), 24);
        assert_eq!(size(c::INTERNAL), 8);
        assert_eq!(size(c::NETWORK_OPEN), 56);
        assert_eq!(size(c::ATTRIBUTE_TAG), 8);
        assert_eq!(size(c::COMPRESSION), 16);
        assert_eq!(size(c::ALL), 100 + 4);
        assert_eq!(size(c::STREAM), 24 + 14);
        assert!(encode(200, &f, &mut Vec::new()).is_none());
    }
}
