//! Users, roles, passwords, bearer tokens and sealed tickets.
//!
//! The users file is JSON (`{"users": [{"name", "role", "password"}]}`) whose passwords
//! are PBKDF2-HMAC-SHA256 hashes in PHC string format (`$pbkdf2-sha256$i=...,l=32$SALT$HASH`),
//! hashed and verified by the `pbkdf2` crate. The server re-reads the file when it changes:
//! a user removed from it, or whose password or role changed, is refused (or demoted) at
//! the next call, whatever tokens they still hold.
//!
//! A token is `KEY_ID.base64(payload).base64(HMAC-SHA256(key, "token" || payload))`, the
//! payload a `runlake.v1.Token` (user, expiry, and a digest of the user's password hash).
//! Tickets and prepared statement handles are `runlake.v1.SealedHandle`s: the statement,
//! the user it was issued to and an expiry under an HMAC. MACs are checked with `hmac`'s
//! constant-time `verify_slice`.
//!
//! Keys have ids, so they rotate: the key file holds one key per line, the first signs,
//! all of them verify.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use pbkdf2::Pbkdf2;
use pbkdf2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use prost::Message;
use runlake_proto::v1::{SealedHandle, Token};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What a user may do. Each role includes the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Run queries.
    Read,
    /// Also ingest, create tables and views, insert.
    Write,
    /// Also drop, replace, forget and compact, and set any session option.
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

/// PBKDF2 rounds for new password hashes.
const ROUNDS: u32 = 100_000;

/// One user of the users file.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// The PHC string of the password hash.
    hash: String,
}

impl User {
    /// A digest of the password hash: tokens carry it, so a changed password (or a
    /// removed user) invalidates them.
    fn stamp(&self) -> Vec<u8> {
        Sha256::digest(self.hash.as_bytes())[..16].to_vec()
    }
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
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Users> {
        let bad = |why: &str| Error::Users(format!("users file {}: {why}", path.display()));
        let doc: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
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
            let name = field("name")?.to_string();
            let stored = field("password")?;
            let hash = phc_string(stored).ok_or_else(|| {
                bad(&format!(
                    "user {name}: the password is not a PBKDF2-SHA256 hash in PHC format"
                ))
            })?;
            if users.iter().any(|u: &User| u.name == name) {
                return Err(bad(&format!("user {name} is listed twice")));
            }
            users.push(User {
                role: Role::parse(field("role")?)?,
                name,
                hash,
            });
        }
        Ok(Users { users })
    }

    /// Writes the file (readable by its owner only, where the platform allows), replacing
    /// it in one rename so a server never reads half of it.
    pub fn save(&self, path: &Path) -> Result<()> {
        let doc = json!({
            "users": self.users.iter().map(|u| json!({
                "name": u.name, "role": u.role.name(), "password": u.hash,
            })).collect::<Vec<_>>()
        });
        let text = serde_json::to_string_pretty(&doc).expect("JSON");
        write_private(path, (text + "\n").as_bytes())
    }

    pub fn list(&self) -> &[User] {
        &self.users
    }

    fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
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

    /// The user these credentials name, if the password is right. Costs one PBKDF2
    /// derivation whether or not the name exists, so timing does not tell names apart.
    pub fn verify(&self, name: &str, password: &str) -> Option<&User> {
        match self.get(name) {
            Some(u) if verify_password(&u.hash, password) => Some(u),
            Some(_) => None,
            None => {
                let _ = verify_password(&DUMMY_HASH, password);
                None
            }
        }
    }
}

/// A PHC hash of a random password, verified against when the name is unknown.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password("runlake: no such user").unwrap_or_else(|_| String::from("$invalid"))
});

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::Internal(format!("encoding a salt: {e}")))?;
    let params = pbkdf2::Params {
        rounds: ROUNDS,
        output_length: 32,
    };
    let hash = Pbkdf2
        .hash_password_customized(
            password.as_bytes(),
            Some(pbkdf2::Algorithm::Pbkdf2Sha256.ident()),
            None,
            params,
            &salt,
        )
        .map_err(|e| Error::Internal(format!("hashing a password: {e}")))?;
    Ok(hash.to_string())
}

fn verify_password(stored: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    if hash.algorithm != pbkdf2::Algorithm::Pbkdf2Sha256.ident() {
        return false;
    }
    Pbkdf2.verify_password(password.as_bytes(), &hash).is_ok()
}

/// A stored password as a PHC string: PHC strings as they are, and the earlier
/// `pbkdf2-sha256$ROUNDS$SALT$HASH` form (URL-safe base64) rewritten losslessly.
fn phc_string(stored: &str) -> Option<String> {
    if stored.starts_with('$') {
        let hash = PasswordHash::new(stored).ok()?;
        return (hash.algorithm == pbkdf2::Algorithm::Pbkdf2Sha256.ident())
            .then(|| stored.to_string());
    }
    let parts: Vec<&str> = stored.split('$').collect();
    let ["pbkdf2-sha256", rounds, salt, hash] = parts[..] else {
        return None;
    };
    let rounds: u32 = rounds.parse().ok()?;
    let salt = URL_SAFE_NO_PAD.decode(salt).ok()?;
    let hash = URL_SAFE_NO_PAD.decode(hash).ok()?;
    (hash.len() == 32).then(|| {
        format!(
            "$pbkdf2-sha256$i={rounds},l=32${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(hash)
        )
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename, readable by its
/// owner only where the platform allows.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let io = |what: &str, e| Error::Io {
        what: format!("{what} {}", path.display()),
        source: e,
    };
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut file = options.open(&tmp).map_err(|e| io("writing", e))?;
        file.write_all(bytes).map_err(|e| io("writing", e))?;
        file.sync_all().map_err(|e| io("writing", e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io("replacing", e))
}

/// The users file as the server sees it: re-read whenever it changes on disk.
#[derive(Debug)]
pub struct UsersFile {
    path: PathBuf,
    state: RwLock<(Arc<Users>, Option<FileStamp>)>,
}

/// What tells a file's versions apart: replaced by a rename, it is another inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

fn file_stamp(path: &Path) -> std::io::Result<FileStamp> {
    let meta = std::fs::metadata(path)?;
    Ok(FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&meta),
    })
}

impl UsersFile {
    /// Reads the users file at `path` (which must exist and parse).
    pub fn open(path: &Path) -> Result<Self> {
        // The hash unknown names are checked against, made now so that the first
        // unknown name costs no more than a known one.
        std::sync::LazyLock::force(&DUMMY_HASH);
        let stamp = file_stamp(path).ok();
        let users = Users::load(path, false)?;
        Ok(Self {
            path: path.to_path_buf(),
            state: RwLock::new((Arc::new(users), stamp)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The users as the file holds them now. A file that no longer reads or parses fails
    /// every sign-in (closed, never the last list it held), with the reason in the log.
    pub fn current(&self) -> Result<Arc<Users>> {
        let stamp = file_stamp(&self.path).map_err(|e| Error::Io {
            what: format!("reading the users file {}", self.path.display()),
            source: e,
        })?;
        if let Ok(state) = self.state.read()
            && state.1.as_ref() == Some(&stamp)
        {
            return Ok(state.0.clone());
        }
        let users = Arc::new(Users::load(&self.path, false)?);
        if let Ok(mut state) = self.state.write() {
            *state = (users.clone(), Some(stamp));
        }
        tracing::info!(
            event = "users_reloaded",
            file = %self.path.display(),
            users = users.list().len(),
        );
        Ok(users)
    }
}

/// The smallest signing key accepted.
pub const MIN_KEY_BYTES: usize = 32;

/// The keys that sign and verify tokens and tickets.
#[derive(Clone)]
pub struct Keys {
    signing: String,
    keys: HashMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("signing", &self.signing)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keys {
    /// Keys from their bytes: the first signs, all verify. Each must have at least
    /// [`MIN_KEY_BYTES`].
    pub fn new(keys: Vec<Vec<u8>>) -> Result<Self> {
        let mut map = HashMap::new();
        let mut signing = None;
        for key in keys {
            if key.len() < MIN_KEY_BYTES {
                return Err(Error::InvalidArgument(format!(
                    "a token key must have at least {MIN_KEY_BYTES} bytes, this one has {}",
                    key.len()
                )));
            }
            let id = key_id(&key);
            signing.get_or_insert_with(|| id.clone());
            map.insert(id, key);
        }
        let signing = signing.ok_or_else(|| Error::InvalidArgument("no token key given".into()))?;
        Ok(Self { signing, keys: map })
    }

    /// A fresh random key, for a server whose tokens need not outlive it.
    pub fn random() -> Result<Self> {
        Self::new(vec![random_key()?])
    }

    /// The id of the key that signs.
    pub fn signing_id(&self) -> &str {
        &self.signing
    }

    /// Reads a key file: one key per line in hex (at least 32 bytes), `#` comments.
    pub fn read_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            what: format!("reading the token key file {}", path.display()),
            source: e,
        })?;
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = hex::decode(line).map_err(|_| {
                Error::InvalidArgument(format!(
                    "token key file {}, line {}: not a key in hex",
                    path.display(),
                    i + 1
                ))
            })?;
            keys.push(key);
        }
        Self::new(keys)
            .map_err(|e| Error::InvalidArgument(format!("token key file {}: {e}", path.display())))
    }

    /// Creates a key file holding `key` (readable by its owner only); fails if the file
    /// exists.
    pub fn create_file(path: &Path, key: &[u8]) -> Result<Self> {
        let keys = Self::new(vec![key.to_vec()])?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                what: format!("creating {}", dir.display()),
                source: e,
            })?;
        }
        let text = format!(
            "# runlake serve's token keys: one per line in hex; the first signs, all verify.\n\
             # To rotate, put a new key on the first line; remove an old one to revoke its tokens.\n{}\n",
            hex::encode(key)
        );
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        let io = |e| Error::Io {
            what: format!("creating the token key file {}", path.display()),
            source: e,
        };
        let mut file = options.open(path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(keys)
    }

    fn mac(&self, id: &str, domain: &[u8], parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
        let key = self.keys.get(id)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        mac.update(domain);
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        Some(mac)
    }

    fn sign(&self, domain: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        self.mac(&self.signing, domain, parts)
            .expect("the signing key is among the keys")
            .finalize()
            .into_bytes()
            .to_vec()
    }

    fn verify(&self, id: &str, domain: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(id, domain, parts)
            .is_some_and(|mac| mac.verify_slice(tag).is_ok())
    }
}

/// A random key of [`MIN_KEY_BYTES`] bytes.
pub fn random_key() -> Result<Vec<u8>> {
    let mut key = vec![0u8; MIN_KEY_BYTES];
    getrandom::fill(&mut key)
        .map_err(|e| Error::Internal(format!("no randomness for a key: {e}")))?;
    Ok(key)
}

fn key_id(key: &[u8]) -> String {
    hex::encode(&Sha256::digest(key)[..4])
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Issues and checks bearer tokens, and seals and opens statement handles.
#[derive(Clone, Debug)]
pub struct Tokens {
    keys: Keys,
    ttl: Duration,
}

/// What a verified token says.
#[derive(Debug, Clone)]
pub struct Claims {
    pub user: String,
    stamp: Vec<u8>,
}

const TOKEN_DOMAIN: &[u8] = b"runlake token v1";
const HANDLE_DOMAIN: &[u8] = b"runlake handle v1";

impl Tokens {
    pub fn new(keys: Keys, ttl: Duration) -> Self {
        Self { keys, ttl }
    }

    /// A token for `user` (as the users file holds them now).
    pub fn issue(&self, user: &User) -> String {
        let payload = Token {
            user: user.name.clone(),
            role: user.role.name().to_string(),
            expires_at: now_secs() + self.ttl.as_secs() as i64,
            user_stamp: user.stamp(),
        }
        .encode_to_vec();
        format!(
            "{}.{}.{}",
            self.keys.signing,
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(self.keys.sign(TOKEN_DOMAIN, &[&payload]))
        )
    }

    /// A token for the local user of a server without a users file.
    pub fn issue_local(&self) -> String {
        self.issue(&User {
            name: "local".into(),
            role: Role::Admin,
            hash: String::new(),
        })
    }

    /// The claims of a token this server's keys signed and that has not expired.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let invalid = || Error::Unauthenticated("invalid bearer token: sign in again".into());
        let mut parts = token.splitn(3, '.');
        let (Some(id), Some(payload), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        if !self.keys.verify(id, TOKEN_DOMAIN, &[&payload], &tag) {
            return Err(invalid());
        }
        let token = Token::decode(payload.as_slice()).map_err(|_| invalid())?;
        if token.expires_at <= now_secs() {
            return Err(Error::Unauthenticated(
                "the bearer token has expired: sign in again".into(),
            ));
        }
        Ok(Claims {
            user: token.user,
            stamp: token.user_stamp,
        })
    }

    /// The principal a token's claims stand for now: the user must still be in the
    /// users file with the password they signed in with; the role is the file's.
    pub fn principal(claims: &Claims, users: &Users) -> Result<Principal> {
        match users.get(&claims.user) {
            Some(u) if u.stamp() == claims.stamp => Ok(Principal {
                user: u.name.clone(),
                role: u.role,
            }),
            _ => Err(Error::Unauthenticated(
                "the bearer token's user no longer exists or has a new password: sign in again"
                    .into(),
            )),
        }
    }

    /// `handle` (an encoded statement handle) sealed for `user`.
    pub fn seal(&self, user: &str, handle: Vec<u8>) -> Vec<u8> {
        let expires_at = now_secs() + self.ttl.as_secs() as i64;
        let mac = self.keys.sign(
            HANDLE_DOMAIN,
            &[&handle, user.as_bytes(), &expires_at.to_be_bytes()],
        );
        SealedHandle {
            handle,
            user: user.to_string(),
            expires_at,
            key_id: self.keys.signing.clone(),
            mac,
        }
        .encode_to_vec()
    }

    /// The encoded statement handle of a sealed one that `user` may use: one this server's
    /// keys sealed for this user and that has not expired.
    pub fn open(&self, user: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let invalid = |why: &str| Error::PermissionDenied(format!("ticket refused: {why}"));
        let sealed =
            SealedHandle::decode(sealed).map_err(|_| invalid("not a ticket of this server"))?;
        if !self.keys.verify(
            &sealed.key_id,
            HANDLE_DOMAIN,
            &[
                &sealed.handle,
                sealed.user.as_bytes(),
                &sealed.expires_at.to_be_bytes(),
            ],
            &sealed.mac,
        ) {
            return Err(invalid("its signature does not verify"));
        }
        if sealed.user != user {
            return Err(invalid("it was issued to another user"));
        }
        if sealed.expires_at <= now_secs() {
            return Err(invalid("it has expired; run the statement again"));
        }
        Ok(sealed.handle)
    }
}

/// Failed sign-ins per peer address: a bucket of `burst` failures that refills at one
/// per `refill`. While a peer's bucket is empty its sign-ins are refused at once,
/// without deriving the password hash, so guessing costs the server nothing.
#[derive(Debug)]
pub struct SignInLimiter {
    burst: f64,
    refill: Duration,
    peers: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl SignInLimiter {
    pub fn new(burst: u32, refill: Duration) -> Self {
        Self {
            burst: f64::from(burst),
            refill,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt from `peer`'s bucket before its password is checked (so that
    /// parallel guesses cannot all pass before any has failed), or fails with
    /// `RESOURCE_EXHAUSTED` while the bucket is empty.
    pub fn acquire(&self, peer: Option<IpAddr>) -> Result<()> {
        let Some(peer) = peer else { return Ok(()) };
        let now = Instant::now();
        let mut peers = self
            .peers
            .lock()
            .map_err(|_| Error::Internal("the sign-in limiter is poisoned".into()))?;
        // Bounded: forget peers whose buckets are full again.
        if peers.len() > 100_000 {
            let (burst, refill) = (self.burst, self.refill.as_secs_f64());
            peers.retain(|_, (left, at)| {
                *left + now.saturating_duration_since(*at).as_secs_f64() / refill < burst
            });
        }
        let (left, at) = peers.entry(peer).or_insert((self.burst, now));
        let refilled =
            now.saturating_duration_since(*at).as_secs_f64() / self.refill.as_secs_f64().max(1e-9);
        *left = (*left + refilled).min(self.burst);
        *at = now;
        if *left < 1.0 {
            return Err(Error::ResourceExhausted(format!(
                "too many failed sign-ins from {peer}: wait {:?} and try again",
                self.refill
            )));
        }
        *left -= 1.0;
        Ok(())
    }

    /// Gives back the attempt of a sign-in that succeeded.
    pub fn succeeded(&self, peer: Option<IpAddr>) {
        let Some(peer) = peer else { return };
        if let Ok(mut peers) = self.peers.lock()
            && let Some((left, _)) = peers.get_mut(&peer)
        {
            *left = (*left + 1.0).min(self.burst);
        }
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
