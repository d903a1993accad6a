using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OverlaySim.Core;

/// <summary>
/// Arrays of per-node state that a run reads at random: on Linux, backed by 2 MiB pages where the kernel allows it
/// (transparent huge pages in "madvise" mode, the usual default, give them only to memory that asks).
/// </summary>
/// <remarks>
/// <para>Why: at 10^6 nodes and more a hop reads a few random entries of arrays of tens to hundreds of megabytes. With
/// 4 KiB pages nearly every such read also misses the TLB, whose few thousand entries cover a few megabytes, and the
/// page walk is more reads of memory; with 2 MiB pages the same entries cover gigabytes.</para>
/// <para>How: the array is allocated pinned (in the pinned object heap, which the collector never moves) and
/// uninitialized, the whole 2 MiB pages inside it are marked with <c>madvise(MADV_HUGEPAGE)</c>, and only then is it
/// filled, so that its first touch faults in huge pages. Elsewhere, for arrays under 4 MiB, or if the call fails, it
/// is an ordinary array. Contents and results are the same either way; only the speed differs.</para>
/// </remarks>
public static partial class LargeArray
{
    private const long HugePage = 2L << 20;
    private const long MinBytes = 4L << 20;
    private const int MadvHugePage = 14;

    /// <summary>A zeroed array of <paramref name="length"/> elements (see remarks).</summary>
    public static T[] Zeroed<T>(long length) where T : unmanaged
    {
        T[] array = Allocate<T>(length, out bool zeroed);
        if (!zeroed) array.AsSpan().Clear();
        return array;
    }

    /// <summary>An array of <paramref name="length"/> elements, each <paramref name="fill"/>.</summary>
    public static T[] Filled<T>(long length, T fill) where T : unmanaged
    {
        T[] array = Allocate<T>(length, out _);
        array.AsSpan().Fill(fill);
        return array;
    }

    /// <summary>
    /// An array of <paramref name="length"/> elements whose contents are undefined, for a caller that writes all of it
    /// before reading any: its first touch is then the caller's writes (from several threads, for <see cref="Experiment.KeyIds"/>).
    /// </summary>
    public static T[] Uninitialized<T>(long length) where T : unmanaged => Allocate<T>(length, out _);

    /// <summary>A pinned, uninitialized array advised to huge pages, or an ordinary (<paramref name="zeroed"/>) one.</summary>
    private static T[] Allocate<T>(long length, out bool zeroed) where T : unmanaged
    {
        long bytes = length * Unsafe.SizeOf<T>();
        zeroed = !OperatingSystem.IsLinux() || bytes < MinBytes || length > Array.MaxLength;
        if (zeroed) return new T[length];
        T[] array = GC.AllocateUninitializedArray<T>((int)length, pinned: true);
        Advise(ref MemoryMarshal.GetArrayDataReference(array), bytes);
        return array;
    }

    private static unsafe void Advise<T>(ref T first, long bytes)
    {
        long from = (long)Unsafe.AsPointer(ref first);
        long start = (from + HugePage - 1) & ~(HugePage - 1), end = (from + bytes) & ~(HugePage - 1);
        if (end <= start) return;
        try
        {
            _ = madvise((nint)start, (nuint)(end - start), MadvHugePage);   // a hint: failure leaves small pages
        }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    [LibraryImport("libc", SetLastError = false)]
    private static partial int madvise(nint address, nuint length, int advice);
}
