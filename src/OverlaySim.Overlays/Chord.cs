// Chord: I. Stoica, R. Morris, D. Karger, M. F. Kaashoek, H. Balakrishnan, "Chord: A Scalable Peer-to-peer
// Lookup Service for Internet Applications", ACM SIGCOMM 2001; extended in IEEE/ACM ToN 11(1), 2003.
//
// What this model is: the converged ("static") ring. Every node's finger table, successor list of length r
// and predecessor are built from the global view exactly as a fully stabilized ring would hold them.
// Lookups are recursive: the request travels hop by hop as messages through the engine, each hop delayed
// by the latency model, and the responsible node replies straight to the origin.
//
// Routing step at node n for key k (find_successor, ToN Fig. 5, run recursively):
//   1. k in (predecessor(n), n]            -> n is responsible: reply to the origin.
//   2. k in (n, successor(n)]              -> forward to successor(n), which is responsible.
//   3. otherwise                           -> forward to closest_preceding_node(k): the farthest entry of
//                                             the finger table or successor list that lies in (n, k).
// Step 1 is not in the paper's pseudocode (which would route a lookup that starts at the owner all the way
// around the ring); every implementation has it, and it makes a lookup for a key one owns cost nothing.
//
// What the hop count counts:
//   hops       = request messages from the origin until the responsible node holds the request
//                (OverlaySim's common definition; 0 when the origin is responsible). The reply is not a hop.
//   paper_hops = request messages until the request reaches the key's predecessor, the node whose successor
//                is responsible (step 2): the "path length" of the Chord paper, whose mean is about
//                ½·log2 N (SIGCOMM Fig. 10). So hops = paper_hops + 1 except when the origin is responsible.
// Deviations from the paper: closest_preceding_node also searches the successor list (as in the ToN version;
// it shortens the last hops slightly); the finger table is stored as its distinct entries only; the dynamic
// protocol (join, stabilize, fix_fingers, failures) is not in this model yet.
//
// Memory per node: 4·(F + 1) bytes of finger table (F ≈ log2 N distinct fingers, plus the offset), 4·r of
// successor list and 4 of predecessor: about 120 bytes at N = 10^6 with r = 8.

using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>Chord's scenario parameters.</summary>
/// <param name="Successors">r in the Chord paper: length of the successor list.</param>
public sealed record ChordOptions(int Successors)
{
    public static readonly ChordOptions Default = new(Successors: 8);
}

/// <summary>Chord's message types, named after the paper's RPCs.</summary>
public enum ChordMessage : byte
{
    /// <summary>find_successor(k), forwarded recursively toward the key.</summary>
    FindSuccessor = 1,
    /// <summary>The responsible node's answer, sent straight back to the origin.</summary>
    FindSuccessorReply = 2,
}

/// <summary>Chord in its converged form, with recursive lookups.</summary>
public sealed class Chord : Overlay
{
    private readonly ChordOptions _options;
    private Id[] _ids = [];
    private int[] _fingerStart = [];   // CSR offsets: fingers of node n are _fingers[_fingerStart[n] .. _fingerStart[n+1])
    private int[] _fingers = [];       // distinct finger entries, in increasing clockwise distance
    private int[] _successors = [];    // r entries per node (fewer valid when the ring is smaller), -1 = none
    private int[] _predecessor = [];
    // Bit length of the clockwise distance from the node to each routing entry. Routing compares these bytes
    // first and reads an entry's 24-byte id only on a tie: at 10^6 nodes the ids do not fit in cache, and
    // reading the id of every finger scanned was most of the cost of a hop.
    private byte[] _fingerBits = [];
    private byte[] _successorBits = [];
    private byte[] _predecessorBits = [];

    public Chord(ChordOptions options) => _options = options;

    public override string Name => "chord";

    public override bool ReportsPaperHops => true;

    /// <summary>
    /// Estimated peak bytes per node at <paramref name="nodes"/> nodes: the finger table counted twice (the
    /// chunk lists and the final array coexist during the build), the successor list and the predecessor.
    /// </summary>
    public static long BytesPerNode(ChordOptions options, long nodes) =>
        2 * 4L * ((long)Math.Ceiling(Math.Log2(Math.Max(2, nodes))) + 3) + 4L * options.Successors + 4 + 8;

    public override void BuildStatic()
    {
        NodeTable nodes = Net.Nodes;
        Oracle oracle = Net.Oracle;
        IdSpace space = Net.Space;
        int n = nodes.Count;
        int live = oracle.Count;
        int r = _options.Successors;
        _ids = nodes.Ids;
        _predecessor = new int[n];
        _successors = new int[(long)n * r];
        Array.Fill(_successors, -1);
        Array.Fill(_predecessor, -1);

        _successorBits = new byte[(long)n * r];
        _predecessorBits = new byte[n];
        int succCount = Math.Min(r, live - 1);
        for (int rank = 0; rank < live; rank++)
        {
            int node = oracle.AtRank(rank);
            Id self = oracle.IdAtRank(rank);
            _predecessor[node] = oracle.AtRank(rank - 1);
            _predecessorBits[node] = (byte)space.Distance(self, oracle.IdAtRank(rank - 1)).BitLength;
            for (int j = 0; j < succCount; j++)
            {
                _successors[(long)node * r + j] = oracle.AtRank(rank + 1 + j);
                _successorBits[(long)node * r + j] = (byte)space.Distance(self, oracle.IdAtRank(rank + 1 + j)).BitLength;
            }
        }

        BuildFingers(oracle, space, n);
        _fingerBits = new byte[_fingers.Length];
        for (int node = 0; node < n; node++)
            for (int j = _fingerStart[node]; j < _fingerStart[node + 1]; j++)
                _fingerBits[j] = (byte)space.Distance(_ids[node], _ids[_fingers[j]]).BitLength;
    }

    /// <summary>
    /// Fingers: entry i (0-based) of node n is successor(n + 2^i). Only distinct entries are kept: after finding
    /// f = successor(n + 2^i), every j with 2^j ≤ distance(n, f) gives the same f, so the next distinct finger
    /// starts at j = bitlength(distance(n, f)). About log2 N binary searches per node instead of m.
    /// Built in independent chunks of the sorted ring in parallel and concatenated in ring order, so the
    /// result does not depend on the number of threads.
    /// </summary>
    private void BuildFingers(Oracle oracle, IdSpace space, int n)
    {
        int live = oracle.Count;
        int chunks = Math.Clamp(live / 4096, 1, 64);
        var parts = new List<int>[chunks];
        var counts = new int[live];
        Parallel.For(0, chunks, c =>
        {
            int from = (int)((long)live * c / chunks), to = (int)((long)live * (c + 1) / chunks);
            var list = new List<int>((to - from) * 24);
            for (int rank = from; rank < to; rank++)
            {
                int before = list.Count;
                AddFingers(oracle, space, rank, list);
                counts[rank] = list.Count - before;
            }
            parts[c] = list;
        });

        long total = 0;
        foreach (var p in parts) total += p.Count;
        if (total > Array.MaxLength) throw new InsufficientMemoryException("finger tables exceed the largest array");
        _fingers = new int[total];
        _fingerStart = new int[n + 1];
        int[] perNode = new int[n];
        for (int rank = 0; rank < live; rank++) perNode[oracle.AtRank(rank)] = counts[rank];
        // Offsets in ordinal order; fingers copied per node from the chunk lists (which are in rank order).
        for (int node = 0; node < n; node++) _fingerStart[node + 1] = _fingerStart[node] + perNode[node];
        for (int c = 0; c < chunks; c++)
        {
            int from = (int)((long)live * c / chunks), to = (int)((long)live * (c + 1) / chunks);
            int pos = 0;
            for (int rank = from; rank < to; rank++)
            {
                int node = oracle.AtRank(rank);
                parts[c].CopyTo(pos, _fingers, _fingerStart[node], counts[rank]);
                pos += counts[rank];
            }
        }
    }

    private static void AddFingers(Oracle oracle, IdSpace space, int rank, List<int> into)
    {
        int live = oracle.Count;
        if (live < 2) return;
        Id self = oracle.IdAtRank(rank);
        int selfNode = oracle.AtRank(rank);
        int last = -1;
        int i = 0;
        while (i < space.Bits)
        {
            int fRank = oracle.SuccessorRank(space.FingerStart(self, i));
            int f = oracle.AtRank(fRank);
            if (f == selfNode) break; // n + 2^i lies in (predecessor, n]: every further finger wraps to n itself
            if (f != last) into.Add(f);
            last = f;
            i = Math.Max(i + 1, space.Distance(self, oracle.IdAtRank(fRank)).BitLength);
        }
    }

    public override void StartLookup(int lookup) => Route(Net.Lookups[lookup].Origin, lookup);

    public override void Handle(ref Event ev)
    {
        switch ((ChordMessage)ev.Type)
        {
            case ChordMessage.FindSuccessor:
                Route(ev.Dst, ev.Lookup);
                break;
            case ChordMessage.FindSuccessorReply:
                Net.CompleteLookup(ev.Lookup, ev.Arg);
                break;
        }
    }

    private void Route(int node, int lookup)
    {
        ref LookupRecord rec = ref Net.Lookups[lookup];
        IdSpace space = Net.Space;
        Id self = _ids[node];
        Id toKey = space.Distance(self, rec.Key);
        int bits = toKey.BitLength;
        long first = (long)node * _options.Successors;
        int succ = _successors[first];

        if (succ >= 0 && bits <= _successorBits[first] && !toKey.IsZero && toKey <= space.Distance(self, _ids[succ]))
        {
            // Step 2: k in (n, successor(n)]: this node is the key's predecessor, where the paper's path ends.
            rec.PaperHops = rec.Hops;
            Forward(node, succ, lookup, ref rec);
            return;
        }
        if (toKey.IsZero || succ < 0 || (bits >= _predecessorBits[node] && toKey > space.Distance(self, _ids[_predecessor[node]])))
        {
            // Step 1: k in (predecessor(n), n]: this node is responsible.
            if (rec.PaperHops < 0) rec.PaperHops = rec.Hops;
            if (node == rec.Origin) Net.CompleteLookup(lookup, node);
            else Net.Send(node, rec.Origin, new Event { Lookup = lookup, Arg = node, Sink = Sink, Type = (byte)ChordMessage.FindSuccessorReply });
            return;
        }
        // Step 3.
        Forward(node, ClosestPrecedingNode(node, self, toKey, bits), lookup, ref rec);
    }

    private void Forward(int node, int next, int lookup, ref LookupRecord rec)
    {
        rec.Hops++;
        Net.Send(node, next, new Event { Lookup = lookup, Sink = Sink, Type = (byte)ChordMessage.FindSuccessor });
    }

    /// <summary>
    /// closest_preceding_node: the entry of the finger table or successor list farthest along the ring that
    /// still precedes the key, i.e. with clockwise distance from the node below <paramref name="toKey"/>
    /// (whose bit length is <paramref name="bits"/>). Entries are scanned from the farthest; an entry whose
    /// distance has more bits than the key's is too far, one with fewer bits precedes it, and only an equal bit
    /// length needs the exact comparison.
    /// </summary>
    private int ClosestPrecedingNode(int node, Id self, Id toKey, int bits)
    {
        IdSpace space = Net.Space;
        int best = -1, bestBits = 0;
        for (int j = _fingerStart[node + 1] - 1; j >= _fingerStart[node]; j--)
        {
            int b = _fingerBits[j];
            if (b > bits || (b == bits && space.Distance(self, _ids[_fingers[j]]) >= toKey)) continue;
            best = _fingers[j];
            bestBits = b;
            break;
        }
        int r = _options.Successors;
        long first = (long)node * r;
        for (int j = r - 1; j >= 0; j--)
        {
            int s = _successors[first + j];
            if (s < 0) continue;
            int b = _successorBits[first + j];
            if (b > bits || (b == bits && space.Distance(self, _ids[s]) >= toKey)) continue;
            // s precedes the key; it beats the finger only if it is farther along the ring.
            if (best < 0 || b > bestBits || (b == bestBits && space.Distance(self, _ids[s]) > space.Distance(self, _ids[best]))) best = s;
            break;
        }
        return best >= 0 ? best : _successors[first];
    }

    public override int Responsible(Id key) => Net.Oracle.Successor(key);

    public override int Degree(int node)
    {
        int r = _options.Successors;
        int fingers = _fingerStart[node + 1] - _fingerStart[node];
        Span<int> all = stackalloc int[fingers + r + 1];
        int count = 0;
        for (int j = _fingerStart[node]; j < _fingerStart[node + 1]; j++) all[count++] = _fingers[j];
        for (int j = 0; j < r; j++)
        {
            int s = _successors[(long)node * r + j];
            if (s >= 0) all[count++] = s;
        }
        if (_predecessor[node] >= 0) all[count++] = _predecessor[node];
        Span<int> used = all[..count];
        used.Sort();
        int distinct = 0;
        for (int j = 0; j < used.Length; j++)
            if (used[j] != node && (j == 0 || used[j] != used[j - 1])) distinct++;
        return distinct;
    }

    // Read access for tests and invariant checks.
    public int Predecessor(int node) => _predecessor[node];
    public int Successor(int node) => _successors[(long)node * _options.Successors];
    public ReadOnlySpan<int> Fingers(int node) => _fingers.AsSpan(_fingerStart[node], _fingerStart[node + 1] - _fingerStart[node]);
}
