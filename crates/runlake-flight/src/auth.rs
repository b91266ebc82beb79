//! Users, roles, passwords and bearer tokens.
//!
//! The users file is JSON (`{"users": [{"name", "role", "password"}]}`) whose passwords
//! are PBKDF2-HMAC-SHA256 hashes with a random salt (`pbkdf2-sha256$ROUNDS$SALT$HASH`,
//! base64). A token is `base64(payload).base64(HMAC-SHA256(secret, payload))`, the payload
//! a `runlake.v1.Token` (user, role, expiry): any server with the same secret accepts it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use prost::Message;
use runlake_proto::v1::Token;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::error::{Error, Result};

/// What a user may do. Each role includes the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Run queries.
    Read,
    /// Also ingest, create tables and views, insert.
    Write,
    /// Also drop, forget and compact.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Result<Role> {
        match name {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            other => Err(Error::InvalidArgument(format!(
                "unknown role '{other}' (roles: read, write, admin)"
            ))),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
}

impl Principal {
    /// Fails with `PERMISSION_DENIED` unless the principal has `role`'s rights.
    pub fn require(&self, role: Role, what: &str) -> Result<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "user '{}' (role {}) may not {what}: that needs the {} role",
                self.user,
                self.role.name(),
                role.name()
            )))
        }
    }
}

const ROUNDS: u32 = 100_000;

/// One user of the users file.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    hash: String,
}

/// The users file.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: Vec<User>,
}

impl Users {
    /// Reads a users file; a missing file is an empty list when `allow_missing`.
    pub fn load(path: &Path, allow_missing: bool) -> Result<Users> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if allow_missing && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Users::default());
            }
            Err(e) => {
                return Err(Error::Io {
                    what: format!("reading the users file {}", path.display()),
                    source: e,
                });
            }
        };
        let bad = |why: &str| Error::Users(format!("users file {}: {why}", path.display()));
        let doc: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let list = doc
            .get("users")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("expected {\"users\": [...]}"))?;
        let mut users = Vec::new();
        for (i, u) in list.iter().enumerate() {
            let field = |k: &str| {
                u.get(k)
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(&format!("user {}: no \"{k}\"", i + 1)))
            };
            users.push(User {
                name: field("name")?.to_string(),
                role: Role::parse(field("role")?)?,
                hash: field("password")?.to_string(),
            });
        }
        Ok(Users { users })
    }

    /// Writes the file (readable by its owner only, where the platform allows).
    pub fn save(&self, path: &Path) -> Result<()> {
        let doc = json!({
            "users": self.users.iter().map(|u| json!({
                "name": u.name, "role": u.role.name(), "password": u.hash,
            })).collect::<Vec<_>>()
        });
        let text = serde_json::to_string_pretty(&doc).expect("JSON");
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        let io = |what: &str, e| Error::Io {
            what: format!("{what} {}", path.display()),
            source: e,
        };
        std::fs::write(&tmp, text + "\n").map_err(|e| io("writing", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io("protecting", e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| io("replacing", e))
    }

    pub fn list(&self) -> &[User] {
        &self.users
    }

    /// Adds or replaces a user.
    pub fn set(&mut self, name: &str, role: Role, password: &str) -> Result<()> {
        if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
            return Err(Error::InvalidArgument(format!(
                "invalid user name '{name}': no spaces or ':'"
            )));
        }
        if password.is_empty() {
            return Err(Error::InvalidArgument("the password is empty".into()));
        }
        let hash = hash_password(password)?;
        self.users.retain(|u| u.name != name);
        self.users.push(User {
            name: name.to_string(),
            role,
            hash,
        });
        self.users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    /// Removes a user; false when there was none of that name.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.users.len();
        self.users.retain(|u| u.name != name);
        self.users.len() != before
    }

    /// The user these credentials name, if the password is right.
    pub fn verify(&self, name: &str, password: &str) -> Option<&User> {
        let user = self.users.iter().find(|u| u.name == name);
        match user {
            Some(u) if verify_password(&u.hash, password) => Some(u),
            Some(_) => None,
            None => {
                // The same work for an unknown name, so timing does not tell names apart.
                let _ = verify_password(DUMMY_HASH, password);
                None
            }
        }
    }
}

const DUMMY_HASH: &str =
    "pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, ROUNDS, &mut out);
    Ok(format!(
        "pbkdf2-sha256${ROUNDS}${}${}",
        URL_SAFE_NO_PAD.encode(salt),
        URL_SAFE_NO_PAD.encode(out)
    ))
}

fn verify_password(stored: &str, password: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [scheme, rounds, salt, hash] = parts[..] else {
        return false;
    };
    let (Ok(rounds), Ok(salt), Ok(hash)) = (
        rounds.parse::<u32>(),
        URL_SAFE_NO_PAD.decode(salt),
        URL_SAFE_NO_PAD.decode(hash),
    ) else {
        return false;
    };
    if scheme != "pbkdf2-sha256" || hash.len() != 32 {
        return false;
    }
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, rounds, &mut out);
    constant_time_eq(&out, &hash)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Issues and checks bearer tokens.
#[derive(Clone)]
pub struct Tokens {
    secret: Vec<u8>,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("ttl", &self.ttl).finish()
    }
}

impl Tokens {
    pub fn new(secret: Vec<u8>, ttl: Duration) -> Self {
        Self { secret, ttl }
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }

    pub fn issue(&self, principal: &Principal) -> String {
        let expires_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            + self.ttl.as_secs() as i64;
        let payload = Token {
            user: principal.user.clone(),
            role: principal.role.name().to_string(),
            expires_at,
        }
        .encode_to_vec();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(self.mac(&payload))
        )
    }

    pub fn verify(&self, token: &str) -> Result<Principal> {
        let invalid = || Error::Unauthenticated("invalid bearer token: sign in again".into());
        let (payload, mac) = token.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| invalid())?;
        if !constant_time_eq(&self.mac(&payload), &mac) {
            return Err(invalid());
        }
        let token = Token::decode(payload.as_slice()).map_err(|_| invalid())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if token.expires_at <= now {
            return Err(Error::Unauthenticated(
                "the bearer token has expired: sign in again".into(),
            ));
        }
        Ok(Principal {
            user: token.user,
            role: Role::parse(&token.role)?,
        })
    }
}

/// Decodes an `authorization: Basic ...` value into (user, password).
pub fn parse_basic(value: &str) -> Result<(String, String)> {
    let bad = || Error::Unauthenticated("malformed basic credentials".into());
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .ok_or_else(bad)?;
    // Padding optional: the Go clients (ADBC, Grafana) send it unpadded.
    let decoded = STANDARD_NO_PAD
        .decode(encoded.trim().trim_end_matches('='))
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (user, password) = text.split_once(':').ok_or_else(bad)?;
    Ok((user.to_string(), password.to_string()))
}
