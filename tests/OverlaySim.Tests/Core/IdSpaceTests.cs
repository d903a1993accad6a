using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Core;
using Xunit;
using static OverlaySim.Tests.Core.IdGen;

namespace OverlaySim.Tests.Core;

/// <summary>
/// Ring arithmetic and intervals of <see cref="IdSpace"/>: first the worked examples of its doc comments
/// (m = 8), then the laws they illustrate, checked against BigInteger arithmetic modulo 2^m.
/// </summary>
public class IdSpaceTests
{
    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(2000);

    private static Id I(ulong v) => Id.FromUInt64(v);

    /// <summary>Ids 0..255 of the m = 8 ring that satisfy <paramref name="inInterval"/>.</summary>
    private static ulong[] Members(Func<Id, bool> inInterval)
    {
        var members = new List<ulong>();
        for (ulong x = 0; x < 256; x++)
            if (inInterval(I(x))) members.Add(x);
        return [.. members];
    }

    private static ulong[] Range(ulong from, ulong toInclusive)
    {
        var r = new List<ulong>();
        for (ulong x = from; x <= toInclusive; x++) r.Add(x);
        return [.. r];
    }

    // ---- worked examples (the doc comments of IdSpace.cs, m = 8) ----

    [Fact]
    public void AddWrapsAtTwoToTheM()
    {
        var s = new IdSpace(8);
        Assert.Equal(I(4), s.Add(I(250), I(10)));
        Assert.Equal(I(255), s.Mask);
    }

    [Fact]
    public void DistanceWorkedExamples()
    {
        var s = new IdSpace(8);
        Assert.Equal(I(10), s.Distance(I(250), I(4)));
        Assert.Equal(I(246), s.Distance(I(4), I(250)));
        Assert.Equal(I(0), s.Distance(I(7), I(7)));
    }

    [Fact]
    public void FingerStartWorkedExamples()
    {
        var s = new IdSpace(8);
        Assert.Equal(I(2), s.FingerStart(I(250), 3));   // 250 + 8 = 258 wraps to 2
        Assert.Equal(I(128), s.FingerStart(I(0), 7));
        Assert.Equal(I(1), s.FingerStart(I(0), 0));
    }

    [Fact]
    public void InOpenClosedWorkedExamples()
    {
        var s = new IdSpace(8);
        // (250, 4] holds 251..255, 0..4; 250 is not in it, 4 is.
        Assert.Equal([.. Range(0, 4), .. Range(251, 255)], Members(x => s.InOpenClosed(x, I(250), I(4))));
        Assert.False(s.InOpenClosed(I(250), I(250), I(4)));
        Assert.True(s.InOpenClosed(I(4), I(250), I(4)));
        // (7, 7] holds every id.
        Assert.Equal(Range(0, 255), Members(x => s.InOpenClosed(x, I(7), I(7))));
    }

    [Fact]
    public void InOpenOpenWorkedExamples()
    {
        var s = new IdSpace(8);
        // (250, 4) holds 251..255, 0..3.
        Assert.Equal([.. Range(0, 3), .. Range(251, 255)], Members(x => s.InOpenOpen(x, I(250), I(4))));
        // (7, 7) holds every id except 7.
        Assert.Equal([.. Range(0, 6), .. Range(8, 255)], Members(x => s.InOpenOpen(x, I(7), I(7))));
    }

    [Fact]
    public void WidthOutsideTheSupportedRangeIsRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new IdSpace(IdSpace.MinBits - 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new IdSpace(IdSpace.MaxBits + 1));
        Assert.Equal((BigInteger.One << 160) - 1, Big(new IdSpace(160).Mask));
    }

    // ---- laws ----

    /// <summary>A width and three ids of that space, the third often at or next to the first two.</summary>
    private sealed record Case(int Bits, Id A, Id B, Id X)
    {
        public IdSpace Space => new(Bits);
    }

    private static readonly Arbitrary<Case> Cases = Arb.From(
        from bits in Width
        let space = new IdSpace(bits)
        from a in In(space)
        from b in Gen.Frequency((4, In(space)), (1, Gen.Constant(a)))
        from x in Near(space, a, b)
        select new Case(bits, a, b, x));

    [Fact]
    public void AddAndDistanceAgreeWithBigIntegerModuloTwoToTheM()
    {
        Prop.ForAll(Cases, c =>
        {
            IdSpace s = c.Space;
            BigInteger mod = BigInteger.One << c.Bits, a = Big(c.A), b = Big(c.B);
            Assert.Equal((a + b) % mod, Big(s.Add(c.A, c.B)));
            Assert.Equal(((b - a) % mod + mod) % mod, Big(s.Distance(c.A, c.B)));
        }).Check(Many);
    }

    [Fact]
    public void AddingTheDistanceArrivesAtTheTarget()
    {
        Prop.ForAll(Cases, c =>
        {
            IdSpace s = c.Space;
            Assert.Equal(c.B, s.Add(c.A, s.Distance(c.A, c.B)));
            // Going a -> b -> a is a whole number of turns: the two distances sum to 0 mod 2^m.
            Assert.True(s.Add(s.Distance(c.A, c.B), s.Distance(c.B, c.A)).IsZero);
        }).Check(Many);
    }

    [Fact]
    public void IntervalsFollowTheirDefinitionAsDistances()
    {
        // x in (a, b]  iff  0 < (x - a) mod 2^m <= (b - a) mod 2^m, for a != b; the whole ring for a == b.
        // x in (a, b)  iff  0 < (x - a) mod 2^m <  (b - a) mod 2^m, for a != b; all but a for a == b.
        Prop.ForAll(Cases, c =>
        {
            IdSpace s = c.Space;
            BigInteger mod = BigInteger.One << c.Bits;
            BigInteger dx = ((Big(c.X) - Big(c.A)) % mod + mod) % mod;
            BigInteger db = ((Big(c.B) - Big(c.A)) % mod + mod) % mod;
            bool same = c.A == c.B;
            Assert.Equal(same || (dx > 0 && dx <= db), s.InOpenClosed(c.X, c.A, c.B));
            Assert.Equal(same ? c.X != c.A : dx > 0 && dx < db, s.InOpenOpen(c.X, c.A, c.B));
        }).Check(Many);
    }

    [Fact]
    public void OpenClosedIsOpenOpenPlusTheUpperBound()
    {
        Prop.ForAll(Cases, c =>
        {
            IdSpace s = c.Space;
            if (c.A != c.B)
                Assert.Equal(s.InOpenOpen(c.X, c.A, c.B) || c.X == c.B, s.InOpenClosed(c.X, c.A, c.B));
            else
                Assert.True(s.InOpenClosed(c.X, c.A, c.B));
            // (a, b] and (b, a] split the ring when a != b: every x is in exactly one of them.
            if (c.A != c.B)
                Assert.NotEqual(s.InOpenClosed(c.X, c.A, c.B), s.InOpenClosed(c.X, c.B, c.A));
        }).Check(Many);
    }

    [Fact]
    public void FingerStartIsNPlusTwoToTheIModuloTwoToTheM()
    {
        Prop.ForAll(Cases, c =>
        {
            IdSpace s = c.Space;
            BigInteger mod = BigInteger.One << c.Bits;
            for (int i = 0; i < c.Bits; i++)
                Assert.Equal((Big(c.A) + (BigInteger.One << i)) % mod, Big(s.FingerStart(c.A, i)));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void RandomIdsStayInsideTheSpaceAndUseAllOfIt()
    {
        foreach (int bits in Widths)
        {
            var s = new IdSpace(bits);
            var rng = new Xoshiro256(12345);
            int topBitSet = 0;
            const int draws = 2000;
            for (int i = 0; i < draws; i++)
            {
                Id x = s.Random(ref rng);
                Assert.True(x.BitLength <= bits, $"{x} has more than {bits} bits");
                topBitSet += x.Bit(bits - 1);
            }
            // The top bit is set with probability 1/2: Binomial(2000, 1/2) has sd ~22, allow 5 sd around 1000.
            Assert.InRange(topBitSet, draws / 2 - 112, draws / 2 + 112);
        }
    }

    // ---- SHA-1 key mapping ----

    /// <summary>The top m bits of SHA-1(UTF-8 name), read big-endian: computed without IdSpace.</summary>
    private static BigInteger ExpectedKey(string name, int bits)
    {
        byte[] digest = SHA1.HashData(Encoding.UTF8.GetBytes(name));
        return new BigInteger(digest, isUnsigned: true, isBigEndian: true) >> (160 - bits);
    }

    [Fact]
    public void ShortMessageSha1IsThePlatformsDigestAtEveryLength()
    {
        var rng = new Random(5);
        Span<byte> ours = stackalloc byte[20];
        for (int length = 0; length <= Sha1.MaxShort + 10; length++)   // one block, and past it (the platform's)
            for (int trial = 0; trial < 20; trial++)
            {
                byte[] message = new byte[length];
                rng.NextBytes(message);
                if (trial == 0) Array.Fill(message, (byte)0xFF);           // every bit set: carries in the additions
                Sha1.Hash(message, ours);
                Assert.Equal(SHA1.HashData(message), ours.ToArray());
            }
    }

    [Fact]
    public void EightLaneSha1GivesEachLaneTheDigestOfItsMessage()
    {
        var rng = new Random(11);
        const int stride = Sha1.MaxShort + 9;
        byte[] messages = new byte[stride * Sha1.Lanes];
        int[] lengths = new int[Sha1.Lanes];
        byte[] digests = new byte[20 * Sha1.Lanes];
        for (int trial = 0; trial < 200; trial++)
        {
            rng.NextBytes(messages);
            if (trial == 0) Array.Fill(messages, (byte)0xFF);
            // Lane lengths cover every short length over the trials, different in each lane of a batch.
            for (int lane = 0; lane < Sha1.Lanes; lane++) lengths[lane] = (trial * Sha1.Lanes + lane * 7) % (Sha1.MaxShort + 1);
            Sha1.Hash8(messages, stride, lengths, digests);
            for (int lane = 0; lane < Sha1.Lanes; lane++)
                Assert.Equal(SHA1.HashData(messages.AsSpan(lane * stride, lengths[lane])), digests.AsSpan(20 * lane, 20).ToArray());
        }
    }

    [Fact]
    public void KeyIdsAreTheHashesOfTheKeyNames()
    {
        var space = new IdSpace(160);
        Id[] keys = Experiment.KeyIds(space, 20_011);   // not a multiple of the lanes: the last keys go one by one
        for (int i = 0; i < keys.Length; i += i < 100 ? 1 : 97)
            Assert.Equal(space.HashKey($"key-{i}"), keys[i]);
        Assert.Equal(space.HashKey("key-20010"), keys[^1]);
    }

    [Fact]
    public void HashKeyDocExampleIsTheRealDigestOfKey0()
    {
        // From `printf key-0 | sha1sum` = 5bc8ee5784ee5a1ca9e24de3a4ffa92246483f9b (the example in the doc comment).
        Id full = new IdSpace(160).HashKey("key-0");
        Assert.Equal(new Id(0x5bc8ee57UL, 0x84ee5a1ca9e24de3UL, 0xa4ffa92246483f9bUL), full);
        Assert.Equal(I(0x5bc8ee57UL), new IdSpace(32).HashKey("key-0"));
        Assert.Equal(I(0x5bUL), new IdSpace(8).HashKey("key-0"));
    }

    [Fact]
    public void KeyIdsInParallelBlocksAreTheHashesOfTheKeyNames()
    {
        // 40,000 keys span three blocks of 16,384; check both sides of each block boundary, the first and the last.
        var space = new IdSpace(160);
        Id[] keys = Experiment.KeyIds(space, 40_000);
        Assert.Equal(40_000, keys.Length);
        foreach (int i in new[] { 0, 1, 9, 10, 16_383, 16_384, 32_767, 32_768, 39_999 })
            Assert.Equal(space.HashKey("key-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)), keys[i]);
        Assert.Equal(keys, Experiment.KeyIds(space, 40_000));
    }

    [Theory]
    [InlineData("key-0")]
    [InlineData("key-1")]
    [InlineData("key-999999")]
    [InlineData("")]
    [InlineData("a name that is longer than one SHA-1 block of sixty-four bytes, to be sure of that")]
    [InlineData("clé-ü-字")]
    public void HashKeyKeepsTheTopBitsOfTheDigest(string name)
    {
        foreach (int bits in (int[])[8, 32, 63, 64, 65, 96, 100, 127, 128, 129, 160])
            Assert.Equal(ExpectedKey(name, bits), Big(new IdSpace(bits).HashKey(name)));
    }
}
