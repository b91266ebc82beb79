//! Where a lake lives: a local folder (a path or `file://` URL) or `memory://` (one
//! in-process store, for tests). Every table handle of a lake shares the lake's root
//! object store.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use object_store::ObjectStore;
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
                other => {
                    return Err(invalid(&format!(
                        "the {other}:// scheme is not supported by this build (supported: a path, file://, memory://)"
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

    /// The object store that holds the whole lake, addressed from its root (`/` for
    /// local folders).
    pub fn object_store(&self, _options: &HashMap<String, String>) -> Result<Arc<dyn ObjectStore>> {
        Ok(match self.url.scheme() {
            "memory" => MEMORY.clone(),
            _ => Arc::new(LocalFileSystem::new()),
        })
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
