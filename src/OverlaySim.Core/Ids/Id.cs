using System.Runtime.CompilerServices;

namespace OverlaySim.Core;

/// <summary>
/// A node id or key in a circular identifier space of up to 192 bits (the scenario's <c>id_bits</c>,
/// 160 by default as in the SHA-1 keyspace of Chord, Pastry and Kademlia).
/// </summary>
/// <remarks>
/// Layout (24 bytes, most significant word first):
/// <code>
///  191        128 127         64 63           0
/// +-------------+--------------+--------------+
/// |     Hi      |     Mid      |      Lo      |
/// +-------------+--------------+--------------+
/// </code>
/// An <see cref="Id"/> carries no width: arithmetic that wraps around the ring goes through
/// <see cref="IdSpace"/>, which masks results to <c>id_bits</c>. Plain comparison is unsigned.
/// </remarks>
public readonly struct Id : IEquatable<Id>, IComparable<Id>
{
    public readonly ulong Hi;
    public readonly ulong Mid;
    public readonly ulong Lo;

    public Id(ulong hi, ulong mid, ulong lo)
    {
        Hi = hi;
        Mid = mid;
        Lo = lo;
    }

    public static Id Zero => default;

    public static Id FromUInt64(ulong value) => new(0, 0, value);

    public bool IsZero => (Hi | Mid | Lo) == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CompareTo(Id other)
    {
        if (Hi != other.Hi) return Hi < other.Hi ? -1 : 1;
        if (Mid != other.Mid) return Mid < other.Mid ? -1 : 1;
        if (Lo != other.Lo) return Lo < other.Lo ? -1 : 1;
        return 0;
    }

    public bool Equals(Id other) => Hi == other.Hi && Mid == other.Mid && Lo == other.Lo;
    public override bool Equals(object? obj) => obj is Id other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(Hi, Mid, Lo);

    public static bool operator ==(Id a, Id b) => a.Equals(b);
    public static bool operator !=(Id a, Id b) => !a.Equals(b);
    public static bool operator <(Id a, Id b) => a.CompareTo(b) < 0;
    public static bool operator >(Id a, Id b) => a.CompareTo(b) > 0;
    public static bool operator <=(Id a, Id b) => a.CompareTo(b) <= 0;
    public static bool operator >=(Id a, Id b) => a.CompareTo(b) >= 0;

    /// <summary>Unsigned 192-bit addition, wrapping at 2^192 (callers mask to the id space).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Id operator +(Id a, Id b)
    {
        ulong lo = a.Lo + b.Lo;
        ulong c0 = lo < a.Lo ? 1UL : 0UL;
        ulong mid = a.Mid + b.Mid;
        ulong c1 = mid < a.Mid ? 1UL : 0UL;
        ulong mid2 = mid + c0;
        c1 += mid2 < mid ? 1UL : 0UL;
        return new Id(a.Hi + b.Hi + c1, mid2, lo);
    }

    /// <summary>Unsigned 192-bit subtraction, wrapping at 2^192 (callers mask to the id space).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Id operator -(Id a, Id b)
    {
        ulong lo = a.Lo - b.Lo;
        ulong br0 = a.Lo < b.Lo ? 1UL : 0UL;
        ulong mid = a.Mid - b.Mid;
        ulong br1 = a.Mid < b.Mid ? 1UL : 0UL;
        ulong mid2 = mid - br0;
        br1 += mid < br0 ? 1UL : 0UL;
        return new Id(a.Hi - b.Hi - br1, mid2, lo);
    }

    public static Id operator ^(Id a, Id b) => new(a.Hi ^ b.Hi, a.Mid ^ b.Mid, a.Lo ^ b.Lo);
    public static Id operator &(Id a, Id b) => new(a.Hi & b.Hi, a.Mid & b.Mid, a.Lo & b.Lo);

    /// <summary>The value halved, rounded down (a shift right by one bit).</summary>
    public Id Half => new(Hi >> 1, (Mid >> 1) | (Hi << 63), (Lo >> 1) | (Mid << 63));

    /// <summary>Number of significant bits: 0 for zero, 1 for one, 160 for 2^159.</summary>
    public int BitLength
    {
        get
        {
            if (Hi != 0) return 128 + 64 - System.Numerics.BitOperations.LeadingZeroCount(Hi);
            if (Mid != 0) return 64 + 64 - System.Numerics.BitOperations.LeadingZeroCount(Mid);
            return 64 - System.Numerics.BitOperations.LeadingZeroCount(Lo);
        }
    }

    /// <summary>Bit <paramref name="i"/> (0 = least significant).</summary>
    public int Bit(int i) => i switch
    {
        < 64 => (int)((Lo >> i) & 1),
        < 128 => (int)((Mid >> (i - 64)) & 1),
        _ => (int)((Hi >> (i - 128)) & 1),
    };

    /// <summary>The 64 bits from bit <paramref name="low"/> (0 … 191) up; bits past the top read as 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong BitsFrom(int low)
    {
        int w = low >> 6, o = low & 63;
        ulong a = Word(w);
        return o == 0 ? a : (a >> o) | (Word(w + 1) << (64 - o));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Word(int w) => w switch { 0 => Lo, 1 => Mid, 2 => Hi, _ => 0 };

    /// <summary>2^i for 0 &lt;= i &lt; 192.</summary>
    public static Id Pow2(int i) => i switch
    {
        < 64 => new Id(0, 0, 1UL << i),
        < 128 => new Id(0, 1UL << (i - 64), 0),
        _ => new Id(1UL << (i - 128), 0, 0),
    };

    /// <summary>
    /// The value as a double (exact to 53 bits): for statistics such as "fraction of the ring owned",
    /// never for routing decisions.
    /// </summary>
    public double ToDouble() => Hi * 3.4028236692093846e38 + Mid * 18446744073709551616.0 + (double)Lo; // 2^128, 2^64

    /// <summary>Hexadecimal, <paramref name="bits"/> wide (rounded up to whole digits).</summary>
    public string ToHex(int bits)
    {
        int digits = (bits + 3) / 4;
        string full = Hi.ToString("x16") + Mid.ToString("x16") + Lo.ToString("x16");
        return full[^digits..];
    }

    public override string ToString() => ToHex(192).TrimStart('0') is { Length: > 0 } s ? "0x" + s : "0x0";
}
