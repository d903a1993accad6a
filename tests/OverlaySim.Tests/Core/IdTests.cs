using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Core;
using Xunit;
using static OverlaySim.Tests.Core.IdGen;

namespace OverlaySim.Tests.Core;

/// <summary>The 192-bit <see cref="Id"/> arithmetic, checked against System.Numerics.BigInteger.</summary>
public class IdTests
{
    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(2000);

    [Fact]
    public void AdditionCarriesAcrossWords()
    {
        Id one = Id.FromUInt64(1);
        Assert.Equal(new Id(0, 1, 0), new Id(0, 0, ulong.MaxValue) + one);
        Assert.Equal(new Id(1, 0, 0), new Id(0, ulong.MaxValue, ulong.MaxValue) + one);
        // The carry out of Lo must reach Mid even when Mid + b.Mid does not overflow by itself.
        Assert.Equal(new Id(1, 0, 0), new Id(0, ulong.MaxValue - 1, ulong.MaxValue) + new Id(0, 1, 1));
        Assert.Equal(Id.Zero, new Id(ulong.MaxValue, ulong.MaxValue, ulong.MaxValue) + one);
    }

    [Fact]
    public void SubtractionBorrowsAcrossWords()
    {
        Id one = Id.FromUInt64(1);
        Assert.Equal(new Id(0, 0, ulong.MaxValue), new Id(0, 1, 0) - one);
        Assert.Equal(new Id(0, ulong.MaxValue, ulong.MaxValue), new Id(1, 0, 0) - one);
        Assert.Equal(new Id(ulong.MaxValue, ulong.MaxValue, ulong.MaxValue), Id.Zero - one);
        // The borrow into Mid must reach Hi when Mid is zero.
        Assert.Equal(new Id(0, ulong.MaxValue, ulong.MaxValue), new Id(1, 0, 5) - Id.FromUInt64(6));
    }

    [Fact]
    public void AddAndSubtractAgreeWithBigIntegerModulo2To192()
    {
        Prop.ForAll(Arb.From(Gen.Zip(Id192, Id192)), ((Id A, Id B) p) =>
        {
            BigInteger a = Big(p.A), b = Big(p.B);
            Assert.Equal(FromBig(a + b), p.A + p.B);
            Assert.Equal(FromBig(a - b), p.A - p.B);
            Assert.Equal((p.A - p.B) + p.B, p.A);
        }).Check(Many);
    }

    [Fact]
    public void ComparisonIsUnsignedNumericOrder()
    {
        Prop.ForAll(Arb.From(Gen.Zip(Id192, Id192)), ((Id A, Id B) p) =>
        {
            int expected = Big(p.A).CompareTo(Big(p.B));
            Assert.Equal(Math.Sign(expected), Math.Sign(p.A.CompareTo(p.B)));
            Assert.Equal(expected < 0, p.A < p.B);
            Assert.Equal(expected == 0, p.A == p.B);
            Assert.Equal(expected >= 0, p.A >= p.B);
        }).Check(Many);
    }

    [Fact]
    public void BitLengthAndBitsMatchBigInteger()
    {
        // Worked examples from the doc comment of Id.BitLength.
        Assert.Equal(0, Id.Zero.BitLength);
        Assert.Equal(1, Id.FromUInt64(1).BitLength);
        Assert.Equal(160, Id.Pow2(159).BitLength);

        Prop.ForAll(Arb.From(Id192), x =>
        {
            BigInteger v = Big(x);
            Assert.Equal((int)v.GetBitLength(), x.BitLength);
            for (int i = 0; i < 192; i++) Assert.Equal((int)(v >> i & 1), x.Bit(i));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(500));
    }

    [Fact]
    public void Pow2IsOneShiftedLeft()
    {
        for (int i = 0; i < 192; i++)
        {
            Id p = Id.Pow2(i);
            Assert.Equal(BigInteger.One << i, Big(p));
            Assert.Equal(i + 1, p.BitLength);
        }
    }

    [Fact]
    public void ToHexAndToStringWriteTheValue()
    {
        Prop.ForAll(Arb.From(Id192), x =>
        {
            Assert.Equal(Big(x), BigInteger.Parse("0" + x.ToHex(192), System.Globalization.NumberStyles.HexNumber));
            Assert.Equal(x.IsZero ? "0x0" : "0x" + Big(x).ToString("x").TrimStart('0'), x.ToString());
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(500));
        Assert.Equal("0ff", Id.FromUInt64(255).ToHex(12));
        Assert.Equal("0x100", Id.FromUInt64(256).ToString());
    }

    [Fact]
    public void ToDoubleIsTheValueRoundedToADouble()
    {
        Prop.ForAll(Arb.From(Id192), x =>
        {
            double expected = (double)Big(x);
            double ulp = Math.BitIncrement(expected) - expected;
            // Three words summed in double round up to three times: allow 2 ulps of the result.
            Assert.True(Math.Abs(x.ToDouble() - expected) <= 2 * ulp, $"{x}: {x.ToDouble():R} vs {expected:R}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(500));
    }
}
