use super::pem_blocks;

#[test]
fn pem_files_give_their_certificates() {
    let pem = "junk\n-----BEGIN CERTIFICATE-----\nQUJD\nREVG\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n";
    assert_eq!(pem_blocks(pem), ["QUJDREVG"]);
}
