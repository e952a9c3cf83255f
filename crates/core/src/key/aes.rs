//! AES in Key Vault's modes.

use aes_kw::{KekAes128, KekAes192, KekAes256};
use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use zeroize::Zeroizing;

use super::{AesMode, Encrypted, failed, undecryptable};
use crate::error::{Error, Result};

const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;
const BLOCK_LEN: usize = 16;

fn gcm_key(key: &[u8]) -> Result<LessSafeKey> {
    let algorithm = match key.len() {
        16 => &aead::AES_128_GCM,
        24 => &aead::AES_192_GCM,
        _ => &aead::AES_256_GCM,
    };
    Ok(LessSafeKey::new(UnboundKey::new(algorithm, key).map_err(|_| failed("reading the key"))?))
}

fn cipher_key(key: &[u8]) -> Result<UnboundCipherKey> {
    let algorithm = match key.len() {
        16 => &cipher::AES_128,
        24 => &cipher::AES_192,
        _ => &cipher::AES_256,
    };
    UnboundCipherKey::new(algorithm, key).map_err(|_| failed("reading the key"))
}

fn cbc_iv(iv: Option<&[u8]>) -> Result<FixedLength<BLOCK_LEN>> {
    let iv = iv.ok_or_else(|| Error::invalid_input("AES-CBC needs an initialisation vector 'iv'."))?;
    FixedLength::try_from(iv).map_err(|_| Error::invalid_input("The AES-CBC 'iv' is 16 bytes."))
}

pub(super) fn encrypt(
    key: &[u8],
    mode: AesMode,
    plaintext: &[u8],
    input: &super::CipherInput<'_>,
) -> Result<Encrypted> {
    match mode {
        AesMode::Gcm => {
            if input.iv.is_some() {
                return Err(Error::invalid_input("AES-GCM makes its own initialisation vector; send no 'iv'."));
            }
            let mut iv = [0u8; GCM_IV_LEN];
            aws_lc_rs::rand::fill(&mut iv).map_err(|_| failed("making an IV"))?;
            let mut out = plaintext.to_vec();
            let tag = gcm_key(key)?
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(iv),
                    Aad::from(input.aad.unwrap_or_default()),
                    &mut out,
                )
                .map_err(|_| failed("encrypting"))?;
            Ok(Encrypted { value: out, iv: Some(iv.to_vec()), tag: Some(tag.as_ref().to_vec()) })
        }
        AesMode::Cbc | AesMode::CbcPad => {
            let iv = cbc_iv(input.iv)?;
            let iv_bytes = iv.as_ref().to_vec();
            let mut out = plaintext.to_vec();
            if mode == AesMode::Cbc {
                if out.is_empty() || !out.len().is_multiple_of(BLOCK_LEN) {
                    return Err(Error::invalid_input(
                        "AES-CBC without padding encrypts whole 16-byte blocks; use CBCPAD for other lengths.",
                    ));
                }
                EncryptingKey::cbc(cipher_key(key)?)
                    .and_then(|k| k.less_safe_encrypt(&mut out, EncryptionContext::Iv128(iv)))
                    .map_err(|_| failed("encrypting"))?;
            } else {
                PaddedBlockEncryptingKey::cbc_pkcs7(cipher_key(key)?)
                    .and_then(|k| k.less_safe_encrypt(&mut out, EncryptionContext::Iv128(iv)))
                    .map_err(|_| failed("encrypting"))?;
            }
            Ok(Encrypted { value: out, iv: Some(iv_bytes), tag: None })
        }
        AesMode::Kw => Err(failed("key wrap is not encryption")),
    }
}

pub(super) fn decrypt(
    key: &[u8],
    mode: AesMode,
    ciphertext: &[u8],
    input: &super::CipherInput<'_>,
) -> Result<Zeroizing<Vec<u8>>> {
    match mode {
        AesMode::Gcm => {
            let iv = input.iv.ok_or_else(|| Error::invalid_input("AES-GCM decryption needs the 'iv'."))?;
            let nonce = Nonce::try_assume_unique_for_key(iv)
                .map_err(|_| Error::invalid_input("The AES-GCM 'iv' is 12 bytes."))?;
            let tag = input.tag.ok_or_else(|| Error::invalid_input("AES-GCM decryption needs the 'tag'."))?;
            if tag.len() != GCM_TAG_LEN {
                return Err(Error::invalid_input("The AES-GCM 'tag' is 16 bytes."));
            }
            let mut buffer = Zeroizing::new([ciphertext, tag].concat());
            let len = gcm_key(key)?
                .open_in_place(nonce, Aad::from(input.aad.unwrap_or_default()), &mut buffer)
                .map_err(|_| undecryptable())?
                .len();
            buffer.truncate(len);
            Ok(buffer)
        }
        AesMode::Cbc | AesMode::CbcPad => {
            let iv = cbc_iv(input.iv)?;
            let mut buffer = Zeroizing::new(ciphertext.to_vec());
            if buffer.is_empty() || !buffer.len().is_multiple_of(BLOCK_LEN) {
                return Err(undecryptable());
            }
            let len = if mode == AesMode::Cbc {
                DecryptingKey::cbc(cipher_key(key)?)
                    .and_then(|k| k.decrypt(&mut buffer, DecryptionContext::Iv128(iv)).map(|plain| plain.len()))
            } else {
                PaddedBlockDecryptingKey::cbc_pkcs7(cipher_key(key)?)
                    .and_then(|k| k.decrypt(&mut buffer, DecryptionContext::Iv128(iv)).map(|plain| plain.len()))
            }
            .map_err(|_| undecryptable())?;
            buffer.truncate(len);
            Ok(buffer)
        }
        AesMode::Kw => Err(failed("key unwrap is not decryption")),
    }
}

/// RFC 3394 key wrap: the key to wrap is a whole number of 8-byte blocks, at least two.
pub(super) fn wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>> {
    if key.len() < 16 || !key.len().is_multiple_of(8) {
        return Err(Error::invalid_input("AES key wrap wraps keys of 16 bytes or more, in 8-byte steps."));
    }
    let wrapped = match kek.len() {
        16 => KekAes128::try_from(kek).map_err(|_| failed("reading the key"))?.wrap_vec(key),
        24 => KekAes192::try_from(kek).map_err(|_| failed("reading the key"))?.wrap_vec(key),
        _ => KekAes256::try_from(kek).map_err(|_| failed("reading the key"))?.wrap_vec(key),
    };
    wrapped.map_err(|_| failed("wrapping"))
}

/// RFC 3394 key unwrap; the integrity check failing is a refusal like any undecryptable input.
pub(super) fn unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let unwrapped = match kek.len() {
        16 => KekAes128::try_from(kek).map_err(|_| failed("reading the key"))?.unwrap_vec(wrapped),
        24 => KekAes192::try_from(kek).map_err(|_| failed("reading the key"))?.unwrap_vec(wrapped),
        _ => KekAes256::try_from(kek).map_err(|_| failed("reading the key"))?.unwrap_vec(wrapped),
    };
    unwrapped.map(Zeroizing::new).map_err(|_| undecryptable())
}
