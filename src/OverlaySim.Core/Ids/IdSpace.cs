using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace OverlaySim.Core;

/// <summary>
/// The circular identifier space [0, 2^m) with m = <see cref="Bits"/> (<c>id_bits</c> in a scenario).
/// All wrap-around arithmetic and ring intervals go through here.
/// </summary>
/// <remarks>
/// Why 160 by default: Chord, Pastry and Kademlia all hash into the 160-bit SHA-1 space. Smaller widths
/// (e.g. 32) are allowed for small experiments and readable traces; m must leave room for every node to have
/// a distinct id (checked by the scenario loader).
/// </remarks>
public sealed class IdSpace
{
    public const int MaxBits = 160;
    public const int MinBits = 8;

    public int Bits { get; }

    /// <summary>2^m - 1.</summary>
    public Id Mask { get; }

    public IdSpace(int bits)
    {
        if (bits < MinBits || bits > MaxBits)
            throw new ArgumentOutOfRangeException(nameof(bits), $"id_bits must be in {MinBits}..{MaxBits}");
        Bits = bits;
        Mask = Id.Pow2(bits) - Id.FromUInt64(1);
    }

    /// <summary>(a + b) mod 2^m.</summary>
    /// <example>m = 8: Add(250, 10) = 4.</example>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Id Add(Id a, Id b) => (a + b) & Mask;

    /// <summary>Clockwise distance from <paramref name="from"/> to <paramref name="to"/>: (to - from) mod 2^m.</summary>
    /// <example>m = 8: Distance(250, 4) = 10; Distance(4, 250) = 246; Distance(7, 7) = 0.</example>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Id Distance(Id from, Id to) => (to - from) & Mask;

    /// <summary>The top <paramref name="length"/> bits (0 … 64) of an id of this space, as a number.</summary>
    /// <example>m = 8: Prefix(0b1011_0110, 3) = 0b101.</example>
    public ulong Prefix(Id id, int length)
    {
        if (length == 0) return 0;
        ulong bits = id.BitsFrom(Bits - length);
        return length == 64 ? bits : bits & ((1UL << length) - 1);
    }

    /// <summary>(n + 2^i) mod 2^m: the start of Chord's i-th finger interval (0-based i).</summary>
    /// <example>m = 8: FingerStart(250, 3) = 2 (250 + 8 wraps past 255); FingerStart(0, 7) = 128.</example>
    public Id FingerStart(Id n, int i) => Add(n, Id.Pow2(i));

    /// <summary>
    /// x in the ring interval (a, b]: clockwise after a, up to and including b.
    /// When a == b the interval is the whole ring (Chord's convention for a ring of one node).
    /// </summary>
    /// <example>m = 8: (250, 4] holds 251..255, 0..4; 250 is not in it, 4 is; (7, 7] holds every id.</example>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool InOpenClosed(Id x, Id a, Id b)
    {
        if (a == b) return true;
        return Distance(a, x) is var dx && !dx.IsZero && dx <= Distance(a, b);
    }

    /// <summary>
    /// x in the ring interval (a, b): strictly between a and b clockwise.
    /// When a == b it is the whole ring except a.
    /// </summary>
    /// <example>m = 8: (250, 4) holds 251..255, 0..3; (7, 7) holds every id except 7.</example>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool InOpenOpen(Id x, Id a, Id b)
    {
        Id dx = Distance(a, x);
        if (dx.IsZero) return false;
        if (a == b) return true;
        return dx < Distance(a, b);
    }

    /// <summary>A uniformly random id in [0, 2^m).</summary>
    public Id Random(ref Xoshiro256 rng) => new Id(rng.NextUInt64(), rng.NextUInt64(), rng.NextUInt64()) & Mask;

    /// <summary>
    /// SHA-1 of the UTF-8 name, truncated to m bits by keeping the digest's first (most significant) m bits,
    /// read big-endian. With m = 160 this is the SHA-1 digest itself as a number.
    /// </summary>
    /// <example>SHA-1("key-0") = 0x5bc8ee5784ee5a1ca9e24de3a4ffa92246483f9b (as printed by
    /// <c>printf key-0 | sha1sum</c>); with m = 32 the key is 0x5bc8ee57, with m = 8 it is 0x5b.</example>
    public Id HashKey(string name)
    {
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(name.Length)];
        int n = Encoding.UTF8.GetBytes(name, utf8);
        return HashKey(utf8[..n]);
    }

    /// <summary><see cref="HashKey(string)"/> of a name given as its UTF-8 bytes.</summary>
    public Id HashKey(ReadOnlySpan<byte> utf8)
    {
        Span<byte> digest = stackalloc byte[20];
        Sha1.Hash(utf8, digest);
        return FromDigest(digest);
    }

    /// <summary>The id of a key whose SHA-1 digest (20 bytes) is <paramref name="digest"/>: its top id_bits bits.</summary>
    public Id FromDigest(ReadOnlySpan<byte> digest)
    {
        // The 160-bit digest as a number: Hi holds bits 159..128 (4 bytes), Mid and Lo 8 bytes each.
        ulong hi = BinaryPrimitives.ReadUInt32BigEndian(digest[..4]);
        ulong mid = BinaryPrimitives.ReadUInt64BigEndian(digest.Slice(4, 8));
        ulong lo = BinaryPrimitives.ReadUInt64BigEndian(digest.Slice(12, 8));
        Id full = new(hi, mid, lo);
        return ShiftRight(full, MaxBits - Bits);
    }

    private static Id ShiftRight(Id v, int s)
    {
        if (s == 0) return v;
        // 0 < s < 160 here; do it in at most three word steps.
        ulong hi = v.Hi, mid = v.Mid, lo = v.Lo;
        while (s >= 64)
        {
            lo = mid; mid = hi; hi = 0; s -= 64;
        }
        if (s > 0)
        {
            lo = (lo >> s) | (mid << (64 - s));
            mid = (mid >> s) | (hi << (64 - s));
            hi >>= s;
        }
        return new Id(hi, mid, lo);
    }
}
