//! Feeds arbitrary bytes to the RPC record assembler and every NFS-side decoder,
//! and whole records to `handle_record` on a context without exports (so the
//! fs core is never reached). Nothing may panic, hang or allocate unboundedly.
#![no_main]

use std::net::SocketAddr;

use bytes::Bytes;
use dittofs::nfs::args::NfsArgs;
use dittofs::nfs::mount::{self, MntRes, MountArgs};
use dittofs::nfs::portmap::{self, PortmapArgs};
use dittofs::nfs::results_decode::{
    CommitRes, CreateRes, Decode, FsinfoRes, GetattrRes, LookupRes, ReadRes, ReaddirRes,
    ReaddirplusRes, WriteRes,
};
use dittofs::nfs::wire::{Fattr3, WccData};
use dittofs::nfs::{handle_record, NfsContext};
use dittofs::rpc::message::decode_reply;
use dittofs::rpc::{CallHeader, RecordAssembler, XdrReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Framing: the stream split at an arbitrary point.
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut asm = RecordAssembler::new(1 << 16);
    asm.extend(&data[..split]);
    let ctx = NfsContext::new(Vec::new(), 12049, [0; 8]);
    let peer = SocketAddr::from(([127, 0, 0, 1], 1000));
    let drain = |asm: &mut RecordAssembler| {
        while let Ok(Some(record)) = asm.next_record() {
            let _ = futures_lite::future::block_on(handle_record(&ctx, peer, record));
        }
    };
    drain(&mut asm);
    asm.extend(&data[split..]);
    drain(&mut asm);

    // Whole input as one record, and into each decoder.
    let _ = futures_lite::future::block_on(handle_record(&ctx, peer, Bytes::copy_from_slice(data)));
    let reader = || XdrReader::from_slice(data);
    let _ = CallHeader::decode(&mut reader());
    let _ = decode_reply(&mut reader());
    for proc_ in 0..24 {
        let _ = NfsArgs::decode(proc_, &mut reader());
    }
    for proc_ in 0..7 {
        let _ = MountArgs::decode(proc_, &mut reader());
        let _ = PortmapArgs::decode(proc_, &mut reader());
    }
    let _ = MntRes::decode(&mut reader());
    let _ = mount::decode_mount_list(&mut reader());
    let _ = mount::decode_exports(&mut reader());
    let _ = portmap::decode_dump(&mut reader());
    let _ = Fattr3::decode(&mut reader());
    let _ = WccData::decode(&mut reader());
    let _ = GetattrRes::decode(&mut reader());
    let _ = LookupRes::decode(&mut reader());
    let _ = ReadRes::decode(&mut reader());
    let _ = WriteRes::decode(&mut reader());
    let _ = CreateRes::decode(&mut reader());
    let _ = ReaddirRes::decode(&mut reader());
    let _ = ReaddirplusRes::decode(&mut reader());
    let _ = FsinfoRes::decode(&mut reader());
    let _ = CommitRes::decode(&mut reader());
});
