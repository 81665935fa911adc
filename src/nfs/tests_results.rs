//! Round-trip property tests of the NFSv3 result codecs (encode → decode == value).

use std::fmt::Debug;

use bytes::Bytes;
use proptest::prelude::*;

use crate::fs::{DeviceId, PreOpAttr, Stability, Timespec};
use crate::rpc::{XdrReader, XdrWriter};

use super::handle::WireHandle;
use super::results::*;
use super::results_decode::*;
use super::status::Nfsstat3;
use super::wire::{Fattr3, Ftype3, PostOpAttr, WccData};

fn time() -> impl Strategy<Value = Timespec> {
    (0i64..=i64::from(u32::MAX), 0u32..1_000_000_000).prop_map(|(sec, nsec)| Timespec { sec, nsec })
}

fn fattr() -> impl Strategy<Value = Fattr3> {
    (
        (1u32..=7).prop_map(|t| Ftype3::from_u32(t).unwrap()),
        any::<(u32, u32, u32, u32, u64, u64)>(),
        any::<(u32, u32, u64, u64)>(),
        (time(), time(), time()),
    )
        .prop_map(
            |(
                ftype,
                (mode, nlink, uid, gid, size, used),
                (major, minor, fsid, fileid),
                (atime, mtime, ctime),
            )| {
                Fattr3 {
                    ftype,
                    mode,
                    nlink,
                    uid,
                    gid,
                    size,
                    used,
                    rdev: DeviceId { major, minor },
                    fsid,
                    fileid,
                    atime,
                    mtime,
                    ctime,
                }
            },
        )
}

fn post_op() -> impl Strategy<Value = PostOpAttr> {
    proptest::option::of(fattr())
}

fn wcc() -> impl Strategy<Value = WccData> {
    (
        proptest::option::of(
            (any::<u64>(), time(), time()).prop_map(|(size, mtime, ctime)| PreOpAttr {
                size,
                mtime,
                ctime,
            }),
        ),
        post_op(),
    )
        .prop_map(|(before, after)| WccData { before, after })
}

fn wire_fh() -> impl Strategy<Value = WireHandle> {
    proptest::collection::vec(any::<u8>(), 0..=64).prop_map(|b| WireHandle::from_bytes(&b).unwrap())
}

fn status() -> impl Strategy<Value = Nfsstat3> {
    prop_oneof![
        Just(Nfsstat3::NoEnt),
        Just(Nfsstat3::Stale),
        Just(Nfsstat3::Jukebox),
        Just(Nfsstat3::Acces)
    ]
}

fn reply<T: Debug + Clone, F: Debug + Clone>(
    ok: impl Strategy<Value = T>,
    fail: impl Strategy<Value = F>,
) -> impl Strategy<Value = Reply<T, F>> {
    prop_oneof![
        ok.prop_map(Reply::Ok),
        (status(), fail).prop_map(|(s, f)| Reply::Fail(s, f))
    ]
}

fn round_trip<V: Encode + Decode + PartialEq + Debug>(v: &V) -> Result<(), TestCaseError> {
    let mut w = XdrWriter::new();
    v.encode(&mut w);
    let mut r = XdrReader::new(w.into_bytes());
    prop_assert_eq!(&V::decode(&mut r).unwrap(), v);
    prop_assert_eq!(r.remaining(), 0);
    Ok(())
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..30)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn attr_results(g in reply(fattr(), Just(())), s in reply(wcc(), wcc()),
                    a in reply((post_op(), any::<u32>()).prop_map(|(obj_attributes, access)| AccessOk { obj_attributes, access }), post_op()),
                    l in reply((wire_fh(), post_op(), post_op()).prop_map(|(object, obj_attributes, dir_attributes)| LookupOk { object, obj_attributes, dir_attributes }), post_op()),
                    rl in reply((post_op(), name()).prop_map(|(symlink_attributes, data)| ReadlinkOk { symlink_attributes, data }), post_op())) {
        round_trip(&g)?;
        round_trip(&s)?;
        round_trip(&a)?;
        round_trip(&l)?;
        round_trip(&rl)?;
    }

    #[test]
    fn io_results(rd in reply((post_op(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..50)).prop_map(|(file_attributes, eof, data)| ReadOk3 { file_attributes, count: data.len() as u32, eof, data: Bytes::from(data) }), post_op()),
                  wr in reply((wcc(), any::<u32>(), prop_oneof![Just(Stability::Unstable), Just(Stability::DataSync), Just(Stability::FileSync)], any::<[u8; 8]>()).prop_map(|(file_wcc, count, committed, verf)| WriteOk3 { file_wcc, count, committed, verf }), wcc()),
                  c in reply((wcc(), any::<[u8; 8]>()).prop_map(|(file_wcc, verf)| CommitOk { file_wcc, verf }), wcc())) {
        round_trip(&rd)?;
        round_trip(&wr)?;
        round_trip(&c)?;
    }

    #[test]
    fn namespace_results(cr in reply((proptest::option::of(wire_fh()), post_op(), wcc()).prop_map(|(obj, obj_attributes, dir_wcc)| CreateOk3 { obj, obj_attributes, dir_wcc }), wcc()),
                         rn in reply((wcc(), wcc()).prop_map(|(fromdir_wcc, todir_wcc)| RenameWcc { fromdir_wcc, todir_wcc }), Just(RenameWcc::default())),
                         ln in reply((post_op(), wcc()).prop_map(|(file_attributes, linkdir_wcc)| LinkBody { file_attributes, linkdir_wcc }), Just(LinkBody::default()))) {
        round_trip(&cr)?;
        round_trip(&rn)?;
        round_trip(&ln)?;
    }

    #[test]
    fn dir_results(d in reply((post_op(), any::<[u8; 8]>(), proptest::collection::vec((any::<u64>(), name(), any::<u64>()), 0..8), any::<bool>())
                        .prop_map(|(dir_attributes, cookieverf, es, eof)| ReaddirOk { dir_attributes, cookieverf, eof,
                            entries: es.into_iter().map(|(fileid, name, cookie)| Entry3 { fileid, name, cookie }).collect() }), post_op()),
                   p in reply((post_op(), any::<[u8; 8]>(), proptest::collection::vec((any::<u64>(), name(), any::<u64>(), post_op(), proptest::option::of(wire_fh())), 0..8), any::<bool>())
                        .prop_map(|(dir_attributes, cookieverf, es, eof)| ReaddirplusOk { dir_attributes, cookieverf, eof,
                            entries: es.into_iter().map(|(fileid, name, cookie, name_attributes, name_handle)| EntryPlus3 { fileid, name, cookie, name_attributes, name_handle }).collect() }), post_op())) {
        round_trip(&d)?;
        round_trip(&p)?;
    }

    #[test]
    fn fs_results(attrs in post_op(), v in any::<(u64, u64, u64, u64, u64, u64, u32)>(), b in any::<(bool, bool, bool, bool)>()) {
        let st: FsstatRes = Reply::Ok(FsstatOk { obj_attributes: attrs.clone(), tbytes: v.0, fbytes: v.1, abytes: v.2, tfiles: v.3, ffiles: v.4, afiles: v.5, invarsec: v.6 });
        round_trip(&st)?;
        let info: FsinfoRes = Reply::Ok(crate::nfs::handlers::fsinfo::fsinfo_ok(attrs.clone()));
        round_trip(&info)?;
        let pc: PathconfRes = Reply::Ok(PathconfOk { obj_attributes: attrs.clone(), linkmax: v.6, name_max: 255, no_trunc: b.0, chown_restricted: b.1, case_insensitive: b.2, case_preserving: b.3 });
        round_trip(&pc)?;
        let fail: FsinfoRes = Reply::Fail(Nfsstat3::Stale, attrs);
        round_trip(&fail)?;
    }

    #[test]
    fn result_decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let r = || XdrReader::from_slice(&data);
        let _ = GetattrRes::decode(&mut r());
        let _ = LookupRes::decode(&mut r());
        let _ = ReadRes::decode(&mut r());
        let _ = WriteRes::decode(&mut r());
        let _ = CreateRes::decode(&mut r());
        let _ = ReaddirRes::decode(&mut r());
        let _ = ReaddirplusRes::decode(&mut r());
        let _ = FsinfoRes::decode(&mut r());
        let _ = CommitRes::decode(&mut r());
    }
}
