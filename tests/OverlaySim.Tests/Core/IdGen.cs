using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Core;

namespace OverlaySim.Tests.Core;

/// <summary>
/// FsCheck generators for ids, and the BigInteger reference that the id tests compare against.
/// </summary>
/// <remarks>
/// Uniformly random 64-bit words almost never produce a carry or borrow chain across words or an id next to
/// an interval bound, so a third of the words are edge values (0, 1, 2^63, 2^64 - 1, ...) that do.
/// </remarks>
internal static class IdGen
{
    private static readonly ulong[] EdgeWords =
    [
        0, 1, 2, 0xFFFF_FFFFUL, 0x1_0000_0000UL, 0x7FFF_FFFF_FFFF_FFFFUL, 0x8000_0000_0000_0000UL,
        ulong.MaxValue - 1, ulong.MaxValue,
    ];

    /// <summary>Widths that cover every word boundary of the 192-bit representation and the library's limits.</summary>
    public static readonly int[] Widths = [8, 9, 16, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 159, 160];

    public static readonly Gen<ulong> RandomWord =
        Gen.Zip(Gen.Choose(int.MinValue, int.MaxValue), Gen.Choose(int.MinValue, int.MaxValue),
            (hi, lo) => (ulong)(uint)hi << 32 | (uint)lo);

    public static readonly Gen<ulong> Word = Gen.Frequency((2, RandomWord), (1, Gen.Elements(EdgeWords)));

    /// <summary>Any 192-bit value.</summary>
    public static readonly Gen<Id> Id192 =
        Gen.Zip(Gen.Zip(Word, Word), Word, (hm, lo) => new Id(hm.Item1, hm.Item2, lo));

    public static readonly Gen<int> Width = Gen.Elements(Widths);

    /// <summary>An id of the space: a 192-bit value masked to its width.</summary>
    public static Gen<Id> In(IdSpace space) => Id192.Select(x => x & space.Mask);

    /// <summary>
    /// An id that is often at or next to <paramref name="a"/> or <paramref name="b"/>: interval laws are decided
    /// at the bounds, which a uniform id in a 160-bit space never hits.
    /// </summary>
    public static Gen<Id> Near(IdSpace space, Id a, Id b)
    {
        Id one = Id.FromUInt64(1);
        return Gen.Frequency(
            (3, In(space)),
            (1, Gen.Elements(a, b, space.Add(a, one), space.Distance(one, a), space.Add(b, one), space.Distance(one, b))));
    }

    public static readonly BigInteger Two192 = BigInteger.One << 192;

    public static BigInteger Big(Id x) => new BigInteger(x.Hi) << 128 | new BigInteger(x.Lo) | new BigInteger(x.Mid) << 64;

    /// <summary>The id holding <paramref name="v"/> mod 2^192.</summary>
    public static Id FromBig(BigInteger v)
    {
        v %= Two192;
        if (v.Sign < 0) v += Two192;
        BigInteger word = ulong.MaxValue;
        return new Id((ulong)(v >> 128 & word), (ulong)(v >> 64 & word), (ulong)(v & word));
    }
}
