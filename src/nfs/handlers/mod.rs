//! NFSv3 procedure handlers, one file per operation family.
//!
//! Each handler resolves its handle(s), makes one call into the `fs` core and
//! turns the outcome into the typed result, including the post-operation
//! attributes or wcc data RFC 1813 asks for on failure.
//!
//! Generation checks: the core's methods take inode ids only, so handlers
//! check the handle's generation with `getattr(ino, Some(generation))` first.
//! READ, WRITE and COMMIT (the data path) skip that round trip and compare the
//! generation of the attributes the core returns instead.

pub(crate) mod attr;
pub(crate) mod create;
pub(crate) mod fsinfo;
pub(crate) mod io;
pub(crate) mod lookup;
pub(crate) mod readdir;
pub(crate) mod remove;
pub(crate) mod rename_link;

/// Unwraps `Ok`, or returns `Reply::Fail(status, fail_body)` from the handler.
macro_rules! try_or_fail {
    ($e:expr, $fail:expr) => {
        match $e {
            Ok(v) => v,
            Err(s) => return $crate::nfs::results::Reply::Fail(s, $fail),
        }
    };
}
pub(crate) use try_or_fail;
