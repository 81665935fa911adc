//! SMB 3.x cryptography (MS-SMB2 3.1.4.1-3.1.4.3): the SP800-108 counter-mode KDF
//! with HMAC-SHA256, per-dialect key labels/contexts (3.1.1 uses the preauth
//! integrity hash), the SHA-512 preauth hash chain, message signing (HMAC-SHA256 for
//! 2.x, AES-128-CMAC for 3.0/3.0.2 and 3.1.1 by default, AES-128-GMAC when negotiated)
//! and TRANSFORM encryption (AES-128/256-CCM with an 11-byte nonce, -GCM with 12).

use crate::header::{flags, Command, HEADER_LEN};
use crate::negotiate::{
    CIPHER_AES128_CCM, CIPHER_AES128_GCM, CIPHER_AES256_CCM, CIPHER_AES256_GCM, DIALECT_300,
    DIALECT_311, SIGNING_AES_CMAC, SIGNING_AES_GMAC, SIGNING_HMAC_SHA256,
};
use crate::transform::{TransformHeader, TRANSFORM_FLAG_ENCRYPTED, TRANSFORM_HEADER_LEN};
use aes::{Aes128, Aes256};
use aes_gcm::aead::consts::{U11, U12, U16};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::AesGcm;
use ccm::Ccm;
use cmac::Cmac;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    #[error("bad key length {0}")]
    BadKeyLength(usize),
    #[error("unknown cipher or signing algorithm {0:#x}")]
    UnknownAlgorithm(u16),
    #[error("message too short to sign or verify")]
    TooShort,
    #[error("message too long to encrypt")]
    TooLong,
    #[error("decryption failed (bad key, nonce, AAD or tag)")]
    DecryptFailed,
    #[error(transparent)]
    Wire(#[from] crate::error::WireError),
}

/// Negotiated TRANSFORM cipher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    Aes128Ccm,
    Aes128Gcm,
    Aes256Ccm,
    Aes256Gcm,
}

impl Cipher {
    pub fn from_id(id: u16) -> Option<Cipher> {
        Some(match id {
            CIPHER_AES128_CCM => Cipher::Aes128Ccm,
            CIPHER_AES128_GCM => Cipher::Aes128Gcm,
            CIPHER_AES256_CCM => Cipher::Aes256Ccm,
            CIPHER_AES256_GCM => Cipher::Aes256Gcm,
            _ => return None,
        })
    }
    pub fn id(self) -> u16 {
        match self {
            Cipher::Aes128Ccm => CIPHER_AES128_CCM,
            Cipher::Aes128Gcm => CIPHER_AES128_GCM,
            Cipher::Aes256Ccm => CIPHER_AES256_CCM,
            Cipher::Aes256Gcm => CIPHER_AES256_GCM,
        }
    }
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Ccm | Cipher::Aes128Gcm => 16,
            Cipher::Aes256Ccm | Cipher::Aes256Gcm => 32,
        }
    }
    /// Bytes of the 16-byte Nonce field actually used.
    pub fn nonce_len(self) -> usize {
        match self {
            Cipher::Aes128Ccm | Cipher::Aes256Ccm => 11,
            Cipher::Aes128Gcm | Cipher::Aes256Gcm => 12,
        }
    }
}

/// Signing algorithm in force for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    HmacSha256,
    AesCmac,
    AesGmac,
}

impl SigningAlgorithm {
    /// The algorithm for a dialect: HMAC-SHA256 for 2.x, AES-CMAC for 3.x, or the one
    /// the 3.1.1 signing capabilities context selected.
    pub fn for_dialect(
        dialect: u16,
        negotiated: Option<u16>,
    ) -> Result<SigningAlgorithm, CryptoError> {
        if dialect < DIALECT_300 {
            return Ok(SigningAlgorithm::HmacSha256);
        }
        match negotiated {
            None | Some(SIGNING_AES_CMAC) => Ok(SigningAlgorithm::AesCmac),
            Some(SIGNING_AES_GMAC) if dialect == DIALECT_311 => Ok(SigningAlgorithm::AesGmac),
            Some(SIGNING_HMAC_SHA256) => Ok(SigningAlgorithm::HmacSha256),
            Some(other) => Err(CryptoError::UnknownAlgorithm(other)),
        }
    }
}

/// SP800-108 KDF in counter mode, PRF HMAC-SHA256, r = 32, one or two rounds:
/// K(i) = PRF(Ki, [i]_4 || Label || 0x00 || Context || [L]_4).
pub fn kdf(key: &[u8], label: &[u8], context: &[u8], l_bits: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i: u32 = 1;
    while out.len() * 8 < l_bits as usize {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(&i.to_be_bytes());
        m.update(label);
        m.update(&[0]);
        m.update(context);
        m.update(&l_bits.to_be_bytes());
        out.extend_from_slice(&m.finalize().into_bytes());
        i += 1;
    }
    out.truncate(l_bits as usize / 8);
    out
}

/// The keys of one session, from the server's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    pub signing: Vec<u8>,
    /// Server → client (encrypts responses).
    pub encryption: Vec<u8>,
    /// Client → server (decrypts requests).
    pub decryption: Vec<u8>,
    pub application: Vec<u8>,
}

/// Derives the session's keys (MS-SMB2 3.3.5.5.3). `session_key` is the first 16
/// bytes of the GSS session key (all of it for AES-256 ciphers); `preauth_hash` is
/// required for 3.1.1. For 2.x only `signing` is meaningful (the session key).
pub fn derive_keys(
    dialect: u16,
    session_key: &[u8],
    preauth_hash: Option<&[u8; 64]>,
    cipher: Option<Cipher>,
) -> SessionKeys {
    let key16 = &session_key[..session_key.len().min(16)];
    if dialect < DIALECT_300 {
        return SessionKeys {
            signing: key16.to_vec(),
            encryption: Vec::new(),
            decryption: Vec::new(),
            application: Vec::new(),
        };
    }
    let (l, ckey): (u32, &[u8]) = match cipher {
        Some(Cipher::Aes256Ccm) | Some(Cipher::Aes256Gcm) => (256, session_key),
        _ => (128, key16),
    };
    if dialect == DIALECT_311 {
        let ctx: &[u8] = preauth_hash.map(|h| &h[..]).unwrap_or(&[]);
        SessionKeys {
            signing: kdf(key16, b"SMBSigningKey\0", ctx, 128),
            encryption: kdf(ckey, b"SMBS2CCipherKey\0", ctx, l),
            decryption: kdf(ckey, b"SMBC2SCipherKey\0", ctx, l),
            application: kdf(key16, b"SMBAppKey\0", ctx, 128),
        }
    } else {
        // 3.0 and 3.0.2.
        SessionKeys {
            signing: kdf(key16, b"SMB2AESCMAC\0", b"SmbSign\0", 128),
            encryption: kdf(ckey, b"SMB2AESCCM\0", b"ServerOut\0", l),
            decryption: kdf(ckey, b"SMB2AESCCM\0", b"ServerIn \0", l),
            application: kdf(key16, b"SMB2APP\0", b"SmbRpc\0", 128),
        }
    }
}

/// The SMB 3.1.1 preauth integrity hash: H(0) = 64 zero bytes,
/// H(i) = SHA-512(H(i-1) || message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreauthHash(pub [u8; 64]);

impl Default for PreauthHash {
    fn default() -> Self {
        PreauthHash([0; 64])
    }
}

impl PreauthHash {
    pub fn update(&mut self, message: &[u8]) {
        let mut h = Sha512::new();
        h.update(self.0);
        h.update(message);
        self.0.copy_from_slice(&h.finalize());
    }
}

fn gmac_nonce(msg: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&msg[24..32]);
    let f = u32::from_le_bytes([msg[16], msg[17], msg[18], msg[19]]);
    let cmd = u16::from_le_bytes([msg[12], msg[13]]);
    let mut b = 0u32;
    if f & flags::SERVER_TO_REDIR != 0 {
        b |= 1;
    }
    if cmd == Command::Cancel as u16 {
        b |= 2;
    }
    n[8..].copy_from_slice(&b.to_le_bytes());
    n
}

/// Computes the signature of `msg` (one SMB2 message, padded as sent, with its
/// Signature field treated as zero).
pub fn compute_signature(
    algo: SigningAlgorithm,
    key: &[u8],
    msg: &[u8],
) -> Result<[u8; 16], CryptoError> {
    if msg.len() < HEADER_LEN {
        return Err(CryptoError::TooShort);
    }
    let mut m = msg.to_vec();
    m[48..64].fill(0);
    let mut out = [0u8; 16];
    match algo {
        SigningAlgorithm::HmacSha256 => {
            let mut h =
                <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            h.update(&m);
            out.copy_from_slice(&h.finalize().into_bytes()[..16]);
        }
        SigningAlgorithm::AesCmac => {
            let mut c = <Cmac<Aes128> as Mac>::new_from_slice(key)
                .map_err(|_| CryptoError::BadKeyLength(key.len()))?;
            c.update(&m);
            out.copy_from_slice(&c.finalize().into_bytes());
        }
        SigningAlgorithm::AesGmac => {
            let g = AesGcm::<Aes128, U12>::new_from_slice(key)
                .map_err(|_| CryptoError::BadKeyLength(key.len()))?;
            let nonce = gmac_nonce(&m);
            let tag = g
                .encrypt_in_place_detached((&nonce).into(), &m, &mut [])
                .map_err(|_| CryptoError::DecryptFailed)?;
            out.copy_from_slice(&tag);
        }
    }
    Ok(out)
}

/// Sets SMB2_FLAGS_SIGNED and writes the signature into `msg[48..64]`.
pub fn sign(algo: SigningAlgorithm, key: &[u8], msg: &mut [u8]) -> Result<(), CryptoError> {
    if msg.len() < HEADER_LEN {
        return Err(CryptoError::TooShort);
    }
    let f = u32::from_le_bytes([msg[16], msg[17], msg[18], msg[19]]) | flags::SIGNED;
    msg[16..20].copy_from_slice(&f.to_le_bytes());
    let s = compute_signature(algo, key, msg)?;
    msg[48..64].copy_from_slice(&s);
    Ok(())
}

/// Checks the signature of one message (constant time).
pub fn verify(algo: SigningAlgorithm, key: &[u8], msg: &[u8]) -> Result<bool, CryptoError> {
    let s = compute_signature(algo, key, msg)?;
    Ok(crate::auth::ntlm::ct_eq(&s, &msg[48..64]))
}

/// Signs each message of a compound response built by `header::join_compound`.
pub fn sign_compound(
    algo: SigningAlgorithm,
    key: &[u8],
    msg: &mut [u8],
) -> Result<(), CryptoError> {
    for (at, len) in crate::header::compound_offsets(msg)? {
        sign(algo, key, &mut msg[at..at + len])?;
    }
    Ok(())
}

/// A nonce that never repeats for a key: the 64-bit per-session counter in the first
/// 8 bytes, `salt` (random per session) after, zero padding to 16.
pub fn make_nonce(cipher: Cipher, counter: u64, salt: [u8; 4]) -> [u8; 16] {
    let mut n = [0u8; 16];
    n[..8].copy_from_slice(&counter.to_le_bytes());
    n[8..cipher.nonce_len()].copy_from_slice(&salt[..cipher.nonce_len() - 8]);
    n
}

fn seal(
    cipher: Cipher,
    key: &[u8],
    nonce: &[u8; 16],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; 16], CryptoError> {
    let bad = |_| CryptoError::BadKeyLength(key.len());
    let tag = match cipher {
        Cipher::Aes128Ccm => Ccm::<Aes128, U16, U11>::new_from_slice(key)
            .map_err(bad)?
            .encrypt_in_place_detached(nonce[..11].into(), aad, buf),
        Cipher::Aes256Ccm => Ccm::<Aes256, U16, U11>::new_from_slice(key)
            .map_err(bad)?
            .encrypt_in_place_detached(nonce[..11].into(), aad, buf),
        Cipher::Aes128Gcm => AesGcm::<Aes128, U12>::new_from_slice(key)
            .map_err(bad)?
            .encrypt_in_place_detached(nonce[..12].into(), aad, buf),
        Cipher::Aes256Gcm => AesGcm::<Aes256, U12>::new_from_slice(key)
            .map_err(bad)?
            .encrypt_in_place_detached(nonce[..12].into(), aad, buf),
    }
    .map_err(|_| CryptoError::DecryptFailed)?;
    let mut t = [0u8; 16];
    t.copy_from_slice(&tag);
    Ok(t)
}

/// Encrypts `plaintext` (a whole SMB2 message or compound chain) into a TRANSFORM
/// message: header with `nonce` (the cipher uses its first 11 or 12 bytes; the whole
/// 16-byte field is sent and authenticated as given, so pass [`make_nonce`]'s
/// zero-padded value) and `session_id`, then the ciphertext.
pub fn encrypt(
    cipher: Cipher,
    key: &[u8],
    nonce: &[u8; 16],
    session_id: u64,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let n = *nonce;
    let mut th = TransformHeader {
        signature: [0; 16],
        nonce: n,
        original_message_size: u32::try_from(plaintext.len()).map_err(|_| CryptoError::TooLong)?,
        flags: TRANSFORM_FLAG_ENCRYPTED,
        session_id,
    };
    let mut buf = plaintext.to_vec();
    th.signature = seal(cipher, key, &n, &th.aad(), &mut buf)?;
    let mut out = Vec::with_capacity(TRANSFORM_HEADER_LEN + buf.len());
    th.encode(&mut out);
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Decrypts a TRANSFORM message; returns its header (for the SessionId lookup the
/// caller already did with `TransformHeader::decode`) and the plaintext.
pub fn decrypt(
    cipher: Cipher,
    key: &[u8],
    msg: &[u8],
) -> Result<(TransformHeader, Vec<u8>), CryptoError> {
    let (th, ct) = TransformHeader::decode(msg)?;
    let mut buf = ct.to_vec();
    let aad = th.aad();
    let tag = aes_gcm::aead::generic_array::GenericArray::from_slice(&th.signature);
    let bad = |_| CryptoError::BadKeyLength(key.len());
    let n = &th.nonce;
    match cipher {
        Cipher::Aes128Ccm => Ccm::<Aes128, U16, U11>::new_from_slice(key)
            .map_err(bad)?
            .decrypt_in_place_detached(n[..11].into(), &aad, &mut buf, tag),
        Cipher::Aes256Ccm => Ccm::<Aes256, U16, U11>::new_from_slice(key)
            .map_err(bad)?
            .decrypt_in_place_detached(n[..11].into(), &aad, &mut buf, tag),
        Cipher::Aes128Gcm => AesGcm::<Aes128, U12>::new_from_slice(key)
            .map_err(bad)?
            .decrypt_in_place_detached(n[..12].into(), &aad, &mut buf, tag),
        Cipher::Aes256Gcm => AesGcm::<Aes256, U12>::new_from_slice(key)
            .map_err(bad)?
            .decrypt_in_place_detached(n[..12].into(), &aad, &mut buf, tag),
    }
    .map_err(|_| CryptoError::DecryptFailed)?;
    Ok((th, buf))
}
