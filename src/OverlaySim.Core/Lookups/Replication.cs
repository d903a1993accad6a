namespace OverlaySim.Core;

/// <summary>How many copies of each item exist, for overlays that have no placement rule of their own (scenario key <c>workload.replication</c>).</summary>
public enum ReplicationStrategy : byte
{
    /// <summary>r copies of every item.</summary>
    Uniform,
    /// <summary>Copies proportional to an item's query popularity, under a total budget (Cohen and Shenker, SIGCOMM 2002).</summary>
    Proportional,
    /// <summary>Copies proportional to the square root of popularity, under a total budget: the allocation that minimises the expected search size of random probing (Cohen and Shenker).</summary>
    SquareRoot,
}

/// <summary>The replication of the workload's items for overlays without a placement rule.</summary>
/// <param name="Copies">Uniform: copies per item (r); 0 to share <paramref name="Budget"/> equally instead.</param>
/// <param name="Budget">Proportional and square root (and uniform with no <paramref name="Copies"/>): total copies over all
/// items (R); every item gets at least one.</param>
public sealed record ReplicationOptions(ReplicationStrategy Strategy, int Copies = 1, long Budget = 0);

/// <summary>
/// Places the copies of the workload's items on nodes, for overlays that have no rule of their own (flooding, a central
/// index): the same placement for every such overlay of a scenario, from the run's own "placement" stream.
/// </summary>
/// <remarks>
/// <para>Copies per item follow the strategy (<see cref="CopiesPerKey"/>); each item's copies go to distinct nodes chosen
/// uniformly among the joined nodes at the start of the run (a partial Fisher–Yates shuffle of an index array per item,
/// so O(copies) each). DHTs place keys by their own rule instead (Chord at the successor, Kademlia at the k closest).</para>
/// <para>Under churn, copies leave with their holders (the store removes a departed node's copies); a node that joins
/// brings no items. An item whose last copy has gone is lost.</para>
/// </remarks>
public static class Replication
{
    /// <summary>
    /// Copies of each of the <c>popularity.Length</c> items, at most <paramref name="nodes"/> each: r each for uniform (or the
    /// budget shared equally, the first budget mod K items one more, when r is 0); for
    /// proportional and square root, the budget shared in proportion to q_i or √q_i with at least one copy per item, rounded
    /// by largest remainder so that the copies add up to the budget exactly (unless the cap of one copy per node binds).
    /// </summary>
    /// <example>Budget 10 over popularities (0.5, 0.3, 0.2): proportional gives (5, 3, 2); square root weights
    /// (0.707, 0.548, 0.447) give (4, 3, 3) after one each and the largest remainders.</example>
    public static int[] CopiesPerKey(ReplicationOptions options, ReadOnlySpan<double> popularity, int nodes)
    {
        int keys = popularity.Length;
        var copies = new int[keys];
        if (keys == 0 || nodes == 0) return copies;
        if (options.Strategy == ReplicationStrategy.Uniform)
        {
            if (options.Copies > 0)
            {
                Array.Fill(copies, Math.Min(options.Copies, nodes));
                return copies;
            }
            // Copies 0: the budget shared equally, the first (budget mod K) items one copy more.
            long each = options.Budget / keys, extra = options.Budget % keys;
            for (int k = 0; k < keys; k++) copies[k] = (int)Math.Min(nodes, Math.Max(1, each + (k < extra ? 1 : 0)));
            return copies;
        }
        var weight = new double[keys];
        double total = 0;
        for (int k = 0; k < keys; k++)
        {
            weight[k] = options.Strategy == ReplicationStrategy.SquareRoot ? Math.Sqrt(popularity[k]) : popularity[k];
            total += weight[k];
        }
        // One copy each first, then the rest of the budget by weight; whole parts, then the largest remainders.
        long rest = Math.Max(0, options.Budget - keys);
        var remainder = new double[keys];
        long given = 0;
        for (int k = 0; k < keys; k++)
        {
            double share = total > 0 ? rest * weight[k] / total : 0;
            long whole = (long)Math.Floor(share);
            copies[k] = (int)Math.Min(nodes, 1 + whole);
            given += copies[k] - 1;
            remainder[k] = copies[k] == nodes ? -1 : share - whole;
        }
        int[] order = Enumerable.Range(0, keys).ToArray();
        Array.Sort(order, (a, b) => remainder[a] != remainder[b] ? remainder[b].CompareTo(remainder[a]) : a.CompareTo(b)); // largest first, ties by item
        for (int i = 0; i < keys && given < rest; i++)
        {
            int k = order[i];
            if (remainder[k] < 0 || copies[k] >= nodes) continue;
            copies[k]++;
            given++;
        }
        return copies;
    }

    /// <summary>
    /// Creates the run's key store with the copies placed: <see cref="CopiesPerKey"/> for the workload's popularity, each
    /// item's copies on distinct joined nodes drawn from the "placement" stream.
    /// </summary>
    public static KeyStore Place(Network net, ReplicationOptions options, ReadOnlySpan<double> popularity)
    {
        if (popularity.Length != net.Keys.Length) throw new ArgumentException("one popularity per key", nameof(popularity));
        ReadOnlySpan<int> joined = net.Oracle.SortedNodes;
        int[] copies = CopiesPerKey(options, popularity, joined.Length);
        KeyStore store = net.CreateKeyStore(copies);
        Xoshiro256 rng = net.Streams.Stream("placement");
        int[] pool = joined.ToArray();
        for (int key = 0; key < copies.Length; key++)
        {
            // Partial Fisher–Yates: the first copies[key] entries of the pool become a uniform sample without repeats.
            for (int i = 0; i < copies[key]; i++)
            {
                int j = i + rng.NextInt(pool.Length - i);
                (pool[i], pool[j]) = (pool[j], pool[i]);
                store.Add(pool[i], key);
            }
        }
        return store;
    }

    /// <summary>The query popularity of each of the workload's keys: 1/K each, or Zipf(s) by rank (key-0 the most popular).</summary>
    public static double[] Popularity(WorkloadOptions workload)
    {
        var p = new double[workload.Keys];
        if (workload.Popularity == Core.Popularity.Uniform)
        {
            Array.Fill(p, 1.0 / workload.Keys);
            return p;
        }
        double[] cdf = Workload.ZipfCdf(workload.Keys, workload.ZipfExponent);
        for (int k = 0; k < p.Length; k++) p[k] = cdf[k] - (k == 0 ? 0 : cdf[k - 1]);
        return p;
    }
}
