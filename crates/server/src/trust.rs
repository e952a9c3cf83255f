//! `strongroom trust`: makes this machine trust the installation's local CA and resolve the dev server's host
//! names, as mkcert does for its CA — and undoes exactly that.
//!
//! The CA goes into the system trust store the Debian and Ubuntu way: a file in
//! `/usr/local/share/ca-certificates`, then `update-ca-certificates` (which also updates the JDK's `cacerts` when
//! `ca-certificates-java` is installed). Other systems are refused before anything changes, with what to do by
//! hand. Host names go into the hosts file on lines marked with the CA's identity, so that `uninstall` removes
//! exactly the lines this installation added and no others. Every path is a parameter ([`SystemPaths`]), so
//! tests change copies, never the machine.

use std::io::ErrorKind as IoKind;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::{Error, ErrorKind, Result};
use crate::tls::CA_FILE;

/// Where the system keeps what `trust` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPaths {
    /// The folder of the system's extra CA certificates (Debian: `/usr/local/share/ca-certificates`).
    pub ca_dir: PathBuf,
    /// The command that rebuilds the system's bundle from that folder (Debian: `update-ca-certificates`).
    pub update_command: PathBuf,
    /// The hosts file.
    pub hosts_file: PathBuf,
}

impl Default for SystemPaths {
    /// Debian's and Ubuntu's.
    fn default() -> Self {
        Self {
            ca_dir: PathBuf::from("/usr/local/share/ca-certificates"),
            update_command: PathBuf::from("update-ca-certificates"),
            hosts_file: PathBuf::from("/etc/hosts"),
        }
    }
}

/// Host names to map to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsEntry {
    /// Where the names should lead.
    pub address: IpAddr,
    /// The names (a hosts file has no wildcards: each vault is named).
    pub names: Vec<String>,
}

/// The installation's local CA, as `trust` handles it.
#[derive(Debug, Clone)]
pub struct LocalCa {
    pem: Vec<u8>,
    /// The first 16 hex digits of the certificate's SHA-256: names its file in the trust store and marks its
    /// hosts-file lines.
    id: String,
}

impl LocalCa {
    /// The CA of the installation whose data directory is `data_dir`.
    pub fn of(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(CA_FILE);
        let pem = std::fs::read(&path).map_err(|e| match e.kind() {
            IoKind::NotFound => Error::new(
                ErrorKind::System,
                format_args!("reading {}", path.display()),
                format_args!(
                    "there is no local CA in {} yet: start `strongroom dev --data-dir {}` once first",
                    data_dir.display(),
                    data_dir.display()
                ),
            ),
            _ => Error::io(format_args!("reading {}", path.display()), e),
        })?;
        let der = CertificateDer::from_pem_slice(&pem)
            .map_err(|e| Error::tls(format_args!("reading {}", path.display()), e))?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
        let id = digest.as_ref().iter().take(8).map(|byte| format!("{byte:02x}")).collect();
        Ok(Self { pem, id })
    }

    /// The file it has in the trust-store folder (`.crt`: the only files `update-ca-certificates` reads).
    fn file_name(&self) -> String {
        format!("strongroom-{}.crt", self.id)
    }

    /// The mark at the end of its hosts-file lines.
    fn hosts_mark(&self) -> String {
        format!("# strongroom trust {}", self.id)
    }

    /// The hosts-file lines for `entry`, marked as this CA's.
    pub fn hosts_lines(&self, entry: &HostsEntry) -> String {
        format!("{} {} {}\n", entry.address, entry.names.join(" "), self.hosts_mark())
    }
}

/// Puts the CA into the system trust store and, if given, the names of `hosts` into the hosts file; returns
/// what it changed and what was there already, one sentence each. Nothing changes when the system is not
/// supported or a file may not be written (the check comes first).
pub fn install(ca: &LocalCa, paths: &SystemPaths, hosts: Option<&HostsEntry>) -> Result<Vec<String>> {
    let update = supported(paths)?;
    let hosts_text = match hosts {
        Some(_) => Some(read_hosts_for_change(&paths.hosts_file)?),
        None => None,
    };
    let mut report = Vec::new();
    let target = paths.ca_dir.join(ca.file_name());
    if std::fs::read(&target).is_ok_and(|present| present == ca.pem) {
        report.push(format!("the CA is already in the system trust store: {}", target.display()));
    } else {
        std::fs::write(&target, &ca.pem).map_err(|e| refused(&target, e))?;
        if let Err(e) = run(&update) {
            // Leave nothing half-done: the file without the rebuilt bundle trusts nothing and confuses the next run.
            let _ = std::fs::remove_file(&target);
            return Err(e);
        }
        report.push(format!(
            "added the CA to the system trust store: {} (then ran {})",
            target.display(),
            update.display()
        ));
    }
    if let (Some(entry), Some(text)) = (hosts, hosts_text) {
        let (changed, added) = with_names(&text, &ca.hosts_mark(), entry);
        let file = paths.hosts_file.display();
        for (line, name) in shadowing(&text, &ca.hosts_mark(), entry) {
            report.push(format!(
                "note: line {line} of {file} maps {name} elsewhere, and the first mapping wins: the name does not \
                 reach this server until that line goes"
            ));
        }
        if added.is_empty() {
            report.push(format!("{file} already maps {} to {}", entry.names.join(" "), entry.address));
        } else {
            std::fs::write(&paths.hosts_file, changed).map_err(|e| refused(&paths.hosts_file, e))?;
            report.push(format!(
                "added to {file}: {} {} (marked '{}')",
                entry.address,
                added.join(" "),
                ca.hosts_mark()
            ));
        }
    }
    Ok(report)
}

/// Takes out what [`install`] put in: the CA's file (then rebuilds the bundle) and every hosts-file line marked
/// as this CA's; returns what it changed, one sentence each.
pub fn uninstall(ca: &LocalCa, paths: &SystemPaths) -> Result<Vec<String>> {
    let update = supported(paths)?;
    let hosts_text = read_hosts_for_change(&paths.hosts_file)?;
    let mut report = Vec::new();
    let target = paths.ca_dir.join(ca.file_name());
    match std::fs::remove_file(&target) {
        Ok(()) => {
            run(&update)?;
            report.push(format!(
                "removed the CA from the system trust store: {} (then ran {})",
                target.display(),
                update.display()
            ));
        }
        Err(e) if e.kind() == IoKind::NotFound => {
            report.push(format!("the CA was not in the system trust store ({} does not exist)", target.display()));
        }
        Err(e) => return Err(refused(&target, e)),
    }
    let (changed, removed) = without_mark(&hosts_text, &ca.hosts_mark());
    let file = paths.hosts_file.display();
    if removed.is_empty() {
        report.push(format!("{file} has no line of this installation's"));
    } else {
        std::fs::write(&paths.hosts_file, changed).map_err(|e| refused(&paths.hosts_file, e))?;
        for line in removed {
            report.push(format!("removed from {file}: {line}"));
        }
    }
    Ok(report)
}

/// The update command, if this system is one `trust` knows how to change; otherwise what to do by hand.
fn supported(paths: &SystemPaths) -> Result<PathBuf> {
    let update = find_command(&paths.update_command);
    match update {
        Some(update) if paths.ca_dir.is_dir() => Ok(update),
        _ => Err(Error::new(
            ErrorKind::System,
            "changing the system trust store",
            format_args!(
                "not supported on this system: `strongroom trust` installs CAs the Debian/Ubuntu way ({} and {}), \
                 which this system lacks; nothing was changed. Trust the CA by hand instead — Fedora/RHEL: copy \
                 it to /etc/pki/ca-trust/source/anchors/ and run update-ca-trust; macOS: sudo security \
                 add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain CA_FILE; Windows: certutil \
                 -addstore Root CA_FILE — and add the lines `strongroom trust hosts` prints to the hosts file",
                paths.ca_dir.display(),
                paths.update_command.display()
            ),
        )),
    }
}

/// `command` itself when it names a path, else the first executable of that name on `PATH`.
fn find_command(command: &Path) -> Option<PathBuf> {
    if command.components().count() > 1 {
        return command.is_file().then(|| command.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    // sbin is searched too: a user's PATH often lacks it, and update-ca-certificates lives there.
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}

fn run(command: &Path) -> Result<()> {
    let context = || format!("running {}", command.display());
    let output = Command::new(command).output().map_err(|e| Error::io(context(), e))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    Err(Error::new(ErrorKind::System, context(), format_args!("{} {}", output.status, said.trim())))
}

/// The hosts file's text, once it is known that it may be written.
fn read_hosts_for_change(path: &Path) -> Result<String> {
    // Opening for appending writes nothing; it fails as writing would.
    std::fs::OpenOptions::new().append(true).open(path).map_err(|e| refused(path, e))?;
    std::fs::read_to_string(path).map_err(|e| Error::io(format_args!("reading {}", path.display()), e))
}

/// The error for a file that could not be changed: a clear refusal when permission is lacking.
fn refused(path: &Path, e: std::io::Error) -> Error {
    let context = format!("changing {}", path.display());
    match e.kind() {
        IoKind::PermissionDenied | IoKind::ReadOnlyFilesystem => Error::new(
            ErrorKind::System,
            context,
            "permission denied: changing the system trust store and the hosts file needs root (sudo strongroom \
             trust …); nothing was changed",
        ),
        _ => Error::io(context, e),
    }
}

/// `text` with a line mapping the names of `entry` not yet mapped there by a line bearing `mark`; returns the
/// new text and the names added. A name a marked line maps to another address moves to the new line.
fn with_names(text: &str, mark: &str, entry: &HostsEntry) -> (String, Vec<String>) {
    let address = entry.address.to_string();
    let mapped = |name: &str| {
        text.lines().filter_map(|line| marked_line(line, mark)).any(|(a, names)| a == address && names.contains(&name))
    };
    let missing: Vec<String> = entry.names.iter().filter(|name| !mapped(name)).cloned().collect();
    if missing.is_empty() {
        return (text.to_owned(), missing);
    }
    let mut lines = Vec::new();
    for line in text.lines() {
        match marked_line(line, mark) {
            Some((a, names)) => {
                let kept: Vec<&str> = names.into_iter().filter(|name| !missing.iter().any(|m| m == name)).collect();
                if !kept.is_empty() {
                    lines.push(format!("{a} {} {mark}", kept.join(" ")));
                }
            }
            None => lines.push(line.to_owned()),
        }
    }
    lines.push(format!("{address} {} {mark}", missing.join(" ")));
    (lines.join("\n") + "\n", missing)
}

/// The lines (numbered from 1) not bearing `mark` that map a name of `entry` to another address: resolvers take
/// the first mapping, so these hide ours.
fn shadowing(text: &str, mark: &str, entry: &HostsEntry) -> Vec<(usize, String)> {
    let address = entry.address.to_string();
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if marked_line(line, mark).is_some() {
            continue;
        }
        let mapping = line.split('#').next().unwrap_or_default();
        let mut words = mapping.split_whitespace();
        if words.next().is_some_and(|other| other != address) {
            let wanted = |name: &&str| entry.names.iter().any(|n| n.eq_ignore_ascii_case(name));
            found.extend(words.filter(wanted).map(|name| (number + 1, name.to_owned())));
        }
    }
    found
}

/// `text` without the lines bearing `mark`; returns the new text and the lines taken out.
fn without_mark(text: &str, mark: &str) -> (String, Vec<String>) {
    let (removed, kept): (Vec<&str>, Vec<&str>) = text.lines().partition(|line| marked_line(line, mark).is_some());
    let mut changed = kept.join("\n");
    if !changed.is_empty() {
        changed.push('\n');
    }
    (changed, removed.into_iter().map(str::to_owned).collect())
}

/// A hosts-file line ending in `mark`: its address and names.
fn marked_line<'a>(line: &'a str, mark: &str) -> Option<(&'a str, Vec<&'a str>)> {
    let mapping = line.trim_end().strip_suffix(mark)?;
    let mut words = mapping.split_whitespace();
    Some((words.next()?, words.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: &str = "# strongroom trust 0123456789abcdef";

    fn entry(address: &str, names: &[&str]) -> HostsEntry {
        HostsEntry {
            address: address.parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn names_are_added_once_and_removed_exactly() {
        let original = "127.0.0.1 localhost\n# a comment\n10.0.0.1 login.microsoftonline.com # somebody's own\n";
        let azure = entry("127.0.0.1", &["login.microsoftonline.com", "dev.vault.azure.net"]);
        let (once, added) = with_names(original, MARK, &azure);
        assert_eq!(added, ["login.microsoftonline.com", "dev.vault.azure.net"]);
        assert_eq!(once, format!("{original}127.0.0.1 login.microsoftonline.com dev.vault.azure.net {MARK}\n"));
        let (twice, added) = with_names(&once, MARK, &azure);
        assert!(added.is_empty(), "installing again adds nothing");
        assert_eq!(twice, once);
        let (more, added) =
            with_names(&once, MARK, &entry("127.0.0.1", &["dev.vault.azure.net", "other.vault.azure.net"]));
        assert_eq!(added, ["other.vault.azure.net"]);
        let (back, removed) = without_mark(&more, MARK);
        assert_eq!(back, original, "the user's own lines stay, the other mapping of the same name included");
        assert_eq!(removed.len(), 2);
        assert_eq!(without_mark(original, MARK), (original.to_owned(), vec![]));
    }

    #[test]
    fn a_users_own_earlier_mapping_of_a_name_is_pointed_out() {
        let text = "127.0.0.1 localhost\n10.1.2.3 graph.microsoft.com # mine\n# 10.9.9.9 dev.vault.azure.net\n";
        let azure = entry("127.0.0.1", &["graph.microsoft.com", "dev.vault.azure.net", "localhost"]);
        assert_eq!(shadowing(text, MARK, &azure), [(2, "graph.microsoft.com".to_owned())]);
    }

    #[test]
    fn a_name_moved_to_another_address_leaves_its_old_line() {
        let first = with_names("", MARK, &entry("127.0.0.1", &["a.vault.localhost", "b.vault.localhost"])).0;
        let (moved, added) = with_names(&first, MARK, &entry("127.0.0.4", &["b.vault.localhost"]));
        assert_eq!(added, ["b.vault.localhost"]);
        assert_eq!(moved, format!("127.0.0.1 a.vault.localhost {MARK}\n127.0.0.4 b.vault.localhost {MARK}\n"));
    }

    #[test]
    fn other_installations_lines_are_not_ours() {
        let other = "127.0.0.1 dev.vault.localhost # strongroom trust ffffffffffffffff\n";
        let (text, added) = with_names(other, MARK, &entry("127.0.0.1", &["dev.vault.localhost"]));
        assert_eq!(added, ["dev.vault.localhost"]);
        assert_eq!(without_mark(&text, MARK).0, other);
    }
}
