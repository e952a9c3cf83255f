//! Where a tenant's vaults live in Resource Manager's terms: its subscriptions and resource groups, as the
//! desired state declares them or as they already are.

use super::*;

/// The tenant's subscriptions as they will be: the declared ones (the first the default), each found by id or
/// name, or, when none is declared, those it has — a new one of its own if it has none.
pub(super) fn plan_subscriptions(
    current: &Directory,
    tenant_id: Uuid,
    desired: &[DesiredSubscription],
    changes: &mut Vec<Change>,
) -> Result<Vec<Subscription>> {
    let existing: Vec<Subscription> = current.subscriptions_of(tenant_id).into_iter().cloned().collect();
    let mut wanted: Vec<Subscription> = Vec::new();
    if desired.is_empty() {
        if existing.is_empty() {
            let id = Uuid::new_v4();
            wanted.push(Subscription { id, tenant_id, name: DEFAULT_SUBSCRIPTION_NAME.to_owned(), is_default: true });
        }
    } else {
        for (index, declared) in desired.iter().enumerate() {
            if declared.name.trim().is_empty() {
                return Err(Error::invalid_input("a subscription has a name"));
            }
            if let Some(id) = declared.id
                && current.subscription(id).is_some_and(|s| s.tenant_id != tenant_id)
            {
                return Err(Error::invalid_input(format_args!("subscription id {id} belongs to another tenant")));
            }
            let found = existing.iter().find(|s| match declared.id {
                Some(id) => s.id == id,
                None => s.name.eq_ignore_ascii_case(&declared.name),
            });
            let id = found.map(|s| s.id).or(declared.id).unwrap_or_else(Uuid::new_v4);
            if wanted.iter().any(|w| w.id == id || w.name.eq_ignore_ascii_case(&declared.name)) {
                return Err(Error::invalid_input(format_args!("subscription '{}' is declared twice", declared.name)));
            }
            wanted.push(Subscription { id, tenant_id, name: declared.name.clone(), is_default: index == 0 });
        }
        // Subscriptions no longer declared stay (with what is filed in them), no longer the default.
        let kept = existing.iter().filter(|s| !wanted.iter().any(|w| w.id == s.id));
        let kept: Vec<Subscription> = kept.map(|s| Subscription { is_default: false, ..s.clone() }).collect();
        wanted.extend(kept);
    }
    for subscription in &wanted {
        if current.subscription(subscription.id) != Some(subscription) {
            changes.push(Change::PutSubscription(subscription.clone()));
        }
    }
    let mut all = existing.into_iter().filter(|s| !wanted.iter().any(|w| w.id == s.id)).collect::<Vec<_>>();
    all.splice(0..0, wanted);
    all.sort_by_key(|s| !s.is_default);
    Ok(all)
}

/// The subscription a declared vault is filed in: the one it names (by name or id), else the default.
pub(super) fn vault_subscription<'a>(
    subscriptions: &'a [Subscription],
    vault: &DesiredVault,
) -> Result<&'a Subscription> {
    let found = match &vault.subscription {
        Some(reference) => subscriptions
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(reference) || s.id.to_string().eq_ignore_ascii_case(reference)),
        None => subscriptions.first(),
    };
    found.ok_or_else(|| {
        Error::invalid_input(format_args!(
            "vault '{}': no subscription '{}' in its tenant",
            vault.name,
            vault.subscription.as_deref().unwrap_or_default()
        ))
    })
}

/// The resource group `name` of `subscription`, created (in `groups` and as a change) if it does not exist.
pub(super) fn plan_resource_group(
    groups: &mut Vec<ResourceGroup>,
    subscription: &Subscription,
    name: &str,
    changes: &mut Vec<Change>,
) -> Result<ResourceGroup> {
    validate_resource_group_name(name)?;
    let found = groups.iter().find(|g| g.subscription_id == subscription.id && g.name.eq_ignore_ascii_case(name));
    if let Some(group) = found {
        return Ok(group.clone());
    }
    let group = ResourceGroup {
        subscription_id: subscription.id,
        name: name.to_owned(),
        location: DEFAULT_LOCATION.to_owned(),
        tags: Default::default(),
    };
    changes.push(Change::PutResourceGroup(group.clone()));
    groups.push(group.clone());
    Ok(group)
}
