//! Filesystem information classes (MS-FSCC 2.5) for QUERY_INFO with
//! SMB2_0_INFO_FILESYSTEM.

use super::fs_class as c;
use crate::buf::{len32, put_utf16, Put};

pub const FILE_DEVICE_DISK: u32 = 0x0000_0007;

/// FileSystemAttributes bits.
pub mod fs_attr {
    pub const CASE_SENSITIVE_SEARCH: u32 = 0x0000_0001;
    pub const CASE_PRESERVED_NAMES: u32 = 0x0000_0002;
    pub const UNICODE_ON_DISK: u32 = 0x0000_0004;
    pub const PERSISTENT_ACLS: u32 = 0x0000_0008;
    pub const SUPPORTS_SPARSE_FILES: u32 = 0x0000_0040;
    pub const SUPPORTS_OBJECT_IDS: u32 = 0x0001_0000;
    pub const SUPPORTS_HARD_LINKS: u32 = 0x0040_0000;
    /// FILE_NAMED_STREAMS: the volume has named streams (`file:name`).
    pub const NAMED_STREAMS: u32 = 0x0004_0000;
}

/// What the server knows about a volume (share).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsInfo {
    pub volume_creation_time: u64,
    pub volume_serial_number: u32,
    pub volume_label: String,
    pub total_allocation_units: u64,
    pub available_allocation_units: u64,
    pub sectors_per_allocation_unit: u32,
    pub bytes_per_sector: u32,
    pub device_characteristics: u32,
    pub attributes: u32,
    pub max_component_name_len: u32,
    pub fs_name: String,
    pub object_id: [u8; 16],
}

pub fn volume(f: &FsInfo, out: &mut Vec<u8>) {
    out.put_u64(f.volume_creation_time);
    out.put_u32(f.volume_serial_number);
    let at = out.len();
    out.put_u32(0);
    out.put_u8(0);
    out.put_u8(0);
    let n = put_utf16(out, &f.volume_label);
    out.set_u32(at, len32(n));
}

pub fn size(f: &FsInfo, out: &mut Vec<u8>) {
    out.put_u64(f.total_allocation_units);
    out.put_u64(f.available_allocation_units);
    out.put_u32(f.sectors_per_allocation_unit);
    out.put_u32(f.bytes_per_sector);
}

pub fn full_size(f: &FsInfo, out: &mut Vec<u8>) {
    out.put_u64(f.total_allocation_units);
    out.put_u64(f.available_allocation_units);
    out.put_u64(f.available_allocation_units);
    out.put_u32(f.sectors_per_allocation_unit);
    out.put_u32(f.bytes_per_sector);
}

pub fn device(f: &FsInfo, out: &mut Vec<u8>) {
    out.put_u32(FILE_DEVICE_DISK);
    out.put_u32(f.device_characteristics);
}

pub fn attribute(f: &FsInfo, out: &mut Vec<u8>) {
    out.put_u32(f.attributes);
    out.put_u32(f.max_component_name_len);
    let at = out.len();
    out.put_u32(0);
    let n = put_utf16(out, &f.fs_name);
    out.set_u32(at, len32(n));
}

/// FileFsSectorSizeInformation: every size = bytes_per_sector, flags aligned.
pub fn sector_size(f: &FsInfo, out: &mut Vec<u8>) {
    for _ in 0..4 {
        out.put_u32(f.bytes_per_sector);
    }
    // SSINFO_FLAGS_ALIGNED_DEVICE | SSINFO_FLAGS_PARTITION_ALIGNED_ON_DEVICE
    out.put_u32(0x3);
    out.put_u32(0);
    out.put_u32(0);
}

/// FileFsControlInformation (MS-FSCC 2.5.2): no quota tracking, so no
/// filtering thresholds and unlimited default quotas, flags 0.
pub fn control(out: &mut Vec<u8>) {
    out.zeros(24);
    out.put_u64(u64::MAX);
    out.put_u64(u64::MAX);
    out.put_u32(0);
    out.put_u32(0);
}

/// The fixed part of a filesystem class (MS-FSCC 2.5): an output buffer
/// shorter than this is STATUS_INFO_LENGTH_MISMATCH, a longer one that still
/// cuts the variable part off is STATUS_BUFFER_OVERFLOW.
pub fn fixed_len(class: u8) -> Option<usize> {
    Some(match class {
        c::VOLUME => 24,
        c::SIZE => 24,
        c::DEVICE => 8,
        c::ATTRIBUTE => 16,
        c::CONTROL => 48,
        c::FULL_SIZE => 32,
        c::SECTOR_SIZE => 28,
        c::OBJECT_ID => 64,
        _ => return None,
    })
}

pub fn object_id(f: &FsInfo, out: &mut Vec<u8>) {
    out.put(&f.object_id);
    out.zeros(48);
}

/// Encodes `class`, or `None` when unsupported.
pub fn encode(class: u8, f: &FsInfo, out: &mut Vec<u8>) -> Option<()> {
    match class {
        c::VOLUME => volume(f, out),
        c::SIZE => size(f, out),
        c::FULL_SIZE => full_size(f, out),
        c::DEVICE => device(f, out),
        c::ATTRIBUTE => attribute(f, out),
        c::SECTOR_SIZE => sector_size(f, out),
        c::OBJECT_ID => object_id(f, out),
        c::CONTROL => control(out),
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let f = FsInfo::default();
        for (class, n) in [
            (c::VOLUME, 18),
            (c::SIZE, 24),
            (c::FULL_SIZE, 32),
            (c::DEVICE, 8),
            (c::ATTRIBUTE, 12),
            (c::SECTOR_SIZE, 28),
            (c::OBJECT_ID, 64),
            (c::CONTROL, 48),
        ] {
            let mut v = Vec::new();
            encode(class, &f, &mut v).unwrap();
            assert_eq!(v.len(), n, "class {class}");
        }
    }
}
