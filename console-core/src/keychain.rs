//! Where the console's access token lives between runs: the OS keychain (Secret Service on Linux),
//! entry service `meeteasy-console`, account = the server's origin.
//!
//! Every keychain call runs off the async threads with a timeout, so a locked or missing keychain
//! cannot hang the app. When the keychain fails, the vault switches to memory for the rest of the
//! run and says so ([`Storage::MemoryOnly`]); it never falls back to a plaintext file.
//!
//! Reads, writes and deletes are made one at a time, in the order they were asked, by one thread
//! of the vault's own ([`Keychain::in_turn`]): a save still waiting on an unlock dialog is made
//! before a delete asked after it, even when their callers stopped waiting; and a read is made
//! after both, so a restore does not read a token that a logout's delete, queued before the read,
//! is about to remove. A read whose caller stopped waiting is skipped when its turn comes: it
//! would change nothing, and could only hold up the calls behind it on an unlock dialog.
//!
//! Reading the stored session (at start) may open the system's dialog to unlock a locked keyring
//! (common where the desktop logs in by itself), and the read answers once the person has: it
//! waits [`KEYCHAIN_PROMPT_TIMEOUT`], not the few seconds of other calls, so a person typing
//! their password is not taken for a keychain that does not answer and logged out.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

use keyring_core::{CredentialStore, Error as KeyringError};
use serde::Serialize;

use meeteasy_protocol::Secret;

pub const KEYCHAIN_SERVICE: &str = "meeteasy-console";
pub const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read may wait on the keyring's unlock dialog (see the module's doc).
pub const KEYCHAIN_PROMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where sessions are kept right now; the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "problem", rename_all = "snake_case")]
pub enum Storage {
    Keychain,
    /// This run only: the keychain could not be used.
    MemoryOnly(KeychainProblem),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeychainProblem {
    /// No Secret Service (no session bus, no keyring daemon).
    NotAvailable,
    /// The keyring is locked or access was refused.
    Locked,
    /// The keychain did not answer in time.
    TimedOut,
    /// Any other failure of the platform store.
    Failed,
}

pub struct SessionVault {
    /// None: no keychain opened this run.
    keychain: Option<Keychain>,
    timeout: Duration,
    state: Mutex<VaultState>,
}

/// A keychain store, and the queue of the thread that makes its reads, writes and deletes.
struct Keychain {
    store: Arc<CredentialStore>,
    calls: mpsc::Sender<KeychainCall>,
}

/// A read, write or delete, as the keychain's thread runs it.
type KeychainCall = Box<dyn FnOnce() + Send>;

/// What a keychain call does to the keychain, which decides whether it is still made once its
/// caller stopped waiting (see [`Keychain::in_turn`]).
#[derive(Debug, Clone, Copy)]
enum CallKind {
    /// Changes nothing: skipped once nobody waits for its answer.
    Read,
    /// A write or a delete: made in its turn whether or not its caller still waits.
    Change,
}

struct VaultState {
    storage: Storage,
    in_memory: HashMap<String, Secret>,
}

impl SessionVault {
    /// The platform keychain. Opening it may block on D-Bus, so it runs with the timeout too.
    pub async fn open_platform() -> Self {
        let opened = run_blocking(KEYCHAIN_TIMEOUT, || {
            keyring::Entry::store_status()
                .as_ref()
                .map_err(clone_error)
                .and_then(|()| {
                    keyring_core::get_default_store().ok_or(KeyringError::NoDefaultStore)
                })
        })
        .await;
        match opened {
            Ok(store) => Self::with_store(store, KEYCHAIN_TIMEOUT),
            Err(problem) => {
                // Failing to even open the store means there is no Secret Service to talk to.
                let problem = match problem {
                    KeychainProblem::Locked | KeychainProblem::TimedOut => problem,
                    KeychainProblem::NotAvailable | KeychainProblem::Failed => {
                        KeychainProblem::NotAvailable
                    }
                };
                tracing::warn!(
                    ?problem,
                    "no usable keychain: sessions last for this run only"
                );
                Self::without_keychain(problem)
            }
        }
    }

    /// A vault whose keychain did not open, for `problem`: sessions last for this run only.
    fn without_keychain(problem: KeychainProblem) -> Self {
        Self {
            keychain: None,
            timeout: KEYCHAIN_TIMEOUT,
            state: Mutex::new(VaultState {
                storage: Storage::MemoryOnly(problem),
                in_memory: HashMap::new(),
            }),
        }
    }

    /// A vault over any keyring-core store (the mock store in tests).
    pub fn with_store(store: Arc<CredentialStore>, timeout: Duration) -> Self {
        Self {
            keychain: Some(Keychain::new(store)),
            timeout,
            state: Mutex::new(VaultState {
                storage: Storage::Keychain,
                in_memory: HashMap::new(),
            }),
        }
    }

    pub fn storage(&self) -> Storage {
        self.lock().storage
    }

    /// The stored token for `account`, `None` when there is none. Waits on an unlock dialog.
    pub async fn load(&self, account: &str) -> Option<Secret> {
        if let Some(keychain) = self.keychain_in_use() {
            let account_owned = account.to_owned();
            let read =
                move |store: &CredentialStore| match entry(store, &account_owned)?.get_password() {
                    Ok(token) => Ok(Some(Secret::new(token))),
                    Err(KeyringError::NoEntry) => Ok(None),
                    Err(err) => Err(err),
                };
            let timeout = self.timeout.max(KEYCHAIN_PROMPT_TIMEOUT);
            match keychain.in_turn(CallKind::Read, timeout, read).await {
                Ok(found) => return found,
                Err(problem) => self.fall_back(problem),
            }
        }
        self.lock().in_memory.get(account).cloned()
    }

    pub async fn save(&self, account: &str, token: &Secret) {
        if let Some(keychain) = self.keychain_in_use() {
            let account_owned = account.to_owned();
            let token_owned = token.clone();
            let write = move |store: &CredentialStore| {
                entry(store, &account_owned)?.set_password(token_owned.expose())
            };
            let written = keychain
                .in_turn(CallKind::Change, self.timeout, write)
                .await;
            match written {
                Ok(()) => return,
                Err(problem) => self.fall_back(problem),
            }
        }
        self.lock()
            .in_memory
            .insert(account.to_owned(), token.clone());
    }

    /// Removes the token; removing nothing succeeds. Returns whether the keychain may still hold it.
    /// Also after the vault fell back to memory, unless there is no keychain at all: a token stored
    /// in an earlier run would otherwise come back at the next start, after a logout said it was
    /// gone. So a keychain that did not even open this run (locked, or too slow) may still hold one.
    pub async fn remove(&self, account: &str) -> RemoveOutcome {
        self.lock().in_memory.remove(account);
        let storage = self.lock().storage;
        let keychain = match (storage, &self.keychain) {
            (Storage::MemoryOnly(KeychainProblem::NotAvailable), _) => {
                return RemoveOutcome::Removed;
            }
            (Storage::MemoryOnly(problem), None) => return RemoveOutcome::KeychainFailed(problem),
            (Storage::Keychain | Storage::MemoryOnly(_), Some(keychain)) => keychain,
            // Not made: a vault without a store is memory-only from the start.
            (Storage::Keychain, None) => return RemoveOutcome::Removed,
        };
        let account_owned = account.to_owned();
        let delete = move |store: &CredentialStore| match entry(store, &account_owned)?
            .delete_credential()
        {
            Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
            Err(err) => Err(err),
        };
        let deleted = keychain
            .in_turn(CallKind::Change, self.timeout, delete)
            .await;
        match deleted {
            Ok(()) => RemoveOutcome::Removed,
            Err(problem) => {
                self.fall_back(problem);
                RemoveOutcome::KeychainFailed(problem)
            }
        }
    }

    /// The keychain, unless the vault fell back to memory this run.
    fn keychain_in_use(&self) -> Option<&Keychain> {
        match self.lock().storage {
            Storage::Keychain => self.keychain.as_ref(),
            Storage::MemoryOnly(_) => None,
        }
    }

    fn fall_back(&self, problem: KeychainProblem) {
        tracing::warn!(?problem, "keychain failed: sessions last for this run only");
        self.lock().storage = Storage::MemoryOnly(problem);
    }

    fn lock(&self) -> MutexGuard<'_, VaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Keychain {
    /// Starts the thread that makes the store's reads, writes and deletes. Should it not start,
    /// every call fails, and the vault keeps sessions in memory.
    fn new(store: Arc<CredentialStore>) -> Self {
        let (calls, queue) = mpsc::channel::<KeychainCall>();
        let started = std::thread::Builder::new()
            .name("keychain-calls".into())
            .spawn(move || {
                for call in queue {
                    // A store that panics fails that call only (its caller hears `Failed`).
                    let _failed = catch_unwind(AssertUnwindSafe(call));
                }
            });
        if let Err(error) = started {
            tracing::warn!(%error, "no thread for keychain calls: sessions last for this run only");
        }
        Self { store, calls }
    }

    /// Makes a read, write or delete after every one asked before it, and waits `timeout` at most
    /// for it. A queue rather than a lock its caller waits for: a change whose caller stopped
    /// waiting (timed out behind an unlock dialog left open, or its job cancelled) is still made,
    /// in its turn. A delete dropped that way would let the save before it bring a logged-out
    /// session back at the next start. Reads take their turn too: one made beside the queue could
    /// find a token that a delete asked before it has not removed yet. A read whose caller is gone
    /// by its turn (the password tab chosen, a logout stopping a restore) is skipped: made, it
    /// could sit on an unlock dialog that nobody waits for, holding up every change behind it.
    async fn in_turn<T: Send + 'static>(
        &self,
        kind: CallKind,
        timeout: Duration,
        work: impl FnOnce(&CredentialStore) -> Result<T, KeyringError> + Send + 'static,
    ) -> Result<T, KeychainProblem> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let store = Arc::clone(&self.store);
        let queued = self.calls.send(Box::new(move || {
            let skipped = match kind {
                CallKind::Read => answer.is_closed(),
                CallKind::Change => false,
            };
            if !skipped {
                let _unheard = answer.send(work(&*store));
            }
        }));
        if queued.is_err() {
            return Err(KeychainProblem::Failed);
        }
        match tokio::time::timeout(timeout, answered).await {
            Err(_elapsed) => Err(KeychainProblem::TimedOut),
            Ok(Err(_no_answer)) => Err(KeychainProblem::Failed),
            Ok(Ok(made)) => made.map_err(|err| classify(&err)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    Removed,
    KeychainFailed(KeychainProblem),
}

fn entry(store: &CredentialStore, account: &str) -> Result<keyring_core::Entry, KeyringError> {
    store.build(KEYCHAIN_SERVICE, account, None)
}

async fn run_blocking<T: Send + 'static>(
    timeout: Duration,
    work: impl FnOnce() -> Result<T, KeyringError> + Send + 'static,
) -> Result<T, KeychainProblem> {
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(work)).await {
        Err(_elapsed) => Err(KeychainProblem::TimedOut),
        Ok(Err(_join_error)) => Err(KeychainProblem::Failed),
        Ok(Ok(result)) => result.map_err(|err| classify(&err)),
    }
}

fn classify(err: &KeyringError) -> KeychainProblem {
    match err {
        KeyringError::NoDefaultStore => KeychainProblem::NotAvailable,
        KeyringError::NoStorageAccess(_) => KeychainProblem::Locked,
        // keyring-core's error enum is non-exhaustive; everything else is a plain failure.
        _ => KeychainProblem::Failed,
    }
}

/// `store_status()` hands out a reference; only its kind matters to [`classify`].
fn clone_error(err: &KeyringError) -> KeyringError {
    match err {
        KeyringError::NoStorageAccess(_) => {
            KeyringError::NoStorageAccess(Box::new(std::io::Error::other("keyring locked")))
        }
        KeyringError::NoDefaultStore => KeyringError::NoDefaultStore,
        _ => KeyringError::PlatformFailure(Box::new(std::io::Error::other(err.to_string()))),
    }
}

/// Test keychains: a mock keychain whose reads, or whose writes, each wait until the test lets
/// them through (a person answering the keyring's unlock dialog).
#[cfg(test)]
pub(crate) mod gated {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, mpsc};

    use keyring_core::api::{Credential, CredentialApi, CredentialStoreApi};
    use keyring_core::{CredentialStore, Entry, Error as KeyringError};

    /// Each message lets one call through; dropping the sender dismisses the dialog.
    type Gate = Arc<Mutex<mpsc::Receiver<()>>>;

    /// `inner` with its reads waiting: the store, and the sender that lets them through.
    pub(crate) fn reads_wait(
        inner: Arc<CredentialStore>,
    ) -> (Arc<CredentialStore>, mpsc::Sender<()>) {
        let (open, gate) = mpsc::channel();
        let store = GatedStore {
            inner,
            reads: Some(Arc::new(Mutex::new(gate))),
            writes: None,
        };
        (Arc::new(store), open)
    }

    /// `inner` with its writes (not its deletes) waiting: the store, and the sender that lets
    /// them through.
    pub(crate) fn writes_wait(
        inner: Arc<CredentialStore>,
    ) -> (Arc<CredentialStore>, mpsc::Sender<()>) {
        let (open, gate) = mpsc::channel();
        let store = GatedStore {
            inner,
            reads: None,
            writes: Some(Arc::new(Mutex::new(gate))),
        };
        (Arc::new(store), open)
    }

    struct GatedStore {
        inner: Arc<CredentialStore>,
        reads: Option<Gate>,
        writes: Option<Gate>,
    }

    struct GatedEntry {
        inner: Entry,
        reads: Option<Gate>,
        writes: Option<Gate>,
    }

    fn pass(gate: Option<&Gate>) -> keyring_core::Result<()> {
        let Some(gate) = gate else {
            return Ok(());
        };
        let answered = gate.lock().unwrap().recv();
        answered.map_err(|_| KeyringError::NoStorageAccess("dismissed".into()))
    }

    impl CredentialStoreApi for GatedStore {
        fn vendor(&self) -> String {
            "test".into()
        }
        fn id(&self) -> String {
            "gated".into()
        }
        fn build(
            &self,
            service: &str,
            user: &str,
            modifiers: Option<&HashMap<&str, &str>>,
        ) -> keyring_core::Result<Entry> {
            let entry = GatedEntry {
                inner: self.inner.build(service, user, modifiers)?,
                reads: self.reads.clone(),
                writes: self.writes.clone(),
            };
            Ok(Entry::new_with_credential(Arc::new(entry)))
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    impl CredentialApi for GatedEntry {
        fn set_secret(&self, secret: &[u8]) -> keyring_core::Result<()> {
            pass(self.writes.as_ref())?;
            self.inner.set_secret(secret)
        }
        fn get_secret(&self) -> keyring_core::Result<Vec<u8>> {
            pass(self.reads.as_ref())?;
            self.inner.get_secret()
        }
        fn delete_credential(&self) -> keyring_core::Result<()> {
            self.inner.delete_credential()
        }
        fn get_credential(&self) -> keyring_core::Result<Option<Arc<Credential>>> {
            Ok(None)
        }
        fn get_specifiers(&self) -> Option<(String, String)> {
            self.inner.get_specifiers()
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use keyring_core::mock;

    use super::*;

    const ACCOUNT: &str = "https://auth.example.com";

    fn mock_store() -> Arc<CredentialStore> {
        mock::Store::new().expect("mock store")
    }

    /// Makes the next call on the account's entry fail with `err`.
    fn inject(store: &Arc<CredentialStore>, err: KeyringError) {
        let entry = store.build(KEYCHAIN_SERVICE, ACCOUNT, None).expect("entry");
        let cred: &mock::Cred = entry.as_any().downcast_ref().expect("a mock credential");
        cred.set_error(err);
    }

    fn stored_in_keychain(store: &Arc<CredentialStore>) -> Option<String> {
        store
            .build(KEYCHAIN_SERVICE, ACCOUNT, None)
            .ok()?
            .get_password()
            .ok()
    }

    /// The queue of keychain calls of `vault`.
    fn calls(vault: &SessionVault) -> &Keychain {
        vault.keychain.as_ref().expect("a vault over a keychain")
    }

    /// A save still running after its caller stopped waiting (an unlock dialog left open) does
    /// not undo a remove asked meanwhile: the remove runs after it.
    #[tokio::test]
    async fn a_remove_asked_while_a_save_still_runs_runs_after_it() {
        let store = mock_store();
        let vault = Arc::new(SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT));
        let (dialog_answered, answer) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let saving = Arc::clone(&vault);
        let save = tokio::spawn(async move {
            let late_save = move |store: &CredentialStore| {
                let _tell_the_test = started.send(());
                // Returns when the test drops the sender: the dialog is answered.
                let _answered = answer.recv();
                entry(store, ACCOUNT)?.set_password("jwt-saved-late")
            };
            calls(&saving)
                .in_turn(CallKind::Change, KEYCHAIN_TIMEOUT, late_save)
                .await
        });
        running.await.expect("the save started");
        let removing = Arc::clone(&vault);
        let mut remove = tokio::spawn(async move { removing.remove(ACCOUNT).await });
        let beside = tokio::time::timeout(Duration::from_millis(200), &mut remove).await;
        assert!(beside.is_err(), "the remove ran beside the save");

        drop(dialog_answered);
        save.await.expect("the save's task").expect("saved");
        let removed = remove.await.expect("the remove's task");
        assert_eq!(removed, RemoveOutcome::Removed);
        assert_eq!(stored_in_keychain(&store), None, "the late save came back");
    }

    /// Writes and deletes queued behind one that waits (an unlock dialog open) are made in the
    /// order they were asked, not in whichever order their threads happen to get the keychain: a
    /// save asked before a logout's delete is made before it.
    #[tokio::test]
    async fn keychain_changes_are_made_in_the_order_asked() {
        let vault = SessionVault::with_store(mock_store(), KEYCHAIN_TIMEOUT);
        let (dialog_answered, answer) = std::sync::mpsc::channel::<()>();
        let mut dialog = Some(answer);
        let made = Arc::new(Mutex::new(Vec::new()));
        let asked: Vec<_> = (0..64)
            .map(|turn| {
                let (made, dialog) = (Arc::clone(&made), dialog.take());
                calls(&vault).in_turn(
                    CallKind::Change,
                    KEYCHAIN_TIMEOUT,
                    move |_: &CredentialStore| {
                        if let Some(dialog) = dialog {
                            let _answered = dialog.recv();
                        }
                        made.lock().unwrap().push(turn);
                        Ok(())
                    },
                )
            })
            .collect();
        let answer_the_dialog = async {
            // Once every change is asked (join_all asks them first to last) and waits its turn.
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(dialog_answered);
        };
        let (answers, ()) = tokio::join!(futures_util::future::join_all(asked), answer_the_dialog);
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(*made.lock().unwrap(), (0..64).collect::<Vec<_>>());
    }

    /// A delete whose caller stopped waiting behind a save held up by an unlock dialog is still
    /// made, after that save: the logged-out session does not come back at the next start.
    #[tokio::test]
    async fn a_delete_given_up_on_behind_a_held_save_is_still_made_after_it() {
        let store = mock_store();
        let vault = SessionVault::with_store(store.clone(), Duration::from_millis(50));
        let (dialog_answered, answer) = std::sync::mpsc::channel::<()>();
        let held_save = move |store: &CredentialStore| {
            let _answered = answer.recv();
            entry(store, ACCOUNT)?.set_password("jwt-saved-late")
        };
        let save = calls(&vault).in_turn(CallKind::Change, KEYCHAIN_TIMEOUT, held_save);
        let logout = async {
            let removed = vault.remove(ACCOUNT).await;
            drop(dialog_answered);
            removed
        };
        let (saved, removed) = tokio::join!(save, logout);
        assert_eq!(saved, Ok(()));
        assert_eq!(
            removed,
            RemoveOutcome::KeychainFailed(KeychainProblem::TimedOut)
        );
        // Made after everything asked before it.
        let after =
            calls(&vault).in_turn(CallKind::Change, KEYCHAIN_TIMEOUT, |_: &CredentialStore| {
                Ok(())
            });
        after.await.expect("the queue moves on");
        assert_eq!(stored_in_keychain(&store), None, "the late save came back");
    }

    /// A restore's read asked while a logout's delete waits behind a save held by an unlock dialog
    /// is made after that delete: it finds no token, not the one the logout is removing.
    #[tokio::test]
    async fn a_read_asked_behind_a_queued_delete_is_made_after_it() {
        let store = mock_store();
        let earlier = SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT);
        earlier.save(ACCOUNT, &Secret::new("jwt-logged-out")).await;
        let vault = SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT);
        let (dialog_answered, answer) = std::sync::mpsc::channel::<()>();
        let held_save = move |store: &CredentialStore| {
            let _answered = answer.recv();
            entry(store, ACCOUNT)?.set_password("jwt-saved-late")
        };
        let loaded = std::sync::atomic::AtomicBool::new(false);
        // join! polls these first to last: the save, the delete and the read are asked in turn.
        let save = calls(&vault).in_turn(CallKind::Change, KEYCHAIN_TIMEOUT, held_save);
        let logout = vault.remove(ACCOUNT);
        let restore = async {
            let found = vault.load(ACCOUNT).await;
            loaded.store(true, std::sync::atomic::Ordering::SeqCst);
            found
        };
        let person = async {
            // Time for a read made beside the queue to answer with the token still stored.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let read_beside = loaded.load(std::sync::atomic::Ordering::SeqCst);
            drop(dialog_answered);
            read_beside
        };
        let (saved, removed, found, read_beside) = tokio::join!(save, logout, restore, person);
        assert_eq!(saved, Ok(()));
        assert_eq!(removed, RemoveOutcome::Removed);
        assert!(
            !read_beside,
            "the read did not wait for the changes asked before it"
        );
        assert_eq!(
            found, None,
            "the restore read a token the logout was removing"
        );
        assert_eq!(stored_in_keychain(&store), None);
    }

    /// A restore's read whose caller is gone by its turn (the password tab chosen, a logout
    /// stopping the restore) is skipped: made, it would sit on the keyring's unlock dialog that
    /// nobody waits for, and hold up the logout's delete queued behind it until that timed out.
    #[tokio::test]
    async fn a_read_whose_caller_is_gone_does_not_hold_up_the_calls_behind_it() {
        let store = mock_store();
        let earlier = SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT);
        earlier.save(ACCOUNT, &Secret::new("jwt-logged-out")).await;
        // Its reads wait on the unlock dialog, which nobody answers in this test.
        let (locked, unlock) = gated::reads_wait(store.clone());
        let vault = SessionVault::with_store(locked, KEYCHAIN_TIMEOUT);
        let (dialog_answered, answer) = std::sync::mpsc::channel::<()>();
        let held_change = move |_: &CredentialStore| {
            let _answered = answer.recv();
            Ok(())
        };
        let change = calls(&vault).in_turn(CallKind::Change, KEYCHAIN_TIMEOUT, held_change);
        let mut change = std::pin::pin!(change);
        let queued = futures_util::future::poll_immediate(&mut change).await;
        assert!(queued.is_none(), "{queued:?}");
        // Queued behind the change, then given up on.
        let given_up = futures_util::future::poll_immediate(vault.load(ACCOUNT)).await;
        assert!(given_up.is_none(), "{given_up:?}");

        drop(dialog_answered);
        change.await.expect("the change is made");
        assert_eq!(vault.remove(ACCOUNT).await, RemoveOutcome::Removed);
        assert_eq!(stored_in_keychain(&store), None);
        assert_eq!(vault.storage(), Storage::Keychain);
        drop(unlock);
    }

    #[tokio::test]
    async fn saves_loads_and_removes_under_service_and_origin() {
        let store = mock_store();
        let vault = SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT);

        assert_eq!(vault.load(ACCOUNT).await, None);
        vault.save(ACCOUNT, &Secret::new("jwt-1")).await;
        assert_eq!(stored_in_keychain(&store).as_deref(), Some("jwt-1"));
        assert_eq!(vault.load(ACCOUNT).await, Some(Secret::new("jwt-1")));
        assert_eq!(vault.load("https://other.example.com").await, None);

        assert_eq!(vault.remove(ACCOUNT).await, RemoveOutcome::Removed);
        assert_eq!(stored_in_keychain(&store), None);
        assert_eq!(
            vault.remove(ACCOUNT).await,
            RemoveOutcome::Removed,
            "removing nothing succeeds"
        );
        assert_eq!(vault.storage(), Storage::Keychain);
    }

    /// A locked keyring's unlock dialog answered after the calls' usual timeout: the stored session
    /// is read all the same, rather than the console showing the login screen.
    #[tokio::test]
    async fn the_stored_session_is_read_once_a_person_unlocks_the_keyring() {
        let inner = mock_store();
        let earlier = SessionVault::with_store(inner.clone(), KEYCHAIN_TIMEOUT);
        earlier.save(ACCOUNT, &Secret::new("jwt-stored")).await;
        let (locked, unlock) = gated::reads_wait(inner);
        let usual = Duration::from_millis(50);
        let vault = SessionVault::with_store(locked, usual);
        let load = vault.load(ACCOUNT);
        let person = async {
            tokio::time::sleep(usual * 4).await;
            unlock.send(()).expect("the read waits");
        };
        let (loaded, ()) = tokio::join!(load, person);
        assert_eq!(loaded, Some(Secret::new("jwt-stored")));
        assert_eq!(vault.storage(), Storage::Keychain);
    }

    #[tokio::test]
    async fn a_locked_keychain_switches_to_memory_and_says_so() {
        let store = mock_store();
        let vault = SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT);
        inject(
            &store,
            KeyringError::NoStorageAccess(Box::new(std::io::Error::other("locked"))),
        );

        assert_eq!(vault.load(ACCOUNT).await, None);
        assert_eq!(
            vault.storage(),
            Storage::MemoryOnly(KeychainProblem::Locked)
        );

        vault.save(ACCOUNT, &Secret::new("jwt-2")).await;
        assert_eq!(
            vault.load(ACCOUNT).await,
            Some(Secret::new("jwt-2")),
            "kept for this run"
        );
        assert_eq!(
            stored_in_keychain(&store),
            None,
            "nothing written once the keychain failed"
        );
        assert_eq!(vault.remove(ACCOUNT).await, RemoveOutcome::Removed);
        assert_eq!(vault.load(ACCOUNT).await, None);
    }

    #[tokio::test]
    async fn a_logout_after_the_keychain_failed_at_start_still_clears_it() {
        let store = mock_store();
        let earlier = SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT);
        earlier.save(ACCOUNT, &Secret::new("jwt-before")).await;
        // This start, the keychain did not answer: the vault went on in memory.
        let vault = SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT);
        inject(
            &store,
            KeyringError::PlatformFailure(Box::new(std::io::Error::other("dbus"))),
        );
        assert_eq!(vault.load(ACCOUNT).await, None);
        vault.save(ACCOUNT, &Secret::new("jwt-now")).await;

        assert_eq!(vault.remove(ACCOUNT).await, RemoveOutcome::Removed);
        assert_eq!(
            stored_in_keychain(&store),
            None,
            "the token stored before does not come back at the next start"
        );
    }

    /// A keychain that did not even open this run (locked, or too slow) may still hold what an
    /// earlier run stored, which the next start would bring back: a logout must not say it is gone.
    /// With no keychain at all there is nothing outside this run.
    #[tokio::test]
    async fn a_logout_while_the_keychain_never_opened_says_it_may_still_hold_the_session() {
        for problem in [KeychainProblem::Locked, KeychainProblem::TimedOut] {
            let vault = SessionVault::without_keychain(problem);
            vault.save(ACCOUNT, &Secret::new("jwt-now")).await;
            assert_eq!(
                vault.remove(ACCOUNT).await,
                RemoveOutcome::KeychainFailed(problem)
            );
            assert_eq!(
                vault.load(ACCOUNT).await,
                None,
                "gone from memory all the same"
            );
        }
        let none = SessionVault::without_keychain(KeychainProblem::NotAvailable);
        none.save(ACCOUNT, &Secret::new("jwt-now")).await;
        assert_eq!(none.remove(ACCOUNT).await, RemoveOutcome::Removed);
    }

    #[tokio::test]
    async fn a_failed_write_keeps_the_session_in_memory() {
        let store = mock_store();
        let vault = SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT);
        inject(
            &store,
            KeyringError::PlatformFailure(Box::new(std::io::Error::other("dbus"))),
        );

        vault.save(ACCOUNT, &Secret::new("jwt-3")).await;
        assert_eq!(
            vault.storage(),
            Storage::MemoryOnly(KeychainProblem::Failed)
        );
        assert_eq!(vault.load(ACCOUNT).await, Some(Secret::new("jwt-3")));
        assert_eq!(stored_in_keychain(&store), None);
    }

    #[tokio::test]
    async fn a_failed_delete_is_reported() {
        let store = mock_store();
        let vault = SessionVault::with_store(store.clone(), KEYCHAIN_TIMEOUT);
        vault.save(ACCOUNT, &Secret::new("jwt-4")).await;
        inject(
            &store,
            KeyringError::NoStorageAccess(Box::new(std::io::Error::other("locked"))),
        );

        assert_eq!(
            vault.remove(ACCOUNT).await,
            RemoveOutcome::KeychainFailed(KeychainProblem::Locked)
        );
        assert_eq!(
            vault.storage(),
            Storage::MemoryOnly(KeychainProblem::Locked)
        );
    }

    #[tokio::test]
    async fn a_keychain_that_does_not_answer_times_out() {
        let started = std::time::Instant::now();
        let result = run_blocking(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_millis(600));
            Ok(())
        })
        .await;
        assert_eq!(result, Err(KeychainProblem::TimedOut));
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn storage_reaches_the_ui_as_kind_and_problem() {
        let json = serde_json::to_value(Storage::MemoryOnly(KeychainProblem::NotAvailable)).ok();
        assert_eq!(
            json,
            Some(serde_json::json!({"kind": "memory_only", "problem": "not_available"}))
        );
        let json = serde_json::to_value(Storage::Keychain).ok();
        assert_eq!(json, Some(serde_json::json!({"kind": "keychain"})));
    }
}
