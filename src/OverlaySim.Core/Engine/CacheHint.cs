using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace OverlaySim.Core;

/// <summary>
/// Software prefetch: asks the processor to bring the cache line holding a value toward its caches, without waiting
/// for it and without faulting (a hint never changes a result). The only unsafe code of the project: a prefetch takes
/// an address, and a managed reference is one for the instant it is taken (if the collector moves the object, the hint
/// merely fetches the wrong line). No-op where the processor has no prefetch instruction that .NET exposes.
/// </summary>
public static class CacheHint
{
    /// <summary>
    /// The network size from which a static overlay's per-node routing state (some hundred bytes a node) outgrows the
    /// caches, so that prefetching it pays (see <see cref="IPrefetchingSink.WantsHints"/>). Measured on static Chord:
    /// at 10^3 nodes the hints made the simulation 7% slower, at 10^4 no different, at 10^5 a third faster.
    /// </summary>
    public const int WorthFromNodes = 1 << 14;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch<T>(ref readonly T at)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.AsRef(in at)));
    }

    /// <summary>Prefetches the lines of <paramref name="count"/> consecutive elements from <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch<T>(ref readonly T at, int count)
    {
        if (!Sse.IsSupported || count <= 0) return;
        byte* from = (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in at));
        byte* last = from + (long)(count - 1) * Unsafe.SizeOf<T>() + (Unsafe.SizeOf<T>() - 1);
        for (byte* p = (byte*)((nuint)from & ~(nuint)63); p <= last; p += 64) Sse.Prefetch0(p);
    }
}
