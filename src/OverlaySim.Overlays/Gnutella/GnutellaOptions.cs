using System.Globalization;
using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>The overlay graph of an unstructured overlay (see <see cref="GraphGenerators"/> for each generator).</summary>
public enum GnutellaGraph : byte
{
    /// <summary>G(n, M): M = n·degree/2 distinct edges between uniformly chosen pairs (Poisson degrees of mean <c>degree</c>).</summary>
    Random,
    /// <summary>Every node has exactly <c>degree</c> neighbours: a uniform pairing of stubs, repaired by edge switches.</summary>
    Regular,
    /// <summary>Configuration model with degrees drawn from P(k) ∝ k^-γ on [min_degree, max_degree], self-loops and multi-edges erased.</summary>
    PowerLaw,
    /// <summary>Preferential attachment (Barabási–Albert): each new node links to <c>attach</c> nodes chosen in proportion to their degree.</summary>
    Preferential,
    /// <summary>Gnutella 0.6: ultrapeers in a random <c>degree</c>-regular mesh, each leaf linked to <c>leaf_links</c> ultrapeers.</summary>
    TwoTier,
    /// <summary>A tree in which every inner node has <c>degree</c> neighbours, filled breadth first: for checking floods against theory.</summary>
    Tree,
}

/// <summary>How the overlay graph comes to be.</summary>
public enum GnutellaStart : byte
{
    /// <summary>Built from the global view by the <c>graph</c> generator.</summary>
    Graph,
    /// <summary>Grown by joins: the first node founds the overlay, each other joins at a random time in [0, join_over) and opens <c>attach</c> links to nodes already in.</summary>
    Joins,
}

/// <summary>How a query searches the unstructured overlay.</summary>
public enum GnutellaSearch : byte
{
    /// <summary>Flooding with a TTL and duplicate suppression; hits return along the reverse path.</summary>
    Flood,
    /// <summary>Floods of growing TTL (the <c>rings</c> list) until one finds the item (Lv et al., ICS 2002).</summary>
    ExpandingRing,
    /// <summary>k random walkers with a TTL, checking back with the origin every few steps (Lv et al., ICS 2002).</summary>
    RandomWalk,
}

/// <summary>
/// The Gnutella-style unstructured overlay's scenario parameters: this record is the schema, its initial values the
/// defaults. Times in µs.
/// </summary>
public sealed record GnutellaOptions : IOptionsCheck
{
    [Param("overlay graph: random (mean degree), regular, power_law, preferential (attachment), two_tier (ultrapeers and leaves, Gnutella 0.6) or tree (for checks against theory)", Only = "start=graph")]
    public GnutellaGraph Graph { get; init; } = GnutellaGraph.Random;

    [Param("mean degree (random), degree of every node (regular, the inner nodes of tree) or of the ultrapeer mesh (two_tier)", Min = 1, Max = 1000)]
    public double Degree { get; init; } = 4;

    [Param("γ, the exponent of the power-law degree distribution P(k) ∝ k^-γ", Min = 1.5, Max = 5, Only = "graph=power_law")]
    public double Exponent { get; init; } = 2.5;

    [Param("smallest degree drawn for the power law (2 with γ = 2.5 and the √N cut-off gives a mean degree near 4, like the other graphs' default)", Min = 1, Max = 1000, Only = "graph=power_law")]
    public int MinDegree { get; init; } = 2;

    [Param("largest degree drawn for the power law; 0 = ⌊√N⌋, the structural cut-off", Min = 0, Max = 1_000_000, Only = "graph=power_law")]
    public int MaxDegree { get; init; }

    [Param("m: links each new node opens (preferential attachment, and every join of the protocol)", Min = 1, Max = 100)]
    public int Attach { get; init; } = 2;

    [Param("share of the nodes that are ultrapeers", Min = 0.001, Max = 1, Only = "graph=two_tier")]
    public double UltrapeerFraction { get; init; } = 0.1;

    [Param("ultrapeers each leaf is linked to", Min = 1, Max = 32, Only = "graph=two_tier")]
    public int LeafLinks { get; init; } = 3;

    [Param("search: flood (TTL), expanding_ring (floods of growing TTL) or random_walk (k walkers)")]
    public GnutellaSearch Search { get; init; } = GnutellaSearch.Flood;

    [Param("TTL of a flood: the query travels at most this many links", Min = 1, Max = 255, Only = "search=flood")]
    public int Ttl { get; init; } = 7;

    [Param("TTLs of the successive floods of an expanding ring, comma-separated and increasing; the next starts when the last message of the previous one has died without a hit", Only = "search=expanding_ring")]
    public string Rings { get; init; } = "1,2,4,8";

    [Param("k: walkers of a random-walk query", Min = 1, Max = 1024, Only = "search=random_walk")]
    public int Walkers { get; init; } = 16;

    [Param("TTL of each walker (steps)", Min = 1, Max = 65_535, Only = "search=random_walk")]
    public int WalkTtl { get; init; } = 1024;

    [Param("a walker checks back with the origin every this many steps, and stops if the query is answered; 0 = never", Min = 0, Max = 65_535, Only = "search=random_walk")]
    public int CheckEvery { get; init; } = 4;

    [Param("static: the graph built from the global view, no maintenance; dynamic: joins open attach links, a leave says Bye, pings find crashed neighbours, and a node below the initial mean degree replaces a lost link (needed under churn)")]
    public OverlayProtocol Protocol { get; init; } = OverlayProtocol.Static;

    [Param("graph: the graph generator's graph from the global view; joins: grown by joins, each initial node joining at a random time in [0, join_over) with attach links to nodes already in (a uniform-attachment graph)", Only = "protocol=dynamic")]
    public GnutellaStart Start { get; init; } = GnutellaStart.Graph;

    [Param("the initial nodes join at uniform random times in [0, join_over)", Unit = ParamUnit.Time, Min = 0, Max = 86_400_000_000, Only = "protocol=dynamic,start=joins")]
    public long JoinOver { get; init; } = 60_000_000;

    [Param("period of a node's pings to its neighbours (crash detection)", Unit = ParamUnit.Time, Min = 1_000_000, Max = 86_400_000_000, Only = "protocol=dynamic")]
    public long PingEvery { get; init; } = 30_000_000;

    public bool Dynamic => Protocol == OverlayProtocol.Dynamic;

    /// <summary>The TTLs of <see cref="Rings"/>; empty when the text is malformed (<see cref="Check"/> reports it).</summary>
    public int[] RingTtls()
    {
        var ttls = new List<int>();
        foreach (string part in Rings.Split(','))
        {
            if (!int.TryParse(part.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int t) || t < 1 || t > 255) return [];
            if (ttls.Count > 0 && t <= ttls[^1]) return [];
            ttls.Add(t);
        }
        return ttls.Count is > 0 and <= 16 ? [.. ttls] : [];
    }

    /// <summary>The largest TTL a query can carry.</summary>
    public int MaxTtl => Search switch
    {
        GnutellaSearch.Flood => Ttl,
        GnutellaSearch.ExpandingRing => RingTtls() is { Length: > 0 } r ? r[^1] : 1,
        _ => WalkTtl,
    };

    public IEnumerable<(string Param, string Problem)> Check(OptionsContext context)
    {
        bool whole = Degree == Math.Floor(Degree);
        if (Graph is GnutellaGraph.Regular or GnutellaGraph.Tree or GnutellaGraph.TwoTier && !whole)
            yield return ("degree", $"degree {Degree} must be a whole number for graph: {OptionsSchema.SnakeCase(Graph.ToString())}");
        if (Graph == GnutellaGraph.Regular && whole && context.Nodes * (long)Degree % 2 != 0)
            yield return ("degree", $"a {Degree}-regular graph on {context.Nodes} nodes does not exist: nodes × degree must be even");
        if (Graph is GnutellaGraph.Regular or GnutellaGraph.Random && Degree >= context.Nodes)
            yield return ("degree", $"degree {Degree} needs more than {context.Nodes} nodes");
        if (Graph == GnutellaGraph.Tree && Degree < 2)
            yield return ("degree", "a tree needs degree >= 2");
        if (Graph == GnutellaGraph.Preferential && Attach >= context.Nodes)
            yield return ("attach", $"attach {Attach} needs more than {context.Nodes} nodes");
        if (Graph == GnutellaGraph.PowerLaw && MaxDegree > 0 && MaxDegree < MinDegree)
            yield return ("max_degree", $"max_degree {MaxDegree} is below min_degree {MinDegree}");
        if (Graph == GnutellaGraph.TwoTier)
        {
            long ultrapeers = UltrapeerCount(context.Nodes);
            if (ultrapeers <= Math.Max(Degree, LeafLinks))
                yield return ("ultrapeer_fraction", $"{ultrapeers} ultrapeers cannot have degree {Degree} among themselves and {LeafLinks} links from each leaf: raise ultrapeer_fraction or the nodes");
            else if (ultrapeers * (long)Degree % 2 != 0)
                yield return ("degree", $"a {Degree}-regular mesh on {ultrapeers} ultrapeers does not exist: ultrapeers × degree must be even");
            if (Dynamic)
                yield return ("protocol", "graph: two_tier is static only here (leaves choosing and replacing ultrapeers is not modelled): set protocol: static, or a flat graph for churn");
        }
        if (Search == GnutellaSearch.ExpandingRing && RingTtls().Length == 0)
            yield return ("rings", $"rings '{Rings}' must be 1 to 16 increasing TTLs between 1 and 255, comma-separated, e.g. \"1,2,4,8\"");
    }

    /// <summary>Ultrapeers of a two-tier graph of <paramref name="nodes"/> nodes.</summary>
    public long UltrapeerCount(long nodes) => Math.Max(1, (long)Math.Round(UltrapeerFraction * nodes));
}
