//! Cache prefetch hints for the read path.
//!
//! A query over many head series touches a few cache lines per series that
//! are usually not in cache (a dashboard's queries come seconds apart).
//! Touched one series at a time, each miss waits for the previous one,
//! all the more since taking a lock or cloning an `Arc` is an atomic write
//! that stalls the core until its line arrives. Asking for the lines of a
//! block of series first lets their misses overlap.

/// Asks the CPU to start loading the cache lines of `len` bytes from `p`,
/// for writing (the core then owns them: an atomic write needs that).
/// A hint only: any address is allowed, nothing is read.
#[inline(always)]
pub(crate) fn lines(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = (p as usize) & !63;
        let end = (p as usize).wrapping_add(len);
        let mut at = start;
        while at < end {
            // SAFETY: PREFETCHW never faults and has no architectural
            // effect, whatever the address; x86-64 CPUs without it take its
            // encoding (0F 0D /1) as a no-op.
            unsafe {
                std::arch::asm!("prefetchw [{0}]", in(reg) at, options(nostack, preserves_flags, readonly));
            }
            at += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// [`lines`] for `len` bytes of a value an `Arc` holds at `p`, with the
/// reference counts stored just before it (cloning the `Arc` writes them).
#[inline(always)]
pub(crate) fn arc_value(p: *const u8, len: usize) {
    let counts = 2 * std::mem::size_of::<usize>();
    lines(p.wrapping_sub(counts), counts + len);
}

/// [`lines`] for the value `v` points to.
#[inline(always)]
pub(crate) fn value<T>(v: &T) {
    lines((v as *const T).cast(), std::mem::size_of::<T>());
}

/// [`lines`] for the first `max` bytes of `s`.
#[inline(always)]
pub(crate) fn slice<T>(s: &[T], max: usize) {
    lines(s.as_ptr().cast(), std::mem::size_of_val(s).min(max));
}
