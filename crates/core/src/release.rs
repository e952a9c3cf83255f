//! Secure key release: an exportable key leaves the vault only for a target whose attestation token, signed by
//! an authority the key's release policy names, carries the claims the policy asks for — and then only wrapped
//! for the target's own public key, so that nothing between the vault and the target can read it.
//!
//! The policy is Key Vault's JSON: `{"version":"1.0.0","anyOf":[{"authority":"https://…","allOf":[{"claim":
//! "x-ms-attestation-type","equals":"sevsnpvm"}]}]}`; conditions nest with `allOf`/`anyOf`, a claim name with
//! dots walks into nested objects when no claim has the dotted name itself.

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OaepAlgorithm, OaepPublicEncryptingKey,
    PublicEncryptingKey,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::assertion::IssuerKey;
use crate::error::{Error, Result};

/// How far apart two clocks may be when an attestation token's lifetime is checked.
const CLOCK_SKEW_SECONDS: u64 = 300;

/// One node of a release policy: an authority block, a group of conditions, or one claim condition.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    authority: Option<String>,
    #[serde(default)]
    all_of: Option<Vec<Rule>>,
    #[serde(default)]
    any_of: Option<Vec<Rule>>,
    #[serde(default)]
    claim: Option<String>,
    #[serde(default)]
    equals: Option<Value>,
}

/// A key release policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasePolicy {
    /// The authority blocks; any one satisfied releases the key.
    any_of: Vec<Rule>,
}

impl ReleasePolicy {
    /// The policy `json` states, checked: at least one authority block, each naming an HTTPS authority and
    /// every condition complete.
    pub fn parse(json: &[u8]) -> Result<Self> {
        let root: Rule = serde_json::from_slice(json)
            .map_err(|e| Error::invalid_input(format_args!("The release policy is not valid JSON: {e}.")))?;
        let blocks = root.any_of.unwrap_or_default();
        if blocks.is_empty() {
            return Err(Error::invalid_input("A release policy names at least one authority under anyOf."));
        }
        for block in &blocks {
            let authority = block.authority.as_deref().unwrap_or_default();
            if !authority.starts_with("https://") {
                return Err(Error::invalid_input("Each anyOf entry of a release policy names an https authority."));
            }
            check_conditions(block)?;
        }
        Ok(Self { any_of: blocks })
    }

    /// Whether the authority `issuer` is one the policy trusts.
    pub fn trusts(&self, issuer: &str) -> bool {
        self.any_of.iter().any(|b| same_authority(b.authority.as_deref().unwrap_or_default(), issuer))
    }

    /// Whether claims from `issuer` satisfy the policy.
    pub fn allows(&self, issuer: &str, claims: &Value) -> bool {
        self.any_of
            .iter()
            .any(|b| same_authority(b.authority.as_deref().unwrap_or_default(), issuer) && holds(b, claims))
    }
}

/// Whether two authority URLs name the same authority: scheme and host compared without case (DNS names have
/// none), the path exactly (a path is case-sensitive: `/Tenant-A` and `/tenant-a` may be two authorities on one
/// host); a trailing slash makes no difference.
fn same_authority(a: &str, b: &str) -> bool {
    let (a_origin, a_path) = split_authority(a);
    let (b_origin, b_path) = split_authority(b);
    a_origin.eq_ignore_ascii_case(b_origin) && a_path == b_path
}

/// `scheme://host[:port]` and the path after it, without trailing slashes.
fn split_authority(url: &str) -> (&str, &str) {
    let url = url.trim_end_matches('/');
    let host_start = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[host_start..].find('/').map_or(url.len(), |i| host_start + i);
    url.split_at(path_start)
}

fn check_conditions(rule: &Rule) -> Result<()> {
    let groups = rule.all_of.iter().chain(rule.any_of.iter()).flatten();
    let mut any = false;
    for child in groups {
        any = true;
        if child.authority.is_some() {
            return Err(Error::invalid_input("An authority is named only at the top of a release policy."));
        }
        check_conditions(child)?;
    }
    match (&rule.claim, &rule.equals) {
        (Some(_), Some(_)) => Ok(()),
        (None, None) if any || rule.authority.is_some() => Ok(()),
        _ => Err(Error::invalid_input("A release policy condition has both 'claim' and 'equals'.")),
    }
}

/// Whether `rule` holds for `claims`: its own condition, every `allOf` child and one `anyOf` child.
fn holds(rule: &Rule, claims: &Value) -> bool {
    let own = match (&rule.claim, &rule.equals) {
        (Some(claim), Some(expected)) => lookup(claims, claim) == Some(expected),
        _ => true,
    };
    let all = rule.all_of.as_ref().is_none_or(|rules| rules.iter().all(|r| holds(r, claims)));
    let any = rule.any_of.as_ref().is_none_or(|rules| rules.iter().any(|r| holds(r, claims)));
    own && all && any
}

/// A claim by name, or by a dotted path into nested objects.
fn lookup<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    name.split('.').try_fold(claims, |value, part| value.get(part))
}

/// The claims of an attestation token, once its signature by one of `keys` (the authority's), its issuer and
/// its lifetime are checked.
pub fn verify_attestation(token: &str, issuer: &str, keys: &[IssuerKey]) -> Result<Value> {
    let refused = || Error::invalid_input("The attestation token could not be verified.");
    let header = jsonwebtoken::decode_header(token).map_err(|_| refused())?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256) {
        return Err(refused());
    }
    for key in keys.iter().filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid) {
        let Ok(decoding) = DecodingKey::from_rsa_components(&key.n, &key.e) else { continue };
        let mut validation = Validation::new(header.alg);
        validation.leeway = CLOCK_SKEW_SECONDS;
        validation.set_issuer(&[issuer]);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss"]);
        if let Ok(data) = jsonwebtoken::decode::<Value>(token, &decoding, &validation) {
            return Ok(data.claims);
        }
    }
    Err(refused())
}

/// How a released key is wrapped for its target (`enc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseWrapping {
    /// `CKM_RSA_AES_KEY_WRAP`: an AES-256 key under RSA-OAEP (SHA-1), the key material under AES key wrap with
    /// padding (RFC 5649).
    RsaAesKeyWrap,
    /// `RSA_AES_KEY_WRAP_256`: the same with OAEP SHA-256.
    RsaAesKeyWrap256,
    /// `RSA_AES_KEY_WRAP_384`: the same with OAEP SHA-384.
    RsaAesKeyWrap384,
}

impl ReleaseWrapping {
    /// The wrapping named `text`; none named is `CKM_RSA_AES_KEY_WRAP`.
    pub fn parse(text: Option<&str>) -> Result<Self> {
        match text.unwrap_or("CKM_RSA_AES_KEY_WRAP") {
            "CKM_RSA_AES_KEY_WRAP" => Ok(ReleaseWrapping::RsaAesKeyWrap),
            "RSA_AES_KEY_WRAP_256" => Ok(ReleaseWrapping::RsaAesKeyWrap256),
            "RSA_AES_KEY_WRAP_384" => Ok(ReleaseWrapping::RsaAesKeyWrap384),
            other => Err(Error::invalid_input(format_args!(
                "'{other}' is not a key release wrapping: use CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 or \
                 RSA_AES_KEY_WRAP_384."
            ))),
        }
    }

    /// Key Vault's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseWrapping::RsaAesKeyWrap => "CKM_RSA_AES_KEY_WRAP",
            ReleaseWrapping::RsaAesKeyWrap256 => "RSA_AES_KEY_WRAP_256",
            ReleaseWrapping::RsaAesKeyWrap384 => "RSA_AES_KEY_WRAP_384",
        }
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            ReleaseWrapping::RsaAesKeyWrap => &OAEP_SHA1_MGF1SHA1,
            ReleaseWrapping::RsaAesKeyWrap256 => &OAEP_SHA256_MGF1SHA256,
            ReleaseWrapping::RsaAesKeyWrap384 => &OAEP_SHA384_MGF1SHA384,
        }
    }

    /// Wraps `material` for the holder of the RSA public key `(n, e)` (big-endian): a fresh AES-256 key
    /// encrypted with RSA-OAEP, followed by `material` under that key with AES key wrap with padding.
    pub fn wrap(self, n: &[u8], e: &[u8], material: &[u8]) -> Result<Vec<u8>> {
        let failed = || Error::invalid_input("The target's key cannot wrap the released key.");
        let public = PublicEncryptingKey::from_der(&subject_public_key_info(n, e)).map_err(|_| failed())?;
        let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| failed())?;
        let mut transient = zeroize::Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(transient.as_mut()).map_err(|_| failed())?;
        let mut out = vec![0u8; oaep.ciphertext_size()];
        let wrapped_key = oaep.encrypt(self.oaep(), transient.as_ref(), &mut out, None).map_err(|_| failed())?.to_vec();
        let kek = aes_kw::KekAes256::from(*transient);
        let wrapped_material = kek.wrap_with_padding_vec(material).map_err(|_| failed())?;
        Ok([wrapped_key, wrapped_material].concat())
    }
}

/// The X.509 `SubjectPublicKeyInfo` DER of the RSA public key `(n, e)`, which is how aws-lc-rs takes one.
fn subject_public_key_info(n: &[u8], e: &[u8]) -> Vec<u8> {
    let rsa_public_key = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_bigint_bytes(n, true);
            w.next().write_bigint_bytes(e, true);
        })
    });
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&yasna::models::ObjectIdentifier::from_slice(&[1, 2, 840, 113_549, 1, 1, 1]));
                w.next().write_null();
            });
            w.next().write_bitvec_bytes(&rsa_public_key, rsa_public_key.len() * 8);
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const AUTHORITY: &str = "https://attest.example";

    fn policy(value: Value) -> Result<ReleasePolicy> {
        ReleasePolicy::parse(value.to_string().as_bytes())
    }

    #[test]
    fn claims_must_satisfy_one_authority_block_of_the_policy() -> Result<()> {
        let p = policy(json!({"version": "1.0.0", "anyOf": [{
            "authority": AUTHORITY,
            "allOf": [
                {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
                {"anyOf": [{"claim": "x-ms-isolation-tee.x-ms-compliance-status", "equals": "azure-compliant-cvm"},
                           {"claim": "debuggable", "equals": false}]}
            ]
        }]}))?;
        let good = json!({"x-ms-attestation-type": "sevsnpvm", "x-ms-isolation-tee": {"x-ms-compliance-status": "azure-compliant-cvm"}});
        assert!(p.allows(AUTHORITY, &good));
        assert!(p.allows("https://attest.example/", &good), "a trailing slash is the same authority");
        assert!(!p.allows("https://other.example", &good), "another authority");
        assert!(p.allows("HTTPS://Attest.EXAMPLE", &good), "scheme and host have no case");
        let with_path = policy(json!({"anyOf": [{"authority": "https://attest.example/Tenant-A", "allOf": [
            {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"}]}]}))?;
        assert!(with_path.allows("https://ATTEST.example/Tenant-A/", &good));
        assert!(!with_path.allows("https://attest.example/tenant-a", &good), "the path keeps its case");
        assert!(!with_path.allows("https://attest.example/Tenant-A/x", &good), "a longer path is another authority");
        let other_type = json!({"x-ms-attestation-type": "tdxvm", "debuggable": false});
        assert!(!p.allows(AUTHORITY, &other_type));
        let second_branch = json!({"x-ms-attestation-type": "sevsnpvm", "debuggable": false});
        assert!(p.allows(AUTHORITY, &second_branch));
        assert!(
            !p.allows(AUTHORITY, &json!({"x-ms-attestation-type": "sevsnpvm", "debuggable": "false"})),
            "types differ"
        );
        Ok(())
    }

    #[test]
    fn malformed_policies_are_refused() {
        for bad in [
            json!({"anyOf": []}),
            json!({"anyOf": [{"authority": "http://attest.example"}]}),
            json!({"anyOf": [{"authority": AUTHORITY, "allOf": [{"claim": "x"}]}]}),
            json!({"anyOf": [{"authority": AUTHORITY, "allOf": [{"authority": AUTHORITY}]}]}),
        ] {
            assert!(policy(bad.clone()).is_err(), "{bad}");
        }
        assert!(ReleasePolicy::parse(b"not json").is_err());
    }

    #[test]
    fn released_material_unwraps_with_the_targets_private_key() -> Result<()> {
        use aws_lc_rs::rsa::{KeyPair, KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};
        use aws_lc_rs::signature::KeyPair as _;
        let target = KeyPair::generate(KeySize::Rsa2048).map_err(|_| Error::invalid_input("keygen"))?;
        let public = target.public_key();
        let (n, e) =
            (public.modulus().big_endian_without_leading_zero(), public.exponent().big_endian_without_leading_zero());
        let wrapped = ReleaseWrapping::RsaAesKeyWrap256.wrap(n, e, b"the key material, 37 bytes long.....")?;
        let der = aws_lc_rs::encoding::AsDer::as_der(&target).map_err(|_| Error::invalid_input("der"))?;
        let private = PrivateDecryptingKey::from_pkcs8(der.as_ref()).map_err(|_| Error::invalid_input("pkcs8"))?;
        let oaep = OaepPrivateDecryptingKey::new(private).map_err(|_| Error::invalid_input("oaep"))?;
        let mut transient = [0u8; 256];
        let transient = oaep
            .decrypt(&OAEP_SHA256_MGF1SHA256, &wrapped[..256], &mut transient, None)
            .map_err(|_| Error::invalid_input("decrypt"))?;
        let kek = aes_kw::KekAes256::try_from(&transient[..]).map_err(|_| Error::invalid_input("kek"))?;
        let material = kek.unwrap_with_padding_vec(&wrapped[256..]).map_err(|_| Error::invalid_input("unwrap"))?;
        assert_eq!(material, b"the key material, 37 bytes long.....");
        Ok(())
    }
}
