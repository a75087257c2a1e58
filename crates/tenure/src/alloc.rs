//! The global allocator: mimalloc, optionally counting the bytes it has live.
//!
//! Counting is off unless a benchmark turns it on (`tenure bench engine`, just before it
//! builds the engine): it then adds each block's usable size (the size class mimalloc really
//! hands out, not the size asked for) on allocation and subtracts it on free, so the
//! benchmark reads exactly how much heap the structure it builds holds.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

use mimalloc::MiMalloc;

pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Starts counting. Blocks allocated before are not counted, so the benchmark must not free
/// or grow them while it measures.
pub fn count() {
    ON.store(true, Relaxed);
}

/// Bytes allocated and not yet freed since counting started.
pub fn live() -> Option<isize> {
    ON.load(Relaxed).then(|| LIVE.load(Relaxed))
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc(layout) };
        if ON.load(Relaxed) && !p.is_null() {
            LIVE.fetch_add(unsafe { MiMalloc.usable_size(p) } as isize, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if ON.load(Relaxed) && !p.is_null() {
            LIVE.fetch_add(unsafe { MiMalloc.usable_size(p) } as isize, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if ON.load(Relaxed) {
            LIVE.fetch_sub(unsafe { MiMalloc.usable_size(p) } as isize, Relaxed);
        }
        unsafe { MiMalloc.dealloc(p, layout) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = if ON.load(Relaxed) {
            unsafe { MiMalloc.usable_size(p) }
        } else {
            0
        };
        let q = unsafe { MiMalloc.realloc(p, layout, new_size) };
        if ON.load(Relaxed) && !q.is_null() {
            LIVE.fetch_add(
                unsafe { MiMalloc.usable_size(q) } as isize - old as isize,
                Relaxed,
            );
        }
        q
    }
}
