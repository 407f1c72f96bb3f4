//! A closed-loop load generator: a fixed number of connections, each sending its next request as
//! soon as the last one is answered, until the inputs run out.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::BenchError;

/// What a run did.
pub struct Outcome<O> {
    pub outputs: Vec<O>,
    pub elapsed: Duration,
}

impl<O> Outcome<O> {
    /// Answered requests per second.
    pub fn rate(&self) -> f64 {
        let done = self.outputs.len() as f64;
        done / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Sends `request(input)` for every input over `connections` concurrent workers. The first failed
/// request fails the run: a rate counted around errors would not be the rate of the real thing.
pub async fn drive<I, O, F, Fut>(
    inputs: Vec<I>,
    connections: usize,
    request: F,
) -> Result<Outcome<O>, BenchError>
where
    I: Send + Sync + Clone + 'static,
    O: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, BenchError>> + Send,
{
    let inputs = Arc::new(inputs);
    let next = Arc::new(AtomicUsize::new(0));
    let outputs = Arc::new(Mutex::new(Vec::with_capacity(inputs.len())));
    let request = Arc::new(request);
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..connections.min(inputs.len()) {
        let (inputs, next, outputs, request) = (
            inputs.clone(),
            next.clone(),
            outputs.clone(),
            request.clone(),
        );
        workers.spawn(async move {
            while let Some(input) = inputs.get(next.fetch_add(1, Ordering::Relaxed)) {
                let output = request(input.clone()).await?;
                outputs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(output);
            }
            Ok::<(), BenchError>(())
        });
    }
    while let Some(finished) = workers.join_next().await {
        finished??;
    }
    let elapsed = started.elapsed();
    let outputs = std::mem::take(&mut *outputs.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Outcome { outputs, elapsed })
}
