//! Where vaults are filed in the Resource Manager: a tenant's subscriptions, their resource groups, and what a
//! vault carries as a resource (location, SKU, tags), with the rules Azure applies to their names.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::Vault;
use crate::error::{Error, Result};
use crate::key::KeyType;

/// The resource group every subscription has, and the one vaults are filed in unless they name another.
pub const DEFAULT_RESOURCE_GROUP: &str = "strongroom";

/// The location of the default resource group, and the one `/locations` lists.
pub const DEFAULT_LOCATION: &str = "local";

/// The name of a subscription provisioning creates when a tenant declares none.
pub const DEFAULT_SUBSCRIPTION_NAME: &str = "Strongroom";

/// Resource tags: names to values, at most [`MAX_TAGS`].
pub type Tags = BTreeMap<String, String>;

/// How many tags a resource may carry, as in Azure.
pub const MAX_TAGS: usize = 50;

/// A subscription: a container of resource groups, owned by one tenant whose role assignments govern it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The subscription id.
    pub id: Uuid,
    /// The tenant that owns it.
    pub tenant_id: Uuid,
    /// Its display name.
    pub name: String,
    /// Whether it is the tenant's default: the one a path that names the tenant's id instead of a
    /// subscription's addresses, and the one vaults are filed in unless they name another.
    pub is_default: bool,
}

/// A resource group of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroup {
    /// The subscription it belongs to.
    pub subscription_id: Uuid,
    /// Its name, unique in the subscription in any case; the first spelling is kept.
    pub name: String,
    /// Its location.
    pub location: String,
    /// Its tags.
    pub tags: Tags,
}

/// A vault's pricing tier. A premium vault may hold keys of the `-HSM` types; a standard one may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sku {
    /// Software-protected keys only.
    #[default]
    Standard,
    /// Software- and HSM-protected keys.
    Premium,
}

impl Sku {
    /// The name as Resource Manager spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Sku::Standard => "standard",
            Sku::Premium => "premium",
        }
    }

    /// Whether a vault of this SKU may hold keys of type `kty`: `-HSM` keys need premium, as in Azure.
    pub fn holds(self, kty: KeyType) -> bool {
        self == Sku::Premium || !kty.is_hsm()
    }

    /// The SKU named `text` (any case).
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "standard" => Ok(Sku::Standard),
            "premium" => Ok(Sku::Premium),
            _ => Err(Error::invalid_input(format_args!("'{text}' is not a vault SKU: use standard or premium"))),
        }
    }
}

/// A soft-deleted vault: recoverable until its purge date, holding its name (and its objects) until then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedVault {
    /// The vault as it was.
    pub vault: Vault,
    /// When it was deleted, Unix seconds.
    pub deleted_at: i64,
    /// When it is purged, Unix seconds.
    pub scheduled_purge: i64,
}

impl DeletedVault {
    /// `vault` deleted at `now`: it stays recoverable for its retention period.
    pub fn of(vault: Vault, now: i64) -> Self {
        let scheduled_purge = now + i64::from(vault.soft_delete_retention_days) * 86_400;
        Self { vault, deleted_at: now, scheduled_purge }
    }
}

/// Checks a resource group name as Resource Manager does: 1 to 90 letters, digits, underscores, hyphens,
/// periods and parentheses, not ending with a period.
pub fn validate_resource_group_name(name: &str) -> Result<()> {
    let valid = (1..=90).contains(&name.len())
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'))
        && !name.ends_with('.');
    match valid {
        true => Ok(()),
        false => Err(Error::invalid_input(
            "a resource group name is 1 to 90 letters, digits, underscores, hyphens, periods and parentheses, \
             not ending with a period",
        )),
    }
}

/// Checks a location name: 1 to 64 letters and digits (Azure's names, such as `westeurope`, or `local`).
pub fn validate_location(location: &str) -> Result<()> {
    match (1..=64).contains(&location.len()) && location.bytes().all(|b| b.is_ascii_alphanumeric()) {
        true => Ok(()),
        false => Err(Error::invalid_input(format_args!(
            "'{location}' is not a location: a location is a name of letters and digits such as '{DEFAULT_LOCATION}'"
        ))),
    }
}

/// Checks tags as Azure does: at most [`MAX_TAGS`], names of 1 to 512 characters without `<>%&\?/`, values
/// of at most 256 characters.
pub fn validate_tags(tags: &Tags) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid_input(format_args!("a resource has at most {MAX_TAGS} tags")));
    }
    for (name, value) in tags {
        if name.is_empty() || name.chars().count() > 512 || name.contains(['<', '>', '%', '&', '\\', '?', '/']) {
            return Err(Error::invalid_input(format_args!(
                "the tag name '{name}' is invalid: 1 to 512 characters, none of <>%&\\?/"
            )));
        }
        if value.chars().count() > 256 {
            return Err(Error::invalid_input(format_args!("the value of tag '{name}' is over 256 characters")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_group_names_follow_resource_manager() {
        for good in ["strongroom", "rg-1", "my_group.(eu)", "a"] {
            assert!(validate_resource_group_name(good).is_ok(), "{good}");
        }
        for bad in ["", "ends.", "has space", "slash/", &"x".repeat(91)] {
            assert!(validate_resource_group_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn skus_and_locations_are_checked() {
        assert_eq!(Sku::parse("Premium").ok(), Some(Sku::Premium));
        assert_eq!(Sku::parse("standard").ok(), Some(Sku::Standard));
        assert!(Sku::parse("gold").is_err());
        assert!(Sku::Premium.holds(KeyType::RsaHsm) && Sku::Premium.holds(KeyType::Ec));
        assert!(!Sku::Standard.holds(KeyType::EcHsm) && Sku::Standard.holds(KeyType::Rsa));
        assert!(validate_location("westeurope").is_ok());
        assert!(validate_location("west europe").is_err());
        assert!(validate_location("").is_err());
    }

    #[test]
    fn tags_are_bounded() {
        let many: Tags = (0..=MAX_TAGS).map(|i| (format!("t{i}"), String::new())).collect();
        assert!(validate_tags(&many).is_err());
        assert!(validate_tags(&Tags::from([("env".into(), "dev".into())])).is_ok());
        assert!(validate_tags(&Tags::from([("a/b".into(), "x".into())])).is_err());
        assert!(validate_tags(&Tags::from([("long".into(), "v".repeat(257))])).is_err());
    }
}
