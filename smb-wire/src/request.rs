//! One entry point for the server adapter: decode any request message (header +
//! body, one element of a compound chain) into a typed [`Request`].

use crate::create::{CloseRequest, CreateRequest};
use crate::dir::{ChangeNotifyRequest, QueryDirectoryRequest};
use crate::error::{Result, WireError};
use crate::header::{Command, Header};
use crate::info::{QueryInfoRequest, SetInfoRequest};
use crate::io::{FlushRequest, LockRequest, ReadRequest, WriteRequest};
use crate::ioctl::IoctlRequest;
use crate::negotiate::NegotiateRequest;
use crate::oplock::OplockBreak;
use crate::session::{decode_empty, SessionSetupRequest, TreeConnectRequest};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Negotiate(NegotiateRequest),
    SessionSetup(SessionSetupRequest<'a>),
    Logoff,
    TreeConnect(TreeConnectRequest),
    TreeDisconnect,
    Create(CreateRequest),
    Close(CloseRequest),
    Flush(FlushRequest),
    Read(ReadRequest),
    Write(WriteRequest<'a>),
    Lock(LockRequest),
    Ioctl(IoctlRequest<'a>),
    Cancel,
    Echo,
    QueryDirectory(QueryDirectoryRequest),
    ChangeNotify(ChangeNotifyRequest),
    QueryInfo(QueryInfoRequest<'a>),
    SetInfo(SetInfoRequest<'a>),
    OplockBreak(OplockBreak),
}

impl<'a> Request<'a> {
    /// Decodes the header and the body of the command it names.
    pub fn decode(msg: &'a [u8]) -> Result<(Header, Request<'a>)> {
        let hdr = Header::decode(msg)?;
        let cmd = hdr.cmd().ok_or(WireError::BadValue("unknown command"))?;
        Ok((hdr, Self::decode_body(cmd, msg)?))
    }

    /// Decodes the body of `cmd` from `msg` (which starts at the header).
    pub fn decode_body(cmd: Command, msg: &'a [u8]) -> Result<Request<'a>> {
        Ok(match cmd {
            Command::Negotiate => Request::Negotiate(NegotiateRequest::decode(msg)?),
            Command::SessionSetup => Request::SessionSetup(SessionSetupRequest::decode(msg)?),
            Command::Logoff => decode_empty(msg, "LOGOFF").map(|_| Request::Logoff)?,
            Command::TreeConnect => Request::TreeConnect(TreeConnectRequest::decode(msg)?),
            Command::TreeDisconnect => {
                decode_empty(msg, "TREE_DISCONNECT").map(|_| Request::TreeDisconnect)?
            }
            Command::Create => Request::Create(CreateRequest::decode(msg)?),
            Command::Close => Request::Close(CloseRequest::decode(msg)?),
            Command::Flush => Request::Flush(FlushRequest::decode(msg)?),
            Command::Read => Request::Read(ReadRequest::decode(msg)?),
            Command::Write => Request::Write(WriteRequest::decode(msg)?),
            Command::Lock => Request::Lock(LockRequest::decode(msg)?),
            Command::Ioctl => Request::Ioctl(IoctlRequest::decode(msg)?),
            Command::Cancel => decode_empty(msg, "CANCEL").map(|_| Request::Cancel)?,
            Command::Echo => decode_empty(msg, "ECHO").map(|_| Request::Echo)?,
            Command::QueryDirectory => Request::QueryDirectory(QueryDirectoryRequest::decode(msg)?),
            Command::ChangeNotify => Request::ChangeNotify(ChangeNotifyRequest::decode(msg)?),
            Command::QueryInfo => Request::QueryInfo(QueryInfoRequest::decode(msg)?),
            Command::SetInfo => Request::SetInfo(SetInfoRequest::decode(msg)?),
            Command::OplockBreak => Request::OplockBreak(OplockBreak::decode(msg)?),
        })
    }
}
