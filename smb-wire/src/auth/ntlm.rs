//! NTLMSSP (MS-NLMP): NEGOTIATE / CHALLENGE / AUTHENTICATE messages, AV pairs, and the
//! server side of NTLMv2 (3.3.2): NTOWFv2 from a stored NT hash, NTProofStr check,
//! session base key, key exchange (RC4 of the exported session key under KEY_EXCH),
//! MIC check, and the NTLM signing used for the SPNEGO mechListMIC.

use super::AuthError;
use crate::buf::{len16, len32, utf16_decode, utf16_encode, Put, Reader};
use crate::error::{Result, WireError};
use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;

pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

pub mod flags {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const OEM: u32 = 0x0000_0002;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const SIGN: u32 = 0x0000_0010;
    pub const SEAL: u32 = 0x0000_0020;
    pub const LM_KEY: u32 = 0x0000_0080;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ANONYMOUS: u32 = 0x0000_0800;
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const N128: u32 = 0x2000_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const N56: u32 = 0x8000_0000;
}

pub mod av {
    pub const EOL: u16 = 0;
    pub const NB_COMPUTER_NAME: u16 = 1;
    pub const NB_DOMAIN_NAME: u16 = 2;
    pub const DNS_COMPUTER_NAME: u16 = 3;
    pub const DNS_DOMAIN_NAME: u16 = 4;
    pub const DNS_TREE_NAME: u16 = 5;
    pub const FLAGS: u16 = 6;
    pub const TIMESTAMP: u16 = 7;
    pub const SINGLE_HOST: u16 = 8;
    pub const TARGET_NAME: u16 = 9;
    pub const CHANNEL_BINDINGS: u16 = 10;
    /// MsvAvFlags bit: the AUTHENTICATE message carries a MIC.
    pub const FLAG_MIC_PRESENT: u32 = 0x2;
}

/// One AV_PAIR (value raw; names are UTF-16LE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvPair {
    pub id: u16,
    pub value: Vec<u8>,
}

/// Decodes AV pairs up to MsvAvEOL.
pub fn decode_av_pairs(buf: &[u8]) -> Result<Vec<AvPair>> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    loop {
        let id = r.u16()?;
        let len = usize::from(r.u16()?);
        let value = r.bytes(len)?;
        if id == av::EOL {
            return Ok(out);
        }
        if out.len() >= 32 {
            return Err(WireError::Ntlm("too many AV pairs"));
        }
        out.push(AvPair {
            id,
            value: value.to_vec(),
        });
    }
}

/// Encodes AV pairs and the terminating MsvAvEOL.
pub fn encode_av_pairs(pairs: &[AvPair]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in pairs {
        v.put_u16(p.id);
        v.put_u16(len16(p.value.len()));
        v.put(&p.value);
    }
    v.put_u32(0);
    v
}

/// The AV pairs a server sends: NetBIOS/DNS computer and domain names + timestamp.
pub fn server_target_info(computer: &str, domain: &str, filetime: u64) -> Vec<AvPair> {
    let s = |id, n: &str| AvPair {
        id,
        value: utf16_encode(n),
    };
    vec![
        s(av::NB_DOMAIN_NAME, domain),
        s(av::NB_COMPUTER_NAME, computer),
        s(av::DNS_DOMAIN_NAME, domain),
        s(av::DNS_COMPUTER_NAME, computer),
        AvPair {
            id: av::TIMESTAMP,
            value: filetime.to_le_bytes().to_vec(),
        },
    ]
}

fn header(r: &mut Reader<'_>, want: u32) -> Result<()> {
    if r.bytes(8)? != SIGNATURE {
        return Err(WireError::Ntlm("signature"));
    }
    if r.u32()? != want {
        return Err(WireError::Ntlm("message type"));
    }
    Ok(())
}

/// A (Len, MaxLen, Offset) field, resolved against the whole message.
fn field<'a>(msg: &'a [u8], r: &mut Reader<'_>) -> Result<&'a [u8]> {
    let len = usize::from(r.u16()?);
    r.skip(2)?;
    let off = r.u32()? as usize;
    crate::buf::slice_at(msg, "NTLMSSP field", off, len)
}

fn text(b: &[u8], unicode: bool) -> Result<String> {
    if unicode {
        utf16_decode(b, "NTLMSSP string")
    } else {
        Ok(b.iter().map(|&c| char::from(c)).collect())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NegotiateMessage {
    pub flags: u32,
}

impl NegotiateMessage {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::new(msg);
        header(&mut r, 1)?;
        Ok(NegotiateMessage { flags: r.u32()? })
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut v = SIGNATURE.to_vec();
        v.put_u32(1);
        v.put_u32(self.flags);
        v.zeros(16);
        v
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChallengeMessage {
    pub target_name: String,
    pub flags: u32,
    pub server_challenge: [u8; 8],
    pub target_info: Vec<AvPair>,
}

/// Version field the server sends: Windows 10.0 build 0, NTLMSSP revision 15.
const VERSION: [u8; 8] = [10, 0, 0, 0, 0, 0, 0, 15];

impl ChallengeMessage {
    pub fn encode(&self) -> Vec<u8> {
        let name = utf16_encode(&self.target_name);
        let ti = encode_av_pairs(&self.target_info);
        let mut v = SIGNATURE.to_vec();
        v.put_u32(2);
        let name_off = 56;
        v.put_u16(len16(name.len()));
        v.put_u16(len16(name.len()));
        v.put_u32(name_off);
        v.put_u32(self.flags);
        v.put(&self.server_challenge);
        v.zeros(8);
        v.put_u16(len16(ti.len()));
        v.put_u16(len16(ti.len()));
        v.put_u32(name_off + len32(name.len()));
        v.put(&VERSION);
        v.put(&name);
        v.put(&ti);
        v
    }
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::new(msg);
        header(&mut r, 2)?;
        let name = field(msg, &mut r)?;
        let flags = r.u32()?;
        let server_challenge = r.array()?;
        r.skip(8)?;
        let ti = field(msg, &mut r)?;
        Ok(ChallengeMessage {
            target_name: text(name, flags & flags::UNICODE != 0)?,
            flags,
            server_challenge,
            target_info: if ti.is_empty() {
                Vec::new()
            } else {
                decode_av_pairs(ti)?
            },
        })
    }
}

/// Length of an NTLMv1 (and LM) response; an NT response longer than this is NTLMv2.
pub const NTLMV1_RESPONSE_LEN: usize = 24;
/// Where the AV pairs start in an NTLMv2 response: NTProofStr (16), then the
/// client challenge's RespType, HiRespType, reserved (6), TimeStamp (8),
/// ChallengeFromClient (8) and reserved (4).
pub const NTLMV2_AV_PAIRS_OFFSET: usize = 44;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthenticateMessage {
    pub lm_response: Vec<u8>,
    pub nt_response: Vec<u8>,
    pub domain: String,
    pub user: String,
    pub workstation: String,
    pub encrypted_random_session_key: Vec<u8>,
    pub flags: u32,
    /// The MIC and its offset in the message (72) when present.
    pub mic: Option<[u8; 16]>,
}

impl AuthenticateMessage {
    pub fn decode(msg: &[u8]) -> Result<Self> {
        let mut r = Reader::new(msg);
        header(&mut r, 3)?;
        let lm = field(msg, &mut r)?;
        let nt = field(msg, &mut r)?;
        let dom = field(msg, &mut r)?;
        let user = field(msg, &mut r)?;
        let ws = field(msg, &mut r)?;
        let key = field(msg, &mut r)?;
        let flags = r.u32()?;
        let unicode = flags & flags::UNICODE != 0;
        let mut m = AuthenticateMessage {
            lm_response: lm.to_vec(),
            nt_response: nt.to_vec(),
            domain: text(dom, unicode)?,
            user: text(user, unicode)?,
            workstation: text(ws, unicode)?,
            encrypted_random_session_key: key.to_vec(),
            flags,
            mic: None,
        };
        // Longer than an NTLMv1 response: an NTLMv2 response, whose client
        // challenge must parse, AV pairs and MsvAvEOL included (MS-NLMP
        // 2.2.2.7). A malformed one is a malformed message, not a wrong
        // password (Windows and Samba answer STATUS_INVALID_PARAMETER).
        if nt.len() > NTLMV1_RESPONSE_LEN {
            let blob = nt
                .get(NTLMV2_AV_PAIRS_OFFSET..)
                .ok_or(WireError::Ntlm("NTLMv2 response too short"))?;
            let pairs = decode_av_pairs(blob)?;
            let mic_flag = pairs.iter().any(|p| {
                p.id == av::FLAGS
                    && p.value.len() == 4
                    && u32::from_le_bytes([p.value[0], p.value[1], p.value[2], p.value[3]])
                        & av::FLAG_MIC_PRESENT
                        != 0
            });
            if mic_flag {
                let b = msg.get(72..88).ok_or(WireError::Ntlm("MIC missing"))?;
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                m.mic = Some(a);
            }
        }
        Ok(m)
    }

    /// An anonymous (null session) logon: no user and no NT response
    /// (MS-NLMP 3.2.5.1.2). The adapter grants or refuses it per guest policy.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_empty()
            && self.nt_response.is_empty()
            && self.lm_response.iter().all(|&b| b == 0)
    }

    /// Client-side encoder (tests, perf client): version and MIC slot always present
    /// (MIC zero until [`set_mic`]).
    pub fn encode(&self) -> Vec<u8> {
        let dom = utf16_encode(&self.domain);
        let user = utf16_encode(&self.user);
        let ws = utf16_encode(&self.workstation);
        let parts: [&[u8]; 6] = [
            &self.lm_response,
            &self.nt_response,
            &dom,
            &user,
            &ws,
            &self.encrypted_random_session_key,
        ];
        let mut v = SIGNATURE.to_vec();
        v.put_u32(3);
        let mut off = 88usize;
        for p in parts {
            v.put_u16(len16(p.len()));
            v.put_u16(len16(p.len()));
            v.put_u32(len32(off));
            off += p.len();
        }
        v.put_u32(self.flags);
        v.put(&VERSION);
        v.put(&self.mic.unwrap_or([0; 16]));
        for p in parts {
            v.put(p);
        }
        v
    }
}

/// Writes `mic` into an encoded AUTHENTICATE message.
pub fn set_mic(auth_msg: &mut [u8], mic: &[u8; 16]) {
    if let Some(s) = auth_msg.get_mut(72..88) {
        s.copy_from_slice(mic);
    }
}

type HmacMd5 = Hmac<Md5>;

pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut m = <HmacMd5 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// NT hash: MD4(UTF-16LE(password)). This is what the user store keeps.
pub fn nt_hash(password: &str) -> [u8; 16] {
    Md4::digest(utf16_encode(password)).into()
}

/// NTOWFv2 = HMAC_MD5(NT hash, UTF-16LE(UPPER(user) + domain)).
pub fn ntowf_v2(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    let ud = utf16_encode(&(user.to_uppercase() + domain));
    hmac_md5(nt_hash, &[&ud])
}

/// Client side: the NTLMv2 NtChallengeResponse (NTProofStr || temp) and the session
/// base key, for `target_info` as the server sent it (AV pairs incl. EOL).
pub fn ntlmv2_response(
    nt_hash: &[u8; 16],
    user: &str,
    domain: &str,
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    timestamp: u64,
    target_info: &[u8],
) -> (Vec<u8>, [u8; 16]) {
    let key = ntowf_v2(nt_hash, user, domain);
    let mut temp = vec![1, 1, 0, 0, 0, 0, 0, 0];
    temp.put_u64(timestamp);
    temp.put(client_challenge);
    temp.put_u32(0);
    temp.put(target_info);
    temp.put_u32(0);
    let proof = hmac_md5(&key, &[server_challenge, &temp]);
    let base = hmac_md5(&key, &[&proof]);
    let mut resp = proof.to_vec();
    resp.put(&temp);
    (resp, base)
}

/// RC4 (the cipher NTLM key exchange and sealing use); tiny, no crate needed.
pub struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    pub fn new(key: &[u8]) -> Rc4 {
        let mut s = [0u8; 256];
        for (i, x) in s.iter_mut().enumerate() {
            *x = i as u8;
        }
        let mut j = 0u8;
        if !key.is_empty() {
            for i in 0..256 {
                j = j.wrapping_add(s[i]).wrapping_add(key[i % key.len()]);
                s.swap(i, usize::from(j));
            }
        }
        Rc4 { s, i: 0, j: 0 }
    }
    pub fn apply(&mut self, data: &mut [u8]) {
        for b in data {
            self.i = self.i.wrapping_add(1);
            self.j = self.j.wrapping_add(self.s[usize::from(self.i)]);
            self.s.swap(usize::from(self.i), usize::from(self.j));
            let k = self.s[usize::from(
                self.s[usize::from(self.i)].wrapping_add(self.s[usize::from(self.j)]),
            )];
            *b ^= k;
        }
    }
}

/// Result of a successful NTLMv2 verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub session_base_key: [u8; 16],
    /// The key SMB derives its keys from (MS-NLMP ExportedSessionKey).
    pub exported_session_key: [u8; 16],
}

/// Server side of NTLMv2 (MS-NLMP 3.3.2 / 3.2.5.1.2): recomputes NTProofStr from the
/// user's NT hash and the client's blob, trying the domain the client sent and then
/// the empty domain. Then derives the exported session key (RC4 under KEY_EXCH) and,
/// if the client sent a MIC, checks it over NEGOTIATE || CHALLENGE || AUTHENTICATE
/// (MIC zeroed). Constant-time comparisons.
pub fn verify_ntlmv2(
    nt_hash: &[u8; 16],
    server_challenge: &[u8; 8],
    auth: &AuthenticateMessage,
    negotiate_msg: &[u8],
    challenge_msg: &[u8],
    authenticate_msg: &[u8],
) -> std::result::Result<Verified, AuthError> {
    if auth.nt_response.len() < 16 + 28 {
        return Err(AuthError::NotNtlmV2);
    }
    let (proof, temp) = auth.nt_response.split_at(16);
    let mut base = None;
    for dom in [auth.domain.as_str(), ""] {
        let key = ntowf_v2(nt_hash, &auth.user, dom);
        let expect = hmac_md5(&key, &[server_challenge, temp]);
        if ct_eq(&expect, proof) {
            base = Some(hmac_md5(&key, &[&expect]));
            break;
        }
    }
    let session_base_key = base.ok_or(AuthError::WrongPassword)?;
    let mut exported = session_base_key;
    if auth.flags & flags::KEY_EXCH != 0 && auth.encrypted_random_session_key.len() == 16 {
        exported.copy_from_slice(&auth.encrypted_random_session_key);
        Rc4::new(&session_base_key).apply(&mut exported);
    }
    if let Some(mic) = auth.mic {
        let mut zeroed = authenticate_msg.to_vec();
        set_mic(&mut zeroed, &[0; 16]);
        let want = hmac_md5(&exported, &[negotiate_msg, challenge_msg, &zeroed]);
        if !ct_eq(&want, &mic) {
            return Err(AuthError::BadMic);
        }
    }
    Ok(Verified {
        session_base_key,
        exported_session_key: exported,
    })
}

/// Constant-time equality.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

const C2S_SIGN: &[u8] = b"session key to client-to-server signing key magic constant\0";
const S2C_SIGN: &[u8] = b"session key to server-to-client signing key magic constant\0";
const C2S_SEAL: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const S2C_SEAL: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// SIGNKEY / SEALKEY (MS-NLMP 3.4.5.2/3.4.5.3, 128-bit with extended session security).
pub fn sign_seal_keys(exported: &[u8; 16], client_to_server: bool) -> ([u8; 16], [u8; 16]) {
    let (s, e) = if client_to_server {
        (C2S_SIGN, C2S_SEAL)
    } else {
        (S2C_SIGN, S2C_SEAL)
    };
    let md5 = |c: &[u8]| -> [u8; 16] {
        let mut h = Md5::new();
        h.update(exported);
        h.update(c);
        h.finalize().into()
    };
    (md5(s), md5(e))
}

/// GSS_GetMIC with extended session security (MS-NLMP 3.4.4.2) for the first message
/// of a fresh sealing handle (what the SPNEGO mechListMIC is): version 1, checksum
/// (RC4-sealed under KEY_EXCH), sequence number.
pub fn gss_get_mic(
    exported: &[u8; 16],
    negotiated_flags: u32,
    client_to_server: bool,
    seq: u32,
    msg: &[u8],
) -> [u8; 16] {
    let (sign, seal) = sign_seal_keys(exported, client_to_server);
    let mac = hmac_md5(&sign, &[&seq.to_le_bytes(), msg]);
    let mut checksum = [0u8; 8];
    checksum.copy_from_slice(&mac[..8]);
    if negotiated_flags & flags::KEY_EXCH != 0 {
        Rc4::new(&seal).apply(&mut checksum);
    }
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&1u32.to_le_bytes());
    out[4..12].copy_from_slice(&checksum);
    out[12..].copy_from_slice(&seq.to_le_bytes());
    out
}

/// Checks the client's SPNEGO mechListMIC: GSS_GetMIC over the DER MechTypeList it
/// sent, with the client-to-server keys and sequence number 0.
pub fn verify_mech_list_mic(
    exported: &[u8; 16],
    negotiated_flags: u32,
    mech_types_der: &[u8],
    mic: &[u8],
) -> bool {
    ct_eq(
        &gss_get_mic(exported, negotiated_flags, true, 0, mech_types_der),
        mic,
    )
}
