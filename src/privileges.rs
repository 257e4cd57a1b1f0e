//! Giving up root once the capture is open (`live --user`): a sensor parses
//! hostile traffic all day, so it should not do so as root. Opening a capture
//! needs root or CAP_NET_RAW; reading from an open one needs nothing. Changing
//! the user from root drops every capability as well (no keep-caps).

use nix::unistd::{setgid, setgroups, setuid, Uid, User};

/// Switches the whole process (all threads) to `name`'s user, primary group
/// and no supplementary groups, then checks that root cannot be regained.
pub fn drop_to(name: &str) -> anyhow::Result<()> {
    let user = User::from_name(name)
        .map_err(|e| anyhow::anyhow!("--user {name}: cannot look the user up: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("--user {name}: no such user"))?;
    if Uid::effective() == user.uid {
        return Ok(());
    }
    if !Uid::effective().is_root() {
        anyhow::bail!(
            "--user {name}: only root can change its user (running as uid {}); run as root, or drop --user when starting with CAP_NET_RAW as that user",
            Uid::effective()
        );
    }
    // Groups first: once the user is not root any more it may not change them.
    setgroups(&[user.gid]).map_err(|e| anyhow::anyhow!("--user {name}: setgroups: {e}"))?;
    setgid(user.gid).map_err(|e| anyhow::anyhow!("--user {name}: setgid: {e}"))?;
    setuid(user.uid).map_err(|e| anyhow::anyhow!("--user {name}: setuid: {e}"))?;
    if setuid(Uid::from_raw(0)).is_ok() {
        anyhow::bail!("--user {name}: root could be regained after dropping it; refusing to run");
    }
    Ok(())
}
