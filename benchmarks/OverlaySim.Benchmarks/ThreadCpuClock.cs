using System.Runtime.InteropServices;
using Perfolizer.Horology;

namespace OverlaySim.Benchmarks;

/// <summary>
/// A BenchmarkDotNet clock that reads the calling thread's CPU time (Linux CLOCK_THREAD_CPUTIME_ID, user +
/// system, nanoseconds) instead of the wall clock. Selected with <c>--cpu-clock</c>.
/// </summary>
/// <remarks>
/// Why: on a small shared machine (2 cores, other builds and runs competing for them) the wall clock also counts
/// the time the benchmark thread sits descheduled, which inflated and scattered the results by 2-5x in our runs.
/// Thread CPU time excludes that, yet still counts every cycle the thread spends, cache and TLB misses
/// included, which is what a single-threaded simulation pays. It cannot remove the other processes' effect on
/// the shared caches, so numbers from a quiet machine remain the reference. Each reading is a system call
/// (~0.1-1 µs), made twice per iteration of hundreds of milliseconds, so its cost does not show.
/// </remarks>
public sealed class ThreadCpuClock : IClock
{
    public static readonly ThreadCpuClock Instance = new();

    private const int ClockThreadCpuTimeId = 3; // CLOCK_THREAD_CPUTIME_ID in <time.h> on Linux

    private ThreadCpuClock()
    {
    }

    public string Title => "ThreadCpuTime";

    public bool IsAvailable => OperatingSystem.IsLinux() && clock_gettime(ClockThreadCpuTimeId, out _) == 0;

    /// <summary>Timestamps are nanoseconds.</summary>
    public Frequency Frequency => new(1e9);

    public long GetTimestamp()
    {
        if (clock_gettime(ClockThreadCpuTimeId, out Timespec ts) != 0)
            throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        return ts.Seconds * 1_000_000_000L + ts.Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;      // time_t on 64-bit Linux
        public long Nanoseconds;  // long on 64-bit Linux
    }

    [DllImport("libc", SetLastError = false)]
    private static extern int clock_gettime(int clockId, out Timespec ts);
}
