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

/// wrk as a bounded load generator: `connections` keep-alive connections, each waiting
/// `pause_ms` between its requests (wrk's `delay()`), until [`Wrk::finish`] interrupts it and
/// reads its summary. wrk counts an answer other than 2xx/3xx, and every socket error.
pub struct Wrk {
    /// Taken by [`Wrk::finish`]; killed on drop otherwise (a test that failed on the way).
    child: Option<std::process::Child>,
    _script: tempfile::TempDir,
}

impl Drop for Wrk {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct WrkSummary {
    pub requests: u64,
    pub non_2xx_3xx: u64,
    /// connect, read, write and timeout errors.
    pub socket_errors: u64,
    pub text: String,
}

impl Wrk {
    pub fn start(url: &str, connections: u32, pause_ms: u32) -> Wrk {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("pace.lua");
        std::fs::write(&script, format!("function delay() return {pause_ms} end\n")).expect("wrk script");
        let child = std::process::Command::new("wrk")
            .args(["-t1", &format!("-c{connections}"), "-d3600s", "--timeout", "10s", "-s"])
            .arg(&script)
            .arg(url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("wrk runs (scripts/setup.sh --tests installs it)");
        Wrk { child: Some(child), _script: dir }
    }

    /// Interrupts wrk (it prints its summary on SIGINT) and reads the counts.
    pub fn finish(mut self) -> WrkSummary {
        let child = self.child.take().expect("wrk runs until finished");
        // SAFETY: kill(2) of our own child, not yet waited for, so its pid is still its own.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().expect("wrk's summary");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        WrkSummary { requests: wrk_count(&text, " requests in "), non_2xx_3xx: wrk_count(&text, "Non-2xx or 3xx responses:"), socket_errors: wrk_socket_errors(&text), text }
    }
}

/// The number on the line holding `marker` (before it, or after it when the line starts with it).
fn wrk_count(text: &str, marker: &str) -> u64 {
    let Some(line) = text.lines().find(|l| l.contains(marker)) else { return 0 };
    let line = line.trim();
    let number = match line.strip_prefix(marker.trim()) {
        Some(rest) => rest.trim(),
        None => line.split_whitespace().next().unwrap_or(""),
    };
    number.parse().unwrap_or(0)
}

/// "Socket errors: connect 0, read 1, write 0, timeout 0" summed.
fn wrk_socket_errors(text: &str) -> u64 {
    let Some(line) = text.lines().find_map(|l| l.trim().strip_prefix("Socket errors:")) else { return 0 };
    line.split(',').filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok()).sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrk_summaries_are_read() {
        let text = "Running 1m test @ http://x/\n  1 threads and 4 connections\n  2000 requests in 20.01s, 3.2MB read\n  \
                    Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 7\nRequests/sec: 99.9\n";
        assert_eq!(super::wrk_count(text, " requests in "), 2000);
        assert_eq!(super::wrk_count(text, "Non-2xx or 3xx responses:"), 7);
        assert_eq!(super::wrk_socket_errors(text), 3);
        assert_eq!(super::wrk_count("  10 requests in 1s\n", "Non-2xx or 3xx responses:"), 0);
    }
}
