//! The data directory and the database file hold the signing keys and the password hashes, so only
//! the account the server runs as may read them: the directory is created 0700 and the file 0600,
//! and an existing directory or file that others can reach is tightened at start (with a warning
//! in the log) or, where that is not possible, refused with what to do about it. One owned by
//! another account is refused whatever its mode: its owner could read it, or open it up again.
//!
//! Unix only: elsewhere the directory and file get what the platform gives new ones.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

#[cfg(unix)]
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};

use super::EmbeddedOpenError;

#[cfg(unix)]
const DIRECTORY_MODE: u32 = 0o700;
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;
/// Bits that let anyone but the owner in.
#[cfg(unix)]
const GROUP_AND_OTHERS: u32 = 0o077;
/// The sticky bit marks a directory shared by several users (like /tmp): not ours to tighten.
#[cfg(unix)]
const STICKY: u32 = 0o1000;

/// Why the data directory or database file cannot be made owner-only.
#[derive(Debug, thiserror::Error)]
pub enum OwnerOnlyError {
    #[error(
        "{path} is a directory shared with other users (mode {mode:04o}); give the server a data directory of its own"
    )]
    SharedDirectory { path: PathBuf, mode: u32 },
    #[error(
        "{path} belongs to uid {owner}, not to uid {server} running this: run the server (and admin commands on its store) as uid {owner}, e.g. with `sudo -u`; or, if uid {server} is the server's account, `chown` the directory to it (its owner could read the keys in it)"
    )]
    OtherOwner {
        path: PathBuf,
        owner: u32,
        server: u32,
    },
    #[error(
        "{path} is open to other users (mode {mode:04o}) and cannot be made owner-only ({source}); as its owner, run `chmod {wanted:o} {path}`, or run the server as its owner"
    )]
    CannotTighten {
        path: PathBuf,
        mode: u32,
        wanted: u32,
        source: io::Error,
    },
}

/// Creates `data_dir` (and missing parents) readable by the owner only, or makes an existing one so.
pub fn prepare_directory(data_dir: &Path) -> Result<(), EmbeddedOpenError> {
    let create_error = |source| EmbeddedOpenError::CreateDir {
        path: data_dir.to_owned(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIRECTORY_MODE);
    builder.create(data_dir).map_err(create_error)?;
    #[cfg(unix)]
    {
        let metadata = std::fs::metadata(data_dir).map_err(create_error)?;
        let mode = metadata.permissions().mode();
        if mode & STICKY != 0 {
            return Err(OwnerOnlyError::SharedDirectory {
                path: data_dir.to_owned(),
                mode: mode & 0o7777,
            }
            .into());
        }
        owned_by_this_account(data_dir, &metadata)?;
        if mode & GROUP_AND_OTHERS != 0 {
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(DIRECTORY_MODE))
                .map_err(|source| OwnerOnlyError::CannotTighten {
                    path: data_dir.to_owned(),
                    mode: mode & 0o7777,
                    wanted: DIRECTORY_MODE,
                    source,
                })?;
            tracing::warn!(
                path = %data_dir.display(),
                "the data directory was open to other users (mode {:04o}); it is now {DIRECTORY_MODE:04o}",
                mode & 0o7777
            );
        }
    }
    Ok(())
}

/// Opens (creating it 0600 if needed) the database file, owner-only. The file is checked and
/// tightened through the open handle, so what is checked is what redb then uses.
pub fn open_database_file(path: &Path) -> Result<File, EmbeddedOpenError> {
    let io_error = |source| EmbeddedOpenError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    let file = options.open(path).map_err(io_error)?;
    #[cfg(unix)]
    {
        let metadata = file.metadata().map_err(io_error)?;
        owned_by_this_account(path, &metadata)?;
        let mode = metadata.permissions().mode();
        if mode & GROUP_AND_OTHERS != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
                .map_err(|source| OwnerOnlyError::CannotTighten {
                    path: path.to_owned(),
                    mode: mode & 0o7777,
                    wanted: FILE_MODE,
                    source,
                })?;
            tracing::warn!(
                path = %path.display(),
                "the database file was open to other users (mode {:04o}); it is now {FILE_MODE:04o}. \
                 Whoever could read it could forge tokens: consider `meeteasy-auth keys rotate --compromised`",
                mode & 0o7777
            );
        }
    }
    Ok(file)
}

/// Refuses `path` when another account than the one running this (the server, or an admin command
/// on its store) owns it.
#[cfg(unix)]
fn owned_by_this_account(path: &Path, metadata: &std::fs::Metadata) -> Result<(), OwnerOnlyError> {
    let server = rustix::process::geteuid().as_raw();
    if metadata.uid() == server {
        return Ok(());
    }
    Err(OwnerOnlyError::OtherOwner {
        path: path.to_owned(),
        owner: metadata.uid(),
        server,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::super::{DATABASE_FILE, EmbeddedOpenError, EmbeddedStore};
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn a_new_data_directory_and_database_are_owner_only() {
        let parent = tempfile::tempdir().expect("temp dir");
        let data_dir = parent.path().join("new").join("meeteasy");
        drop(EmbeddedStore::open(&data_dir).expect("the store opens"));
        assert_eq!(mode_of(&data_dir), 0o700);
        assert_eq!(mode_of(&data_dir.join(DATABASE_FILE)), 0o600);
    }

    #[test]
    fn a_loose_data_directory_and_database_are_tightened_at_start() {
        let data_dir = tempfile::tempdir().expect("temp dir");
        drop(EmbeddedStore::open(data_dir.path()).expect("the store opens"));
        let database = data_dir.path().join(DATABASE_FILE);
        // As an earlier release left them.
        std::fs::set_permissions(data_dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).expect("chmod");

        drop(EmbeddedStore::open(data_dir.path()).expect("the store opens again"));
        assert_eq!(mode_of(data_dir.path()), 0o700);
        assert_eq!(mode_of(&database), 0o600);
    }

    #[test]
    fn a_directory_shared_with_other_users_is_refused() {
        let shared = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod");
        let refused = EmbeddedStore::open(shared.path()).err();
        assert!(
            matches!(
                refused,
                Some(EmbeddedOpenError::OwnerOnly(
                    OwnerOnlyError::SharedDirectory { .. }
                ))
            ),
            "{refused:?}"
        );
        // Left as it was: tightening /tmp would break every other user of it.
        assert_eq!(mode_of(shared.path()), 0o1777);
    }

    /// Another account's directory is refused and left as it is. Run as root, the test makes one
    /// (owned by `nobody`); otherwise a directory root owns stands in.
    #[test]
    fn a_directory_of_another_account_is_refused_untouched() {
        let parent = tempfile::tempdir().expect("temp dir");
        let theirs = parent.path().join("theirs");
        std::fs::create_dir(&theirs).expect("mkdir");
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let server = rustix::process::geteuid();
        let nobody = rustix::process::Uid::from_raw(65_534);
        let theirs = if server.is_root() {
            rustix::fs::chown(&theirs, Some(nobody), None).expect("chown to nobody");
            theirs
        } else {
            PathBuf::from("/usr")
        };
        let refused = EmbeddedStore::open(&theirs).err();
        let Some(EmbeddedOpenError::OwnerOnly(OwnerOnlyError::OtherOwner { owner, .. })) = refused
        else {
            panic!("another account's directory was taken: {refused:?}");
        };
        assert_ne!(owner, server.as_raw());
        assert_eq!(mode_of(&theirs), 0o755, "left as it was");
    }
}
