//! Every `KeyClient` method. What the server encrypts, signs and wraps is checked with OpenSSL (a second
//! implementation: the server's is aws-lc), and the reverse.

use crate::ensure;
use crate::witness::{Failure, Outcome, Witness, error_codes, expect_refusal, unique_name, wait_for};
use azure_security_keyvault_keys::{
    KeyClient, ResourceExt,
    models::{
        CreateKeyParameters, CurveName, EncryptionAlgorithm, GetRandomBytesParameters, ImportKeyParameters, JsonWebKey,
        Key, KeyClientEncryptOptions, KeyClientGetKeyAttestationOptions, KeyClientGetKeyOptions, KeyClientSignOptions,
        KeyClientWrapKeyOptions, KeyOperationParameters, KeyRotationPolicy, KeyRotationPolicyAction,
        KeyRotationPolicyAttributes, KeyType, LifetimeAction, LifetimeActionTrigger, LifetimeActionType,
        ReleaseParameters, RestoreKeyParameters, SignParameters, SignatureAlgorithm, UpdateKeyPropertiesParameters,
        VerifyParameters,
    },
};
use futures::TryStreamExt;
use openssl::{
    aes::{AesKey, unwrap_key, wrap_key},
    bn::BigNum,
    ec::{EcGroup, EcKey},
    ecdsa::EcdsaSig,
    encrypt::{Decrypter, Encrypter},
    hash::{MessageDigest, hash},
    nid::Nid,
    pkey::{PKey, Private, Public},
    rand::rand_bytes,
    rsa::{Padding, Rsa},
    sign::{RsaPssSaltlen, Verifier},
    symm::{Cipher, decrypt_aead},
};
use std::{collections::HashMap, sync::Arc};

async fn create_key(client: &KeyClient, name: &str, parameters: CreateKeyParameters) -> Result<Key, Failure> {
    Ok(client.create_key(name, parameters.try_into()?, None).await?.into_model()?)
}

fn jwk(key: &Key) -> Result<&JsonWebKey, Failure> {
    Ok(key.key.as_ref().ok_or("no key in the answer")?)
}

fn version_of(key: &Key) -> Result<String, Failure> {
    Ok(key.resource_id()?.version.ok_or("the key's id has no version")?)
}

fn rsa_public_key(key: &JsonWebKey) -> Result<PKey<Public>, Failure> {
    let n = BigNum::from_slice(key.n.as_deref().ok_or("no n")?)?;
    let e = BigNum::from_slice(key.e.as_deref().ok_or("no e")?)?;
    Ok(PKey::from_rsa(Rsa::from_public_components(n, e)?)?)
}

/// The OpenSSL padding and OAEP digest of a Key Vault RSA encryption algorithm.
fn rsa_padding(algorithm: &EncryptionAlgorithm) -> (Padding, Option<MessageDigest>) {
    match algorithm {
        EncryptionAlgorithm::RsaOaep => (Padding::PKCS1_OAEP, Some(MessageDigest::sha1())),
        EncryptionAlgorithm::RsaOaep256 => (Padding::PKCS1_OAEP, Some(MessageDigest::sha256())),
        _ => (Padding::PKCS1, None),
    }
}

fn rsa_encrypt(public: &PKey<Public>, algorithm: &EncryptionAlgorithm, plaintext: &[u8]) -> Result<Vec<u8>, Failure> {
    let (padding, digest) = rsa_padding(algorithm);
    let mut encrypter = Encrypter::new(public)?;
    encrypter.set_rsa_padding(padding)?;
    if let Some(digest) = digest {
        encrypter.set_rsa_oaep_md(digest)?;
        encrypter.set_rsa_mgf1_md(digest)?;
    }
    let mut ciphertext = vec![0; encrypter.encrypt_len(plaintext)?];
    let length = encrypter.encrypt(plaintext, &mut ciphertext)?;
    ciphertext.truncate(length);
    Ok(ciphertext)
}

fn rsa_decrypt(
    private: &PKey<Private>,
    algorithm: &EncryptionAlgorithm,
    ciphertext: &[u8],
) -> Result<Vec<u8>, Failure> {
    let (padding, digest) = rsa_padding(algorithm);
    let mut decrypter = Decrypter::new(private)?;
    decrypter.set_rsa_padding(padding)?;
    if let Some(digest) = digest {
        decrypter.set_rsa_oaep_md(digest)?;
        decrypter.set_rsa_mgf1_md(digest)?;
    }
    let mut plaintext = vec![0; decrypter.decrypt_len(ciphertext)?];
    let length = decrypter.decrypt(ciphertext, &mut plaintext)?;
    plaintext.truncate(length);
    Ok(plaintext)
}

fn operation(algorithm: EncryptionAlgorithm, value: &[u8]) -> KeyOperationParameters {
    KeyOperationParameters { algorithm: Some(algorithm), value: Some(value.to_vec()), ..Default::default() }
}

fn with_version<T: Default>(set: impl FnOnce(&mut T)) -> Option<T> {
    let mut options = T::default();
    set(&mut options);
    Some(options)
}

/// RSA: OpenSSL's ciphertexts (RSA-OAEP, RSA-OAEP-256 and RSA1_5, which the crate's enum does not name and is
/// sent as `UnknownValue`) decrypt on the server; the server's RS256 and PS256 signatures verify with OpenSSL;
/// the server verifies its own and refuses a tampered one; wrap/unwrap both ways.
pub async fn rsa_key_operations_agree_with_openssl(witness: Arc<Witness>) -> Outcome {
    let client = witness.keys()?;
    let name = unique_name("rust-rsa");
    let key = create_key(
        &client,
        &name,
        CreateKeyParameters { kty: Some(KeyType::Rsa), key_size: Some(2048), ..Default::default() },
    )
    .await?;
    let public = rsa_public_key(jwk(&key)?)?;
    let version = version_of(&key)?;
    let plaintext = b"the witness's plaintext";

    for algorithm in [
        EncryptionAlgorithm::RsaOaep,
        EncryptionAlgorithm::RsaOaep256,
        EncryptionAlgorithm::UnknownValue("RSA1_5".to_string()),
    ] {
        let ciphertext = rsa_encrypt(&public, &algorithm, plaintext)?;
        let decrypted = client
            .decrypt(&name, &version, operation(algorithm.clone(), &ciphertext).try_into()?, None)
            .await?
            .into_model()?;
        ensure!(
            decrypted.result.as_deref() == Some(&plaintext[..]),
            "{algorithm}: the server did not decrypt what OpenSSL encrypted"
        );
        let encrypted = client
            .encrypt(
                &name,
                operation(algorithm.clone(), plaintext).try_into()?,
                with_version(|o: &mut KeyClientEncryptOptions| o.key_version = Some(version.clone())),
            )
            .await?
            .into_model()?;
        let round_trip = client
            .decrypt(&name, "", operation(algorithm.clone(), &encrypted.result.unwrap_or_default()).try_into()?, None)
            .await?
            .into_model()?;
        ensure!(round_trip.result.as_deref() == Some(&plaintext[..]), "{algorithm}: round trip");
    }

    let digest = hash(MessageDigest::sha256(), plaintext)?.to_vec();
    let sign =
        |algorithm: SignatureAlgorithm| SignParameters { algorithm: Some(algorithm), value: Some(digest.clone()) };
    let rs256 = client
        .sign(
            &name,
            sign(SignatureAlgorithm::Rs256).try_into()?,
            with_version(|o: &mut KeyClientSignOptions| o.key_version = Some(version.clone())),
        )
        .await?
        .into_model()?
        .result
        .ok_or("RS256: no signature")?;
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public)?;
    ensure!(verifier.verify_oneshot(&rs256, plaintext)?, "RS256: OpenSSL does not verify the server's signature");
    let ps256 = client
        .sign(&name, sign(SignatureAlgorithm::Ps256).try_into()?, None)
        .await?
        .into_model()?
        .result
        .ok_or("PS256: no signature")?;
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public)?;
    verifier.set_rsa_padding(Padding::PKCS1_PSS)?;
    verifier.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
    verifier.set_rsa_mgf1_md(MessageDigest::sha256())?;
    ensure!(verifier.verify_oneshot(&ps256, plaintext)?, "PS256: OpenSSL does not verify the server's signature");

    let verify = |signature: Vec<u8>| VerifyParameters {
        algorithm: Some(SignatureAlgorithm::Rs256),
        digest: Some(digest.clone()),
        signature: Some(signature),
    };
    let verified = client.verify(&name, &version, verify(rs256.clone()).try_into()?, None).await?.into_model()?;
    ensure!(verified.value == Some(true), "the server does not verify its own signature");
    let mut tampered = rs256;
    tampered[0] ^= 1;
    let verified = client.verify(&name, &version, verify(tampered).try_into()?, None).await?.into_model()?;
    ensure!(verified.value == Some(false), "a tampered signature verified");

    let mut content_key = [0u8; 32];
    rand_bytes(&mut content_key)?;
    let wrapped = rsa_encrypt(&public, &EncryptionAlgorithm::RsaOaep256, &content_key)?;
    let unwrapped = client
        .unwrap_key(&name, &version, operation(EncryptionAlgorithm::RsaOaep256, &wrapped).try_into()?, None)
        .await?
        .into_model()?;
    ensure!(unwrapped.result.as_deref() == Some(&content_key[..]), "unwrap of a key OpenSSL wrapped");
    let server_wrapped = client
        .wrap_key(
            &name,
            operation(EncryptionAlgorithm::RsaOaep256, &content_key).try_into()?,
            with_version(|o: &mut KeyClientWrapKeyOptions| o.key_version = Some(version.clone())),
        )
        .await?
        .into_model()?;
    let unwrapped = client
        .unwrap_key(
            &name,
            "",
            operation(EncryptionAlgorithm::RsaOaep256, &server_wrapped.result.unwrap_or_default()).try_into()?,
            None,
        )
        .await?
        .into_model()?;
    ensure!(unwrapped.result.as_deref() == Some(&content_key[..]), "wrap and unwrap");
    Ok(())
}

/// EC: the server's signatures, in JWS's r‖s form, verify with OpenSSL's ECDSA on each curve.
pub async fn ec_signatures_verify_with_openssl(witness: Arc<Witness>) -> Outcome {
    let client = witness.keys()?;
    let cases = [
        (CurveName::P256, Nid::X9_62_PRIME256V1, SignatureAlgorithm::Es256, MessageDigest::sha256()),
        (CurveName::P256K, Nid::SECP256K1, SignatureAlgorithm::Es256K, MessageDigest::sha256()),
        (CurveName::P384, Nid::SECP384R1, SignatureAlgorithm::Es384, MessageDigest::sha384()),
        (CurveName::P521, Nid::SECP521R1, SignatureAlgorithm::Es512, MessageDigest::sha512()),
    ];
    for (curve, nid, algorithm, digest) in cases {
        let name = unique_name("rust-ec");
        let key = create_key(
            &client,
            &name,
            CreateKeyParameters { kty: Some(KeyType::Ec), curve: Some(curve.clone()), ..Default::default() },
        )
        .await?;
        let jwk = jwk(&key)?;
        let group = EcGroup::from_curve_name(nid)?;
        let x = BigNum::from_slice(jwk.x.as_deref().ok_or("no x")?)?;
        let y = BigNum::from_slice(jwk.y.as_deref().ok_or("no y")?)?;
        let public = EcKey::from_public_key_affine_coordinates(&group, &x, &y)?;
        public.check_key()?;
        let digest = hash(digest, b"signed by the vault")?.to_vec();
        let signature = client
            .sign(
                &name,
                SignParameters { algorithm: Some(algorithm.clone()), value: Some(digest.clone()) }.try_into()?,
                None,
            )
            .await?
            .into_model()?
            .result
            .ok_or("no signature")?;
        let half = signature.len() / 2;
        let signature = EcdsaSig::from_private_components(
            BigNum::from_slice(&signature[..half])?,
            BigNum::from_slice(&signature[half..])?,
        )?;
        ensure!(signature.verify(&digest, &public)?, "{algorithm}: OpenSSL does not verify the server's signature");
    }
    Ok(())
}

/// oct (AES): a vault refuses it as Key Vault does; in a Managed HSM, A256GCM with aad and A256KW round trips
/// on a generated key, whose material never leaves the HSM, and on an imported key, the server's GCM
/// ciphertext and key wrap checked with OpenSSL.
pub async fn aes_key_operations(witness: Arc<Witness>) -> Outcome {
    let generated = unique_name("rust-aes");
    let aes = CreateKeyParameters { kty: Some(KeyType::Oct), key_size: Some(256), ..Default::default() };
    let refused = witness.keys()?.create_key(&generated, aes.try_into()?, None).await;
    let body = expect_refusal(refused, 400, "an AES key in a vault")?;
    ensure!(error_codes(&body) == ("BadParameter", "KeyTypeNotSupported"), "an AES key in a vault: {body}");
    let client = witness.hsm_keys()?;
    let key = create_key(
        &client,
        &generated,
        CreateKeyParameters { kty: Some(KeyType::Oct), key_size: Some(256), ..Default::default() },
    )
    .await?;
    ensure!(jwk(&key)?.k.is_none(), "the AES key's material was returned");
    ensure!(jwk(&key)?.kty == Some(KeyType::OctHsm), "every key of an HSM is a hardware key");

    let mut material = [0u8; 32];
    rand_bytes(&mut material)?;
    let imported = unique_name("rust-aes-imported");
    client
        .import_key(
            &imported,
            ImportKeyParameters {
                key: Some(JsonWebKey { kty: Some(KeyType::Oct), k: Some(material.to_vec()), ..Default::default() }),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?;

    let plaintext = b"sealed with AES-256-GCM";
    let aad = b"aad";
    for name in [&generated, &imported] {
        let encrypted = client
            .encrypt(
                name,
                KeyOperationParameters {
                    additional_authenticated_data: Some(aad.to_vec()),
                    ..operation(EncryptionAlgorithm::A256Gcm, plaintext)
                }
                .try_into()?,
                None,
            )
            .await?
            .into_model()?;
        let (ciphertext, iv, tag) = (
            encrypted.result.ok_or("no ciphertext")?,
            encrypted.iv.ok_or("no iv")?,
            encrypted.authentication_tag.ok_or("no tag")?,
        );
        if name == &imported {
            let local = decrypt_aead(Cipher::aes_256_gcm(), &material, Some(&iv), aad, &ciphertext, &tag)?;
            ensure!(local == plaintext, "OpenSSL does not decrypt the server's A256GCM");
        }
        let decrypted = client
            .decrypt(
                name,
                "",
                KeyOperationParameters {
                    iv: Some(iv),
                    authentication_tag: Some(tag),
                    additional_authenticated_data: Some(aad.to_vec()),
                    ..operation(EncryptionAlgorithm::A256Gcm, &ciphertext)
                }
                .try_into()?,
                None,
            )
            .await?
            .into_model()?;
        ensure!(decrypted.result.as_deref() == Some(&plaintext[..]), "A256GCM round trip");

        let mut content_key = [0u8; 32];
        rand_bytes(&mut content_key)?;
        let wrapped = client
            .wrap_key(name, operation(EncryptionAlgorithm::A256Kw, &content_key).try_into()?, None)
            .await?
            .into_model()?
            .result
            .ok_or("no wrapped key")?;
        if name == &imported {
            let kek = AesKey::new_decrypt(&material).map_err(|_| "an AES key of OpenSSL")?;
            let mut local = [0u8; 32];
            unwrap_key(&kek, None, &mut local, &wrapped).map_err(|_| "OpenSSL does not unwrap the server's A256KW")?;
            ensure!(local == content_key, "OpenSSL unwraps another key from the server's A256KW");
            let kek = AesKey::new_encrypt(&material).map_err(|_| "an AES key of OpenSSL")?;
            let mut ours = [0u8; 40];
            wrap_key(&kek, None, &mut ours, &content_key).map_err(|_| "OpenSSL's key wrap")?;
            ensure!(ours[..] == wrapped[..], "A256KW differs from OpenSSL's (RFC 3394 is deterministic)");
        }
        let unwrapped = client
            .unwrap_key(name, "", operation(EncryptionAlgorithm::A256Kw, &wrapped).try_into()?, None)
            .await?
            .into_model()?;
        ensure!(unwrapped.result.as_deref() == Some(&content_key[..]), "A256KW round trip");
    }
    Ok(())
}

/// An RSA key OpenSSL made, imported: OpenSSL's ciphertext decrypts on the server, the server's decrypts with
/// OpenSSL; the private half is never answered; a sign outside its key_ops is refused.
pub async fn an_imported_key_works_and_keeps_its_private_half(witness: Arc<Witness>) -> Outcome {
    let client = witness.keys()?;
    let private = Rsa::generate(2048)?;
    let name = unique_name("rust-imported");
    let part = |number: &openssl::bn::BigNumRef| Some(number.to_vec());
    let imported = client
        .import_key(
            &name,
            ImportKeyParameters {
                key: Some(JsonWebKey {
                    kty: Some(KeyType::Rsa),
                    n: part(private.n()),
                    e: part(private.e()),
                    d: part(private.d()),
                    p: private.p().and_then(part),
                    q: private.q().and_then(part),
                    dp: private.dmp1().and_then(part),
                    dq: private.dmq1().and_then(part),
                    qi: private.iqmp().and_then(part),
                    key_ops: Some(vec!["decrypt".into(), "encrypt".into()]),
                    ..Default::default()
                }),
                tags: Some(HashMap::from([("origin".to_string(), "openssl".to_string())])),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?
        .into_model()?;
    let answered = jwk(&imported)?;
    ensure!(answered.d.is_none() && answered.p.is_none() && answered.q.is_none(), "the private half was answered");
    ensure!(answered.n.as_deref() == Some(&private.n().to_vec()[..]), "the imported key's modulus differs");

    let private = PKey::from_rsa(private)?;
    let public = rsa_public_key(answered)?;
    let ciphertext = rsa_encrypt(&public, &EncryptionAlgorithm::RsaOaep256, b"imported")?;
    let decrypted = client
        .decrypt(&name, "", operation(EncryptionAlgorithm::RsaOaep256, &ciphertext).try_into()?, None)
        .await?
        .into_model()?;
    ensure!(decrypted.result.as_deref() == Some(&b"imported"[..]), "decrypt with the imported key");
    let encrypted = client
        .encrypt(&name, operation(EncryptionAlgorithm::RsaOaep, b"from the vault").try_into()?, None)
        .await?
        .into_model()?;
    let local = rsa_decrypt(&private, &EncryptionAlgorithm::RsaOaep, &encrypted.result.unwrap_or_default())?;
    ensure!(local == b"from the vault", "OpenSSL does not decrypt the server's RSA-OAEP");

    let digest = hash(MessageDigest::sha256(), b"x")?.to_vec();
    let refused = client
        .sign(
            &name,
            SignParameters { algorithm: Some(SignatureAlgorithm::Rs256), value: Some(digest) }.try_into()?,
            None,
        )
        .await;
    let body = expect_refusal(refused, 403, "a sign outside key_ops")?;
    ensure!(error_codes(&body) == ("Forbidden", "KeyOperationForbidden"), "a sign outside key_ops: {body}");
    Ok(())
}

/// The key's lifecycle: update, get by version, rotation policy, rotate, versions, list, backup, delete, get and
/// list deleted, recover, purge, restore.
pub async fn every_key_lifecycle_method(witness: Arc<Witness>) -> Outcome {
    let client = witness.keys()?;
    let name = unique_name("rust-key");
    let first =
        create_key(&client, &name, CreateKeyParameters { kty: Some(KeyType::Rsa), ..Default::default() }).await?;
    let first_version = version_of(&first)?;

    let updated = client
        .update_key_properties(
            &name,
            UpdateKeyPropertiesParameters {
                tags: Some(HashMap::from([("team".to_string(), "rust".to_string())])),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?
        .into_model()?;
    ensure!(
        updated.tags.as_ref().and_then(|tags| tags.get("team")).map(String::as_str) == Some("rust"),
        "update answered {:?}",
        updated.tags
    );
    let got = client
        .get_key(&name, with_version(|o: &mut KeyClientGetKeyOptions| o.key_version = Some(first_version.clone())))
        .await?
        .into_model()?;
    ensure!(jwk(&got)?.n == jwk(&first)?.n, "get by version answered another key");

    let action = |action, trigger: LifetimeActionTrigger| LifetimeAction {
        action: Some(LifetimeActionType { type_prop: Some(action) }),
        trigger: Some(trigger),
    };
    let policy = client
        .update_key_rotation_policy(
            &name,
            KeyRotationPolicy {
                attributes: Some(KeyRotationPolicyAttributes {
                    expiry_time: Some("P90D".into()),
                    ..Default::default()
                }),
                lifetime_actions: Some(vec![
                    action(
                        KeyRotationPolicyAction::Rotate,
                        LifetimeActionTrigger { time_after_create: Some("P30D".into()), ..Default::default() },
                    ),
                    action(
                        KeyRotationPolicyAction::Notify,
                        LifetimeActionTrigger { time_before_expiry: Some("P30D".into()), ..Default::default() },
                    ),
                ]),
                ..Default::default()
            }
            .try_into()?,
            None,
        )
        .await?
        .into_model()?;
    ensure!(
        policy.attributes.as_ref().and_then(|a| a.expiry_time.as_deref()) == Some("P90D"),
        "rotation policy answered {:?}",
        policy.attributes
    );
    let read = client.get_key_rotation_policy(&name, None).await?.into_model()?;
    ensure!(
        read.lifetime_actions.as_ref().map(Vec::len) == Some(2),
        "get rotation policy: {:?}",
        read.lifetime_actions
    );

    let rotated = client.rotate_key(&name, None).await?.into_model()?;
    ensure!(version_of(&rotated)? != first_version, "rotate made no new version");
    ensure!(
        rotated.attributes.as_ref().and_then(|a| a.expires).is_some(),
        "a version rotated under a policy with an expiry has none"
    );
    let versions: Vec<_> = client.list_key_properties_versions(&name, None)?.try_collect().await?;
    ensure!(versions.len() == 2, "expected 2 versions after rotation, listed {}", versions.len());
    let mut listed = false;
    let mut pager = client.list_key_properties(None)?;
    while let Some(properties) = pager.try_next().await? {
        listed |= properties.resource_id()?.name == name;
    }
    ensure!(listed, "{name} is not listed");

    let backup = client.backup_key(&name, None).await?.into_model()?.value.ok_or("an empty backup")?;
    let deleted = client.delete_key(&name, None).await?.into_model()?;
    ensure!(deleted.recovery_id.is_some(), "delete answered no recovery id");
    wait_for("the deleted key", || client.get_deleted_key(&name, None)).await?;
    let mut among_deleted = false;
    let mut pager = client.list_deleted_key_properties(None)?;
    while let Some(properties) = pager.try_next().await? {
        among_deleted |= properties.resource_id()?.name == name;
    }
    ensure!(among_deleted, "{name} is not among the deleted keys");
    client.recover_deleted_key(&name, None).await?;
    wait_for("the recovered key", || client.get_key(&name, None)).await?;
    client.delete_key(&name, None).await?;
    wait_for("the deleted key", || client.get_deleted_key(&name, None)).await?;
    client.purge_deleted_key(&name, None).await?;
    let body = expect_refusal(client.get_key(&name, None).await, 404, "a purged key")?;
    ensure!(error_codes(&body).0 == "KeyNotFound", "a purged key: {body}");
    let restored =
        client.restore_key(RestoreKeyParameters { key_backup: Some(backup) }.try_into()?, None).await?.into_model()?;
    ensure!(jwk(&restored)?.n == jwk(&rotated)?.n, "the restored key is not the rotated one");
    Ok(())
}

/// Random bytes; the key attestation call; and refusals: a key that is not exportable is not released,
/// whatever the token says.
pub async fn random_bytes_attestation_and_a_refused_release(witness: Arc<Witness>) -> Outcome {
    let client = witness.keys()?;
    let random =
        client.get_random_bytes(GetRandomBytesParameters { count: Some(32) }.try_into()?, None).await?.into_model()?;
    ensure!(random.value.as_ref().map(Vec::len) == Some(32), "random bytes: {:?}", random.value);

    let name = unique_name("rust-kept");
    let key = create_key(&client, &name, CreateKeyParameters { kty: Some(KeyType::Rsa), ..Default::default() }).await?;
    let version = version_of(&key)?;
    let attested = client
        .get_key_attestation(
            &name,
            with_version(|o: &mut KeyClientGetKeyAttestationOptions| o.key_version = Some(version)),
        )
        .await?
        .into_model()?;
    ensure!(jwk(&attested)?.kid == jwk(&key)?.kid, "the attestation answered another key");

    let refused = client
        .release(
            &name,
            ReleaseParameters { target_attestation_token: Some("not.an.attestation".into()), ..Default::default() }
                .try_into()?,
            None,
        )
        .await;
    let body = expect_refusal(refused, 400, "release of a key that is not exportable")?;
    ensure!(!error_codes(&body).0.is_empty(), "release: {body}");
    Ok(())
}
