using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>
/// <see cref="LargeArray"/>: whatever the path (an ordinary array under 4 MiB, or a pinned one advised to huge pages and
/// filled), every element holds the fill, up to the last one.
/// </summary>
public class LargeArrayTests
{
    // 40 MiB and 3 elements: whole huge pages and a tail past the last.
    private const long LargeInts = (40L << 20) / sizeof(int) + 3;

    [Theory]
    [InlineData(10)]            // an ordinary array
    [InlineData(2_000_000)]     // 8 MB: pinned
    [InlineData(LargeInts)]
    public void FilledHoldsTheFillEverywhere(long length)
    {
        int[] a = LargeArray.Filled(length, -7);
        Assert.Equal(length, a.LongLength);
        Assert.Equal(-1, a.AsSpan().IndexOfAnyExcept(-7));
    }

    [Fact]
    public void ZeroedIsZeroEvenWhereMemoryWasUsedBefore()
    {
        // Memory of a dropped pinned array may come back uninitialized: the clear must cover all of it.
        byte[] garbage = GC.AllocateUninitializedArray<byte>(64 << 20, pinned: true);
        garbage.AsSpan().Fill(0xAB);
        garbage = null!;
        GC.Collect();
        int[] a = LargeArray.Zeroed<int>(LargeInts);
        Assert.Equal(-1, a.AsSpan().IndexOfAnyExcept(0));
        GC.KeepAlive(garbage);
    }

    [Fact]
    public void FilledHoldsAStructWhoseSizeDoesNotDivideAPage()
    {
        // Id is 24 bytes, which does not divide 2 MiB: elements straddle the huge pages advised.
        var fill = new Id(1, 2, 3);
        long length = (50L << 20) / 24 + 5;
        Id[] a = LargeArray.Filled(length, fill);
        Assert.Equal(length, a.LongLength);
        Assert.Equal(-1, a.AsSpan().IndexOfAnyExcept(fill));
    }

    [Fact]
    public void UninitializedHasTheLengthAskedFor()
    {
        Id[] a = LargeArray.Uninitialized<Id>(3_000_000);
        Assert.Equal(3_000_000, a.Length);
        a.AsSpan().Fill(new Id(0, 0, 9));   // writable over its whole length
        Assert.Equal(new Id(0, 0, 9), a[^1]);
    }
}
