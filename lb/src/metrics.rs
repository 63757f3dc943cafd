/*!
Counters the data path bumps without locks: requests by status class, a latency histogram and
what is in flight, per listener and per target, rendered as Prometheus text. [`Counts`] is a
copy at one moment; the difference of two is what happened between them (requests per second,
p99 over a window).
*/

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (the last bucket is +Inf).
pub const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default)]
pub struct Meter {
    /// 1xx … 5xx at 0 … 4.
    classes: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of latencies in microseconds.
    sum_micros: AtomicU64,
    /// Requests in flight (for a listener: open client connections, in [`Meter::connections`]).
    pub active: AtomicI64,
    pub connections: AtomicI64,
}

impl Meter {
    pub fn record(&self, status: u16, latency: Duration) {
        let class = usize::from((status / 100).clamp(1, 5)) - 1;
        self.classes[class].fetch_add(1, Relaxed);
        let seconds = latency.as_secs_f64();
        let bucket = BUCKETS.iter().position(|&le| seconds <= le).unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    pub fn counts(&self) -> Counts {
        Counts {
            classes: self.classes.each_ref().map(|c| c.load(Relaxed)),
            buckets: self.buckets.each_ref().map(|c| c.load(Relaxed)),
            sum_micros: self.sum_micros.load(Relaxed),
            active: self.active.load(Relaxed).max(0) as u64,
            connections: self.connections.load(Relaxed).max(0) as u64,
        }
    }
}

/// A meter's counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub classes: [u64; 5],
    pub buckets: [u64; BUCKETS.len() + 1],
    pub sum_micros: u64,
    pub active: u64,
    pub connections: u64,
}

impl Counts {
    pub fn requests(&self) -> u64 {
        self.classes.iter().sum()
    }

    /// What was counted since `earlier` (gauges as now).
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            classes: std::array::from_fn(|i| self.classes[i].saturating_sub(earlier.classes[i])),
            buckets: std::array::from_fn(|i| self.buckets[i].saturating_sub(earlier.buckets[i])),
            sum_micros: self.sum_micros.saturating_sub(earlier.sum_micros),
            active: self.active,
            connections: self.connections,
        }
    }

    /// The latency under which `q` (0..=1) of the requests fell, as the upper bound of its
    /// bucket; none without requests.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.iter().sum::<u64>();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(BUCKETS.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        None
    }

    /// Writes the counts as Prometheus samples of `name` with `labels` (already escaped, no braces).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, n) in self.classes.iter().enumerate() {
            let _ = writeln!(out, "{name}_requests_total{{{labels}{sep}class=\"{}xx\"}} {n}", i + 1);
        }
        let mut cumulative = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            cumulative += n;
            let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_request_duration_seconds_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_request_duration_seconds_sum{{{labels}}} {}", self.sum_micros as f64 / 1e6);
        let _ = writeln!(out, "{name}_request_duration_seconds_count{{{labels}}} {cumulative}");
    }
}

/// A label value as Prometheus's text format wants it.
pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets_of_what_happened_in_between() {
        let meter = Meter::default();
        for _ in 0..98 {
            meter.record(200, Duration::from_micros(300));
        }
        let before = meter.counts();
        for _ in 0..99 {
            meter.record(200, Duration::from_micros(800));
        }
        meter.record(502, Duration::from_millis(30));
        let window = meter.counts().since(&before);
        assert_eq!(window.requests(), 100);
        assert_eq!(window.classes[4], 1);
        assert_eq!(window.quantile(0.5), Some(0.001));
        assert_eq!(window.quantile(0.99), Some(0.001));
        assert_eq!(window.quantile(1.0), Some(0.05));
        assert_eq!(Counts::default().quantile(0.99), None);
    }

    #[test]
    fn renders_cumulative_buckets() {
        let meter = Meter::default();
        meter.record(200, Duration::from_millis(2));
        meter.record(404, Duration::from_secs(60));
        let mut out = String::new();
        meter.counts().render(&mut out, "x", "listener=\"80\"");
        assert!(out.contains("x_requests_total{listener=\"80\",class=\"4xx\"} 1"), "{out}");
        assert!(out.contains("x_request_duration_seconds_bucket{listener=\"80\",le=\"0.0025\"} 1"), "{out}");
        assert!(out.contains("x_request_duration_seconds_bucket{listener=\"80\",le=\"+Inf\"} 2"), "{out}");
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
