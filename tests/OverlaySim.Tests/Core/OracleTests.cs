using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>The global view's queries, against a sorted list computed here, before and after it changes (blocks, flat copy, rank map, bucket index).</summary>
public class OracleTests
{
    private static (Oracle View, NodeTable Nodes) View(params ulong[] ids)
    {
        var nodes = new NodeTable(ids.Select(Id.FromUInt64).ToArray());
        for (int i = 0; i < ids.Length; i++) nodes.SetAlive(i);
        var view = new Oracle(new IdSpace(8));
        view.Rebuild(nodes);
        return (view, nodes);
    }

    [Fact]
    public void IsNextOnRingFollowsTheWorkedExample()
    {
        var (view, _) = View(20, 10, 30); // nodes 0, 1, 2 hold ids 20, 10, 30
        Assert.True(view.IsNextOnRing(Id.FromUInt64(15), 0));
        Assert.True(view.IsNextOnRing(Id.FromUInt64(20), 0));
        Assert.True(view.IsNextOnRing(Id.FromUInt64(31), 1));  // past the last id: round to the first
        Assert.True(view.IsNextOnRing(Id.FromUInt64(5), 1));
        Assert.False(view.IsNextOnRing(Id.FromUInt64(20), 2));
        Assert.False(view.IsNextOnRing(Id.FromUInt64(21), 0));
    }

    [Fact]
    public void ValuesPastTheLastIdFindNothingOnTheIndexedView()
    {
        var space = new IdSpace(16);
        ulong[] raw = Enumerable.Range(0, 200).Select(i => (ulong)(i * 300 + 7)).Append((1UL << 16) - 1).ToArray();
        var nodes = new NodeTable(raw.Select(Id.FromUInt64).ToArray());
        for (int i = 0; i < raw.Length; i++) nodes.SetAlive(i);
        var view = new Oracle(space);
        view.Rebuild(nodes);
        int last = raw.Length - 1;                                      // the id 2^16 - 1, the top of the space
        Assert.Equal(last, view.FirstAtOrAfter(Id.FromUInt64((1UL << 16) - 1), out _));
        Assert.Equal(-1, view.FirstAtOrAfter(Id.Pow2(16), out _));      // past the space (a walk's range end)
        Assert.Equal(-1, view.FirstAtOrAfter(Id.Pow2(100), out _));
        Assert.True(view.TryRankUnchanged(Id.Pow2(16), out int rank));
        Assert.Equal(raw.Length, rank);
        Assert.Equal(0, view.FirstAtOrAfter(Id.Zero, out _));
        Assert.Equal(1, view.FirstAtOrAfter(Id.FromUInt64(8), out Id found));
        Assert.Equal(Id.FromUInt64(307), found);
        view.Remove(Id.FromUInt64(7));                                  // changed: no index, the blocks answer
        Assert.False(view.TryRankUnchanged(Id.FromUInt64(8), out _));
        Assert.Equal(-1, view.FirstAtOrAfter(Id.Pow2(16), out _));
    }

    [Fact]
    public void EveryQueryAgreesWithASortedListBeforeAndAfterChanges()
    {
        var rng = new Xoshiro256(4);
        var space = new IdSpace(16);
        var ids = Enumerable.Range(0, 3000).Select(_ => (ulong)rng.NextInt(1 << 16)).Distinct().Take(2500).ToArray();
        var nodes = new NodeTable(ids.Select(Id.FromUInt64).ToArray());
        for (int i = 0; i < ids.Length; i++) nodes.SetAlive(i);
        var view = new Oracle(space);
        view.Rebuild(nodes);
        var joined = Enumerable.Range(0, ids.Length).ToHashSet();

        void Check()
        {
            var sorted = joined.OrderBy(n => ids[n]).ToArray();
            for (int probe = 0; probe < 800; probe++)
            {
                // random keys, and the ids themselves and their neighbours (bucket and block edges)
                ulong key = probe < 500 ? (ulong)rng.NextInt(1 << 16) : (ulong)Math.Clamp((long)ids[rng.NextInt(ids.Length)] + rng.NextInt(3) - 1, 0, (1 << 16) - 1);
                int next = sorted.FirstOrDefault(n => ids[n] >= key, sorted[0]);
                int last = sorted.LastOrDefault(n => ids[n] < key, -1);
                Assert.Equal(next, view.FirstAtOrAfter(Id.FromUInt64(key), out _) is var f and >= 0 ? f : view.First(out _));
                Assert.Equal(last, view.LastBefore(Id.FromUInt64(key), out _));
                Assert.True(view.IsNextOnRing(Id.FromUInt64(key), next));
                Assert.False(view.IsNextOnRing(Id.FromUInt64(key), sorted[(Array.IndexOf(sorted, next) + 1) % sorted.Length]));
            }
        }

        Check();                         // rank map on the flat copy
        for (int i = 0; i < 700; i++)    // removals spread over the blocks, then the searches on blocks
        {
            int n = rng.NextInt(ids.Length);
            if (joined.Remove(n)) view.Remove(Id.FromUInt64(ids[n]));
        }
        Check();
        foreach (int n in Enumerable.Range(0, ids.Length).Where(n => !joined.Contains(n)).Take(300).ToArray())
        {
            joined.Add(n);
            view.Insert(Id.FromUInt64(ids[n]), n);
        }
        Check();
        Assert.Equal(joined.Count, view.SortedIds.Length); // flatten again: the rank map is rebuilt for the new order
        Check();
    }
}
