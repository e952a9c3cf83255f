use super::*;

type TestResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const NOW: i64 = 1_700_000_000;
const ROOT: &[u8] = b"the HSM's root secret, 32 bytes!";

fn self_signed(key: &PrivateKey, name: &str) -> TestResult<Vec<u8>> {
    let subject = Subject {
        name: format!("CN={name}"),
        dns_names: vec![],
        emails: vec![],
        upns: vec![],
        uris: vec![],
        ips: vec![],
        ekus: vec![],
        key_usage: vec![],
        validity_months: 12,
    };
    Ok(subject.self_signed(key, NOW)?)
}

/// An operator's wrapping key: a self-signed RSA certificate and its private key.
fn wrapping_key(index: usize) -> TestResult<(WrappingCertificate, PrivateKey)> {
    let key =
        PrivateKey::generate(&KeySpec { kty: KeyType::Rsa, size: Some(2048), public_exponent: None, curve: None })?;
    let der = self_signed(&key, &format!("operator {index}"))?;
    Ok((WrappingCertificate::from_der(&der, index)?, key))
}

fn operators(n: usize) -> TestResult<Vec<(WrappingCertificate, PrivateKey)>> {
    (0..n).map(wrapping_key).collect()
}

fn certificates(keys: &[(WrappingCertificate, PrivateKey)]) -> Vec<WrappingCertificate> {
    keys.iter().map(|(certificate, _)| certificate.clone()).collect()
}

#[test]
fn any_quorum_of_the_operators_brings_the_root_secret_back_through_the_transfer_key() -> TestResult {
    let keys = operators(4)?;
    let domain = download(ROOT, &certificates(&keys), 3)?;
    let transfer = TransferKey::generate(NOW)?;
    for chosen in [[0, 1, 2], [1, 2, 3], [0, 2, 3], [3, 1, 0]] {
        let quorum: Vec<_> = chosen.iter().map(|&i| keys[i].clone()).collect();
        let blob = restore_blob(&domain, &quorum, transfer.certificate())?;
        assert_eq!(upload(&blob, &transfer)?.as_slice(), ROOT);
    }
    // The transfer key survives being stored.
    let stored = TransferKey::from_parts(transfer.pkcs8(), transfer.certificate().der())?;
    let blob = restore_blob(&domain, &keys, stored.certificate())?;
    assert_eq!(upload(&blob, &stored)?.as_slice(), ROOT);
    Ok(())
}

#[test]
fn one_share_short_of_the_quorum_is_refused_and_interpolating_it_anyway_opens_nothing() -> TestResult {
    let keys = operators(3)?;
    let domain = download(ROOT, &certificates(&keys), 3)?;
    let transfer = TransferKey::generate(NOW)?;
    assert_eq!(
        restore_blob(&domain, &keys[..2], transfer.certificate()).err(),
        Some(SecurityDomainError::NotEnoughShares { opened: 2, required: 3 })
    );
    // Two shares taken as if two were enough give a wrong master key, which fails the data's integrity check.
    let file: SecurityDomainFile = serde_json::from_str(&domain)?;
    let mut shares = Vec::new();
    for (certificate, key) in &keys[..2] {
        let sealed = file.shared_keys.enc_shares.iter().find(|s| s.x5t_256 == certificate.thumbprint_sha256());
        shares.push(open_sealed(&sealed.ok_or("no share")?.enc_key, key)?);
    }
    let wrong = combine(&shares, 2)?;
    assert_eq!(open_data(&wrong, &file.enc_data).err(), Some(SecurityDomainError::Tampered));
    Ok(())
}

#[test]
fn a_changed_blob_or_one_for_another_transfer_key_is_refused() -> TestResult {
    let keys = operators(3)?;
    let domain = download(ROOT, &certificates(&keys), 2)?;
    let transfer = TransferKey::generate(NOW)?;
    let blob = restore_blob(&domain, &keys, transfer.certificate())?;
    let refusal = |blob: &RestoreBlob, key: &TransferKey| -> TestResult<Option<SecurityDomainError>> {
        Ok(upload(&serde_json::to_string(blob)?, key).err())
    };

    // One character of the sealed root secret's ciphertext changed.
    let mut changed: RestoreBlob = serde_json::from_str(&blob)?;
    let jwe = &mut changed.enc_data.data[0].compact_jwe;
    let at = jwe.rfind('.').ok_or("not compact")? - 3;
    let flipped = if jwe.as_bytes()[at] == b'A' { "B" } else { "A" };
    jwe.replace_range(at..=at, flipped);
    assert_eq!(refusal(&changed, &transfer)?, Some(SecurityDomainError::Tampered));

    // The wrapped master key's RSA part changed.
    let mut changed: RestoreBlob = serde_json::from_str(&blob)?;
    let mut parts: Vec<String> = changed.wrapped_key.enc_key.split('.').map(str::to_owned).collect();
    let mut encrypted_key = URL_SAFE_NO_PAD.decode(&parts[1])?;
    encrypted_key[10] ^= 1;
    parts[1] = URL_SAFE_NO_PAD.encode(encrypted_key);
    changed.wrapped_key.enc_key = parts.join(".");
    assert_eq!(refusal(&changed, &transfer)?, Some(SecurityDomainError::WrongKey));

    // A blob for another HSM's transfer key, whether or not it claims to be for this one.
    let other = TransferKey::generate(NOW)?;
    assert_eq!(upload(&blob, &other).err(), Some(SecurityDomainError::WrongKey));
    let mut relabelled: RestoreBlob = serde_json::from_str(&blob)?;
    relabelled.wrapped_key.x5t_256 = other.certificate().thumbprint_sha256();
    assert_eq!(refusal(&relabelled, &other)?, Some(SecurityDomainError::WrongKey));

    // Not a blob at all.
    assert!(matches!(upload("{}", &transfer), Err(SecurityDomainError::Malformed(_))));
    assert!(matches!(upload(&domain, &transfer), Err(SecurityDomainError::Malformed(_))));
    Ok(())
}

#[test]
fn downloads_take_three_to_ten_rsa_certificates_and_a_quorum_from_two_to_their_number() -> TestResult {
    let certificates = certificates(&operators(3)?);
    let quorum = |certificates: usize, required: usize| Some(SecurityDomainError::Quorum { certificates, required });
    assert_eq!(download(ROOT, &certificates[..2], 2).err(), quorum(2, 2));
    assert_eq!(download(ROOT, &certificates, 1).err(), quorum(3, 1));
    assert_eq!(download(ROOT, &certificates, 4).err(), quorum(3, 4));
    let eleven: Vec<_> = certificates.iter().cycle().take(11).cloned().collect();
    assert_eq!(download(ROOT, &eleven, 2).err(), quorum(11, 2));

    let ec = PrivateKey::generate(&KeySpec { kty: KeyType::Ec, size: None, public_exponent: None, curve: None })?;
    let ec_certificate = self_signed(&ec, "ec")?;
    assert!(matches!(
        WrappingCertificate::from_der(&ec_certificate, 4),
        Err(SecurityDomainError::Certificate { index: 4, .. })
    ));
    assert!(matches!(WrappingCertificate::from_der(b"nope", 0), Err(SecurityDomainError::Certificate { .. })));
    Ok(())
}

#[test]
fn shares_are_words_of_share_number_and_value_that_any_quorum_interpolates() -> TestResult {
    let secret: Vec<u8> = (0..=255).collect();
    let shares = split(&secret, 5, 3)?;
    for (x, share) in (1u16..).zip(&shares) {
        assert_eq!(share.len(), secret.len() * 2);
        for word in share.chunks(2).map(|w| u16::from_le_bytes([w[0], w[1]])) {
            assert_eq!(word >> 9, x);
            assert!(u32::from(word & 0x1ff) < FIELD);
        }
    }
    for chosen in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
        let quorum: Vec<_> = chosen.iter().map(|&i| shares[i].clone()).collect();
        assert_eq!(combine(&quorum, 3)?.as_slice(), secret.as_slice());
    }
    let twice = vec![shares[0].clone(), shares[0].clone(), shares[1].clone()];
    assert!(matches!(combine(&twice, 3), Err(SecurityDomainError::Malformed(_))));
    Ok(())
}

#[test]
fn the_key_derivation_matches_the_clis() {
    // KDF.sp800_108(bytes(range(32)), 'strongroom-hsm-root-secret', '', 512), computed with the CLI's own code.
    let master: Vec<u8> = (0..32).collect();
    assert_eq!(
        derive_key(&master, ROOT_SECRET_TAG).iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "00f17879229baa4a053c72f37033ed28aa8a203cee423546016798aa030d1750\
         3c5ff4a6d24f467f492e90ab13b921e9311389fc04c088de99b8e637183ac27d"
    );
}

#[test]
fn the_transfer_key_is_the_json_web_key_the_cli_reads_its_certificate_from() -> TestResult {
    let transfer = TransferKey::generate(NOW)?;
    let jwk: serde_json::Value = serde_json::from_str(&transfer.jwk()?)?;
    let x5c = STANDARD.decode(jwk["x5c"][0].as_str().ok_or("no x5c")?)?;
    assert_eq!(x5c, transfer.certificate().der());
    assert_eq!(jwk["x5t#S256"], transfer.certificate().thumbprint_sha256());
    assert_eq!(jwk["kty"], "RSA");
    assert!(jwk.get("d").is_none());
    Ok(())
}
