//! Where a lake lives: a local folder (a path or `file://` URL), an object store bucket
//! (`s3://`, `gs://`, `az://`), or `memory://` (one in-process store, for tests). Every
//! table handle of a lake shares the lake's root object store.
//!
//! Cloud stores take their settings from the standard environment variables (`AWS_*`,
//! `GOOGLE_*`, `AZURE_*`) and from storage options (`endpoint`, `region`, `allow_http`,
//! ...), options winning. Delta commits on S3 use conditional puts (`If-None-Match`), which
//! S3 and its common emulators support, so no external lock service is needed.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Once};

use deltalake::logstore::{LogStore, LogStoreFactory, StorageConfig, logstore_factories};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use url::Url;

use crate::error::{Error, Result};

/// The process-wide store behind every `memory://` lake.
static MEMORY: LazyLock<Arc<InMemory>> = LazyLock::new(|| Arc::new(InMemory::new()));

/// A parsed lake location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The root, always ending with `/`.
    url: Url,
}

impl Location {
    /// Parses a path, `file://` URL or `memory://` URL. A local root folder is created
    /// if missing.
    pub fn parse(location: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidLocation {
            location: location.to_string(),
            reason: reason.to_string(),
        };
        let url = if location.contains("://") {
            let mut url = Url::parse(location).map_err(|e| invalid(&e.to_string()))?;
            match url.scheme() {
                "file" | "memory" => {}
                "s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" => {
                    if url.host_str().is_none_or(str::is_empty) {
                        return Err(invalid("the URL names no bucket"));
                    }
                }
                other => {
                    return Err(invalid(&format!(
                        "the {other}:// scheme is not supported (supported: a path, file://, s3://, gs://, az://, memory://)"
                    )));
                }
            }
            if url.scheme() == "memory" && url.path().is_empty() {
                url.set_path("/");
            }
            url
        } else {
            let path = std::path::absolute(location).map_err(|e| invalid(&e.to_string()))?;
            Url::from_directory_path(&path).map_err(|()| invalid("not an absolute path"))?
        };
        if url.scheme() == "file" {
            let dir = url
                .to_file_path()
                .map_err(|()| invalid("not a local path"))?;
            std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
                what: format!("creating the lake folder {}", dir.display()),
                source: e,
            })?;
        }
        let mut url = url;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Self { url })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL of a child directory (a table).
    pub fn child_url(&self, name: &str) -> Result<Url> {
        self.url
            .join(&format!("{name}/"))
            .map_err(|e| Error::InvalidLocation {
                location: format!("{}{name}", self.url),
                reason: e.to_string(),
            })
    }

    /// The root as a path within [`Location::object_store`].
    pub fn prefix(&self) -> Path {
        match self.url.scheme() {
            "file" => {
                let path = self.url.to_file_path().expect("checked on parse");
                Path::from_absolute_path(path).expect("an absolute path")
            }
            _ => Path::from(self.url.path()),
        }
    }

    /// Whether the lake is in a cloud object store (no local folders to create).
    pub fn is_remote(&self) -> bool {
        !matches!(self.url.scheme(), "file" | "memory")
    }

    /// The object store that holds the whole lake, addressed from its root (`/` for
    /// local folders, the bucket for cloud stores). Unknown storage options are an error
    /// that names them.
    pub fn object_store(&self, options: &HashMap<String, String>) -> Result<Arc<dyn ObjectStore>> {
        register_cloud_log_stores();
        let bad_option = |key: &str, e: &dyn std::fmt::Display| Error::InvalidLocation {
            location: self.url.to_string(),
            reason: format!("storage option '{key}': {e}"),
        };
        let local_only = |scheme: &str| -> Result<()> {
            match options.keys().next() {
                Some(key) => Err(bad_option(
                    key,
                    &format!("{scheme} lakes take no storage options"),
                )),
                None => Ok(()),
            }
        };
        Ok(match self.url.scheme() {
            "memory" => {
                local_only("memory://")?;
                MEMORY.clone()
            }
            "file" => {
                local_only("local")?;
                Arc::new(LocalFileSystem::new())
            }
            "s3" | "s3a" => {
                let mut b = AmazonS3Builder::from_env().with_url(self.url.as_str());
                if let Some(http) = http_on_this_runtime() {
                    b = b.with_http_connector(http);
                }
                for (k, v) in options {
                    let key = AmazonS3ConfigKey::from_str(&k.to_ascii_lowercase())
                        .map_err(|e| bad_option(k, &e))?;
                    b = b.with_config(key, v);
                }
                self.built(b.build())?
            }
            "gs" => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_url(self.url.as_str());
                if let Some(http) = http_on_this_runtime() {
                    b = b.with_http_connector(http);
                }
                for (k, v) in options {
                    let key = GoogleConfigKey::from_str(&k.to_ascii_lowercase())
                        .map_err(|e| bad_option(k, &e))?;
                    b = b.with_config(key, v);
                }
                self.built(b.build())?
            }
            _ => {
                let mut b = MicrosoftAzureBuilder::from_env().with_url(self.url.as_str());
                if let Some(http) = http_on_this_runtime() {
                    b = b.with_http_connector(http);
                }
                for (k, v) in options {
                    let key = AzureConfigKey::from_str(&k.to_ascii_lowercase())
                        .map_err(|e| bad_option(k, &e))?;
                    b = b.with_config(key, v);
                }
                self.built(b.build())?
            }
        })
    }
}

impl Location {
    fn built<S: ObjectStore>(
        &self,
        store: object_store::Result<S>,
    ) -> Result<Arc<dyn ObjectStore>> {
        match store {
            Ok(store) => Ok(Arc::new(store)),
            Err(e) => Err(Error::InvalidLocation {
                location: self.url.to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

/// Requests to a cloud store run on the runtime that opened the lake: a query running on
/// threads of its own (the server gives each query a pool) would otherwise leave the
/// store's pooled connections driven by, and stalled behind, whichever query made them.
fn http_on_this_runtime() -> Option<object_store::client::SpawnedReqwestConnector> {
    tokio::runtime::Handle::try_current()
        .ok()
        .map(object_store::client::SpawnedReqwestConnector::new)
}

/// Delta's default log store (commits by conditional put) for the cloud schemes; the
/// `deltalake` crate registers only `file://` and `memory://` itself.
fn register_cloud_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let registry = logstore_factories();
        for scheme in ["s3", "s3a", "gs", "az", "abfs", "abfss"] {
            let url = Url::parse(&format!("{scheme}://")).expect("a valid scheme URL");
            registry.insert(url, Arc::new(ConditionalPutLogStore));
        }
    });
}

struct ConditionalPutLogStore;

impl LogStoreFactory for ConditionalPutLogStore {
    fn with_options(
        &self,
        prefixed_store: Arc<dyn ObjectStore>,
        root_store: Arc<dyn ObjectStore>,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(deltalake::logstore::default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.url.scheme() {
            "file" => write!(f, "{}", self.url.to_file_path().expect("local").display()),
            _ => write!(f, "{}", self.url),
        }
    }
}
