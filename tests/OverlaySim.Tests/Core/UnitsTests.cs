using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests.Core;

/// <summary><see cref="Units"/>: durations and rates as scenario files write them, and back.</summary>
public class UnitsTests
{
    [Theory]
    [InlineData("80ms", 80_000L)]
    [InlineData("30s", 30_000_000L)]
    [InlineData("2h", 7_200_000_000L)]
    [InlineData("1.5s", 1_500_000L)]
    [InlineData("0", 0L)]
    [InlineData("0s", 0L)]
    [InlineData("250us", 250L)]
    [InlineData("250µs", 250L)]
    [InlineData("10min", 600_000_000L)]
    [InlineData("5m", 300_000_000L)]
    [InlineData("1d", 86_400_000_000L)]
    [InlineData("2.5ms", 2_500L)]
    [InlineData("1e3ms", 1_000_000L)]
    [InlineData(" 30 s ", 30_000_000L)]
    [InlineData("0.0006ms", 1L)]
    public void ParsesDurations(string text, long micros)
    {
        Assert.True(Units.TryParseDuration(text, out long parsed, out string? error), error);
        Assert.Equal(micros, parsed);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("30", "no unit")]
    [InlineData("1.5", "no unit")]
    [InlineData("30parsecs", "unknown unit")]
    [InlineData("5e", "unknown unit")]
    [InlineData("2 hours", "unknown unit")]
    [InlineData("", "not a duration")]
    [InlineData("ms", "not a duration")]
    [InlineData("fast", "not a duration")]
    [InlineData("1.5.2s", "not a duration")]
    [InlineData("0.0004ms", "shorter than the clock's resolution")] // 0.4 µs would round to 0, which means "none"
    public void RejectsWhatIsNotAUsableDuration(string text, string reason)
    {
        Assert.False(Units.TryParseDuration(text, out _, out string? error));
        Assert.NotNull(error);
        Assert.Contains(reason, error);
        Assert.Contains($"'{text}'", error); // the message quotes what the user wrote
    }

    [Theory]
    [InlineData("100/s", 100.0)]
    [InlineData("6/h", 6.0 / 3600)]
    [InlineData("1/10min", 1.0 / 600)]
    [InlineData("1/500ms", 2.0)]
    [InlineData("3/2s", 1.5)]
    [InlineData("0/s", 0.0)]
    [InlineData("2.5", 2.5)]          // a bare number means per second
    public void ParsesRates(string text, double perSecond)
    {
        Assert.True(Units.TryParseRate(text, out double parsed, out string? error), error);
        Assert.Equal(perSecond, parsed, 1e-12);
    }

    [Theory]
    [InlineData("fast")]
    [InlineData("/s")]
    [InlineData("1/")]
    [InlineData("1/0s")]
    [InlineData("1/-1s")]
    [InlineData("1/xyz")]
    [InlineData("1/10")]              // a per-duration needs its unit too
    public void RejectsMalformedRates(string text)
    {
        Assert.False(Units.TryParseRate(text, out _, out string? error));
        Assert.Contains($"'{text}'", error);
    }

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(1L, "1us")]
    [InlineData(1_500L, "1500us")]
    [InlineData(50_000L, "50ms")]
    [InlineData(1_500_000L, "1500ms")]
    [InlineData(90_000_000L, "90s")]
    [InlineData(60_000_000L, "1min")]
    [InlineData(5_400_000_000L, "90min")]
    [InlineData(3_600_000_000L, "1h")]
    [InlineData(86_400_000_000L, "1d")]
    [InlineData(-2_000L, "-2ms")]
    public void FormatsDurationsWithTheLargestExactUnit(long micros, string text)
    {
        Assert.Equal(text, Units.FormatDuration(micros));
    }

    private static readonly long[] Scales = [1, 1_000, 1_000_000, 60_000_000, 3_600_000_000, 86_400_000_000];

    [Fact]
    public void FormattedDurationsParseBackExactly()
    {
        // Whole multiples of each unit, and arbitrary values within ±2^52 µs (±143 years): inside the 2^53 µs up
        // to which a double, which the parser goes through, holds every microsecond.
        var micros = Gen.Frequency(
            (2, Gen.Zip(Gen.Choose(-1_000_000, 1_000_000), Gen.Elements(Scales), (k, s) => k * s)),
            (1, IdGen.RandomWord.Select(w => (long)(w >> 11) - (1L << 52))));
        Prop.ForAll(Arb.From(micros), us =>
        {
            string text = Units.FormatDuration(us);
            Assert.True(Units.TryParseDuration(text, out long back, out string? error), $"{us} -> '{text}': {error}");
            Assert.Equal(us, back);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    [Fact]
    public void FormattedRatesParseBackExactly()
    {
        var rates = Gen.Frequency(
            (1, Gen.Elements(0.0, 0.5, 1.0 / 600, 100.0, 1e-9, 12345.678, 0.1, 0.3)),
            (3, IdGen.RandomWord.Select(w => (w >> 11) * (1.0 / (1UL << 53)) * Math.Pow(10, (int)(w % 13) - 6))));
        Prop.ForAll(Arb.From(rates), r =>
        {
            string text = Units.FormatRate(r);
            Assert.True(Units.TryParseRate(text, out double back, out string? error), $"{r:R} -> '{text}': {error}");
            Assert.Equal(r, back);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    [Fact]
    public void FormatWritesEachKindAsAScenarioWould()
    {
        Assert.Equal("80ms", Units.Format(ParamKind.Duration, 80_000L));
        Assert.Equal("100/s", Units.Format(ParamKind.Rate, 100.0));
        Assert.Equal("true", Units.Format(ParamKind.Bool, true));
        Assert.Equal("0.25", Units.Format(ParamKind.Real, 0.25));
        Assert.Equal("42", Units.Format(ParamKind.Int, 42L));
        Assert.Equal("zipf", Units.Format(ParamKind.Choice, "zipf"));
    }
}
