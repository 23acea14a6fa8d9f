//! The provider's SSH key on Hetzner, and key fingerprints as label values.

use hcloud::labels::Selector;
use hcloud::models::{Labels, SshKey};

use crate::{Error, Hetzner, names};

/// SHA256 fingerprint of an OpenSSH public key line, in unpadded base64url:
/// 43 characters, a valid Hetzner label value (OpenSSH shows the same digest
/// in standard base64 as `SHA256:...`).
pub fn fingerprint(openssh_public_key: &str) -> Result<String, Error> {
    k3s::keys::fingerprint(openssh_public_key).map_err(|source| Error::Key { source })
}

/// Registers `public_key` as the cluster's key, replacing a leftover of the
/// same name (its private half is gone with the run that made it).
pub async fn replace(
    hz: &Hetzner<'_>,
    cluster: &str,
    public_key: &str,
    labels: &Labels,
) -> Result<SshKey, Error> {
    let name = names::ssh_key(cluster);
    // Create first: on a fresh cluster the name is free. A leftover of ours
    // makes Hetzner answer uniqueness_error; it is deleted and the key
    // created again. A key of that name that is not ours is left alone, and
    // the error stands.
    let create = || hz.api.create_ssh_key(&name, public_key, labels);
    match create().await {
        Ok(key) => return Ok(key),
        Err(e) if e.code() == Some(&hcloud::ErrorCode::UniquenessError) => {}
        Err(e) if e.is_ambiguous() => {
            // It may have been made: this run's key is adopted, an older one replaced.
            if let Some(key) = lookup_named(hz, cluster, &name)
                .await?
                .into_iter()
                .find(|k| k.public_key.trim() == public_key.trim())
            {
                return Ok(key);
            }
        }
        Err(e) => return Err(Error::api("create the SSH key", e)),
    }
    for old in lookup_named(hz, cluster, &name).await? {
        hz.api
            .delete_ssh_key(old.id)
            .await
            .map_err(|e| Error::api("replace the leftover SSH key", e))?;
    }
    create()
        .await
        .map_err(|e| Error::api("create the SSH key", e))
}

/// The cluster's keys called `name`.
async fn lookup_named(hz: &Hetzner<'_>, cluster: &str, name: &str) -> Result<Vec<SshKey>, Error> {
    let mine = Selector::new().eq(names::CLUSTER, cluster);
    hz.api
        .ssh_keys(Some(&mine), Some(name))
        .await
        .map_err(|e| Error::api("look up SSH keys", e))
}

/// The cluster's key, as registered by [`replace`].
pub async fn find(hz: &Hetzner<'_>, cluster: &str) -> Result<SshKey, Error> {
    match hz.memo {
        Some(m) => m.ssh_key(cluster, || lookup(hz, cluster)).await,
        None => lookup(hz, cluster).await,
    }
}

async fn lookup(hz: &Hetzner<'_>, cluster: &str) -> Result<SshKey, Error> {
    let mine = Selector::new().eq(names::CLUSTER, cluster);
    hz.api
        .ssh_keys(Some(&mine), Some(&names::ssh_key(cluster)))
        .await
        .map_err(|e| Error::api("look up the provider's SSH key", e))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::refused(
                crate::Field::Cluster,
                format!("Cluster {cluster} has no provider SSH key"),
                "re-apply the cluster",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_openssh_and_fit_a_label_value() {
        // `ssh-keygen -lf` prints SHA256:GDUMq22VGPzmQ9/uRT+nhTTZ3Y5/1JMPv8E0W9MaLg0
        // for this key; ours is the same digest in base64url.
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFZ4QvWmbDinZiA+SN2pb4Gz5I6/EfdRc0gprI5feCS5 test";
        let fp = fingerprint(key).unwrap();
        assert_eq!(fp, "GDUMq22VGPzmQ9_uRT-nhTTZ3Y5_1JMPv8E0W9MaLg0");
        assert!(
            fp.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{fp}"
        );
        let mut labels = Labels::new();
        labels.insert(names::SSH_KEY.into(), fp.clone());
        hcloud::labels::validate(&labels).unwrap();
        let other = crate::secrets::key_pair("x").unwrap();
        assert_ne!(fingerprint(other.public_openssh()).unwrap(), fp);
        assert!(fingerprint("ssh-ed25519").is_err());
        assert!(fingerprint("ssh-ed25519 !!!").is_err());
    }
}
