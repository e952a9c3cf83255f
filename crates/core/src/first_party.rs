//! Microsoft's first-party public clients that developer tools sign users in with. In Entra they exist in
//! every tenant without being registered there; so they do here: each is a public client (it has no secret
//! to keep), for user sign-in only — never the client-credentials grant — and a token it obtains carries
//! the signed-in user, whose own roles decide everything.
//!
//! One of them is Strongroom's own: the portal ([`PORTAL`]), which signs people in through the authorize page
//! like any other client and may receive codes only at this server's own portal.

use uuid::Uuid;

/// A first-party public client: its well-known client id and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstPartyClient {
    /// The client id tools send (`client_id`).
    pub client_id: Uuid,
    /// Its name in Entra.
    pub name: &'static str,
    /// The path on this server's login origin that is its one redirect URI, for a client served by this
    /// server; `None` for a tool, which listens on a loopback port of its own.
    pub redirect_path: Option<&'static str>,
}

/// The portal: Azure Portal's application id, answering at `/portal/callback`.
pub const PORTAL: FirstPartyClient = FirstPartyClient {
    client_id: Uuid::from_u128(0xc44b4083_3bb0_49c1_b47d_974e53cbdf3c),
    name: "Azure Portal",
    redirect_path: Some("/portal/callback"),
};

/// The first-party clients every tenant knows.
pub const FIRST_PARTY_CLIENTS: &[FirstPartyClient] = &[
    FirstPartyClient {
        client_id: Uuid::from_u128(0x04b07795_8ddb_461a_bbee_02f9e1bf7b46),
        name: "Microsoft Azure CLI",
        redirect_path: None,
    },
    FirstPartyClient {
        client_id: Uuid::from_u128(0x1950a258_227b_4e31_a9cf_717495945fc2),
        name: "Microsoft Azure PowerShell",
        redirect_path: None,
    },
    FirstPartyClient {
        client_id: Uuid::from_u128(0xaebc6443_996d_45c2_90f0_388ff96faa56),
        name: "Visual Studio Code",
        redirect_path: None,
    },
    FirstPartyClient {
        client_id: Uuid::from_u128(0x872cd9fa_d31f_45e0_9eab_6e460a02d1f1),
        name: "Visual Studio",
        redirect_path: None,
    },
    PORTAL,
];

/// The first-party client whose client id is `client_id`.
pub fn first_party_client(client_id: Uuid) -> Option<&'static FirstPartyClient> {
    FIRST_PARTY_CLIENTS.iter().find(|c| c.client_id == client_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_client_ids_are_known() {
        for (id, name) in [
            ("04b07795-8ddb-461a-bbee-02f9e1bf7b46", "Microsoft Azure CLI"),
            ("1950a258-227b-4e31-a9cf-717495945fc2", "Microsoft Azure PowerShell"),
            ("aebc6443-996d-45c2-90f0-388ff96faa56", "Visual Studio Code"),
            ("872cd9fa-d31f-45e0-9eab-6e460a02d1f1", "Visual Studio"),
            ("c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal"),
        ] {
            let client = Uuid::parse_str(id).ok().and_then(first_party_client);
            assert_eq!(client.map(|c| c.name), Some(name), "{id}");
        }
        assert_eq!(first_party_client(Uuid::new_v4()), None);
    }
}
