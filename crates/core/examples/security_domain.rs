//! `strongroom_core::security_domain` on the command line, for tests/python/test_security_domain_format.py to
//! check it against the Azure CLI's own `az keyvault security-domain restore-blob` (test-only; the server serves
//! the same functions over HTTP).
//!
//! Usage:
//! - `security_domain download ROOT_SECRET_HEX QUORUM CERTIFICATE.der…`: prints the security domain JSON.
//! - `security_domain transfer-key DIR`: makes a transfer key, keeps it as `DIR/transfer.pk8` and
//!   `DIR/transfer.der`, and prints the JSON Web Key text an HSM returns.
//! - `security_domain upload BLOB_FILE DIR`: opens a restore blob with the transfer key in `DIR` and prints the
//!   root secret in hex.
//! - `security_domain restore-blob DOMAIN_FILE TRANSFER.der OPERATOR…`: the operators' side, which the CLI's
//!   `restore-blob` does: opens the security domain with each `OPERATOR.der` certificate and `OPERATOR.pk8` key
//!   (PKCS#8 DER) and prints the blob for the transfer key's certificate.

use std::error::Error;
use std::path::Path;

use strongroom_core::key::{KeyType, PrivateKey};
use strongroom_core::security_domain::{self, TransferKey, WrappingCertificate};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["download", root_secret, quorum, certificates @ ..] => {
            let certificates = certificates
                .iter()
                .enumerate()
                .map(|(index, path)| Ok(WrappingCertificate::from_der(&std::fs::read(path)?, index)?))
                .collect::<Result<Vec<_>, Box<dyn Error>>>()?;
            println!("{}", security_domain::download(&from_hex(root_secret)?, &certificates, quorum.parse()?)?);
        }
        ["transfer-key", dir] => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
            let transfer = TransferKey::generate(i64::try_from(now)?)?;
            std::fs::write(Path::new(dir).join("transfer.pk8"), transfer.pkcs8())?;
            std::fs::write(Path::new(dir).join("transfer.der"), transfer.certificate().der())?;
            println!("{}", transfer.jwk()?);
        }
        ["upload", blob, dir] => {
            let transfer = TransferKey::from_parts(
                &std::fs::read(Path::new(dir).join("transfer.pk8"))?,
                &std::fs::read(Path::new(dir).join("transfer.der"))?,
            )?;
            let root_secret = security_domain::upload(&std::fs::read_to_string(blob)?, &transfer)?;
            println!("{}", root_secret.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
        ["restore-blob", domain, transfer, operators @ ..] => {
            let operators = operators
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    let certificate = WrappingCertificate::from_der(&std::fs::read(format!("{name}.der"))?, index)?;
                    let key = PrivateKey::from_material(KeyType::Rsa, None, &std::fs::read(format!("{name}.pk8"))?)?;
                    Ok((certificate, key))
                })
                .collect::<Result<Vec<_>, Box<dyn Error>>>()?;
            let transfer = WrappingCertificate::from_der(&std::fs::read(transfer)?, 0)?;
            println!("{}", security_domain::restore_blob(&std::fs::read_to_string(domain)?, &operators, &transfer)?);
        }
        _ => return Err("usage: security_domain download|transfer-key|upload|restore-blob … (see the source)".into()),
    }
    Ok(())
}

fn from_hex(text: &str) -> Result<Vec<u8>, Box<dyn Error>> {
    if !text.len().is_multiple_of(2) {
        return Err("odd hex".into());
    }
    (0..text.len()).step_by(2).map(|i| Ok(u8::from_str_radix(&text[i..i + 2], 16)?)).collect()
}
