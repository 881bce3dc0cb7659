//! Where export files live.
//!
//! Files go through the `object_store` interface, so the local folder used by default and an
//! S3-compatible bucket are the same to the rest of Clocky. A file counts as stored only after it
//! has been read back and its SHA-256 matches what the plugin produced: a link is never issued
//! for a file that is missing, short or corrupted on the way to the disk.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why a file could not be stored, read or removed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The folder could not be created or opened.
    #[error("failed to open the export folder {path}")]
    Open {
        /// The folder.
        path: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The object store refused or failed an operation.
    #[error("export storage failed for {key}")]
    Store {
        /// The object's key.
        key: String,
        /// What went wrong.
        #[source]
        source: object_store::Error,
    },
    /// The file is not there (expired and swept, or removed by hand).
    #[error("export file {key} is missing")]
    Missing {
        /// The object's key.
        key: String,
    },
    /// What was read back differs from what was written.
    #[error(
        "export file {key} did not verify: wrote {written} bytes, read back {read} bytes with a different hash"
    )]
    Mismatch {
        /// The object's key.
        key: String,
        /// Bytes written.
        written: usize,
        /// Bytes read back.
        read: usize,
    },
}

/// A file that is stored and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// Export file storage.
#[derive(Debug, Clone)]
pub struct ExportStorage {
    store: Arc<dyn ObjectStore>,
}

impl ExportStorage {
    /// Files under a local folder, created if missing.
    pub fn local(path: &Path) -> Result<Self, StorageError> {
        let open_error = |source| StorageError::Open {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(path).map_err(open_error)?;
        let store = LocalFileSystem::new_with_prefix(path)
            .map_err(|error| open_error(std::io::Error::other(error)))?;
        Ok(ExportStorage {
            store: Arc::new(store),
        })
    }

    /// Any object store, for deployments that bring their own.
    pub fn with_store(store: Arc<dyn ObjectStore>) -> Self {
        ExportStorage { store }
    }

    /// Writes `bytes` at `key`, then reads them back and compares hashes. On a mismatch the
    /// object is removed again.
    pub async fn put_verified(&self, key: &str, bytes: Bytes) -> Result<StoredFile, StorageError> {
        let location = Key::from(key);
        let store_error = |source| StorageError::Store {
            key: key.to_owned(),
            source,
        };
        let written_hash = Sha256::digest(&bytes);
        let written = bytes.len();
        self.store
            .put(&location, PutPayload::from(bytes))
            .await
            .map_err(store_error)?;

        let read_back = self.get(key).await?;
        if read_back.len() != written || Sha256::digest(&read_back) != written_hash {
            let _ = self.store.delete(&location).await;
            return Err(StorageError::Mismatch {
                key: key.to_owned(),
                written,
                read: read_back.len(),
            });
        }
        Ok(StoredFile {
            key: key.to_owned(),
            size: u64::try_from(written).unwrap_or(u64::MAX),
            sha256: hex::encode(written_hash),
        })
    }

    /// Reads a whole file.
    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let found = self
            .store
            .get(&Key::from(key))
            .await
            .map_err(|e| classify(key, e))?;
        found.bytes().await.map_err(|e| classify(key, e))
    }

    /// Opens a file as a stream of chunks, so a download never holds the whole file in memory.
    pub async fn stream(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, object_store::Error>>, StorageError> {
        let found = self
            .store
            .get(&Key::from(key))
            .await
            .map_err(|e| classify(key, e))?;
        Ok(found.into_stream())
    }

    /// Removes every file under `prefix`: a job's folder holds its file and anything a run that
    /// was interrupted or repeated may have left beside it.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let location = Key::from(prefix);
        let mut listed = self.store.list(Some(&location));
        let mut removed = 0;
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(|e| classify(prefix, e))?;
            self.delete(meta.location.as_ref()).await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Removes a file; a file that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(StorageError::Store {
                key: key.to_owned(),
                source,
            }),
        }
    }
}

/// Tells a missing file apart from a failing store.
fn classify(key: &str, error: object_store::Error) -> StorageError {
    match error {
        object_store::Error::NotFound { .. } => StorageError::Missing {
            key: key.to_owned(),
        },
        source => StorageError::Store {
            key: key.to_owned(),
            source,
        },
    }
}
