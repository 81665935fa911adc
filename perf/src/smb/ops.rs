//! Typed SMB2 operations on one tree: CREATE/CLOSE, READ/WRITE/FLUSH, QUERY_INFO,
//! QUERY_DIRECTORY and delete-on-close; paths are relative to the share root with
//! `\` separators.

use std::rc::Rc;

use dittofs_smb_wire::create::{
    options, CloseRequest, CreateRequest, CreateResponse, FileId, CLOSE_FLAG_POSTQUERY_ATTRIB,
    FILE_CREATE, FILE_OPEN, FILE_OPEN_IF, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    OPLOCK_LEVEL_NONE,
};
use dittofs_smb_wire::dir::{decode_output_response, QueryDirectoryRequest, QD_RESTART_SCANS};
use dittofs_smb_wire::fscc::class;
use dittofs_smb_wire::header::Command;
use dittofs_smb_wire::info::{QueryInfoRequest, INFO_FILE};
use dittofs_smb_wire::io::{
    FlushRequest, ReadRequest, ReadResponse, WriteRequest, WriteResponse, WRITEFLAG_WRITE_THROUGH,
};
use dittofs_smb_wire::status::{STATUS_NO_MORE_FILES, STATUS_SUCCESS};

use super::conn::SmbConn;
use super::session::Session;
use super::SmbError;

/// Access masks (MS-SMB2 2.2.13.1).
pub const GENERIC_READ_WRITE: u32 = 0x0012_019F;
pub const FILE_READ_ATTRIBUTES: u32 = 0x0000_0080;
pub const DELETE: u32 = 0x0001_0000;
pub const DIR_LIST: u32 = 0x0012_0089;
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
const ATTR_NORMAL: u32 = 0x80;
const ATTR_DIRECTORY: u32 = 0x10;

/// An SMB client bound to one session and tree; cheap to clone.
#[derive(Clone)]
pub struct Smb {
    pub s: Rc<Session>,
}

fn ok(status: u32) -> Result<(), SmbError> {
    if status == STATUS_SUCCESS {
        Ok(())
    } else {
        Err(SmbError::Status(status))
    }
}

impl Smb {
    pub fn conn(&self) -> &SmbConn {
        &self.s.conn
    }

    async fn call(&self, cmd: Command, body: &[u8], payload: usize) -> Result<Vec<u8>, SmbError> {
        let x = self.s.conn.call(cmd, self.s.tree_id, body, payload).await?;
        ok(x.header.status)?;
        Ok(x.response)
    }

    async fn create_raw(
        &self,
        path: &str,
        access: u32,
        disposition: u32,
        create_options: u32,
        attrs: u32,
    ) -> Result<FileId, SmbError> {
        let mut body = Vec::new();
        CreateRequest {
            security_flags: 0,
            requested_oplock_level: OPLOCK_LEVEL_NONE,
            impersonation_level: 2,
            smb_create_flags: 0,
            desired_access: access,
            file_attributes: attrs,
            share_access: SHARE_ALL,
            create_disposition: disposition,
            create_options,
            name: path.to_string(),
            contexts: Vec::new(),
        }
        .encode(&mut body);
        let msg = self.call(Command::Create, &body, 0).await?;
        Ok(CreateResponse::decode(&msg)
            .map_err(SmbError::Wire)?
            .file_id)
    }

    /// Opens `path` for reading and writing, creating it if missing.
    pub async fn open_rw(&self, path: &str) -> Result<FileId, SmbError> {
        self.create_raw(
            path,
            GENERIC_READ_WRITE,
            FILE_OPEN_IF,
            options::NON_DIRECTORY_FILE,
            ATTR_NORMAL,
        )
        .await
    }

    /// Creates a new file (fails if it exists).
    pub async fn create_new(&self, path: &str) -> Result<FileId, SmbError> {
        self.create_raw(
            path,
            GENERIC_READ_WRITE,
            FILE_CREATE,
            options::NON_DIRECTORY_FILE,
            ATTR_NORMAL,
        )
        .await
    }

    /// Creates a directory (or opens it when it exists) and closes it.
    pub async fn mkdir(&self, path: &str) -> Result<(), SmbError> {
        let f = self
            .create_raw(
                path,
                DIR_LIST,
                FILE_OPEN_IF,
                options::DIRECTORY_FILE,
                ATTR_DIRECTORY,
            )
            .await?;
        self.close(f).await
    }

    pub async fn open_dir(&self, path: &str) -> Result<FileId, SmbError> {
        self.create_raw(path, DIR_LIST, FILE_OPEN, options::DIRECTORY_FILE, 0)
            .await
    }

    pub async fn close(&self, file_id: FileId) -> Result<(), SmbError> {
        let mut body = Vec::new();
        CloseRequest { flags: 0, file_id }.encode(&mut body);
        self.call(Command::Close, &body, 0).await.map(|_| ())
    }

    /// The SMB "stat": open for attributes only, CLOSE with POSTQUERY_ATTRIB.
    pub async fn stat(&self, path: &str) -> Result<(), SmbError> {
        let f = self
            .create_raw(path, FILE_READ_ATTRIBUTES, FILE_OPEN, 0, 0)
            .await?;
        let mut body = Vec::new();
        CloseRequest {
            flags: CLOSE_FLAG_POSTQUERY_ATTRIB,
            file_id: f,
        }
        .encode(&mut body);
        self.call(Command::Close, &body, 0).await.map(|_| ())
    }

    /// QUERY_INFO FileAllInformation on an open file; returns its size in bytes.
    pub async fn query_all(&self, file_id: FileId) -> Result<usize, SmbError> {
        let mut body = Vec::new();
        QueryInfoRequest {
            info_type: INFO_FILE,
            info_class: class::ALL,
            output_buffer_length: 4096,
            input: &[],
            additional_information: 0,
            flags: 0,
            file_id,
        }
        .encode(&mut body);
        let msg = self.call(Command::QueryInfo, &body, 0).await?;
        Ok(decode_output_response(&msg, "QUERY_INFO")
            .map_err(SmbError::Wire)?
            .len())
    }

    /// Deletes a file: open with DELETE_ON_CLOSE, close.
    pub async fn delete(&self, path: &str) -> Result<(), SmbError> {
        let f = self
            .create_raw(
                path,
                DELETE,
                FILE_OPEN,
                options::NON_DIRECTORY_FILE | options::DELETE_ON_CLOSE,
                0,
            )
            .await?;
        self.close(f).await
    }

    pub async fn write(
        &self,
        file_id: FileId,
        offset: u64,
        data: &[u8],
        write_through: bool,
    ) -> Result<u32, SmbError> {
        let mut body = Vec::with_capacity(64 + data.len());
        WriteRequest {
            offset,
            file_id,
            channel: 0,
            remaining_bytes: 0,
            flags: if write_through {
                WRITEFLAG_WRITE_THROUGH
            } else {
                0
            },
            data,
        }
        .encode(&mut body);
        let msg = self.call(Command::Write, &body, data.len()).await?;
        Ok(WriteResponse::decode(&msg).map_err(SmbError::Wire)?.count)
    }

    /// Reads up to `len` bytes at `offset`; `f` sees the data.
    pub async fn read<T>(
        &self,
        file_id: FileId,
        offset: u64,
        len: u32,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, SmbError> {
        let mut body = Vec::new();
        ReadRequest {
            padding: 0x50,
            flags: 0,
            length: len,
            offset,
            file_id,
            minimum_count: 0,
            channel: 0,
            remaining_bytes: 0,
        }
        .encode(&mut body);
        let msg = self.call(Command::Read, &body, len as usize).await?;
        let r = ReadResponse::decode(&msg).map_err(SmbError::Wire)?;
        Ok(f(r.data))
    }

    pub async fn flush(&self, file_id: FileId) -> Result<(), SmbError> {
        let mut body = Vec::new();
        FlushRequest { file_id }.encode(&mut body);
        self.call(Command::Flush, &body, 0).await.map(|_| ())
    }

    /// Lists `dir` (QUERY_DIRECTORY, FileIdBothDirectoryInformation, 64 KiB at a
    /// time); returns the entry count (without `.`/`..`) and the call count.
    pub async fn list_dir(&self, dir: &str) -> Result<(u64, u64), SmbError> {
        let f = self.open_dir(dir).await?;
        let r = self.list_open_dir(f).await;
        let c = self.close(f).await;
        let r = r?;
        c?;
        Ok(r)
    }

    async fn list_open_dir(&self, f: FileId) -> Result<(u64, u64), SmbError> {
        let (mut entries, mut calls) = (0u64, 0u64);
        while let Some(n) = self.query_dir(f, calls == 0).await? {
            calls += 1;
            entries += n;
        }
        Ok((entries, calls + 1))
    }

    /// One QUERY_DIRECTORY call on an open directory (from the start when `restart`):
    /// the entries returned (without `.`/`..`), or `None` at the end of the listing.
    pub async fn query_dir(&self, f: FileId, restart: bool) -> Result<Option<u64>, SmbError> {
        let mut body = Vec::new();
        QueryDirectoryRequest {
            info_class: class::ID_BOTH_DIRECTORY,
            flags: if restart { QD_RESTART_SCANS } else { 0 },
            file_index: 0,
            file_id: f,
            pattern: "*".into(),
            output_buffer_length: 64 << 10,
        }
        .encode(&mut body);
        let x = self
            .s
            .conn
            .call(Command::QueryDirectory, self.s.tree_id, &body, 64 << 10)
            .await?;
        if x.header.status == STATUS_NO_MORE_FILES {
            return Ok(None);
        }
        ok(x.header.status)?;
        let out = decode_output_response(&x.response, "QUERY_DIRECTORY").map_err(SmbError::Wire)?;
        let list = dittofs_smb_wire::fscc::dir::decode(class::ID_BOTH_DIRECTORY, out)
            .map_err(SmbError::Wire)?;
        if list.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            list.iter()
                .filter(|e| e.name != "." && e.name != "..")
                .count() as u64,
        ))
    }
}
