use std::collections::HashSet;

use strongroom_core::directory::VaultKind;
use strongroom_core::policy;

use super::pattern::{Pattern, Token};
use super::*;

/// The operation a request routes to, by its audit name, with the object and version its path gave.
fn route(method: Method, path: &str) -> Option<(&'static str, Option<&str>, Option<&str>)> {
    let routed = Routed::route(&method, path, VaultKind::Vault).ok()?;
    Some((routed.operation.audit_name, routed.params.object(), routed.params.version()))
}

#[test]
fn secret_paths_route_with_and_without_trailing_slash() {
    let latest = Some(("SecretGet", Some("db"), None));
    assert_eq!(route(Method::GET, "/secrets/db"), latest);
    assert_eq!(route(Method::GET, "/secrets/db/"), latest);
    assert_eq!(
        route(Method::GET, "/secrets/db/0123456789abcdef0123456789abcdef"),
        Some(("SecretGet", Some("db"), Some("0123456789abcdef0123456789abcdef")))
    );
    assert_eq!(route(Method::GET, "/secrets/db/versions"), Some(("SecretListVersions", Some("db"), None)));
    assert_eq!(route(Method::GET, "/secrets"), Some(("SecretList", None, None)));
    assert_eq!(route(Method::PUT, "/secrets/db"), Some(("SecretSet", Some("db"), None)));
    assert_eq!(route(Method::PUT, "/secrets/db/x"), None);
    assert_eq!(route(Method::PATCH, "/secrets/db/"), Some(("SecretUpdate", Some("db"), None)));
    assert_eq!(route(Method::POST, "/secrets/restore"), Some(("SecretRestore", None, None)));
    assert_eq!(route(Method::GET, "/secrets/restore"), Some(("SecretGet", Some("restore"), None)));
    assert_eq!(route(Method::POST, "/secrets/db/backup"), Some(("SecretBackup", Some("db"), None)));
    assert_eq!(route(Method::DELETE, "/deletedsecrets/db"), Some(("SecretPurge", Some("db"), None)));
    assert_eq!(route(Method::POST, "/deletedsecrets/db/recover"), Some(("SecretRecover", Some("db"), None)));
    assert!(matches!(Routed::route(&Method::POST, "/secrets/db", VaultKind::Vault), Err(e) if e.status() == 405));
    assert_eq!(route(Method::GET, "/widgets"), None);
}

#[test]
fn key_paths_route_to_key_operations() {
    assert_eq!(route(Method::POST, "/keys/k/create"), Some(("KeyCreate", Some("k"), None)));
    assert_eq!(route(Method::GET, "/keys/k/"), Some(("KeyGet", Some("k"), None)));
    let sign = |version| Some(("KeySign", Some("k"), version));
    assert_eq!(route(Method::POST, "/keys/k/sign"), sign(None));
    assert_eq!(route(Method::POST, "/keys/k//sign"), sign(None));
    assert_eq!(
        route(Method::POST, "/keys/k/0123456789abcdef0123456789abcdef/sign"),
        sign(Some("0123456789abcdef0123456789abcdef"))
    );
    assert_eq!(route(Method::POST, "/keys/k/v/wrapkey"), Some(("KeyWrap", Some("k"), Some("v"))));
    assert_eq!(route(Method::DELETE, "/deletedkeys/k"), Some(("KeyPurge", Some("k"), None)));
    assert_eq!(route(Method::PUT, "/keys/k/rotationpolicy"), Some(("KeySetRotationPolicy", Some("k"), None)));
    let attestation = |version| Some(("KeyGetAttestation", Some("k"), version));
    assert_eq!(route(Method::GET, "/keys/k/attestation"), attestation(None));
    assert_eq!(route(Method::GET, "/keys/k//attestation"), attestation(None));
    assert_eq!(route(Method::GET, "/keys/k/v/attestation"), attestation(Some("v")));
    assert_eq!(route(Method::GET, "/keys/k/v/attestation/"), attestation(Some("v")));
    assert_eq!(route(Method::POST, "/rng"), Some(("RandomBytes", None, None)));
    assert_eq!(route(Method::POST, "/keys/k/v/levitate"), None);
    let sign_op = Routed::route(&Method::POST, "/keys/k/sign", VaultKind::Vault);
    assert_eq!(sign_op.as_ref().map(|op| (op.action, op.operation.permission)).ok(), Some((Action::KeysSign, "sign")));
    let in_hsm = Routed::route(&Method::POST, "/keys/k/sign", VaultKind::ManagedHsm);
    assert_eq!(in_hsm.map(|op| op.action).ok(), Some(Action::HsmKeysSign));
    assert_eq!(sign_op.map(|op| op.target()).ok(), Some(Target { collection: Collection::Keys, name: Some("k") }));
}

#[test]
fn one_trailing_slash_is_ignored_on_every_route() {
    for operation in table::OPERATIONS {
        for with_optional in [false, true] {
            let path = example_path(&operation.path, with_optional);
            let slashed = format!("{path}/");
            let kind = if operation.action.is_some() { VaultKind::Vault } else { VaultKind::ManagedHsm };
            let routed =
                |path| Routed::route(&operation.method, path, kind).map(|r| (r.operation.audit_name, r.params));
            assert_eq!(routed(&path).ok(), routed(&slashed).ok(), "{} {slashed}", operation.method);
        }
    }
    assert_eq!(route(Method::PUT, "/secrets/db/"), Some(("SecretSet", Some("db"), None)));
    assert_eq!(route(Method::GET, "/keys/"), Some(("KeyList", None, None)));
    assert_eq!(route(Method::GET, "/secrets/db//"), Some(("SecretGet", Some("db"), None)));
    assert_eq!(route(Method::GET, "/"), None);
}

#[test]
fn crypto_names_match_in_any_case_and_other_literals_exactly() {
    assert_eq!(route(Method::POST, "/keys/k/WrapKey"), Some(("KeyWrap", Some("k"), None)));
    assert_eq!(route(Method::POST, "/keys/k/v/UNWRAPKEY"), Some(("KeyUnwrap", Some("k"), Some("v"))));
    assert_eq!(route(Method::GET, "/secrets/db/Versions"), Some(("SecretGet", Some("db"), Some("Versions"))));
    assert_eq!(route(Method::GET, "/Secrets/db"), None);
    // A collection's path with no row for its method is 405; deeper paths, and `/rng`, are 404.
    let status =
        |method: Method, path| Routed::route(&method, path, VaultKind::Vault).err().map(|e| e.status().as_u16());
    assert_eq!(status(Method::POST, "/keys/k/levitate"), Some(405));
    assert_eq!(status(Method::POST, "/keys/k/v/levitate"), Some(404));
    assert_eq!(status(Method::GET, "/rng"), Some(404));
    assert_eq!(status(Method::PUT, "/secrets/db/v"), Some(405));
    assert_eq!(route(Method::GET, "/certificates/issuers/"), Some(("CertificateIssuerList", None, None)));
    assert_eq!(route(Method::GET, "/certificates/contacts/"), Some(("CertificateContactsGet", None, None)));
    assert_eq!(route(Method::GET, "/certificates/c/pending"), Some(("CertificatePendingGet", Some("c"), None)));
    assert_eq!(route(Method::GET, "//secrets/db"), Some(("SecretGet", Some("db"), None)));
}

/// A path for `pattern`, with or without its optional token.
fn example_path(pattern: &Pattern, with_optional: bool) -> String {
    let mut path = String::new();
    for (token, optional) in pattern.tokens() {
        if optional && !with_optional {
            continue;
        }
        path.push('/');
        path.push_str(match token {
            Token::Literal(literal) | Token::AnyCase(literal) => literal,
            Token::Name => "n",
            Token::Version => "0123456789abcdef0123456789abcdef",
            Token::Issuer => "i",
            Token::Id => "d",
        });
    }
    path
}

/// `pattern` written back from its tokens.
fn written(pattern: &Pattern) -> String {
    let mut text = String::new();
    for (token, optional) in pattern.tokens() {
        let token = match token {
            Token::Literal(literal) => literal.to_owned(),
            Token::AnyCase(literal) => format!("~{literal}"),
            Token::Name => "{name}".to_owned(),
            Token::Version => "{version}".to_owned(),
            Token::Issuer => "{issuer}".to_owned(),
            Token::Id => "{id}".to_owned(),
        };
        text.push_str(&if optional { format!("[/{token}]") } else { format!("/{token}") });
    }
    text
}

#[test]
fn every_row_is_well_formed_and_reachable() {
    let mut seen = HashSet::new();
    for operation in table::OPERATIONS {
        let pattern = operation.path.as_str();
        assert_eq!(written(&operation.path), pattern, "the pattern reads back as written");
        for (token, _) in operation.path.tokens() {
            if let Token::Literal(literal) | Token::AnyCase(literal) = token {
                assert!(!literal.contains(['{', '}', '[', ']', '~']), "{pattern}: {literal}");
            }
        }
        assert!(seen.insert((operation.method.clone(), pattern)), "{} {pattern} appears twice", operation.method);
        let permissions = match operation.collection {
            Collection::Secrets => policy::SECRET_PERMISSIONS,
            Collection::Keys => policy::KEY_PERMISSIONS,
            Collection::Certificates => policy::CERTIFICATE_PERMISSIONS,
        };
        // Access policies are a vault's; an HSM's own operations have none.
        let in_vaults = operation.action.is_some();
        assert!(
            permissions.contains(&operation.permission) || (!in_vaults && operation.permission.is_empty()),
            "{pattern}: no permission {}",
            operation.permission
        );
        assert!(in_vaults || operation.hsm_action.is_some(), "{pattern}: served by nothing");
        // No earlier row shadows this one, in any kind of vault that serves it.
        let kinds = [VaultKind::Vault, VaultKind::ManagedHsm].into_iter().filter(|k| operation.action_in(*k).is_some());
        for (kind, with_optional) in kinds.flat_map(|kind| [(kind, false), (kind, true)]) {
            let path = example_path(&operation.path, with_optional);
            let routed = Routed::route(&operation.method, &path, kind);
            assert!(
                routed.as_ref().is_ok_and(|r| std::ptr::eq(r.operation, operation)),
                "{} {path} routes to {routed:?}, not {} in a {kind:?}",
                operation.method,
                operation.audit_name
            );
        }
    }
}

/// The table of `collection`'s operations as `docs/authorization.md` shows it.
fn authorization_doc_table(collection: Collection) -> String {
    let mut table = format!(
        "| operation (audit name) | HTTP | RBAC data action (`Microsoft.KeyVault/vaults/…`) | access policy ({collection}) | scope that grants it |\n|---|---|---|---|---|\n",
        collection = collection.as_str()
    );
    for operation in table::OPERATIONS.iter().filter(|o| o.collection == collection) {
        let Some(action) = operation.action else { continue };
        let pattern = operation.path.as_str();
        let scope = if pattern.contains("{name}") { "vault or object" } else { "vault" };
        table.push_str(&format!(
            "| `{}` | `{} {}` | `{}` | `{}` | {scope} |\n",
            operation.audit_name,
            operation.method,
            pattern.replace('~', ""),
            action.as_str().trim_start_matches("Microsoft.KeyVault/vaults/"),
            operation.permission,
        ));
    }
    table
}

/// The table of a Managed HSM's operations as `docs/authorization.md` shows it.
fn managed_hsm_doc_table() -> String {
    let mut table = "| operation (audit name) | HTTP | local RBAC data action (`Microsoft.KeyVault/managedHsm/…`) | scope that grants it |\n|---|---|---|---|\n".to_owned();
    for operation in table::OPERATIONS {
        let Some(action) = operation.hsm_action else { continue };
        let pattern = operation.path.as_str();
        let scope = match pattern {
            p if p.starts_with("/providers/") => "`/`, or the scope the path names",
            p if p.contains("{name}") => "`/`, `/keys` or `/keys/{name}`",
            _ if operation.action.is_none() => "`/`",
            _ => "`/` or `/keys`",
        };
        table.push_str(&format!(
            "| `{}` | `{} {}` | `{}` | {scope} |\n",
            operation.audit_name,
            operation.method,
            pattern.replace('~', ""),
            action.as_str().trim_start_matches("Microsoft.KeyVault/managedHsm/"),
        ));
    }
    table
}

#[test]
fn authorization_doc_shows_the_operation_table() {
    let doc = include_str!("../../../../../docs/authorization.md");
    let mut differences = String::new();
    for collection in [Collection::Secrets, Collection::Keys, Collection::Certificates] {
        let begin = format!("<!-- operations: {} -->\n", collection.as_str());
        let end = format!("<!-- end of operations: {} -->", collection.as_str());
        let expected = authorization_doc_table(collection);
        let shown = doc.split_once(&begin).and_then(|(_, rest)| rest.split_once(&end)).map(|(table, _)| table);
        if shown != Some(expected.as_str()) {
            differences.push_str(&format!("between `{}` and `{end}`:\n\n{expected}\n", begin.trim_end()));
        }
    }
    let (begin, end) = ("<!-- operations: managed hsm -->\n", "<!-- end of operations: managed hsm -->");
    let expected = managed_hsm_doc_table();
    let shown = doc.split_once(begin).and_then(|(_, rest)| rest.split_once(end)).map(|(table, _)| table);
    if shown != Some(expected.as_str()) {
        differences.push_str(&format!("between `{}` and `{end}`:\n\n{expected}\n", begin.trim_end()));
    }
    assert!(differences.is_empty(), "docs/authorization.md must show the operation table as:\n{differences}");
}

#[test]
fn a_local_rbac_path_names_its_scope_only_where_the_provider_starts_a_segment() {
    type Seen<'p> = (&'static str, Option<&'p str>, Option<&'p str>, &'p str);
    fn route(method: Method, path: &str) -> Option<Seen<'_>> {
        let routed = Routed::route(&method, path, VaultKind::ManagedHsm).ok()?;
        Some((routed.operation.audit_name, routed.params.scope(), routed.params.object(), routed.params.id()))
    }
    let rbac = "providers/Microsoft.Authorization/roleAssignments";
    let id = "0b9e6a7e-63d9-4b9a-8a4b-4d1c2f0a1e2b";
    let list = |scope| Some(("RoleAssignmentList", Some(scope), None, ""));
    assert_eq!(route(Method::GET, &format!("/{rbac}")), list(""));
    assert_eq!(route(Method::GET, &format!("///{rbac}/")), list(""));
    assert_eq!(route(Method::GET, &format!("/keys/{rbac}")), list("keys"));
    assert_eq!(route(Method::GET, &format!("/keys//{rbac}")), list("keys"));
    assert_eq!(
        route(Method::PUT, &format!("/keys/k/{rbac}/{id}")),
        Some(("RoleAssignmentCreate", Some("keys/k"), None, id))
    );
    // Only a whole segment starts the provider, in its own case: a key's path stays a key's.
    assert_eq!(route(Method::GET, &format!("/keys/x{rbac}")), None);
    assert_eq!(route(Method::GET, &format!("/keys/{}", rbac.replace("providers", "Providers"))), None);
    assert_eq!(
        route(Method::GET, "/keys/providers/Microsoft.Authorization/"),
        Some(("KeyGet", None, Some("providers"), ""))
    );
}
