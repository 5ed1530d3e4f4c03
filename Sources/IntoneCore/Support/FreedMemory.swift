import CSpawn

/// glibc hands blocks over 128 KiB (a reply's audio, a pipeline of them) to the kernel
/// with mmap and gives them back with munmap, so each reply's buffers are fresh pages,
/// zeroed and faulted in one by one: in `on`, page faults were about a tenth of both
/// cores. Keeping freed memory in the process (blocks up to 64 MiB from the heap, trimmed
/// only past 256 MiB free) reuses the same pages reply after reply; RSS grows once by
/// what the replies in flight need.
public enum FreedMemory {
    public static func keep() {
        _ = intone_malloc_thresholds(64 << 20, 256 << 20)
    }
}
