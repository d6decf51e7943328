//! CPU hints for the hot path.

/// Starts loading the cache line at `ptr` into the CPU cache, so that a load
/// from it a little later does not wait for memory. Worth it only where the
/// address of a cold line is known well before it is read: the line is not
/// read here, and the call does nothing on other architectures.
#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address
    // (SSE, which it needs, is part of x86_64).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}
