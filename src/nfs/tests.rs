//! Property and behavior tests of the NFS-side codecs and of dispatch paths
//! that never reach the `fs` core (its bodies belong to another module).

use std::net::SocketAddr;

use bytes::Bytes;
use proptest::prelude::*;
use proptest::strategy::Union;

use crate::fs::{DeviceId, SetAttr, SetTime, Stability, Timespec};
use crate::rpc::message::decode_reply;
use crate::rpc::{AcceptStat, Auth, AuthSys, CallHeader, ReplyStat, XdrReader, XdrWriter};

use super::args::*;
use super::handle::{FileHandle, WireHandle};
use super::handlers::readdir::fit;
use super::mount::{self, MntRes, MountArgs};
use super::portmap::{self, Mapping, PortmapArgs};
use super::results::{Encode, Entry3, EntryPlus3, ReaddirOk, ReaddirplusOk, Reply};
use super::status::Nfsstat3;
use super::wire::{DirOpArgs, Fattr3, Ftype3, WccData};
use super::*;

fn time() -> impl Strategy<Value = Timespec> {
    (0i64..=i64::from(u32::MAX), 0u32..1_000_000_000).prop_map(|(sec, nsec)| Timespec { sec, nsec })
}

fn set_time() -> impl Strategy<Value = SetTime> {
    prop_oneof![
        Just(SetTime::DontChange),
        Just(SetTime::ServerNow),
        time().prop_map(SetTime::Client)
    ]
}

fn sattr() -> impl Strategy<Value = SetAttr> {
    (
        any::<Option<u32>>(),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
        any::<Option<u64>>(),
        set_time(),
        set_time(),
    )
        .prop_map(|(mode, uid, gid, size, atime, mtime)| SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            btime: None,
            ctime: None,
        })
}

fn fh() -> impl Strategy<Value = WireHandle> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..=64)
            .prop_map(|b| WireHandle::from_bytes(&b).unwrap()),
        9 => (any::<u32>(), 1u64.., any::<u64>()).prop_map(|(share_id, ino, generation)| {
            FileHandle { share_id, ino, generation }.into()
        }),
    ]
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..40)
}

fn dirop() -> impl Strategy<Value = DirOpArgs> {
    (fh(), name()).prop_map(|(dir, name)| DirOpArgs { dir, name })
}

fn handle_args() -> impl Strategy<Value = HandleArgs> {
    fh().prop_map(|object| HandleArgs { object })
}

fn dev() -> impl Strategy<Value = DeviceId> {
    (any::<u32>(), any::<u32>()).prop_map(|(major, minor)| DeviceId { major, minor })
}

fn stability() -> impl Strategy<Value = Stability> {
    prop_oneof![
        Just(Stability::Unstable),
        Just(Stability::DataSync),
        Just(Stability::FileSync)
    ]
}

fn nfs_args() -> impl Strategy<Value = NfsArgs> {
    let create_how = prop_oneof![
        sattr().prop_map(CreateHow::Unchecked),
        sattr().prop_map(CreateHow::Guarded),
        any::<[u8; 8]>().prop_map(CreateHow::Exclusive),
    ];
    let mknod = prop_oneof![
        (sattr(), dev()).prop_map(|(s, d)| MknodData::Chr(s, d)),
        (sattr(), dev()).prop_map(|(s, d)| MknodData::Blk(s, d)),
        sattr().prop_map(MknodData::Sock),
        sattr().prop_map(MknodData::Fifo),
        prop_oneof![Just(Ftype3::Reg), Just(Ftype3::Dir), Just(Ftype3::Lnk)]
            .prop_map(MknodData::Other),
    ];
    Union::new(vec![
        Just(NfsArgs::Null).boxed(),
        handle_args().prop_map(NfsArgs::Getattr).boxed(),
        (fh(), sattr(), proptest::option::of(time()))
            .prop_map(|(object, new_attributes, guard)| {
                NfsArgs::Setattr(SetattrArgs {
                    object,
                    new_attributes,
                    guard,
                })
            })
            .boxed(),
        dirop().prop_map(NfsArgs::Lookup).boxed(),
        (fh(), any::<u32>())
            .prop_map(|(object, access)| NfsArgs::Access(AccessArgs { object, access }))
            .boxed(),
        handle_args().prop_map(NfsArgs::Readlink).boxed(),
        (fh(), any::<u64>(), any::<u32>())
            .prop_map(|(file, offset, count)| {
                NfsArgs::Read(ReadArgs {
                    file,
                    offset,
                    count,
                })
            })
            .boxed(),
        (
            fh(),
            any::<u64>(),
            stability(),
            proptest::collection::vec(any::<u8>(), 0..100),
        )
            .prop_map(|(file, offset, stable, data)| {
                NfsArgs::Write(WriteArgs {
                    file,
                    offset,
                    count: data.len() as u32,
                    stable,
                    data: Bytes::from(data),
                })
            })
            .boxed(),
        (dirop(), create_how)
            .prop_map(|(where_, how)| NfsArgs::Create(CreateArgs { where_, how }))
            .boxed(),
        (dirop(), sattr())
            .prop_map(|(where_, attributes)| NfsArgs::Mkdir(MkdirArgs { where_, attributes }))
            .boxed(),
        (dirop(), sattr(), name())
            .prop_map(|(where_, attributes, target)| {
                NfsArgs::Symlink(SymlinkArgs {
                    where_,
                    attributes,
                    target,
                })
            })
            .boxed(),
        (dirop(), mknod)
            .prop_map(|(where_, what)| NfsArgs::Mknod(MknodArgs { where_, what }))
            .boxed(),
        dirop().prop_map(NfsArgs::Remove).boxed(),
        dirop().prop_map(NfsArgs::Rmdir).boxed(),
        (dirop(), dirop())
            .prop_map(|(from, to)| NfsArgs::Rename(RenameArgs { from, to }))
            .boxed(),
        (fh(), dirop())
            .prop_map(|(file, link)| NfsArgs::Link(LinkArgs { file, link }))
            .boxed(),
        (fh(), any::<u64>(), any::<[u8; 8]>(), any::<u32>())
            .prop_map(|(dir, cookie, cookieverf, count)| {
                NfsArgs::Readdir(ReaddirArgs {
                    dir,
                    cookie,
                    cookieverf,
                    count,
                })
            })
            .boxed(),
        (
            fh(),
            any::<u64>(),
            any::<[u8; 8]>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(dir, cookie, cookieverf, dircount, maxcount)| {
                NfsArgs::Readdirplus(ReaddirplusArgs {
                    dir,
                    cookie,
                    cookieverf,
                    dircount,
                    maxcount,
                })
            })
            .boxed(),
        handle_args().prop_map(NfsArgs::Fsstat).boxed(),
        handle_args().prop_map(NfsArgs::Fsinfo).boxed(),
        handle_args().prop_map(NfsArgs::Pathconf).boxed(),
        (fh(), any::<u64>(), any::<u32>())
            .prop_map(|(file, offset, count)| {
                NfsArgs::Commit(CommitArgs {
                    file,
                    offset,
                    count,
                })
            })
            .boxed(),
    ])
}

/// Feeds `data` to every decoder of the NFS side; none may panic.
fn decode_everything(data: &[u8]) {
    for proc_ in 0..24 {
        let _ = NfsArgs::decode(proc_, &mut XdrReader::from_slice(data));
    }
    for proc_ in 0..7 {
        let _ = MountArgs::decode(proc_, &mut XdrReader::from_slice(data));
        let _ = PortmapArgs::decode(proc_, &mut XdrReader::from_slice(data));
    }
    let _ = MntRes::decode(&mut XdrReader::from_slice(data));
    let _ = mount::decode_mount_list(&mut XdrReader::from_slice(data));
    let _ = mount::decode_exports(&mut XdrReader::from_slice(data));
    let _ = portmap::decode_dump(&mut XdrReader::from_slice(data));
    let _ = Fattr3::decode(&mut XdrReader::from_slice(data));
    let _ = WccData::decode(&mut XdrReader::from_slice(data));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        decode_everything(&data);
    }

    #[test]
    fn records_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let ctx = NfsContext::new(Vec::new(), 12049, [1; 8]);
        let _ = futures_lite::future::block_on(handle_record(&ctx, peer(), Bytes::from(data)));
    }

    #[test]
    fn nfs_args_round_trip(args in nfs_args()) {
        let mut w = XdrWriter::new();
        args.encode(&mut w);
        let mut r = XdrReader::new(w.into_bytes());
        prop_assert_eq!(NfsArgs::decode(args.proc_(), &mut r).unwrap(), Some(args));
        prop_assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn mount_and_portmap_args_round_trip(path in "/[a-z/]{0,30}", m in any::<(u32, u32, u32, u32)>()) {
        let m = Mapping { prog: m.0, vers: m.1, prot: m.2, port: m.3 };
        for a in [MountArgs::Null, MountArgs::Mnt(path.clone()), MountArgs::Dump,
                  MountArgs::Umnt(path.clone()), MountArgs::Umntall, MountArgs::Export] {
            let mut w = XdrWriter::new();
            a.encode(&mut w);
            prop_assert_eq!(MountArgs::decode(a.proc_(), &mut XdrReader::new(w.into_bytes())).unwrap(), Some(a));
        }
        for a in [PortmapArgs::Null, PortmapArgs::Set(m), PortmapArgs::Unset(m),
                  PortmapArgs::Getport(m), PortmapArgs::Dump] {
            let mut w = XdrWriter::new();
            a.encode(&mut w);
            prop_assert_eq!(PortmapArgs::decode(a.proc_(), &mut XdrReader::new(w.into_bytes())).unwrap(), Some(a));
        }
    }

    #[test]
    fn entry_sizes_are_exact(names in proptest::collection::vec(name(), 0..20), with_attr: bool) {
        let entries: Vec<Entry3> = names.iter().enumerate()
            .map(|(i, n)| Entry3 { fileid: i as u64, name: n.clone(), cookie: i as u64 }).collect();
        let plus: Vec<EntryPlus3> = names.iter().enumerate().map(|(i, n)| EntryPlus3 {
            fileid: i as u64, name: n.clone(), cookie: i as u64,
            name_attributes: with_attr.then(sample_fattr),
            name_handle: with_attr.then_some(FileHandle { share_id: 0, ino: 1, generation: 2 }.into()),
        }).collect();
        let expect: usize = entries.iter().map(Entry3::encoded_size).sum();
        let expect_plus: usize = plus.iter().map(EntryPlus3::encoded_size).sum();
        let mut w = XdrWriter::new();
        Reply::<_, ()>::Ok(ReaddirOk { dir_attributes: Some(sample_fattr()), cookieverf: [0; 8], entries, eof: true }).encode(&mut w);
        prop_assert_eq!(w.len(), results::READDIR_FIXED_SIZE + expect);
        let mut w = XdrWriter::new();
        Reply::<_, ()>::Ok(ReaddirplusOk { dir_attributes: Some(sample_fattr()), cookieverf: [0; 8], entries: plus, eof: true }).encode(&mut w);
        prop_assert_eq!(w.len(), results::READDIR_FIXED_SIZE + expect_plus);
    }
}

fn sample_fattr() -> Fattr3 {
    Fattr3 {
        ftype: Ftype3::Reg,
        mode: 0o644,
        nlink: 1,
        uid: 0,
        gid: 0,
        size: 0,
        used: 0,
        rdev: DeviceId::default(),
        fsid: 0,
        fileid: 1,
        atime: Timespec::default(),
        mtime: Timespec::default(),
        ctime: Timespec::default(),
    }
}

#[test]
fn fit_cuts_at_the_limit() {
    let mut v = vec![10usize, 10, 10];
    assert!(!fit(&mut v, results::READDIR_FIXED_SIZE + 25, None, |e| (
        *e, 0
    )));
    assert_eq!(v, vec![10, 10]);
    let mut v = vec![10usize, 10, 10];
    assert!(fit(&mut v, results::READDIR_FIXED_SIZE + 30, None, |e| (
        *e, 0
    )));
    let mut v = vec![10usize, 10, 10];
    assert!(!fit(&mut v, usize::MAX, Some(15), |e| (*e, *e)));
    assert_eq!(v.len(), 1);
    let mut v = vec![10usize];
    assert!(!fit(&mut v, results::READDIR_FIXED_SIZE + 5, None, |e| (
        *e, 0
    )));
    assert!(v.is_empty());
}

#[test]
fn write_count_must_match_data() {
    let mut w = XdrWriter::new();
    FileHandle {
        share_id: 0,
        ino: 1,
        generation: 0,
    }
    .encode(&mut w);
    w.write_u64(0);
    w.write_u32(5);
    w.write_u32(0);
    w.write_opaque(b"abc");
    assert!(NfsArgs::decode(proc3::WRITE, &mut XdrReader::new(w.into_bytes())).is_err());
}

fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 700))
}

/// Runs one call through `handle_record` on a context without exports.
fn call(prog: u32, vers: u32, proc_: u32, args: &[u8]) -> (ReplyStat, XdrReader) {
    let ctx = NfsContext::new(Vec::new(), 12049, [7; 8]);
    let mut w = XdrWriter::new();
    let auth = Auth::Sys(AuthSys {
        stamp: 1,
        machine_name: "c".into(),
        uid: 0,
        gid: 0,
        gids: vec![],
    });
    CallHeader {
        xid: 42,
        prog,
        vers,
        proc_,
        auth,
    }
    .encode(&mut w);
    w.write_fixed(args);
    let reply = futures_lite::future::block_on(handle_record(&ctx, peer(), w.into_bytes()))
        .unwrap()
        .unwrap();
    let mut r = XdrReader::new(reply);
    let (xid, stat) = decode_reply(&mut r).unwrap();
    assert_eq!(xid, 42);
    (stat, r)
}

fn encoded(f: impl FnOnce(&mut XdrWriter)) -> Vec<u8> {
    let mut w = XdrWriter::new();
    f(&mut w);
    w.as_slice().to_vec()
}

#[test]
fn program_dispatch() {
    use AcceptStat::*;
    let ok = ReplyStat::Accepted(Success);
    assert_eq!(call(NFS_PROGRAM, 3, 0, &[]).0, ok);
    assert_eq!(call(MOUNT_PROGRAM, 3, 0, &[]).0, ok);
    assert_eq!(call(PORTMAP_PROGRAM, 2, 0, &[]).0, ok);
    assert_eq!(call(100021, 4, 0, &[]).0, ReplyStat::Accepted(ProgUnavail));
    assert_eq!(
        call(NFS_PROGRAM, 4, 0, &[]).0,
        ReplyStat::Accepted(ProgMismatch { low: 3, high: 3 })
    );
    assert_eq!(
        call(MOUNT_PROGRAM, 1, 0, &[]).0,
        ReplyStat::Accepted(ProgMismatch { low: 3, high: 3 })
    );
    assert_eq!(
        call(NFS_PROGRAM, 3, 22, &[]).0,
        ReplyStat::Accepted(ProcUnavail)
    );
    assert_eq!(
        call(NFS_PROGRAM, 3, proc3::GETATTR, &[0, 0, 1, 0]).0,
        ReplyStat::Accepted(GarbageArgs)
    );
}

#[test]
fn not_a_call_closes_the_connection() {
    let ctx = NfsContext::new(Vec::new(), 12049, [7; 8]);
    let reply = |b: &'static [u8]| {
        futures_lite::future::block_on(handle_record(&ctx, peer(), Bytes::from_static(b)))
    };
    assert!(reply(&[0, 0]).is_err());
    assert!(reply(&[0, 0, 0, 1, 0, 0, 0, 1]).is_err());
}

#[test]
fn bad_and_stale_handles() {
    let malformed = encoded(|w| w.write_opaque(&[1, 2, 3]));
    let (stat, mut r) = call(NFS_PROGRAM, 3, proc3::GETATTR, &malformed);
    assert_eq!(stat, ReplyStat::Accepted(AcceptStat::Success));
    assert_eq!(
        Nfsstat3::from_u32(r.read_u32().unwrap()),
        Ok(Nfsstat3::BadHandle)
    );
    let unknown_share = encoded(|w| {
        FileHandle {
            share_id: 3,
            ino: 1,
            generation: 0,
        }
        .encode(w)
    });
    let (_, mut r) = call(NFS_PROGRAM, 3, proc3::GETATTR, &unknown_share);
    assert_eq!(
        Nfsstat3::from_u32(r.read_u32().unwrap()),
        Ok(Nfsstat3::Stale)
    );
    // A failed SETATTR still carries an (empty) wcc_data: status + two "absent" words.
    let args = encoded(|w| {
        NfsArgs::Setattr(SetattrArgs {
            object: WireHandle::from_bytes(&[9; 7]).unwrap(),
            new_attributes: SetAttr::default(),
            guard: None,
        })
        .encode(w)
    });
    let (_, mut r) = call(NFS_PROGRAM, 3, proc3::SETATTR, &args);
    assert_eq!(
        Nfsstat3::from_u32(r.read_u32().unwrap()),
        Ok(Nfsstat3::BadHandle)
    );
    assert_eq!(WccData::decode(&mut r), Ok(WccData::default()));
    assert_eq!(r.remaining(), 0);
}

#[test]
fn portmap_answers_our_port() {
    let m = |prog, vers, prot| Mapping {
        prog,
        vers,
        prot,
        port: 0,
    };
    let (_, mut r) = call(
        PORTMAP_PROGRAM,
        2,
        3,
        &encoded(|w| m(NFS_PROGRAM, 3, 6).encode(w)),
    );
    assert_eq!(r.read_u32(), Ok(12049));
    let (_, mut r) = call(
        PORTMAP_PROGRAM,
        2,
        3,
        &encoded(|w| m(MOUNT_PROGRAM, 3, 6).encode(w)),
    );
    assert_eq!(r.read_u32(), Ok(12049));
    let (_, mut r) = call(
        PORTMAP_PROGRAM,
        2,
        3,
        &encoded(|w| m(NFS_PROGRAM, 3, 17).encode(w)),
    );
    assert_eq!(r.read_u32(), Ok(0));
    let (_, mut r) = call(
        PORTMAP_PROGRAM,
        2,
        3,
        &encoded(|w| m(NFS_PROGRAM, 2, 6).encode(w)),
    );
    assert_eq!(r.read_u32(), Ok(0));
    let (_, mut r) = call(PORTMAP_PROGRAM, 2, 4, &[]);
    let maps = portmap::decode_dump(&mut r).unwrap();
    assert_eq!(maps.to_vec(), portmap::mappings(12049).to_vec());
}

#[test]
fn mount_without_such_export() {
    let (_, mut r) = call(MOUNT_PROGRAM, 3, 1, &encoded(|w| w.write_opaque(b"/nope")));
    assert_eq!(
        MntRes::decode(&mut r),
        Ok(MntRes::Err(mount::Mountstat3::NoEnt as u32))
    );
    let (_, mut r) = call(MOUNT_PROGRAM, 3, 5, &[]);
    assert_eq!(mount::decode_exports(&mut r), Ok(vec![]));
    let (_, mut r) = call(MOUNT_PROGRAM, 3, 2, &[]);
    assert_eq!(mount::decode_mount_list(&mut r), Ok(vec![]));
    assert_eq!(
        call(MOUNT_PROGRAM, 3, 9, &[]).0,
        ReplyStat::Accepted(AcceptStat::ProcUnavail)
    );
}

#[test]
fn mount_results_round_trip() {
    let res = MntRes::Ok {
        fhandle: vec![1; 21],
        auth_flavors: vec![1, 0],
    };
    let mut w = XdrWriter::new();
    res.encode(&mut w);
    assert_eq!(MntRes::decode(&mut XdrReader::new(w.into_bytes())), Ok(res));
    let nodes = vec![mount::ExportNode {
        dir: "/export".into(),
        groups: vec!["10.0.0.0/8".into()],
    }];
    let mut w = XdrWriter::new();
    mount::encode_exports(&mut w, &nodes);
    assert_eq!(
        mount::decode_exports(&mut XdrReader::new(w.into_bytes())),
        Ok(nodes)
    );
    let list = vec![MountEntry {
        host: "10.0.0.1".into(),
        dir: "/export".into(),
    }];
    let mut w = XdrWriter::new();
    mount::encode_mount_list(&mut w, &list);
    assert_eq!(
        mount::decode_mount_list(&mut XdrReader::new(w.into_bytes())),
        Ok(list)
    );
}

#[test]
fn fsinfo_advertises_the_io_size() {
    let ok = handlers::fsinfo::fsinfo_ok(None);
    assert_eq!(ok.rtmax, crate::fs::IO_SIZE_MAX);
    assert_eq!(ok.wtmax, crate::fs::IO_SIZE_MAX);
    assert_eq!(ok.dtpref, 64 * 1024);
    assert_eq!(ok.time_delta, Timespec { sec: 0, nsec: 1 });
}
