//! A count of the steps that turn source offsets into positions and look keys up in
//! collections, so that tests can assert these grow linearly with the input (a quadratic step
//! there made `check` of a 100,000-entry rewrite map take minutes). Counted only in unit tests;
//! in the binary [`add`] compiles to nothing.

#[cfg(test)]
thread_local! {
    static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Records `n` steps: bytes scanned, binary-search probes or key comparisons.
#[inline]
pub fn add(n: usize) {
    #[cfg(test)]
    STEPS.with(|s| s.set(s.get().saturating_add(n as u64)));
    #[cfg(not(test))]
    let _ = n;
}

/// The steps counted on this thread since the last call.
#[cfg(test)]
pub fn take() -> u64 {
    STEPS.with(|s| s.replace(0))
}
