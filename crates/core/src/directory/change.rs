//! The directory's write language: one change to the stored directory (and the secrets provisioning seeds),
//! as the provisioning plan and the management API make them and the store applies them.

use uuid::Uuid;

use super::{
    ApplicationCredentials, DeletedVault, ManagedIdentity, Principal, ResourceGroup, Subscription, Tenant, User, Vault,
};
use crate::credential::StoredSecret;
use crate::object::ObjectVersion;
use crate::rbac::{Role, RoleAssignment};

/// One change to the stored state.
#[derive(Debug, Clone)]
pub enum Change {
    /// Create a tenant.
    CreateTenant(Tenant),
    /// Create a subscription or change its name and whether it is its tenant's default (its tenant never
    /// changes).
    PutSubscription(Subscription),
    /// Create a resource group or change its tags.
    PutResourceGroup(ResourceGroup),
    /// Remove a resource group; its vaults must have been deleted first.
    DeleteResourceGroup {
        /// Its subscription.
        subscription_id: Uuid,
        /// Its name (any case).
        name: String,
    },
    /// Create a principal.
    CreatePrincipal(Principal),
    /// Change a principal's settings (its ids never change).
    UpdatePrincipal(Principal),
    /// Set a user's sign-in details.
    PutUser {
        /// The user's object id.
        object_id: Uuid,
        /// Its details.
        user: User,
    },
    /// Set the groups a principal is a direct member of.
    PutMemberships {
        /// The member's object id.
        member: Uuid,
        /// The groups.
        groups: Vec<Uuid>,
    },
    /// Set an application's certificate and federated credentials.
    PutApplicationCredentials {
        /// The application's object id.
        object_id: Uuid,
        /// Its credentials.
        credentials: ApplicationCredentials,
    },
    /// Record that a principal is the service principal of an application of another tenant.
    PutServicePrincipal {
        /// The service principal's object id.
        object_id: Uuid,
        /// The application object's (home principal's) object id.
        application: Uuid,
    },
    /// Set a managed identity's details.
    PutManagedIdentity {
        /// The identity's object id.
        object_id: Uuid,
        /// Its details.
        details: ManagedIdentity,
    },
    /// Accept one more client secret, by its hash.
    AddClientSecret {
        /// The principal.
        object_id: Uuid,
        /// The hash and expiry.
        secret: StoredSecret,
    },
    /// Stop accepting a client secret.
    RemoveClientSecret {
        /// The principal.
        object_id: Uuid,
        /// The stored hash.
        hash: String,
    },
    /// Create or update a vault.
    PutVault(Vault),
    /// Replace the provisioned role assignments of a vault (`Some`) or of a tenant's scope (`None`).
    ReplaceRoleAssignments {
        /// The tenant.
        tenant_id: Uuid,
        /// The vault, for assignments on a vault or its objects.
        vault_id: Option<Uuid>,
        /// The new set.
        assignments: Vec<RoleAssignment>,
    },
    /// Add one role assignment (on a vault when `vault_id` is given, else at the tenant's scope).
    PutRoleAssignment {
        /// The tenant.
        tenant_id: Uuid,
        /// The vault.
        vault_id: Option<Uuid>,
        /// The assignment.
        assignment: RoleAssignment,
    },
    /// Remove a role assignment.
    DeleteRoleAssignment {
        /// Its id.
        id: Uuid,
    },
    /// Create or change a custom role definition.
    PutRoleDefinition(Role),
    /// Remove a custom role definition (it must have no assignments left).
    DeleteRoleDefinition {
        /// Its id.
        id: Uuid,
    },
    /// Soft-delete a vault: it stops serving, keeps its objects and name, and can be recovered until it is
    /// purged.
    SoftDeleteVault(DeletedVault),
    /// Bring a soft-deleted vault back as it was.
    RecoverVault {
        /// The vault.
        vault_id: Uuid,
    },
    /// Remove a vault for good, with its objects, certificate data and role assignments.
    PurgeVault {
        /// The vault.
        vault_id: Uuid,
    },
    /// Remove a principal with its credentials, memberships and role assignments.
    DeletePrincipal {
        /// Its object id.
        object_id: Uuid,
    },
    /// Enqueue an event of the vault for its event subscriptions, in the same transaction as the change it
    /// reports (a vault's access policies).
    RaiseEvent {
        /// The vault.
        vault_id: Uuid,
        /// The event.
        event: crate::events::VaultEvent,
    },
    /// Create a secret unless the vault already has one of that name.
    SeedSecret {
        /// The vault.
        vault_id: Uuid,
        /// The first version.
        version: ObjectVersion,
        /// Its value.
        value: String,
    },
}
