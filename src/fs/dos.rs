//! DOS attribute bits (SMB `FILE_ATTRIBUTE_*`: hidden, system, archive, …) kept
//! per inode beside the POSIX attributes.
//!
//! Why the core carries them: the Linux cifs client's `sfu` emulation marks
//! FIFOs, sockets and device nodes with the SYSTEM bit, and Windows clients use
//! HIDDEN; both must survive across opens. The bits are opaque here: the SMB
//! front end decides which ones are stored and how READONLY and DIRECTORY are
//! derived from the POSIX attributes.

use super::perm::{self, W};
use super::{Cred, Fs, FsError, FsResult, InodeId};

impl Fs {
    /// The stored DOS attribute bits of `ino`: 0 when never set.
    pub async fn dos_attributes(&self, ino: InodeId) -> FsResult<u32> {
        Ok(self.meta.get_dos_attributes(ino).await?)
    }

    /// Stores the DOS attribute bits of `ino`. Like setting explicit times: the
    /// owner, root, or a caller with write permission may. ctime is not touched.
    pub async fn set_dos_attributes(&self, cred: &Cred, ino: InodeId, bits: u32) -> FsResult<()> {
        self.writable()?;
        let attr = self.attr(ino).await?;
        if cred.uid != 0 && cred.uid != attr.uid && !perm::allowed(cred, &attr, W) {
            return Err(FsError::AccessDenied);
        }
        self.meta.set_dos_attributes(ino, bits).await?;
        self.report_modified(ino, super::watch::filter::ATTRIBUTES)
            .await;
        Ok(())
    }
}
