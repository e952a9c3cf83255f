//! The table of data-plane operations: one row per operation, in the order routing tries them (a literal
//! segment before a parameter in the same place: `/secrets/{name}/versions` before
//! `/secrets/{name}[/{version}]`). Routing, the permission check, the audit record and the tables of
//! `docs/authorization.md` all come from here. To add an operation, add its row and write its handler.
//!
//! A row reads: method, path pattern ([`super::pattern`]), Key Vault's operation name in audit logs, the RBAC
//! data action, the access-policy permission, and the handler, which gets the vault's context, the path's
//! parameters and the request body and returns the operation's boxed future. A row counts against the vault's
//! other transactions unless `.counted_as` names another service limit, as Key Vault counts creates apart.

use axum::http::Method;
use strongroom_core::full_backup::job::JobKind;
use strongroom_core::rbac::{Action as A, Collection};

use super::pattern::Pattern;
use super::{CryptoOperation as Crypto, Handler, Operation};
use crate::limits::Budget;
use crate::vault::certificates::{self, Certificates};
use crate::vault::keys::{self, Keys};
use crate::vault::secrets::{self, Secrets};
use crate::vault::{full_backup, lifecycle, local_rbac, release, rotation, security_domain, settings};

/// Every data-plane operation. Secrets come first: a warm secret read is the hot path.
pub static OPERATIONS: &[Operation] = &[
    SECRETS.row(Method::GET, "/secrets", "SecretList", A::SecretsReadMetadata, "list", |cx, _, _| {
        Box::pin(lifecycle::list::<Secrets>(cx))
    }),
    SECRETS.row(Method::POST, "/secrets/restore", "SecretRestore", A::SecretsRestore, "restore", |cx, _, body| {
        Box::pin(lifecycle::restore::<Secrets>(cx, body))
    }),
    SECRETS
        .row(Method::PUT, "/secrets/{name}", "SecretSet", A::SecretsSet, "set", |cx, p, body| {
            Box::pin(secrets::set(cx, p.name(), body))
        })
        .counted_as(Budget::SecretCreates),
    SECRETS.row(
        Method::GET,
        "/secrets/{name}/versions",
        "SecretListVersions",
        A::SecretsReadMetadata,
        "list",
        |cx, p, _| Box::pin(lifecycle::list_versions::<Secrets>(cx, p.name())),
    ),
    SECRETS.row(Method::GET, "/secrets/{name}[/{version}]", "SecretGet", A::SecretsGet, "get", |cx, p, _| {
        Box::pin(lifecycle::get::<Secrets>(cx, p.name(), p.version()))
    }),
    SECRETS.row(
        Method::PATCH,
        "/secrets/{name}[/{version}]",
        "SecretUpdate",
        A::SecretsUpdate,
        "set",
        |cx, p, body| Box::pin(secrets::update(cx, p.name(), p.version(), body)),
    ),
    SECRETS.row(Method::DELETE, "/secrets/{name}", "SecretDelete", A::SecretsDelete, "delete", |cx, p, _| {
        Box::pin(lifecycle::delete::<Secrets>(cx, p.name()))
    }),
    SECRETS.row(Method::POST, "/secrets/{name}/backup", "SecretBackup", A::SecretsBackup, "backup", |cx, p, _| {
        Box::pin(lifecycle::backup::<Secrets>(cx, p.name()))
    }),
    SECRETS.row(Method::GET, "/deletedsecrets", "SecretListDeleted", A::SecretsReadMetadata, "list", |cx, _, _| {
        Box::pin(lifecycle::list_deleted::<Secrets>(cx))
    }),
    SECRETS.row(
        Method::GET,
        "/deletedsecrets/{name}",
        "SecretGetDeleted",
        A::SecretsReadMetadata,
        "get",
        |cx, p, _| Box::pin(lifecycle::get_deleted::<Secrets>(cx, p.name())),
    ),
    SECRETS.row(
        Method::POST,
        "/deletedsecrets/{name}/recover",
        "SecretRecover",
        A::SecretsRecover,
        "recover",
        |cx, p, _| Box::pin(lifecycle::recover::<Secrets>(cx, p.name())),
    ),
    SECRETS.row(Method::DELETE, "/deletedsecrets/{name}", "SecretPurge", A::SecretsPurge, "purge", |cx, p, _| {
        Box::pin(lifecycle::purge::<Secrets>(cx, p.name()))
    }),
    // Keys.
    KEYS.row(Method::GET, "/keys", "KeyList", A::KeysRead, "list", |cx, _, _| Box::pin(lifecycle::list::<Keys>(cx)))
        .in_hsm(A::HsmKeysRead),
    KEYS.row(Method::POST, "/keys/{name}/create", "KeyCreate", A::KeysCreate, "create", |cx, p, body| {
        Box::pin(keys::create(cx, p.name(), body))
    })
    .counted_as(Budget::KeyCreates)
    .in_hsm(A::HsmKeysCreate),
    KEYS.row(Method::POST, "/keys/restore", "KeyRestore", A::KeysRestore, "restore", |cx, _, body| {
        Box::pin(lifecycle::restore::<Keys>(cx, body))
    })
    .in_hsm(A::HsmKeysRestore),
    KEYS.row(Method::PUT, "/keys/{name}", "KeyImport", A::KeysImport, "import", |cx, p, body| {
        Box::pin(keys::import(cx, p.name(), body))
    })
    .counted_as(Budget::SecretCreates)
    .in_hsm(A::HsmKeysImport),
    KEYS.row(Method::POST, "/keys/{name}/rotate", "KeyRotate", A::KeysRotate, "rotate", |cx, p, _| {
        Box::pin(keys::rotate(cx, p.name()))
    })
    .counted_as(Budget::KeyCreates)
    .in_hsm(A::HsmKeysRotate),
    // Access policies name these two `getrotationpolicy` and `setrotationpolicy`.
    KEYS.row(
        Method::GET,
        "/keys/{name}/rotationpolicy",
        "KeyGetRotationPolicy",
        A::KeyRotationPoliciesRead,
        "getrotationpolicy",
        |cx, p, _| Box::pin(rotation::get_policy(cx, p.name())),
    )
    .in_hsm(A::HsmKeysRead),
    KEYS.row(
        Method::PUT,
        "/keys/{name}/rotationpolicy",
        "KeySetRotationPolicy",
        A::KeyRotationPoliciesWrite,
        "setrotationpolicy",
        |cx, p, body| Box::pin(rotation::set_policy(cx, p.name(), body)),
    )
    .in_hsm(A::HsmKeysWrite),
    KEYS.row(
        Method::GET,
        "/keys/{name}[/{version}]/attestation",
        "KeyGetAttestation",
        A::KeysRead,
        "get",
        |cx, p, _| Box::pin(lifecycle::get::<Keys>(cx, p.name(), p.version())),
    )
    .in_hsm(A::HsmKeysRead),
    // No access-policy permission exists for it; whoever may read keys may draw random bytes.
    KEYS.row(Method::POST, "/rng", "RandomBytes", A::KeysRandomBytes, "get", |_, _, body| {
        Box::pin(std::future::ready(keys::random_bytes(body)))
    })
    .in_hsm(A::HsmRandomBytes),
    KEYS.row(
        Method::POST,
        "/keys/{name}[/{version}]/release",
        "KeyRelease",
        A::KeysRelease,
        "release",
        |cx, p, body| Box::pin(release::release(cx, p.name(), p.version(), body)),
    )
    .in_hsm(A::HsmKeysRelease),
    KEYS.row(Method::POST, "/keys/{name}/backup", "KeyBackup", A::KeysBackup, "backup", |cx, p, _| {
        Box::pin(lifecycle::backup::<Keys>(cx, p.name()))
    })
    .in_hsm(A::HsmKeysBackup),
    KEYS.row(Method::GET, "/keys/{name}/versions", "KeyListVersions", A::KeysRead, "list", |cx, p, _| {
        Box::pin(lifecycle::list_versions::<Keys>(cx, p.name()))
    })
    .in_hsm(A::HsmKeysRead),
    KEYS.row(Method::GET, "/keys/{name}[/{version}]", "KeyGet", A::KeysRead, "get", |cx, p, _| {
        Box::pin(lifecycle::get::<Keys>(cx, p.name(), p.version()))
    })
    .in_hsm(A::HsmKeysRead),
    KEYS.row(Method::PATCH, "/keys/{name}[/{version}]", "KeyUpdate", A::KeysUpdate, "update", |cx, p, body| {
        Box::pin(keys::update(cx, p.name(), p.version(), body))
    })
    .in_hsm(A::HsmKeysWrite),
    KEYS.row(Method::DELETE, "/keys/{name}", "KeyDelete", A::KeysDelete, "delete", |cx, p, _| {
        Box::pin(lifecycle::delete::<Keys>(cx, p.name()))
    })
    .in_hsm(A::HsmKeysDelete),
    KEYS.row(Method::POST, "/keys/{name}[/{version}]/~sign", "KeySign", A::KeysSign, "sign", |cx, p, body| {
        Box::pin(keys::crypto(cx, p.name(), p.version(), Crypto::Sign, body))
    })
    .in_hsm(A::HsmKeysSign),
    KEYS.row(Method::POST, "/keys/{name}[/{version}]/~verify", "KeyVerify", A::KeysVerify, "verify", |cx, p, body| {
        Box::pin(keys::crypto(cx, p.name(), p.version(), Crypto::Verify, body))
    })
    .in_hsm(A::HsmKeysVerify),
    KEYS.row(
        Method::POST,
        "/keys/{name}[/{version}]/~encrypt",
        "KeyEncrypt",
        A::KeysEncrypt,
        "encrypt",
        |cx, p, body| Box::pin(keys::crypto(cx, p.name(), p.version(), Crypto::Encrypt, body)),
    )
    .in_hsm(A::HsmKeysEncrypt),
    KEYS.row(
        Method::POST,
        "/keys/{name}[/{version}]/~decrypt",
        "KeyDecrypt",
        A::KeysDecrypt,
        "decrypt",
        |cx, p, body| Box::pin(keys::crypto(cx, p.name(), p.version(), Crypto::Decrypt, body)),
    )
    .in_hsm(A::HsmKeysDecrypt),
    KEYS.row(Method::POST, "/keys/{name}[/{version}]/~wrapkey", "KeyWrap", A::KeysWrap, "wrapkey", |cx, p, body| {
        Box::pin(keys::crypto(cx, p.name(), p.version(), Crypto::WrapKey, body))
    })
    .in_hsm(A::HsmKeysWrap),
    KEYS.row(
        Method::POST,
        "/keys/{name}[/{version}]/~unwrapkey",
        "KeyUnwrap",
        A::KeysUnwrap,
        "unwrapkey",
        |cx, p, body| Box::pin(keys::crypto(cx, p.name(), p.version(), Crypto::UnwrapKey, body)),
    )
    .in_hsm(A::HsmKeysUnwrap),
    KEYS.row(Method::GET, "/deletedkeys", "KeyListDeleted", A::KeysRead, "list", |cx, _, _| {
        Box::pin(lifecycle::list_deleted::<Keys>(cx))
    })
    .in_hsm(A::HsmDeletedKeysRead),
    KEYS.row(Method::GET, "/deletedkeys/{name}", "KeyGetDeleted", A::KeysRead, "get", |cx, p, _| {
        Box::pin(lifecycle::get_deleted::<Keys>(cx, p.name()))
    })
    .in_hsm(A::HsmDeletedKeysRead),
    KEYS.row(Method::POST, "/deletedkeys/{name}/recover", "KeyRecover", A::KeysRecover, "recover", |cx, p, _| {
        Box::pin(lifecycle::recover::<Keys>(cx, p.name()))
    })
    .in_hsm(A::HsmDeletedKeysRecover),
    KEYS.row(Method::DELETE, "/deletedkeys/{name}", "KeyPurge", A::KeysPurge, "purge", |cx, p, _| {
        Box::pin(lifecycle::purge::<Keys>(cx, p.name()))
    })
    .in_hsm(A::HsmDeletedKeysPurge),
    // A Managed HSM's own: its local RBAC (the scope is cut off the path before matching; pattern.rs says
    // how) and its settings.
    hsm_only(
        Method::GET,
        "/providers/Microsoft.Authorization/roleAssignments",
        "RoleAssignmentList",
        A::HsmRoleAssignmentsRead,
        |cx, p, _| Box::pin(local_rbac::list_assignments(cx, p.scope())),
    ),
    hsm_only(
        Method::GET,
        "/providers/Microsoft.Authorization/roleAssignments/{id}",
        "RoleAssignmentGet",
        A::HsmRoleAssignmentsRead,
        |cx, p, _| Box::pin(local_rbac::get_assignment(cx, p.id())),
    ),
    hsm_only(
        Method::PUT,
        "/providers/Microsoft.Authorization/roleAssignments/{id}",
        "RoleAssignmentCreate",
        A::HsmRoleAssignmentsWrite,
        |cx, p, body| Box::pin(local_rbac::create_assignment(cx, p.scope(), p.id(), body)),
    ),
    hsm_only(
        Method::DELETE,
        "/providers/Microsoft.Authorization/roleAssignments/{id}",
        "RoleAssignmentDelete",
        A::HsmRoleAssignmentsDelete,
        |cx, p, _| Box::pin(local_rbac::delete_assignment(cx, p.id())),
    ),
    hsm_only(
        Method::GET,
        "/providers/Microsoft.Authorization/roleDefinitions",
        "RoleDefinitionList",
        A::HsmRoleDefinitionsRead,
        |cx, p, _| Box::pin(local_rbac::list_definitions(cx, p.scope())),
    ),
    hsm_only(
        Method::GET,
        "/providers/Microsoft.Authorization/roleDefinitions/{id}",
        "RoleDefinitionGet",
        A::HsmRoleDefinitionsRead,
        |cx, p, _| Box::pin(local_rbac::get_definition(cx, p.id())),
    ),
    hsm_only(
        Method::PUT,
        "/providers/Microsoft.Authorization/roleDefinitions/{id}",
        "RoleDefinitionSet",
        A::HsmRoleDefinitionsWrite,
        |cx, p, body| Box::pin(local_rbac::set_definition(cx, p.scope(), p.id(), body)),
    ),
    hsm_only(
        Method::DELETE,
        "/providers/Microsoft.Authorization/roleDefinitions/{id}",
        "RoleDefinitionDelete",
        A::HsmRoleDefinitionsDelete,
        |cx, p, _| Box::pin(local_rbac::delete_definition(cx, p.id())),
    ),
    hsm_only(Method::GET, "/settings", "SettingList", A::HsmSettingsRead, |cx, _, _| Box::pin(settings::list(cx))),
    hsm_only(Method::GET, "/settings/{id}", "SettingGet", A::HsmSettingsRead, |cx, p, _| {
        Box::pin(settings::get(cx, p.id()))
    }),
    hsm_only(Method::PATCH, "/settings/{id}", "SettingUpdate", A::HsmSettingsWrite, |cx, p, body| {
        Box::pin(settings::update(cx, p.id(), body))
    }),
    // A Managed HSM's full backup and restore: jobs that run in the background and are polled.
    hsm_only(Method::POST, "/backup", "Backup", A::HsmBackupStart, |cx, _, body| {
        Box::pin(full_backup::begin_backup(cx, body))
    }),
    hsm_only(Method::POST, "/prebackup", "PreBackup", A::HsmBackupStart, |cx, _, body| {
        Box::pin(full_backup::begin_pre_backup(cx, body))
    }),
    hsm_only(Method::GET, "/backup/{id}/pending", "BackupStatus", A::HsmBackupStatus, |cx, p, _| {
        Box::pin(full_backup::status(cx, JobKind::Backup, p.id()))
    }),
    hsm_only(Method::PUT, "/restore", "Restore", A::HsmRestoreStart, |cx, _, body| {
        Box::pin(full_backup::begin_restore(cx, body))
    }),
    hsm_only(Method::PUT, "/prerestore", "PreRestore", A::HsmRestoreStart, |cx, _, body| {
        Box::pin(full_backup::begin_pre_restore(cx, body))
    }),
    hsm_only(Method::GET, "/restore/{id}/pending", "RestoreStatus", A::HsmRestoreStatus, |cx, p, _| {
        Box::pin(full_backup::status(cx, JobKind::Restore, p.id()))
    }),
    hsm_only(Method::PUT, "/keys/{name}/restore", "SelectiveKeyRestore", A::HsmKeysRestore, |cx, p, body| {
        Box::pin(full_backup::begin_selective_restore(cx, p.name(), body))
    }),
    // The security domain: `GET /securitydomain/upload` is the transfer key an upload is wrapped to.
    hsm_only(
        Method::POST,
        "/securitydomain/download",
        "SecurityDomainDownload",
        A::HsmSecurityDomainDownload,
        |cx, _, body| Box::pin(security_domain::download(cx, body)),
    ),
    hsm_only(
        Method::GET,
        "/securitydomain/download/pending",
        "SecurityDomainDownloadStatus",
        A::HsmSecurityDomainDownloadRead,
        |cx, _, _| Box::pin(security_domain::download_status(cx)),
    ),
    hsm_only(
        Method::GET,
        "/securitydomain/upload",
        "SecurityDomainTransferKey",
        A::HsmSecurityDomainTransferKeyRead,
        |cx, _, _| Box::pin(security_domain::transfer_key(cx)),
    ),
    hsm_only(
        Method::POST,
        "/securitydomain/upload",
        "SecurityDomainUpload",
        A::HsmSecurityDomainUpload,
        |cx, _, body| Box::pin(security_domain::upload(cx, body)),
    ),
    hsm_only(
        Method::GET,
        "/securitydomain/upload/pending",
        "SecurityDomainUploadStatus",
        A::HsmSecurityDomainUploadRead,
        |cx, _, _| Box::pin(security_domain::upload_status(cx)),
    ),
    // Certificates. Issuers and contacts belong to the vault, not to a certificate: their paths name none.
    CERTIFICATES.row(Method::GET, "/certificates", "CertificateList", A::CertificatesRead, "list", |cx, _, _| {
        Box::pin(certificates::list(cx))
    }),
    CERTIFICATES.row(
        Method::GET,
        "/certificates/issuers",
        "CertificateIssuerList",
        A::CertificateIssuersRead,
        "listissuers",
        |cx, _, _| Box::pin(certificates::list_issuers(cx)),
    ),
    CERTIFICATES.row(
        Method::GET,
        "/certificates/issuers/{issuer}",
        "CertificateIssuerGet",
        A::CertificateIssuersRead,
        "getissuers",
        |cx, p, _| Box::pin(certificates::get_issuer(cx, p.issuer())),
    ),
    CERTIFICATES.row(
        Method::PUT,
        "/certificates/issuers/{issuer}",
        "CertificateIssuerSet",
        A::CertificateIssuersWrite,
        "setissuers",
        |cx, p, body| Box::pin(certificates::set_issuer(cx, p.issuer(), body, true)),
    ),
    CERTIFICATES.row(
        Method::PATCH,
        "/certificates/issuers/{issuer}",
        "CertificateIssuerSet",
        A::CertificateIssuersWrite,
        "setissuers",
        |cx, p, body| Box::pin(certificates::set_issuer(cx, p.issuer(), body, false)),
    ),
    CERTIFICATES.row(
        Method::DELETE,
        "/certificates/issuers/{issuer}",
        "CertificateIssuerDelete",
        A::CertificateIssuersDelete,
        "deleteissuers",
        |cx, p, _| Box::pin(certificates::delete_issuer(cx, p.issuer())),
    ),
    // Key Vault documents no read action for contacts; reading them is reading certificates.
    CERTIFICATES.row(
        Method::GET,
        "/certificates/contacts",
        "CertificateContactsGet",
        A::CertificatesRead,
        "managecontacts",
        |cx, _, _| Box::pin(certificates::get_contacts(cx)),
    ),
    CERTIFICATES.row(
        Method::PUT,
        "/certificates/contacts",
        "CertificateContactsSet",
        A::CertificateContactsWrite,
        "managecontacts",
        |cx, _, body| Box::pin(certificates::set_contacts(cx, body)),
    ),
    CERTIFICATES.row(
        Method::DELETE,
        "/certificates/contacts",
        "CertificateContactsDelete",
        A::CertificateContactsWrite,
        "managecontacts",
        |cx, _, _| Box::pin(certificates::delete_contacts(cx)),
    ),
    CERTIFICATES.row(
        Method::POST,
        "/certificates/restore",
        "CertificateRestore",
        A::CertificatesRestore,
        "restore",
        |cx, _, body| Box::pin(lifecycle::restore::<Certificates>(cx, body)),
    ),
    CERTIFICATES.row(
        Method::POST,
        "/certificates/{name}/backup",
        "CertificateBackup",
        A::CertificatesBackup,
        "backup",
        |cx, p, _| Box::pin(lifecycle::backup::<Certificates>(cx, p.name())),
    ),
    CERTIFICATES
        .row(
            Method::POST,
            "/certificates/{name}/create",
            "CertificateCreate",
            A::CertificatesCreate,
            "create",
            |cx, p, body| Box::pin(certificates::create(cx, p.name(), body)),
        )
        .counted_as(Budget::KeyCreates),
    CERTIFICATES
        .row(
            Method::POST,
            "/certificates/{name}/import",
            "CertificateImport",
            A::CertificatesImport,
            "import",
            |cx, p, body| Box::pin(certificates::import(cx, p.name(), body)),
        )
        .counted_as(Budget::SecretCreates),
    CERTIFICATES.row(
        Method::GET,
        "/certificates/{name}/pending",
        "CertificatePendingGet",
        A::CertificatesRead,
        "get",
        |cx, p, _| Box::pin(certificates::get_operation(cx, p.name())),
    ),
    CERTIFICATES.row(
        Method::PATCH,
        "/certificates/{name}/pending",
        "CertificatePendingUpdate",
        A::CertificatesUpdate,
        "update",
        |cx, p, body| Box::pin(certificates::cancel_operation(cx, p.name(), body)),
    ),
    CERTIFICATES.row(
        Method::DELETE,
        "/certificates/{name}/pending",
        "CertificatePendingDelete",
        A::CertificatesUpdate,
        "update",
        |cx, p, _| Box::pin(certificates::delete_operation(cx, p.name())),
    ),
    CERTIFICATES.row(
        Method::POST,
        "/certificates/{name}/pending/merge",
        "CertificatePendingMerge",
        A::CertificatesCreate,
        "create",
        |cx, p, body| Box::pin(certificates::merge(cx, p.name(), body)),
    ),
    CERTIFICATES.row(
        Method::GET,
        "/certificates/{name}/policy",
        "CertificatePolicyGet",
        A::CertificatesRead,
        "get",
        |cx, p, _| Box::pin(certificates::get_policy(cx, p.name())),
    ),
    CERTIFICATES.row(
        Method::GET,
        "/certificates/{name}/versions",
        "CertificateListVersions",
        A::CertificatesRead,
        "list",
        |cx, p, _| Box::pin(certificates::list_versions(cx, p.name())),
    ),
    CERTIFICATES.row(
        Method::GET,
        "/certificates/{name}[/{version}]",
        "CertificateGet",
        A::CertificatesRead,
        "get",
        |cx, p, _| Box::pin(certificates::get(cx, p.name(), p.version())),
    ),
    CERTIFICATES.row(
        Method::PATCH,
        "/certificates/{name}/policy",
        "CertificatePolicyUpdate",
        A::CertificatesUpdate,
        "update",
        |cx, p, body| Box::pin(certificates::update_policy(cx, p.name(), body)),
    ),
    CERTIFICATES.row(
        Method::PATCH,
        "/certificates/{name}[/{version}]",
        "CertificateUpdate",
        A::CertificatesUpdate,
        "update",
        |cx, p, body| Box::pin(certificates::update(cx, p.name(), p.version(), body)),
    ),
    CERTIFICATES.row(
        Method::DELETE,
        "/certificates/{name}",
        "CertificateDelete",
        A::CertificatesDelete,
        "delete",
        |cx, p, _| Box::pin(certificates::delete(cx, p.name())),
    ),
    CERTIFICATES.row(
        Method::GET,
        "/deletedcertificates",
        "CertificateListDeleted",
        A::CertificatesRead,
        "list",
        |cx, _, _| Box::pin(lifecycle::list_deleted::<Certificates>(cx)),
    ),
    CERTIFICATES.row(
        Method::GET,
        "/deletedcertificates/{name}",
        "CertificateGetDeleted",
        A::CertificatesRead,
        "get",
        |cx, p, _| Box::pin(lifecycle::get_deleted::<Certificates>(cx, p.name())),
    ),
    CERTIFICATES.row(
        Method::POST,
        "/deletedcertificates/{name}/recover",
        "CertificateRecover",
        A::CertificatesRecover,
        "recover",
        |cx, p, _| Box::pin(lifecycle::recover::<Certificates>(cx, p.name())),
    ),
    CERTIFICATES.row(
        Method::DELETE,
        "/deletedcertificates/{name}",
        "CertificatePurge",
        A::CertificatesPurge,
        "purge",
        |cx, p, _| Box::pin(lifecycle::purge::<Certificates>(cx, p.name())),
    ),
];

/// The rows of one collection's operations.
#[derive(Clone, Copy)]
struct Rows(Collection);

const SECRETS: Rows = Rows(Collection::Secrets);
const KEYS: Rows = Rows(Collection::Keys);
const CERTIFICATES: Rows = Rows(Collection::Certificates);

impl Rows {
    /// A row, column by column.
    const fn row(
        self,
        method: Method,
        path: &'static str,
        audit_name: &'static str,
        action: A,
        permission: &'static str,
        handler: Handler,
    ) -> Operation {
        Operation {
            method,
            path: Pattern::new(path),
            audit_name,
            action: Some(action),
            hsm_action: None,
            permission,
            collection: self.0,
            budget: Budget::Transactions,
            handler,
        }
    }
}

/// A Managed HSM's own operation (no vault serves it), acting on the HSM as a whole: method, path, audit
/// name, local RBAC data action, handler.
const fn hsm_only(
    method: Method,
    path: &'static str,
    audit_name: &'static str,
    action: A,
    handler: Handler,
) -> Operation {
    Operation {
        method,
        path: Pattern::new(path),
        audit_name,
        action: None,
        hsm_action: Some(action),
        permission: "",
        collection: Collection::Keys,
        budget: Budget::Transactions,
        handler,
    }
}

impl Operation {
    /// The row served by Managed HSMs too, which check `action` of their local RBAC for it.
    const fn in_hsm(mut self, action: A) -> Self {
        self.hsm_action = Some(action);
        self
    }

    /// The row counted against `budget` instead of the vault's other transactions.
    const fn counted_as(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }
}
