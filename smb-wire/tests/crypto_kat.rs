//! Known-answer tests for the SMB 3.x crypto. Sources: the Microsoft Open
//! Specifications blog posts "SMB 2 and SMB 3 security in Windows 10: the anatomy of
//! signing and cryptographic keys" (3.0 and 3.1.1 key derivation, the signed 3.1.1
//! SESSION_SETUP response) and "SMB 3.1.1 Encryption in Windows 10" / the SMB 3.0
//! encryption example (encrypted WRITE request and READ-style response), as also
//! used by other SMB implementations' test suites. Those examples are written from
//! the client's side: the client's EncryptionKey is our (server) decryption key.

use dittofs_smb_wire::crypto::{self, Cipher, SigningAlgorithm};
use dittofs_smb_wire::negotiate::{DIALECT_300, DIALECT_311};
use dittofs_smb_wire::transform::TransformHeader;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn h64(s: &str) -> [u8; 64] {
    hex(s).try_into().unwrap()
}

#[test]
fn kdf_smb300_anatomy_of_keys() {
    let k = crypto::derive_keys(
        DIALECT_300,
        &hex("7CD451825D0450D235424E44BA6E78CC"),
        None,
        Some(Cipher::Aes128Ccm),
    );
    assert_eq!(k.signing, hex("0B7E9C5CAC36C0F6EA9AB275298CEDCE"));
    assert_eq!(k.application, hex("BB23A4575AA26C721AF525AF15A87B4F"));
    // Client's EncryptionKey (ServerIn) is the server's decryption key.
    assert_eq!(k.decryption, hex("FAD27796665B313EBB578F388632B4F7"));
    assert_eq!(k.encryption, hex("B0F0427F7CEB416D1D9DCC0CD4F99447"));
}

const PREAUTH_ANATOMY: &str = "0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB79\
                               28622DDDAD522D9751640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01";

#[test]
fn kdf_smb311_anatomy_of_keys() {
    let pre = h64(PREAUTH_ANATOMY);
    let k = crypto::derive_keys(
        DIALECT_311,
        &hex("270E1BA896585EEB7AF3472D3B4C75A7"),
        Some(&pre),
        Some(Cipher::Aes128Gcm),
    );
    assert_eq!(k.signing, hex("73FE7A9A77BEF0BDE49C650D8CCB5F76"));
    assert_eq!(k.application, hex("6D7AD7954E9EC61E907B4D473DC178FF"));
    assert_eq!(k.decryption, hex("629BCBC54422A0F572B97F45989B6073"));
    assert_eq!(k.encryption, hex("E2AF0DCEFAC68DA71A0DFBD0D1350D74"));
}

#[test]
fn cmac_signature_of_smb311_session_setup_response() {
    // Final SESSION_SETUP response of the 3.1.1 example, signed with AES-CMAC.
    let msg = hex(
        "FE534D4240000100000000000100800009000000000000000300000000000000FFFE000000000000\
         1900000000100000EBE146DA120BA25FC3376A49DFE31BC10900000048001D00A11B3019A0030A01\
         00A3120410010000003B453CDC3524164200000000",
    );
    let key = hex("73FE7A9A77BEF0BDE49C650D8CCB5F76");
    let sig = crypto::compute_signature(SigningAlgorithm::AesCmac, &key, &msg).unwrap();
    assert_eq!(sig.to_vec(), hex("EBE146DA120BA25FC3376A49DFE31BC1"));
    assert!(crypto::verify(SigningAlgorithm::AesCmac, &key, &msg).unwrap());
    let mut tampered = msg.clone();
    tampered[70] ^= 1;
    assert!(!crypto::verify(SigningAlgorithm::AesCmac, &key, &tampered).unwrap());
    // sign() reproduces the same bytes.
    let mut resigned = msg.clone();
    resigned[48..64].fill(0);
    crypto::sign(SigningAlgorithm::AesCmac, &key, &mut resigned).unwrap();
    assert_eq!(resigned, msg);
}

const WRITE_300: &str = "FE534D4240000100000000000900400008000000000000000400000000000000\
    FFFE0000010000001100001400E4080000000000000000000000000000000000\
    3100700017000000000000000000000015010000390000020100000039020000\
    00000000000000007000000000000000536D623320656E6372797074696F6E20\
    74657374696E67";

#[test]
fn smb300_ccm_decrypt_client_request_and_encrypt_response() {
    let k = crypto::derive_keys(
        DIALECT_300,
        &hex("B4546771B515F766A86735532DD6C4F0"),
        None,
        Some(Cipher::Aes128Ccm),
    );
    assert_eq!(k.decryption, hex("261B72350558F2E9DCF613070383EDBF"));
    assert_eq!(k.encryption, hex("8FE2B57EC34D2DB5B1A9727F526BBDB5"));
    let request = hex(
        "FD534D4281A286535415445DAE393921E44FA42E66E69A111892584FB5ED524A\
         744DA3EE87000000000001001100001400E4080025C8FEE16605A437832D1CD5\
         2DA9F4645333482A175FE5384563F45FCDAFAEF38BC62BA4D5C62897996625A4\
         4C29BE5658DE2E6117585779E7B59FFD971278D08580D7FA899E410E910EABF5\
         AA1DB43050B33B49182637759AC15D84BFCDF5B6B238993C0F4CF4D6012023F6\
         C627297075D84B7803912D0A9639634453595EF3E33FFE4E7AC2AB",
    );
    let (th, plain) = crypto::decrypt(Cipher::Aes128Ccm, &k.decryption, &request).unwrap();
    assert_eq!(th.session_id, 0x8E40014000011);
    assert_eq!(plain, hex(WRITE_300));
    // Server side of the example: encrypt the response with the same nonce and
    // session id, compare byte for byte with the captured transform message.
    let response = hex(
        "FD534D42A6015530A18F6D9AFFE22AFAE8E66484860000000000000011000014\
         00E4080050000000000001001100001400E40800DBF46435C5F14169293CE079\
         E344479BF670227E49873F458672C3098DAC467DD5809F369D67409166515787\
         1483E01F7BECD02064EAC3E235F913668BBC2F097980D4B378F1993EFF6E60D1\
         77309E5B",
    );
    let (rth, rplain) = crypto::decrypt(Cipher::Aes128Ccm, &k.encryption, &response).unwrap();
    let again = crypto::encrypt(
        Cipher::Aes128Ccm,
        &k.encryption,
        &rth.nonce,
        rth.session_id,
        &rplain,
    )
    .unwrap();
    assert_eq!(again, response);
    // A flipped ciphertext bit fails authentication.
    let mut bad = request.clone();
    bad[60] ^= 1;
    assert_eq!(
        crypto::decrypt(Cipher::Aes128Ccm, &k.decryption, &bad),
        Err(crypto::CryptoError::DecryptFailed)
    );
}

#[test]
fn smb311_gcm_decrypt_client_request_and_encrypt_response() {
    let pre = h64(
        "B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDBA7DB256BA2EA30E9\
         77F11F9B113247578E0E915C6D2A513B8F2FCA5707DC8770",
    );
    let k = crypto::derive_keys(
        DIALECT_311,
        &hex("419FDDF34C1E001909D362AE7FB6AF79"),
        Some(&pre),
        Some(Cipher::Aes128Gcm),
    );
    assert_eq!(k.decryption, hex("A2F5E80E5D59103034F32E52F698E5EC"));
    assert_eq!(k.encryption, hex("748C50868C90F302962A5C35F5F9A8BF"));
    let request = hex(
        "FD534D42BD73D97D2BC9001BCAFAC0FDFF5FEEBCC7D6822D269CAF48904C664C0000000087000000\
         0000010025000000001000006ECDD2A7AFC7B47763057A041B8FD4DAFFE990B70C9E09D36C084E02\
         D14EF247F8BDE38ACF6256F8B1D3B56F77FBDEB312FEA5E92CBCC1ED8FB2EBBFAA75E49A4A394BB4\
         4576545567C24D4C014D47C9FBDFDAFD2C4F9B72F8D256452620A299F48E29E53D6B61D1C13A19E9\
         1AF013F00D17E3ABC2FC3D36C8C1B6B93973253852DBD442E46EE8",
    );
    let (_, plain) = crypto::decrypt(Cipher::Aes128Gcm, &k.decryption, &request).unwrap();
    assert_eq!(
        plain,
        hex(
            "FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000\
             25000000001000000000000000000000000000000000000031007000170000000000000000000000\
             0600000004000000010000000400000000000000000000007000000000000000536D623320656E63\
             72797074696F6E2074657374696E67"
        )
    );
    let response = hex(
        "FD534D42ACBE1CB7ED343ADF1725EF144D90D4B0E06831DD2E8EB7B4000000000000000050000000\
         00000100250000000010000026BBBF949983A6C1C796559D0F2C510CB651D1F7B6AC8DED32A2A0B8\
         F2D793A815C6F6B848D69767A215841A42D400AE6DDB5F0B44173A014973321FDD7950DA6179159B\
         82E03C9E18A050FF0EA1C967",
    );
    let expect_plain = hex(
        "FE534D4240000100000000000900010001000000000000000500000000000000FFFE000001000000\
         25000000001000000000000000000000000000000000000011000000170000000000000000000000",
    );
    let (th, _) = TransformHeader::decode(&response).unwrap();
    let ours = crypto::encrypt(
        Cipher::Aes128Gcm,
        &k.encryption,
        &th.nonce,
        th.session_id,
        &expect_plain,
    )
    .unwrap();
    assert_eq!(ours, response);
}

#[test]
fn aes256_and_gmac_round_trips() {
    let pre = h64(PREAUTH_ANATOMY);
    for cipher in [
        Cipher::Aes128Ccm,
        Cipher::Aes128Gcm,
        Cipher::Aes256Ccm,
        Cipher::Aes256Gcm,
    ] {
        let k = crypto::derive_keys(DIALECT_311, &[7u8; 32], Some(&pre), Some(cipher));
        assert_eq!(k.encryption.len(), cipher.key_len());
        let nonce = crypto::make_nonce(cipher, 42, [1, 2, 3, 4]);
        let msg = crypto::encrypt(cipher, &k.encryption, &nonce, 5, b"hello smb").unwrap();
        let (_, p) = crypto::decrypt(cipher, &k.encryption, &msg).unwrap();
        assert_eq!(p, b"hello smb");
        assert!(crypto::decrypt(cipher, &k.decryption, &msg).is_err());
    }
    // GMAC signing: sign/verify, and the nonce depends on the response flag.
    let key = [9u8; 16];
    let mut m = hex(WRITE_300);
    crypto::sign(SigningAlgorithm::AesGmac, &key, &mut m).unwrap();
    assert!(crypto::verify(SigningAlgorithm::AesGmac, &key, &m).unwrap());
    let sig = m[48..64].to_vec();
    m[16] |= 1; // SERVER_TO_REDIR
    crypto::sign(SigningAlgorithm::AesGmac, &key, &mut m).unwrap();
    assert_ne!(m[48..64].to_vec(), sig);
    // HMAC-SHA256 (2.x).
    let mut m = hex(WRITE_300);
    crypto::sign(SigningAlgorithm::HmacSha256, &key, &mut m).unwrap();
    assert!(crypto::verify(SigningAlgorithm::HmacSha256, &key, &m).unwrap());
    m[100] ^= 1;
    assert!(!crypto::verify(SigningAlgorithm::HmacSha256, &key, &m).unwrap());
}

#[test]
fn preauth_hash_chain() {
    let mut a = crypto::PreauthHash::default();
    a.update(b"negotiate request");
    let mut b = a;
    a.update(b"x");
    b.update(b"y");
    assert_ne!(a, b);
    assert_ne!(a.0, [0; 64]);
}
