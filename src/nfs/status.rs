//! NFSv3 status codes (`nfsstat3`, RFC 1813 §2.6) and the mapping from [`FsError`].
//!
//! The mapping is an exhaustive `match` without a wildcard arm: a new `FsError`
//! variant does not compile until someone decides what a Linux client sees.

use crate::fs::FsError;
use crate::rpc::xdr::XdrError;

/// `nfsstat3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Nfsstat3 {
    Ok = 0,
    Perm = 1,
    NoEnt = 2,
    Io = 5,
    NxIo = 6,
    Acces = 13,
    Exist = 17,
    XDev = 18,
    NoDev = 19,
    NotDir = 20,
    IsDir = 21,
    Inval = 22,
    FBig = 27,
    NoSpc = 28,
    RoFs = 30,
    MLink = 31,
    NameTooLong = 63,
    NotEmpty = 66,
    DQuot = 69,
    Stale = 70,
    Remote = 71,
    BadHandle = 10001,
    NotSync = 10002,
    BadCookie = 10003,
    NotSupp = 10004,
    TooSmall = 10005,
    ServerFault = 10006,
    BadType = 10007,
    Jukebox = 10008,
}

impl Nfsstat3 {
    /// Parses a status word (client side).
    pub fn from_u32(v: u32) -> Result<Nfsstat3, XdrError> {
        use Nfsstat3::*;
        const ALL: [Nfsstat3; 29] = [
            Ok,
            Perm,
            NoEnt,
            Io,
            NxIo,
            Acces,
            Exist,
            XDev,
            NoDev,
            NotDir,
            IsDir,
            Inval,
            FBig,
            NoSpc,
            RoFs,
            MLink,
            NameTooLong,
            NotEmpty,
            DQuot,
            Stale,
            Remote,
            BadHandle,
            NotSync,
            BadCookie,
            NotSupp,
            TooSmall,
            ServerFault,
            BadType,
            Jukebox,
        ];
        ALL.into_iter()
            .find(|s| *s as u32 == v)
            .ok_or(XdrError::InvalidEnum {
                what: "nfsstat3",
                value: v,
            })
    }
}

/// The NFSv3 status a Linux client expects for `e`.
pub fn nfs3_status(e: &FsError) -> Nfsstat3 {
    match e {
        FsError::NotPermitted => Nfsstat3::Perm,
        FsError::NotFound => Nfsstat3::NoEnt,
        FsError::Io(_) => Nfsstat3::Io,
        FsError::AccessDenied => Nfsstat3::Acces,
        FsError::Exists => Nfsstat3::Exist,
        FsError::CrossDevice => Nfsstat3::XDev,
        FsError::NotDirectory => Nfsstat3::NotDir,
        FsError::IsDirectory => Nfsstat3::IsDir,
        FsError::InvalidArgument => Nfsstat3::Inval,
        FsError::FileTooLarge => Nfsstat3::FBig,
        FsError::NoSpace => Nfsstat3::NoSpc,
        FsError::ReadOnly => Nfsstat3::RoFs,
        FsError::TooManyLinks => Nfsstat3::MLink,
        FsError::NameTooLong => Nfsstat3::NameTooLong,
        FsError::NotEmpty => Nfsstat3::NotEmpty,
        FsError::QuotaExceeded => Nfsstat3::DQuot,
        FsError::Stale => Nfsstat3::Stale,
        FsError::BadHandle => Nfsstat3::BadHandle,
        FsError::BadCookie => Nfsstat3::BadCookie,
        FsError::NotSupported => Nfsstat3::NotSupp,
        FsError::TooSmall => Nfsstat3::TooSmall,
        FsError::ServerFault(_) => Nfsstat3::ServerFault,
        FsError::BadType => Nfsstat3::BadType,
        FsError::Retry => Nfsstat3::Jukebox,
        FsError::NotSync => Nfsstat3::NotSync,
    }
}

impl From<&FsError> for Nfsstat3 {
    fn from(e: &FsError) -> Self {
        nfs3_status(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_rfc_1813() {
        assert_eq!(nfs3_status(&FsError::Stale) as u32, 70);
        assert_eq!(nfs3_status(&FsError::Retry) as u32, 10008);
        assert_eq!(nfs3_status(&FsError::NotEmpty) as u32, 66);
        assert_eq!(nfs3_status(&FsError::BadCookie) as u32, 10003);
        for v in 0..11000 {
            if let Ok(s) = Nfsstat3::from_u32(v) {
                assert_eq!(s as u32, v);
            }
        }
    }
}
