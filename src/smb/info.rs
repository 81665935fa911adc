//! QUERY_INFO (file, filesystem, security) and SET_INFO (basic, sizes,
//! disposition, rename, link, owner/group).

use dittofs_smb_wire::dir::encode_output_response;
use dittofs_smb_wire::fscc::attr as attrs;
use dittofs_smb_wire::fscc::file::FileInfo;
use dittofs_smb_wire::fscc::fs::{fs_attr, FsInfo};
use dittofs_smb_wire::fscc::set::{SetFileInfo, DISPOSITION_DELETE, DISPOSITION_POSIX_SEMANTICS};
use dittofs_smb_wire::fscc::{class as file_class, fs_class, unix_from_filetime};
use dittofs_smb_wire::info::*;
use dittofs_smb_wire::security::SecurityDescriptor;
use dittofs_smb_wire::status::*;

use super::create::{components, open_mut, resolve_parent, session_cred};
use super::dispatch::Call;
use super::state::ConnState;
use super::{dos_to_store, fs_err, ok, times_of, Reply, SmbContext};
use crate::fs::{FsError, SetAttr, SetTime, Timespec};

/// The DELETE access right.
const DELETE: u32 = 0x0001_0000;

/// Allocation unit reported (bytes): 8 sectors of 512.
const UNIT_BYTES: u64 = 4096;

/// A DOS 8.3 name for `long`: itself upper-cased when it already fits 8.3,
/// else up to 6 characters of the base, `~1`, and up to 3 of the extension.
fn short_name(long: &str) -> String {
    let legal = |c: char| c.is_ascii_alphanumeric() || "!#$%&'()-@^_`{}~".contains(c);
    let (base, ext) = match long.rfind('.') {
        Some(i) if i > 0 => (&long[..i], &long[i + 1..]),
        _ => (long, ""),
    };
    let fits = base.len() <= 8 && ext.len() <= 3 && base.chars().chain(ext.chars()).all(legal);
    if fits {
        return long.to_ascii_uppercase();
    }
    let clean = |s: &str, n: usize| -> String {
        s.chars()
            .filter(|c| legal(*c))
            .take(n)
            .collect::<String>()
            .to_ascii_uppercase()
    };
    let mut short = clean(base, 6);
    if short.is_empty() {
        short.push('_');
    }
    short.push_str("~1");
    let ext = clean(ext, 3);
    if !ext.is_empty() {
        short.push('.');
        short.push_str(&ext);
    }
    short
}

/// File information classes that report attributes or times.
fn needs_read_attributes(class: u8) -> bool {
    const NETWORK_OPEN: u8 = 34;
    const ATTRIBUTE_TAG: u8 = 35;
    matches!(
        class,
        file_class::BASIC | file_class::ALL | NETWORK_OPEN | ATTRIBUTE_TAG
    )
}

pub async fn query_info(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &QueryInfoRequest<'_>,
) -> Result<Reply, u32> {
    let _cred = session_cred(st, call)?;
    let st_posix = st.posix;
    let open = open_mut(st, call, req.file_id)?;
    let fs = &ctx.shares[open.share].fs;
    if req.info_type == INFO_FILE && needs_read_attributes(req.info_class) {
        // MS-FSA 2.1.5.12: these classes need FILE_READ_ATTRIBUTES
        // (smbtorture smb2.streams.attributes1, smb2.getinfo.getinfo_access).
        const FILE_READ_ATTRIBUTES: u32 = 0x0000_0080;
        if open.granted_access & FILE_READ_ATTRIBUTES == 0 {
            return Err(STATUS_ACCESS_DENIED);
        }
    }
    let attr = super::streams::info_attr(fs, open).await?;
    let mut out = Vec::new();
    match req.info_type {
        INFO_FILE if req.info_class == file_class::ALTERNATE_NAME => {
            // An 8.3 name derived from the last component, like Samba's
            // mangled names (smbtorture smb2.getinfo.getinfo_access).
            let last = open.path.rsplit('\\').next().unwrap_or("");
            if last.is_empty() {
                return Err(STATUS_OBJECT_NAME_NOT_FOUND);
            }
            dittofs_smb_wire::fscc::file::name(&short_name(last), &mut out);
        }
        INFO_FILE if req.info_class == file_class::STREAM => {
            super::streams::stream_info(fs, open, &mut out).await?;
        }
        INFO_FILE if req.info_class == file_class::POSIX && st_posix => {
            super::posix::info(fs, &attr).encode(&mut out);
        }
        INFO_FILESYSTEM if req.info_class == fs_class::POSIX && st_posix => {
            super::posix::fs_info(fs, UNIT_BYTES, &mut out).await?;
        }
        INFO_FILE => {
            let info = FileInfo {
                times: times_of(fs, &attr).await,
                number_of_links: attr.nlink,
                // Also when another open made the file delete pending.
                delete_pending: open.delete_pending || fs.delete_pending(open.ino),
                directory: open.is_dir,
                index_number: attr.ino,
                ea_size: 0,
                access_flags: open.granted_access,
                current_byte_offset: open.position,
                mode: 0,
                alignment_requirement: 0,
                name: open.path.clone(),
                reparse_tag: 0,
            };
            dittofs_smb_wire::fscc::file::encode(req.info_class, &info, &mut out)
                .ok_or(STATUS_INVALID_INFO_CLASS)?;
        }
        INFO_FILESYSTEM => {
            let stat = fs.fsstat().await.map_err(fs_err)?;
            let share = fs.share();
            let info = FsInfo {
                volume_creation_time: ctx.start_time,
                volume_serial_number: share.id.wrapping_mul(0x9E37_79B9) ^ 0xD170,
                volume_label: share.name.trim_start_matches('/').to_owned(),
                total_allocation_units: stat.total_bytes / UNIT_BYTES,
                available_allocation_units: stat.avail_bytes / UNIT_BYTES,
                sectors_per_allocation_unit: 8,
                bytes_per_sector: 512,
                device_characteristics: 0,
                attributes: fs_attr::CASE_SENSITIVE_SEARCH
                    | fs_attr::CASE_PRESERVED_NAMES
                    | fs_attr::UNICODE_ON_DISK
                    | fs_attr::PERSISTENT_ACLS
                    | fs_attr::SUPPORTS_SPARSE_FILES
                    | fs_attr::SUPPORTS_HARD_LINKS
                    | fs_attr::NAMED_STREAMS,
                max_component_name_len: 255,
                fs_name: "NTFS".into(),
                object_id: ctx.server_guid,
            };
            dittofs_smb_wire::fscc::fs::encode(req.info_class, &info, &mut out)
                .ok_or(STATUS_INVALID_INFO_CLASS)?;
        }
        INFO_SECURITY => {
            out = SecurityDescriptor::from_unix(attr.uid, attr.gid, attr.mode)
                .encode(req.additional_information);
            if out.len() > req.output_buffer_length as usize {
                let mut body = Vec::new();
                dittofs_smb_wire::oplock::encode_error_response(
                    &(out.len() as u32).to_le_bytes(),
                    &mut body,
                );
                return Ok((STATUS_BUFFER_TOO_SMALL, body));
            }
        }
        _ => return Err(STATUS_NOT_SUPPORTED),
    }
    let max = req.output_buffer_length as usize;
    let fixed = match req.info_type {
        INFO_FILE => dittofs_smb_wire::fscc::file::fixed_len(req.info_class),
        INFO_FILESYSTEM => dittofs_smb_wire::fscc::fs::fixed_len(req.info_class),
        _ => None,
    }
    .unwrap_or(out.len());
    // Shorter than the fixed part: INFO_LENGTH_MISMATCH; cutting only the
    // variable part: truncated with BUFFER_OVERFLOW
    // (smb2.getinfo.qfile_buffercheck, qfs_buffercheck).
    if max < fixed {
        return Err(STATUS_INFO_LENGTH_MISMATCH);
    }
    let mut status = STATUS_SUCCESS;
    if out.len() > max {
        out.truncate(max);
        status = STATUS_BUFFER_OVERFLOW;
    }
    let mut body = Vec::with_capacity(8 + out.len());
    encode_output_response(&out, &mut body);
    Ok((status, body))
}

/// A FileBasicInformation time (MS-FSCC 2.4.7): 0 leaves it unchanged; -1 asks the
/// server to stop updating it for this handle and -2 to resume, both accepted and
/// treated as "unchanged" (we keep no per-handle freeze); any other value is set.
fn client_time(ft: u64) -> Option<Timespec> {
    if ft == 0 || ft >= u64::MAX - 1 {
        return None;
    }
    let (sec, nsec) = unix_from_filetime(ft);
    Some(Timespec { sec, nsec })
}

fn set_time(ft: u64) -> SetTime {
    client_time(ft).map_or(SetTime::DontChange, SetTime::Client)
}

pub async fn set_info(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &SetInfoRequest<'_>,
) -> Result<Reply, u32> {
    let cred = session_cred(st, call)?;
    let windows = !st.posix;
    let split = if st.posix {
        super::posix::components
    } else {
        components
    };
    let open = open_mut(st, call, req.file_id)?;
    let fs = &ctx.shares[open.share].fs;
    if let Some((parent, name)) = &open.parent {
        // Lets a change-notify watcher see this change (one load when none).
        fs.hint_location(open.ino, *parent, name);
    }
    match req.info_type {
        INFO_FILE => {
            let info = SetFileInfo::decode(req.info_class, req.buffer)
                .map_err(|_| STATUS_INVALID_PARAMETER)?
                .ok_or(STATUS_INVALID_INFO_CLASS)?;
            match info {
                SetFileInfo::Basic(b) => {
                    // A directory cannot be TEMPORARY (MS-FSA 2.1.5.14.2;
                    // smbtorture smb2.create.dosattr_tmp_dir).
                    const FILE_ATTRIBUTE_TEMPORARY: u32 = 0x0100;
                    if open.is_dir && b.file_attributes & FILE_ATTRIBUTE_TEMPORARY != 0 {
                        return Err(STATUS_INVALID_PARAMETER);
                    }
                    // Any basic-info set applies a pending write-time update
                    // first (Windows 2016; smb2.timestamps.delayed-write-vs-setbasic).
                    open.write_time.flush_pending(fs, open.ino).await;
                    open.write_time.on_set_write_time(b.last_write_time);
                    let set = SetAttr {
                        atime: set_time(b.last_access_time),
                        mtime: set_time(b.last_write_time),
                        btime: client_time(b.creation_time),
                        // ChangeTime is kept as set (Windows does; Samba reports the
                        // set value back too: smbtorture smb2.timestamps.time_t_*).
                        ctime: client_time(b.change_time),
                        ..SetAttr::default()
                    };
                    let basic_ino = super::streams::basic_ino(open);
                    if set != SetAttr::default() {
                        fs.setattr(&cred, basic_ino, &set, None)
                            .await
                            .map_err(fs_err)?;
                    }
                    // 0: leave unchanged (READONLY and DIRECTORY follow the mode).
                    if b.file_attributes != 0 {
                        // SPARSE_FILE is FSCTL_SET_SPARSE's alone: kept as stored.
                        let sparse = fs.dos_attributes(basic_ino).await.map_err(fs_err)?
                            & attrs::SPARSE_FILE;
                        let bits = match dos_to_store(b.file_attributes) {
                            attrs::NORMAL if sparse != 0 => sparse,
                            bits => bits | sparse,
                        };
                        fs.set_dos_attributes(&cred, basic_ino, bits)
                            .await
                            .map_err(fs_err)?;
                    }
                }
                SetFileInfo::EndOfFile(size) => {
                    if open.is_dir {
                        return Err(STATUS_INVALID_PARAMETER);
                    }
                    let set = SetAttr {
                        size: Some(size),
                        ..SetAttr::default()
                    };
                    fs.setattr(&cred, open.ino, &set, None)
                        .await
                        .map_err(fs_err)?;
                    open.write_time.set_eof(fs, open.ino).await;
                }
                SetFileInfo::Allocation(size) => {
                    let attr = fs.getattr(open.ino, None).await.map_err(fs_err)?;
                    if !open.is_dir && size < attr.size {
                        let set = SetAttr {
                            size: Some(size),
                            ..SetAttr::default()
                        };
                        fs.setattr(&cred, open.ino, &set, None)
                            .await
                            .map_err(fs_err)?;
                    } else if !open.is_dir {
                        // Growing the allocation changes no data but still
                        // ends other opens' read caching, as Samba does
                        // (smbtorture smb2.oplock.batch12).
                        super::oplock::break_for_write(fs, open.ino).await;
                    }
                }
                SetFileInfo::Disposition(delete) => {
                    set_delete(ctx, open, &cred, delete, windows).await?;
                }
                SetFileInfo::DispositionEx(flags) => {
                    let delete = flags & DISPOSITION_DELETE != 0;
                    set_delete(ctx, open, &cred, delete, windows).await?;
                    if delete && flags & DISPOSITION_POSIX_SEMANTICS != 0 {
                        posix_delete(ctx, open, &cred).await?;
                    }
                }
                SetFileInfo::Rename {
                    replace_if_exists,
                    name,
                    ..
                } => {
                    if open.stream.is_some() || super::streams::is_stream_target(&name) {
                        if open.granted_access & DELETE == 0 {
                            return Err(STATUS_ACCESS_DENIED);
                        }
                        super::streams::rename(open, fs, &name, replace_if_exists).await?;
                        return ok(set_info_body());
                    }
                    let Some((from_dir, from_name)) = open.parent.clone() else {
                        return Err(STATUS_ACCESS_DENIED);
                    };
                    // Renaming needs DELETE on the handle (MS-FSA 2.1.5.15.11;
                    // smbtorture smb2.rename.simple_nodelete).
                    if open.granted_access & DELETE == 0 {
                        return Err(STATUS_ACCESS_DENIED);
                    }
                    let parts = split(&name)?;
                    let (to_dir, last) = resolve_parent(fs, &cred, &parts).await?;
                    let to_name = last.ok_or(STATUS_OBJECT_NAME_INVALID)?;
                    if to_dir == from_dir && to_name.as_bytes() == from_name.as_slice() {
                        return ok(set_info_body());
                    }
                    super::sharemode::rename_parents(fs, &[from_dir, to_dir])?;
                    if !replace_if_exists {
                        match fs.lookup(&cred, to_dir, to_name.as_bytes()).await {
                            Ok(_) => return Err(STATUS_OBJECT_NAME_COLLISION),
                            Err(FsError::NotFound) => {}
                            Err(e) => return Err(fs_err(e)),
                        }
                    }
                    // Handle-caching breaks of other opens go first; one that
                    // needs an acknowledgment makes the rename async (`defer.rs`;
                    // smbtorture smb2.lease.rename_wait).
                    let file = (fs.share().id, open.ino);
                    super::defer::rename_or_defer(st, call, file)?;
                    let open = open_mut(st, call, req.file_id)?;
                    fs.rename(&cred, from_dir, &from_name, to_dir, to_name.as_bytes())
                        .await
                        .map_err(|e| match e {
                            // A non-empty target directory: what Samba answers (from
                            // renameat's ENOTEMPTY); the Linux client turns it into
                            // ENOTEMPTY, while ACCESS_DENIED makes it try rmdir and
                            // then fail with EACCES.
                            FsError::NotEmpty => STATUS_DIRECTORY_NOT_EMPTY,
                            FsError::Exists => STATUS_ACCESS_DENIED,
                            e => fs_err(e),
                        })?;
                    open.parent = Some((to_dir, to_name.as_bytes().to_vec()));
                    open.path = format!("\\{}", parts.join("\\"));
                }
                SetFileInfo::Link {
                    replace_if_exists,
                    name,
                    ..
                } => {
                    let parts = split(&name)?;
                    let (to_dir, last) = resolve_parent(fs, &cred, &parts).await?;
                    let to_name = last.ok_or(STATUS_OBJECT_NAME_INVALID)?;
                    if replace_if_exists {
                        let _ = fs.remove(&cred, to_dir, to_name.as_bytes()).await;
                    }
                    fs.link(&cred, open.ino, to_dir, to_name.as_bytes())
                        .await
                        .map_err(fs_err)?;
                }
                SetFileInfo::Position(p) => open.position = p,
            }
        }
        INFO_SECURITY => {
            let sd =
                SecurityDescriptor::decode(req.buffer).map_err(|_| STATUS_INVALID_PARAMETER)?;
            // Owner/group in either Unix SID form; the DACL mapped back to mode bits.
            let attr = fs.getattr(open.ino, None).await.map_err(fs_err)?;
            let which = req.additional_information
                & (OWNER_SECURITY_INFORMATION
                    | GROUP_SECURITY_INFORMATION
                    | DACL_SECURITY_INFORMATION);
            let set = super::posix::sd_setattr(&sd, which, &attr);
            if set != SetAttr::default() {
                fs.setattr(&cred, open.ino, &set, None)
                    .await
                    .map_err(fs_err)?;
            }
        }
        _ => return Err(STATUS_NOT_SUPPORTED),
    }
    ok(set_info_body())
}

fn set_info_body() -> Vec<u8> {
    let mut body = Vec::new();
    encode_set_info_response(&mut body);
    body
}

/// FILE_DISPOSITION_POSIX_SEMANTICS: the name goes now; the file stays
/// readable and writable through its opens (this one included) until the last
/// of them closes (see `crate::fs::unlinked`).
async fn posix_delete(
    ctx: &SmbContext,
    open: &mut super::state::Open,
    cred: &crate::fs::Cred,
) -> Result<(), u32> {
    let fs = &ctx.shares[open.share].fs;
    let Some((dir, name)) = open.parent.clone() else {
        return Err(STATUS_CANNOT_DELETE);
    };
    if open.is_dir {
        fs.rmdir(cred, dir, &name).await.map_err(fs_err)?;
    } else {
        fs.remove_held(cred, dir, &name, 0).await.map_err(fs_err)?;
    }
    open.delete_pending = false;
    open.parent = None;
    fs.set_delete_pending(open.ino, None);
    Ok(())
}

async fn set_delete(
    ctx: &SmbContext,
    open: &mut super::state::Open,
    cred: &crate::fs::Cred,
    delete: bool,
    windows: bool,
) -> Result<(), u32> {
    let fs = &ctx.shares[open.share].fs;
    if delete {
        if open.parent.is_none() {
            return Err(STATUS_CANNOT_DELETE);
        }
        if fs.read_only() {
            return Err(STATUS_MEDIA_WRITE_PROTECTED);
        }
        if open.is_dir {
            let page = fs
                .readdir(cred, open.ino, 0, [0; 8], 3, false)
                .await
                .map_err(fs_err)?;
            if page.entries.len() > 2 {
                return Err(STATUS_DIRECTORY_NOT_EMPTY);
            }
        }
    }
    open.delete_pending = delete;
    // The file is delete pending at once: new opens fail, its name goes at
    // its last close (`crate::fs::unlinked`).
    if windows && !open.is_dir && open.hold.is_some() {
        let doomed = delete
            .then(|| open.parent.clone())
            .flatten()
            .map(|(dir, name)| (dir, name, cred.clone()));
        fs.set_delete_pending(open.ino, doomed);
    }
    Ok(())
}
