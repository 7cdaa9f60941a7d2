//! The server's users ([`Acl`]): looked up by name, changed by ACL SETUSER
//! and DELUSER, loaded from and saved to the `aclfile`, and the ACL LOG of
//! denials.
//!
//! Invariants: every change of any user bumps one generation counter, so a
//! connection notices that its user changed with one atomic load; an ACL
//! LOAD that fails leaves the users as they were. Limits: the log keeps at
//! most `acllog-max-len` entries; similar denials within 60 s are counted in
//! one entry.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{valid_user_name, User, NO_ACLFILE};

/// One ACL LOG entry.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: String,
    pub username: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub client_info: String,
    pub entry_id: u64,
}

/// Similar entries this close together are counted in one (Redis: 60 s).
const LOG_GROUP_MS: u64 = 60_000;

/// The users and the ACL LOG.
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    /// Bumped on every change of any user: connections re-read theirs.
    generation: AtomicU64,
    log: Mutex<VecDeque<LogEntry>>,
    next_entry_id: AtomicU64,
    /// `aclfile`, for ACL LOAD and ACL SAVE.
    pub file: Option<PathBuf>,
    /// The server's time, for the ACL LOG's timestamps.
    runtime: Arc<dyn crate::runtime::Runtime>,
}

impl Acl {
    /// The users at start-up: the default user with `requirepass`, then the
    /// aclfile (which may redefine the default user).
    pub fn new(
        requirepass: &str,
        file: Option<PathBuf>,
        runtime: Arc<dyn crate::runtime::Runtime>,
    ) -> Result<Acl, String> {
        let acl = Acl {
            users: RwLock::new(BTreeMap::new()),
            generation: AtomicU64::new(1),
            log: Mutex::new(VecDeque::new()),
            next_entry_id: AtomicU64::new(0),
            file,
            runtime,
        };
        acl.users.write().insert("default".into(), Arc::new(User::default_user()));
        acl.set_requirepass(requirepass);
        if acl.file.is_some() {
            acl.load()?;
        }
        Ok(acl)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn get(&self, name: &str) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn default_user(&self) -> Arc<User> {
        self.get("default").expect("the default user always exists")
    }

    /// `requirepass`: the default user's only password (empty: nopass).
    pub fn set_requirepass(&self, password: &str) {
        let mut users = self.users.write();
        let mut u = (**users.get("default").expect("default user")).clone();
        let rule = if password.is_empty() { "nopass".to_string() } else { format!(">{password}") };
        u.apply(b"resetpass").expect("valid rule");
        u.apply(rule.as_bytes()).expect("valid rule");
        users.insert("default".into(), Arc::new(u));
        drop(users);
        self.bump();
    }

    /// ACL SETUSER: all rules or none.
    pub fn set_user(&self, name: &str, rules: &[&[u8]]) -> Result<(), String> {
        let mut users = self.users.write();
        let mut u = users.get(name).map_or_else(|| User::new(name), |u| (**u).clone());
        for r in rules {
            u.apply(r)
                .map_err(|why| format!("Error in ACL SETUSER modifier '{}': {why}", String::from_utf8_lossy(r)))?;
        }
        users.insert(name.to_string(), Arc::new(u));
        drop(users);
        self.bump();
        Ok(())
    }

    /// ACL DELUSER: the names deleted (never `default`).
    pub fn delete(&self, names: &[&str]) -> Result<Vec<String>, String> {
        if names.contains(&"default") {
            return Err("The 'default' user cannot be removed".into());
        }
        let mut users = self.users.write();
        let deleted: Vec<String> =
            names.iter().filter(|n| users.remove(**n).is_some()).map(|n| n.to_string()).collect();
        drop(users);
        self.bump();
        Ok(deleted)
    }

    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// The aclfile's text for the current users.
    fn file_text(&self) -> String {
        self.users().iter().map(|u| u.describe() + "\n").collect()
    }

    /// ACL SAVE: the users to the aclfile, atomically.
    pub fn save(&self) -> Result<(), String> {
        let path = self.file.as_ref().ok_or(NO_ACLFILE)?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.file_text().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!(
                "There was an error trying to save the ACLs. Please check the server logs for more information ({e})"
            )
        })
    }

    /// ACL LOAD (and start-up): replaces every user with the aclfile's; on
    /// any error nothing changes. A file without `default` keeps the current
    /// default user.
    pub fn load(&self) -> Result<(), String> {
        let path = self.file.as_ref().ok_or(NO_ACLFILE)?;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            // A missing file at start-up is an empty one (ACL SAVE creates it).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("Error loading ACLs, opening file '{}': {e}", path.display())),
        };
        let mut loaded: BTreeMap<String, Arc<User>> = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.is_empty() {
                continue;
            }
            let at = format!("{}:{}", path.display(), n + 1);
            if words[0] != "user" || words.len() < 2 {
                return Err(format!("{at}: line should start with user keyword"));
            }
            let name = valid_user_name(words[1].as_bytes()).map_err(|why| format!("{at}: {why}"))?;
            if loaded.contains_key(name) {
                return Err(format!("{at}: duplicate user '{name}' found"));
            }
            let mut u = User::new(name);
            for r in &words[2..] {
                u.apply(r.as_bytes()).map_err(|why| format!("{at}: Error in user declaration '{r}': {why}"))?;
            }
            loaded.insert(name.to_string(), Arc::new(u));
        }
        let mut users = self.users.write();
        if !loaded.contains_key("default") {
            loaded.insert(
                "default".into(),
                users.get("default").cloned().unwrap_or_else(|| Arc::new(User::default_user())),
            );
        }
        *users = loaded;
        drop(users);
        self.bump();
        Ok(())
    }

    /// Records a denial or failed authentication.
    pub fn log(
        &self,
        reason: &'static str,
        context: &'static str,
        object: String,
        username: String,
        client: &str,
        max: usize,
    ) {
        let now = self.runtime.now_ms();
        let mut log = self.log.lock();
        if let Some(e) = log.iter_mut().find(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now.saturating_sub(e.updated_ms) < LOG_GROUP_MS
        }) {
            e.count += 1;
            e.updated_ms = now;
            e.client_info = client.to_string();
            return;
        }
        let entry_id = self.next_entry_id.fetch_add(1, Ordering::Relaxed);
        log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            created_ms: now,
            updated_ms: now,
            client_info: client.to_string(),
            entry_id,
        });
        log.truncate(max);
    }

    pub fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(count).cloned().collect()
    }

    pub fn log_reset(&self) {
        self.log.lock().clear();
    }
}
