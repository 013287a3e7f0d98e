//! When renewal emails go out (TCHAP.md §6): the first some days before expiry, reminders 30
//! and 45 days after it, each only while the account is still valid.

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// Days after the first email that the reminders go.
const REMINDERS_AFTER_DAYS: [u64; 2] = [30, 45];

#[derive(Debug, Clone)]
pub struct RenewalSchedule {
    /// How long before expiry each email goes, the first first.
    before_ms: Vec<u64>,
}

impl RenewalSchedule {
    pub fn new(first_days_before: u64) -> Self {
        let mut before_days = vec![first_days_before];
        before_days.extend(
            REMINDERS_AFTER_DAYS
                .iter()
                .filter(|after| **after < first_days_before)
                .map(|after| first_days_before - after),
        );
        Self {
            before_ms: before_days
                .into_iter()
                .filter(|days| *days > 0)
                .map(|days| days.saturating_mul(DAY_MS))
                .collect(),
        }
    }

    /// How many emails a period gets.
    pub fn emails(&self) -> u64 {
        self.before_ms.len() as u64
    }

    pub fn first_before_ms(&self) -> u64 {
        self.before_ms.first().copied().unwrap_or_default()
    }

    /// Whether email number `sent + 1` is due at `now` for an account expiring at `expiration`.
    pub fn due(&self, expiration: u64, sent: u64, now: u64) -> bool {
        usize::try_from(sent)
            .ok()
            .and_then(|sent| self.before_ms.get(sent))
            .is_some_and(|before| now < expiration && now >= expiration.saturating_sub(*before))
    }
}

#[cfg(test)]
mod tests {
    use super::{DAY_MS, RenewalSchedule};

    #[test]
    fn the_first_email_then_reminders_30_and_45_days_later() {
        let schedule = RenewalSchedule::new(60);
        assert_eq!(schedule.emails(), 3);
        let expiry = 400 * DAY_MS;
        let day = |n: u64| n * DAY_MS;
        assert!(!schedule.due(expiry, 0, expiry - day(61)));
        assert!(schedule.due(expiry, 0, expiry - day(60)));
        assert!(!schedule.due(expiry, 1, expiry - day(31)));
        assert!(schedule.due(expiry, 1, expiry - day(30)));
        assert!(schedule.due(expiry, 2, expiry - day(15)));
        assert!(!schedule.due(expiry, 3, expiry - day(1)), "three at most");
        assert!(!schedule.due(expiry, 0, expiry), "none once expired");
        // A short notice keeps only the reminders that still fall before expiry.
        assert_eq!(RenewalSchedule::new(40).emails(), 2);
        assert_eq!(RenewalSchedule::new(10).emails(), 1);
        assert_eq!(RenewalSchedule::new(0).emails(), 0);
    }
}
