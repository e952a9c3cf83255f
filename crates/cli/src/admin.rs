//! The admin commands, named after Azure CLI's: `role assignment|definition …`, `keyvault …`, `ad app|user|
//! group …` and `identity …`. Each signs in (see [`Connection`]), calls the management API and prints its JSON answer.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, Connection};

/// `strongroom role …`
#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Role assignments.
    #[command(subcommand)]
    Assignment(AssignmentCommand),
    /// Role definitions.
    #[command(subcommand)]
    Definition(DefinitionCommand),
}

/// `strongroom role assignment …`
#[derive(Subcommand, Debug)]
pub enum AssignmentCommand {
    /// Assign a role to a user, group, application or managed identity.
    Create {
        /// Object id, client id, user sign-in name, or display name.
        #[arg(long)]
        assignee: String,
        /// Role name (e.g. "Key Vault Secrets User") or id.
        #[arg(long)]
        role: String,
        /// Resource id, or short: `/` (the tenant), `vaults/{name}`, `vaults/{name}/secrets/{secret}`.
        #[arg(long)]
        scope: String,
    },
    /// List the assignments at, above and below a scope.
    List {
        /// As for `create`; default: the tenant.
        #[arg(long, default_value = "/")]
        scope: String,
        /// Only this principal's.
        #[arg(long)]
        assignee: Option<String>,
    },
    /// Remove assignments: by id, or every one of a principal and role at a scope.
    Delete {
        /// Assignment resource ids.
        #[arg(long, num_args = 1.., conflicts_with_all = ["assignee", "role"])]
        ids: Vec<String>,
        /// Object id, client id, user sign-in name, or display name.
        #[arg(long, requires = "scope")]
        assignee: Option<String>,
        /// Role name or id.
        #[arg(long)]
        role: Option<String>,
        /// As for `create`.
        #[arg(long)]
        scope: Option<String>,
    },
}

/// `strongroom role definition …`
#[derive(Subcommand, Debug)]
pub enum DefinitionCommand {
    /// List the roles the tenant can assign.
    List {
        /// Only the role of this name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Create or update a custom role from JSON (`{"roleName", "description", "actions", "dataActions", …}`),
    /// given inline or as `@file`.
    Create {
        /// The definition.
        #[arg(long)]
        role_definition: String,
    },
    /// Delete a custom role.
    Delete {
        /// Its name or id.
        #[arg(long)]
        name: String,
    },
}

/// `strongroom keyvault …`
#[derive(Subcommand, Debug)]
pub enum VaultCommand {
    /// Create a vault.
    Create {
        /// The vault's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: VaultSettings,
    },
    /// Change a vault's settings.
    Update {
        /// The vault's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        settings: VaultSettings,
    },
    /// Show a vault.
    Show {
        /// The vault's name.
        #[arg(long)]
        name: String,
    },
    /// List the vaults.
    List,
    /// Delete an empty vault.
    Delete {
        /// The vault's name.
        #[arg(long)]
        name: String,
    },
    /// A vault's firewall rules.
    #[command(subcommand)]
    NetworkRule(NetworkRuleCommand),
}

/// `strongroom audit`: a vault's audit log (its `AZKVAuditLogs` rows), newest first, one JSON row per line.
#[derive(Args, Debug)]
pub struct AuditQuery {
    /// The vault's name.
    #[arg(long)]
    vault: String,
    /// Rows at or after this time (RFC 3339, or a prefix of it such as `2026-12-04T10`).
    #[arg(long)]
    from: Option<String>,
    /// Rows before this time (the same form).
    #[arg(long)]
    to: Option<String>,
    /// The caller's object id or application id.
    #[arg(long)]
    caller: Option<String>,
    /// The operation, e.g. `SecretGet`.
    #[arg(long)]
    operation: Option<String>,
    /// `Success` or `Failure`.
    #[arg(long)]
    outcome: Option<String>,
    /// The caller's address.
    #[arg(long)]
    address: Option<String>,
    /// Most rows printed (at most 500).
    #[arg(long, default_value_t = 100)]
    top: u32,
}

/// Runs `audit`.
pub async fn audit(connection: &Connection, query: AuditQuery) -> Result<(), String> {
    let client = Client::sign_in(connection).await?;
    let mut filters = form_urlencoded::Serializer::new(String::new());
    filters.append_pair("top", &query.top.to_string());
    let optional = [
        ("from", &query.from),
        ("to", &query.to),
        ("caller", &query.caller),
        ("operation", &query.operation),
        ("outcome", &query.outcome),
        ("address", &query.address),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            filters.append_pair(name, value);
        }
    }
    let path = format!(
        "{}/providers/Microsoft.Insights/logs?{}",
        scope_id(&client, &format!("vaults/{}", query.vault)),
        filters.finish()
    );
    let answer = client.call(Method::GET, &path, None).await?;
    for row in answer["value"].as_array().into_iter().flatten() {
        println!("{row}");
    }
    Ok(())
}

/// `strongroom events …`: a vault's Event Grid events.
#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// The events a vault's subscriptions could not deliver, oldest first, one JSON object per line (with the
    /// subscription, the attempts, the last error and the event itself).
    DeadLetters {
        /// The vault's name.
        #[arg(long)]
        vault: String,
    },
}

/// Runs `events`.
pub async fn events(connection: &Connection, command: EventsCommand) -> Result<(), String> {
    let EventsCommand::DeadLetters { vault } = command;
    let client = Client::sign_in(connection).await?;
    let path =
        format!("{}/providers/Strongroom.Events/deadLetteredEvents", scope_id(&client, &format!("vaults/{vault}")));
    let answer = client.call(Method::GET, &path, None).await?;
    for letter in answer["value"].as_array().into_iter().flatten() {
        println!("{letter}");
    }
    Ok(())
}

/// `strongroom test …`: the test controls of an installation that enabled them (`test_controls`).
#[derive(Subcommand, Debug)]
pub enum TestCommand {
    /// Make a vault answer 429, 500 or 503, or answer late: for the next N requests, or a share of them.
    Fault {
        /// The vault's name.
        #[arg(long)]
        vault: String,
        /// The status forced: 429, 500 or 503 (leave out to add latency only).
        #[arg(long)]
        status: Option<u16>,
        /// For this many requests, then the vault answers normally again.
        #[arg(long)]
        count: Option<u32>,
        /// For this share of requests, spread evenly (e.g. 0.25: one in four).
        #[arg(long)]
        fraction: Option<f64>,
        /// Milliseconds added before every request is served.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// `Retry-After` of a forced 429 or 503, in seconds (default 1).
        #[arg(long)]
        retry_after: Option<u32>,
        /// Show the vault's fault plan instead.
        #[arg(long, conflicts_with_all = ["status", "count", "fraction", "clear"])]
        show: bool,
        /// Clear the vault's fault plan instead.
        #[arg(long, conflicts_with_all = ["status", "count", "fraction"])]
        clear: bool,
    },
    /// Show the server's clock, or move it: expiry, near-expiry, rotation and renewal run by it.
    Clock {
        /// Move it this far ahead of now: seconds, or with a unit (`90m`, `12h`, `30d`).
        #[arg(long, conflicts_with = "reset")]
        advance: Option<String>,
        /// Set it back to the system's time.
        #[arg(long)]
        reset: bool,
    },
}

/// Runs a `test` command.
pub async fn test(connection: &Connection, command: TestCommand) -> Result<(), String> {
    let client = Client::sign_in(connection).await?;
    match command {
        TestCommand::Fault { vault, status, count, fraction, latency_ms, retry_after, show, clear } => {
            let path = format!(
                "{}/providers/Strongroom.Testing/faults/default",
                scope_id(&client, &format!("vaults/{vault}"))
            );
            if show {
                print(&client.call(Method::GET, &path, None).await?);
            } else if clear {
                client.call(Method::DELETE, &path, None).await?;
                println!("cleared the faults of vault {vault}");
            } else {
                let properties = json!({
                    "statusCode": status,
                    "count": count,
                    "fraction": fraction,
                    "latencyMs": latency_ms,
                    "retryAfterSeconds": retry_after,
                });
                print(&client.call(Method::PUT, &path, Some(&json!({ "properties": properties }))).await?);
            }
        }
        TestCommand::Clock { advance, reset } => {
            let path = format!("{}/providers/Strongroom.Testing/clock", client.subscription());
            let body = match (advance, reset) {
                (Some(advance), _) => Some(json!({"properties": {"advanceSeconds": seconds(&advance)?}})),
                (None, true) => Some(json!({"properties": {"offsetSeconds": 0}})),
                (None, false) => None,
            };
            let method = if body.is_some() { Method::PUT } else { Method::GET };
            print(&client.call(method, &path, body.as_ref()).await?);
        }
    }
    Ok(())
}

/// Seconds in `text`: a number of seconds, or one with a unit `s`, `m`, `h` or `d`.
fn seconds(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => (&text[..at], unit),
        _ => (text, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(format!("{text}: the unit is s, m, h or d")),
    };
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text}: not a number of seconds, minutes, hours or days"))
}

/// Vault settings, as `az keyvault create|update` names them.
#[derive(Args, Debug)]
pub struct VaultSettings {
    /// Azure RBAC (true) or access policies (false).
    #[arg(long)]
    enable_rbac_authorization: Option<bool>,
    /// Soft-delete retention, 7..90 days.
    #[arg(long)]
    retention_days: Option<u32>,
    /// Turn purge protection on (it cannot be turned off).
    #[arg(long)]
    enable_purge_protection: Option<bool>,
    /// Enabled or Disabled.
    #[arg(long)]
    public_network_access: Option<String>,
    /// The firewall's default: Allow or Deny.
    #[arg(long)]
    default_action: Option<String>,
    /// AzureServices or None.
    #[arg(long)]
    bypass: Option<String>,
}

/// `strongroom keyvault network-rule …`
#[derive(Subcommand, Debug)]
pub enum NetworkRuleCommand {
    /// Allow an address, range or subnet.
    Add(NetworkRule),
    /// Stop allowing an address, range or subnet.
    Remove(NetworkRule),
    /// List the rules.
    List {
        /// The vault's name.
        #[arg(long)]
        name: String,
    },
}

/// One firewall rule.
#[derive(Args, Debug)]
pub struct NetworkRule {
    /// The vault's name.
    #[arg(long)]
    name: String,
    /// An address or CIDR range.
    #[arg(long, required_unless_present = "subnet")]
    ip_address: Option<String>,
    /// A subnet, `{network}/{subnet}` or its resource id.
    #[arg(long)]
    subnet: Option<String>,
}

/// `strongroom ad …`
#[derive(Subcommand, Debug)]
pub enum DirectoryCommand {
    /// Applications.
    #[command(subcommand)]
    App(AppCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// Groups.
    #[command(subcommand)]
    Group(GroupCommand),
}

/// `strongroom ad app …`
#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Register an application (and its service principal).
    Create {
        /// Its name.
        #[arg(long)]
        display_name: String,
        /// AzureADMyOrg (default) or AzureADMultipleOrgs.
        #[arg(long)]
        sign_in_audience: Option<String>,
    },
    /// List applications.
    List,
    /// Show an application.
    Show {
        /// Object id or client id.
        #[arg(long)]
        id: String,
    },
    /// Delete an application.
    Delete {
        /// Object id or client id.
        #[arg(long)]
        id: String,
    },
    /// Client secrets and certificates.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Federated credentials (workload identity).
    #[command(subcommand)]
    FederatedCredential(FederatedCommand),
}

/// `strongroom ad app federated-credential …`
#[derive(Subcommand, Debug)]
pub enum FederatedCommand {
    /// Let tokens of an external issuer, for one subject and audience, stand for the application.
    Create {
        /// Object id or client id of the application.
        #[arg(long)]
        id: String,
        /// A name for the credential.
        #[arg(long)]
        name: String,
        /// The external issuer (its keys are found by OpenID discovery).
        #[arg(long)]
        issuer: String,
        /// The external subject.
        #[arg(long)]
        subject: String,
        /// The audience the external tokens carry.
        #[arg(long, default_value = "api://AzureADTokenExchange")]
        audience: String,
    },
    /// List an application's federated credentials.
    List {
        /// Object id or client id of the application.
        #[arg(long)]
        id: String,
    },
    /// Remove a federated credential.
    Delete {
        /// Object id or client id of the application.
        #[arg(long)]
        id: String,
        /// The credential's name.
        #[arg(long)]
        name: String,
    },
}

/// `strongroom ad app credential …`
#[derive(Subcommand, Debug)]
pub enum CredentialCommand {
    /// Add a client secret and print it (once).
    Reset {
        /// Object id or client id.
        #[arg(long)]
        id: String,
        /// A label.
        #[arg(long)]
        display_name: Option<String>,
        /// Expiry (RFC 3339); default: two years.
        #[arg(long)]
        end_date: Option<String>,
    },
    /// Remove a client secret.
    Delete {
        /// Object id or client id.
        #[arg(long)]
        id: String,
        /// The secret's key id.
        #[arg(long)]
        key_id: String,
    },
    /// Replace the application's certificates with the ones of a PEM file.
    SetCertificate {
        /// Object id or client id.
        #[arg(long)]
        id: String,
        /// A PEM file of one or more certificates.
        #[arg(long)]
        cert: std::path::PathBuf,
    },
}

/// `strongroom ad user …`
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password comes from `STRONGROOM_USER_PASSWORD` or the flag.
    Create {
        /// `{name}@{tenant}` or `{name}`.
        #[arg(long)]
        user_principal_name: String,
        /// The password.
        #[arg(long, env = "STRONGROOM_USER_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// List users.
    List,
    /// Enable or disable a user, or set a password.
    Update {
        /// Object id or sign-in name.
        #[arg(long)]
        id: String,
        /// Whether the user may sign in.
        #[arg(long)]
        account_enabled: Option<bool>,
        /// A new password.
        #[arg(long)]
        password: Option<String>,
    },
    /// Delete a user.
    Delete {
        /// Object id or sign-in name.
        #[arg(long)]
        id: String,
    },
}

/// `strongroom ad group …`
#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a group.
    Create {
        /// Its name.
        #[arg(long)]
        display_name: String,
    },
    /// List groups.
    List,
    /// Delete a group.
    Delete {
        /// Its object id.
        #[arg(long)]
        group: String,
    },
    /// Group members.
    #[command(subcommand)]
    Member(MemberCommand),
}

/// `strongroom ad group member …`
#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Add a member.
    Add {
        /// The group's object id.
        #[arg(long)]
        group: String,
        /// The member's object id.
        #[arg(long)]
        member_id: String,
    },
    /// Remove a member.
    Remove {
        /// The group's object id.
        #[arg(long)]
        group: String,
        /// The member's object id.
        #[arg(long)]
        member_id: String,
    },
}

/// What an admin command prints: the management API's answer, pretty-printed.
fn print(value: &Value) {
    if !value.is_null() {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
    }
}

/// Runs a `role` command.
pub async fn role(connection: &Connection, command: RoleCommand) -> Result<(), String> {
    let client = Client::sign_in(connection).await?;
    let assignments = "/providers/Microsoft.Authorization/roleAssignments";
    match command {
        RoleCommand::Assignment(AssignmentCommand::Create { assignee, role, scope }) => {
            let principal = resolve_principal(&client, &assignee).await?;
            let path = format!("{}{assignments}/{}", scope_id(&client, &scope), uuid::Uuid::new_v4());
            let body = json!({"properties": {"roleDefinitionId": role, "principalId": principal}});
            print(&client.call(Method::PUT, &path, Some(&body)).await?);
        }
        RoleCommand::Assignment(AssignmentCommand::List { scope, assignee }) => {
            let mut path = format!("{}{assignments}", scope_id(&client, &scope));
            if let Some(assignee) = assignee {
                path += &format!("?$filter=principalId eq '{}'", resolve_principal(&client, &assignee).await?);
            }
            print(&client.call(Method::GET, &path, None).await?["value"]);
        }
        RoleCommand::Assignment(AssignmentCommand::Delete { ids, assignee, role, scope }) => {
            let ids = match (assignee, scope) {
                (Some(assignee), Some(scope)) => {
                    matching_assignments(&client, &assignee, role.as_deref(), &scope).await?
                }
                _ => ids,
            };
            if ids.is_empty() {
                return Err("no role assignment matches".to_owned());
            }
            for id in ids {
                client.call(Method::DELETE, &id, None).await?;
                println!("deleted {id}");
            }
        }
        RoleCommand::Definition(DefinitionCommand::List { name }) => {
            let mut path = format!("{}/providers/Microsoft.Authorization/roleDefinitions", client.subscription());
            if let Some(name) = name {
                path += &format!("?$filter=roleName eq '{name}'");
            }
            print(&client.call(Method::GET, &path, None).await?["value"]);
        }
        RoleCommand::Definition(DefinitionCommand::Create { role_definition }) => {
            let text = match role_definition.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?,
                None => role_definition,
            };
            let given: Value =
                serde_json::from_str(&text).map_err(|e| format!("the role definition is not JSON: {e}"))?;
            let existing = find_definition(&client, given["roleName"].as_str().unwrap_or_default()).await?;
            let id = existing.map_or_else(
                || uuid::Uuid::new_v4().to_string(),
                |d| d["name"].as_str().unwrap_or_default().to_owned(),
            );
            let list = |key: &str| given.get(key).cloned().unwrap_or(json!([]));
            let body = json!({"properties": {
                "roleName": given["roleName"], "description": given.get("description").cloned().unwrap_or(json!("")),
                "type": "CustomRole",
                "permissions": [{"actions": list("actions"), "notActions": list("notActions"),
                                 "dataActions": list("dataActions"), "notDataActions": list("notDataActions")}],
                "assignableScopes": [client.subscription()],
            }});
            let path = format!("{}/providers/Microsoft.Authorization/roleDefinitions/{id}", client.subscription());
            print(&client.call(Method::PUT, &path, Some(&body)).await?);
        }
        RoleCommand::Definition(DefinitionCommand::Delete { name }) => {
            let found = find_definition(&client, &name).await?.ok_or_else(|| format!("no custom role '{name}'"))?;
            let id = found["id"].as_str().unwrap_or_default().to_owned();
            print(&client.call(Method::DELETE, &id, None).await?);
        }
    }
    Ok(())
}

async fn find_definition(client: &Client, name: &str) -> Result<Option<Value>, String> {
    let path = format!("{}/providers/Microsoft.Authorization/roleDefinitions", client.subscription());
    let all = client.call(Method::GET, &path, None).await?;
    Ok(all["value"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| {
            d["name"].as_str().is_some_and(|id| id.eq_ignore_ascii_case(name))
                || d["properties"]["roleName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .cloned())
}

/// The ids of the assignments of `assignee` (of `role`, if given) exactly at `scope`.
async fn matching_assignments(
    client: &Client,
    assignee: &str,
    role: Option<&str>,
    scope: &str,
) -> Result<Vec<String>, String> {
    let principal = resolve_principal(client, assignee).await?;
    let scope = scope_id(client, scope);
    let path =
        format!("{scope}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{principal}'");
    let listed = client.call(Method::GET, &path, None).await?;
    let role_id = match role {
        Some(role) => Some(
            find_definition(client, role)
                .await?
                .and_then(|d| d["name"].as_str().map(str::to_owned))
                .ok_or_else(|| format!("no role '{role}'"))?,
        ),
        None => None,
    };
    Ok(listed["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["properties"]["scope"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(&scope)))
        .filter(|a| {
            let definition = a["properties"]["roleDefinitionId"].as_str().unwrap_or_default();
            role_id.as_ref().is_none_or(|id| definition.to_ascii_lowercase().ends_with(&id.to_ascii_lowercase()))
        })
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect())
}

/// A full resource id from a scope as the user wrote it: a resource id, `/` for the tenant, or
/// `vaults/{name}[/{collection}/{object}]`.
fn scope_id(client: &Client, scope: &str) -> String {
    let trimmed = scope.trim();
    if trimmed.to_ascii_lowercase().starts_with("/subscriptions/") {
        return trimmed.trim_end_matches('/').to_owned();
    }
    match trimmed.trim_matches('/') {
        "" => client.subscription(),
        short => format!("{}/resourceGroups/strongroom/providers/Microsoft.KeyVault/{short}", client.subscription()),
    }
}

/// The object id of a principal named by object id, client id, user sign-in name or display name. A GUID
/// that names no principal the caller can see is passed on as it is.
async fn resolve_principal(client: &Client, assignee: &str) -> Result<String, String> {
    let mut candidates = Vec::new();
    for (path, name_fields) in [
        ("/v1.0/servicePrincipals", ["displayName", "appId"]),
        ("/v1.0/users", ["displayName", "userPrincipalName"]),
        ("/v1.0/groups", ["displayName", "displayName"]),
    ] {
        let Ok(listed) = client.call(Method::GET, path, None).await else { continue };
        for item in listed["value"].as_array().into_iter().flatten() {
            let matches = item["id"].as_str() == Some(assignee)
                || name_fields.iter().any(|f| item[*f].as_str().is_some_and(|v| v.eq_ignore_ascii_case(assignee)));
            if matches {
                candidates.push(item["id"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    candidates.dedup();
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] if uuid::Uuid::parse_str(assignee).is_ok() => Ok(assignee.to_owned()),
        [] => Err(format!(
            "no principal '{assignee}' (looking names up needs a directory role; an object id always works)"
        )),
        _ => Err(format!("'{assignee}' names several principals; use an object id")),
    }
}

/// Runs a `keyvault` command.
pub async fn keyvault(connection: &Connection, command: VaultCommand) -> Result<(), String> {
    let client = Client::sign_in(connection).await?;
    let vault = |name: &str| scope_id(&client, &format!("vaults/{name}"));
    match command {
        VaultCommand::Create { name, settings } => {
            let body = json!({"location": "local", "properties": properties(&settings, Some(&client.tenant_id))});
            print(&client.call(Method::PUT, &vault(&name), Some(&body)).await?);
        }
        VaultCommand::Update { name, settings } => {
            let body = json!({"properties": properties(&settings, None)});
            print(&client.call(Method::PATCH, &vault(&name), Some(&body)).await?);
        }
        VaultCommand::Show { name } => print(&client.call(Method::GET, &vault(&name), None).await?),
        VaultCommand::List => {
            let path =
                format!("{}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults", client.subscription());
            print(&client.call(Method::GET, &path, None).await?["value"]);
        }
        VaultCommand::Delete { name } => print(&client.call(Method::DELETE, &vault(&name), None).await?),
        VaultCommand::NetworkRule(NetworkRuleCommand::List { name }) => {
            print(&client.call(Method::GET, &vault(&name), None).await?["properties"]["networkAcls"]);
        }
        VaultCommand::NetworkRule(NetworkRuleCommand::Add(rule)) => {
            change_rule(&client, &vault(&rule.name), &rule, true).await?
        }
        VaultCommand::NetworkRule(NetworkRuleCommand::Remove(rule)) => {
            change_rule(&client, &vault(&rule.name), &rule, false).await?
        }
    }
    Ok(())
}

fn properties(settings: &VaultSettings, tenant: Option<&str>) -> Value {
    let mut properties = json!({});
    let mut set = |key: &str, value: Value| {
        if !value.is_null() {
            properties[key] = value;
        }
    };
    set("tenantId", json!(tenant));
    set("enableRbacAuthorization", json!(settings.enable_rbac_authorization));
    set("softDeleteRetentionInDays", json!(settings.retention_days));
    set("enablePurgeProtection", json!(settings.enable_purge_protection));
    set("publicNetworkAccess", json!(settings.public_network_access));
    let mut acls = json!({});
    if let Some(action) = &settings.default_action {
        acls["defaultAction"] = json!(action);
    }
    if let Some(bypass) = &settings.bypass {
        acls["bypass"] = json!(bypass);
    }
    if acls.as_object().is_some_and(|o| !o.is_empty()) {
        properties["networkAcls"] = acls;
    }
    properties
}

/// Adds or removes one firewall rule: reads the vault's rules, changes the list, writes it back.
async fn change_rule(client: &Client, vault: &str, rule: &NetworkRule, add: bool) -> Result<(), String> {
    let current = client.call(Method::GET, vault, None).await?;
    let acls = &current["properties"]["networkAcls"];
    let (key, field, value) = match (&rule.ip_address, &rule.subnet) {
        (Some(ip), _) => ("ipRules", "value", ip.clone()),
        (None, Some(subnet)) => ("virtualNetworkRules", "id", subnet.clone()),
        (None, None) => return Err("give --ip-address or --subnet".to_owned()),
    };
    let mut rules: Vec<Value> = acls[key].as_array().cloned().unwrap_or_default();
    let same = |r: &Value| {
        let existing = r[field].as_str().unwrap_or_default();
        existing.eq_ignore_ascii_case(&value) || existing.eq_ignore_ascii_case(&format!("{value}/32"))
    };
    if add {
        if !rules.iter().any(same) {
            rules.push(json!({ field: value }));
        }
    } else {
        rules.retain(|r| !same(r));
    }
    let body = json!({"properties": {"networkAcls": { key: rules }}});
    print(&client.call(Method::PATCH, vault, Some(&body)).await?["properties"]["networkAcls"]);
    Ok(())
}

/// Runs an `ad` command.
pub async fn directory(connection: &Connection, command: DirectoryCommand) -> Result<(), String> {
    let client = Client::sign_in(connection).await?;
    let answer = match command {
        DirectoryCommand::App(AppCommand::Create { display_name, sign_in_audience }) => {
            let body = json!({"displayName": display_name, "signInAudience": sign_in_audience});
            client.call(Method::POST, "/v1.0/applications", Some(&body)).await?
        }
        DirectoryCommand::App(AppCommand::List) => {
            client.call(Method::GET, "/v1.0/applications", None).await?["value"].take()
        }
        DirectoryCommand::App(AppCommand::Show { id }) => {
            client.call(Method::GET, &format!("/v1.0/applications/{id}"), None).await?
        }
        DirectoryCommand::App(AppCommand::Delete { id }) => {
            client.call(Method::DELETE, &format!("/v1.0/applications/{id}"), None).await?
        }
        DirectoryCommand::App(AppCommand::Credential(CredentialCommand::Reset { id, display_name, end_date })) => {
            let body = json!({"passwordCredential": {"displayName": display_name, "endDateTime": end_date}});
            let app = client.call(Method::GET, &format!("/v1.0/applications/{id}"), None).await?;
            let created =
                client.call(Method::POST, &format!("/v1.0/applications/{id}/addPassword"), Some(&body)).await?;
            json!({"appId": app["appId"], "password": created["secretText"], "keyId": created["keyId"],
                   "endDateTime": created["endDateTime"], "tenant": client.tenant_id})
        }
        DirectoryCommand::App(AppCommand::Credential(CredentialCommand::Delete { id, key_id })) => {
            let body = json!({"keyId": key_id});
            client.call(Method::POST, &format!("/v1.0/applications/{id}/removePassword"), Some(&body)).await?
        }
        DirectoryCommand::App(AppCommand::Credential(CredentialCommand::SetCertificate { id, cert })) => {
            let pem = std::fs::read_to_string(&cert).map_err(|e| format!("cannot read {}: {e}", cert.display()))?;
            let keys: Vec<Value> = pem_blocks(&pem)
                .into_iter()
                .map(|der| json!({"type": "AsymmetricX509Cert", "usage": "Verify", "key": der}))
                .collect();
            if keys.is_empty() {
                return Err(format!("{} holds no PEM certificate", cert.display()));
            }
            let body = json!({"keyCredentials": keys});
            client.call(Method::PATCH, &format!("/v1.0/applications/{id}"), Some(&body)).await?;
            client.call(Method::GET, &format!("/v1.0/applications/{id}"), None).await?["keyCredentials"].take()
        }
        DirectoryCommand::App(AppCommand::FederatedCredential(FederatedCommand::Create {
            id,
            name,
            issuer,
            subject,
            audience,
        })) => {
            let body = json!({"name": name, "issuer": issuer, "subject": subject, "audiences": [audience]});
            client
                .call(Method::POST, &format!("/v1.0/applications/{id}/federatedIdentityCredentials"), Some(&body))
                .await?
        }
        DirectoryCommand::App(AppCommand::FederatedCredential(FederatedCommand::List { id })) => client
            .call(Method::GET, &format!("/v1.0/applications/{id}/federatedIdentityCredentials"), None)
            .await?["value"]
            .take(),
        DirectoryCommand::App(AppCommand::FederatedCredential(FederatedCommand::Delete { id, name })) => {
            client
                .call(Method::DELETE, &format!("/v1.0/applications/{id}/federatedIdentityCredentials/{name}"), None)
                .await?
        }
        DirectoryCommand::User(UserCommand::Create { user_principal_name, password }) => {
            let body = json!({"userPrincipalName": user_principal_name, "accountEnabled": true,
                              "passwordProfile": {"password": password}});
            client.call(Method::POST, "/v1.0/users", Some(&body)).await?
        }
        DirectoryCommand::User(UserCommand::List) => {
            client.call(Method::GET, "/v1.0/users", None).await?["value"].take()
        }
        DirectoryCommand::User(UserCommand::Update { id, account_enabled, password }) => {
            let mut body = json!({});
            if let Some(enabled) = account_enabled {
                body["accountEnabled"] = json!(enabled);
            }
            if let Some(password) = password {
                body["passwordProfile"] = json!({"password": password});
            }
            client.call(Method::PATCH, &format!("/v1.0/users/{id}"), Some(&body)).await?
        }
        DirectoryCommand::User(UserCommand::Delete { id }) => {
            client.call(Method::DELETE, &format!("/v1.0/users/{id}"), None).await?
        }
        DirectoryCommand::Group(GroupCommand::Create { display_name }) => {
            client.call(Method::POST, "/v1.0/groups", Some(&json!({"displayName": display_name}))).await?
        }
        DirectoryCommand::Group(GroupCommand::List) => {
            client.call(Method::GET, "/v1.0/groups", None).await?["value"].take()
        }
        DirectoryCommand::Group(GroupCommand::Delete { group }) => {
            client.call(Method::DELETE, &format!("/v1.0/groups/{group}"), None).await?
        }
        DirectoryCommand::Group(GroupCommand::Member(MemberCommand::Add { group, member_id })) => {
            let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member_id}")});
            client.call(Method::POST, &format!("/v1.0/groups/{group}/members/$ref"), Some(&body)).await?
        }
        DirectoryCommand::Group(GroupCommand::Member(MemberCommand::Remove { group, member_id })) => {
            client.call(Method::DELETE, &format!("/v1.0/groups/{group}/members/{member_id}/$ref"), None).await?
        }
    };
    print(&answer);
    Ok(())
}

/// The base64 bodies of a PEM file's `CERTIFICATE` blocks (the DER, base64, as Graph's `key` wants it).
fn pem_blocks(pem: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match (line, current.as_mut()) {
            ("-----BEGIN CERTIFICATE-----", _) => current = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(_)) => blocks.extend(current.take()),
            (line, Some(body)) => body.push_str(line),
            _ => {}
        }
    }
    blocks
}

/// `strongroom identity …`
#[derive(Subcommand, Debug)]
pub enum IdentityCommand {
    /// Create (or change) a user-assigned managed identity.
    Create {
        /// Its name.
        #[arg(long)]
        name: String,
        /// Workloads (system-assigned identities, by name) that may use it; replaces the list.
        #[arg(long, num_args = 0..)]
        assigned_to: Option<Vec<String>>,
    },
    /// List user-assigned managed identities.
    List,
    /// Show one.
    Show {
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Delete one.
    Delete {
        /// Its name.
        #[arg(long)]
        name: String,
    },
}

/// Runs an `identity` command.
pub async fn identity(connection: &Connection, command: IdentityCommand) -> Result<(), String> {
    let client = Client::sign_in(connection).await?;
    let base = format!(
        "{}/resourceGroups/strongroom/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
        client.subscription()
    );
    let answer = match command {
        IdentityCommand::Create { name, assigned_to } => {
            let body = json!({"location": "local", "properties": {"assignedTo": assigned_to}});
            client.call(Method::PUT, &format!("{base}/{name}"), Some(&body)).await?
        }
        IdentityCommand::List => client.call(Method::GET, &base, None).await?["value"].take(),
        IdentityCommand::Show { name } => client.call(Method::GET, &format!("{base}/{name}"), None).await?,
        IdentityCommand::Delete { name } => client.call(Method::DELETE, &format!("{base}/{name}"), None).await?,
    };
    print(&answer);
    Ok(())
}

#[cfg(test)]
mod tests;
