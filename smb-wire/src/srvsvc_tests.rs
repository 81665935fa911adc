use proptest::prelude::*;

use super::*;

fn share(name: &str, ty: u32, remark: &str) -> ShareInfo {
    ShareInfo {
        name: name.into(),
        share_type: ty,
        remark: remark.into(),
        path: format!("C:\\{name}"),
    }
}

/// NetShareEnumAll level 1 as smbclient/impacket lay it out: server name
/// "\\h" (unique pointer), level 1, container with a null array, preferred
/// length 0xffffffff, resume handle 0.
#[test]
fn share_enum_request_known_answer() {
    let stub: Vec<u8> = vec![
        0x00, 0x00, 0x02, 0x00, // referent of ServerName
        0x04, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, // max 4, offset 0, actual 4
        b'\\', 0, b'\\', 0, b'h', 0, 0, 0, // "\\h\0"
        1, 0, 0, 0, // level
        1, 0, 0, 0, // union switch
        0x04, 0x00, 0x02, 0x00, // container referent
        0, 0, 0, 0, // EntriesRead
        0, 0, 0, 0, // null Buffer
        0xff, 0xff, 0xff, 0xff, // PreferedMaximumLength
        0x08, 0x00, 0x02, 0x00, // ResumeHandle referent
        0, 0, 0, 0, // *ResumeHandle
    ];
    let want = ShareEnumRequest {
        server_name: Some("\\\\h".into()),
        level: 1,
        preferred_max_len: u32::MAX,
        resume_handle: Some(0),
    };
    assert_eq!(decode_share_enum(&stub).unwrap(), want);
    assert_eq!(encode_share_enum(&want), stub);
}

/// The level-1 answer for IPC$ alone, written out by hand from C706/MS-SRVS.
#[test]
fn share_enum_response_known_answer() {
    let want: Vec<u8> = vec![
        1, 0, 0, 0, 1, 0, 0, 0, // level, switch
        0x00, 0x00, 0x02, 0x00, // container referent
        1, 0, 0, 0, // EntriesRead
        0x04, 0x00, 0x02, 0x00, // Buffer referent
        1, 0, 0, 0, // array max_count
        0x08, 0x00, 0x02, 0x00, 3, 0, 0, 0x80, 0x0c, 0x00, 0x02, 0x00, // SHARE_INFO_1
        5, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, // netname counts
        b'I', 0, b'P', 0, b'C', 0, b'$', 0, 0, 0, 0, 0, // "IPC$\0" + pad
        1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, // "" + pad
        1, 0, 0, 0, // TotalEntries
        0x10, 0x00, 0x02, 0x00, 0, 0, 0, 0, // resume handle
        0, 0, 0, 0, // WERROR
    ];
    let shares = [share("IPC$", STYPE_IPC | STYPE_SPECIAL, "")];
    let got = encode_share_enum_response(1, &shares, Some(0));
    assert_eq!(got, want);
    let back = decode_share_enum_response(&got).unwrap();
    assert_eq!(back.shares[0].name, "IPC$");
    assert_eq!(back.status, ERROR_SUCCESS);
}

#[test]
fn share_enum_levels_round_trip() {
    let shares = vec![
        share("export", STYPE_DISKTREE, "DittoFS share"),
        share("données", STYPE_DISKTREE, ""),
        share("IPC$", STYPE_IPC | STYPE_SPECIAL, "IPC Service"),
    ];
    for level in [0, 1, 2] {
        let stub = encode_share_enum_response(level, &shares, None);
        assert_eq!(stub.len() % 4, 0);
        let r = decode_share_enum_response(&stub).unwrap();
        assert_eq!(r.status, ERROR_SUCCESS);
        assert_eq!(r.total_entries, 3);
        let names: Vec<_> = r.shares.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["export", "données", "IPC$"]);
        if level >= 1 {
            assert_eq!(r.shares[0].remark, "DittoFS share");
            assert_eq!(r.shares[2].share_type, STYPE_IPC | STYPE_SPECIAL);
        }
        if level == 2 {
            assert_eq!(r.shares[0].path, "C:\\export");
        }
    }
    let bad = encode_share_enum_response(502, &shares, None);
    let r = decode_share_enum_response(&bad).unwrap();
    assert_eq!((r.status, r.shares.len()), (ERROR_INVALID_LEVEL, 0));
}

#[test]
fn share_get_info_round_trip() {
    let req = ShareGetInfoRequest {
        server_name: None,
        share: "export".into(),
        level: 1,
    };
    assert_eq!(
        decode_share_get_info(&encode_share_get_info(&req)).unwrap(),
        req
    );
    let s = share("export", 0, "r");
    let ok = encode_share_get_info_response(1, Some(&s));
    // level, referent, netname ref, type, remark ref, then "export\0" (7 chars).
    assert_eq!(&ok[..4], &[1, 0, 0, 0]);
    assert_eq!(&ok[20..32], &[7, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0]);
    assert_eq!(&ok[ok.len() - 4..], &[0, 0, 0, 0]);
    let missing = encode_share_get_info_response(1, None);
    assert_eq!(missing, [1, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x09, 0, 0]);
    let f = encode_share_get_info_response(1005, Some(&s));
    assert_eq!(f, [0xed, 3, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let bad = encode_share_get_info_response(7, Some(&s));
    assert_eq!(bad, [7, 0, 0, 0, 124, 0, 0, 0]);
}

#[test]
fn server_get_info_101() {
    let mut stub = vec![0, 0, 0, 0];
    stub.extend_from_slice(&[101, 0, 0, 0]);
    let req = decode_server_get_info(&stub).unwrap();
    assert_eq!(req.level, 101);
    let info = ServerInfo {
        name: "DITTOFS".into(),
        comment: "c".into(),
        version_major: 6,
        version_minor: 1,
        server_type: SV_TYPE_DEFAULT,
    };
    let r = encode_server_get_info_response(101, &info);
    assert_eq!(&r[..12], &[101, 0, 0, 0, 0, 0, 2, 0, 0xf4, 1, 0, 0]);
    assert_eq!(&r[r.len() - 4..], &[0, 0, 0, 0]);
    let r = encode_server_get_info_response(102, &info);
    assert_eq!(r, [102, 0, 0, 0, 124, 0, 0, 0]);
}

#[test]
fn string_bounds_enforced() {
    // actual_count beyond max_count, offset beyond max, oversize, truncated.
    for counts in [[4u32, 0, 5], [4, 5, 0], [5000, 0, 5000], [8, 0, 8]] {
        let mut stub = vec![0, 0, 2, 0];
        for c in counts {
            stub.extend_from_slice(&c.to_le_bytes());
        }
        stub.extend_from_slice(&[b'a', 0, 0, 0]);
        assert!(decode_share_enum(&stub).is_err(), "{counts:?}");
    }
    // Union switch that disagrees with the level.
    let mut req = encode_share_enum(&ShareEnumRequest {
        server_name: None,
        level: 1,
        preferred_max_len: 1,
        resume_handle: None,
    });
    req[4] = 2;
    assert!(decode_share_enum(&req).is_err());
}

proptest! {
    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_share_enum(&data);
        let _ = decode_share_get_info(&data);
        let _ = decode_server_get_info(&data);
        let _ = decode_share_enum_response(&data);
    }

    #[test]
    fn enum_round_trips(names in proptest::collection::vec("[a-zA-Z0-9é$_]{1,20}", 0..8), level in 0u32..3) {
        let shares: Vec<ShareInfo> = names.iter().map(|n| share(n, STYPE_DISKTREE, n)).collect();
        let r = decode_share_enum_response(&encode_share_enum_response(level, &shares, Some(0))).unwrap();
        let got: Vec<&String> = r.shares.iter().map(|s| &s.name).collect();
        let want: Vec<&String> = names.iter().collect();
        prop_assert_eq!(got, want);
    }
}
