//! Checks the hot-path promise: once warm, parsing a request and writing its
//! replies allocates nothing (beyond output buffer growth, pre-reserved here).
//!
//! A counting global allocator counts allocations made by the current thread
//! only, so other tests running in parallel do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use gyre_resp::{Protocol, ReplyWriter, RequestParser};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only bumps a thread-local counter.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn warm_request_parsing_and_replies_do_not_allocate() {
    let pipeline: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nPING\r\n";
    let mut parser = RequestParser::default();
    let mut out = BytesMut::with_capacity(64 * 1024);
    let run = |parser: &mut RequestParser, out: &mut BytesMut| {
        let mut offset = 0;
        let mut commands = 0;
        while let Some(n) = parser.parse(&pipeline[offset..]).unwrap() {
            let args = parser.args(&pipeline[offset..]);
            let mut reply = ReplyWriter::new(out, Protocol::Resp3);
            reply.array(args.len());
            for arg in args.iter() {
                reply.bulk(arg);
            }
            reply.integer(-1234567);
            reply.bulk_int(42);
            reply.double(1.5e-7);
            reply.map(1);
            reply.boolean(true);
            reply.null();
            offset += n;
            commands += 1;
        }
        out.clear();
        commands
    };
    // Warm-up grows the span and scratch buffers once.
    assert_eq!(run(&mut parser, &mut out), 3);
    let before = allocations();
    for _ in 0..100 {
        assert_eq!(run(&mut parser, &mut out), 3);
    }
    assert_eq!(allocations() - before, 0, "hot path allocated");
}

#[test]
fn counting_allocator_counts() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() > before);
    drop(v);
}
