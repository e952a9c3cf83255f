//! The provisioning plan's tests.

use std::collections::HashMap;

use super::*;

fn workload_key() -> WorkloadSecretKey {
    WorkloadSecretKey::from_bytes(&[3; 32])
}

fn desired() -> DesiredState {
    DesiredState {
        tenants: vec![DesiredTenant {
            name: "contoso".into(),
            id: None,
            applications: vec![DesiredApplication {
                name: "billing-api".into(),
                client_id: None,
                secrets: vec![DeclaredSecret { value: "s1".into(), expires: None }],
                trusted_service: false,
                multi_tenant: false,
                credentials: ApplicationCredentials::default(),
            }],
            managed_identities: vec![
                DesiredManagedIdentity {
                    name: "shared".into(),
                    kind: ManagedIdentityKind::User,
                    client_id: None,
                    identity_header: None,
                    source_addresses: vec![],
                    assigned_to: vec!["web".into()],
                },
                DesiredManagedIdentity {
                    name: "web".into(),
                    kind: ManagedIdentityKind::System,
                    client_id: None,
                    identity_header: Some("web-identity-header".into()),
                    source_addresses: vec!["127.0.0.7".parse().unwrap_or(IpAddr::from([127, 0, 0, 7]))],
                    assigned_to: vec![],
                },
            ],
            groups: vec![
                DesiredGroup { name: "ops".into(), member_of: vec!["staff".into()] },
                DesiredGroup { name: "staff".into(), member_of: vec![] },
            ],
            service_principals: vec![],
            role_definitions: vec![],
            role_assignments: vec![],
            users: vec![DesiredUser {
                name: "alice".into(),
                password: "Correct-Horse-7".into(),
                groups: vec!["ops".into()],
                enabled: true,
            }],
            vaults: vec![DesiredVault {
                kind: VaultKind::Vault,
                name: "billing".into(),
                authorization: AuthorizationModel::Rbac,
                soft_delete_retention_days: 90,
                purge_protection: false,
                network: NetworkRules::default(),
                access_policies: vec![],
                role_assignments: vec![DesiredRoleAssignment {
                    principal_type: None,
                    principal: "billing-api".into(),
                    role: "Key Vault Secrets User".into(),
                    scope: Scope::Vault,
                }],
                secrets: vec![],
                subscription: None,
                resource_group: DEFAULT_RESOURCE_GROUP.into(),
                sku: Sku::Standard,
                activate: false,
                event_subscriptions: vec![],
            }],
            subscriptions: vec![],
        }],
    }
}

/// The directory after `changes` (a stand-in for a store).
fn apply(changes: &[Change]) -> Directory {
    let (mut tenants, mut principals, mut vaults) = (vec![], vec![], vec![]);
    let (mut assignments, mut tenant_assignments) = (HashMap::new(), HashMap::new());
    let (mut subscriptions, mut resource_groups) = (vec![], vec![]);
    let mut hashes: HashMap<Uuid, Vec<StoredSecret>> = HashMap::new();
    let mut managed_identities = HashMap::new();
    let mut application_credentials = HashMap::new();
    let mut users = HashMap::new();
    let mut memberships = HashMap::new();
    let mut service_principals = HashMap::new();
    for change in changes {
        match change {
            Change::CreateTenant(t) => tenants.push(t.clone()),
            Change::CreatePrincipal(p) => principals.push(p.clone()),
            Change::UpdatePrincipal(p) => {
                principals.retain(|q: &Principal| q.object_id != p.object_id);
                principals.push(p.clone());
            }
            Change::AddClientSecret { object_id, secret } => hashes.entry(*object_id).or_default().push(secret.clone()),
            Change::RemoveClientSecret { .. } | Change::SeedSecret { .. } | Change::RaiseEvent { .. } => {}
            Change::PutManagedIdentity { object_id, details } => {
                managed_identities.insert(*object_id, details.clone());
            }
            Change::PutApplicationCredentials { object_id, credentials } => {
                application_credentials.insert(*object_id, credentials.clone());
            }
            Change::PutUser { object_id, user } => {
                users.insert(*object_id, user.clone());
            }
            Change::PutMemberships { member, groups } => {
                memberships.insert(*member, groups.clone());
            }
            Change::PutServicePrincipal { object_id, application } => {
                service_principals.insert(*object_id, *application);
            }
            Change::PutVault(v) => vaults.push(v.clone()),
            Change::PutSubscription(subscription) => {
                subscriptions.retain(|s: &Subscription| s.id != subscription.id);
                subscriptions.push(subscription.clone());
            }
            Change::PutResourceGroup(group) => resource_groups.push(group.clone()),
            Change::ReplaceRoleAssignments { vault_id: Some(vault_id), assignments: a, .. } => {
                assignments.insert(*vault_id, a.clone());
            }
            Change::ReplaceRoleAssignments { tenant_id, vault_id: None, assignments: a } => {
                tenant_assignments.insert(*tenant_id, a.clone());
            }
            Change::PutRoleAssignment { .. }
            | Change::DeleteRoleAssignment { .. }
            | Change::PutRoleDefinition(_)
            | Change::DeleteRoleDefinition { .. }
            | Change::DeleteResourceGroup { .. }
            | Change::SoftDeleteVault(_)
            | Change::RecoverVault { .. }
            | Change::PurgeVault { .. }
            | Change::DeletePrincipal { .. } => {}
        }
    }
    Directory {
        tenants,
        principals,
        vaults,
        role_assignments: assignments,
        client_secrets: hashes,
        managed_identities,
        application_credentials,
        users,
        memberships,
        service_principals,
        tenant_role_assignments: tenant_assignments,
        subscriptions,
        resource_groups,
        ..Directory::default()
    }
}

#[test]
fn applying_twice_plans_nothing_the_second_time() -> Result<()> {
    let first = plan(&Directory::default(), &desired(), 0, &workload_key())?;
    assert_eq!(first.len(), 17, "{first:?}");
    let directory = apply(&first);
    let second = plan(&directory, &desired(), 0, &workload_key())?;
    assert!(second.is_empty(), "{second:?}");
    Ok(())
}

#[test]
fn a_name_two_kinds_share_needs_its_kind() -> Result<()> {
    let mut ambiguous = desired();
    ambiguous.tenants[0].users[0].name = "billing-api".into();
    let refused = plan(&Directory::default(), &ambiguous, 0, &workload_key());
    assert!(
        refused.as_ref().is_err_and(|e| e.message().contains("both a") && e.message().contains("principal_type")),
        "{refused:?}"
    );
    ambiguous.tenants[0].vaults[0].role_assignments[0].principal_type = Some(PrincipalKind::Application);
    let directory = apply(&plan(&Directory::default(), &ambiguous, 0, &workload_key())?);
    let granted = directory.role_assignments.values().flatten().map(|a| a.principal_id).collect::<Vec<_>>();
    let app = directory.principals().iter().find(|p| p.kind == PrincipalKind::Application).map(|p| p.object_id);
    assert_eq!(granted.first().copied(), app);
    ambiguous.tenants[0].vaults[0].role_assignments[0].principal_type = Some(PrincipalKind::Group);
    assert!(plan(&Directory::default(), &ambiguous, 0, &workload_key()).is_err());
    Ok(())
}

#[test]
fn a_changed_client_secret_replaces_the_old_one() -> Result<()> {
    let directory = apply(&plan(&Directory::default(), &desired(), 0, &workload_key())?);
    let mut changed = desired();
    changed.tenants[0].applications[0].secrets = vec![DeclaredSecret { value: "s2".into(), expires: None }];
    let changes = plan(&directory, &changed, 0, &workload_key())?;
    assert!(matches!(changes.as_slice(), [Change::AddClientSecret { .. }, Change::RemoveClientSecret { .. }]));
    Ok(())
}

#[test]
fn a_changed_trust_updates_the_principal_and_keeps_its_ids() -> Result<()> {
    let directory = apply(&plan(&Directory::default(), &desired(), 0, &workload_key())?);
    let mut changed = desired();
    changed.tenants[0].applications[0].trusted_service = true;
    let changes = plan(&directory, &changed, 0, &workload_key())?;
    let [Change::UpdatePrincipal(updated)] = changes.as_slice() else {
        return Err(Error::invalid_input(format_args!("{changes:?}")));
    };
    assert!(updated.trusted_service);
    assert_eq!(Some(updated.object_id), directory.principals().first().map(|p| p.object_id));
    Ok(())
}

#[test]
fn user_assigned_identities_reach_their_workloads() -> Result<()> {
    let directory = apply(&plan(&Directory::default(), &desired(), 0, &workload_key())?);
    let workload = directory.workload_at(IpAddr::from([127, 0, 0, 7])).map(|p| p.object_id);
    let names: Vec<&str> =
        workload.map(|w| directory.identities_of(w)).unwrap_or_default().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["web", "shared"]);
    assert!(directory.workload_at(IpAddr::from([127, 0, 0, 8])).is_none());
    let resource = workload.and_then(|w| directory.managed_identity_resource_id(w)).unwrap_or_default();
    assert!(resource.ends_with("/providers/Microsoft.Compute/virtualMachines/web"), "{resource}");

    let mut broken = desired();
    broken.tenants[0].managed_identities[0].assigned_to = vec!["nowhere".into()];
    assert!(plan(&Directory::default(), &broken, 0, &workload_key()).is_err());
    Ok(())
}

#[test]
fn users_sign_in_by_name_and_belong_to_nested_groups() -> Result<()> {
    let directory = apply(&plan(&Directory::default(), &desired(), 0, &workload_key())?);
    let tenant = directory.tenants[0].id;
    let (alice, details) =
        directory.user_by_sign_in_name(tenant, "ALICE@contoso").ok_or_else(|| Error::invalid_input("no alice"))?;
    assert!(credential::verify_secret("Correct-Horse-7", &details.password_hash));
    assert!(directory.user_by_sign_in_name(tenant, "alice@fabrikam").is_none());
    assert_eq!(directory.groups_of(alice.object_id).len(), 2);

    let mut changed = desired();
    changed.tenants[0].users[0].enabled = false;
    let changes = plan(&directory, &changed, 0, &workload_key())?;
    assert!(matches!(changes.as_slice(), [Change::PutUser { user, .. }] if !user.enabled), "{changes:?}");
    assert!(
        matches!(changes.as_slice(), [Change::PutUser { user, .. }] if user.grants_valid_after_ms == Some(0)),
        "disabling revokes earlier grants"
    );

    let mut new_password = desired();
    new_password.tenants[0].users[0].password = "Another-Horse-8".into();
    let changes = plan(&directory, &new_password, 1_700, &workload_key())?;
    assert!(
        matches!(changes.as_slice(), [Change::PutUser { user, .. }] if user.grants_valid_after_ms == Some(1_700_000)),
        "a new password revokes earlier grants: {changes:?}"
    );
    assert!(plan(&directory, &desired(), 1_700, &workload_key())?.is_empty(), "an unchanged user keeps its grants");
    Ok(())
}

#[test]
fn multi_tenant_applications_get_service_principals_elsewhere() -> Result<()> {
    let mut wanted = desired();
    wanted.tenants[0].applications[0].multi_tenant = true;
    let client_id = Uuid::new_v4();
    wanted.tenants[0].applications[0].client_id = Some(client_id);
    let mut other = wanted.tenants[0].clone();
    other.name = "fabrikam".into();
    other.applications.clear();
    other.managed_identities.clear();
    other.users.clear();
    other.groups.clear();
    other.vaults[0].name = "fabrikam-vault".into();
    other.service_principals = vec![client_id];
    wanted.tenants.push(other);
    let directory = apply(&plan(&Directory::default(), &wanted, 0, &workload_key())?);
    let sp = directory
        .principals
        .iter()
        .find(|p| p.client_id == Some(client_id) && p.tenant_id == directory.tenants[1].id)
        .ok_or_else(|| Error::invalid_input("no service principal"))?;
    let home = directory.application(directory.tenants[0].id, client_id).map(|p| p.object_id);
    assert_eq!(Some(directory.credential_owner(sp.object_id)), home);
    assert_ne!(Some(sp.object_id), home);
    assert!(plan(&directory, &wanted, 0, &workload_key())?.is_empty());

    wanted.tenants[0].applications[0].multi_tenant = false;
    assert!(
        plan(&Directory::default(), &wanted, 0, &workload_key()).is_err_and(|e| e.message().contains("single-tenant"))
    );
    Ok(())
}

#[test]
fn assignments_must_name_a_principal_of_the_tenant() {
    let mut broken = desired();
    broken.tenants[0].vaults[0].role_assignments[0].principal = "nobody".into();
    let err = plan(&Directory::default(), &broken, 0, &workload_key()).err();
    assert!(err.is_some_and(|e| e.message().contains("'nobody'")));
}

#[test]
fn retention_outside_7_to_90_is_refused() {
    let mut broken = desired();
    broken.tenants[0].vaults[0].soft_delete_retention_days = 5;
    assert!(plan(&Directory::default(), &broken, 0, &workload_key()).is_err());
}

#[test]
fn a_fixed_tenant_id_cannot_change() -> Result<()> {
    let directory = apply(&plan(&Directory::default(), &desired(), 0, &workload_key())?);
    let mut changed = desired();
    changed.tenants[0].id = Some(Uuid::new_v4());
    assert!(plan(&directory, &changed, 0, &workload_key()).is_err());
    Ok(())
}

#[test]
fn every_tenant_has_a_subscription_made_once_and_declared_ones_keep_their_ids() -> Result<()> {
    let directory = apply(&plan(&Directory::default(), &desired(), 0, &workload_key())?);
    let tenant = directory.tenants()[0].id;
    let made = directory.default_subscription(tenant).cloned();
    assert!(made.as_ref().is_some_and(|s| s.is_default && s.name == DEFAULT_SUBSCRIPTION_NAME), "{made:?}");
    let group = made.as_ref().and_then(|s| directory.resource_group(s.id, DEFAULT_RESOURCE_GROUP));
    assert!(group.is_some(), "the default group exists");
    assert_eq!(directory.vaults()[0].subscription_id, made.as_ref().map_or(Uuid::nil(), |s| s.id));
    assert!(plan(&directory, &desired(), 0, &workload_key())?.is_empty(), "kept, not made again");

    let fixed = Uuid::new_v4();
    let mut declared = desired();
    declared.tenants[0].subscriptions = vec![
        DesiredSubscription { name: "Production".into(), id: Some(fixed) },
        DesiredSubscription { name: "Test".into(), id: None },
    ];
    declared.tenants[0].vaults[0].subscription = Some("test".into());
    declared.tenants[0].vaults[0].resource_group = "billing-rg".into();
    let directory = apply(&plan(&Directory::default(), &declared, 0, &workload_key())?);
    let tenant = directory.tenants()[0].id;
    assert_eq!(directory.default_subscription(tenant).map(|s| s.id), Some(fixed));
    let test = directory.subscriptions_of(tenant).into_iter().find(|s| s.name == "Test").cloned();
    let vault = &directory.vaults()[0];
    assert_eq!((Some(vault.subscription_id), vault.resource_group.as_str()), (test.map(|s| s.id), "billing-rg"));
    assert!(plan(&directory, &declared, 0, &workload_key())?.is_empty());

    let mut twice = declared.clone();
    twice.tenants[0].subscriptions.push(DesiredSubscription { name: "production".into(), id: None });
    assert!(plan(&Directory::default(), &twice, 0, &workload_key()).is_err(), "a name declared twice");
    Ok(())
}

#[test]
fn another_tenants_subscription_id_is_refused() -> Result<()> {
    let directory = apply(&plan(&Directory::default(), &desired(), 0, &workload_key())?);
    let taken = directory.subscriptions[0].id;
    let mut other = desired();
    other.tenants[0].name = "fabrikam".into();
    other.tenants[0].vaults.clear();
    other.tenants[0].subscriptions = vec![DesiredSubscription { name: "Stolen".into(), id: Some(taken) }];
    let refused = plan(&directory, &other, 0, &workload_key());
    assert!(refused.is_err_and(|e| e.message().contains("another tenant")));
    Ok(())
}
