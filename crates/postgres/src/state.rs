//! [`FinalState`]: how a job ends, at the database boundary (`conveyor_jobs.state`).

use std::fmt;

/// The final states a job can end in, as the ledger spells outcomes and as
/// `conveyor_jobs.state` stores them. Read back with [`FinalState::parse`]: a state the
/// crate does not know is an error, never a silent `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FinalState {
    /// The attempt succeeded.
    Succeeded,
    /// The job's own error on its last attempt.
    Failed,
    /// The handler panicked.
    Panicked,
    /// The last attempt ran out of time.
    TimedOut,
    /// The job was cancelled.
    Cancelled,
}

impl FinalState {
    /// Every final state, in the ledger's order.
    pub const ALL: [FinalState; 5] = [
        FinalState::Succeeded,
        FinalState::Failed,
        FinalState::Panicked,
        FinalState::TimedOut,
        FinalState::Cancelled,
    ];

    /// The state's name in the table and the ledger.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_postgres::FinalState;
    /// assert_eq!(FinalState::TimedOut.as_str(), "timed_out");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            FinalState::Succeeded => "succeeded",
            FinalState::Failed => "failed",
            FinalState::Panicked => "panicked",
            FinalState::TimedOut => "timed_out",
            FinalState::Cancelled => "cancelled",
        }
    }

    /// The state named `name`, `None` for a name that is not a final state.
    ///
    /// # Examples
    ///
    /// ```
    /// use conveyor_postgres::FinalState;
    /// assert_eq!(FinalState::parse("failed"), Some(FinalState::Failed));
    /// assert_eq!(FinalState::parse("running"), None);
    /// ```
    pub fn parse(name: &str) -> Option<FinalState> {
        FinalState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for FinalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::FinalState;

    #[test]
    fn every_state_parses_back() {
        for s in FinalState::ALL {
            assert_eq!(FinalState::parse(s.as_str()), Some(s));
        }
    }
}
