//! The SMB2/3 wire protocol of dittofs, as pure functions over byte slices: no I/O, no
//! async, no dependency on the server crate. The server adapter (src/smb/) is meant
//! to be thin: split the transport frame ([`frame`]), decrypt if it is a transform
//! message ([`crypto`]), split the compound chain ([`header::split_compound`]), decode
//! each request with the command's `decode(msg)` (`msg` = bytes from that request's
//! header, so wire offsets index it directly), call the fs core, and encode the
//! response body with `encode(&mut body)` after a [`header::Header`] built with
//! `Header::response`. Every decoder checks every offset and length against the
//! message and returns [`WireError`]; nothing here panics on any input.

pub mod auth;
pub mod buf;
pub mod copychunk;
pub mod create;
pub mod create_ctx;
pub mod crypto;
pub mod dcerpc;
pub mod dir;
pub mod error;
pub mod frame;
pub mod fscc;
pub mod fsctl;
pub mod header;
pub mod info;
pub mod io;
pub mod ioctl;
pub mod negotiate;
pub mod oplock;
pub mod posix;
pub mod request;
pub mod security;
pub mod session;
pub mod srvsvc;
pub mod status;
pub mod transform;

pub use error::{Result, WireError};
pub use header::{Command, Header, HEADER_LEN};
pub use request::Request;
