//! Spawning the round's threads in a scope, and joining them: a thread that cannot be spawned
//! stops the spawning of the rest, and a thread's panic becomes a failure naming it.

use std::thread::{Builder, Scope, ScopedJoinHandle};

use super::error::StageFailure;
use crate::shutdown::panic_text;

/// Spawns named threads in a scope until one fails; after that, each closure is dropped unrun
/// (which drops its channel ends, winding the others down).
pub(super) struct Spawner<'scope, 'env> {
    /// The scope the threads live in.
    pub scope: &'scope Scope<'scope, 'env>,
    /// The first spawn error.
    pub error: Option<std::io::Error>,
}

/// A spawned thread and its name, for the report of its panic.
pub(super) type Spawned<'scope, T> = Option<(String, ScopedJoinHandle<'scope, T>)>;

impl<'scope> Spawner<'scope, '_> {
    /// Spawns `f` on a thread called `name`, unless a spawn failed before.
    pub fn thread<T: Send + 'scope>(
        &mut self,
        name: impl Into<String>,
        f: impl FnOnce() -> T + Send + 'scope,
    ) -> Spawned<'scope, T> {
        let name = name.into();
        if self.error.is_some() {
            return None;
        }
        match Builder::new()
            .name(name.clone())
            .spawn_scoped(self.scope, f)
        {
            Ok(handle) => Some((name, handle)),
            Err(err) => {
                self.error = Some(err);
                None
            }
        }
    }
}

impl<'scope> Spawner<'scope, '_> {
    /// Spawns one thread per stage of `stages`, called `<name>-0`, `<name>-1` …, each running
    /// what `body` makes of its stage.
    pub fn each<S, F, T>(
        &mut self,
        name: &str,
        stages: Vec<S>,
        mut body: impl FnMut(S) -> F,
    ) -> Vec<Spawned<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        stages
            .into_iter()
            .enumerate()
            .map(|(i, stage)| self.thread(format!("{name}-{i}"), body(stage)))
            .collect()
    }
}

/// Joins `thread`, if it was spawned: its result, or its panic added to `failures`.
pub(super) fn join<T>(thread: Spawned<'_, T>, failures: &mut Vec<StageFailure>) -> Option<T> {
    let (name, handle) = thread?;
    handle
        .join()
        .map_err(|panic| {
            failures.push(StageFailure::Panicked {
                thread: name,
                message: panic_text(&*panic),
            })
        })
        .ok()
}
