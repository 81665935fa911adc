//! QUERY_INFO (file, filesystem, security) and SET_INFO (basic, sizes,
//! disposition, rename, link, owner/group).

use dittofs_smb_wire::dir::encode_output_response;
use dittofs_smb_wire::fscc::file::FileInfo;
use dittofs_smb_wire::fscc::fs::{fs_attr, FsInfo};
use dittofs_smb_wire::fscc::set::{SetFileInfo, DISPOSITION_DELETE};
use dittofs_smb_wire::fscc::{class as file_class, unix_from_filetime};
use dittofs_smb_wire::info::*;
use dittofs_smb_wire::security::SecurityDescriptor;
use dittofs_smb_wire::status::*;

use super::create::{components, open_mut, resolve_parent, session_cred};
use super::dispatch::Call;
use super::state::ConnState;
use super::{file_times, fs_err, ok, Reply, SmbContext};
use crate::fs::{FsError, SetAttr, SetTime, Timespec};

/// Allocation unit reported (bytes): 8 sectors of 512.
const UNIT_BYTES: u64 = 4096;

fn file_info_classes_fixed(class: u8) -> bool {
    !matches!(
        class,
        file_class::ALL | file_class::NAME | file_class::NORMALIZED_NAME | file_class::STREAM
    )
}

pub async fn query_info(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &QueryInfoRequest<'_>,
) -> Result<Reply, u32> {
    let _cred = session_cred(st, call)?;
    let open = open_mut(st, call, req.file_id)?;
    let fs = &ctx.shares[open.share].fs;
    let attr = fs.getattr(open.ino, None).await.map_err(fs_err)?;
    let mut out = Vec::new();
    match req.info_type {
        INFO_FILE if req.info_class == file_class::ALTERNATE_NAME => {
            // No 8.3 names are generated (what Samba answers too).
            return Err(STATUS_OBJECT_NAME_NOT_FOUND);
        }
        INFO_FILE => {
            let info = FileInfo {
                times: file_times(&attr),
                number_of_links: attr.nlink,
                delete_pending: open.delete_pending,
                directory: open.is_dir,
                index_number: attr.ino,
                ea_size: 0,
                access_flags: open.granted_access,
                current_byte_offset: 0,
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
                    | fs_attr::SUPPORTS_HARD_LINKS,
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
    let mut status = STATUS_SUCCESS;
    if out.len() > max {
        if req.info_type == INFO_FILE && file_info_classes_fixed(req.info_class) {
            return Err(STATUS_INFO_LENGTH_MISMATCH);
        }
        out.truncate(max);
        status = STATUS_BUFFER_OVERFLOW;
    }
    let mut body = Vec::with_capacity(8 + out.len());
    encode_output_response(&out, &mut body);
    Ok((status, body))
}

fn set_time(ft: u64) -> SetTime {
    // 0: leave unchanged; -1 (and -2): stop updating, which we treat as unchanged.
    if ft == 0 || ft >= u64::MAX - 1 {
        return SetTime::DontChange;
    }
    let (sec, nsec) = unix_from_filetime(ft);
    SetTime::Client(Timespec { sec, nsec })
}

pub async fn set_info(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &SetInfoRequest<'_>,
) -> Result<Reply, u32> {
    let cred = session_cred(st, call)?;
    let open = open_mut(st, call, req.file_id)?;
    let fs = &ctx.shares[open.share].fs;
    match req.info_type {
        INFO_FILE => {
            let info = SetFileInfo::decode(req.info_class, req.buffer)
                .map_err(|_| STATUS_INVALID_PARAMETER)?
                .ok_or(STATUS_INVALID_INFO_CLASS)?;
            match info {
                SetFileInfo::Basic(b) => {
                    let set = SetAttr {
                        atime: set_time(b.last_access_time),
                        mtime: set_time(b.last_write_time),
                        ..SetAttr::default()
                    };
                    if set != SetAttr::default() {
                        fs.setattr(&cred, open.ino, &set, None)
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
                    }
                }
                SetFileInfo::Disposition(delete) => {
                    set_delete(ctx, open, &cred, delete).await?;
                }
                SetFileInfo::DispositionEx(flags) => {
                    set_delete(ctx, open, &cred, flags & DISPOSITION_DELETE != 0).await?;
                }
                SetFileInfo::Rename {
                    replace_if_exists,
                    name,
                    ..
                } => {
                    let Some((from_dir, from_name)) = open.parent.clone() else {
                        return Err(STATUS_ACCESS_DENIED);
                    };
                    let parts = components(&name)?;
                    let (to_dir, last) = resolve_parent(fs, &cred, &parts).await?;
                    let to_name = last.ok_or(STATUS_OBJECT_NAME_INVALID)?;
                    if to_dir == from_dir && to_name.as_bytes() == from_name.as_slice() {
                        return ok(set_info_body());
                    }
                    if !replace_if_exists {
                        match fs.lookup(&cred, to_dir, to_name.as_bytes()).await {
                            Ok(_) => return Err(STATUS_OBJECT_NAME_COLLISION),
                            Err(FsError::NotFound) => {}
                            Err(e) => return Err(fs_err(e)),
                        }
                    }
                    fs.rename(&cred, from_dir, &from_name, to_dir, to_name.as_bytes())
                        .await
                        .map_err(|e| match e {
                            FsError::Exists | FsError::NotEmpty => STATUS_ACCESS_DENIED,
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
                    let parts = components(&name)?;
                    let (to_dir, last) = resolve_parent(fs, &cred, &parts).await?;
                    let to_name = last.ok_or(STATUS_OBJECT_NAME_INVALID)?;
                    if replace_if_exists {
                        let _ = fs.remove(&cred, to_dir, to_name.as_bytes()).await;
                    }
                    fs.link(&cred, open.ino, to_dir, to_name.as_bytes())
                        .await
                        .map_err(fs_err)?;
                }
                SetFileInfo::Position(_) => {}
            }
        }
        INFO_SECURITY => {
            let sd =
                SecurityDescriptor::decode(req.buffer).map_err(|_| STATUS_INVALID_PARAMETER)?;
            let mut set = SetAttr::default();
            if req.additional_information & OWNER_SECURITY_INFORMATION != 0 {
                set.uid = sd.owner.as_ref().and_then(|s| s.as_unix_user());
            }
            if req.additional_information & GROUP_SECURITY_INFORMATION != 0 {
                set.gid = sd.group.as_ref().and_then(|s| s.as_unix_group());
            }
            // DACLs are not mapped back to mode bits yet; owner/group are.
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

async fn set_delete(
    ctx: &SmbContext,
    open: &mut super::state::Open,
    cred: &crate::fs::Cred,
    delete: bool,
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
    Ok(())
}
