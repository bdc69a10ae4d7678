//! Batching across requests: one queue per model, drained by the model's own thread, which
//! decodes the texts of every request that arrived within a short wait (or until a line budget
//! fills) as one batch, and hands each request its own results back.
//!
//! The queue is bounded: when it is full, [`ModelQueue::submit`] says so at once (the server
//! answers 503 with `Retry-After`) instead of letting memory grow.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// One text's result: its output, or why it cannot be decoded.
pub type Outcome = Result<String, String>;

/// A request's texts and where its results go.
struct Job {
    texts: Vec<String>,
    reply: tokio::sync::oneshot::Sender<Vec<Outcome>>,
}

/// How requests are gathered into batches.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// The longest a request waits for others to join its batch.
    pub max_wait: Duration,
    /// A batch closes once it holds this many texts (a request is never split).
    pub max_texts: usize,
    /// Requests that may wait in the queue; more are refused.
    pub queue: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_millis(5),
            max_texts: 256,
            queue: 1024,
        }
    }
}

/// Why a request got no results.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QueueError {
    #[error("the queue of model {0} is full; retry later")]
    Full(String),
    #[error("model {0} stopped")]
    Stopped(String),
}

/// The sending side of one model's queue (cheap to clone).
#[derive(Clone)]
pub struct ModelQueue {
    name: String,
    sender: SyncSender<Job>,
}

impl ModelQueue {
    /// A queue whose jobs `decode` answers, on a thread of its own (named after the model).
    /// `decode` is built on that thread by `start` (so a model that is not `Send` stays there)
    /// and sees every batch's texts in request order; it returns one outcome per text. A panic
    /// inside `decode` fails only the request that causes it (the batch is decoded again one
    /// request at a time; the failing one's reply is dropped), and the thread goes on.
    pub fn spawn<F, D>(name: &str, policy: BatchPolicy, start: F) -> Self
    where
        F: FnOnce() -> D + Send + 'static,
        D: FnMut(&[String]) -> Vec<Outcome>,
    {
        let (sender, receiver) = mpsc::sync_channel::<Job>(policy.queue.max(1));
        std::thread::Builder::new()
            .name(format!("serve-{name}"))
            .spawn(move || {
                let mut decode = start();
                work(&receiver, policy, &mut decode);
            })
            .expect("a thread can be started");
        Self {
            name: name.to_string(),
            sender,
        }
    }

    /// Queue `texts`; the results come on the returned receiver, one per text, in order.
    pub fn submit(
        &self,
        texts: Vec<String>,
    ) -> Result<tokio::sync::oneshot::Receiver<Vec<Outcome>>, QueueError> {
        let (reply, results) = tokio::sync::oneshot::channel();
        match self.sender.try_send(Job { texts, reply }) {
            Ok(()) => Ok(results),
            Err(TrySendError::Full(_)) => Err(QueueError::Full(self.name.clone())),
            Err(TrySendError::Disconnected(_)) => Err(QueueError::Stopped(self.name.clone())),
        }
    }
}

/// The model thread: gather, decode, reply, until every sender is gone.
fn work<D: FnMut(&[String]) -> Vec<Outcome>>(
    receiver: &Receiver<Job>,
    policy: BatchPolicy,
    decode: &mut D,
) {
    while let Ok(first) = receiver.recv() {
        let deadline = Instant::now() + policy.max_wait;
        let mut texts = first.texts.len();
        let mut jobs = vec![first];
        while texts < policy.max_texts {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(job) => {
                    texts += job.texts.len();
                    jobs.push(job);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let all: Vec<String> = jobs.iter().flat_map(|j| j.texts.iter().cloned()).collect();
        match guarded(decode, &all) {
            Some(mut outcomes) => {
                for job in jobs.into_iter().rev() {
                    let mine = outcomes.split_off(outcomes.len() - job.texts.len());
                    // A client that went away drops its receiver: nothing to do.
                    let _ = job.reply.send(mine);
                }
            }
            // The batch failed: each request alone, so that only the one that fails gets no
            // results (its reply dropped: the server answers 500).
            None => {
                for job in jobs {
                    if let Some(mine) = guarded(decode, &job.texts) {
                        let _ = job.reply.send(mine);
                    }
                }
            }
        }
    }
}

/// `decode(texts)`, or `None` if it panics or answers the wrong number of texts.
fn guarded<D: FnMut(&[String]) -> Vec<Outcome>>(
    decode: &mut D,
    texts: &[String],
) -> Option<Vec<Outcome>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(texts)))
        .ok()
        .filter(|outcomes| outcomes.len() == texts.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn concurrent_requests_share_a_batch_and_get_their_own_results() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let policy = BatchPolicy {
            max_wait: Duration::from_millis(200),
            max_texts: 100,
            queue: 16,
        };
        let queue = ModelQueue::spawn("upper", policy, move || {
            move |texts: &[String]| {
                seen.lock().unwrap().push(texts.len());
                texts
                    .iter()
                    .map(|t| {
                        if t.is_empty() {
                            Err("empty".to_string())
                        } else {
                            Ok(t.to_uppercase())
                        }
                    })
                    .collect()
            }
        });
        let receivers: Vec<_> = (0..5)
            .map(|i| {
                queue
                    .submit(vec![format!("a{i}"), String::new(), format!("b{i}")])
                    .unwrap()
            })
            .collect();
        for (i, rx) in receivers.into_iter().enumerate() {
            let got = rx.blocking_recv().unwrap();
            assert_eq!(
                got,
                vec![
                    Ok(format!("A{i}")),
                    Err("empty".into()),
                    Ok(format!("B{i}"))
                ]
            );
        }
        // All five came within the wait: one batch of 15 (the first may run alone if the
        // thread picked it up before the others were queued).
        let sizes = batches.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 15);
        assert!(sizes.len() <= 2, "{sizes:?}");
    }

    #[test]
    fn a_full_queue_refuses_and_a_panic_fails_only_its_request() {
        let policy = BatchPolicy {
            max_wait: Duration::from_millis(1),
            max_texts: 1,
            queue: 1,
        };
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let inside = gate.clone();
        let queue = ModelQueue::spawn("gated", policy, move || {
            move |texts: &[String]| {
                let _wait = inside.lock().unwrap_or_else(|e| e.into_inner());
                if texts[0] == "boom" {
                    panic!("a decode that panics");
                }
                texts.iter().map(|t| Ok(t.clone())).collect()
            }
        });
        let boom = queue.submit(vec!["boom".into()]).unwrap();
        // Wait until the thread holds "boom" (blocked on the gate), then fill the queue.
        std::thread::sleep(Duration::from_millis(50));
        let queued = queue.submit(vec!["ok".into()]).unwrap();
        assert_eq!(
            queue.submit(vec!["more".into()]).err(),
            Some(QueueError::Full("gated".into()))
        );
        drop(held);
        assert!(boom.blocking_recv().is_err(), "the panicking request fails");
        assert_eq!(queued.blocking_recv().unwrap(), vec![Ok("ok".to_string())]);
    }

    #[test]
    fn a_panic_in_a_shared_batch_fails_only_the_request_that_caused_it() {
        let policy = BatchPolicy {
            max_wait: Duration::from_millis(300),
            max_texts: 100,
            queue: 8,
        };
        let queue = ModelQueue::spawn("shared", policy, || {
            |texts: &[String]| -> Vec<Outcome> {
                assert!(!texts.iter().any(|t| t == "boom"), "a decode that panics");
                texts.iter().map(|t| Ok(t.to_uppercase())).collect()
            }
        });
        let before = queue.submit(vec!["a".into()]).unwrap();
        let boom = queue.submit(vec!["boom".into()]).unwrap();
        let after = queue.submit(vec!["b".into(), "c".into()]).unwrap();
        assert_eq!(before.blocking_recv().unwrap(), vec![Ok("A".to_string())]);
        assert!(boom.blocking_recv().is_err());
        assert_eq!(
            after.blocking_recv().unwrap(),
            vec![Ok("B".to_string()), Ok("C".to_string())]
        );
    }
}
