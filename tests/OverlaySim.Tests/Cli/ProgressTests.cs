using OverlaySim.Cli;
using Xunit;

namespace OverlaySim.Tests.Cli;

/// <summary>The events per second the progress display shows: each run's own, from the start of its simulation.</summary>
public class ProgressTests
{
    [Fact]
    public void EachRunHasItsOwnRateFromTheStartOfItsSimulation()
    {
        var rates = new RunRates();
        rates.Start(0, 0.0);
        Assert.Equal(2e6, rates.Rate(0, 2_000_000, 1.0), 6);          // the first report already has a rate
        // A second run starts later: its rate is its own (its events count from 0), not 0 or negative.
        rates.Start(1, 1.0);
        Assert.Equal(1e6, rates.Rate(1, 500_000, 1.5), 6);
        // Smoothed: a run that slows down shows it, without jumping to the last interval alone.
        double slower = rates.Rate(0, 2_500_000, 2.0);
        Assert.InRange(slower, 0.5e6 + 1, 2e6 - 1);
        // A report with no time elapsed keeps the rate shown.
        Assert.Equal(slower, rates.Rate(0, 2_600_000, 2.0));
    }

    [Theory]
    [InlineData(2_345_678, "2.35M")]
    [InlineData(456_789, "457k")]
    [InlineData(789, "789")]
    public void RatesAreWrittenShort(double rate, string text) => Assert.Equal(text, RunRates.Format(rate));
}
