//! A crew: the threads of one follow-up stage (the detail crawlers, the downloaders) sharing the
//! requests of the pages they complete, so that one list page's forty detail pages go out over
//! every thread of the stage instead of one after another on the thread that took the page.
//!
//! Each thread still takes whole pages and alone passes its page on (so a page is committed only
//! when every one of its requests is done, as before). What it shares is a page's *batch* of
//! jobs: it invites up to `threads - 1` others, then claims jobs from the batch itself; an idle
//! thread (waiting for a page) or one whose own batch has no job left to claim takes an
//! invitation and claims jobs from that batch until none is left. Whoever finishes a batch's last
//! job wakes its owner. Nothing polls: every wait is a `select!` on channels, and every job ends
//! (bounded by the timeouts and the grace period).
//!
//! Termination: the invitations channel is disconnected once every thread of the crew has seen
//! its input disconnected and has dropped its sender ([`Crew::finish`]); until then a finished
//! thread keeps taking invitations, so no batch waits for help that cannot come. A thread that
//! claims a job with more left behind it passes the invitation on, so that a thread fallen idle
//! meanwhile joins in. The channel is bounded (`threads²`); an invitation that finds it full is
//! dropped, since the ones in it already wake every idle thread, and one that finds its batch
//! exhausted is dropped by whoever takes it.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, select};

use super::stage::Incomplete;

/// The work a crew does: one job, on the thread that claimed it.
/// Each thread passes its own (with its own connections), so it need not be shared.
pub(crate) type Work<'a, J, R> = &'a dyn Fn(&J) -> Result<R, Incomplete>;

/// One page's jobs, shared by the threads working on them.
struct Batch<J, R> {
    /// The jobs, in the page's order.
    jobs: Vec<J>,
    /// The next job no thread has claimed yet.
    next: AtomicUsize,
    /// Jobs not finished yet.
    left: AtomicUsize,
    /// Raised when a job failed: the jobs not yet started are passed over (the page fails).
    failed: AtomicBool,
    /// Each job's outcome; `None` for one passed over.
    results: Mutex<Vec<Option<Result<R, Incomplete>>>>,
    /// Sent to by whoever finishes the last job.
    done: (Sender<()>, Receiver<()>),
}

impl<J, R> Batch<J, R> {
    fn new(jobs: Vec<J>) -> Batch<J, R> {
        let count = jobs.len();
        Batch {
            jobs,
            next: AtomicUsize::new(0),
            left: AtomicUsize::new(count),
            failed: AtomicBool::new(false),
            results: Mutex::new((0..count).map(|_| None).collect()),
            done: crossbeam_channel::bounded(1),
        }
    }

    /// Claims and does jobs until none is left to claim. While jobs are left after the one it
    /// claimed, it passes the invitation on (`invite`, when this thread still holds its
    /// sender): a thread that fell idle since the batch was opened (an owner waiting for its
    /// own last job) joins in, instead of idling while this batch has work. A panic in `work`
    /// is recorded (its page is dropped, not committed) before it goes on unwinding this thread.
    fn work(self: &Arc<Self>, work: Work<'_, J, R>, invite: Option<&Sender<Invitation<J, R>>>) {
        loop {
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(job) = self.jobs.get(i) else {
                return;
            };
            if let Some(invite) = invite.filter(|_| i + 1 < self.jobs.len()) {
                // Bounded: a full channel already holds invitations enough.
                let _ = invite.try_send(self.clone());
            }
            let outcome = if self.failed.load(Ordering::SeqCst) {
                None
            } else {
                match catch_unwind(AssertUnwindSafe(|| work(job))) {
                    Ok(outcome) => Some(outcome),
                    Err(panic) => {
                        self.finish_job(i, Some(Err(Incomplete::Abandoned)));
                        resume_unwind(panic);
                    }
                }
            };
            self.finish_job(i, outcome);
        }
    }

    fn finish_job(&self, i: usize, outcome: Option<Result<R, Incomplete>>) {
        if matches!(outcome, Some(Err(_))) {
            self.failed.store(true, Ordering::SeqCst);
        }
        self.results.lock().unwrap_or_else(|e| e.into_inner())[i] = outcome;
        if self.left.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The owner's receiver is alive while it waits; room for the one message.
            let _ = self.done.0.try_send(());
        }
    }

    /// The outcomes in job order: the first failure, or every result.
    fn take(&self) -> Result<Vec<R>, Incomplete> {
        let results = std::mem::take(&mut *self.results.lock().unwrap_or_else(|e| e.into_inner()));
        let mut out = Vec::with_capacity(results.len());
        let mut passed_over = false;
        for outcome in results {
            match outcome {
                Some(Ok(result)) => out.push(result),
                Some(Err(failure)) => return Err(failure),
                None => passed_over = true,
            }
        }
        // Jobs are passed over only after a failure, which is returned above.
        debug_assert!(!passed_over, "a job was passed over without a failure");
        Ok(out)
    }
}

/// An invitation to work on a batch.
type Invitation<J, R> = Arc<Batch<J, R>>;

/// One thread's place in the crew.
pub(crate) struct Crew<J, R> {
    /// Invitations to the other threads; dropped by [`Crew::finish`].
    invite: Sender<Invitation<J, R>>,
    /// Invitations from the other threads (and this one's own, which it finds exhausted).
    invitations: Receiver<Invitation<J, R>>,
    /// The number of threads in the crew.
    threads: usize,
}

impl<J: Send + Sync, R: Send> Crew<J, R> {
    /// A crew of `threads` threads: one place for each.
    pub fn set(threads: usize) -> Vec<Crew<J, R>> {
        let threads = threads.max(1);
        // Room for every thread's open batch to invite every other thread; invitations passed
        // on beyond that are dropped (see the module's doc).
        let (invite, invitations) = crossbeam_channel::bounded(threads * threads);
        (0..threads)
            .map(|_| Crew {
                invite: invite.clone(),
                invitations: invitations.clone(),
                threads,
            })
            .collect()
    }

    /// Does `jobs` with the crew's help: their results in order, or the first failure (the jobs
    /// not started by then are passed over).
    pub fn run_all(&self, jobs: Vec<J>, work: Work<'_, J, R>) -> Result<Vec<R>, Incomplete> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let helpers = (self.threads - 1).min(jobs.len() - 1);
        let batch = Arc::new(Batch::new(jobs));
        for _ in 0..helpers {
            // A full channel wakes every idle thread already; a lost invitation means less help.
            let _ = self.invite.try_send(batch.clone());
        }
        batch.work(work, Some(&self.invite));
        // Others may still be on the last jobs: help with other batches meanwhile.
        loop {
            select! {
                recv(batch.done.1) -> _ => break,
                recv(self.invitations) -> invitation => {
                    // This thread's own sender keeps the channel connected.
                    if let Ok(other) = invitation {
                        other.work(work, Some(&self.invite));
                    }
                }
            }
        }
        batch.take()
    }

    /// The next message from `input`, helping the crew while none is there; `None` once
    /// `input` is disconnected and drained.
    pub fn next<P>(&self, input: &Receiver<P>, work: Work<'_, J, R>) -> Option<P> {
        loop {
            select! {
                recv(input) -> message => return message.ok(),
                recv(self.invitations) -> invitation => {
                    if let Ok(batch) = invitation {
                        batch.work(work, Some(&self.invite));
                    }
                }
            }
        }
    }

    /// This thread takes no more pages: it keeps helping until every thread of the crew is
    /// done (the invitations channel disconnected and drained).
    pub fn finish(self, work: Work<'_, J, R>) {
        let Crew {
            invite,
            invitations,
            ..
        } = self;
        drop(invite);
        for batch in invitations.iter() {
            // Without a sender: the channel ends once every thread is here.
            batch.work(work, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pipeline::error::{DetailError, PageError};

    /// Jobs that each wait (at most five seconds) until `want` of them run at once, and report
    /// the most that ever did.
    struct Together {
        running: Mutex<usize>,
        most: AtomicUsize,
        changed: std::sync::Condvar,
        want: usize,
    }

    impl Together {
        fn new(want: usize) -> Together {
            Together {
                running: Mutex::new(0),
                most: AtomicUsize::new(0),
                changed: std::sync::Condvar::new(),
                want,
            }
        }

        fn meet(&self) {
            let mut running = self.running.lock().unwrap();
            *running += 1;
            self.most.fetch_max(*running, Ordering::SeqCst);
            self.changed.notify_all();
            let (mut running, _) = self
                .changed
                .wait_timeout_while(running, Duration::from_secs(5), |r| {
                    self.most.load(Ordering::SeqCst) < self.want && *r < self.want
                })
                .unwrap();
            *running -= 1;
        }
    }

    #[test]
    fn one_threads_batch_is_spread_over_the_whole_crew_and_comes_back_in_order() {
        let crews = Crew::<u64, (u64, std::thread::ThreadId)>::set(4);
        let (pages_tx, pages) = crossbeam_channel::bounded::<Vec<u64>>(1);
        // The first four jobs wait for each other: they meet only if four threads run them.
        let together = Together::new(4);
        let work = |job: &u64| {
            if *job < 4 {
                together.meet();
            }
            Ok((*job * 10, std::thread::current().id()))
        };
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = crews
                .into_iter()
                .map(|crew| {
                    let (pages, work) = (pages.clone(), &work);
                    scope.spawn(move || {
                        let mut got = Vec::new();
                        while let Some(jobs) = crew.next(&pages, work) {
                            got.push(crew.run_all(jobs, work));
                        }
                        crew.finish(work);
                        got
                    })
                })
                .collect();
            pages_tx.send((0..8).collect()).unwrap();
            drop(pages_tx);
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(results.len(), 1);
        let results = results.into_iter().next().unwrap().unwrap();
        let values: Vec<u64> = results.iter().map(|(v, _)| *v).collect();
        assert_eq!(values, (0..8).map(|j| j * 10).collect::<Vec<_>>());
        assert_eq!(
            together.most.load(Ordering::SeqCst),
            4,
            "four jobs ran at once"
        );
    }

    #[test]
    fn a_failed_job_fails_the_batch_and_the_jobs_not_started_are_passed_over() {
        let crews = Crew::<u64, u64>::set(1);
        let ran = AtomicUsize::new(0);
        let work = |job: &u64| {
            ran.fetch_add(1, Ordering::SeqCst);
            if *job == 2 {
                return Err(Incomplete::Failed(PageError::Detail {
                    url: format!("http://x/{job}"),
                    error: DetailError::Parse(crate::pipeline::error::ParseError::Panicked(
                        "bad".into(),
                    )),
                }));
            }
            Ok(*job)
        };
        let crew = crews.into_iter().next().unwrap();
        let outcome = crew.run_all((0..10).collect(), &work);
        assert!(
            matches!(&outcome, Err(Incomplete::Failed(PageError::Detail { url, .. })) if url == "http://x/2"),
            "{outcome:?}"
        );
        assert_eq!(
            ran.load(Ordering::SeqCst),
            3,
            "jobs after the failure were not run"
        );
        crew.finish(&work);
    }

    #[test]
    fn finish_waits_for_the_others_and_helps_them() {
        // Two threads: one takes no page and finishes at once; the other's batch, whose first
        // two jobs wait for each other, still gets its help, and both end.
        let crews = Crew::<u64, u64>::set(2);
        let together = Together::new(2);
        let work = |job: &u64| {
            if *job < 2 {
                together.meet();
            }
            Ok(*job)
        };
        let mut crews = crews.into_iter();
        let (a, b) = (crews.next().unwrap(), crews.next().unwrap());
        std::thread::scope(|scope| {
            let idle = scope.spawn(|| a.finish(&work));
            let owner = scope.spawn(|| {
                let out = b.run_all((0..6).collect(), &work);
                b.finish(&work);
                out
            });
            assert_eq!(owner.join().unwrap().unwrap(), (0..6).collect::<Vec<_>>());
            idle.join().unwrap();
        });
        assert_eq!(together.most.load(Ordering::SeqCst), 2);
    }
}
