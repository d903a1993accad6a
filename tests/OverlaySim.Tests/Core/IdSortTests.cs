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
    [InlineData(13, 8_000, false)]    // 5,000 distinct ids of 8,192: nearly every bucket full
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
        IdSort.SortInto(keys, items, sortedKeys, sortedItems, space);
        Assert.Equal(expectedKeys, sortedKeys);
        Assert.Equal(expectedItems, sortedItems);

        var indices = new int[keys.Length];
        IdSort.SortIndicesInto(keys, sortedKeys, indices, space);
        Assert.Equal(expectedKeys, sortedKeys);
        Assert.Equal(expectedItems, indices.Select(i => items[i]).ToArray());
    }

    private static Id ShiftUp(Id x, int by)
    {
        for (int i = 0; i < by; i++) x = x + x;
        return x;
    }

    [Fact]
    public void EqualKeysComeInTheOrderArraySortGivesThemAndAKeyTooWideIsRefused()
    {
        var space = new IdSpace(20);
        var rng = new Xoshiro256(2);
        Id[] keys = Enumerable.Range(0, 10_000).Select(_ => Id.FromUInt64((ulong)rng.NextInt(3000))).ToArray();
        Id[] expectedKeys = (Id[])keys.Clone();
        int[] expectedIndices = Enumerable.Range(0, keys.Length).ToArray();
        Array.Sort(expectedKeys, expectedIndices);
        var sortedKeys = new Id[keys.Length];
        var indices = new int[keys.Length];
        IdSort.SortIndicesInto(keys, sortedKeys, indices, space);
        Assert.Equal(expectedKeys, sortedKeys);
        Assert.Equal(expectedIndices, indices);

        keys[17] = Id.Pow2(20);
        Assert.Throws<ArgumentOutOfRangeException>(() => IdSort.SortIndicesInto(keys, sortedKeys, indices, space));
    }

    /// <summary>The redraw of colliding ids before the counting sort, as it was: the ids it gives are the reference.</summary>
    private static Id[] DrawDistinctIdsWithArraySort(IdSpace space, int n, Xoshiro256 rng)
    {
        var ids = new Id[n];
        for (int i = 0; i < n; i++) ids[i] = space.Random(ref rng);
        var sorted = new Id[n];
        var order = new int[n];
        while (true)
        {
            Array.Copy(ids, sorted, n);
            for (int i = 0; i < n; i++) order[i] = i;
            Array.Sort(sorted, order);
            bool redrawn = false;
            for (int i = 1; i < n; i++)
            {
                if (sorted[i] != sorted[i - 1]) continue;
                int loser = Math.Max(order[i], order[i - 1]);
                ids[loser] = space.Random(ref rng);
                order[i] = Math.Min(order[i], order[i - 1]);
                redrawn = true;
            }
            if (!redrawn) return ids;
        }
    }

    [Theory]
    [InlineData(16, 20_000)]   // about 300 ids drawn three times or more: the order of the redraws matters
    [InlineData(24, 100_000)]
    [InlineData(160, 50_000)]
    public void DistinctIdsAreTheOnesTheComparisonSortGave(int bits, int n)
    {
        var space = new IdSpace(bits);
        Id[] ids = Experiment.DrawDistinctIds(space, n, new Xoshiro256(7), out Id[] sorted, out int[] order);
        Assert.Equal(DrawDistinctIdsWithArraySort(space, n, new Xoshiro256(7)), ids);
        Assert.Equal(ids.Order().ToArray(), sorted);
        for (int i = 0; i < n; i++) Assert.Equal(ids[order[i]], sorted[i]);
    }
}
