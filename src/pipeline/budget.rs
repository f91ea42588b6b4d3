//! A bounded channel that is bounded in bytes as well as in messages: the items queue between
//! the parsers and the writer.
//!
//! A channel of 1,024 pages is small for pages of 25 items and huge for pages of 480,000: with
//! a slow output, forty such pages once queued 880 MB. Here every message is weighed when it is
//! sent, and a sender waits (on a condition variable, woken by the receiver, never polling)
//! until the messages sent and not yet done with weigh no more than the budget. A message
//! heavier than the whole budget is let through alone, once nothing else is held, so that no
//! page can block the crawl forever. Senders wait their turn in the order they came, so a heavy
//! message is not starved by light ones.
//!
//! The receiver is done with a message when it asks for the next one (or is dropped): the
//! writer handles one page at a time, so the page it is writing still counts until it is
//! written. Dropping the receiver wakes every waiting sender with an error, as a disconnected
//! channel does; this module never looks at the shutdown flag.

use std::cell::Cell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvError, RecvTimeoutError, SendError, Sender};

/// A channel of at most `capacity` messages weighing at most `bytes` together (by `weigh`), or
/// one message of any weight.
pub fn channel<T>(
    capacity: usize,
    bytes: usize,
    weigh: fn(&T) -> usize,
) -> (BudgetSender<T>, BudgetReceiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let budget = Arc::new(Budget {
        limit: bytes,
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    });
    let sender = BudgetSender {
        tx,
        budget: Arc::clone(&budget),
        weigh,
    };
    let receiver = BudgetReceiver {
        rx,
        budget,
        held: Cell::new(0),
    };
    (sender, receiver)
}

/// The bytes in flight, shared by both ends.
#[derive(Debug)]
struct Budget {
    /// The most bytes held at once (unless a single message weighs more).
    limit: usize,
    /// What is held and who waits.
    state: Mutex<State>,
    /// Notified whenever bytes are released or the receiver goes.
    changed: Condvar,
}

/// The mutable part of [`Budget`].
#[derive(Debug, Default)]
struct State {
    /// Bytes of the messages sent and not yet done with.
    used: usize,
    /// The turn the next sender to arrive will get.
    next_turn: u64,
    /// The turn being served: only its sender may take bytes.
    serving: u64,
    /// Set when the receiver is dropped: nothing will be released any more.
    closed: bool,
}

impl Budget {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few counters, consistent after every statement: a panic elsewhere
        // leaves it usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for room for `bytes`, in turn; `false` if the receiver is gone.
    fn acquire(&self, bytes: usize) -> bool {
        let mut state = self.lock();
        let turn = state.next_turn;
        state.next_turn += 1;
        loop {
            if state.closed {
                return false;
            }
            let fits = state.used == 0 || state.used.saturating_add(bytes) <= self.limit;
            if turn == state.serving && fits {
                state.used += bytes;
                state.serving += 1;
                // The next in turn may fit too.
                self.changed.notify_all();
                return true;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Gives `bytes` back and wakes the waiting senders.
    fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut state = self.lock();
        state.used = state.used.saturating_sub(bytes);
        self.changed.notify_all();
    }

    #[cfg(test)]
    /// Bytes held now.
    fn used(&self) -> usize {
        self.lock().used
    }
}

/// The sending end; clones share the channel and the budget.
#[derive(Debug)]
pub struct BudgetSender<T> {
    /// The channel, each message with its weight.
    tx: Sender<(T, usize)>,
    /// The bytes in flight.
    budget: Arc<Budget>,
    /// How much a message weighs.
    weigh: fn(&T) -> usize,
}

impl<T> Clone for BudgetSender<T> {
    fn clone(&self) -> Self {
        BudgetSender {
            tx: self.tx.clone(),
            budget: Arc::clone(&self.budget),
            weigh: self.weigh,
        }
    }
}

impl<T> BudgetSender<T> {
    /// Sends `message` once the budget has room for it (and the channel a slot); an error,
    /// handing the message back, when the receiver is gone.
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        let bytes = (self.weigh)(&message);
        if !self.budget.acquire(bytes) {
            return Err(SendError(message));
        }
        self.tx
            .send((message, bytes))
            .map_err(|SendError((message, bytes))| {
                self.budget.release(bytes);
                SendError(message)
            })
    }

    /// Messages waiting in the channel.
    pub fn len(&self) -> usize {
        self.tx.len()
    }
}

/// Where a stage sends pages: the writer's channel, bounded in bytes ([`BudgetSender`]), or
/// the plain bounded channel in front of a stage that several threads take from (the detail
/// crawlers, the downloaders), whose receiver a [`BudgetReceiver`] could not be.
#[derive(Debug)]
pub enum Onward<T> {
    /// To the writer.
    Budget(BudgetSender<T>),
    /// To a stage of several threads.
    Plain(Sender<T>),
}

impl<T> Clone for Onward<T> {
    fn clone(&self) -> Self {
        match self {
            Onward::Budget(tx) => Onward::Budget(tx.clone()),
            Onward::Plain(tx) => Onward::Plain(tx.clone()),
        }
    }
}

impl<T> Onward<T> {
    /// Sends `message`, waiting for room; an error, handing it back, when the receivers are
    /// gone.
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        match self {
            Onward::Budget(tx) => tx.send(message),
            Onward::Plain(tx) => tx.send(message),
        }
    }

    /// Messages waiting in the channel.
    pub fn len(&self) -> usize {
        match self {
            Onward::Budget(tx) => tx.len(),
            Onward::Plain(tx) => tx.len(),
        }
    }
}

/// The receiving end, owned by one thread: it is done with a message when it asks for the
/// next, so the message it is working on still counts against the budget.
#[derive(Debug)]
pub struct BudgetReceiver<T> {
    /// The channel, each message with its weight.
    rx: Receiver<(T, usize)>,
    /// The bytes in flight.
    budget: Arc<Budget>,
    /// The weight of the message last handed out, released at the next call.
    held: Cell<usize>,
}

impl<T> BudgetReceiver<T> {
    /// The next message, blocking; an error once every sender is gone and the channel drained.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.done_with_last();
        self.rx.recv().map(|message| self.hold(message))
    }

    /// [`BudgetReceiver::recv`], waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.done_with_last();
        self.rx
            .recv_timeout(timeout)
            .map(|message| self.hold(message))
    }

    /// Messages waiting in the channel.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    #[cfg(test)]
    /// Bytes held now: the messages waiting and the one last handed out.
    pub fn bytes_held(&self) -> usize {
        self.budget.used()
    }

    fn done_with_last(&self) {
        self.budget.release(self.held.replace(0));
    }

    fn hold(&self, (message, bytes): (T, usize)) -> T {
        self.held.set(bytes);
        message
    }
}

impl<T> Drop for BudgetReceiver<T> {
    fn drop(&mut self) {
        // Nobody will release bytes any more: wake every waiting sender with an error.
        self.budget.lock().closed = true;
        self.budget.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A message weighs its length.
    #[allow(clippy::ptr_arg)] // the channel's messages are Vecs: `fn(&T)` takes `&Vec<u8>`
    fn weigh(message: &Vec<u8>) -> usize {
        message.len()
    }

    #[test]
    fn senders_wait_while_the_budget_is_spent() {
        let (tx, rx) = channel(100, 10, weigh);
        tx.send(vec![0; 6]).unwrap();
        tx.send(vec![0; 4]).unwrap();
        assert_eq!(rx.bytes_held(), 10);
        let sender = {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(vec![0; 5]))
        };
        // Room for 5 bytes appears only once the receiver is done with the first message,
        // which is when it asks for the second.
        assert_eq!(rx.recv().unwrap().len(), 6);
        assert_eq!(
            rx.bytes_held(),
            10,
            "the message being handled still counts"
        );
        assert_eq!(rx.recv().unwrap().len(), 4);
        sender.join().unwrap().unwrap();
        assert_eq!(rx.recv().unwrap().len(), 5);
        assert_eq!(rx.bytes_held(), 5);
        drop(tx);
        assert!(rx.recv().is_err(), "disconnected once the senders are gone");
        assert_eq!(rx.bytes_held(), 0);
    }

    #[test]
    fn a_message_heavier_than_the_budget_passes_alone() {
        let (tx, rx) = channel(100, 10, weigh);
        tx.send(vec![0; 3]).unwrap();
        let heavy = {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(vec![0; 1000]))
        };
        assert_eq!(rx.recv().unwrap().len(), 3);
        // Only when the 3-byte message is done with does the heavy one get through.
        assert_eq!(rx.recv().unwrap().len(), 1000);
        heavy.join().unwrap().unwrap();
        assert_eq!(rx.bytes_held(), 1000);
    }

    #[test]
    fn turns_are_kept_so_a_heavy_message_is_not_starved() {
        let (tx, rx) = channel(100, 10, weigh);
        tx.send(vec![0; 8]).unwrap();
        let heavy = {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(vec![b'h'; 50]))
        };
        // Wait (bounded) until the heavy sender has taken its turn and is waiting.
        let start = Instant::now();
        while tx.budget.lock().next_turn < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the sender never came"
            );
            std::thread::yield_now();
        }
        let light = {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(vec![b'l'; 1]))
        };
        assert_eq!(rx.recv().unwrap().len(), 8);
        // The light message fitted all along, but came after the heavy one.
        assert_eq!(rx.recv().unwrap()[0], b'h');
        assert_eq!(rx.recv().unwrap()[0], b'l');
        heavy.join().unwrap().unwrap();
        light.join().unwrap().unwrap();
    }

    #[test]
    fn dropping_the_receiver_wakes_waiting_senders_with_an_error() {
        let (tx, rx) = channel(100, 10, weigh);
        tx.send(vec![0; 10]).unwrap();
        let waiting = {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(vec![7; 1]))
        };
        let start = Instant::now();
        while tx.budget.lock().next_turn < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the sender never came"
            );
            std::thread::yield_now();
        }
        drop(rx);
        let err = waiting.join().unwrap().unwrap_err();
        assert_eq!(err.0, vec![7], "the message is handed back");
        assert!(tx.send(vec![1]).is_err());
    }

    #[test]
    fn recv_timeout_releases_and_times_out() {
        let (tx, rx) = channel(100, 10, weigh);
        tx.send(vec![0; 10]).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(1)).unwrap().len(), 10);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(10)),
            Err(RecvTimeoutError::Timeout)
        );
        assert_eq!(rx.bytes_held(), 0);
        assert_eq!((tx.len(), rx.len()), (0, 0));
    }
}
