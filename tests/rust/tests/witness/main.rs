//! The Rust witness suite: the official, unmodified Azure SDK for Rust (`azure_identity` and the
//! `azure_security_keyvault_*` crates) against the real strongroom binary, as a Rust developer would point it at
//! a vault.
//!
//! One `strongroom serve` runs for the whole suite with the shared witness installation
//! (tests/witness/strongroom.toml) in a fresh folder, and is stopped when the tests end, whatever they did: the
//! binary has its own `main` (not libtest's), so the server is an owned value dropped at the end instead of a
//! static that is never dropped. The tests run concurrently on one runtime. Arguments that do not start with
//! `-` are filters: a test runs when its name contains one of them.
//!
//! Environment: `STRONGROOM_BIN` (default `strongroom`); `STRONGROOM_WITNESS_PORT`, the port the server listens
//! on (chosen by tests/rust/run before this process starts, so that `IDENTITY_ENDPOINT` can name it); and the
//! App Service variables `IDENTITY_ENDPOINT` / `IDENTITY_HEADER` that the managed-identity test needs.

mod certificates;
mod identity;
mod keys;
mod secrets;
mod witness;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration, time::Instant};
use witness::{Outcome, Skipped, Witness};

type TestFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// A test: its name and the function that runs it.
struct Test {
    name: &'static str,
    run: fn(Arc<Witness>) -> TestFuture,
}

/// Lists tests by path, each an `async fn(Arc<Witness>) -> Outcome`.
macro_rules! tests {
    ($($module:ident :: $test:ident),* $(,)?) => {
        vec![$(Test {
            name: concat!(stringify!($module), "::", stringify!($test)),
            run: |witness| Box::pin($module::$test(witness)),
        }),*]
    };
}

fn all_tests() -> Vec<Test> {
    tests![
        identity::client_secret_credential,
        identity::client_certificate_credential,
        identity::workload_identity_credential,
        identity::managed_identity_credential_app_service,
        identity::a_wrong_client_secret_gets_no_token,
        identity::an_application_without_a_role_is_refused_by_rbac,
        identity::a_reader_sees_properties_but_no_value,
        identity::the_firewall_refuses_a_loopback_caller,
        secrets::every_secret_client_method,
        secrets::a_secret_that_does_not_exist_is_not_found,
        keys::rsa_key_operations_agree_with_openssl,
        keys::ec_signatures_verify_with_openssl,
        keys::aes_key_operations,
        keys::an_imported_key_works_and_keeps_its_private_half,
        keys::every_key_lifecycle_method,
        keys::random_bytes_attestation_and_a_refused_release,
        certificates::a_self_signed_certificate_from_a_policy,
        certificates::importing_a_pkcs12_and_a_pem,
        certificates::merging_a_certificate_signed_elsewhere,
        certificates::a_cancelled_certificate_request,
        certificates::contacts_and_issuers,
        certificates::certificate_lifecycle,
    ]
}

/// Longest a single test may take before it counts as failed.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

fn main() -> std::process::ExitCode {
    let filters: Vec<String> = std::env::args().skip(1).filter(|argument| !argument.starts_with('-')).collect();
    let tests: Vec<Test> = all_tests()
        .into_iter()
        .filter(|test| filters.is_empty() || filters.iter().any(|f| test.name.contains(f.as_str())))
        .collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("the tokio runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let witness = match Witness::start() {
        Ok(witness) => Arc::new(witness),
        Err(error) => {
            eprintln!("starting strongroom: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let total = tests.len();
    println!("running {total} tests against {}", witness.authority());
    let failed = runtime.block_on(run_all(&witness, tests));
    runtime.shutdown_timeout(Duration::from_secs(5));
    if failed > 0 {
        witness.print_server_log_tail();
    }
    // The last reference: dropping it stops the server and removes its folder.
    drop(witness);
    // The plain closing line test runners are read by.
    println!("\n{} passed, {failed} failed", total - failed);
    if failed > 0 { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS }
}

/// Runs every test as a task of its own (so that a panic fails only that test), one after another as an
/// application's requests would come, and returns how many failed. (Run all at once, their first token requests
/// from one address exceed what the sign-in throttle lets be checked at once: see docs/security.md.)
async fn run_all(witness: &Arc<Witness>, tests: Vec<Test>) -> usize {
    let mut failed = 0;
    for test in tests {
        let (name, started) = (test.name, Instant::now());
        let task = tokio::spawn(tokio::time::timeout(TEST_TIMEOUT, (test.run)(Arc::clone(witness))));
        let outcome = match task.await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_elapsed)) => Err(format!("did not finish within {TEST_TIMEOUT:?}").into()),
            Err(join_error) => Err(format!("panicked: {join_error}").into()),
        };
        let seconds = started.elapsed().as_secs_f32();
        match outcome {
            Ok(()) => println!("test {name} ... ok ({seconds:.1}s)"),
            Err(error) if error.is::<Skipped>() => println!("test {name} ... {error}"),
            Err(error) => {
                failed += 1;
                println!("test {name} ... FAILED ({seconds:.1}s)\n    {error:#}");
            }
        }
    }
    failed
}
