using System.Runtime.CompilerServices;
using OverlaySim.Core;

namespace OverlaySim.Overlays;

/// <summary>What node n does with a request for a key: the routing step of find_successor (ToN 2003, Fig. 5).</summary>
public enum ChordStep : byte
{
    /// <summary>n knows no successor (it has not joined yet): it can only ask its bootstrap node.</summary>
    Unjoined,
    /// <summary>The key is in (predecessor(n), n]: n is responsible and answers.</summary>
    Responsible,
    /// <summary>n is its own successor (a ring of one, as far as n knows): it answers.</summary>
    Alone,
    /// <summary>The key is in (n, successor(n)]: n is the key's predecessor, and its successor is responsible.</summary>
    ToSuccessor,
    /// <summary>Otherwise: on to closest_preceding_node(key).</summary>
    Forward,
}

/// <summary>A key as seen from node n: the key, n's id, and the clockwise distance from n to the key with its bit length.</summary>
public readonly struct ChordQuery
{
    public ChordQuery(Id key, Id self, Id toKey)
    {
        Key = key;
        Self = self;
        ToKey = toKey;
        Bits = toKey.BitLength;
        Rank = DistanceRank(toKey, Bits);
    }

    public Id Key { get; }

    public Id Self { get; }

    /// <summary>(key − n) mod 2^m.</summary>
    public Id ToKey { get; }

    /// <summary>Bit length of <see cref="ToKey"/> (routing tables compare these before reading an entry's id).</summary>
    public int Bits { get; }

    /// <summary><see cref="DistanceRank"/> of <see cref="ToKey"/>.</summary>
    public int Rank { get; }

    /// <summary>
    /// A distance rounded down to 16 bits, in the way of a floating-point number: its bit length, then the 8 bits that
    /// follow its leading one. Ranks are ordered as the distances are (a smaller distance never has a larger rank), so
    /// two distances of different ranks compare without their ids; only equal ranks need the exact comparison.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int DistanceRank(Id distance, int bits) =>
        bits << 8 | (int)(bits > 9 ? distance.BitsFrom(bits - 9) & 0xFF : (distance.Lo << (9 - bits)) & 0xFF);

    /// <summary><see cref="DistanceRank(Id, int)"/> of a distance whose bit length is not known yet.</summary>
    public static ushort DistanceRank(Id distance) => (ushort)DistanceRank(distance, distance.BitLength);
}

/// <summary>
/// The routing state the step reads, as the protocol stores it (<see cref="ChordProtocol"/>: F finger levels that may be
/// empty, and entries that may be stale; the converged ring, <see cref="ChordRing"/>, takes the same step in ranks of
/// the sorted ring, with no stored table). A struct implementing it makes <see cref="ChordRouting.Step"/> a direct,
/// inlinable call.
/// </summary>
public interface IChordRoutingTable
{
    /// <summary>successor(n) as n knows it, or -1 when n knows none.</summary>
    int Successor(int n);

    /// <summary>Whether the key lies in (predecessor(n), n] (or is n's own id), by n's predecessor pointer.</summary>
    bool InOwnRange(int n, in ChordQuery q);

    /// <summary>Whether the key lies in (n, <paramref name="successor"/>].</summary>
    bool InSuccessorRange(int n, int successor, in ChordQuery q);

    /// <summary>closest_preceding_node(key): the entry farthest along the ring that still precedes the key, or the successor.</summary>
    int ClosestPreceding(int n, in ChordQuery q);
}

/// <summary>Chord's routing step, for the protocol's recursive and iterative lookups (the converged ring takes the same step in ranks).</summary>
public static class ChordRouting
{
    /// <summary>
    /// The step at node <paramref name="n"/> for <paramref name="key"/>: whether n answers, hands the request to its
    /// successor (<paramref name="next"/>), or forwards it to the closest preceding entry (<paramref name="next"/>).
    /// </summary>
    /// <remarks>
    /// <para>Order: no successor (unjoined); key in (predecessor, n] (responsible); n its own successor (alone); key in
    /// (n, successor] (the successor is responsible); otherwise forward. The responsible test is not in the paper's
    /// pseudocode, which would route a lookup that starts at the owner all the way around the ring: every
    /// implementation has it.</para>
    /// <example>Ring {10, 20, 30} of m = 8, at node 10 (predecessor 30, successor 20): key 5 is Responsible (in (30,
    /// 10] across the wrap), key 15 ToSuccessor (next 20), key 25 Forward (next 20, the farthest entry before 25).</example>
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ChordStep Step<TTable>(ref TTable table, IdSpace space, Id[] ids, int n, Id key, out int next)
        where TTable : struct, IChordRoutingTable
    {
        int succ = table.Successor(n);
        if (succ < 0)
        {
            next = -1;
            return ChordStep.Unjoined;
        }
        Id self = ids[n];
        var q = new ChordQuery(key, self, space.Distance(self, key));
        next = n;
        if (table.InOwnRange(n, in q)) return ChordStep.Responsible;
        if (succ == n) return ChordStep.Alone;
        if (table.InSuccessorRange(n, succ, in q))
        {
            next = succ;
            return ChordStep.ToSuccessor;
        }
        next = table.ClosestPreceding(n, in q);
        return ChordStep.Forward;
    }
}
