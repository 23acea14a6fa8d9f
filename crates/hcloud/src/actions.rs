//! Waiting for actions: batched polls (at most 25 ids a request), exponential
//! poll backoff, a deadline, and cancellation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use tokio_util::sync::CancellationToken;

use crate::client::{Client, Req};
use crate::error::Error;
use crate::models::{Action, ActionStatus, Id};

/// Most ids in one `GET /actions?id=…` request.
pub const MAX_IDS_PER_POLL: usize = 25;

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
        let mut pending: Vec<Id> = Vec::new();
        for a in actions {
            match a.status {
                ActionStatus::Running => pending.push(a.id),
                _ => {
                    check(a)?;
                    done.insert(a.id, a.clone());
                }
            }
        }
        let mut interval = self.config().poll.initial;
        while !pending.is_empty() {
            let left = deadline
                .checked_sub(start.elapsed())
                .ok_or_else(|| timeout(&pending, deadline))?;
            tokio::select! {
                () = cancel.cancelled() => return Err(Error::Cancelled),
                () = tokio::time::sleep(interval.min(left)) => {}
            }
            for chunk in pending.clone().chunks(MAX_IDS_PER_POLL) {
                let mut req = Req::new(Method::GET, "/actions");
                for id in chunk {
                    req = req.query("id", id);
                }
                let polled: Vec<Action> = self.call(req, "actions").await?;
                for a in polled {
                    if a.status != ActionStatus::Running {
                        check(&a)?;
                        pending.retain(|p| *p != a.id);
                        done.insert(a.id, a);
                    }
                }
            }
            if start.elapsed() >= deadline && !pending.is_empty() {
                return Err(timeout(&pending, deadline));
            }
            interval = (interval * 2).min(self.config().poll.cap);
        }
        Ok(actions
            .iter()
            .filter_map(|a| done.get(&a.id).cloned())
            .collect())
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
