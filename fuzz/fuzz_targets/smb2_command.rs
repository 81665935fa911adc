//! Every SMB2 command decoder plus the info-class, create-context, security
//! descriptor, notify, POSIX-extension (0x23) and FSCTL payload (0x24) decoders. The first byte picks the command (or sub-decoder),
//! the rest is the body behind a valid 64-byte header. Nothing may panic.
#![no_main]

use dittofs_smb_wire::create_ctx::decode_create_contexts;
use dittofs_smb_wire::fscc::{dir, set::SetFileInfo};
use dittofs_smb_wire::header::Header;
use dittofs_smb_wire::security::SecurityDescriptor;
use dittofs_smb_wire::{Command, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match Command::from_u16(u16::from(sel)) {
        Some(cmd) => {
            let mut msg = Vec::new();
            Header { command: cmd as u16, ..Header::default() }.encode(&mut msg);
            msg.extend_from_slice(rest);
            let _ = Request::decode(&msg);
        }
        None => match sel {
            0x20 => {
                let _ = decode_create_contexts(rest, false);
                let _ = decode_create_contexts(rest, true);
            }
            0x21 => {
                let _ = SecurityDescriptor::decode(rest);
            }
            0x22 => {
                let _ = dittofs_smb_wire::dir::decode_notify(rest);
            }
            0x23 => {
                use dittofs_smb_wire::posix;
                let _ = posix::decode_dir(rest);
                let _ = posix::PosixInfo::decode(&mut dittofs_smb_wire::buf::Reader::new(rest));
                let _ = posix::FsPosixInfo::decode(rest);
            }
            0x24 => {
                use dittofs_smb_wire::fsctl;
                let _ = fsctl::decode_set_sparse(rest);
                let _ = fsctl::ZeroDataInfo::decode(rest);
                let _ = fsctl::AllocatedRange::decode(rest);
                let _ = fsctl::AllocatedRange::decode_list(rest);
                let _ = fsctl::decode_compression(rest);
            }
            _ => {
                if let Some((&cls, body)) = rest.split_first() {
                    let _ = dir::decode(cls, body);
                    let _ = SetFileInfo::decode(cls, body);
                }
            }
        },
    }
});
