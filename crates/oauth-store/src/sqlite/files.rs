//! The SQLite file is owner-only: missing directories are created 0700, the file 0600, and an
//! existing database, `-wal` or `-shm` open to other users is set to 0600 when the store opens.

use std::path::Path;

use oauth_core::{Error, Result};

/// Makes the database owner-only before SQLite opens it: missing directories are created with
/// mode 0700, a missing file with mode 0600, and an existing file, `-wal` or `-shm` that other
/// users may read is set to 0600 (SQLite gives the `-wal` and `-shm` it creates the database's
/// mode). A mode that cannot be changed is refused with a configuration error.
pub(crate) async fn create_private(path: &Path) -> Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || private_files(&path))
        .await
        .map_err(|e| {
            Error::Internal(format!(
                "the file-mode check of the SQLite store failed: {e}"
            ))
        })?
}

fn private_files(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        let mut directories = std::fs::DirBuilder::new();
        directories.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut directories, 0o700);
        directories
            .create(parent)
            .map_err(|e| Error::storage(format!("cannot create {}", parent.display()), e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::storage(
                format!("cannot create {}", path.display()),
                e,
            ));
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        owner_only(Path::new(&format!("{}{suffix}", path.display())))?;
    }
    Ok(())
}

/// Sets `file` (if it exists) to 0600 if other users may read or write it.
#[cfg(unix)]
fn owner_only(file: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = match std::fs::metadata(file) {
        Ok(metadata) => metadata.permissions().mode() & 0o777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::storage(format!("cannot read {}", file.display()), e)),
    };
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        Error::configuration(format!(
            "{} holds tokens and other users may read it (mode {mode:o}), and its mode cannot be \
             set to 600 ({e}): make it owner-only (chmod 600) or choose a path of your own",
            file.display()
        ))
    })?;
    tracing::warn!(
        file = %file.display(),
        "the token store was open to other users (mode {mode:o}): set to 600"
    );
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_file: &Path) -> Result<()> {
    Ok(())
}
