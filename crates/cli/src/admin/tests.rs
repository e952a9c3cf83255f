use super::pem_blocks;

#[test]
fn pem_files_give_their_certificates() {
    let pem = "junk\n-----BEGIN CERTIFICATE-----\nQUJD\nREVG\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n";
    assert_eq!(pem_blocks(pem), ["QUJDREVG"]);
}

#[test]
fn durations_take_seconds_or_a_unit() {
    use super::seconds;
    assert_eq!(seconds("90"), Ok(90));
    assert_eq!(seconds("90m"), Ok(5_400));
    assert_eq!(seconds("30d"), Ok(2_592_000));
    assert!(seconds("3w").is_err() && seconds("d").is_err() && seconds("").is_err());
}
