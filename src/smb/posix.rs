//! SMB 3.1.1 POSIX extensions, the server side (wire formats in
//! `dittofs_smb_wire::posix`). Why a module of its own: the extensions touch
//! NEGOTIATE, CREATE, QUERY_INFO, QUERY_DIRECTORY and SET_INFO, and keeping their
//! logic here leaves only one-line hooks in those handlers.
//!
//! What a client gets once it offered the POSIX negotiate context on 3.1.1 (the
//! server echoes it):
//! - CREATE with the POSIX create context: the mode in the request is the new file's
//!   mode (mkdir too); the response context carries links, reparse tag, mode and the
//!   owner/group as Unix SIDs (S-1-22-1-uid, S-1-22-2-gid). Path components may hold
//!   any character but `\` (the separator), `/` and NUL; names are case-sensitive
//!   (the core always is).
//! - an `SecD` create context (the Linux client's `idsfromsid`/`modefromsid`) sets the
//!   owner, group and mode of a file being created;
//! - QUERY_INFO FilePosixInformation and FS posix information (class 100);
//! - QUERY_DIRECTORY SMB_FIND_FILE_POSIX_INFORMATION (class 100);
//! - SET_INFO security: owner/group SIDs in either Unix form (S-1-22-x or the
//!   S-1-5-88-x "NFS" form) and the DACL mapped back to mode bits.

use dittofs_smb_wire::create_ctx::CreateContext;
use dittofs_smb_wire::fscc::dir::DirEntry as WireDirEntry;
use dittofs_smb_wire::negotiate::{NegotiateContext, NegotiateRequest, DIALECT_311};
use dittofs_smb_wire::posix::{
    mode_from_dacl, sid_gid, sid_mode, sid_uid, FsPosixInfo, PosixDirWriter, PosixInfo,
};
use dittofs_smb_wire::security::{SecurityDescriptor, Sid};
use dittofs_smb_wire::status::*;

use super::state::ConnState;
use super::{file_times, fs_err};
use crate::fs::{Attr, Cred, Fs, SetAttr};

/// Name of the security descriptor create context.
const SECD: &[u8] = b"SecD";

/// Called on a 3.1.1 NEGOTIATE: whether to echo the POSIX context (and remember it).
pub(crate) fn negotiate(st: &mut ConnState, req: &NegotiateRequest, dialect: u16) -> bool {
    let offered = dialect == DIALECT_311
        && req
            .contexts
            .iter()
            .any(|c| matches!(c, NegotiateContext::Posix));
    st.posix = offered;
    offered
}

/// The mode a CREATE's POSIX context asks for, when the connection negotiated them.
pub(crate) fn create_mode(st: &ConnState, contexts: &[CreateContext]) -> Option<u32> {
    if !st.posix {
        return None;
    }
    contexts.iter().find_map(|c| match c {
        CreateContext::PosixRequest { mode } => Some(mode & 0o7777),
        _ => None,
    })
}

/// POSIX path components: split on `\` and on `/` (the Linux client's separator
/// with `posixpaths`), anything but NUL allowed in a name, `.`/`..` refused (the
/// client resolves them).
pub(crate) fn components(path: &str) -> Result<Vec<&str>, u32> {
    let parts: Vec<&str> = path.split(['\\', '/']).filter(|c| !c.is_empty()).collect();
    for c in &parts {
        if *c == "." || *c == ".." || c.contains('\0') {
            return Err(STATUS_OBJECT_NAME_INVALID);
        }
    }
    Ok(parts)
}

/// The POSIX view of `a`.
pub(crate) fn info(fs: &Fs, a: &Attr) -> PosixInfo {
    PosixInfo {
        times: file_times(a),
        inode: a.ino,
        dev: fs.share().id,
        nlinks: a.nlink,
        reparse_tag: 0,
        mode: a.mode & 0o7777,
        owner: Sid::unix_user(a.uid),
        group: Sid::unix_group(a.gid),
    }
}

/// The create context response for `a`.
pub(crate) fn create_response(fs: &Fs, a: &Attr) -> CreateContext {
    info(fs, a).create_context()
}

/// Owner, group and mode from an `SecD` create context on a file just created.
pub(crate) async fn apply_create_sd(
    fs: &Fs,
    cred: &Cred,
    a: Attr,
    contexts: &[CreateContext],
) -> Result<Attr, u32> {
    let Some(data) = contexts.iter().find_map(|c| match c {
        CreateContext::Other { name, data } if name.as_slice() == SECD => Some(data),
        _ => None,
    }) else {
        return Ok(a);
    };
    let Ok(sd) = SecurityDescriptor::decode(data) else {
        return Err(STATUS_INVALID_PARAMETER);
    };
    // The file exists now: what the caller may not change (an owner other than
    // itself without root) is left as created rather than failing the CREATE.
    let set = sd_setattr(&sd, u32::MAX, &a);
    if set == SetAttr::default() {
        return Ok(a);
    }
    if let Ok(w) = fs.setattr(cred, a.ino, &set, None).await {
        return Ok(w.after.unwrap_or(a));
    }
    let mode_only = SetAttr {
        mode: set.mode,
        ..SetAttr::default()
    };
    apply(fs, cred, a.clone(), &mode_only).await.or(Ok(a))
}

async fn apply(fs: &Fs, cred: &Cred, a: Attr, set: &SetAttr) -> Result<Attr, u32> {
    if *set == SetAttr::default() {
        return Ok(a);
    }
    let w = fs.setattr(cred, a.ino, set, None).await.map_err(fs_err)?;
    Ok(w.after.unwrap_or(a))
}

/// The attribute change a security descriptor asks for; `which` is SET_INFO's
/// AdditionalInformation (OWNER=1, GROUP=2, DACL=4). Unchanged parts are left out.
pub(crate) fn sd_setattr(sd: &SecurityDescriptor, which: u32, a: &Attr) -> SetAttr {
    let mut set = SetAttr::default();
    let uid = if which & 1 != 0 {
        sd.owner.as_ref().and_then(sid_uid)
    } else {
        None
    };
    let gid = if which & 2 != 0 {
        sd.group.as_ref().and_then(sid_gid)
    } else {
        None
    };
    set.uid = uid.filter(|&u| u != a.uid);
    set.gid = gid.filter(|&g| g != a.gid);
    if which & 4 != 0 {
        if let Some(aces) = &sd.dacl {
            let mode = aces.iter().find_map(|x| sid_mode(&x.sid)).or_else(|| {
                mode_from_dacl(aces, uid.unwrap_or(a.uid), gid.unwrap_or(a.gid))
                    // Without the mode SID the DACL cannot carry suid/sgid/sticky.
                    .map(|m| m | (a.mode & 0o7000))
            });
            set.mode = mode.filter(|&m| m != a.mode & 0o7777);
        }
    }
    set
}

/// FS posix information from the share's counters.
pub(crate) async fn fs_info(fs: &Fs, unit_bytes: u64, out: &mut Vec<u8>) -> Result<(), u32> {
    let s = fs.fsstat().await.map_err(fs_err)?;
    FsPosixInfo {
        optimal_transfer_size: super::IO_BYTES_MAX,
        block_size: unit_bytes as u32,
        total_blocks: s.total_bytes / unit_bytes,
        blocks_avail: s.free_bytes / unit_bytes,
        user_blocks_avail: s.avail_bytes / unit_bytes,
        total_file_nodes: s.total_files,
        free_file_nodes: s.free_files,
        fs_identifier: u64::from(fs.share().id),
    }
    .encode(out);
    Ok(())
}

/// Packs class 100 entries from a scan (`pos` advanced past what fit); each entry's
/// attributes are read again so mode/owner/links are current.
pub(crate) async fn pack_dir(
    fs: &Fs,
    entries: &[WireDirEntry],
    pos: &mut usize,
    max_len: usize,
    single: bool,
) -> Vec<u8> {
    let mut w = PosixDirWriter::new(max_len);
    while *pos < entries.len() {
        let e = &entries[*pos];
        let Ok(a) = fs.getattr(e.file_id, None).await else {
            *pos += 1;
            continue;
        };
        if !w.push(&info(fs, &a), &e.name) {
            break;
        }
        *pos += 1;
        if single {
            break;
        }
    }
    if w.is_empty() {
        Vec::new()
    } else {
        w.finish()
    }
}
