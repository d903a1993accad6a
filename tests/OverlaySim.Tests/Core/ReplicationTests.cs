using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Core;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary>
/// The workload's replication, for overlays without a placement rule: copies per item by strategy (Cohen and Shenker),
/// their placement on distinct uniformly chosen nodes, and a key store whose keys have capacities of their own.
/// </summary>
public class ReplicationTests
{
    [Fact]
    public void CopiesFollowTheWorkedExamples()
    {
        double[] q = [0.5, 0.3, 0.2];
        Assert.Equal([5, 3, 2], Replication.CopiesPerKey(new(ReplicationStrategy.Proportional, Budget: 10), q, nodes: 100));
        Assert.Equal([4, 3, 3], Replication.CopiesPerKey(new(ReplicationStrategy.SquareRoot, Budget: 10), q, nodes: 100));
        Assert.Equal([3, 3, 3], Replication.CopiesPerKey(new(ReplicationStrategy.Uniform, Copies: 3), q, nodes: 100));
        // Uniform under a budget (no copies given): shared equally, the first budget mod K items one more.
        Assert.Equal([4, 3, 3], Replication.CopiesPerKey(new(ReplicationStrategy.Uniform, Copies: 0, Budget: 10), q, nodes: 100));
        Assert.Equal([3, 3, 3], Replication.CopiesPerKey(new(ReplicationStrategy.Uniform, Copies: 0, Budget: 9), q, nodes: 100));
        // At most one copy per node: 4 nodes cap every item at 4.
        Assert.Equal([4, 4, 4], Replication.CopiesPerKey(new(ReplicationStrategy.Uniform, Copies: 10), q, nodes: 4));
        Assert.Equal([4, 3, 3], Replication.CopiesPerKey(new(ReplicationStrategy.Proportional, Budget: 10), q, nodes: 4));
    }

    [Fact]
    public void EveryItemGetsOneToNCopiesAndTheBudgetIsSpentExactlyUnlessTheCapBinds()
    {
        Gen<(int Keys, int Nodes)> sizes = from k in Gen.Choose(1, 60) from n in Gen.Choose(1, 50) select (k, n);
        Prop.ForAll(sizes.ToArbitrary(), Gen.Choose(0, 3000).ToArbitrary(), Gen.Choose(0, 100).ToArbitrary(),
            (size, extra, skew) =>
            {
                var (keys, nodes) = size;
                var workload = new WorkloadOptions(0, 1, 0, 0, keys, skew == 0 ? Popularity.Uniform : Popularity.Zipf, skew / 50.0, 0);
                double[] q = Replication.Popularity(workload);
                foreach (var strategy in new[] { ReplicationStrategy.Proportional, ReplicationStrategy.SquareRoot })
                {
                    long budget = keys + extra;
                    int[] copies = Replication.CopiesPerKey(new(strategy, Budget: budget), q, nodes);
                    if (copies.Any(c => c < 1 || c > nodes)) return false;
                    long sum = copies.Sum(c => (long)c);
                    bool capped = copies.Any(c => c == nodes);
                    if (sum > budget || (!capped && sum != budget)) return false;
                    // More popular items never get fewer copies (ranks are in order of popularity).
                    for (int k = 1; k < keys; k++) if (copies[k] > copies[k - 1] + 1) return false;
                }
                return true;
            }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void SquareRootIsFlatterThanProportional()
    {
        double[] q = Replication.Popularity(new WorkloadOptions(0, 1, 0, 0, 1000, Popularity.Zipf, 1.0, 0));
        int[] proportional = Replication.CopiesPerKey(new(ReplicationStrategy.Proportional, Budget: 20_000), q, nodes: 100_000);
        int[] root = Replication.CopiesPerKey(new(ReplicationStrategy.SquareRoot, Budget: 20_000), q, nodes: 100_000);
        Assert.True(root[0] < proportional[0] && root[^1] > proportional[^1], $"head {root[0]} vs {proportional[0]}, tail {root[^1]} vs {proportional[^1]}");
        // Square root: r_i / r_j ≈ sqrt(q_i / q_j); for Zipf s = 1 items 1 and 100 differ by 100 in popularity, 10 in copies.
        Assert.InRange((double)(root[0] - 1) / (root[99] - 1), 9.0, 11.0);
    }

    private static Network World(int nodes, int keys, long seed = 1)
    {
        var space = new IdSpace(64);
        var streams = new RandomStreams(seed, 0);
        var table = new NodeTable(Experiment.DrawDistinctIds(space, nodes, streams.Stream("ids")));
        for (int i = 0; i < nodes; i++) table.SetAlive(i);
        return new Network(space, table, new ConstantLatency(1000), Experiment.KeyIds(space, keys), streams);
    }

    [Fact]
    public void CopiesGoToDistinctNodesChosenUniformlyAndHundredsOfCopiesFit()
    {
        // Square-root replication of 2000 Zipf(1) items: the first gets about 38,000 / (2·√2000) ≈ 430 copies, no item
        // reaches the cap of one copy per node, so the budget is spent exactly.
        const int nodes = 2000, keys = 2000;
        Network net = World(nodes, keys);
        var workload = new WorkloadOptions(0, 1, 0, 0, keys, Popularity.Zipf, 1.0, 0);
        var options = new ReplicationOptions(ReplicationStrategy.SquareRoot, Budget: 40_000);
        KeyStore store = Replication.Place(net, options, Replication.Popularity(workload));

        int[] expected = Replication.CopiesPerKey(options, Replication.Popularity(workload), nodes);
        Assert.True(expected[0] > 255, $"the most popular item gets {expected[0]} copies: more than a byte counts");
        var perNode = new int[nodes];
        for (int k = 0; k < keys; k++)
        {
            Assert.Equal(expected[k], store.HolderCount(k));
            for (int node = 0; node < nodes; node++)
                if (store.Holds(node, k)) perNode[node]++;
        }
        Assert.Equal(40_000, perNode.Sum());
        // A node holds item k with probability copies_k / N, independently across items: the count per node is a sum of
        // Bernoullis with mean 20 and variance below 20, so 5 standard deviations bound every node (chance of a miss
        // per node below 10^-6 by the normal tail, about 0.1% over the 2000 nodes).
        Assert.All(perNode, c => Assert.InRange(c, 20 - 5 * Math.Sqrt(20), 20 + 5 * Math.Sqrt(20)));
        // The same seed places every copy the same way; another seed does not.
        KeyStore again = Replication.Place(World(nodes, keys), options, Replication.Popularity(workload));
        KeyStore other = Replication.Place(World(nodes, keys, seed: 2), options, Replication.Popularity(workload));
        Assert.Equal(store.KeysOf(17), again.KeysOf(17));
        Assert.NotEqual(Enumerable.Range(0, nodes).Select(n => store.KeysOf(n).Count), Enumerable.Range(0, nodes).Select(n => other.KeysOf(n).Count));
    }

    /// <summary>A move takes the matching keys off the giver (from anywhere in its list) and gives them to the receiver, or drops them, losing a last copy.</summary>
    [Fact]
    public void MovingKeysTakesThemFromTheGiverAndGivesThemToTheReceiver()
    {
        var store = new KeyStore(keys: 6, maxHolders: 2, nodeCapacity: 4);
        for (int key = 0; key < 6; key++) store.Add(0, key);
        store.Add(3, 5);
        Assert.Equal(3, store.MoveWhere(0, 1, static (key, _) => key % 2 == 1, 0));   // 1, 3, 5: the list's head, middle and tail
        Assert.Equal([0, 2, 4], store.KeysOf(0).Order());
        Assert.Equal([1, 3, 5], store.KeysOf(1).Order());
        Assert.Equal((1, 2), (store.HolderCount(1), store.HolderCount(5)));
        Assert.Equal(2, store.MoveWhere(0, -1, static (key, limit) => key < limit, 3));   // dropped: 0 and 2 had no other copy
        Assert.True(store.IsLost(0) && store.IsLost(2) && !store.IsLost(4));
        Assert.Equal(2, store.LostCount);
        Assert.Equal([4], store.KeysOf(0));
        Assert.Equal(1, store.MoveWhere(3, 1, static (_, _) => true, 0));   // node 1 has key 5 already: one copy left, on node 1
        Assert.Equal((1, true), (store.HolderCount(5), store.Holds(1, 5)));
    }

    [Fact]
    public void AKeyStoreWithCapacitiesPerKeyKeepsEachWithinItsOwn()
    {
        var store = new KeyStore([3, 1, 0], nodeCapacity: 10);
        Assert.Equal((3, 1, 0, 3), (store.Capacity(0), store.Capacity(1), store.Capacity(2), store.MaxHolders));
        Assert.True(store.Add(4, 0) && store.Add(5, 0) && store.Add(6, 0));
        Assert.False(store.Add(7, 0));  // full
        Assert.True(store.Add(4, 1));
        Assert.False(store.Add(5, 1));
        store.RemoveNode(4);
        Assert.Equal((2, 0), (store.HolderCount(0), store.HolderCount(1)));
        Assert.True(store.IsLost(1));
        Assert.Equal(1, store.LostCount);
        Assert.True(store.Add(7, 0));   // the freed slot is reused
    }

    [Fact]
    public void AScenarioWhoseOverlaysAllPlaceKeysRefusesTheReplicationKeys()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", Yaml.Small.Replace("{ lookups: 1000, keys: 1000 }", "{ lookups: 1000, keys: 1000, replication: square_root, replica_budget: 5000 }"));

        IReadOnlyList<Diagnostic> errors = Yaml.Rejected(path);

        Assert.Equal(2, errors.Count);
        Assert.All(errors, d => Assert.Contains("places keys by its own rule", d.Message));
        Assert.Equal(["workload.replication", "workload.replica_budget"], errors.Select(d => d.Message.Split('\'')[1]));
    }
}
