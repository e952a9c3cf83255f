use aws_lc_rs::digest;

use super::*;

fn key(kty: KeyType, size: Option<u32>, curve: Option<Curve>) -> Result<PrivateKey> {
    PrivateKey::generate(&KeySpec { kty, size, public_exponent: None, curve })
}

#[test]
fn rsa_keys_sign_digests_and_verify_them() -> Result<()> {
    let rsa = key(KeyType::Rsa, None, None)?;
    assert_eq!(rsa.size_bits()?, 2048);
    assert_eq!(rsa.public_jwk()?.e.as_deref(), Some("AQAB"));
    let digest = digest::digest(&digest::SHA256, b"message");
    for alg in [SignatureAlgorithm::Rs256, SignatureAlgorithm::Ps256] {
        let signature = rsa.sign(alg, digest.as_ref())?;
        assert_eq!(signature.len(), 256);
        assert!(rsa.verify(alg, digest.as_ref(), &signature)?);
        assert!(!rsa.verify(alg, &[0u8; 32], &signature)?);
    }
    assert!(rsa.sign(SignatureAlgorithm::Rs384, digest.as_ref()).is_err(), "a SHA-256 digest for RS384");
    assert!(rsa.sign(SignatureAlgorithm::Es256, digest.as_ref()).is_err(), "an EC algorithm on RSA");
    Ok(())
}

#[test]
fn ec_keys_sign_with_their_curves_algorithm_in_raw_form() -> Result<()> {
    for (curve, alg, hash, len) in [
        (Curve::P256, SignatureAlgorithm::Es256, &digest::SHA256, 64),
        (Curve::P384, SignatureAlgorithm::Es384, &digest::SHA384, 96),
        (Curve::P521, SignatureAlgorithm::Es512, &digest::SHA512, 132),
        (Curve::P256K, SignatureAlgorithm::Es256K, &digest::SHA256, 64),
    ] {
        let ec = key(KeyType::Ec, None, Some(curve))?;
        let jwk = ec.public_jwk()?;
        assert_eq!(jwk.crv, Some(curve));
        let digest = digest::digest(hash, b"message");
        let signature = ec.sign(alg, digest.as_ref())?;
        assert_eq!(signature.len(), len, "{curve:?}");
        assert!(ec.verify(alg, digest.as_ref(), &signature)?);
        assert_eq!(PrivateKey::from_material(KeyType::Ec, Some(curve), ec.material())?.public_jwk()?, jwk);
    }
    let p256 = key(KeyType::Ec, None, Some(Curve::P256))?;
    let sha384 = digest::digest(&digest::SHA384, b"m");
    assert!(p256.sign(SignatureAlgorithm::Es384, sha384.as_ref()).is_err(), "ES384 on P-256");
    assert!(p256.encrypt(EncryptionAlgorithm::RsaOaep, b"x", &CipherInput::default()).is_err());
    Ok(())
}

#[test]
fn rsa_encryption_round_trips_with_every_algorithm() -> Result<()> {
    let rsa = key(KeyType::RsaHsm, Some(3072), None)?;
    assert_eq!(rsa.kty().as_str(), "RSA-HSM");
    let none = CipherInput::default();
    for alg in [EncryptionAlgorithm::RsaOaep, EncryptionAlgorithm::RsaOaep256, EncryptionAlgorithm::Rsa15] {
        let ciphertext = rsa.encrypt(alg, b"plaintext", &none)?.value;
        assert_eq!(ciphertext.len(), 384);
        assert_eq!(rsa.decrypt(alg, &ciphertext, &none)?.as_slice(), b"plaintext");
        let wrapped = rsa.wrap(alg, &[9u8; 32])?;
        assert_eq!(rsa.unwrap_key(alg, &wrapped)?.as_slice(), &[9u8; 32]);
    }
    assert!(rsa.encrypt(EncryptionAlgorithm::RsaOaep256, &[0u8; 400], &none).is_err(), "too long");
    assert!(rsa.decrypt(EncryptionAlgorithm::RsaOaep, &[1u8; 384], &none).is_err());
    assert!(rsa.encrypt(EncryptionAlgorithm::parse("A256GCM")?, b"x", &none).is_err(), "AES with RSA");
    Ok(())
}

#[test]
fn aes_keys_encrypt_in_every_mode_and_wrap_at_every_size() -> Result<()> {
    for bits in [128, 192, 256] {
        let aes = key(KeyType::OctHsm, Some(bits), None)?;
        assert_eq!(aes.size_bits()?, bits as usize);
        assert_eq!(aes.public_jwk()?, PublicJwk::default(), "nothing of an AES key is public");
        let gcm = EncryptionAlgorithm::parse(&format!("A{bits}GCM"))?;
        let sealed = aes.encrypt(gcm, b"plaintext", &CipherInput { aad: Some(b"context"), ..Default::default() })?;
        let (iv, tag) = (sealed.iv.clone().unwrap_or_default(), sealed.tag.clone().unwrap_or_default());
        assert_eq!((iv.len(), tag.len()), (12, 16));
        let opened = CipherInput { iv: Some(&iv), aad: Some(b"context"), tag: Some(&tag) };
        assert_eq!(aes.decrypt(gcm, &sealed.value, &opened)?.as_slice(), b"plaintext");
        let wrong_aad = CipherInput { aad: Some(b"other"), ..opened };
        assert!(aes.decrypt(gcm, &sealed.value, &wrong_aad).is_err(), "the tag covers the aad");

        let iv = [3u8; 16];
        let with_iv = CipherInput { iv: Some(&iv), ..Default::default() };
        let cbc = EncryptionAlgorithm::parse(&format!("A{bits}CBC"))?;
        let block = aes.encrypt(cbc, &[5u8; 32], &with_iv)?;
        assert_eq!(block.value.len(), 32);
        assert_eq!(aes.decrypt(cbc, &block.value, &with_iv)?.as_slice(), &[5u8; 32]);
        assert!(aes.encrypt(cbc, b"not a block", &with_iv).is_err());
        let cbcpad = EncryptionAlgorithm::parse(&format!("A{bits}CBCPAD"))?;
        let padded = aes.encrypt(cbcpad, b"eleven byte", &with_iv)?;
        assert_eq!(padded.value.len(), 16);
        assert_eq!(aes.decrypt(cbcpad, &padded.value, &with_iv)?.as_slice(), b"eleven byte");

        let kw = EncryptionAlgorithm::parse(&format!("A{bits}KW"))?;
        let wrapped = aes.wrap(kw, &[7u8; 32])?;
        assert_eq!(wrapped.len(), 40);
        assert_eq!(aes.unwrap_key(kw, &wrapped)?.as_slice(), &[7u8; 32]);
        assert!(aes.encrypt(kw, &[7u8; 32], &with_iv).is_err(), "KW is for wrapKey");
        assert!(aes.wrap(gcm, &[7u8; 32]).is_err(), "GCM is for encrypt");
        let restored = PrivateKey::from_material(KeyType::OctHsm, None, aes.material())?;
        assert_eq!(restored.unwrap_key(kw, &wrapped)?.as_slice(), &[7u8; 32]);
    }
    let aes128 = key(KeyType::Oct, Some(128), None)?;
    assert!(aes128.encrypt(EncryptionAlgorithm::parse("A256GCM")?, b"x", &CipherInput::default()).is_err());
    assert!(aes128.sign(SignatureAlgorithm::Rs256, &[0u8; 32]).is_err());
    Ok(())
}

#[test]
fn rfc_3394_key_wrap_gives_the_published_answer() -> Result<()> {
    // RFC 3394 §4.1: 128 bits of key data wrapped with a 128-bit KEK.
    let kek: Vec<u8> = (0u8..16).collect();
    let data: Vec<u8> = (0u8..16).map(|i| i * 0x11).collect();
    let jwk = PrivateJwk { kty: "oct".into(), k: Some(URL_SAFE_NO_PAD.encode(&kek)), ..PrivateJwk::default() };
    let wrapped = PrivateKey::import(&jwk, false)?.wrap(EncryptionAlgorithm::parse("A128KW")?, &data)?;
    let expected = [
        0x1F, 0xA6, 0x8B, 0x0A, 0x81, 0x12, 0xB4, 0x47, 0xAE, 0xF3, 0x4B, 0xD8, 0xFB, 0x5A, 0x7B, 0x82, 0x9D, 0x3E,
        0x86, 0x23, 0x71, 0xD2, 0xCF, 0xE5,
    ];
    assert_eq!(wrapped, expected);
    Ok(())
}

#[test]
fn algorithm_names_round_trip() -> Result<()> {
    for name in ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5", "A128GCM", "A192CBC", "A256CBCPAD", "A192KW"] {
        assert_eq!(EncryptionAlgorithm::parse(name)?.to_string(), name);
    }
    for bad in ["A512GCM", "A128", "A128XTS", "RSA-OAEP-384", "Aé12GCM"] {
        assert!(EncryptionAlgorithm::parse(bad).is_err(), "{bad}");
    }
    Ok(())
}

#[test]
fn imports_refuse_inconsistent_or_incomplete_keys() -> Result<()> {
    let public = key(KeyType::Ec, None, Some(Curve::P256))?.public_jwk()?;
    // A private scalar that is not the point's.
    let mismatched = PrivateJwk {
        kty: "EC".into(),
        crv: Some("P-256".into()),
        x: public.x.clone(),
        y: public.y.clone(),
        d: Some(URL_SAFE_NO_PAD.encode([7u8; 32])),
        ..PrivateJwk::default()
    };
    assert!(PrivateKey::import(&mismatched, false).is_err());
    let incomplete = PrivateJwk { kty: "RSA".into(), n: Some("AQAB".into()), ..PrivateJwk::default() };
    assert!(PrivateKey::import(&incomplete, true).is_err());
    Ok(())
}

#[test]
fn bad_specifications_are_refused() {
    let spec = |kty, size, public_exponent, curve| KeySpec { kty, size, public_exponent, curve };
    assert!(PrivateKey::generate(&spec(KeyType::Rsa, Some(1024), None, None)).is_err());
    assert!(PrivateKey::generate(&spec(KeyType::Rsa, None, Some(3), None)).is_err());
    assert!(PrivateKey::generate(&spec(KeyType::Ec, Some(256), None, None)).is_err());
    assert!(PrivateKey::generate(&spec(KeyType::Oct, Some(512), None, None)).is_err());
    assert!(KeyType::parse("OKP").is_err() && Curve::parse("P-192").is_err());
    assert!(SignatureAlgorithm::parse("HS256").is_err());
}

#[test]
fn an_exponent_of_zero_is_the_default() -> Result<()> {
    let key = PrivateKey::generate(&KeySpec { kty: KeyType::Rsa, size: None, public_exponent: Some(0), curve: None })?;
    assert_eq!(key.public_jwk()?.e.as_deref(), Some("AQAB"));
    Ok(())
}
