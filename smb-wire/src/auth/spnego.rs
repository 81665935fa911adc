//! SPNEGO (RFC 4178, MS-SPNG) tokens around NTLMSSP: the server's NegTokenInit
//! advertised in the NEGOTIATE response, and the client's NegTokenInit /
//! NegTokenResp in SESSION_SETUP. Raw NTLMSSP (no SPNEGO wrapper) is accepted too.

use super::der::{expect, raw_tlv, read_tlv, tlv};
use crate::error::{Result, WireError};

/// 1.3.6.1.5.5.2 (content bytes of the OID).
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// 1.3.6.1.4.1.311.2.2.10.
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

pub const NEG_STATE_ACCEPT_COMPLETED: u8 = 0;
pub const NEG_STATE_ACCEPT_INCOMPLETE: u8 = 1;
pub const NEG_STATE_REJECT: u8 = 2;
pub const NEG_STATE_REQUEST_MIC: u8 = 3;

/// A token from the client's SESSION_SETUP security buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientToken {
    Init {
        /// OIDs (content bytes), client preference order.
        mech_types: Vec<Vec<u8>>,
        /// The DER of the MechTypeList, which mechListMIC covers.
        mech_types_der: Vec<u8>,
        mech_token: Option<Vec<u8>>,
        mech_list_mic: Option<Vec<u8>>,
    },
    Resp {
        neg_state: Option<u8>,
        supported_mech: Option<Vec<u8>>,
        response_token: Option<Vec<u8>>,
        mech_list_mic: Option<Vec<u8>>,
    },
    /// A bare NTLMSSP message.
    RawNtlmssp(Vec<u8>),
}

impl ClientToken {
    /// The NTLMSSP message inside, if any.
    pub fn ntlmssp(&self) -> Option<&[u8]> {
        match self {
            ClientToken::Init { mech_token, .. } => mech_token.as_deref(),
            ClientToken::Resp { response_token, .. } => response_token.as_deref(),
            ClientToken::RawNtlmssp(m) => Some(m),
        }
    }
}

fn octet_string(c: &[u8]) -> Result<Vec<u8>> {
    Ok(expect(c, 0x04)?.0.to_vec())
}

fn parse_init(seq: &[u8]) -> Result<ClientToken> {
    let (mut body, _) = expect(seq, 0x30)?;
    let mut mech_types = Vec::new();
    let mut mech_types_der = Vec::new();
    let mut mech_token = None;
    let mut mech_list_mic = None;
    while !body.is_empty() {
        let (tag, c, rest) = read_tlv(body)?;
        match tag {
            0xa0 => {
                mech_types_der = raw_tlv(c)?.to_vec();
                let (mut list, _) = expect(c, 0x30)?;
                while !list.is_empty() {
                    let (oid, r) = expect(list, 0x06)?;
                    if mech_types.len() >= 16 {
                        return Err(WireError::Der("too many mechs"));
                    }
                    mech_types.push(oid.to_vec());
                    list = r;
                }
            }
            0xa1 => {}
            0xa2 => mech_token = Some(octet_string(c)?),
            0xa3 => {
                // mechListMIC is an OCTET STRING; the server's form uses [3] for negHints.
                mech_list_mic = octet_string(c).ok();
            }
            _ => return Err(WireError::Der("unknown NegTokenInit field")),
        }
        body = rest;
    }
    Ok(ClientToken::Init {
        mech_types,
        mech_types_der,
        mech_token,
        mech_list_mic,
    })
}

fn parse_resp(seq: &[u8]) -> Result<ClientToken> {
    let (mut body, _) = expect(seq, 0x30)?;
    let (mut neg_state, mut supported_mech, mut response_token, mut mech_list_mic) =
        (None, None, None, None);
    while !body.is_empty() {
        let (tag, c, rest) = read_tlv(body)?;
        match tag {
            0xa0 => {
                let (e, _) = expect(c, 0x0a)?;
                neg_state = Some(*e.first().ok_or(WireError::Der("empty enum"))?);
            }
            0xa1 => supported_mech = Some(expect(c, 0x06)?.0.to_vec()),
            0xa2 => response_token = Some(octet_string(c)?),
            0xa3 => mech_list_mic = Some(octet_string(c)?),
            _ => return Err(WireError::Der("unknown NegTokenResp field")),
        }
        body = rest;
    }
    Ok(ClientToken::Resp {
        neg_state,
        supported_mech,
        response_token,
        mech_list_mic,
    })
}

/// Decodes a client security buffer.
pub fn decode_client_token(buf: &[u8]) -> Result<ClientToken> {
    if buf.starts_with(b"NTLMSSP\0") {
        return Ok(ClientToken::RawNtlmssp(buf.to_vec()));
    }
    match buf.first() {
        Some(0x60) => {
            let (app, _) = expect(buf, 0x60)?;
            let (oid, rest) = expect(app, 0x06)?;
            if oid != OID_SPNEGO {
                return Err(WireError::Der("not SPNEGO"));
            }
            let (init, _) = expect(rest, 0xa0)?;
            parse_init(init)
        }
        Some(0xa0) => parse_init(expect(buf, 0xa0)?.0),
        Some(0xa1) => parse_resp(expect(buf, 0xa1)?.0),
        _ => Err(WireError::Der("not a SPNEGO token")),
    }
}

/// The server's NegTokenInit for the NEGOTIATE response: mechTypes = [NTLMSSP] and the
/// conventional negHints "not_defined_in_RFC4178@please_ignore".
pub fn server_neg_token_init() -> Vec<u8> {
    let mechs = tlv(0xa0, &tlv(0x30, &tlv(0x06, OID_NTLMSSP)));
    let hint = tlv(
        0xa3,
        &tlv(
            0x30,
            &tlv(0xa0, &tlv(0x1b, b"not_defined_in_RFC4178@please_ignore")),
        ),
    );
    let mut seq = mechs;
    seq.extend_from_slice(&hint);
    let mut app = tlv(0x06, OID_SPNEGO);
    app.extend_from_slice(&tlv(0xa0, &tlv(0x30, &seq)));
    tlv(0x60, &app)
}

/// A NegTokenResp (server → client, or client → server in tests).
pub fn encode_neg_token_resp(
    neg_state: Option<u8>,
    supported_mech: Option<&[u8]>,
    response_token: Option<&[u8]>,
    mech_list_mic: Option<&[u8]>,
) -> Vec<u8> {
    let mut seq = Vec::new();
    if let Some(s) = neg_state {
        seq.extend(tlv(0xa0, &tlv(0x0a, &[s])));
    }
    if let Some(m) = supported_mech {
        seq.extend(tlv(0xa1, &tlv(0x06, m)));
    }
    if let Some(t) = response_token {
        seq.extend(tlv(0xa2, &tlv(0x04, t)));
    }
    if let Some(m) = mech_list_mic {
        seq.extend(tlv(0xa3, &tlv(0x04, m)));
    }
    tlv(0xa1, &tlv(0x30, &seq))
}

/// A client NegTokenInit (tests, the perf harness's client).
pub fn encode_client_neg_token_init(mech_types: &[&[u8]], mech_token: &[u8]) -> Vec<u8> {
    let list: Vec<u8> = mech_types.iter().flat_map(|m| tlv(0x06, m)).collect();
    let mut seq = tlv(0xa0, &tlv(0x30, &list));
    seq.extend(tlv(0xa2, &tlv(0x04, mech_token)));
    let mut app = tlv(0x06, OID_SPNEGO);
    app.extend(tlv(0xa0, &tlv(0x30, &seq)));
    tlv(0x60, &app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_init_is_parseable_and_lists_ntlmssp() {
        let t = server_neg_token_init();
        match decode_client_token(&t).unwrap() {
            ClientToken::Init {
                mech_types,
                mech_token,
                mech_types_der,
                ..
            } => {
                assert_eq!(mech_types, vec![OID_NTLMSSP.to_vec()]);
                assert_eq!(mech_token, None);
                assert_eq!(mech_types_der[0], 0x30);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_init_and_resp_round_trip() {
        let t = encode_client_neg_token_init(&[OID_NTLMSSP], b"NTLMSSP\0\x01");
        let d = decode_client_token(&t).unwrap();
        assert_eq!(d.ntlmssp(), Some(&b"NTLMSSP\0\x01"[..]));
        let r = encode_neg_token_resp(Some(1), Some(OID_NTLMSSP), Some(b"tok"), Some(b"mic"));
        assert_eq!(
            decode_client_token(&r).unwrap(),
            ClientToken::Resp {
                neg_state: Some(1),
                supported_mech: Some(OID_NTLMSSP.to_vec()),
                response_token: Some(b"tok".to_vec()),
                mech_list_mic: Some(b"mic".to_vec()),
            }
        );
        assert!(decode_client_token(&r[..r.len() - 1]).is_err());
    }
}
