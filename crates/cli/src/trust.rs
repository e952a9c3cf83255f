//! `strongroom trust`: install or uninstall the installation's CA in the system trust store and the dev server's
//! host names in the hosts file, or print the hosts lines. The work is `strongroom_server::trust`'s; this reads
//! the flags and says what changed.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use strongroom_server::dev::{MANAGED_HSM, Naming, VAULT};
use strongroom_server::trust::{self, HostsEntry, LocalCa, SystemPaths};

/// What `strongroom trust` does.
#[derive(Subcommand)]
pub enum TrustCommand {
    /// Put the CA into the system trust store and the dev server's host names into the hosts file (needs root;
    /// running it again changes nothing).
    Install {
        #[command(flatten)]
        names: Names,
        #[command(flatten)]
        system: System,
    },
    /// Take out exactly what `install` put in: the CA's file and the hosts lines marked as this installation's.
    Uninstall {
        /// The installation's data directory.
        #[arg(long, default_value = "strongroom-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        system: System,
    },
    /// Print the hosts-file lines `install` writes, changing nothing.
    Hosts {
        #[command(flatten)]
        names: Names,
    },
}

/// Which installation, and which of its names.
#[derive(Args)]
pub struct Names {
    /// The installation's data directory.
    #[arg(long, default_value = "strongroom-data")]
    data_dir: PathBuf,
    /// Azure's names (`strongroom dev --azure-hostnames`) instead of the dev server's own.
    #[arg(long)]
    azure_hostnames: bool,
    /// The address the names lead to (where the server listens).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    address: IpAddr,
    /// A vault to name (repeat it; a hosts file has no wildcards).
    #[arg(long = "vault", default_value = VAULT)]
    vaults: Vec<String>,
    /// A Managed HSM to name (repeat it).
    #[arg(long = "managed-hsm", default_value = MANAGED_HSM)]
    managed_hsms: Vec<String>,
}

impl Names {
    fn entry(&self) -> HostsEntry {
        let naming = if self.azure_hostnames { Naming::Azure } else { Naming::Local };
        HostsEntry { address: self.address, names: naming.host_names(&self.vaults, &self.managed_hsms) }
    }
}

/// Where the system keeps what `trust` changes (Debian's and Ubuntu's places unless told; tests point them at
/// copies).
#[derive(Args)]
pub struct System {
    /// The folder of the system's extra CA certificates.
    #[arg(long, default_value_os_t = SystemPaths::default().ca_dir)]
    ca_dir: PathBuf,
    /// The command that rebuilds the system's CA bundle from that folder.
    #[arg(long, default_value_os_t = SystemPaths::default().update_command)]
    update_command: PathBuf,
    /// The hosts file.
    #[arg(long, default_value_os_t = SystemPaths::default().hosts_file)]
    hosts_file: PathBuf,
}

impl System {
    fn paths(self) -> SystemPaths {
        SystemPaths { ca_dir: self.ca_dir, update_command: self.update_command, hosts_file: self.hosts_file }
    }
}

/// Runs `command`, printing what it changed.
pub fn run(command: TrustCommand) -> Result<(), String> {
    let report = match command {
        TrustCommand::Install { names, system } => {
            let ca = LocalCa::of(&names.data_dir).map_err(|e| e.to_string())?;
            let mut report = trust::install(&ca, &system.paths(), Some(&names.entry())).map_err(|e| e.to_string())?;
            report.push(
                "curl, wget, Go and the JDK (with ca-certificates-java) read the system trust store; Python's \
                 requests and Node.js keep bundles of their own: `source dev.env` points them at the CA \
                 (REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS)"
                    .to_owned(),
            );
            report
        }
        TrustCommand::Uninstall { data_dir, system } => {
            let ca = LocalCa::of(&data_dir).map_err(|e| e.to_string())?;
            trust::uninstall(&ca, &system.paths()).map_err(|e| e.to_string())?
        }
        TrustCommand::Hosts { names } => {
            let ca = LocalCa::of(&names.data_dir).map_err(|e| e.to_string())?;
            print!("{}", ca.hosts_lines(&names.entry()));
            return Ok(());
        }
    };
    for line in report {
        println!("{line}");
    }
    Ok(())
}
