//! A data directory in a fresh temporary folder, removed when dropped.

use std::path::{Path, PathBuf};

use mac_storage::{DataDir, Provider};

/// A temporary `mac` data directory (`<tmp>/mac`, created `0700`).
#[derive(Debug)]
pub struct TempDataDir {
    // Kept for its Drop, which removes the folder.
    root: tempfile::TempDir,
    data_dir: DataDir,
}

impl TempDataDir {
    /// Creates the folder and the data directory inside it.
    pub fn new() -> std::io::Result<Self> {
        let root = tempfile::Builder::new().prefix("mac-test-").tempdir()?;
        let data_dir = DataDir::at(root.path().join("mac"));
        data_dir.ensure().map_err(std::io::Error::other)?;
        Ok(Self { root, data_dir })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    /// The data directory's path.
    pub fn path(&self) -> &Path {
        self.data_dir.path()
    }

    /// The folder that holds the data directory (for files that must live outside it).
    pub fn outer(&self) -> &Path {
        self.root.path()
    }

    /// The accounts file of `provider`.
    pub fn accounts_file(&self, provider: Provider) -> PathBuf {
        self.data_dir.accounts_file(provider)
    }
}
