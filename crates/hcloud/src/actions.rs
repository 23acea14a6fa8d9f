//! Waiting for actions. Every wait of a client (and of its clones) shares
//! one poller: all actions still running are polled together, at most 25 ids
//! a request, so concurrent waits (a node each, fifty at a time) cost one
//! request per poll instead of one each. Each action is polled on its own
//! schedule (the first interval, doubling up to the cap); a poll answers for
//! every action in it, so a new action rides along on older ones' polls.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::client::{Client, Req};
use crate::error::Error;
use crate::models::{Action, ActionStatus, Id};

/// Most ids in one `GET /actions?id=…` request.
pub const MAX_IDS_PER_POLL: usize = 25;

type Answer = Result<Action, Error>;

/// The actions being waited for, shared by every clone of a client.
#[derive(Debug, Default)]
pub(crate) struct Poller {
    state: Mutex<PollerState>,
}

#[derive(Debug, Default)]
struct PollerState {
    entries: BTreeMap<Id, Entry>,
    /// A poll loop is running for these entries.
    running: bool,
}

#[derive(Debug)]
struct Entry {
    waiters: Vec<oneshot::Sender<Answer>>,
    due: tokio::time::Instant,
    interval: Duration,
}

impl Poller {
    fn lock(&self) -> std::sync::MutexGuard<'_, PollerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Client {
    /// One action.
    pub async fn action(&self, id: Id) -> Result<Action, Error> {
        self.call(Req::new(Method::GET, format!("/actions/{id}")), "action")
            .await
    }

    /// Waits until every action in `actions` has finished. Fails with the
    /// first failed action (its command and error code), on the deadline, or
    /// when `cancel` fires.
    pub async fn wait_actions(
        &self,
        actions: &[Action],
        deadline: Duration,
        cancel: &CancellationToken,
    ) -> Result<Vec<Action>, Error> {
        let start = Instant::now();
        let mut done: BTreeMap<Id, Action> = BTreeMap::new();
        let mut pending: Vec<(Id, oneshot::Receiver<Answer>)> = Vec::new();
        for a in actions {
            match a.status {
                ActionStatus::Running => pending.push((a.id, self.watch(a.id))),
                _ => {
                    check(a)?;
                    done.insert(a.id, a.clone());
                }
            }
        }
        // Answers come as actions finish, in any order: the first failure ends the wait.
        let mut answers = tokio::task::JoinSet::new();
        for (id, rx) in pending {
            answers.spawn(async move { (id, rx.await) });
        }
        let waited: Vec<Id> = actions
            .iter()
            .map(|a| a.id)
            .filter(|id| !done.contains_key(id))
            .collect();
        let stop = tokio::time::sleep(deadline.saturating_sub(start.elapsed()));
        tokio::pin!(stop);
        loop {
            let next = tokio::select! {
                () = cancel.cancelled() => return Err(Error::Cancelled),
                () = &mut stop => {
                    let left: Vec<Id> = waited.iter().copied().filter(|id| !done.contains_key(id)).collect();
                    return Err(timeout(&left, deadline));
                }
                next = answers.join_next() => next,
            };
            let Some(joined) = next else { break };
            let (id, answer) =
                joined.map_err(|e| Error::Invalid(format!("an action wait stopped: {e}")))?;
            let a = answer
                .map_err(|_| Error::Invalid(format!("the poll for action {id} stopped")))??;
            check(&a)?;
            done.insert(a.id, a);
        }
        Ok(actions
            .iter()
            .filter_map(|a| done.get(&a.id).cloned())
            .collect())
    }

    /// Registers a wait for action `id` with the shared poller, starting
    /// its loop if none runs.
    fn watch(&self, id: Id) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        let first = self.config().poll.initial;
        let start_loop = {
            let mut st = self.poller().lock();
            let e = st.entries.entry(id).or_insert_with(|| Entry {
                waiters: Vec::new(),
                due: tokio::time::Instant::now() + first,
                interval: first,
            });
            e.waiters.push(tx);
            !std::mem::replace(&mut st.running, true)
        };
        if start_loop {
            let me = self.clone();
            tokio::spawn(async move { me.poll_loop().await });
        }
        rx
    }

    /// Polls every watched action when the first of them is due, until none
    /// is left. Waits that gave up (their receiver dropped) are forgotten.
    async fn poll_loop(self) {
        let cap = self.config().poll.cap;
        loop {
            let due = {
                let mut st = self.poller().lock();
                st.entries.retain(|_, e| {
                    e.waiters.retain(|w| !w.is_closed());
                    !e.waiters.is_empty()
                });
                match st.entries.values().map(|e| e.due).min() {
                    Some(d) => d,
                    None => {
                        st.running = false;
                        return;
                    }
                }
            };
            tokio::time::sleep_until(due).await;
            let ids: Vec<Id> = self.poller().lock().entries.keys().copied().collect();
            for chunk in ids.chunks(MAX_IDS_PER_POLL) {
                let mut req = Req::new(Method::GET, "/actions");
                for id in chunk {
                    req = req.query("id", id);
                }
                let polled: Result<Vec<Action>, Error> = self.call(req, "actions").await;
                let now = tokio::time::Instant::now();
                let mut st = self.poller().lock();
                match polled {
                    Ok(list) => {
                        for a in list {
                            if a.status == ActionStatus::Running {
                                continue;
                            }
                            if let Some(e) = st.entries.remove(&a.id) {
                                for w in e.waiters {
                                    let _ = w.send(Ok(a.clone()));
                                }
                            }
                        }
                        for id in chunk {
                            if let Some(e) = st.entries.get_mut(id) {
                                e.interval = (e.interval * 2).min(cap);
                                e.due = now + e.interval;
                            }
                        }
                    }
                    Err(err) => {
                        for id in chunk {
                            if let Some(e) = st.entries.remove(id) {
                                for w in e.waiters {
                                    let _ = w.send(Err(err.duplicate()));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Waits for one action.
    pub async fn wait_action(
        &self,
        action: &Action,
        deadline: Duration,
        cancel: &CancellationToken,
    ) -> Result<Action, Error> {
        let mut v = self
            .wait_actions(std::slice::from_ref(action), deadline, cancel)
            .await?;
        v.pop()
            .ok_or_else(|| Error::Invalid("action vanished while waiting".into()))
    }
}

fn check(a: &Action) -> Result<(), Error> {
    if a.status == ActionStatus::Error {
        return Err(Error::ActionFailed {
            id: a.id,
            command: a.command.clone(),
            error: a.error.clone().unwrap_or_default(),
        });
    }
    Ok(())
}

fn timeout(pending: &[Id], after: Duration) -> Error {
    Error::Timeout {
        what: format!("actions {pending:?}"),
        after,
    }
}
