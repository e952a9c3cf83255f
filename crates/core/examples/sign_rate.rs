//! The signing rate of the library behind Strongroom's keys, on one thread, for `bench/run` to print beside
//! the rate of `POST /keys/{name}/sign`: RS256 with RSA-2048 and ES256 with P-256, each measured twice — with
//! aws-lc-rs holding the parsed key (the library's own ceiling), and through `strongroom_core::key`, which
//! parses the stored PKCS#8 for every signature as a request does.
//!
//! Usage: `sign_rate [seconds per measurement]`; prints `name signatures-per-second` lines.

use std::error::Error;
use std::time::Instant;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use strongroom_core::key::{Curve, KeySpec, KeyType, PrivateKey, SignatureAlgorithm};

/// Calls `sign` for `seconds` and returns the calls per second.
fn rate(seconds: f64, mut sign: impl FnMut() -> Result<(), Box<dyn Error>>) -> Result<f64, Box<dyn Error>> {
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        sign()?;
        count += 1;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn Error>> {
    let seconds: f64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(2.0);
    let rng = SystemRandom::new();
    let digest = [7u8; 32];
    let error = |e: aws_lc_rs::error::Unspecified| -> Box<dyn Error> { format!("{e:?}").into() };

    let spec = |kty, size, curve| KeySpec { kty, size, public_exponent: None, curve };
    let rsa = PrivateKey::generate(&spec(KeyType::Rsa, Some(2048), None))?;
    let parsed = RsaKeyPair::from_pkcs8(rsa.material()).map_err(|e| format!("{e:?}"))?;
    let mut out = vec![0u8; parsed.public_modulus_len()];
    let library = rate(seconds, || parsed.sign(&signature::RSA_PKCS1_SHA256, &rng, &digest, &mut out).map_err(error))?;
    println!("rs256-library {library:.0}");
    let core = rate(seconds, || rsa.sign(SignatureAlgorithm::Rs256, &digest).map(drop).map_err(Into::into))?;
    println!("rs256-core {core:.0}");

    let ec = PrivateKey::generate(&spec(KeyType::Ec, None, Some(Curve::P256)))?;
    let parsed = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, ec.material())
        .map_err(|e| format!("{e:?}"))?;
    let library = rate(seconds, || parsed.sign(&rng, &digest).map(drop).map_err(error))?;
    println!("es256-library {library:.0}");
    let core = rate(seconds, || ec.sign(SignatureAlgorithm::Es256, &digest).map(drop).map_err(Into::into))?;
    println!("es256-core {core:.0}");
    Ok(())
}
