using System.Numerics;
using System.Runtime.Intrinsics.X86;

namespace OverlaySim.Overlays;

/// <summary>
/// Zones of a d-torus as CAN makes them, by halving: each zone is one 64-bit code, and the geometry a route needs
/// (does a zone hold a point, how far is it) is computed from the code alone.
/// </summary>
/// <remarks>
/// <para>Coordinates are 64-bit fixed point: coordinate x stands for x / 2^64. A zone is made by t halvings, the split
/// dimension following the fixed order 0, 1, …, d−1, 0, … (the paper's "first X, then Y"), so it is a dyadic box: along
/// dimension j its side is 2^-level_j with level_j = ⌊t/d⌋ + (j &lt; t mod d ? 1 : 0), and halving number i (0-based)
/// picks the lower or upper half by bit 63 − ⌊i/d⌋ of coordinate i mod d. The zone's code holds those t choices as its
/// top t bits (its path in the split tree) followed by a single 1 bit, so t ≤ 63 and t is read from the code's trailing
/// zeros. A point's interleaved form (<see cref="Interleave"/>) has the same layout, so a zone holds a point exactly
/// when its path is a prefix of the point's interleaved bits.</para>
/// </remarks>
internal sealed class CanGeometry
{
    /// <summary>The deepest zone a code can hold: 63 halvings.</summary>
    public const int MaxDepth = 63;

    private readonly ulong[] _mask;    // dimension j's bits in a path: positions 63 − i for halvings i ≡ j (mod d)
    private readonly int[] _shift;     // 64 − popcount(mask j): aligns the extracted bits at the top of a coordinate
    private readonly byte[] _level;    // level of dimension j in a zone of depth t at t·d + j

    private readonly bool _bmi2;

    /// <param name="dimensions">d.</param>
    /// <param name="bmi2">Use the processor's bit extract and deposit (pext, pdep) where it has them; false takes the
    /// portable loops, which give the same results (a test compares the two).</param>
    public CanGeometry(int dimensions, bool bmi2 = true)
    {
        D = dimensions;
        _bmi2 = bmi2 && Bmi2.X64.IsSupported;
        _mask = new ulong[dimensions];
        _shift = new int[dimensions];
        for (int i = 0; i < 64; i++) _mask[i % dimensions] |= 1UL << (63 - i);
        for (int j = 0; j < dimensions; j++) _shift[j] = 64 - BitOperations.PopCount(_mask[j]);
        _level = new byte[(MaxDepth + 1) * dimensions];
        for (int t = 0; t <= MaxDepth; t++)
            for (int j = 0; j < dimensions; j++) _level[t * dimensions + j] = (byte)(t / dimensions + (j < t % dimensions ? 1 : 0));
    }

    public int D { get; }

    /// <summary>The code of the whole torus (no halving yet).</summary>
    public const ulong Whole = 1UL << 63;

    public static int Depth(ulong code) => 63 - BitOperations.TrailingZeroCount(code);

    /// <summary>The code's path: its top Depth bits, the end marker cleared.</summary>
    public static ulong Path(ulong code) => code & (code - 1);

    public static ulong Code(ulong path, int depth) => path | (1UL << (63 - depth));

    public int Level(int depth, int j) => _level[depth * D + j];

    /// <summary>The zone's lower corner along dimension j.</summary>
    public ulong Corner(ulong code, int j) => Extract(Path(code), j);

    /// <summary>The zone's volume as a share of the torus: 2^-depth.</summary>
    public static double Volume(ulong code) => Math.ScaleB(1.0, -Depth(code));

    /// <summary>The point's interleaved bits: bit 63 − i is bit 63 − ⌊i/d⌋ of coordinate i mod d.</summary>
    public ulong Interleave(ReadOnlySpan<ulong> point)
    {
        ulong bits = 0;
        for (int j = 0; j < D; j++) bits |= Deposit(point[j] >> _shift[j], _mask[j]);
        return bits;
    }

    /// <summary>Whether the zone holds the point given in interleaved form (its spans are half-open: [lo, lo + side)).</summary>
    public static bool Contains(ulong code, ulong interleaved)
    {
        int depth = Depth(code);
        return depth == 0 || ((interleaved ^ Path(code)) >> (64 - depth)) == 0;
    }

    /// <summary>
    /// The squared Euclidean distance on the torus from the point to the nearest point of the zone, in units of the
    /// torus side: 0 exactly when the zone holds the point. Once the sum reaches <paramref name="bound"/> the rest is
    /// not added: the value returned is then only known to be at least the bound.
    /// </summary>
    public double Distance2(ulong code, ReadOnlySpan<ulong> point, double bound = double.PositiveInfinity)
    {
        int depth = Depth(code), row = depth * D;
        ulong path = Path(code);
        double sum = 0;
        for (int j = 0; j < point.Length; j++)
        {
            int level = _level[row + j];
            if (level == 0) continue;
            ulong off = point[j] - Extract(path, j);
            if (off >> (64 - level) == 0) continue;
            ulong above = off - (1UL << (64 - level)), below = 0UL - off;
            // The gap is at most half the torus (2^63), so half of it converts as a signed number.
            double gap = (long)(Math.Min(above, below) >> 1) * (1.0 / 9223372036854775808.0);
            sum += gap * gap;
            if (sum >= bound) break;
        }
        return sum;
    }

    /// <summary>Whether two zones share any point: the path of one is a prefix of the other's.</summary>
    public static bool Overlaps(ulong a, ulong b)
    {
        int t = Math.Min(Depth(a), Depth(b));
        return t == 0 || ((Path(a) ^ Path(b)) >> (64 - t)) == 0;
    }

    /// <summary>The other half of the zone's parent (the zone must not be the whole torus).</summary>
    public static ulong Sibling(ulong code) => code ^ (1UL << (64 - Depth(code)));

    /// <summary>The zone the code's last halving was made in (the zone must not be the whole torus).</summary>
    public static ulong Parent(ulong code)
    {
        int t = Depth(code) - 1;
        return Code(t == 0 ? 0 : Path(code) & (~0UL << (64 - t)), t);
    }

    /// <summary>The half of the zone (of depth &lt; 63) that holds the point given in interleaved form.</summary>
    public static ulong Child(ulong code, ulong interleaved)
    {
        int t = Depth(code);
        return Code(Path(code) | (interleaved & (1UL << (63 - t))), t + 1);
    }

    /// <summary>
    /// Whether two zones are neighbours (§2.1): their spans abut along exactly one dimension and overlap along the
    /// others. Spans are dyadic, so along one dimension they overlap when the coarser one's top bits agree with the
    /// finer one's corner, and abut when one ends where the other starts (on the torus, either way round).
    /// </summary>
    public bool Abuts(ulong a, ulong b)
    {
        int da = Depth(a), db = Depth(b), abutting = 0;
        ulong pa = Path(a), pb = Path(b);
        for (int j = 0; j < D; j++)
        {
            int la = _level[da * D + j], lb = _level[db * D + j], l = Math.Min(la, lb);
            if (l == 0) continue;   // one spans the whole dimension
            ulong ca = Extract(pa, j), cb = Extract(pb, j);
            if ((ca ^ cb) >> (64 - l) == 0) continue;   // overlap
            if (ca + (1UL << (64 - la)) != cb && cb + (1UL << (64 - lb)) != ca) return false;
            if (++abutting > 1) return false;
        }
        return abutting == 1;
    }

    /// <summary>The torus distance along one dimension from coordinate x to the span of the given level starting at lo.</summary>
    public static ulong SpanDistance(ulong x, ulong lo, int level)
    {
        ulong off = x - lo;
        if (level == 0 || off >> (64 - level) == 0) return 0;
        return Math.Min(off - (1UL << (64 - level)), 0UL - off);
    }

    private ulong Extract(ulong path, int j)
    {
        ulong mask = _mask[j];
        if (_bmi2) return Bmi2.X64.ParallelBitExtract(path, mask) << _shift[j];
        ulong bits = 0;
        for (int i = j; i < 64; i += D) bits = (bits << 1) | ((path >> (63 - i)) & 1);
        return bits << _shift[j];
    }

    private ulong Deposit(ulong bits, ulong mask)
    {
        if (_bmi2) return Bmi2.X64.ParallelBitDeposit(bits, mask);
        ulong result = 0;
        for (ulong m = mask; m != 0; m &= m - 1)
        {
            if ((bits & 1) != 0) result |= m & (0UL - m);
            bits >>= 1;
        }
        return result;
    }
}

/// <summary>
/// One reality of a CAN: its zones (codes of <see cref="CanGeometry"/>), the split tree that says which zone holds a
/// point, and the members of each zone.
/// </summary>
/// <remarks>
/// <para>Neighbours (§2.1): two zones whose spans abut along one dimension and overlap along the other d−1. On the
/// torus a zone can abut another on both sides of one dimension (it is listed once), and a zone spanning a whole
/// dimension has no neighbour across it.</para>
/// <para>Memory per zone: 8 bytes of code, 4 of tree slot, 8 of split-tree node, 5 of members, and per node 8 of
/// member list and zone.</para>
/// </remarks>
internal sealed class CanZones
{
    private readonly CanGeometry _g;
    private ulong[] _code;        // zone z's code
    private int[] _slot;          // where the tree refers to zone z: entry of _child (2t or 2t + 1), -1 for the root
    private int[] _child;         // tree node t's halves at 2t (lower) and 2t + 1 (upper): ≥ 0 a tree node, < 0 the zone ~value
    private int _root = ~0;       // the tree's root: one zone, the whole torus, until the first split
    private int _treeNodes;
    private int[] _head;          // zone z's first member (the most recent to join it)
    private byte[] _count;        // zone z's members
    private readonly int[] _next;         // node n: the next member of its zone, -1 at the end
    private readonly int[] _zoneOf;       // node n's zone, -1 for a node without one

    public CanZones(CanGeometry geometry, int nodes)
    {
        _g = geometry;
        int capacity = Math.Max(1, nodes);
        _code = new ulong[capacity];
        _slot = new int[capacity];
        _child = new int[2 * capacity];
        _head = new int[capacity];
        _count = new byte[capacity];
        _next = new int[capacity];
        _zoneOf = new int[capacity];
        Array.Fill(_zoneOf, -1);
        Array.Fill(_next, -1);
        Array.Fill(_head, -1);
        _code[0] = CanGeometry.Whole;
        _slot[0] = -1;
        Count = 1;
    }

    public CanGeometry Geometry => _g;

    /// <summary>Zones made so far (zone 0 is the first, the whole torus until it is split).</summary>
    public int Count { get; private set; }

    public int ZoneOf(int node) => _zoneOf[node];

    public ulong Code(int zone) => _code[zone];

    public int Depth(int zone) => CanGeometry.Depth(_code[zone]);

    public int Members(int zone) => _count[zone];

    /// <summary>The zone's first member: its only one without peers.</summary>
    public int FirstMember(int zone) => _head[zone];

    /// <summary>The member after <paramref name="node"/> in its zone's list, or -1.</summary>
    public int NextMember(int node) => _next[node];

    /// <summary>The zone that holds the point: the split tree read by the point's interleaved bits.</summary>
    public int Locate(ReadOnlySpan<ulong> point)
    {
        ulong bits = _g.Interleave(point);
        int t = _root, depth = 0;
        while (t >= 0) t = _child[2 * t + (int)((bits >> (63 - depth++)) & 1)];
        return ~t;
    }

    // ---- joins ----------------------------------------------------------------------------------------------

    /// <summary>The first node: it owns the whole torus.</summary>
    public void PlaceFirst(int node)
    {
        if (_head[0] >= 0) throw new InvalidOperationException("the torus already has an owner");
        AddMember(0, node);
    }

    /// <summary><paramref name="node"/> shares <paramref name="zone"/> as a peer (§3.4).</summary>
    public void AddPeer(int zone, int node) => AddMember(zone, node);

    /// <summary>
    /// Halves <paramref name="zone"/> along the next dimension of the order and gives <paramref name="joiner"/> the half
    /// nearer <paramref name="point"/> (the upper one on a tie), with the ⌊members/2⌋ members that joined the zone most
    /// recently (none without peers); the other members keep the other half. Returns the joiner's new zone.
    /// </summary>
    public int Split(int zone, int joiner, ReadOnlySpan<ulong> point)
    {
        ulong code = _code[zone];
        int depth = CanGeometry.Depth(code);
        if (depth >= CanGeometry.MaxDepth)
            throw new InvalidOperationException($"a zone has been halved {depth} times, the most its 64-bit code holds; the joins that keep landing in it ({CanGeometry.MaxDepth} deep) come from points this close together");
        int j = depth % _g.D, level = _g.Level(depth, j);
        ulong path = CanGeometry.Path(code), lo = _g.Corner(code, j), hi = lo | (1UL << (63 - level));
        bool upper = CanGeometry.SpanDistance(point[j], hi, level + 1) <= CanGeometry.SpanDistance(point[j], lo, level + 1);
        ulong lowerCode = CanGeometry.Code(path, depth + 1), upperCode = CanGeometry.Code(path | (1UL << (63 - depth)), depth + 1);
        int fresh = Count++;
        EnsureZones(Count);
        // The zone index kept by the existing members takes the half the joiner does not.
        _code[zone] = upper ? lowerCode : upperCode;
        _code[fresh] = upper ? upperCode : lowerCode;

        int t = _treeNodes++;
        if (2 * t + 1 >= _child.Length) Array.Resize(ref _child, Math.Max(4, _child.Length * 2));
        int keepSide = upper ? 0 : 1;
        _child[2 * t + keepSide] = ~zone;
        _child[2 * t + 1 - keepSide] = ~fresh;
        int slot = _slot[zone];
        if (slot < 0) _root = t;
        else _child[slot] = t;
        _slot[zone] = 2 * t + keepSide;
        _slot[fresh] = 2 * t + 1 - keepSide;

        // The most recent ⌊members/2⌋ members move with the joiner (they head the list).
        int moving = _count[zone] / 2;
        for (int i = 0; i < moving; i++)
        {
            int m = _head[zone];
            _head[zone] = _next[m];
            _count[zone]--;
            AddMember(fresh, m);
        }
        AddMember(fresh, joiner);
        return fresh;
    }

    private void AddMember(int zone, int node)
    {
        if (_count[zone] == byte.MaxValue) throw new InvalidOperationException("a zone has 255 members");
        _next[node] = _head[zone];
        _head[zone] = node;
        _count[zone]++;
        _zoneOf[node] = zone;
    }

    private void EnsureZones(int count)
    {
        if (count <= _code.Length) return;
        int capacity = Math.Max(count, _code.Length * 2);
        Array.Resize(ref _code, capacity);
        Array.Resize(ref _slot, capacity);
        Array.Resize(ref _head, capacity);
        Array.Resize(ref _count, capacity);
        Array.Fill(_head, -1, count - 1, capacity - count + 1);
    }

    // ---- neighbours -----------------------------------------------------------------------------------------

    /// <summary>
    /// Appends to <paramref name="into"/> the zones across the face of <paramref name="zone"/> along dimension
    /// <paramref name="j"/> (its upper face, or its lower one): the leaves of the split tree that hold the coordinate just
    /// beyond the face along j and overlap the zone along every other dimension. Dyadic spans are nested or disjoint, so
    /// each tree node is followed to the one half that holds the zone's span (or the face's coordinate, along j), or to
    /// both halves where the zone's span holds both.
    /// </summary>
    private void FaceZones(int zone, int j, bool upperFace, List<int> into)
    {
        ulong code = _code[zone];
        int depth = CanGeometry.Depth(code), level = _g.Level(depth, j), d = _g.D;
        if (level == 0) return;   // the zone spans the dimension: it meets only itself across it
        ulong lo = _g.Corner(code, j);
        ulong face = upperFace ? lo + (1UL << (64 - level)) : lo - 1;
        ulong path = CanGeometry.Path(code);
        Walk(_root, 0);

        void Walk(int t, int at)
        {
            while (t >= 0)
            {
                int s = at % d;
                if (s == j) t = _child[2 * t + (int)((face >> (63 - at / d)) & 1)];
                else if (at < depth) t = _child[2 * t + (int)((path >> (63 - at)) & 1)];
                else
                {
                    Walk(_child[2 * t], at + 1);
                    t = _child[2 * t + 1];
                }
                at++;
            }
            into.Add(~t);
        }
    }

    /// <summary>Every zone that is a neighbour of <paramref name="zone"/>, each once, in ascending order, into <paramref name="into"/> (cleared first).</summary>
    public void FindNeighbours(int zone, List<int> into)
    {
        into.Clear();
        for (int j = 0; j < _g.D; j++)
        {
            FaceZones(zone, j, upperFace: true, into);
            FaceZones(zone, j, upperFace: false, into);
        }
        into.Sort();
        int w = 0;
        for (int i = 0; i < into.Count; i++)
            if (into[i] != zone && (w == 0 || into[i] != into[w - 1])) into[w++] = into[i];
        into.RemoveRange(w, into.Count - w);
    }

    /// <summary>
    /// Calls <paramref name="visit"/> with every zone and its neighbours (<see cref="FindNeighbours"/>), zones in blocks on
    /// the thread pool: the zones must not change meanwhile, and what the calls write must not overlap.
    /// </summary>
    public void ForEachZone(Action<int, List<int>> visit)
    {
        int zones = Count;
        const int Block = 2048;
        Parallel.For(0, (zones + Block - 1) / Block, () => new List<int>(), (b, _, scratch) =>
        {
            for (int z = b * Block; z < Math.Min(zones, (b + 1) * Block); z++)
            {
                FindNeighbours(z, scratch);
                visit(z, scratch);
            }
            return scratch;
        }, _ => { });
    }

    /// <summary>Bytes this reality keeps per node (one zone each without peers).</summary>
    public const long BytesPerNode = 8 + 4 + 8 + 4 + 1 + 4 + 4;
}
