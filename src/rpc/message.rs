//! ONC RPC call and reply messages (RFC 5531 §9) and the AUTH_NONE / AUTH_SYS flavors.
//!
//! Decoding a call is split so the server can always answer something useful:
//! an unreadable xid or a non-CALL message is the only case without a reply
//! ([`CallError::NotACall`]); every other defect maps to the reply the RFC
//! prescribes (RPC_MISMATCH, AUTH_ERROR, GARBAGE_ARGS). Both directions are
//! here so the test client and the perf harness reuse the same code.

use bytes::Bytes;

use super::xdr::{XdrError, XdrReader, XdrWriter};

/// The only RPC protocol version (RFC 5531).
pub const RPC_VERSION: u32 = 2;
const MSG_CALL: u32 = 0;
const MSG_REPLY: u32 = 1;
const MSG_ACCEPTED: u32 = 0;
const MSG_DENIED: u32 = 1;
const REJECT_RPC_MISMATCH: u32 = 0;
const REJECT_AUTH_ERROR: u32 = 1;

/// Longest opaque body of a credential or verifier (RFC 5531).
pub const AUTH_BODY_LEN_MAX: usize = 400;
/// Longest AUTH_SYS machine name.
pub const MACHINE_NAME_LEN_MAX: usize = 255;
/// Most supplementary groups in an AUTH_SYS credential.
pub const AUTH_SYS_GIDS_MAX: usize = 16;

/// Authentication flavor numbers.
pub mod flavor {
    pub const AUTH_NONE: u32 = 0;
    pub const AUTH_SYS: u32 = 1;
    pub const AUTH_SHORT: u32 = 2;
    pub const AUTH_DH: u32 = 3;
    pub const RPCSEC_GSS: u32 = 6;
}

/// An AUTH_SYS credential (RFC 5531 appendix A).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSys {
    pub stamp: u32,
    pub machine_name: String,
    pub uid: u32,
    pub gid: u32,
    pub gids: Vec<u32>,
}

impl AuthSys {
    pub fn decode(r: &mut XdrReader) -> Result<Self, XdrError> {
        let stamp = r.read_u32()?;
        let machine_name = String::from_utf8_lossy(&r.read_opaque(MACHINE_NAME_LEN_MAX)?).into();
        let uid = r.read_u32()?;
        let gid = r.read_u32()?;
        let n = r.read_u32()? as usize;
        if n > AUTH_SYS_GIDS_MAX {
            return Err(XdrError::TooLong {
                len: n,
                max: AUTH_SYS_GIDS_MAX,
            });
        }
        let gids = (0..n).map(|_| r.read_u32()).collect::<Result<_, _>>()?;
        Ok(AuthSys {
            stamp,
            machine_name,
            uid,
            gid,
            gids,
        })
    }

    pub fn encode(&self, w: &mut XdrWriter) {
        w.write_u32(self.stamp);
        w.write_opaque(self.machine_name.as_bytes());
        w.write_u32(self.uid);
        w.write_u32(self.gid);
        w.write_u32(self.gids.len() as u32);
        for g in &self.gids {
            w.write_u32(*g);
        }
    }
}

/// The credential of a call, as far as this server understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Sys(AuthSys),
}

impl Auth {
    /// Encodes as an `opaque_auth` (flavor + body).
    pub fn encode(&self, w: &mut XdrWriter) {
        match self {
            Auth::None => {
                w.write_u32(flavor::AUTH_NONE);
                w.write_opaque(&[]);
            }
            Auth::Sys(s) => {
                let mut body = XdrWriter::new();
                s.encode(&mut body);
                w.write_u32(flavor::AUTH_SYS);
                w.write_opaque(body.as_slice());
            }
        }
    }
}

/// Why a caller was refused at the authentication step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum AuthStat {
    BadCred = 1,
    RejectedCred = 2,
    BadVerf = 3,
    RejectedVerf = 4,
    TooWeak = 5,
}

/// The header of an RPC call; the procedure arguments follow it in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHeader {
    pub xid: u32,
    pub prog: u32,
    pub vers: u32,
    pub proc_: u32,
    pub auth: Auth,
}

/// Why a record is not a call this server can process; every variant but
/// `NotACall` carries the xid and has a prescribed reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("not an RPC call")]
    NotACall,
    #[error("xid {xid:#x}: RPC version {vers} is not 2")]
    RpcMismatch { xid: u32, vers: u32 },
    #[error("xid {xid:#x}: credential refused ({stat:?})")]
    Auth { xid: u32, stat: AuthStat },
    #[error("xid {xid:#x}: truncated call header")]
    Garbage { xid: u32 },
}

impl CallHeader {
    /// Decodes the header and leaves `r` at the start of the procedure arguments.
    pub fn decode(r: &mut XdrReader) -> Result<CallHeader, CallError> {
        let xid = r.read_u32().map_err(|_| CallError::NotACall)?;
        if r.read_u32().map_err(|_| CallError::NotACall)? != MSG_CALL {
            return Err(CallError::NotACall);
        }
        let garbage = |_| CallError::Garbage { xid };
        let rpcvers = r.read_u32().map_err(garbage)?;
        if rpcvers != RPC_VERSION {
            return Err(CallError::RpcMismatch { xid, vers: rpcvers });
        }
        let prog = r.read_u32().map_err(garbage)?;
        let vers = r.read_u32().map_err(garbage)?;
        let proc_ = r.read_u32().map_err(garbage)?;
        let bad = |stat| CallError::Auth { xid, stat };
        let cred_flavor = r.read_u32().map_err(|_| bad(AuthStat::BadCred))?;
        let cred_body = r
            .read_opaque(AUTH_BODY_LEN_MAX)
            .map_err(|_| bad(AuthStat::BadCred))?;
        let _verf_flavor = r.read_u32().map_err(|_| bad(AuthStat::BadVerf))?;
        let _verf_body = r
            .read_opaque(AUTH_BODY_LEN_MAX)
            .map_err(|_| bad(AuthStat::BadVerf))?;
        let auth = match cred_flavor {
            flavor::AUTH_NONE => Auth::None,
            flavor::AUTH_SYS => {
                let mut br = XdrReader::new(cred_body);
                let sys = AuthSys::decode(&mut br).map_err(|_| bad(AuthStat::BadCred))?;
                Auth::Sys(sys)
            }
            flavor::RPCSEC_GSS | flavor::AUTH_DH => return Err(bad(AuthStat::TooWeak)),
            _ => return Err(bad(AuthStat::BadCred)),
        };
        Ok(CallHeader {
            xid,
            prog,
            vers,
            proc_,
            auth,
        })
    }

    /// Encodes the header (client side); arguments are appended after it.
    pub fn encode(&self, w: &mut XdrWriter) {
        w.write_u32(self.xid);
        w.write_u32(MSG_CALL);
        w.write_u32(RPC_VERSION);
        w.write_u32(self.prog);
        w.write_u32(self.vers);
        w.write_u32(self.proc_);
        self.auth.encode(w);
        Auth::None.encode(w);
    }
}

/// How an accepted call ended (`accept_stat`), with the data some outcomes carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptStat {
    /// The procedure's results follow.
    Success,
    ProgUnavail,
    ProgMismatch {
        low: u32,
        high: u32,
    },
    ProcUnavail,
    GarbageArgs,
    SystemErr,
}

/// The status part of a reply, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStat {
    Accepted(AcceptStat),
    RpcMismatch { low: u32, high: u32 },
    AuthError(AuthStat),
}

/// Starts an accepted reply; for `Success` the caller appends the results.
pub fn encode_accepted(w: &mut XdrWriter, xid: u32, stat: AcceptStat) {
    w.write_u32(xid);
    w.write_u32(MSG_REPLY);
    w.write_u32(MSG_ACCEPTED);
    Auth::None.encode(w);
    match stat {
        AcceptStat::Success => w.write_u32(0),
        AcceptStat::ProgUnavail => w.write_u32(1),
        AcceptStat::ProgMismatch { low, high } => {
            w.write_u32(2);
            w.write_u32(low);
            w.write_u32(high);
        }
        AcceptStat::ProcUnavail => w.write_u32(3),
        AcceptStat::GarbageArgs => w.write_u32(4),
        AcceptStat::SystemErr => w.write_u32(5),
    }
}

/// A complete MSG_DENIED reply for an RPC version other than 2.
pub fn encode_rpc_mismatch(w: &mut XdrWriter, xid: u32) {
    w.write_u32(xid);
    w.write_u32(MSG_REPLY);
    w.write_u32(MSG_DENIED);
    w.write_u32(REJECT_RPC_MISMATCH);
    w.write_u32(RPC_VERSION);
    w.write_u32(RPC_VERSION);
}

/// A complete MSG_DENIED reply refusing the credential.
pub fn encode_auth_error(w: &mut XdrWriter, xid: u32, stat: AuthStat) {
    w.write_u32(xid);
    w.write_u32(MSG_REPLY);
    w.write_u32(MSG_DENIED);
    w.write_u32(REJECT_AUTH_ERROR);
    w.write_u32(stat as u32);
}

fn decode_auth_stat(v: u32) -> Result<AuthStat, XdrError> {
    Ok(match v {
        1 => AuthStat::BadCred,
        2 => AuthStat::RejectedCred,
        3 => AuthStat::BadVerf,
        4 => AuthStat::RejectedVerf,
        5 => AuthStat::TooWeak,
        value => {
            return Err(XdrError::InvalidEnum {
                what: "auth_stat",
                value,
            })
        }
    })
}

/// Decodes a reply header (client side); on `Accepted(Success)` `r` is left at the results.
pub fn decode_reply(r: &mut XdrReader) -> Result<(u32, ReplyStat), XdrError> {
    let xid = r.read_u32()?;
    let mtype = r.read_u32()?;
    if mtype != MSG_REPLY {
        return Err(XdrError::InvalidEnum {
            what: "msg_type",
            value: mtype,
        });
    }
    let stat = match r.read_u32()? {
        MSG_ACCEPTED => {
            let _flavor = r.read_u32()?;
            let _body: Bytes = r.read_opaque(AUTH_BODY_LEN_MAX)?;
            ReplyStat::Accepted(match r.read_u32()? {
                0 => AcceptStat::Success,
                1 => AcceptStat::ProgUnavail,
                2 => AcceptStat::ProgMismatch {
                    low: r.read_u32()?,
                    high: r.read_u32()?,
                },
                3 => AcceptStat::ProcUnavail,
                4 => AcceptStat::GarbageArgs,
                5 => AcceptStat::SystemErr,
                value => {
                    return Err(XdrError::InvalidEnum {
                        what: "accept_stat",
                        value,
                    })
                }
            })
        }
        MSG_DENIED => match r.read_u32()? {
            REJECT_RPC_MISMATCH => ReplyStat::RpcMismatch {
                low: r.read_u32()?,
                high: r.read_u32()?,
            },
            REJECT_AUTH_ERROR => ReplyStat::AuthError(decode_auth_stat(r.read_u32()?)?),
            value => {
                return Err(XdrError::InvalidEnum {
                    what: "reject_stat",
                    value,
                })
            }
        },
        value => {
            return Err(XdrError::InvalidEnum {
                what: "reply_stat",
                value,
            })
        }
    };
    Ok((xid, stat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn auth_strategy() -> impl Strategy<Value = Auth> {
        prop_oneof![
            Just(Auth::None),
            (
                any::<u32>(),
                "[a-z0-9.-]{0,40}",
                any::<u32>(),
                any::<u32>(),
                proptest::collection::vec(any::<u32>(), 0..=16)
            )
                .prop_map(|(stamp, machine_name, uid, gid, gids)| Auth::Sys(AuthSys {
                    stamp,
                    machine_name,
                    uid,
                    gid,
                    gids
                })),
        ]
    }

    #[test]
    fn rpc_version_3_is_a_mismatch() {
        let mut w = XdrWriter::new();
        for v in [7, MSG_CALL, 3, 100003, 3, 0] {
            w.write_u32(v);
        }
        let mut r = XdrReader::new(w.into_bytes());
        assert_eq!(
            CallHeader::decode(&mut r),
            Err(CallError::RpcMismatch { xid: 7, vers: 3 })
        );
    }

    #[test]
    fn too_many_gids_is_bad_cred() {
        let sys = AuthSys {
            stamp: 0,
            machine_name: "h".into(),
            uid: 1,
            gid: 1,
            gids: vec![0; 17],
        };
        let h = CallHeader {
            xid: 9,
            prog: 100003,
            vers: 3,
            proc_: 0,
            auth: Auth::Sys(sys),
        };
        let mut w = XdrWriter::new();
        h.encode(&mut w);
        let mut r = XdrReader::new(w.into_bytes());
        assert_eq!(
            CallHeader::decode(&mut r),
            Err(CallError::Auth {
                xid: 9,
                stat: AuthStat::BadCred
            })
        );
    }

    #[test]
    fn replies_decode() {
        let cases = [
            ReplyStat::Accepted(AcceptStat::Success),
            ReplyStat::Accepted(AcceptStat::ProgUnavail),
            ReplyStat::Accepted(AcceptStat::ProgMismatch { low: 3, high: 3 }),
            ReplyStat::Accepted(AcceptStat::ProcUnavail),
            ReplyStat::Accepted(AcceptStat::GarbageArgs),
            ReplyStat::Accepted(AcceptStat::SystemErr),
            ReplyStat::RpcMismatch { low: 2, high: 2 },
            ReplyStat::AuthError(AuthStat::BadCred),
            ReplyStat::AuthError(AuthStat::TooWeak),
        ];
        for stat in cases {
            let mut w = XdrWriter::new();
            match stat {
                ReplyStat::Accepted(a) => encode_accepted(&mut w, 5, a),
                ReplyStat::RpcMismatch { .. } => encode_rpc_mismatch(&mut w, 5),
                ReplyStat::AuthError(a) => encode_auth_error(&mut w, 5, a),
            }
            let mut r = XdrReader::new(w.into_bytes());
            assert_eq!(decode_reply(&mut r), Ok((5, stat)));
            assert_eq!(r.remaining(), 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn call_header_round_trips(xid: u32, prog: u32, vers: u32, proc_: u32, auth in auth_strategy(),
                                   args in proptest::collection::vec(any::<u8>(), 0..16)) {
            let h = CallHeader { xid, prog, vers, proc_, auth };
            let mut w = XdrWriter::new();
            h.encode(&mut w);
            w.write_fixed(&args);
            let mut r = XdrReader::new(w.into_bytes());
            prop_assert_eq!(CallHeader::decode(&mut r).unwrap(), h);
            prop_assert_eq!(r.remaining(), args.len() + crate::rpc::xdr::pad_len(args.len()));
        }

        #[test]
        fn call_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = CallHeader::decode(&mut XdrReader::from_slice(&data));
            let _ = decode_reply(&mut XdrReader::from_slice(&data));
        }
    }
}
