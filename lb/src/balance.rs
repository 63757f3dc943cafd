/*!
Which target gets a request: the power of two choices over outstanding requests. Two distinct
targets are drawn at random and the one with fewer requests in flight wins, which keeps a slow
target from piling up work without the herd behaviour of always picking the least loaded.
Draining targets get nothing; unhealthy ones get nothing while any target is healthy, and
everything when none is (ELB "fails open": a health check that is wrong for all targets should
not take the whole service down).

Pure: the caller passes the random numbers, so it is tested without sockets or chance.
*/

/// A target as the choice sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub healthy: bool,
    pub draining: bool,
    pub outstanding: u32,
}

/// The index of the target to use, skipping `tried` (targets a retry already failed on);
/// `None` when nothing is left.
pub fn choose(candidates: &[Candidate], tried: &[usize], random: (u64, u64)) -> Option<usize> {
    let open = |i: &usize| !candidates[*i].draining && !tried.contains(i);
    let healthy: Vec<usize> = (0..candidates.len()).filter(open).filter(|&i| candidates[i].healthy).collect();
    let pool = if healthy.is_empty() { (0..candidates.len()).filter(open).collect() } else { healthy };
    match pool.len() {
        0 => None,
        1 => Some(pool[0]),
        n => {
            let first = (random.0 % n as u64) as usize;
            // A second draw among the others, so the two are always distinct.
            let mut second = (random.1 % (n as u64 - 1)) as usize;
            if second >= first {
                second += 1;
            }
            let (a, b) = (pool[first], pool[second]);
            Some(if candidates[b].outstanding < candidates[a].outstanding { b } else { a })
        }
    }
}

/// A small, fast generator for the draws (xorshift64*); a balancer's choices need spread, not
/// secrecy.
#[derive(Debug, Clone)]
pub struct Draws(u64);

impl Draws {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn draw(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn pair(&mut self) -> (u64, u64) {
        (self.draw(), self.draw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn up(outstanding: u32) -> Candidate {
        Candidate { healthy: true, draining: false, outstanding }
    }
    const DOWN: Candidate = Candidate { healthy: false, draining: false, outstanding: 0 };
    const DRAINING: Candidate = Candidate { healthy: true, draining: true, outstanding: 0 };

    #[test]
    fn of_two_draws_the_less_loaded_wins() {
        let targets = [up(5), up(1), up(3)];
        // Draws 0 and 0 → the first and (0 bumped past it) the second: 5 vs 1.
        assert_eq!(choose(&targets, &[], (0, 0)), Some(1));
        // 2 and 0 → the third and the first: 3 vs 5.
        assert_eq!(choose(&targets, &[], (2, 0)), Some(2));
        // Ties keep the first draw.
        assert_eq!(choose(&[up(2), up(2)], &[], (1, 0)), Some(1));
    }

    #[test]
    fn draining_and_unhealthy_targets_get_nothing_while_others_are_healthy() {
        let targets = [DRAINING, DOWN, up(9)];
        for r in 0..20 {
            assert_eq!(choose(&targets, &[], (r, r * 7)), Some(2));
        }
    }

    #[test]
    fn with_no_healthy_target_it_fails_open_but_never_to_a_draining_one() {
        let targets = [DOWN, DRAINING, DOWN];
        let mut seen = [false; 3];
        for r in 0..20 {
            seen[choose(&targets, &[], (r, r / 3)).unwrap()] = true;
        }
        assert_eq!(seen, [true, false, true]);
        assert_eq!(choose(&[DRAINING], &[], (0, 0)), None);
        assert_eq!(choose(&[], &[], (0, 0)), None);
    }

    #[test]
    fn a_retry_skips_what_it_tried() {
        let targets = [up(0), up(0), DOWN];
        assert_eq!(choose(&targets, &[0], (0, 0)), Some(1));
        // Both healthy ones tried: the unhealthy one is what is left.
        assert_eq!(choose(&targets, &[0, 1], (0, 0)), Some(2));
        assert_eq!(choose(&targets, &[0, 1, 2], (0, 0)), None);
    }

    #[test]
    fn load_spreads_evenly_over_equal_targets() {
        let targets = [up(0); 4];
        let mut draws = Draws::new(42);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[choose(&targets, &[], draws.pair()).unwrap()] += 1;
        }
        // Equal load breaks ties towards the first draw, which is uniform.
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
    }
}
