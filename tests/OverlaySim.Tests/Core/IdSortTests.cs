using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary><see cref="IdSort"/> against Array.Sort, for uniform, bunched and dense ids, below and above the bucketed size.</summary>
public class IdSortTests
{
    [Theory]
    [InlineData(160, 100, false)]
    [InlineData(160, 50_000, false)]
    [InlineData(160, 50_000, true)]   // ids bunched under a few prefixes: big buckets
    [InlineData(16, 30_000, false)]   // dense: half the id space taken
    [InlineData(13, 8_000, false)]    // fewer bits than the bucket index would like
    public void SortsLikeArraySortWithDistinctIds(int bits, int count, bool bunched)
    {
        var rng = new Xoshiro256(9);
        var space = new IdSpace(bits);
        Id Draw()
        {
            Id x = space.Random(ref rng);
            if (!bunched) return x;
            Id top = Id.FromUInt64((ulong)rng.NextInt(3));   // 3 values of the top 2 bits, 38 zero bits below them
            Id low = Id.Pow2(bits - 40) - Id.FromUInt64(1);
            return (x & low) + ShiftUp(top, bits - 2);
        }
        Id[] keys = Enumerable.Range(0, count).Select(_ => Draw()).Distinct().ToArray();
        int[] items = Enumerable.Range(0, keys.Length).Select(i => i * 7 + 1).ToArray();

        Id[] expectedKeys = (Id[])keys.Clone();
        int[] expectedItems = (int[])items.Clone();
        Array.Sort(expectedKeys, expectedItems);

        var sortedKeys = new Id[keys.Length];
        var sortedItems = new int[keys.Length];
        IdSort.SortInto(keys, items, sortedKeys, sortedItems, bits);
        Assert.Equal(expectedKeys, sortedKeys);
        Assert.Equal(expectedItems, sortedItems);

        var indices = new int[keys.Length];
        IdSort.SortIndicesInto(keys, sortedKeys, indices, bits);
        Assert.Equal(expectedKeys, sortedKeys);
        Assert.Equal(expectedItems, indices.Select(i => items[i]).ToArray());
    }

    private static Id ShiftUp(Id x, int by)
    {
        for (int i = 0; i < by; i++) x = x + x;
        return x;
    }

    [Fact]
    public void EqualKeysStaySortedAndAKeyTooWideIsRefused()
    {
        var space = new IdSpace(20);
        var rng = new Xoshiro256(2);
        Id[] keys = Enumerable.Range(0, 10_000).Select(_ => Id.FromUInt64((ulong)rng.NextInt(3000))).ToArray();
        var sortedKeys = new Id[keys.Length];
        var indices = new int[keys.Length];
        IdSort.SortIndicesInto(keys, sortedKeys, indices, space.Bits);
        Assert.Equal(keys.Order().ToArray(), sortedKeys);
        Assert.Equal(Enumerable.Range(0, keys.Length), indices.Order());
        for (int i = 0; i < keys.Length; i++) Assert.Equal(keys[indices[i]], sortedKeys[i]);

        keys[17] = Id.Pow2(20);
        Assert.Throws<ArgumentOutOfRangeException>(() => IdSort.SortIndicesInto(keys, sortedKeys, indices, space.Bits));
    }
}
