//! MS-FSCC information classes: encoders for what QUERY_INFO / QUERY_DIRECTORY return
//! and decoders for what SET_INFO carries. Times are FILETIME (100 ns since 1601).

pub mod dir;
pub mod file;
pub mod fs;
pub mod set;

/// File attributes (MS-FSCC 2.6).
pub mod attr {
    pub const READONLY: u32 = 0x0001;
    pub const HIDDEN: u32 = 0x0002;
    pub const SYSTEM: u32 = 0x0004;
    pub const DIRECTORY: u32 = 0x0010;
    pub const ARCHIVE: u32 = 0x0020;
    pub const NORMAL: u32 = 0x0080;
    pub const TEMPORARY: u32 = 0x0100;
    pub const SPARSE_FILE: u32 = 0x0200;
    pub const REPARSE_POINT: u32 = 0x0400;
    pub const COMPRESSED: u32 = 0x0800;
    pub const OFFLINE: u32 = 0x1000;
    pub const NOT_CONTENT_INDEXED: u32 = 0x2000;
    pub const ENCRYPTED: u32 = 0x4000;
}

/// FileInformationClass values (MS-FSCC 2.4).
pub mod class {
    pub const DIRECTORY: u8 = 1;
    pub const FULL_DIRECTORY: u8 = 2;
    pub const BOTH_DIRECTORY: u8 = 3;
    pub const BASIC: u8 = 4;
    pub const STANDARD: u8 = 5;
    pub const INTERNAL: u8 = 6;
    pub const EA: u8 = 7;
    pub const ACCESS: u8 = 8;
    pub const NAME: u8 = 9;
    pub const RENAME: u8 = 10;
    pub const LINK: u8 = 11;
    pub const NAMES: u8 = 12;
    pub const DISPOSITION: u8 = 13;
    pub const POSITION: u8 = 14;
    pub const FULL_EA: u8 = 15;
    pub const MODE: u8 = 16;
    pub const ALIGNMENT: u8 = 17;
    pub const ALL: u8 = 18;
    pub const ALLOCATION: u8 = 19;
    pub const END_OF_FILE: u8 = 20;
    pub const ALTERNATE_NAME: u8 = 21;
    pub const STREAM: u8 = 22;
    pub const COMPRESSION: u8 = 28;
    pub const NETWORK_OPEN: u8 = 34;
    pub const ATTRIBUTE_TAG: u8 = 35;
    pub const ID_BOTH_DIRECTORY: u8 = 37;
    pub const ID_FULL_DIRECTORY: u8 = 38;
    pub const VALID_DATA_LENGTH: u8 = 39;
    pub const NORMALIZED_NAME: u8 = 48;
    pub const ID: u8 = 59;
    pub const DISPOSITION_EX: u8 = 64;
    pub const RENAME_EX: u8 = 65;
    /// SMB 3.1.1 POSIX extensions: SMB2_FILE_POSIX_INFORMATION.
    pub const POSIX: u8 = 100;
}

/// FsInformationClass values (MS-FSCC 2.5).
pub mod fs_class {
    pub const VOLUME: u8 = 1;
    pub const LABEL: u8 = 2;
    pub const SIZE: u8 = 3;
    pub const DEVICE: u8 = 4;
    pub const ATTRIBUTE: u8 = 5;
    pub const CONTROL: u8 = 6;
    pub const FULL_SIZE: u8 = 7;
    pub const OBJECT_ID: u8 = 8;
    pub const SECTOR_SIZE: u8 = 11;
    /// SMB 3.1.1 POSIX extensions: SMB2_FS_POSIX_INFORMATION.
    pub const POSIX: u8 = 100;
}

/// Seconds between 1601-01-01 and 1970-01-01.
const EPOCH_DELTA_S: u64 = 11_644_473_600;

/// Unix time (seconds, nanoseconds) to FILETIME; times before 1601 clamp to 0.
pub fn filetime_from_unix(secs: i64, nanos: u32) -> u64 {
    let t = (secs as i128 + EPOCH_DELTA_S as i128) * 10_000_000 + i128::from(nanos / 100);
    t.clamp(0, i128::from(u64::MAX)) as u64
}

/// FILETIME to Unix (seconds, nanoseconds).
pub fn unix_from_filetime(ft: u64) -> (i64, u32) {
    let secs = (ft / 10_000_000) as i64 - EPOCH_DELTA_S as i64;
    (secs, ((ft % 10_000_000) * 100) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_conversions() {
        // 1970-01-01 is FILETIME 116444736000000000.
        assert_eq!(filetime_from_unix(0, 0), 116_444_736_000_000_000);
        assert_eq!(
            unix_from_filetime(filetime_from_unix(1_700_000_000, 123_456_700)),
            (1_700_000_000, 123_456_700)
        );
        assert_eq!(filetime_from_unix(-20_000_000_000, 0), 0);
    }
}
