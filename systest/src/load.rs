/*!
A bounded load generator: a few workers on keep-alive connections send requests (`GET`s, or
`POST`s with a body, which no proxy may send twice) at a fixed total rate until stopped, and
count every answer. A failure is any request that got no answer or an
answer other than 200, with what it was; a zero-downtime test asserts there were none.
*/

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub sent: u64,
    pub ok: u64,
    /// What went wrong, by kind ("503", "connection: …"), with how often.
    pub failures: BTreeMap<String, u64>,
    /// Bodies of the 200s, by body: which targets answered.
    pub answered_by: BTreeMap<String, u64>,
}

impl Tally {
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `workers` connections sending `rate` GETs per second in all to `url`.
    pub fn start(url: &str, workers: usize, rate: u32) -> Load {
        Self::sending(url, None, workers, rate)
    }

    /// As [`Load::start`], with POSTs of `body` when given.
    pub fn sending(url: &str, body: Option<&str>, workers: usize, rate: u32) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let every = Duration::from_secs_f64(workers as f64 / f64::from(rate.max(1)));
        let handles = (0..workers)
            .map(|_| {
                let (stop, tally, url, body) = (stop.clone(), tally.clone(), url.to_string(), body.map(str::to_string));
                tokio::spawn(async move {
                    // One keep-alive connection per worker, as a browser or a service would hold.
                    let client = crate::client_builder().pool_max_idle_per_host(1).timeout(Duration::from_secs(10)).build().expect("a client");
                    let mut next = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        let request = match &body {
                            Some(b) => client.post(&url).body(b.clone()),
                            None => client.get(&url),
                        };
                        let outcome = match request.send().await {
                            Ok(r) if r.status() == 200 => r.text().await.map_err(|e| format!("body: {e}")),
                            Ok(r) => Err(r.status().as_u16().to_string()),
                            Err(e) => Err(format!("connection: {e}")),
                        };
                        let mut t = tally.lock().await;
                        t.sent += 1;
                        match outcome {
                            Ok(body) => {
                                t.ok += 1;
                                *t.answered_by.entry(body.trim().to_string()).or_default() += 1;
                            }
                            Err(kind) => *t.failures.entry(kind).or_default() += 1,
                        }
                        drop(t);
                        next += every;
                        let now = Instant::now();
                        if next > now {
                            tokio::time::sleep(next - now).await;
                        } else {
                            next = now;
                        }
                    }
                })
            })
            .collect();
        Load { stop, tally, workers: handles }
    }

    /// What was counted so far.
    pub async fn tally(&self) -> Tally {
        self.tally.lock().await.clone()
    }

    /// Stops, waits for the requests in flight, and returns the count.
    pub async fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            let _ = w.await;
        }
        self.tally.lock().await.clone()
    }
}
