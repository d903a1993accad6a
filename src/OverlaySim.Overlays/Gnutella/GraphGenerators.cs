using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>An undirected simple graph on vertices 0..n-1, as a list of edges (u, v), u ≠ v, no edge twice.</summary>
public sealed class EdgeList(int vertices)
{
    private int[] _u = new int[16], _v = new int[16];

    public int Vertices { get; } = vertices;
    public int Count { get; private set; }
    public int U(int i) => _u[i];
    public int V(int i) => _v[i];

    public void Add(int u, int v)
    {
        if (Count == _u.Length)
        {
            Array.Resize(ref _u, _u.Length * 2);
            Array.Resize(ref _v, _v.Length * 2);
        }
        _u[Count] = u;
        _v[Count++] = v;
    }

    /// <summary>The degree of every vertex.</summary>
    public int[] Degrees()
    {
        var d = new int[Vertices];
        for (int i = 0; i < Count; i++)
        {
            d[_u[i]]++;
            d[_v[i]]++;
        }
        return d;
    }

    internal static long Key(int a, int b) => a < b ? ((long)a << 32) | (uint)b : ((long)b << 32) | (uint)a;
}

/// <summary>
/// Generators of the overlay graphs of <see cref="Gnutella"/>, over vertices 0..n-1 (the joined nodes in id order),
/// from one random stream. Every generator returns a simple graph (no self-loop, no edge twice).
/// </summary>
public static class GraphGenerators
{
    /// <summary>
    /// G(n, M) with M = round(n·d/2): M distinct edges, each between a uniformly chosen pair (a drawn pair that is a
    /// self-loop or an edge already present is drawn again). Degrees are Binomial(n−1, d/(n−1)), about Poisson(d); the
    /// graph need not be connected (isolated nodes have probability about e^-d).
    /// </summary>
    public static EdgeList Random(int n, double meanDegree, ref Xoshiro256 rng)
    {
        long possible = (long)n * (n - 1) / 2;
        long m = Math.Min(possible, (long)Math.Round(n * meanDegree / 2)); // the complete graph at most
        var g = new EdgeList(n);
        var present = new HashSet<long>();
        while (g.Count < m)
        {
            int a = rng.NextInt(n), b = rng.NextInt(n);
            if (a == b || !present.Add(EdgeList.Key(a, b))) continue;
            g.Add(a, b);
        }
        return g;
    }

    /// <summary>
    /// A random d-regular graph: the configuration model (n·d stubs in uniform random order, paired off), then every
    /// self-loop and repeated edge removed by double edge switches with uniformly chosen other edges ((a,b),(c,e) →
    /// (a,c),(b,e)), which keep every degree. The switches bias the law slightly away from the uniform d-regular graph;
    /// for d ≪ n the few repaired edges make that negligible.
    /// </summary>
    /// <remarks>
    /// When n·d is odd (possible when a run starts with part of its nodes down) the last node gets d − 1 neighbours;
    /// d ≥ n − 1 gives the complete graph.
    /// </remarks>
    public static EdgeList Regular(int n, int d, ref Xoshiro256 rng)
    {
        if (d >= n - 1)
        {
            var complete = new EdgeList(n);
            for (int a = 0; a < n; a++)
                for (int b = a + 1; b < n; b++) complete.Add(a, b);
            return complete;
        }
        long count = (long)n * d;
        var stubs = new int[count - count % 2];
        for (int i = 0; i < stubs.Length; i++) stubs[i] = (int)(i / d);
        return Pair(n, stubs, ref rng, repair: true);
    }

    /// <summary>
    /// The configuration model with degrees drawn independently from P(k) ∝ k^-γ on [kMin, kMax] (one degree raised by
    /// one if the stubs are odd), self-loops and multi-edges erased (the erased configuration model): realised degrees
    /// are a little below the drawn ones for the largest hubs, where the erasures concentrate.
    /// </summary>
    public static EdgeList PowerLaw(int n, double gamma, int kMin, int kMax, ref Xoshiro256 rng)
    {
        kMax = Math.Max(1, Math.Min(kMax, n - 1));
        kMin = Math.Min(kMin, kMax);
        if (n < 2) return new EdgeList(n);
        var cdf = new double[kMax - kMin + 1];
        double sum = 0;
        for (int k = kMin; k <= kMax; k++) cdf[k - kMin] = sum += Math.Pow(k, -gamma);
        for (int i = 0; i < cdf.Length; i++) cdf[i] /= sum;
        var degree = new int[n];
        long total = 0;
        for (int v = 0; v < n; v++)
        {
            int i = Array.BinarySearch(cdf, rng.NextDouble());
            if (i < 0) i = ~i;
            degree[v] = kMin + Math.Min(i, cdf.Length - 1);
            total += degree[v];
        }
        if (total % 2 != 0) degree[rng.NextInt(n)]++;
        return FromDegrees(n, degree, ref rng);
    }

    /// <summary>The erased configuration model for a given degree sequence (self-loops and repeated edges dropped).</summary>
    public static EdgeList FromDegrees(int n, int[] degree, ref Xoshiro256 rng)
    {
        long total = 0;
        foreach (int k in degree) total += k;
        var stubs = new int[total];
        long at = 0;
        for (int v = 0; v < n; v++)
            for (int j = 0; j < degree[v]; j++) stubs[at++] = v;
        return Pair(n, stubs, ref rng, repair: false);
    }

    private static EdgeList Pair(int n, int[] stubs, ref Xoshiro256 rng, bool repair)
    {
        for (int i = stubs.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (stubs[i], stubs[j]) = (stubs[j], stubs[i]);
        }
        int m = stubs.Length / 2;
        var u = new int[m];
        var v = new int[m];
        var count = new Dictionary<long, int>(m);
        for (int i = 0; i < m; i++)
        {
            u[i] = stubs[2 * i];
            v[i] = stubs[2 * i + 1];
            if (u[i] != v[i]) count[EdgeList.Key(u[i], v[i])] = count.GetValueOrDefault(EdgeList.Key(u[i], v[i])) + 1;
        }
        bool Bad(int i) => u[i] == v[i] || count[EdgeList.Key(u[i], v[i])] > 1;
        if (repair)
        {
            var bad = new List<int>();
            for (int i = 0; i < m; i++) if (Bad(i)) bad.Add(i);
            long budget = 1000L * (bad.Count + 1) + 100L * m;
            while (bad.Count > 0)
            {
                if (--budget < 0) throw new InvalidOperationException("the regular graph could not be made simple by edge switches");
                int i = bad[^1];
                if (!Bad(i)) { bad.RemoveAt(bad.Count - 1); continue; }
                int j = rng.NextInt(m);
                if (j == i) continue;
                int a = u[i], b = v[i], c = u[j], e = v[j];
                if (rng.NextInt(2) == 0) (c, e) = (e, c);
                // New edges (a,c) and (b,e): both proper, absent, and different from each other.
                if (a == c || b == e || count.GetValueOrDefault(EdgeList.Key(a, c)) > 0 || count.GetValueOrDefault(EdgeList.Key(b, e)) > 0
                    || EdgeList.Key(a, c) == EdgeList.Key(b, e)) continue;
                Drop(i);
                Drop(j);
                u[i] = a; v[i] = c;
                u[j] = b; v[j] = e;
                count[EdgeList.Key(a, c)] = 1;
                count[EdgeList.Key(b, e)] = 1;
            }
        }
        var g = new EdgeList(n);
        var placed = new HashSet<long>(m);
        for (int i = 0; i < m; i++)
            if (u[i] != v[i] && placed.Add(EdgeList.Key(u[i], v[i]))) g.Add(u[i], v[i]);
        return g;

        void Drop(int i)
        {
            if (u[i] == v[i]) return;
            long k = EdgeList.Key(u[i], v[i]);
            if (--count[k] == 0) count.Remove(k);
        }
    }

    /// <summary>
    /// Preferential attachment (Barabási–Albert): a clique of m + 1 nodes, then each further node links to m distinct
    /// earlier nodes, each chosen with probability proportional to its degree (a uniform entry of the list of edge
    /// endpoints so far; a repeat is drawn again). Degrees follow P(k) = 2m(m+1) / (k(k+1)(k+2)) for k ≥ m as n grows.
    /// </summary>
    public static EdgeList Preferential(int n, int m, ref Xoshiro256 rng)
    {
        m = Math.Max(0, Math.Min(m, n - 1)); // fewer nodes than m + 1: the clique of all of them
        var g = new EdgeList(n);
        var ends = new int[2L * ((long)m * (m + 1) / 2 + (long)(n - m - 1) * m)];
        int used = 0;
        for (int a = 0; a <= m; a++)
            for (int b = a + 1; b <= m; b++)
            {
                g.Add(a, b);
                ends[used++] = a;
                ends[used++] = b;
            }
        Span<int> chosen = stackalloc int[m];
        for (int v = m + 1; v < n; v++)
        {
            int got = 0, limit = used;
            while (got < m)
            {
                int c = ends[rng.NextInt(limit)];
                if (chosen[..got].Contains(c)) continue;
                chosen[got++] = c;
            }
            for (int i = 0; i < m; i++)
            {
                g.Add(v, chosen[i]);
                ends[used++] = v;
                ends[used++] = chosen[i];
            }
        }
        return g;
    }

    /// <summary>
    /// Gnutella 0.6's two tiers: the first <paramref name="ultrapeers"/> vertices of a uniform random order are
    /// ultrapeers, joined by a random <paramref name="meshDegree"/>-regular graph (<see cref="Regular"/>); every other
    /// vertex is a leaf linked to <paramref name="leafLinks"/> distinct ultrapeers chosen uniformly. Returns the graph and
    /// which vertices are ultrapeers.
    /// </summary>
    public static (EdgeList Graph, bool[] Ultrapeer) TwoTier(int n, int ultrapeers, int meshDegree, int leafLinks, ref Xoshiro256 rng)
    {
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        ultrapeers = Math.Min(ultrapeers, n);
        leafLinks = Math.Min(leafLinks, ultrapeers);
        var isUltra = new bool[n];
        for (int i = 0; i < ultrapeers; i++) isUltra[order[i]] = true;
        EdgeList mesh = Regular(ultrapeers, meshDegree, ref rng);
        var g = new EdgeList(n);
        for (int i = 0; i < mesh.Count; i++) g.Add(order[mesh.U(i)], order[mesh.V(i)]);
        Span<int> picked = stackalloc int[leafLinks];
        for (int i = ultrapeers; i < n; i++)
        {
            int got = 0;
            while (got < leafLinks)
            {
                int up = order[rng.NextInt(ultrapeers)];
                if (picked[..got].Contains(up)) continue;
                picked[got++] = up;
                g.Add(order[i], up);
            }
        }
        return (g, isUltra);
    }

    /// <summary>
    /// A tree filled breadth first in which the root has d children and every other inner node d − 1, so that every inner
    /// node has degree d: vertex i's parent is 0 for i in 1..d and (i − d − 1)/(d − 1) + 1 beyond. A flood of TTL T from
    /// the root reaches d((d−1)^T − 1)/(d − 2) nodes while the tree is deep enough.
    /// </summary>
    public static EdgeList Tree(int n, int d)
    {
        var g = new EdgeList(n);
        for (int i = 1; i < n; i++) g.Add(i <= d ? 0 : (i - d - 1) / (d - 1) + 1, i);
        return g;
    }
}
