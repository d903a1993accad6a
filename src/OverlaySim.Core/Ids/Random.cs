using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace OverlaySim.Core;

/// <summary>
/// xoshiro256** (Blackman and Vigna, 2018): a small, fast generator held by value, so drawing allocates
/// nothing and a stream can live inside another struct or class field.
/// </summary>
public struct Xoshiro256
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Seeds the state from one 64-bit value through SplitMix64, as the authors recommend.</summary>
    public Xoshiro256(ulong seed)
    {
        _s0 = SplitMix64(ref seed);
        _s1 = SplitMix64(ref seed);
        _s2 = SplitMix64(ref seed);
        _s3 = SplitMix64(ref seed);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextUInt64()
    {
        ulong result = RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in (0, 1]: safe to take the logarithm of.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDoubleNonZero() => ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, bound) without modulo bias (Lemire's multiply-and-reject).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int NextInt(int bound)
    {
        if (bound <= 0) throw new ArgumentOutOfRangeException(nameof(bound));
        ulong b = (ulong)bound;
        ulong x = NextUInt64() >> 32;
        ulong m = x * b;
        uint low = (uint)m;
        if (low < b)
        {
            uint threshold = (uint)((0x1_0000_0000UL - b) % b);
            while (low < threshold)
            {
                x = NextUInt64() >> 32;
                m = x * b;
                low = (uint)m;
            }
        }
        return (int)(m >> 32);
    }

    /// <summary>Exponentially distributed with the given mean.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextExponential(double mean) => -Math.Log(NextDoubleNonZero()) * mean;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    internal static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A stateless 64-bit mix of two values (used for per-pair values that must not be stored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong a, ulong b)
    {
        ulong x = a * 0x9E3779B97F4A7C15UL ^ b;
        return SplitMix64(ref x);
    }
}

/// <summary>
/// Derives the named, independent random streams of one run from the scenario seed and the replicate index.
/// </summary>
/// <remarks>
/// Each stream's seed is the first 8 bytes of SHA-256("overlaysim/{seed}/{replicate}/{name}"). Streams are
/// therefore independent of one another and of the order in which they are created: adding a stream, or
/// drawing more from the workload stream (a higher lookup rate), never moves a value in another stream.
/// Stream names in use: "ids", "latency", "workload", "churn", and "overlay/{name}".
/// </remarks>
public sealed class RandomStreams
{
    public long Seed { get; }
    public int Replicate { get; }

    public RandomStreams(long seed, int replicate)
    {
        Seed = seed;
        Replicate = replicate;
    }

    public ulong StreamSeed(string name)
    {
        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes($"overlaysim/{Seed}/{Replicate}/{name}"));
        return BitConverter.ToUInt64(digest, 0);
    }

    public Xoshiro256 Stream(string name) => new(StreamSeed(name));
}
